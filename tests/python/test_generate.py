"""corelm.generate and python/generate.py against the corelm CLI and llama2.c's run.c."""

import json
import os
import subprocess
import sys
import signal
import threading
import time
from pathlib import Path

import pytest

import corelm

PROMPT = "Once upon a time"


def cli_json(cli, package, prompt, *flags):
    out = subprocess.run([cli, "generate", prompt, package, "--json", *flags], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("quant", ["f32", "q4s32"])
def test_streamed_text_equals_the_cli(stories, cli, quant):
    package = stories(quant)
    expected = cli_json(cli, package, PROMPT, "--max-new-tokens", "80", "--max-length", "0")
    model = corelm.Model.load(package)
    stream = corelm.generate(model, PROMPT, max_new_tokens=80, stream=True)
    pieces = list(stream)
    assert len(pieces) > 10
    assert "".join(pieces) == expected["text"]
    assert stream.done and stream.ids == expected["ids"]
    assert stream.prompt_ids == expected["prompt_ids"]
    stats = stream.stats
    assert stats["generated_tokens"] == len(expected["ids"])
    assert stats["stop_reason"] == expected["stop_reason"]
    assert corelm.generate(model, PROMPT, max_new_tokens=80) == expected["text"]


def test_sampling_reproduces_runc_seeded_sample(stories_f32, runc_reference):
    ref = runc_reference["sampled_t1_p09_seed133742"]
    model = corelm.Model.load(stories_f32)
    stream = corelm.generate(model, "", max_new_tokens=256, temperature=1.0, top_p=0.9,
                             seed=133742, kv_cache="f32", stream=True)
    text = "".join(stream)
    assert stream.ids == ref["ids"]
    assert text + "\n" == ref["text"]
    other = corelm.generate(model, "", max_new_tokens=256, temperature=1.0, top_p=0.9,
                            seed=133743, kv_cache="f32")
    assert other != text


def test_stop_strings_and_limits(stories_f32, cli):
    model = corelm.Model.load(stories_f32)
    full = corelm.generate(model, PROMPT, max_new_tokens=60)
    cut = full.index(" Lily")
    stream = corelm.generate(model, PROMPT, max_new_tokens=60, stop=" Lily", stream=True)
    assert "".join(stream) == full[:cut]
    assert stream.stats["stop_reason"] == "stop_string"
    expected = cli_json(cli, stories_f32, PROMPT, "--max-new-tokens", "60", "--max-length", "0",
                        "--stop", " Lily")
    assert full[:cut] == expected["text"]
    stream = corelm.generate(model, PROMPT, max_new_tokens=7, stream=True)
    list(stream)
    assert len(stream.ids) == 7 and stream.stats["stop_reason"] == "length"


def test_chat_applies_the_template_as_the_cli(stories_f32, cli, tmp_path):
    template = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    path = tmp_path / "chat.jinja"
    path.write_text(template)
    expected = cli_json(cli, stories_f32, "Tell a story", "--chat", "--template", str(path),
                        "--system", "You are kind", "--max-new-tokens", "30", "--max-length", "0")
    model = corelm.Model.load(stories_f32)
    model.tokenizer.chat_template = template
    stream = corelm.generate(model, "Tell a story", chat=True, system="You are kind",
                             max_new_tokens=30, stream=True)
    assert "".join(stream) == expected["text"]
    assert stream.prompt_ids == expected["prompt_ids"]
    messages = [{"role": "system", "content": "You are kind"},
                {"role": "user", "content": "Tell a story"}]
    assert model.generate(messages, chat=True, max_new_tokens=30) == expected["text"]


def test_a_longer_prompt_reuses_the_cached_prefix(stories_f32):
    model = corelm.Model.load(stories_f32)
    first = corelm.generate(model, PROMPT, max_new_tokens=10, stream=True)
    text = "".join(first)
    second = corelm.generate(model, PROMPT + text + " Then", max_new_tokens=10, stream=True)
    list(second)
    assert second.stats["reused_tokens"] >= len(first.prompt_ids)


def test_abandoned_and_concurrent_streams(stories_f32):
    model = corelm.Model.load(stories_f32)
    expected = corelm.generate(model, PROMPT, max_new_tokens=40)
    stream = corelm.generate(model, PROMPT, max_new_tokens=400, stream=True)
    next(stream)
    # The first stream holds the model's session: this one runs on its own.
    assert corelm.generate(model, PROMPT, max_new_tokens=40) == expected
    stream.cancel()
    list(stream)  # ends at the next token
    assert stream.stats["stop_reason"] == "callback"
    del stream
    # A stream nobody reads stops generating a few dozen pieces ahead, and dropping it ends it.
    unread = corelm.generate(model, PROMPT, max_new_tokens=None, ignore_eos=True, stream=True)
    next(unread)
    time.sleep(0.5)
    del unread
    results = [None] * 4

    def run(i):
        results[i] = corelm.generate(model, PROMPT, max_new_tokens=40)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


def test_generate_py_prints_what_the_cli_prints(stories_f32, cli):
    script = Path(os.environ["CORELM_BUILD_DIR"]) / "python" / "generate.py"
    for prompt, tokens in [(PROMPT, "100"), ("Lily and Tom", "60")]:
        want = subprocess.run([cli, "generate", prompt, stories_f32, "--max-new-tokens", tokens,
                               "--max-length", "0"], check=True, capture_output=True,
                              text=True).stdout
        got = subprocess.run([sys.executable, str(script), stories_f32, "--prompt", prompt,
                              "--max_new_tokens", tokens], check=True, capture_output=True,
                             text=True).stdout
        assert got == want
    seed_style = subprocess.run([sys.executable, str(script), stories_f32, "--prompt", PROMPT,
                                 "--max_new_tokens", "20", "--print_prompt"], check=True,
                                capture_output=True, text=True).stdout
    assert seed_style.startswith(PROMPT + ",")
    bad = subprocess.run([sys.executable, str(script), "/nonexistent.clm"], capture_output=True,
                         text=True)
    assert bad.returncode == 1 and "error: [package]" in bad.stderr


def test_max_context_applies_to_one_call_only(stories_f32):
    model = corelm.Model.load(stories_f32)
    corelm.generate(model, "Once", max_new_tokens=3, max_context=32)
    long_prompt = "Once upon a time there was a little girl named Lily. " * 4
    stream = corelm.generate(model, long_prompt, max_new_tokens=3, stream=True)
    list(stream)  # the package's 512-token context again
    assert len(stream.prompt_ids) > 32 and stream.stats["stop_reason"] == "length"


def test_a_signal_handler_may_read_a_waiting_generation(stories_f32):
    """Python runs signal handlers inside __next__'s wait: one that looks at the generation must
    not deadlock it, and an exception from the handler stops the generation."""
    model = corelm.Model.load(stories_f32)
    seen = []

    class Interrupt(Exception):
        pass

    stream = corelm.generate(model, PROMPT, max_new_tokens=None, ignore_eos=True, stream=True,
                             max_context=512)

    def handler(signum, frame):
        seen.append((stream.done, stream.stats))
        raise Interrupt()

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
        with pytest.raises(Interrupt):
            for _ in stream:
                time.sleep(0.01)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert seen and seen[0][0] is False
    list(stream)  # cancelled: ends at the next token
    assert stream.stats["stop_reason"] in ("callback", "context")
