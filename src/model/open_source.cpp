// Opening model files as ModelSources, and Tokenizer::from_path (a tokenizer from a package or
// GGUF file through its source, a Hugging Face folder, a tokenizer.json or a SentencePiece
// .model). Both live here, above tokenizer/, package/ and gguf/, which know nothing of each
// other's formats.
#include <filesystem>

#include "base/boundary.h"
#include "base/check.h"
#include "base/file_util.h"
#include "corelm/tokenizer.h"
#include "gguf/gguf_source.h"
#include "model/model_impl.h"
#include "package/package_source.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/tokenizer_impl.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "tokenizer";
}  // namespace

std::unique_ptr<ModelSource> open_model_file(const std::string& path) {
  if (gguf::is_gguf_file(path)) return std::make_unique<GgufSource>(path);
  return std::make_unique<PackageSource>(path);
}

std::shared_ptr<Tokenizer> Tokenizer::from_path(const std::string& path) {
  try {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto config_beside = [](const fs::path& dir) {
      return fs::exists(dir / "tokenizer_config.json")
                 ? read_file((dir / "tokenizer_config.json").string(), kComponent)
                 : std::string();
    };
    if (fs::is_directory(path, ec)) {
      fs::path dir(path);
      std::shared_ptr<Tokenizer> t;
      if (fs::exists(dir / "tokenizer.json"))
        t = from_hf_json(read_file((dir / "tokenizer.json").string(), kComponent),
                         config_beside(dir));
      else if (fs::exists(dir / "tokenizer.model"))
        t = from_sentencepiece(read_file((dir / "tokenizer.model").string(), kComponent),
                               config_beside(dir));
      else
        fail(ErrorCode::kNotFound, kComponent,
             "'{}' has neither tokenizer.json nor tokenizer.model", path);
      if (t->impl_->chat_template.empty() && fs::exists(dir / "chat_template.jinja"))
        t->impl_->chat_template = read_file((dir / "chat_template.jinja").string(), kComponent);
      return t;
    }
    if (!fs::exists(path, ec)) fail(ErrorCode::kNotFound, kComponent, "'{}' does not exist", path);
    // Recognise the file by its first bytes (a package or GGUF may be gigabytes: never read whole).
    const std::string head = read_file_head(path, 16);
    const fs::path parent = fs::path(path).parent_path();
    if (head.rfind("CORELMPK", 0) == 0)
      return tokenizer_from_files(open_model_file(path)->tokenizer_files(), path);
    if (head.rfind("GGUF", 0) == 0)  // vocabulary-only files too: no model config needed
      return tokenizer_from_data(gguf::tokenizer_data(gguf::GgufFile(path)));
    size_t first = head.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && head[first] == '{')
      return from_hf_json(read_file(path, kComponent), config_beside(parent));
    if (!head.empty() && head[0] == 0x0A)
      return from_sentencepiece(read_file(path, kComponent), config_beside(parent));
    fail(ErrorCode::kUnsupported, kComponent,
         "cannot read a tokenizer from '{}' (expected a .clm, a GGUF, a folder, a tokenizer.json "
         "or a "
         "SentencePiece .model)",
         path);
  } catch (...) {
    rethrow_as_error("tokenizer");
  }
}

}  // namespace corelm
