// corelm serve through the official openai npm client (and raw fetch where a client would refuse
// to send the request): chat, streaming, completions, models, errors, the API key, overload and
// a client that goes away mid-stream. Expected answers come from the corelm CLI (`corelm
// generate`, another code path) and from hand-written ChatML; expected errors from issue 11.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer, metrics, waitForMetrics, runCli, sseData, MODEL, DATA } from './harness.mjs';

// stories260K's context length as `corelm inspect` reads it from the GGUF (128): the server's
// default context.
let CONTEXT;
before(async () => {
  CONTEXT = Number(/context:\s+(\d+) trained/.exec(await runCli(['inspect', MODEL]))[1]);
});

// `corelm generate PROMPT MODEL --json` greedy: {prompt_ids, ids, text, stop_reason}.
async function cliGenerate(prompt, maxNewTokens) {
  const out = await runCli(['generate', prompt, MODEL, '--max-new-tokens', String(maxNewTokens), '--json']);
  return JSON.parse(out);
}

// ChatML, written out by hand: what the server's fallback template renders for a model with no
// chat template of its own (stories260K), with the assistant's turn opened.
function chatml(messages) {
  return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') +
    '<|im_start|>assistant\n';
}

async function post(url, path, body, headers = {}) {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

// An OpenAI error object: {"error": {"message", "type", "param", "code"}}.
function assertErrorBody(body, type) {
  assert.equal(typeof body.error, 'object', JSON.stringify(body));
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  assert.equal(body.error.type, type, JSON.stringify(body));
  assert.ok('param' in body.error && 'code' in body.error, JSON.stringify(body));
}

const MAX_BODY = 256 * 1024;

describe('corelm serve --parallel 4 --queue 8 --max-body 262144', () => {
  let server;
  let client;
  let model;

  before(async () => {
    server = await startServer(['--parallel', '4', '--queue', '8', '--max-body', String(MAX_BODY)]);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-needed', maxRetries: 0 });
  });
  after(async () => {
    if (server) assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.stderr);
  });

  test('models lists the one model', async () => {
    const list = [];
    for await (const m of client.models.list()) list.push(m);
    assert.equal(list.length, 1);
    assert.equal(list[0].object, 'model');
    assert.equal(typeof list[0].id, 'string');
    assert.ok(list[0].id.length > 0);
    model = list[0].id;
  });

  test('/health answers {"status": "ok", ...}', async () => {
    const response = await fetch(`${server.url}/health`);
    assert.equal(response.status, 200);
    assert.equal((await response.json()).status, 'ok');
  });

  test('completions: greedy text and usage as corelm generate gives them', async () => {
    const reference = await cliGenerate('Once upon a time', 20);
    const completion = await client.completions.create({
      model, prompt: 'Once upon a time', max_tokens: 20, temperature: 0,
    });
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0].text, reference.text);
    assert.equal(completion.choices[0].finish_reason, 'length');
    assert.equal(completion.usage.prompt_tokens, reference.prompt_ids.length);
    assert.equal(completion.usage.completion_tokens, 20);
    assert.equal(completion.usage.total_tokens, reference.prompt_ids.length + 20);
  });

  test('completions streamed: the pieces join into the same text', async () => {
    const reference = await cliGenerate('The little dog', 16);
    const stream = await client.completions.create({
      model, prompt: 'The little dog', max_tokens: 16, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish = null;
    let usage = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        text += choice.text;
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
    assert.equal(text, reference.text);
    assert.equal(finish, 'length');
    assert.ok(chunks > 2, `${chunks} chunks`);
    assert.deepEqual(usage && [usage.prompt_tokens, usage.completion_tokens],
      [reference.prompt_ids.length, 16]);
  });

  const conversation = [
    { role: 'system', content: 'You tell short stories.' },
    { role: 'user', content: 'Tell me about a cat.' },
  ];

  test('chat: the answer is greedy generation after the ChatML prompt', async () => {
    const reference = await cliGenerate(chatml(conversation), 24);
    const completion = await client.chat.completions.create({
      model, messages: conversation, max_tokens: 24, temperature: 0,
    });
    assert.equal(completion.object, 'chat.completion');
    assert.match(completion.id, /^chatcmpl-/);
    const choice = completion.choices[0];
    assert.equal(choice.message.role, 'assistant');
    assert.ok(['stop', 'length'].includes(choice.finish_reason), choice.finish_reason);
    if (choice.finish_reason === 'length') {
      assert.equal(choice.message.content, reference.text);
      assert.equal(completion.usage.completion_tokens, 24);
    } else {
      assert.ok(reference.text.startsWith(choice.message.content), choice.message.content);
    }
    assert.equal(completion.usage.prompt_tokens, reference.prompt_ids.length);
    assert.equal(completion.usage.total_tokens,
      completion.usage.prompt_tokens + completion.usage.completion_tokens);
  });

  test('chat streamed with usage: same answer, role first, usage last, then [DONE]', async () => {
    const whole = await client.chat.completions.create({
      model, messages: conversation, max_tokens: 24, temperature: 0,
    });
    const stream = await client.chat.completions.create({
      model, messages: conversation, max_tokens: 24, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.id, chunks[0].id);
    }
    const content = chunks.flatMap((c) => c.choices).map((c) => c.delta.content || '').join('');
    assert.equal(content, whole.choices[0].message.content);
    const finishes = chunks.flatMap((c) => c.choices).map((c) => c.finish_reason).filter((f) => f);
    assert.deepEqual(finishes, [whole.choices[0].finish_reason]);
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, whole.usage);

    // On the wire: "data: {json}" events ending with "data: [DONE]".
    const raw = await post(server.url, '/v1/chat/completions', {
      model, messages: conversation, max_tokens: 4, temperature: 0, stream: true,
    });
    assert.equal(raw.status, 200);
    assert.match(raw.headers.get('content-type'), /^text\/event-stream/);
    const events = sseData(await raw.text());
    assert.equal(events[events.length - 1], '[DONE]');
    for (const e of events.slice(0, -1)) assert.equal(JSON.parse(e).object, 'chat.completion.chunk');
  });

  test('content given as a list of text parts is the same message', async () => {
    const ask = (content) => client.chat.completions.create({
      model, messages: [conversation[0], { role: 'user', content }], max_tokens: 8, temperature: 0,
    });
    // One part; and two parts, which the server joins with a blank line (openai_api.cpp, as
    // Mistral's templates join text chunks).
    const [one, plain, two, joined] = await Promise.all([
      ask([{ type: 'text', text: 'Tell me about a cat.' }]), ask('Tell me about a cat.'),
      ask([{ type: 'text', text: 'Tell me' }, { type: 'text', text: 'about a cat.' }]),
      ask('Tell me\n\nabout a cat.')]);
    assert.equal(one.choices[0].message.content, plain.choices[0].message.content);
    assert.equal(one.usage.prompt_tokens, plain.usage.prompt_tokens);
    assert.equal(two.choices[0].message.content, joined.choices[0].message.content);
    assert.equal(two.usage.prompt_tokens, joined.usage.prompt_tokens);
  });

  test('an unknown model is a 404 model_not_found', async () => {
    await assert.rejects(client.chat.completions.create({
      model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2,
    }), (e) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.equal(e.status, 404);
      assert.equal(e.code, 'model_not_found');
      assert.equal(e.error.type, 'invalid_request_error');
      return true;
    });
  });

  test('a huge max_tokens is capped by the context, never an error', async () => {
    const completion = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 10_000_000,
      temperature: 0, ignore_eos: true,
    });
    assert.ok(['length', 'stop'].includes(completion.choices[0].finish_reason));
    assert.ok(completion.usage.total_tokens <= CONTEXT, JSON.stringify(completion.usage));
    assert.ok(completion.usage.completion_tokens > 0);
  });

  test('malformed JSON is a 400 with an OpenAI error object', async () => {
    for (const body of ['{"messages": [', 'not json', '', '[]', '{"messages": "hi"}']) {
      const response = await post(server.url, '/v1/chat/completions', body);
      assert.equal(response.status, 400, body);
      assertErrorBody(await response.json(), 'invalid_request_error');
    }
  });

  test('wrong types are a 400 that names the field', async () => {
    const cases = [
      [{ messages: [{ role: 'user', content: 5 }] }, /messages/],
      [{ messages: [{ role: 'user', content: 'hi' }], temperature: 'hot' }, /temperature/],
      [{ messages: [{ role: 'user', content: 'hi' }], max_tokens: -3 }, /max_tokens/],
    ];
    for (const [request, param] of cases) {
      await assert.rejects(
        client.chat.completions.create({ model, ...request }),
        (e) => {
          assert.ok(e instanceof OpenAI.BadRequestError, String(e));
          assert.equal(e.status, 400);
          assert.equal(e.error.type, 'invalid_request_error');
          assert.match(String(e.error.param), param);
          return true;
        });
    }
  });

  test('a prompt that does not fit the context is a 400 that gives both numbers', async () => {
    const prompt = 'The cat sat on the mat. '.repeat(40);
    const { ids } = JSON.parse(await runCli(['tokenize', MODEL, prompt, '--json']));
    assert.ok(ids.length > CONTEXT);
    const response = await post(server.url, '/v1/completions', { model, prompt, max_tokens: 8 });
    assert.equal(response.status, 400);
    const body = await response.json();
    assertErrorBody(body, 'invalid_request_error');
    assert.match(body.error.message, new RegExp(`\\b${CONTEXT}\\b`), body.error.message);
    assert.match(body.error.message, new RegExp(`\\b${ids.length}\\b`), body.error.message);
  });

  test('an unknown path is a 404 in OpenAI\'s shape', async () => {
    const response = await post(server.url, '/v1/no-such-endpoint', {});
    assert.equal(response.status, 404);
    assertErrorBody(await response.json(), 'invalid_request_error');
  });

  test('a body over --max-body is a 413; one of exactly that size is not', async () => {
    // A small request padded with JSON whitespace to n bytes.
    const body = (n) => {
      const text = JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
      return text + ' '.repeat(n - text.length);
    };
    const atLimit = await post(server.url, '/v1/chat/completions', body(MAX_BODY));
    assert.equal(atLimit.status, 200);
    const over = await post(server.url, '/v1/chat/completions', body(MAX_BODY + 1));
    assert.equal(over.status, 413);
    const error = await over.json();
    assertErrorBody(error, 'invalid_request_error');
    assert.match(error.error.message, new RegExp(`\\b${MAX_BODY}\\b`));
    const huge = await post(server.url, '/v1/chat/completions', body(4 * MAX_BODY));
    assert.equal(huge.status, 413);
  });

  test('50 rapid requests over 4 slots: each answered or 503, and the server lives on', async (t) => {
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      post(server.url, '/v1/chat/completions', {
        model, messages: [{ role: 'user', content: `Story number ${i}` }], max_tokens: 32,
      })));
    const statuses = responses.map((r) => r.status);
    let answered = 0;
    for (const response of responses) {
      const body = await response.json();
      if (response.status === 200) {
        answered += 1;
        assert.equal(body.object, 'chat.completion');
      } else {
        assert.equal(response.status, 503, JSON.stringify(statuses));
        assert.ok(response.headers.get('retry-after'), 'Retry-After on a 503');
        assertErrorBody(body, 'server_error');
      }
    }
    assert.ok(answered >= 4, JSON.stringify(statuses));
    t.diagnostic(`50 rapid requests: ${answered} answered, ${50 - answered} 503`);
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    const m = await waitForMetrics(server.url, (v) => v.corelm_slots_busy === 0);
    assert.equal(m.corelm_slots_total, 4);
    assert.equal(m.corelm_slots_busy, 0);
  });

  test('/metrics has the counters and gauges issue 11 lists', async () => {
    const m = await metrics(server.url);
    for (const name of ['corelm_requests_total', 'corelm_prompt_tokens_total',
      'corelm_generated_tokens_total', 'corelm_queue_depth', 'corelm_slots_busy',
      'corelm_slots_total']) {
      assert.equal(typeof m[name], 'number', name);
      assert.ok(Number.isFinite(m[name]), name);
    }
    assert.ok(m.corelm_generated_tokens_total > 0);
    assert.equal(m.corelm_queue_depth, 0);
  });
});

