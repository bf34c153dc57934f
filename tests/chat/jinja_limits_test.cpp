// Hostile templates and messages: each ends with a [chat] Error naming the limit or the problem
// (with line and column where there is a construct to point at), quickly and without a crash,
// a hang or a runaway allocation. Expected values are Python's / Jinja2's where Python gives
// one (worked out by hand from Python's semantics), else the documented limit message.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "corelm/chat.h"
#include "corelm/error.h"
#include "test_support.h"

namespace corelm {
namespace {

std::string render(const std::string& src, const std::string& messages = "[]",
                   const ChatTemplateLimits& limits = {}) {
  ChatTemplateOptions o;
  o.limits = limits;
  return ChatTemplate::compile(src)->render(messages, o);
}

// The Error's message, or "(no error)". Each takes milliseconds; the test fails past 5 s (a
// loaded machine running the suite in parallel must not make it flaky).
std::string error_of(const std::string& src, const std::string& messages = "[]",
                     const ChatTemplateLimits& limits = {}) {
  const auto start = std::chrono::steady_clock::now();
  std::string what = "(no error)";
  try {
    render(src, messages, limits);
  } catch (const Error& e) {
    what = e.what();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 5.0) << src.substr(0, 80);
  return what;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// ---- numbers ------------------------------------------------------------------------------

TEST(JinjaLimits, FloatLiteralsOutOfRangeAreInfOrZeroAsInPython) {
  // Python: float('1e999') == inf, float('1e-999') == 0.0 (std::stod threw out_of_range).
  EXPECT_EQ(render("{{ 1e999 }} {{ -1e999 }} {{ 1e-999 }} {{ 0.5e309 }} {{ 1.5e308 }}"),
            "inf -inf 0.0 inf 1.5e+308");
  EXPECT_EQ(render("{{ 100000000000000000000000000e-30 }}"), "0.0001");
}

TEST(JinjaLimits, IntegerLiteralBeyondInt64IsAnErrorWithItsPosition) {
  EXPECT_EQ(error_of("{{ 1 + 99999999999999999999 }}"),
            "[chat] template error at line 1, column 8: integer literal 99999999999999999999 is "
            "out of the 64-bit range");
  EXPECT_EQ(render("{{ 9223372036854775807 }}"), "9223372036854775807");
}

TEST(JinjaLimits, IntFilterFollowsJinja2AndRefusesBigIntegers) {
  // jinja2's int: int(value, base) for a str, else int(value); then int(float(value)); then
  // the default. OverflowError (inf) and ValueError (nan, junk) give the default.
  EXPECT_EQ(render("{{ '12'|int }} {{ ' -7 '|int }} {{ '3.9'|int }} {{ '1e3'|int }} "
                   "{{ '1e999'|int }} {{ 'nan'|int }} {{ 'x'|int(5) }} {{ '0x1A'|int(base=16) }} "
                   "{{ '-9223372036854775808'|int }} {{ 2.5e18|int }}"),
            "12 -7 3 1000 0 0 5 26 -9223372036854775808 2500000000000000000");
  // Python gives a big integer here, which corelm cannot hold: an error, not UB or a wrap.
  EXPECT_EQ(error_of("{{ '99999999999999999999999'|int }}"),
            "[chat] template error at line 1, column 29: filter 'int': int: "
            "99999999999999999999999 is out of the 64-bit integer range (Python would give a big "
            "integer)");
  EXPECT_NE(error_of("{{ '1e23'|int }}").find("out of the 64-bit integer range"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 1e23|int }}").find("out of the 64-bit integer range"), std::string::npos);
  EXPECT_NE(error_of("{{ '9223372036854775808'|int }}").find("out of the 64-bit integer range"),
            std::string::npos);
  EXPECT_EQ(render("{{ '1e999'|float }} {{ 'abc'|float }} {{ ' -2.5 '|float }} {{ 'inf'|float }}"),
            "inf 0.0 -2.5 inf");
}

TEST(JinjaLimits, Int64OverflowIsAnErrorNotUndefinedBehaviour) {
  const std::string min = "(-9223372036854775807 - 1)";
  for (const std::string& expr : std::vector<std::string>{
           "9223372036854775807 + 1", "-9223372036854775807 - 2", "4294967296 * 4294967296",
           "2 ** 63", "2 ** 1000000000000", min + " // -1", "-" + min}) {
    EXPECT_NE(error_of("{{ " + expr + " }}").find("integer overflow"), std::string::npos) << expr;
  }
  EXPECT_NE(error_of("{{ " + min + "|abs }}").find("out of the 64-bit integer range"),
            std::string::npos);
  EXPECT_NE(error_of("{{ [9223372036854775807, 1]|sum }}").find("integer overflow"),
            std::string::npos);
  // Python's values where they fit.
  EXPECT_EQ(render("{{ 2 ** 62 }} {{ 1 ** 1000000000000 }} {{ (-1) ** 1000000000001 }} "
                   "{{ " +
                   min + " % -1 }} {{ 7 // -1 }} {{ " + min +
                   " is divisibleby(-1) }} "
                   "{{ 3 * 'ab' }}"),
            "4611686018427387904 1 -1 0 -7 True ababab");
  EXPECT_NE(error_of("{{ 7 // 0 }}").find("division or modulo by zero"), std::string::npos);
  EXPECT_NE(error_of("{{ 7 % 0 }}").find("division or modulo by zero"), std::string::npos);
}

TEST(JinjaLimits, RangeAndSliceArithmeticDoesNotOverflow) {
  EXPECT_EQ(render("{{ range(9223372036854775806, 9223372036854775807, 2)|list }} "
                   "{{ range(10, 0, -3)|list }} {{ range(5, 0)|list }}"),
            "[9223372036854775806] [10, 7, 4, 1] []");
  EXPECT_NE(error_of("{{ range(1, 2, 0) }}").find("step must not be zero"), std::string::npos);
  EXPECT_NE(error_of("{{ range(-9223372036854775807 - 1, 9223372036854775807)|length }}")
                .find("max_value_bytes"),
            std::string::npos);
  EXPECT_EQ(render("{{ [1,2,3][::9223372036854775807] }} "
                   "{{ [1,2,3][::-9223372036854775807 - 1] }} "
                   "{{ [1,2,3][-9223372036854775807 - 1:9223372036854775807] }} "
                   "{{ 'héllo'[::-1] }} {{ 'héllo'[1:3] }} {{ 'abc'[::-2] }}"),
            "[1] [3] [1, 2, 3] olléh él ca");
  // Invalid UTF-8 in a template's own literal: each invalid byte is one character.
  EXPECT_EQ(render("{{ 'a\xff\xc3z'[::-1] }}|{{ 'a\xff\xc3z'|length }}"),
            "z\xc3\xff"
            "a|4");
}

// ---- parser depth -------------------------------------------------------------------------

TEST(JinjaLimits, DeepExpressionsAreRefusedAtCompileTime) {
  // 50,000 "(" used to overflow the stack. The 257th level is refused where it starts.
  EXPECT_EQ(error_of("{{ " + repeat("(", 50000) + "1" + repeat(")", 50000) + " }}"),
            "[chat] template error at line 1, column 260: expression nested more than 256 deep");
  EXPECT_NE(error_of("{{ " + repeat("[", 50000) + repeat("]", 50000) + " }}")
                .find("expression nested more than 256 deep"),
            std::string::npos);
  EXPECT_NE(error_of("{{ " + repeat("{'a': ", 50000) + "1" + repeat("}", 50000) + " }}")
                .find("expression nested more than 256 deep"),
            std::string::npos);
  EXPECT_NE(error_of("{{ " + repeat("not ", 50000) + "x }}").find("nested more than 256 deep"),
            std::string::npos);
  EXPECT_NE(error_of("{{ " + repeat("- ", 50000) + "1 }}").find("nested more than 256 deep"),
            std::string::npos);
  // Chains the parser builds in a loop nest just as deeply when evaluated and destroyed.
  EXPECT_NE(error_of("{{ 1" + repeat(" + 1", 50000) + " }}").find("nested more than 256 deep"),
            std::string::npos);
  EXPECT_NE(error_of("{{ x" + repeat(".a", 50000) + " }}").find("nested more than 256 deep"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 'x'" + repeat("|trim", 50000) + " }}").find("nested more than 256 deep"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 1 if x else" + repeat(" 1 if x else", 50000) + " 2 }}")
                .find("nested more than 256 deep"),
            std::string::npos);
  // Within the limit it renders.
  EXPECT_EQ(render("{{ " + repeat("(", 200) + "1" + repeat(")", 200) + " }}{{ 1" +
                   repeat(" + 1", 200) + " }}"),
            "1201");
}

TEST(JinjaLimits, DeepStatementsAreRefusedAtCompileTime) {
  // 20,000 nested ifs: the 257th is refused ("{% if true %}" is 13 characters; its "if" is at
  // column 256 * 13 + 4).
  EXPECT_EQ(error_of(repeat("{% if true %}", 20000) + "x" + repeat("{% endif %}", 20000)),
            "[chat] template error at line 1, column 3332: statements nested more than 256 deep");
  EXPECT_NE(error_of(repeat("{% for i in [1] %}", 20000) + repeat("{% endfor %}", 20000))
                .find("statements nested more than 256 deep"),
            std::string::npos);
  EXPECT_EQ(render(repeat("{% if true %}", 200) + "x" + repeat("{% endif %}", 200)), "x");
}

// ---- value depth --------------------------------------------------------------------------

TEST(JinjaLimits, DeeplyNestedJsonIsRefusedBeforeItBecomesValues) {
  EXPECT_EQ(error_of("{{ messages }}", repeat("[", 100000) + repeat("]", 100000)),
            "[chat] messages nests arrays or objects more than 128 deep");
  ChatTemplateOptions o;
  o.tools_json = repeat("{\"a\": ", 100000) + "1" + repeat("}", 100000);
  try {
    ChatTemplate::compile("{{ tools }}")->render("[]", o);
    ADD_FAILURE() << "deep tools accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "[chat] tools nests arrays or objects more than 128 deep");
  }
  // 100 levels are fine: Python renders the same nested list.
  EXPECT_EQ(render("{{ messages|length }}", repeat("[", 100) + repeat("]", 100)), "1");
  EXPECT_EQ(error_of("{{ messages }}", "[18446744073709551615]"),
            "[chat] messages: integer 18446744073709551615 is out of the 64-bit range");
}

TEST(JinjaLimits, ValuesATemplateBuildsCannotNestPastTheLimit) {
  EXPECT_EQ(error_of("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}"
                     "{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}"),
            "[chat] template error at line 1, column 73: values nested more than 128 deep");
}

TEST(JinjaLimits, NamespacesCannotContainThemselves) {
  // ns.self = ns would make str(), tojson and == recurse forever.
  EXPECT_EQ(error_of("{% set ns = namespace(a=1) %}{% set ns.self = ns %}{{ ns }}"),
            "[chat] template error at line 1, column 33: cannot store a namespace() inside the "
            "namespace 'ns'");
  EXPECT_NE(error_of("{% set ns = namespace(a=1) %}{% set ns.l = [{'k': ns}] %}{{ ns|tojson }}")
                .find("cannot store a namespace()"),
            std::string::npos);
  // A namespace holding plain values still works.
  EXPECT_EQ(render("{% set ns = namespace(a=1) %}{% set ns.l = [1, {'k': 2}] %}{{ ns.l }}"),
            "[1, {'k': 2}]");
}

TEST(JinjaLimits, SharedStructuresCannotBlowUpTojsonOrEquality) {
  // [l, l] a hundred times is 2**100 leaves: output and comparisons stop at a limit.
  const std::string build =
      "{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(100) %}"
      "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}";
  ChatTemplateLimits small;
  small.max_value_bytes = 1 << 20;
  EXPECT_NE(error_of(build + "{{ ns.a|tojson }}", "[]", small).find("max_value_bytes"),
            std::string::npos);
  EXPECT_NE(error_of(build + "{{ ns.a }}", "[]", small).find("max_value_bytes"), std::string::npos);
  ChatTemplateLimits few_steps;
  few_steps.max_steps = 1000000;
  EXPECT_NE(error_of(build + "{{ ns.a == ns.b }}", "[]", few_steps).find("max_steps"),
            std::string::npos);
}

// ---- calls --------------------------------------------------------------------------------

TEST(JinjaLimits, MacroRecursionStopsAtTheCallDepth) {
  const std::string src = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
  EXPECT_EQ(error_of(src),
            "[chat] template error at line 1, column 21: macro calls nested more than 128 deep "
            "(ChatTemplateLimits::max_call_depth)");
  // A caller that raises the call limit still cannot exhaust the stack.
  ChatTemplateLimits deep;
  deep.max_call_depth = 1000000000;
  EXPECT_NE(error_of(src, "[]", deep).find("more than 1024 deep"), std::string::npos);
  // Legitimate recursion renders.
  EXPECT_EQ(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
                   "{{ f(50)|length }}"),
            "91");  // 50 down to 1: 9 one-digit and 41 two-digit numbers
}

