// The Jinja subset, feature by feature, against what Python's Jinja2 (as transformers configures
// it: trim_blocks, lstrip_blocks) renders for the same source.
#include <gtest/gtest.h>

#include <ctime>

#include "corelm/chat.h"
#include "corelm/error.h"

namespace corelm {
namespace {

std::string render(const std::string& src, const std::string& messages = "[]",
                   const std::string& extra = "") {
  ChatTemplateOptions o;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  o.extra_context_json = extra;
  return ChatTemplate::compile(src)->render(messages, o);
}

std::string error_of(const std::string& src, const std::string& messages = "[]") {
  try {
    render(src, messages);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Jinja, WhitespaceControl) {
  // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it.
  EXPECT_EQ(render("{% if true %}\n  yes\n{% endif %}\nend"), "  yes\nend");
  EXPECT_EQ(render("a\n    {% if true %}\nb\n    {% endif %}\nc"), "a\nb\nc");
  EXPECT_EQ(render("a  {{- ' b ' -}}  c"), "a b c");
  EXPECT_EQ(render("x {%- if true %} y {% endif -%} z"), "x y z");
  EXPECT_EQ(render("{# comment #}\nA"), "A");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(render("{% raw %}{{ not evaluated }}{% endraw %}"), "{{ not evaluated }}");
}

TEST(Jinja, ExpressionsAndPythonStr) {
  EXPECT_EQ(
      render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }}"),
      "7 3 -4 1 1024 3.5");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none }} {{ 'ab' * 3 }} {{ [1] + [2] }}"), "a1None ababab [1, 2]");
  EXPECT_EQ(
      render("{{ true and 'x' }}|{{ false or 'y' }}|{{ not none }}|{{ 'x' if false else 'z' }}"),
      "x|y|True|z");
  EXPECT_EQ(render("{{ none }} {{ true }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e-05 }} {{ 1e16 }}"),
            "None True 1.0 0.30000000000000004 1e-05 1e+16");
  EXPECT_EQ(render("{{ {'a': 1, 'b': [true, none, 'q\\'s']} }}"),
            "{'a': 1, 'b': [True, None, \"q's\"]}");
  EXPECT_EQ(
      render("{{ 'b' in 'abc' }} {{ 2 not in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 1 < 2 <= 2 }}"),
      "True False True True");
  EXPECT_EQ(render("{{ [1,2,3,4][1:] }} {{ [1,2,3][::-1] }} {{ 'hello'[1:3] }} {{ [1,2,3][-1] }}"),
            "[2, 3, 4] [3, 2, 1] el 3");
  EXPECT_EQ(render("{{ undefined_thing }}|{{ (undefined_thing is defined) }}"), "|False");
}

TEST(Jinja, Filters) {
  EXPECT_EQ(
      render("{{ '  x  ' | trim }}|{{ [1,2] | length }}|{{ 'héllo' | length }}|{{ 'ab' | upper }}"),
      "x|2|5|AB");
  EXPECT_EQ(render("{{ {'b': 1, 'a': [1.5, 'é', none, true]} | tojson }}"),
            "{\"b\": 1, \"a\": [1.5, \"é\", null, true]}");
  EXPECT_EQ(render("{{ {'a': {'b': 1}} | tojson(indent=2) }}"),
            "{\n  \"a\": {\n    \"b\": 1\n  }\n}");
  EXPECT_EQ(render("{{ 'say \"hi\"\\n' | tojson }}"), "\"say \\\"hi\\\"\\n\"");
  const std::string msgs =
      R"([{"role": "system", "content": "S"}, {"role": "user", "content": "U1"}, {"role": "user", "content": "U2"}])";
  EXPECT_EQ(render("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') "
                   "| join(', ') }}",
                   msgs),
            "U1, U2");
  EXPECT_EQ(render("{{ messages | rejectattr('role', 'eq', 'user') | list | length }}", msgs), "1");
  EXPECT_EQ(render("{% for k, v in {'x': 1, 'y': 2} | items %}{{ k }}={{ v }};{% endfor %}"),
            "x=1;y=2;");
  EXPECT_EQ(
      render(
          "{{ nothing | default('dflt') }}|{{ '' | default('e', true) }}|{{ 'v' | default('w') }}"),
      "dflt|e|v");
  EXPECT_EQ(render("{{ 'a-b-a' | replace('a', 'x') }} {{ [3,1,2] | first }} {{ [3,1,2] | last }} "
                   "{{ [3,1,2] | sort }}"),
            "x-b-x 3 2 [1, 2, 3]");
  EXPECT_EQ(render("{{ '42' | int }} {{ 'x' | int }} {{ '3.5' | float }} {{ 3 | string }} {{ '12' "
                   "| int | string == '12' }}"),
            "42 0 3.5 3 True");
  EXPECT_EQ(render("{{ [1, 2, 2, 3] | unique | list }} {{ [1, 2] | map('string') | join }} {{ [1, "
                   "2, 3] | sum }}"),
            "[1, 2, 3] 12 6");
  EXPECT_EQ(
      render(
          "{{ 'a\\nb' | indent(2) }}|{{ 'hello world' | title }}|{{ '%s-%d' | format('x', 5) }}"),
      "a\n  b|Hello World|x-5");
}