describe('corelm serve --api-key', () => {
  test('/v1 needs the Bearer key: 401 without, 200 with; /health stays open', async () => {
    const server = await startServer(['--api-key', 'sesame']);
    try {
      const wrong = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
      await assert.rejects(wrong.models.list(), (e) => {
        assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
        assert.equal(e.status, 401);
        return true;
      });
      const none = await post(server.url, '/v1/chat/completions',
        { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
      assert.equal(none.status, 401);
      assertErrorBody(await none.json(), 'authentication_error');

      const right = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'sesame', maxRetries: 0 });
      const completion = await right.chat.completions.create({
        model: 'stories260K', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2,
      });
      assert.equal(completion.object, 'chat.completion');
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
    } finally {
      assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.stderr);
    }
  });

  test('CORELM_API_KEY sets the key too', async () => {
    const server = await startServer([], { env: { CORELM_API_KEY: 'from-env' } });
    try {
      assert.equal((await fetch(`${server.url}/v1/models`)).status, 401);
      const ok = await fetch(`${server.url}/v1/models`, { headers: { Authorization: 'Bearer from-env' } });
      assert.equal(ok.status, 200);
    } finally {
      assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.stderr);
    }
  });
});

// A context far beyond what stories260K was trained for (128), so that an answer runs for
// seconds rather than milliseconds and a client can leave in the middle of it.
describe('corelm serve --max-context 16384', () => {
  test('a client that aborts mid-stream is cancelled and frees its slot', async (t) => {
    const server = await startServer(['--parallel', '2', '--max-context', '16384']);
    try {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const before = await metrics(server.url);
      const controller = new AbortController();
      const stream = await client.chat.completions.create({
        model: 'stories260K', messages: [{ role: 'user', content: 'Once upon a time' }],
        max_tokens: 16000, stream: true, ignore_eos: true,
      }, { signal: controller.signal });
      // Two pieces of the answer, then the client goes (openai's Stream ends quietly on abort).
      let pieces = 0;
      for await (const chunk of stream) {
        assert.equal(chunk.choices[0].finish_reason, null);
        if (chunk.choices[0].delta.content) pieces += 1;
        if (pieces === 2) {
          controller.abort();
          break;
        }
      }
      assert.equal(pieces, 2);
      const busy = await metrics(server.url);
      const after = await waitForMetrics(server.url, (v) => v.corelm_slots_busy === 0, 3000);
      assert.equal(after.corelm_slots_busy, 0);
      const generated = after.corelm_generated_tokens_total - before.corelm_generated_tokens_total;
      assert.ok(generated < 16000, `${generated} tokens generated: not cancelled`);
      t.diagnostic(`aborted after 2 pieces: slots busy right after ${busy.corelm_slots_busy}, ` +
        `${generated} tokens generated in all`);
    } finally {
      assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.stderr);
    }
  });
});