TEST(JinjaLimits, FiltersCallingFiltersAreBounded) {
  // map('map', 'map', ...) over a string nests one filter call per argument (each character
  // is a string again), each level holding a copy of the remaining arguments.
  std::string args;
  for (int i = 0; i < 20000; ++i) args += ", 'map'";
  EXPECT_EQ(error_of("{{ 'a'|map('map'" + args + ")|list }}"),
            "[chat] template error at line 1, column 1804: more than 256 arguments in one call");
  // The 257th argument ("{{ 'a'|map(" is 11 characters, each further argument 7) is refused.
  // Within the limit the nesting ends where the arguments run out.
  args.resize(std::string(", 'map'").size() * 200);
  EXPECT_NE(error_of("{{ 'a'|map('map'" + args + ")|list }}").find("map needs a filter name"),
            std::string::npos);
}

// ---- work and size ------------------------------------------------------------------------

TEST(JinjaLimits, HugeStringsAndListsAreRefusedBeforeTheyAreBuilt) {
  for (const std::string expr :
       {"'x' * 2000000000", "2000000000 * 'x'", "([1] * 2000000000)|length",
        "'x'|center(2000000000)", "'x'|indent(2000000000, true)", "[1]|tojson(indent=2000000000)",
        "'x' * 9223372036854775807", "[1, 2] * 9223372036854775807"}) {
    EXPECT_NE(error_of("{{ " + expr + " }}").find("ChatTemplateLimits::max_value_bytes"),
              std::string::npos)
        << expr;
  }
  // Doubling a string or a list stops at the size limit, not at the machine's memory (a 1 MiB
  // limit keeps the test fast; the default is 64 MiB).
  ChatTemplateLimits small;
  small.max_value_bytes = 1 << 20;
  for (const std::string& src : std::vector<std::string>{
           "{% set ns = namespace(s='x') %}{% for i in range(100) %}"
           "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
           "{% set ns = namespace(s='x') %}{% for i in range(100) %}"
           "{% set ns.s = ns.s + ns.s %}{% endfor %}",
           "{% set ns = namespace(s=[1]) %}{% for i in range(100) %}"
           "{% set ns.s = ns.s + ns.s %}{% endfor %}",
           "{% set s = 'ab' * 10000 %}{{ s|replace('a', s)|length }}",
           "{% set s = 'x' * 10000 %}{{ ([s] * 1000)|join(',')|length }}",
           "{% set s = 'x' * 10000 %}{{ ','.join([s] * 1000)|length }}",
           "{% set s = 'x' * 10000 %}{{ ([s] * 1000)|tojson|length }}",
       }) {
    EXPECT_NE(error_of(src, "[]", small).find("max_value_bytes"), std::string::npos) << src;
  }
  // Python's ' ' * -4 is '': a negative width indents by nothing.
  EXPECT_EQ(render("{{ 'a\nb'|indent(-4) }}|{{ 'a\nb'|indent('> ') }}"), "a\nb|a\n> b");
}

