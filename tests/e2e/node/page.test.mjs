// The web chat page at / in a real browser: playwright-core driving Debian's chromium headless
// against `corelm serve` (stories260K). The network is slowed down through the DevTools protocol
// where a test must see an answer while it is still streaming: the tiny model writes a whole
// answer in well under a second.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer, waitForMetrics } from './harness.mjs';

const CHROMIUM = process.env.CORELM_CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.CORELM_SCREENSHOT_DIR || path.join(os.tmpdir(), 'corelm-page-test');

let server;
let browser;
let modelId;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer(['--parallel', '2']);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const models = await (await fetch(`${server.url}/v1/models`)).json();
  modelId = models.data[0].id;
});

after(async () => {
  if (browser) await browser.close();
  if (server) assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.stderr);
});

// A fresh browser context (empty localStorage) with the page open and the model name loaded.
async function openPage(options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => document.getElementById('model-name').textContent !== '\u2026');
  return { context, page, errors };
}

// Slows the page's network to `bytesPerSecond` (Chromium's own throttling, via DevTools);
// returns a function that lifts the limit.
async function throttle(page, bytesPerSecond) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const set = (rate) => cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput: rate, uploadThroughput: -1,
  });
  await set(bytesPerSecond);
  return () => set(-1);
}

async function setMaxTokens(page, n) {
  await page.click('#toggle-settings');
  await page.fill('#max-tokens', String(n));
  await page.fill('#temperature', '0');
  await page.click('#toggle-settings');
}

const answerText = (page) => page.locator('.message.assistant .body').last().textContent();

test('the page is served with its libraries and shows the model name', async () => {
  for (const [file, type] of [['/', 'text/html'], ['/app.js', 'text/javascript'],
    ['/style.css', 'text/css'], ['/marked.min.js', 'text/javascript'],
    ['/purify.min.js', 'text/javascript']]) {
    const response = await fetch(`${server.url}${file}`);
    assert.equal(response.status, 200, file);
    assert.match(response.headers.get('content-type'), new RegExp(`^${type}; charset=utf-8`), file);
  }
  const { context, page, errors } = await openPage();
  assert.equal(await page.textContent('#model-name'), modelId);
  assert.equal(await page.evaluate(() => typeof window.marked.parse), 'function');
  assert.equal(await page.evaluate(() => typeof window.DOMPurify.sanitize), 'function');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a message gets an answer that streams in, with tokens/s and tokens used', async () => {
  const { context, page, errors } = await openPage();
  await setMaxTokens(page, 40);
  await throttle(page, 2000);
  await page.fill('#input', 'Tell me a story about a cat.');
  await page.press('#input', 'Enter');
  // Part of the answer is on the page while the request is still open (the stop button shows).
  await page.waitForFunction(() => {
    const bodies = document.querySelectorAll('.message.assistant .body');
    const last = bodies[bodies.length - 1];
    return last && last.textContent.trim().length > 0 && !document.getElementById('stop').hidden;
  }, null, { timeout: 20000 });
  const partial = await answerText(page);
  await page.waitForSelector('#stop', { state: 'hidden', timeout: 60000 });
  const full = await answerText(page);
  assert.ok(full.startsWith(partial.trim().slice(0, 5)), `${partial} / ${full}`);
  assert.ok(full.length > partial.length, `streamed: "${partial}" then "${full}"`);

  const stats = await page.textContent('#stats');
  const m = /(\d+) tokens generated \u00b7 (\d+) prompt \u00b7 (\d+) used \u00b7 ([\d.]+) tokens\/s/.exec(stats);
  assert.ok(m, stats);
  const [generated, prompt, used] = [Number(m[1]), Number(m[2]), Number(m[3])];
  assert.ok(generated >= 1 && generated <= 40, stats);
  assert.ok(prompt > 0, stats);
  assert.equal(used, generated + prompt, stats);
  assert.ok(Number(m[4]) > 0, stats);
  assert.equal(await page.locator('.message.user .body').textContent(), 'Tell me a story about a cat.');
  assert.deepEqual(errors, []);
  await context.close();
});

test('stop ends a long answer, and the conversation is kept across reloads', async () => {
  const { context, page, errors } = await openPage();
  await setMaxTokens(page, 100000);  // the server caps it by the context
  const unthrottle = await throttle(page, 1500);
  await page.fill('#input', 'Once upon a time');
  await page.click('#send');
  await page.waitForFunction(() => {
    const bodies = document.querySelectorAll('.message.assistant .body');
    return bodies.length && bodies[bodies.length - 1].textContent.trim().length > 0;
  }, null, { timeout: 20000 });
  assert.equal(await page.isVisible('#stop'), true);
  await page.click('#stop');
  await page.waitForSelector('#send', { state: 'visible', timeout: 5000 });
  assert.equal(await page.isVisible('#stop'), false);
  const stopped = await answerText(page);
  assert.match(await page.locator('.message.assistant .note').last().textContent(), /stopped/);
  await page.waitForTimeout(1000);
  assert.equal(await answerText(page), stopped, 'the answer does not grow after stop');
  const m = await waitForMetrics(server.url, (v) => v.corelm_slots_busy === 0);
  assert.equal(m.corelm_slots_busy, 0, 'the slot is free again');

  await unthrottle();
  // Reloaded, the conversation (titled by its first message) and its messages come back.
  await page.reload();
  await page.waitForSelector('#conversations li');
  assert.deepEqual(await page.locator('#conversations .title').allTextContents(), ['Once upon a time']);
  assert.equal(await page.locator('.message.user .body').textContent(), 'Once upon a time');
  assert.equal((await answerText(page)).trim(), stopped.trim());

  // New chat, then delete the first conversation.
  await page.click('#new-chat');
  assert.equal(await page.locator('.message').count(), 0);
  assert.equal(await page.locator('#conversations li').count(), 2);
  await page.locator('#conversations li', { hasText: 'Once upon a time' }).locator('.delete').click();
  assert.deepEqual(await page.locator('#conversations .title').allTextContents(), ['New chat']);
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('corelm.conversations')));
  assert.equal(stored.length, 1);
  assert.deepEqual(errors, []);
  await context.close();
});

