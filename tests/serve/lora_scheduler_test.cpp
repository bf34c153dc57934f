// The scheduler with the package's functions (LoRA adapters): requests of different functions
// decode together in one forward call, each giving the ids it gives alone; the expected ids come
// from the NumPy-merged models (tests/tools/make_lora_fixtures.py) run by the Generator.
#include <gtest/gtest.h>

#include <chrono>

#include "corelm/generate.h"
#include "corelm/tokenizer.h"
#include "serve/scheduler.h"
#include "test_support.h"

namespace corelm::serve {
namespace {

using namespace std::chrono_literals;

std::vector<int32_t> collect_ids(RequestStream& stream) {
  while (true) {
    auto u = stream.wait(1000ms);
    if (u.final) return u.final->ids;
  }
}

TEST(SchedulerFunctions, RequestsOfDifferentFunctionsDecodeTogetherAsEachAlone) {
  auto model = Model::load(test::stories_functions_package());
  SchedulerOptions so;
  so.slots = 4;
  so.max_chunk = 8;
  so.kv_cache = KvCacheType::kF32;
  Scheduler scheduler(model, so);
  struct Case {
    std::string function, prompt;
  };
  const std::vector<Case> cases = {{"r4", "Once upon a time"},
                                   {"", "Once upon a time"},
                                   {"r16", "Lily and Tom went to the park."},
                                   {"rslora", "The little dog"},
                                   {"r4", "Tim had a toy car"},
                                   {"fan_in_fan_out", "Once upon a time"}};
  std::vector<std::shared_ptr<RequestStream>> streams;
  std::vector<std::vector<int32_t>> expected;
  for (const auto& c : cases) {
    SlotRequest r;
    r.prompt = model->tokenizer().encode(c.prompt, true);
    r.max_new_tokens = 30;
    r.ignore_eos = true;
    r.function = c.function;
    expected.push_back(test::generate_alone(c.function.empty()
                                                ? test::stories_model("f32")
                                                : test::stories_merged_model(c.function),
                                            r.prompt, r.max_new_tokens)
                           .ids);
    streams.push_back(scheduler.submit(std::move(r)));
    ASSERT_NE(streams.back(), nullptr);
  }
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(collect_ids(*streams[i]), expected[i])
        << "request " << i << " function '" << cases[i].function << "'";

  // "Once upon a time" is cached under r4, the base and fan_in_fan_out (in whichever slots kept
  // them); under r16 only the BOS of r16's own slot may be reused.
  SlotRequest again;
  again.prompt = model->tokenizer().encode("Once upon a time", true);
  again.max_new_tokens = 10;
  again.ignore_eos = true;
  again.function = "r16";
  auto s = scheduler.submit(again);
  ASSERT_NE(s, nullptr);
  while (true) {
    auto u = s->wait(1000ms);
    if (u.final) {
      EXPECT_LE(u.final->cached_tokens, 1u);
      break;
    }
  }
}

TEST(SchedulerFunctions, AnUnknownFunctionIsRefused) {
  auto model = Model::load(test::stories_functions_package());
  SchedulerOptions so;
  so.slots = 1;
  Scheduler scheduler(model, so);
  SlotRequest r;
  r.prompt = {1, 403};
  r.function = "nope";
  test::expect_error([&] { scheduler.submit(r); }, ErrorCode::kNotFound, "no function 'nope'");
}

}  // namespace
}  // namespace corelm::serve