TEST(JinjaLimits, CopiesShareTextInsteadOfMultiplyingIt) {
  // 300,000 references to one 1 MB string: 1 MB of text, not 300 GB.
  EXPECT_EQ(render("{% set s = 'x' * 1000000 %}{% set l = [s] * 300000 %}{{ l|length }} "
                   "{{ l[299999]|length }} {{ (l + l)|length }}"
                   "{% for x in l[:100000] %}{% endfor %}"),
            "300000 1000000 600000");
}

TEST(JinjaLimits, MemoryHeldByManyValuesIsBounded) {
  // Each string is within the per-operation size, but the list keeps them all: the values'
  // storage is counted while it lives (an 8 MiB budget keeps the test fast; default 512 MiB).
  ChatTemplateLimits small;
  small.max_memory_bytes = 8 << 20;
  EXPECT_EQ(error_of("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}"
                     "{% set ns.l = ns.l + ['x' * 100000 ~ i] %}{% endfor %}",
                     "[]", small),
            "[chat] template error at line 1, column 76: the template's values hold more than "
            "8388608 bytes (ChatTemplateLimits::max_memory_bytes)");
  // Many smaller strings, made by a filter per item, count too.
  EXPECT_NE(error_of("{{ range(100000)|map('center', 4000)|list|length }}", "[]", small)
                .find("max_memory_bytes"),
            std::string::npos);
  // Storage that is let go is given back: 10 MB made 100 KB at a time, none kept, renders.
  EXPECT_EQ(
      render("{% for i in range(100) %}{% set s = 'x' * 100000 ~ i %}{% endfor %}ok", "[]", small),
      "ok");
}

