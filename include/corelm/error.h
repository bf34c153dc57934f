// corelm's one exception type. Every error message starts with the component that raised it in
// brackets and gives the offending values, e.g.
//   [package] tensor 'model.norm.weight' ends at 4.1 GB but the file is 3.9 GB
// Errors are thrown at the edges (file readers, tokenizer input, CLI/HTTP parsing) and caught at
// three boundaries: the CLI's main, the server's request handler and the Python module.
#pragma once

#include <stdexcept>
#include <string>

namespace corelm {

enum class ErrorCode {
  kInvalidArgument,    // a caller passed a bad value (shape, option, prompt too long)
  kNotFound,           // a file, tensor or token that should exist does not
  kIo,                 // the OS refused a read, write, mmap or rename
  kCorrupt,            // a file's bytes contradict themselves (bad magic, offsets past the end)
  kUnsupported,        // a valid input that corelm does not handle (architecture, dtype)
  kOutOfRange,         // a value outside its allowed range (context length, token id)
  kResourceExhausted,  // not enough memory or disk for the requested work
  kInternal,           // a broken invariant inside corelm: a bug
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace corelm
