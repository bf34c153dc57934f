// Tokenizer throughput (report only): encoding WikiText-2's test split with the Mistral v0.1
// (SentencePiece-style BPE) and GPT-2 (byte-level BPE) tokenizers, one thread.
//   build/bench/tokenizer_bench [--benchmark_min_time=2]   (CORELM_TEST_DATA overrides
//   ../shared/data)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "corelm/tokenizer.h"

namespace {

std::string data_dir() {
  const char* env = std::getenv("CORELM_TEST_DATA");
  return env && *env ? env : CORELM_SHARED_DATA;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Each iteration loads a fresh tokenizer (outside the timing), so the word cache starts empty:
// the figure is a first pass over unseen text.
void encode(benchmark::State& state, const std::string& tokenizer_path) {
  const std::string text = read(data_dir() + "/text/wikitext-2-raw-test/wiki.test.raw");
  size_t tokens = 0;
  std::shared_ptr<corelm::Tokenizer> tok;
  for (auto _ : state) {
    state.PauseTiming();
    tok.reset();  // destroyed outside the timed region
    tok = corelm::Tokenizer::from_path(data_dir() + "/" + tokenizer_path);
    state.ResumeTiming();
    auto ids = tok->encode(text, false);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens * state.iterations()),
                                                  benchmark::Counter::kIsRate);
  state.counters["tokens"] = static_cast<double>(tokens);
}

BENCHMARK_CAPTURE(encode, mistral_v1_tokenizer_json,
                  std::string("mistral-7b-v0.1-hf/tokenizer.json"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, mistral_v3_sentencepiece,
                  std::string("mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, gpt2_byte_level, std::string("gpt2-tokenizer/tokenizer.json"))
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
