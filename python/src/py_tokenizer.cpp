// corelm.Tokenizer: Hugging Face tokenizers' encode/decode and the chat template renderer.
// apply_chat_template (messages as Python dicts) is in python/corelm/_tokenizer.py, over
// render_chat_template here.
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "corelm/chat.h"

namespace corelm::python {

namespace {

std::optional<int32_t> optional_id(int32_t id) {
  if (id < 0) return std::nullopt;
  return id;
}

std::string render(const PyTokenizer& t, const std::string& messages_json,
                   bool add_generation_prompt, const std::string& tools_json,
                   const std::string& extra_context_json,
                   const std::optional<std::string>& chat_template) {
  // A copy: another thread may reassign the attribute once the GIL is released.
  const std::string source = chat_template ? *chat_template : t.chat_template;
  if (source.empty())
    raise(ErrorCode::kNotFound,
          "this tokenizer has no chat template: set tokenizer.chat_template or pass "
          "chat_template=");
  ChatTemplateOptions options;
  options.add_generation_prompt = add_generation_prompt;
  options.bos_token = t.tokenizer->bos_token();
  options.eos_token = t.tokenizer->eos_token();
  options.tools_json = tools_json;
  options.extra_context_json = extra_context_json;
  py::gil_scoped_release release;
  return ChatTemplate::compile(source)->render(messages_json, options);
}

}  // namespace

void bind_tokenizer(py::module_& m) {
  py::class_<PyTokenizer, std::shared_ptr<PyTokenizer>>(
      m, "Tokenizer",
      "Text <-> token ids exactly as Hugging Face `tokenizers` (tokenizer.json) or SentencePiece.")
      .def_static(
          "from_path",
          [](const std::string& path) {
            std::shared_ptr<Tokenizer> tok;
            {
              py::gil_scoped_release release;
              tok = Tokenizer::from_path(path);
            }
            auto t = std::make_shared<PyTokenizer>();
            t->chat_template = tok->chat_template();
            t->tokenizer = std::move(tok);
            return t;
          },
          py::arg("path"),
          "Loads a tokenizer from a .clm package, a Hugging Face folder, a tokenizer.json or a "
          "SentencePiece .model file.")
      .def(
          "encode",
          // A std::string, not a view: a bytearray's buffer could change while the GIL is out.
          [](const PyTokenizer& t, const std::string& text, bool add_special_tokens) {
            py::gil_scoped_release release;
            return t.tokenizer->encode(text, add_special_tokens);
          },
          py::arg("text"), py::arg("add_special_tokens") = true,
          "Token ids of `text`, as `tokenizer(text, add_special_tokens=...)` in transformers.")
      .def(
          "decode",
          [](const PyTokenizer& t, const std::vector<int32_t>& ids, bool skip_special_tokens) {
            py::gil_scoped_release release;
            return t.tokenizer->decode(ids, skip_special_tokens);
          },
          py::arg("ids"), py::arg("skip_special_tokens") = true,
          "Text of `ids`, as transformers' `tokenizer.decode(ids, skip_special_tokens=...)`.")
      .def(
          "convert_ids_to_tokens",
          [](const PyTokenizer& t, const std::vector<int32_t>& ids) {
            std::vector<std::string> tokens;
            tokens.reserve(ids.size());
            for (int32_t id : ids) tokens.push_back(t.tokenizer->id_to_token(id));
            return tokens;
          },
          py::arg("ids"), "The vocabulary's piece for each id ('' for an unknown id).")
      .def(
          "token_to_id",
          [](const PyTokenizer& t, std::string_view token) {
            return t.tokenizer->token_to_id(token);
          },
          py::arg("token"), "The id of a vocabulary piece, or None.")
      .def(
          "is_special",
          [](const PyTokenizer& t, int32_t id) { return t.tokenizer->is_special(id); },
          py::arg("id"))
      .def_property_readonly("vocab_size",
                             [](const PyTokenizer& t) { return t.tokenizer->vocab_size(); })
      .def("__len__", [](const PyTokenizer& t) { return t.tokenizer->vocab_size(); })
      .def_property_readonly(
          "bos_token_id", [](const PyTokenizer& t) { return optional_id(t.tokenizer->bos_id()); })
      .def_property_readonly(
          "eos_token_id", [](const PyTokenizer& t) { return optional_id(t.tokenizer->eos_id()); })
      .def_property_readonly("bos_token",
                             [](const PyTokenizer& t) { return t.tokenizer->bos_token(); })
      .def_property_readonly("eos_token",
                             [](const PyTokenizer& t) { return t.tokenizer->eos_token(); })
      .def_property_readonly("adds_bos",
                             [](const PyTokenizer& t) { return t.tokenizer->adds_bos(); })
      .def_readwrite("chat_template", &PyTokenizer::chat_template,
                     "The Jinja chat template apply_chat_template uses ('' if none).")
      .def("render_chat_template", &render, py::arg("messages_json"),
           py::arg("add_generation_prompt") = false, py::arg("tools_json") = "",
           py::arg("extra_context_json") = "", py::arg("chat_template") = py::none(),
           "Renders a JSON array of messages with the chat template (apply_chat_template is the "
           "friendlier form).");
}

}  // namespace corelm::python