TEST(Jinja, TestsAndMethods) {
  EXPECT_EQ(render("{{ 'x' is string }} {{ 1 is number }} {{ none is none }} {{ {} is mapping }} "
                   "{{ 4 is divisibleby 2 }}"),
            "True True True True True");
  EXPECT_EQ(
      render("{{ x is not defined }} {{ [1] is iterable }} {{ 3 is odd }} {{ 'a' is in 'cat' }}"),
      "True True True True");
  EXPECT_EQ(render("{{ '  a b  '.strip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' x  y '.split() }}|{{ "
                   "'xab'.lstrip('x') }}"),
            "a b|['a', 'b', '', 'c']|['x', 'y']|ab");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'Ab'.upper() "
                   "}} {{ '{} and {}'.format(1, 'b') }}"),
            "True True AB 1 and b");
  EXPECT_EQ(
      render(
          "{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z', 'none') }} {{ {'a': 1}.keys() | list }}"),
      "1 none ['a']");
}

TEST(Jinja, LoopsMacrosNamespacesAndSet) {
  EXPECT_EQ(
      render(
          "{% for x in ['a','b','c'] %}{{ loop.index }}{{ x }}{{ loop.revindex0 }}{% if loop.first "
          "%}F{% endif %}"
          "{% if loop.last %}L{% endif %}{{ loop.length }}{{ loop.cycle('o', 'e') }} {% endfor %}"),
      "1a2F3o 2b13e 3c0L3o ");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in [1,2,3,4,5] if x is odd %}{{ x }}{{ loop.index }},{% endfor %}"),
            "11,32,53,");
  EXPECT_EQ(render("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 "
                   "%}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "13");
  EXPECT_EQ(render("{% set n = 1 %}{% for x in [1] %}{% set n = 5 %}{% endfor %}{{ n }}"),
            "1");  // loop scope
  EXPECT_EQ(render("{% set ns = namespace(n=1) %}{% for x in [1,2] %}{% set ns.n = ns.n + x %}{% "
                   "endfor %}{{ ns.n }}"),
            "4");
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ "
                   "greet('Ann') }} {{ greet(name='Bo', punct='?') }}"),
            "Hi Ann! Hi Bo?");
  EXPECT_EQ(render("{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]"), "[inner 2]");
  EXPECT_EQ(render("{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m['content'] }}{% endfor "
                   "%}{{ eos_token }}",
                   R"([{"role": "user", "content": "hi"}])"),
            "<s>user:hi</s>");
  EXPECT_EQ(render("{% if a %}A{% elif b %}B{% else %}C{% endif %}", "[]", R"({"b": true})"), "B");
  EXPECT_EQ(render("{% generation %}kept{% endgeneration %}"), "kept");
  EXPECT_EQ(render("{% for i in range(3) %}{{ i }}{% endfor %}{{ range(1, 7, 2) | list }}"),
            "012[1, 3, 5]");
}

TEST(Jinja, StrftimeNowUsesTheClock) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  EXPECT_EQ(render("{{ strftime_now('%Y') }}"), std::to_string(1900 + tm.tm_year));
  // The format Llama 3.x templates use, against the C library's strftime.
  char expected[64];
  std::strftime(expected, sizeof(expected), "%d %b %Y, %A %B %j", &tm);
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y, %A %B %j') }}"), expected);
}

TEST(Jinja, ErrorsNameTheProblemAndPosition) {
  EXPECT_EQ(error_of("line one\n{{ x | frobnicate }}"),
            "[chat] template error at line 2, column 6: unsupported filter 'frobnicate'");
  EXPECT_EQ(error_of("{% include 'other.jinja' %}"),
            "[chat] template error at line 1, column 4: unsupported Jinja statement 'include'");
  EXPECT_EQ(error_of("{{ x is frobbed }}"),
            "[chat] template error at line 1, column 6: unsupported test 'frobbed'");
  EXPECT_EQ(error_of("{% if true %}never closed"),
            "[chat] template error at line 1, column 4: 'if' is never closed (expected 'elif' or "
            "'else' or 'endif')");
  EXPECT_EQ(error_of("ok\n  {{ 'unterminated }}"),
            "[chat] template error at line 2, column 3: unclosed tag '{{'");
  EXPECT_EQ(error_of("{{ raise_exception('Bad role: ' + 'x') }}"), "[chat] Bad role: x");
  EXPECT_EQ(error_of("{{ 1 + 'a' }}"),
            "[chat] template error at line 1, column 6: unsupported operand types for +: 'int' and "
            "'str'");
  EXPECT_EQ(error_of("{{ nope.attr }}"),
            "[chat] template error at line 1, column 8: 'nope' is undefined");
  EXPECT_EQ(error_of("{{ [1].append(2) }}").rfind("[chat] template error", 0), 0u);
  EXPECT_NE(error_of("{{ 1 }}", "not json").find("[chat] messages is not valid JSON"),
            std::string::npos);
}

}  // namespace
}  // namespace corelm
