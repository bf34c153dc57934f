// ChatHistory (apps/cli/chat_history.h), the ids `corelm chat` prefills each turn, checked on
// the real Mistral templates and tokenizers against ids made outside corelm
// (mistral-chat-templates/generated_renders.json: Python Jinja2 + SentencePiece).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chat_history.h"
#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm {
namespace {

using nlohmann::json;

std::vector<int32_t> reference_ids(const std::string& template_name,
                                   const std::string& conversation) {
  static const json renders =
      json::parse(test::read_data("mistral-chat-templates/generated_renders.json"))["renders"];
  for (const auto& r : renders)
    if (r["template"] == template_name && r["conversation"] == conversation &&
        r["add_generation_prompt"] == true)
      return r["token_ids"].get<std::vector<int32_t>>();
  ADD_FAILURE() << "no render of " << conversation << " with " << template_name;
  return {};
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct Case {
  std::string tokenizer, template_name;
};

class MistralHistory : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    tok_ = Tokenizer::from_path(test::data_path(GetParam().tokenizer));
    source_ = test::read_data("mistral-chat-templates/" + GetParam().template_name);
  }
  std::shared_ptr<Tokenizer> tok_;
  std::string source_;
};

// "Hello" -> "Hi there" -> "Who are you": when the model generated the answer as the tokenizer
// would write it, the second prompt is exactly the reference tokenization of the whole
// conversation, which starts with everything the cache holds.
TEST_P(MistralHistory, SecondTurnExtendsTheFirstWithTheAnswer) {
  const auto one = reference_ids(GetParam().template_name, "single_user");
  const auto two = reference_ids(GetParam().template_name, "multi_turn");
  cli::ChatHistory h(*tok_, source_);
  h.add_user("Hello");
  auto p1 = h.prompt_ids();
  EXPECT_EQ(p1, one);
  // The answer's ids as the reference has them: between the first prompt and EOS (id 2).
  ASSERT_GT(two.size(), one.size() + 1);
  std::vector<int32_t> answer(
      two.begin() + static_cast<std::ptrdiff_t>(one.size()),
      std::find(two.begin() + static_cast<std::ptrdiff_t>(one.size()), two.end(), 2));
  ASSERT_EQ(tok_->decode(answer, true), "Hi there");
  h.add_answer(p1, answer, " Hi there");  // streamed after "[/INST]": with its leading space
  h.add_user("Who are you");
  EXPECT_EQ(h.prompt_ids(), two);
  EXPECT_FALSE(h.kept_generated_ids());
}

// The model spelled the answer with other tokens than the tokenizer would ("▁H" "i" for "▁Hi"):
// those ids are kept (they are in the cache) and the rest is the reference's tokenization.
TEST_P(MistralHistory, AnAnswerTokenizedDifferentlyKeepsItsGeneratedIds) {
  const auto one = reference_ids(GetParam().template_name, "single_user");
  const auto two = reference_ids(GetParam().template_name, "multi_turn");
  auto h_id = tok_->token_to_id("\xe2\x96\x81H");  // "▁H"
  auto i_id = tok_->token_to_id("i");
  ASSERT_TRUE(h_id && i_id);
  const size_t canonical = 2;  // "▁Hi" "▁there" in the reference
  ASSERT_EQ(two[one.size() + canonical], 2);
  std::vector<int32_t> answer{*h_id, *i_id, two[one.size() + 1]};
  ASSERT_EQ(tok_->decode(answer, true), "Hi there");
  cli::ChatHistory h(*tok_, source_);
  h.add_user("Hello");
  auto p1 = h.prompt_ids();
  h.add_answer(p1, answer, " Hi there");
  h.add_user("Who are you");
  auto expected =
      concat(concat(one, answer),
             std::vector<int32_t>(two.begin() + static_cast<std::ptrdiff_t>(one.size() + canonical),
                                  two.end()));
  EXPECT_EQ(h.prompt_ids(), expected);
  EXPECT_TRUE(h.kept_generated_ids());
  // After a reset nothing is kept: the conversation is the reference's single_user again.
  h.reset();
  h.add_user("Hello");
  EXPECT_EQ(h.prompt_ids(), one);
  EXPECT_FALSE(h.kept_generated_ids());
}

// An answer cut short by Ctrl-C or a stop string keeps only the text shown; its ids no longer
// stand for it, so the next prompt is the plain tokenization.
TEST_P(MistralHistory, AnAnswerCutShortIsRetokenized) {
  const auto one = reference_ids(GetParam().template_name, "single_user");
  const auto two = reference_ids(GetParam().template_name, "multi_turn");
  std::vector<int32_t> answer(two.begin() + static_cast<std::ptrdiff_t>(one.size()),
                              two.begin() + static_cast<std::ptrdiff_t>(one.size() + 2));
  cli::ChatHistory h(*tok_, source_);
  h.add_user("Hello");
  auto p1 = h.prompt_ids();
  h.add_answer(p1, answer, " Hi");  // " there" was generated but not shown
  ASSERT_EQ(h.turns().size(), 2u);
  EXPECT_EQ(h.turns()[1].content, "Hi");
  h.add_user("Who are you");
  auto p2 = h.prompt_ids();
  EXPECT_FALSE(h.kept_generated_ids());
  EXPECT_EQ(
      std::vector<int32_t>(p2.begin(), p2.begin() + static_cast<std::ptrdiff_t>(one.size() + 1)),
      std::vector<int32_t>(two.begin(), two.begin() + static_cast<std::ptrdiff_t>(one.size() + 1)));
  EXPECT_NE(p2[one.size() + 1], two[one.size() + 1]);  // "</s>" follows "▁Hi" directly
}

