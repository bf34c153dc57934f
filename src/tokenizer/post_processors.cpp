// Post-processors of tokenizer.json: TemplateProcessing, ByteLevel (ids unchanged), BertProcessing,
// RobertaProcessing and Sequence. Only single sequences are encoded by corelm.
#include "base/check.h"
#include "tokenizer/components.h"

namespace corelm::tok {

namespace {

using nlohmann::json;

class TemplateProcessor : public PostProcessor {
 public:
  explicit TemplateProcessor(const json& j) {
    std::map<std::string, std::vector<int32_t>> specials;
    if (j.contains("special_tokens") && j["special_tokens"].is_object())
      for (const auto& [name, st] : j["special_tokens"].items())
        specials[name] = st.at("ids").get<std::vector<int32_t>>();
    const json& single = j.at("single");
    if (!single.is_array())
      fail(ErrorCode::kUnsupported, "tokenizer", "TemplateProcessing 'single' must be a list");
    for (const auto& item : single) {
      if (item.contains("SpecialToken")) {
        std::string id = item["SpecialToken"].at("id").get<std::string>();
        auto it = specials.find(id);
        if (it == specials.end())
          fail(ErrorCode::kCorrupt, "tokenizer", "TemplateProcessing uses undefined special '{}'",
               id);
        parts_.push_back({false, it->second});
      } else if (item.contains("Sequence")) {
        parts_.push_back({true, {}});
      } else {
        fail(ErrorCode::kCorrupt, "tokenizer", "malformed TemplateProcessing item {}", item.dump());
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

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const Vocab& vocab) {
  (void)vocab;
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", std::string());
  if (type == "TemplateProcessing") return std::make_unique<TemplateProcessor>(j);
  if (type == "ByteLevel") return std::make_unique<IdentityProcessor>();
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    int32_t cls = j.at("cls").at(1).get<int32_t>(), sep = j.at("sep").at(1).get<int32_t>();
    return std::make_unique<WrapProcessor>(cls, sep);
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (const auto& p : j.at("processors"))
      if (auto x = make_post_processor(p, vocab)) parts.push_back(std::move(x));
    return std::make_unique<SequenceProcessor>(std::move(parts));
  }
  unsupported_component("post_processor", j);
}

std::unique_ptr<PostProcessor> make_bos_eos_processor(int32_t bos, int32_t eos) {
  return std::make_unique<BosEosProcessor>(bos, eos);
}

}  // namespace corelm::tok