TEST(JinjaLimits, OutputSizeIsBounded) {
  ChatTemplateLimits small;
  small.max_output_bytes = 1000;
  EXPECT_EQ(error_of("{% for i in range(1000) %}{{ 'abcdefghij' }}{% endfor %}", "[]", small),
            "[chat] template error at line 1, column 27: the rendered text would exceed 1000 bytes "
            "(ChatTemplateLimits::max_output_bytes)");
  EXPECT_EQ(render("{% for i in range(100) %}{{ 'abcdefghij' }}{% endfor %}", "[]", small).size(),
            1000u);
}

TEST(JinjaLimits, StepsBoundLoopsEvenWithEmptyBodies) {
  ChatTemplateLimits few;
  few.max_steps = 100000;
  EXPECT_EQ(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                     "{% endfor %}",
                     "[]", few),
            "[chat] template error at line 1, column 32: the template ran more than 100000 steps "
            "(ChatTemplateLimits::max_steps)");
  EXPECT_NE(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}"
                     "{% endfor %}",
                     "[]", few)
                .find("max_steps"),
            std::string::npos);
  // unique and sort compare pairwise: counted too.
  EXPECT_NE(error_of("{{ range(100000)|unique|length }}", "[]", few).find("max_steps"),
            std::string::npos);
}