// A stored conversation whose answer has Markdown, a code block and HTML that must not run.
const markdownConversation = [{
  id: 'md', title: 'Markdown', system: '', updated: 1,
  messages: [
    { role: 'user', content: 'Show <b>code</b> please' },
    {
      role: 'assistant',
      content: 'Here is **bold** text and [a link](https://example.com/).\n\n```js\nconst answer = 42; // a long line that must scroll inside its block, not the page: ' +
        'x'.repeat(200) + '\n```\n\n<img src="x" onerror="window.__xss = 1">' +
        '<script>window.__xss = 2</script>\n\n' + 'averyveryverylongwordwithoutanyspaces'.repeat(8),
    },
  ],
}];

async function openWithConversation(options, { blockPurify = false } = {}) {
  const context = await browser.newContext(options);
  if (blockPurify) await context.route('**/purify.min.js', (route) => route.abort());
  await context.addInitScript((value) => {
    if (!localStorage.getItem('corelm.conversations')) localStorage.setItem('corelm.conversations', value);
  }, JSON.stringify(markdownConversation));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/`);
  await page.waitForSelector('.message.assistant');
  return { context, page, errors };
}

test('Markdown is rendered with code blocks, and HTML in answers does not run', async () => {
  const { context, page, errors } = await openWithConversation();
  const assistant = page.locator('.message.assistant .body');
  assert.equal(await assistant.locator('strong').textContent(), 'bold');
  assert.match(await assistant.locator('pre code').textContent(), /^const answer = 42;/);
  await page.waitForTimeout(300);  // an image error handler would have run by now
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await assistant.locator('script, img, [onerror]').count(), 0);
  const link = assistant.locator('a');
  assert.equal(await link.getAttribute('href'), 'https://example.com/');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
  // The user's own message is text, never HTML.
  assert.equal(await page.locator('.message.user .body').textContent(), 'Show <b>code</b> please');
  assert.equal(await page.locator('.message.user b').count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test('without DOMPurify the answer is shown as escaped text', async () => {
  const { context, page, errors } = await openWithConversation({}, { blockPurify: true });
  const assistant = page.locator('.message.assistant .body');
  assert.equal(await assistant.getAttribute('class'), 'body plain');
  assert.equal(await assistant.locator('*').count(), 0);
  assert.equal(await assistant.textContent(), markdownConversation[0].messages[1].content);
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(errors, []);
  await context.close();
});

test('at phone width (375 px) nothing scrolls sideways and the controls fit', async () => {
  const { context, page, errors } = await openWithConversation({ viewport: { width: 375, height: 740 } });
  const widths = await page.evaluate(() => ({
    document: document.documentElement.scrollWidth, body: document.body.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.equal(widths.client, 375);
  assert.ok(widths.document <= 375 && widths.body <= 375, JSON.stringify(widths));
  for (const selector of ['#send', '#input', '#toggle-settings', '#toggle-sidebar']) {
    const box = await page.locator(selector).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 375, `${selector}: ${JSON.stringify(box)}`);
  }
  // The conversation list is a drawer behind the menu button.
  assert.equal(await page.locator('#new-chat').isVisible() &&
    (await page.locator('#new-chat').boundingBox()).x >= 0, false);
  await page.click('#toggle-sidebar');
  await page.waitForTimeout(300);
  assert.ok((await page.locator('#new-chat').boundingBox()).x >= 0);
  await page.click('#close-sidebar');
  await page.waitForTimeout(300);
  assert.equal((await page.locator('#new-chat').boundingBox()).x < 0, true);
  await page.screenshot({ path: path.join(SHOTS, 'chat-page-375px.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a screenshot of the page at desktop width after a real answer', async () => {
  const { context, page } = await openPage({ viewport: { width: 1100, height: 700 } });
  await setMaxTokens(page, 60);
  await page.fill('#input', 'Once upon a time');
  await page.press('#input', 'Enter');
  await page.waitForSelector('.message.assistant .note:not(:empty)', { timeout: 60000 });
  await page.screenshot({ path: path.join(SHOTS, 'chat-page.png') });
  assert.ok(fs.statSync(path.join(SHOTS, 'chat-page.png')).size > 1000);
  await context.close();
});

test('with --api-key the page asks for the key, then sends it as a Bearer token', async () => {
  const guarded = await startServer(['--api-key', 'sesame']);
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${guarded.url}/`);  // the page itself needs no key
    await page.waitForFunction(() => /API key/.test(document.getElementById('model-name').textContent));
    await page.click('#toggle-settings');
    await page.fill('#api-key', 'sesame');
    await page.dispatchEvent('#api-key', 'change');
    await page.waitForFunction(() => document.getElementById('model-name').textContent === 'stories260K');
    await page.fill('#max-tokens', '8');
    await page.fill('#input', 'Hello');
    await page.click('#send');
    await page.waitForSelector('.message.assistant .note:not(:empty)', { timeout: 60000 });
    assert.equal(await page.locator('.message.error').count(), 0);
    assert.match(await page.textContent('#stats'), /tokens generated/);
  } finally {
    await context.close();
    assert.deepEqual(await guarded.stop(), { code: 0, signal: null }, guarded.stderr);
  }
});
