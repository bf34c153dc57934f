// Generator: the loop shared by every runner. Prefill in chunks of the Session's max_chunk,
// then one token per forward call; text is streamed through a StreamDecoder and held back
// while it could still be the start of a stop string.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <limits>

#include "base/boundary.h"
#include "base/check.h"
#include "base/json_access.h"
#include "corelm/generate.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "generate/stop_stream.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "generate";
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

double GenerationStats::prefill_tokens_per_s() const {
  size_t fed = prompt_tokens - reused_tokens;
  return prefill_seconds > 0.0 ? static_cast<double>(fed) / prefill_seconds : 0.0;
}

double GenerationStats::decode_tokens_per_s() const {
  // The first generated token comes from the prefill's logits; decode steps make the rest.
  size_t steps = generated_tokens > 0 ? generated_tokens - 1 : 0;
  return decode_seconds > 0.0 ? static_cast<double>(steps) / decode_seconds : 0.0;
}

Generator::Generator(Session& session, const Tokenizer& tokenizer)
    : session_(session), tokenizer_(tokenizer), logits_(static_cast<size_t>(session.vocab_size())) {
  if (session.options().max_batch < 1)
    fail(ErrorCode::kInvalidArgument, kComponent, "the session needs max_batch >= 1");
}

void Generator::forget_cache() {
  cached_.clear();
  session_.reset();
}