TEST(JinjaLimits, StringFormattingIsBounded) {
  ChatTemplateLimits small;
  small.max_value_bytes = 1 << 20;
  EXPECT_NE(error_of("{% set s = 'x' * 100000 %}{{ ('%s' * 100) % ([s] * 100) }}", "[]", small)
                .find("max_value_bytes"),
            std::string::npos);
  EXPECT_NE(error_of("{% set s = 'x' * 100000 %}{{ ('{0}' * 100).format(s) }}", "[]", small)
                .find("max_value_bytes"),
            std::string::npos);
  // A field index too large for size_t is a missing value, not std::out_of_range.
  EXPECT_NE(error_of("{{ '{99999999999999999999999}'.format(1) }}").find("has no value"),
            std::string::npos);
  EXPECT_EQ(render("{{ [[1, 2]]|map(attribute='0.99999999999999999999999')|select('defined')|list "
                   "}}{{ [[1, 2]]|map(attribute='1')|list }}"),
            "[][2]");
}

// ---- real templates ------------------------------------------------------------------------

TEST(JinjaLimits, RealTemplatesRenderLongConversationsWellWithinTheDefaults) {
  // 1,000 alternating 4 KB messages through every template in ../shared/data, with a fifth of
  // the default step and output budgets (10,000 messages need at most 20 million steps and
  // 37 MB of the defaults' 50 million and 64 MiB: measured for the report).
  std::string messages = "[";
  for (int i = 0; i < 1000; ++i) {
    messages += std::string(i ? "," : "") + "{\"role\": \"" + (i % 2 ? "assistant" : "user") +
                "\", \"content\": \"" + repeat("word ", 800) + std::to_string(i) + "\"}";
  }
  messages += "]";
  ChatTemplateLimits fifth;
  fifth.max_steps /= 5;
  fifth.max_output_bytes /= 5;
  for (const std::string name : {"v1_spm.jinja", "v2_spm.jinja", "v3_spm.jinja",
                                 "hf_mistral-7b-instruct-v0.2_original.jinja",
                                 "hf_mistral-7b-instruct-v0.2_v1-revision.jinja"}) {
    ChatTemplateOptions o;
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    o.limits = fifth;
    const std::string text =
        ChatTemplate::compile(test::read_data("mistral-chat-templates/" + name))
            ->render(messages, o);
    EXPECT_GT(text.size(), 1000u * 4000u) << name;
  }
}

}  // namespace
}  // namespace corelm
