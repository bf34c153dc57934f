// Shared helpers for the tests: where the shared data lives, packages converted once per test
// process, and running the corelm CLI.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "corelm/error.h"
#include "corelm/generate.h"
#include "corelm/model.h"
#include "tensor/dtype.h"

namespace corelm {
class Tokenizer;
}

namespace corelm::test {

// The shared data folder: $CORELM_TEST_DATA, else ../shared/data beside the checkout. Fails
// the test (never skips) when it is missing.
std::string data_dir();
std::string data_path(const std::string& relative);
std::string read_data(const std::string& relative);

// A file committed under tests/data (fixtures made by the scripts in tests/tools).
std::string fixture_path(const std::string& name);
std::string read_fixture(const std::string& name);

// A LoRA fixture made at build time by tests/tools/make_lora_fixtures.py (an adapter folder such
// as "r4", its merged model "merged_r4", or "r4.gguf"). Fails the test when it is missing.
std::string lora_fixture(const std::string& name);

// A block fixture made at build time by tests/tools/make_ggml_block_fixtures.py with llama.cpp's
// gguf-py ("Q4_K.blocks", "Q4_K.f32"). Fails the test when it is missing.
std::string ggml_fixture(const std::string& name);

// `rows` random rows of `cols` values stored as `dtype`: random normal values (std `scale`)
// quantized by the registry's writer, or, for the run-only GGUF types (no writer), random blocks
// whose fp16 fields hold small finite values.
std::vector<uint8_t> random_rows(DType dtype, size_t rows, size_t cols, uint32_t seed,
                                 float scale = 0.05f);

// A temporary folder for this test process, removed at exit.
std::string temp_dir();

// stories260K-hf converted with `quant` (f32, f16, q8s32, q4s32), once per process.
const std::string& stories_package(const std::string& quant);
// BOS followed by llama2.c run.c's 256 greedy ids for stories260K from BOS
// (tiny-models/stories260K/reference_outputs.json, greedy_from_bos): a real story to feed, whose
// every next id is the reference's greedy choice.
const std::vector<int32_t>& runc_greedy_story();
std::shared_ptr<Model> stories_model(const std::string& quant);
// stories260K-hf in f32 with the LoRA fixtures r4, r16, rslora and fan_in_fan_out stored (in f32)
// as functions of those names, once per process; and the NumPy-merged model `name` in f32.
const std::string& stories_functions_package();
// Greedy generation of `max_new` tokens (EOS ignored) by the Generator on a Session of its own
// with an f32 KV cache: the slower path the server's batched answers are compared with.
GenerationResult generate_alone(const std::shared_ptr<Model>& model,
                                const std::vector<int32_t>& prompt, int max_new);
std::shared_ptr<Model> stories_merged_model(const std::string& name);

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs the corelm binary with `args` (no shell), capturing stdout and stderr.
CliResult run_cli(const std::vector<std::string>& args);
// The command line that runs corelm with `args`: the binary, behind the emulator in cross builds.
std::vector<std::string> cli_command(const std::vector<std::string>& args);

// Mistral's tokenizers by mistral-common's version name ("v1": mistral-7b-v0.1-hf/tokenizer.json;
// "v2", "v3": the 32768-piece SentencePiece models), loaded once per process.
std::shared_ptr<Tokenizer> mistral_tokenizer(const std::string& version);

// stories260K-hf converted by the corelm CLI (`corelm convert ... --quant quant`), once per
// test process.
const std::string& cli_converted(const std::string& quant);

// Copies a file, then lets the test damage the copy.
std::string copy_to_temp(const std::string& path, const std::string& name);

// Runs f() and expects an Error with `code` whose message contains `fragment` and, when
// `component` is given, starts with "[component]".
template <typename F>
void expect_error(F&& f, ErrorCode code, const std::string& fragment,
                  const std::string& component = "") {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.code(), code) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
    if (!component.empty()) {
      EXPECT_EQ(what.rfind("[" + component + "]", 0), 0u) << what;
    }
  }
}

// Encodes every case of llama.cpp's vocab test `name` (in llamacpp-vocab-tests/) without
// special tokens and expects llama.cpp's ids.
void expect_llamacpp_vocab_cases(const std::string& name, const Tokenizer& tok);

}  // namespace corelm::test
