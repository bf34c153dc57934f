// Starts `corelm serve` for the Node tests: the binary from $CORELM_CLI, the model from
// $CORELM_TEST_DATA (stories260K GGUF unless a test names another), on a free port (--port 0),
// ready once it prints "listening on http://HOST:PORT" on stderr. stop() sends SIGTERM and
// returns the exit status, which the tests expect to be 0.
import { spawn } from 'node:child_process';
import path from 'node:path';

export const CLI = process.env.CORELM_CLI;
// As the C++ tests: $CORELM_TEST_DATA, else the default ctest passes (../shared/data).
export const DATA = process.env.CORELM_TEST_DATA || process.env.CORELM_DEFAULT_TEST_DATA;
if (!CLI || !DATA) {
  throw new Error('set CORELM_CLI (the corelm binary) and CORELM_TEST_DATA (the shared data folder)');
}
export const MODEL = path.join(DATA, 'tiny-models/stories260K-gguf/stories260K.gguf');

const STARTUP_MS = 60_000;
const SHUTDOWN_MS = 20_000;

export async function startServer(args = [], { model = MODEL, env = {} } = {}) {
  const proc = spawn(CLI, ['serve', model, '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  proc.stdout.setEncoding('utf8').on('data', (s) => { stdout += s; });
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`corelm serve did not start within ${STARTUP_MS} ms:\n${stderr}`));
    }, STARTUP_MS);
    proc.stderr.setEncoding('utf8').on('data', (s) => {
      stderr += s;
      const m = /listening on (http:\/\/\S+?):(\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(`${m[1]}:${m[2]}`);
      }
    });
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`corelm serve exited (${code ?? signal}) before listening:\n${stderr}`));
    });
  });

  let stopping = null;
  return {
    url,
    proc,
    get stderr() { return stderr; },
    get stdout() { return stdout; },
    exited,
    // SIGTERM, then the exit status ({code, signal}); SIGKILL after SHUTDOWN_MS.
    stop() {
      if (!stopping) {
        stopping = (async () => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          let timer;
          const late = new Promise((resolve) => {
            timer = setTimeout(() => {
              proc.kill('SIGKILL');
              resolve({ code: null, signal: 'SIGKILL (no exit within the grace period)' });
            }, SHUTDOWN_MS);
          });
          const result = await Promise.race([exited, late]);
          clearTimeout(timer);
          return result;
        })();
      }
      return stopping;
    },
  };
}

// The Prometheus text of GET /metrics as {name: value}: a metric with labels both under its
// full name ('corelm_requests_total{endpoint="/health",status="200"}') and summed under its name.
export async function metrics(url, headers = {}) {
  const response = await fetch(`${url}/metrics`, { headers });
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status}`);
  const values = {};
  for (const line of (await response.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (m[2]) {
      values[m[1] + m[2]] = value;
      values[m[1]] = (values[m[1]] || 0) + value;
    } else {
      values[m[1]] = value;
    }
  }
  return values;
}

// Polls until predicate(metrics) holds; returns the last metrics (the caller asserts).
export async function waitForMetrics(url, predicate, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await metrics(url);
    if (predicate(last) || Date.now() > end) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The events of a server-sent event stream body (text): each "data:" payload, in order.
export function sseData(text) {
  return text
    .split(/\r?\n\r?\n/)
    .filter((block) => block.trim() !== '')
    .map((block) => block.split(/\r?\n/).filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5)).join('\n'));
}

// Runs the corelm CLI (not the server) and returns stdout: an outside reference for answers.
export async function runCli(args) {
  const proc = spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (s) => { out += s; });
  proc.stderr.setEncoding('utf8').on('data', (s) => { err += s; });
  const code = await new Promise((resolve) => proc.on('exit', resolve));
  if (code !== 0) throw new Error(`corelm ${args.join(' ')}: exit ${code}\n${err}`);
  return out;
}
