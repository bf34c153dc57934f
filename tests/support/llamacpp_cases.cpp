// llama.cpp's vocabulary test cases: `<name>.inp` holds inputs separated by a marker line and
// `<name>.out` the token ids llama.cpp produced for each, one line per input.
#include <sstream>

#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm::test {
namespace {

std::vector<std::string> split_cases(const std::string& inp) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0, at;
  while ((at = inp.find(sep, pos)) != std::string::npos) {
    cases.push_back(inp.substr(pos, at - pos));
    pos = at + sep.size();
  }
  return cases;
}

std::vector<std::vector<int32_t>> read_ids(const std::string& out) {
  std::vector<std::vector<int32_t>> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (ls >> id) ids.push_back(id);
    lines.push_back(ids);
  }
  return lines;
}

}  // namespace

void expect_llamacpp_vocab_cases(const std::string& name, const Tokenizer& tok) {
  auto cases = split_cases(read_data("llamacpp-vocab-tests/" + name + ".inp"));
  auto expected = read_ids(read_data("llamacpp-vocab-tests/" + name + ".out"));
  ASSERT_EQ(cases.size(), expected.size()) << name;
  ASSERT_GT(cases.size(), 0u) << name;
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(tok.encode(cases[i], false), expected[i])
        << name << " case " << i << ": '" << cases[i] << "'";
}

}  // namespace corelm::test