// Mistral's v3 template (from the shared data) in place of the ChatML fallback: what the server
// gives the model is compared with Python Jinja2's renders (generated_renders.json from the
// shared data; fixtures/mistral_v3_tool_round_trip.json, made by the script beside it).
describe('corelm serve --chat-template v3_spm.jinja (tools)', () => {
  const templates = path.join(DATA, 'mistral-chat-templates');
  let server;
  let client;
  before(async () => {
    server = await startServer(['--chat-template', path.join(templates, 'v3_spm.jinja'),
      '--max-context', '1024']);  // the tool round trip is ~370 stories260K tokens
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    if (server) assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.stderr);
  });

  const applyTemplate = async (body) => {
    const response = await post(server.url, '/apply-template', body);
    assert.equal(response.status, 200);
    return (await response.json()).prompt;
  };

  test('conversations render as Python Jinja2 renders them', async () => {
    const reference = JSON.parse(fs.readFileSync(path.join(templates, 'generated_renders.json'), 'utf8'));
    const renders = reference.renders.filter((r) => r.template === 'v3_spm.jinja' &&
      r.add_generation_prompt && r.conversation !== 'bad_order');
    assert.ok(renders.length >= 3);
    for (const r of renders) {
      assert.equal(await applyTemplate({ messages: reference.conversations[r.conversation] }),
        r.rendered, r.conversation);
    }
  });

  test('a tool round trip renders as Python Jinja2 renders it, and the client gets an answer',
    async () => {
      const fixture = JSON.parse(fs.readFileSync(
        new URL('./fixtures/mistral_v3_tool_round_trip.json', import.meta.url), 'utf8'));
      assert.equal(await applyTemplate({ messages: fixture.messages, tools: fixture.tools }),
        fixture.rendered);

      const ask = (extra) => client.chat.completions.create({
        model: 'stories260K', messages: fixture.messages, tools: fixture.tools, max_tokens: 8,
        temperature: 0, ...extra,
      });
      const withTools = await ask({});
      assert.ok(['stop', 'length'].includes(withTools.choices[0].finish_reason));
      assert.equal(withTools.choices[0].message.role, 'assistant');
      // tool_choice "none": the tools are not rendered, so the prompt is shorter.
      const without = await ask({ tool_choice: 'none' });
      assert.ok(without.usage.prompt_tokens < withTools.usage.prompt_tokens,
        `${without.usage.prompt_tokens} vs ${withTools.usage.prompt_tokens}`);
    });
});
