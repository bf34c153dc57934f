// Post-processors of tokenizer.json: TemplateProcessing, ByteLevel (ids unchanged), BertProcessing,
// RobertaProcessing and Sequence. Only single sequences are encoded by corelm.
#include "base/check.h"
#include "base/json_access.h"
#include "tokenizer/components.h"

namespace corelm::tok {

namespace {

using nlohmann::json;

const JsonReader& reader() {
  static const JsonReader r("tokenizer", "tokenizer.json post_processor");
  return r;
}

class TemplateProcessor : public PostProcessor {
 public:
  explicit TemplateProcessor(const json& j) {
    const JsonReader& r = reader();
    std::map<std::string, std::vector<int32_t>> specials;
    if (JsonReader::has(j, "special_tokens")) {
      for (const auto& [name, st] :
           r.as_object(j["special_tokens"], "field 'special_tokens'").items()) {
        const std::string what = fmt::format("special_tokens['{}']", name);
        const json& ids = r.as_array(r.required(r.as_object(st, what), "ids"), what + ".ids");
        auto& out = specials[name];
        for (size_t i = 0; i < ids.size(); ++i)
          out.push_back(static_cast<int32_t>(
              r.as_integer(ids[i], fmt::format("{}.ids[{}]", what, i), 0, kMaxTokenId)));
      }
    }
    const json& single = r.as_array(r.required(j, "single"), "field 'single'");
    for (size_t i = 0; i < single.size(); ++i) {
      const std::string what = fmt::format("single[{}]", i);
      const json& item = r.as_object(single[i], what);
      if (item.contains("SpecialToken")) {
        const json& st = r.as_object(item["SpecialToken"], what + ".SpecialToken");
        std::string id = r.required_str(st, "id");
        auto it = specials.find(id);
        if (it == specials.end())
          fail(ErrorCode::kCorrupt, "tokenizer", "TemplateProcessing uses undefined special '{}'",
               id);
        parts_.push_back({false, it->second});
      } else if (item.contains("Sequence")) {
        parts_.push_back({true, {}});
      } else {
        fail(ErrorCode::kCorrupt, "tokenizer",
             "tokenizer.json post_processor: {} is neither a SpecialToken nor a Sequence", what);
      }
    }
  }
  std::vector<int32_t> process(const std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const auto& p : parts_) {
      if (p.sequence)
        out.insert(out.end(), ids.begin(), ids.end());
      else
        out.insert(out.end(), p.ids.begin(), p.ids.end());
    }
    return out;
  }

 private:
  struct Part {
    bool sequence;
    std::vector<int32_t> ids;
  };
  std::vector<Part> parts_;
};

class IdentityProcessor : public PostProcessor {
 public:
  std::vector<int32_t> process(const std::vector<int32_t>& ids) const override { return ids; }
};

class WrapProcessor : public PostProcessor {  // Bert / Roberta: [CLS] A [SEP]
 public:
  WrapProcessor(int32_t cls, int32_t sep) : cls_(cls), sep_(sep) {}
  std::vector<int32_t> process(const std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out{cls_};
    out.insert(out.end(), ids.begin(), ids.end());
    out.push_back(sep_);
    return out;
  }

 private:
  int32_t cls_, sep_;
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  std::vector<int32_t> process(const std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out = ids;
    for (const auto& p : parts_) out = p->process(out);
    return out;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

class BosEosProcessor : public PostProcessor {
 public:
  BosEosProcessor(int32_t bos, int32_t eos) : bos_(bos), eos_(eos) {}
  std::vector<int32_t> process(const std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 2);
    if (bos_ >= 0) out.push_back(bos_);
    out.insert(out.end(), ids.begin(), ids.end());
    if (eos_ >= 0) out.push_back(eos_);
    return out;
  }

 private:
  int32_t bos_, eos_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const Vocab& vocab, int depth) {
  (void)vocab;
  if (j.is_null()) return nullptr;
  const JsonReader& r = reader();
  r.as_object(j, "the post_processor");
  const std::string type = r.str(j, "type", std::string());
  if (type == "TemplateProcessing") return std::make_unique<TemplateProcessor>(j);
  if (type == "ByteLevel") return std::make_unique<IdentityProcessor>();
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    // "cls": ["[CLS]", 101]: the token and its id.
    auto token_id = [&](const char* key) {
      const json& pair = r.as_array(r.required(j, key), fmt::format("field '{}'", key));
      if (pair.size() != 2)
        r.wrong_type(fmt::format("field '{}'", key), "a [token, id] pair", pair);
      return static_cast<int32_t>(r.as_integer(pair[1], fmt::format("{}[1]", key), 0, kMaxTokenId));
    };
    int32_t cls = token_id("cls"), sep = token_id("sep");
    return std::make_unique<WrapProcessor>(cls, sep);
  }
  if (type == "Sequence") {
    check_sequence_depth("post_processor", depth);
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (const auto& p : r.as_array(r.required(j, "processors"), "field 'processors'"))
      if (auto x = make_post_processor(p, vocab, depth + 1)) parts.push_back(std::move(x));
    return std::make_unique<SequenceProcessor>(std::move(parts));
  }
  unsupported_component("post_processor", j);
}

std::unique_ptr<PostProcessor> make_bos_eos_processor(int32_t bos, int32_t eos) {
  return std::make_unique<BosEosProcessor>(bos, eos);
}

}  // namespace corelm::tok