std::vector<int32_t> Generator::default_eos_ids() const {
  std::vector<int32_t> ids;
  const auto& info = session_.model().info();
  if (!info.generation_config_json.empty()) {
    // eos_token_id: one id or a list. Ids outside the vocabulary could never be sampled.
    auto g = parse_json(info.generation_config_json, kComponent, "generation_config.json");
    const JsonReader r(kComponent, "generation_config.json");
    const int64_t max_id = std::numeric_limits<int32_t>::max();
    if (JsonReader::has(g, "eos_token_id")) {
      const auto& e = g["eos_token_id"];
      if (e.is_array()) {
        for (size_t i = 0; i < e.size(); ++i)
          ids.push_back(static_cast<int32_t>(
              r.as_integer(e[i], fmt::format("eos_token_id[{}]", i), 0, max_id)));
      } else {
        ids.push_back(static_cast<int32_t>(r.as_integer(e, "field 'eos_token_id'", 0, max_id)));
      }
    }
  }
  for (int id : session_.model().config().eos_token_ids) ids.push_back(id);
  if (tokenizer_.eos_id() >= 0) ids.push_back(tokenizer_.eos_id());
  // An id beyond the vocabulary can never be sampled: dropped, as the GGUF source drops them.
  std::erase_if(ids, [&](int32_t id) { return id >= session_.vocab_size(); });
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

GenerationResult Generator::generate(std::string_view prompt, const GenerateOptions& options,
                                     const std::function<bool(std::string_view)>& on_text) {
  std::vector<int32_t> ids = tokenizer_.encode(prompt, true);
  return generate(ids, options, on_text);
}

GenerationResult Generator::generate(std::span<const int32_t> prompt_ids,
                                     const GenerateOptions& options,
                                     const std::function<bool(std::string_view)>& on_text) {
  try {
    GenerationResult result;
    result.prompt_ids.assign(prompt_ids.begin(), prompt_ids.end());
    GenerationStats& st = result.stats;
    st.prompt_tokens = prompt_ids.size();
    const int context = session_.max_context();
    if (prompt_ids.empty())
      fail(ErrorCode::kInvalidArgument, kComponent,
           "the prompt is empty (no tokens to start from)");
    if (prompt_ids.size() >= static_cast<size_t>(context))
      fail(ErrorCode::kOutOfRange, kComponent,
           "the prompt is {} tokens but the context holds {} (raise --max-context or shorten it)",
           prompt_ids.size(), context);
    for (int32_t id : prompt_ids)
      if (id < 0 || id >= session_.vocab_size())
        fail(ErrorCode::kOutOfRange, kComponent,
             "prompt token id {} is outside the vocabulary [0, {})", id, session_.vocab_size());
    Sampler sampler(options.sampling);
    std::vector<int32_t> eos = options.eos_ids.empty() ? default_eos_ids() : options.eos_ids;

    // Reuse the cached prefix; always feed at least the last prompt token to get logits.
    size_t reuse = 0;
    while (reuse < cached_.size() && reuse + 1 < prompt_ids.size() &&
           cached_[reuse] == prompt_ids[reuse])
      ++reuse;
    // The session may have been truncated behind the generator's back.
    reuse = std::min(reuse, static_cast<size_t>(session_.past(0)));
    session_.truncate(0, static_cast<int>(reuse));
    cached_.assign(prompt_ids.begin(), prompt_ids.begin() + static_cast<std::ptrdiff_t>(reuse));
    st.reused_tokens = reuse;

    const auto prefill_start = Clock::now();
    std::span<const float> logits;
    const size_t chunk = static_cast<size_t>(session_.options().max_chunk);
    for (size_t pos = reuse; pos < prompt_ids.size(); pos += chunk) {
      size_t n = std::min(chunk, prompt_ids.size() - pos);
      // The last position's logits (all_logits sessions return every position's).
      logits = session_.forward(prompt_ids.subspan(pos, n), 1, static_cast<int>(n))
                   .span<float>()
                   .last(static_cast<size_t>(session_.vocab_size()));
      cached_.insert(cached_.end(), prompt_ids.begin() + static_cast<std::ptrdiff_t>(pos),
                     prompt_ids.begin() + static_cast<std::ptrdiff_t>(pos + n));
    }
    st.prefill_seconds = seconds_since(prefill_start);

    std::vector<int32_t> sequence(prompt_ids.begin(), prompt_ids.end());
    StopStringStream stream(tokenizer_, prompt_ids, options.stop_strings);
    size_t max_new =
        options.max_new_tokens >= 0 ? static_cast<size_t>(options.max_new_tokens) : SIZE_MAX;
    if (options.max_length > 0)
      max_new = std::min(max_new, options.max_length > static_cast<int>(prompt_ids.size())
                                      ? static_cast<size_t>(options.max_length) - prompt_ids.size()
                                      : size_t{0});
    // Hands a piece to the reader; false when the reader asked to stop.
    auto emit = [&](const std::string& piece) {
      if (piece.empty()) return true;
      result.text += piece;
      if (on_text && !on_text(piece)) {
        st.stop_reason = "callback";
        return false;
      }
      return true;
    };

    const auto decode_start = Clock::now();
    while (true) {
      if (result.ids.size() >= max_new) {
        st.stop_reason = "length";
        break;
      }
      if (options.cancel && options.cancel->load()) {
        st.stop_reason = "callback";
        break;
      }
      std::copy(logits.begin(), logits.end(), logits_.begin());
      int32_t next = sampler.sample(logits_, sequence, prompt_ids.size());
      if (!options.ignore_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) {
        st.stop_reason = "eos";
        break;
      }
      result.ids.push_back(next);
      sequence.push_back(next);
      if (!emit(stream.push(next))) break;
      if (stream.stopped()) {
        st.stop_reason = "stop_string";
        break;
      }
      if (result.ids.size() >= max_new) {
        st.stop_reason = "length";
        break;
      }
      if (session_.past() >= context) {
        st.stop_reason = "context";
        break;
      }
      logits = session_.forward(std::span<const int32_t>(&sequence.back(), 1), 1, 1)
                   .span<float>()
                   .last(static_cast<size_t>(session_.vocab_size()));
      cached_.push_back(next);
    }
    if (st.stop_reason != "stop_string" && st.stop_reason != "callback") emit(stream.finish());
    st.generated_tokens = result.ids.size();
    st.decode_seconds = seconds_since(decode_start);
    return result;
  } catch (...) {
    rethrow_as_error("generate");
  }
}

}  // namespace corelm