INSTANTIATE_TEST_SUITE_P(
    Templates, MistralHistory,
    testing::Values(Case{"mistral-7b-v0.1-hf", "v1_spm.jinja"},
                    Case{"mistral-7b-v0.1-hf", "hf_mistral-7b-instruct-v0.2_v1-revision.jinja"},
                    Case{"mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3",
                         "v3_spm.jinja"}),
    [](const auto& info) {
      return std::string(info.param.template_name == "v3_spm.jinja" ? "v3"
                         : info.index == 0                          ? "v1"
                                                                    : "hf_v1_revision");
    });

// Mistral-7B-Instruct-v0.2's original template writes "[/INST]Hi there</s>" with no space, so
// the re-tokenized answer starts "Hi" where the model generated "▁Hi" after "[/INST]" (as the
// v1-revision reference shows it): the generated ids stay, the rest is the reference's.
TEST(ChatHistory, OriginalMistralTemplateKeepsTheGeneratedSpace) {
  auto tok = Tokenizer::from_path(test::data_path("mistral-7b-v0.1-hf"));
  const std::string name = "hf_mistral-7b-instruct-v0.2_original.jinja";
  const auto one = reference_ids(name, "single_user");
  const auto two = reference_ids(name, "multi_turn");
  const auto revision =
      reference_ids("hf_mistral-7b-instruct-v0.2_v1-revision.jinja", "multi_turn");
  // "▁Hi" "▁there": the revision's answer ids, between its "[/INST]" (28793) and EOS.
  const std::vector<int32_t> generated(revision.begin() + 9, revision.begin() + 11);
  ASSERT_EQ(revision[8], 28793);
  ASSERT_EQ(revision[11], 2);
  ASSERT_EQ(tok->decode(generated, true), "Hi there");
  ASSERT_EQ(two[one.size() + 2], 2);  // the reference: "Hi" "▁there" then EOS
  ASSERT_NE(two[one.size()], generated[0]);
  cli::ChatHistory h(*tok, test::read_data("mistral-chat-templates/" + name));
  h.add_user("Hello");
  auto p1 = h.prompt_ids();
  ASSERT_EQ(p1, one);
  h.add_answer(p1, generated, " Hi there");
  h.add_user("Who are you");
  EXPECT_EQ(h.prompt_ids(),
            concat(concat(one, generated),
                   std::vector<int32_t>(two.begin() + static_cast<std::ptrdiff_t>(one.size() + 2),
                                        two.end())));
  EXPECT_TRUE(h.kept_generated_ids());
}

// The history drops whole turns from the front and leaves the last user message.
TEST(ChatHistory, DropsTheOldestTurnsButNotTheLastMessage) {
  auto tok = Tokenizer::from_path(test::data_path("mistral-7b-v0.1-hf"));
  cli::ChatHistory h(*tok, test::read_data("mistral-chat-templates/v1_spm.jinja"));
  h.set_system("Be brief.");
  h.add_user("a");
  h.add_answer({}, {}, "b");
  h.add_user("c");
  h.add_answer({}, {}, "d");
  h.add_user("e");
  ASSERT_TRUE(h.drop_oldest_turn());
  ASSERT_EQ(h.turns().size(), 3u);
  EXPECT_EQ(h.turns()[0].content, "c");
  ASSERT_TRUE(h.drop_oldest_turn());
  ASSERT_EQ(h.turns().size(), 1u);
  EXPECT_EQ(h.turns()[0].content, "e");
  EXPECT_FALSE(h.drop_oldest_turn());
  EXPECT_EQ(h.system(), "Be brief.");
}

// Saved conversations: what /save writes, /load reads back; bad ones are refused with the field.
TEST(ChatHistory, SavedConversationsLoadBack) {
  auto tok = Tokenizer::from_path(test::data_path("mistral-7b-v0.1-hf"));
  cli::ChatHistory h(*tok, test::read_data("mistral-chat-templates/v1_spm.jinja"));
  h.set_system("Be brief.");
  h.add_user("Hi \xc3\xa9");
  h.add_answer({}, {}, "Hello");
  const std::string saved = h.to_json();
  EXPECT_EQ(json::parse(saved),
            json::parse(R"({"messages": [{"role": "system", "content": "Be brief."},
              {"role": "user", "content": "Hi \u00e9"}, {"role": "assistant", "content": "Hello"}]})"));
  cli::ChatHistory g(*tok, test::read_data("mistral-chat-templates/v1_spm.jinja"));
  g.load_json(saved, "saved.json");
  EXPECT_EQ(g.to_json(), saved);
  test::expect_error(
      [&] { g.load_json(R"({"messages": [{"role": "tool", "content": "x"}]})", "x.json"); },
      ErrorCode::kInvalidArgument, "messages[0].role is 'tool'", "chat");
  test::expect_error([&] { g.load_json(R"({"messages": [{"role": "user"}]})", "x.json"); },
                     ErrorCode::kCorrupt, "content", "chat");
  test::expect_error([&] { g.load_json("[1]", "x.json"); }, ErrorCode::kCorrupt,
                     "the document must be an object", "chat");
  EXPECT_EQ(g.to_json(), saved);  // a failed load leaves the conversation as it was
}

}  // namespace
}  // namespace corelm
