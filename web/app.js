// corelm chat page: talks to the same server's OpenAI API (POST /v1/chat/completions with
// streaming, GET /v1/models). Conversations live in localStorage; settings too, except the API
// key, which stays in sessionStorage (this tab only). Markdown goes through marked, then
// DOMPurify; without them (not installed when corelm was built) answers are shown as text.
'use strict';

(() => {
  const STORE_KEY = 'corelm.conversations';
  const SETTINGS_KEY = 'corelm.settings';
  const API_KEY_KEY = 'corelm.apiKey';

  const $ = (id) => document.getElementById(id);
  const ui = {
    app: $('app'), conversations: $('conversations'), newChat: $('new-chat'),
    closeSidebar: $('close-sidebar'), main: $('main'),
    toggleSidebar: $('toggle-sidebar'), toggleSettings: $('toggle-settings'),
    settings: $('settings'), system: $('system-prompt'), temperature: $('temperature'),
    maxTokens: $('max-tokens'), apiKey: $('api-key'), model: $('model-name'),
    messages: $('messages'), stats: $('stats'), composer: $('composer'), input: $('input'),
    send: $('send'), stop: $('stop'),
  };

  let conversations = loadJson(localStorage, STORE_KEY, []);
  if (!Array.isArray(conversations)) conversations = [];
  let currentId = conversations.length ? conversations[0].id : null;
  let modelName = '';
  let controller = null;  // the AbortController of the answer being streamed

  // ---- storage ------------------------------------------------------------------------------

  function loadJson(storage, key, fallback) {
    try {
      const text = storage.getItem(key);
      return text === null ? fallback : JSON.parse(text);
    } catch (e) {
      return fallback;
    }
  }

  function saveConversations() {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(conversations));
    } catch (e) {
      showStats('Could not save the conversation: ' + e.message);
    }
  }

  function saveSettings() {
    try {
      localStorage.setItem(SETTINGS_KEY, JSON.stringify({
        temperature: ui.temperature.value, maxTokens: ui.maxTokens.value,
      }));
      sessionStorage.setItem(API_KEY_KEY, ui.apiKey.value);
    } catch (e) { /* storage full or disabled: settings last for this page only */ }
  }

  function loadSettings() {
    const s = loadJson(localStorage, SETTINGS_KEY, {});
    if (s && s.temperature !== undefined) ui.temperature.value = s.temperature;
    if (s && s.maxTokens !== undefined) ui.maxTokens.value = s.maxTokens;
    ui.apiKey.value = sessionStorage.getItem(API_KEY_KEY) || '';
  }

  function current() {
    return conversations.find((c) => c.id === currentId) || null;
  }

  function newConversation() {
    const conv = {
      id: Date.now().toString(36) + Math.random().toString(36).slice(2, 8),
      title: 'New chat', system: ui.system.value, messages: [], updated: Date.now(),
    };
    conversations.unshift(conv);
    currentId = conv.id;
    saveConversations();
    return conv;
  }

  // ---- rendering ----------------------------------------------------------------------------

  const haveMarkdown = () => typeof window.marked === 'object' && typeof window.DOMPurify === 'function';

  function renderBody(el, role, text) {
    if (role === 'assistant' && haveMarkdown()) {
      el.classList.remove('plain');
      // No images (a model's answer must not make the browser fetch anything) and no styles.
      el.innerHTML = window.DOMPurify.sanitize(window.marked.parse(text, { gfm: true, breaks: true }),
        { FORBID_TAGS: ['img', 'style'], FORBID_ATTR: ['style'] });
      for (const a of el.querySelectorAll('a[href]')) {
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
      }
    } else {
      el.classList.add('plain');
      el.textContent = text;
    }
  }

  function messageElement(msg) {
    const el = document.createElement('div');
    el.className = 'message ' + msg.role + (msg.error ? ' error' : '');
    el.dataset.role = msg.role;
    const body = document.createElement('div');
    body.className = 'body';
    renderBody(body, msg.error ? 'error' : msg.role, msg.error || msg.content);
    el.appendChild(body);
    const note = document.createElement('div');
    note.className = 'note';
    note.textContent = msg.note || '';
    el.appendChild(note);
    return el;
  }

  function renderMessages() {
    const conv = current();
    ui.messages.replaceChildren(...(conv ? conv.messages.map(messageElement) : []));
    ui.system.value = conv ? conv.system || '' : ui.system.value;
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function renderList() {
    const items = conversations.map((conv) => {
      const li = document.createElement('li');
      if (conv.id === currentId) li.className = 'current';
      const title = document.createElement('button');
      title.type = 'button';
      title.className = 'title';
      title.textContent = conv.title;
      title.title = conv.title;
      title.addEventListener('click', () => select(conv.id));
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'delete';
      del.textContent = '\u00d7';
      del.setAttribute('aria-label', 'Delete conversation');
      del.addEventListener('click', () => remove(conv.id));
      li.append(title, del);
      return li;
    });
    ui.conversations.replaceChildren(...items);
  }

  function render() {
    renderList();
    renderMessages();
  }

  function showStats(text) {
    ui.stats.textContent = text;
  }

  function setBusy(busy) {
    ui.send.hidden = busy;
    ui.stop.hidden = !busy;
  }

  function select(id) {
    if (controller) return;  // finish or stop the current answer first
    currentId = id;
    ui.app.classList.remove('sidebar-open');
    showStats('');
    render();
  }

  function remove(id) {
    if (controller && id === currentId) return;
    conversations = conversations.filter((c) => c.id !== id);
    if (currentId === id) currentId = conversations.length ? conversations[0].id : null;
    saveConversations();
    render();
  }

  // ---- the API ------------------------------------------------------------------------------

  function headers() {
    const h = { 'Content-Type': 'application/json' };
    const key = ui.apiKey.value.trim();
    if (key) h.Authorization = 'Bearer ' + key;
    return h;
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch (e) { /* not JSON */ }
    return 'HTTP ' + response.status;
  }

  async function loadModel() {
    try {
      const response = await fetch('/v1/models', { headers: headers() });
      if (!response.ok) {
        ui.model.textContent = response.status === 401 ? 'API key needed (settings)' : await errorMessage(response);
        return;
      }
      const body = await response.json();
      modelName = body.data && body.data.length ? String(body.data[0].id) : '';
      ui.model.textContent = modelName || 'corelm';
    } catch (e) {
      ui.model.textContent = 'server not reachable';
    }
  }

  // Reads a server-sent event stream: calls onData with each event's data (its "data:" lines
  // joined by "\n"), in order. Comments (":") and other fields are ignored.
  async function readEvents(stream, onData) {
    const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n')) >= 0) {
        let line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (data.length && onData(data.join('\n')) === false) {
            reader.cancel().catch(() => {});
            return;
          }
          data = [];
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        }
      }
    }
    if (data.length) onData(data.join('\n'));
  }

  function formatStats(s) {
    const parts = [];
    if (s.usage) {
      parts.push(s.usage.completion_tokens + ' tokens generated');
      parts.push(s.usage.prompt_tokens + ' prompt');
      parts.push(s.usage.total_tokens + ' used');
      const seconds = s.first === null ? 0 : (s.last - s.first) / 1000;
      if (seconds > 0) {
        parts.push((s.usage.completion_tokens / seconds).toFixed(1) + ' tokens/s');
      }
    } else if (s.chunks) {
      parts.push(s.chunks + ' chunks received');
    }
    if (s.finish === 'length') parts.push('stopped at max tokens');
    if (s.stopped) parts.push('stopped');
    return parts.join(' \u00b7 ');
  }

  async function send() {
    const text = ui.input.value.trim();
    if (!text || controller) return;
    const conv = current() || newConversation();
    conv.system = ui.system.value;
    if (!conv.messages.length) conv.title = text.length > 40 ? text.slice(0, 40) + '\u2026' : text;
    conv.messages.push({ role: 'user', content: text });
    const answer = { role: 'assistant', content: '' };
    conv.messages.push(answer);
    conv.updated = Date.now();
    conversations = [conv, ...conversations.filter((c) => c !== conv)];
    ui.input.value = '';
    saveConversations();
    render();

    const el = ui.messages.lastElementChild;
    const body = el.querySelector('.body');
    el.classList.add('streaming');
    let pending = false;
    const redraw = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        renderBody(body, 'assistant', answer.content);
        ui.messages.scrollTop = ui.messages.scrollHeight;
      });
    };

    const messages = [];
    if (conv.system.trim()) messages.push({ role: 'system', content: conv.system });
    for (const m of conv.messages.slice(0, -1)) {
      if (!m.error) messages.push({ role: m.role, content: m.content });
    }
    const request = {
      messages, stream: true, stream_options: { include_usage: true },
      temperature: Number(ui.temperature.value),
      max_tokens: Math.max(1, Math.floor(Number(ui.maxTokens.value) || 1)),
    };
    if (modelName) request.model = modelName;

    const stats = { first: null, last: null, chunks: 0, usage: null, finish: null, stopped: false };
    controller = new AbortController();
    setBusy(true);
    showStats('waiting for the first token\u2026');
    try {
      const response = await fetch('/v1/chat/completions', {
        method: 'POST', headers: headers(), body: JSON.stringify(request), signal: controller.signal,
      });
      if (!response.ok) throw new Error(await errorMessage(response));
      await readEvents(response.body, (data) => {
        if (data === '[DONE]') return false;
        const event = JSON.parse(data);
        if (event.error) throw new Error(event.error.message || 'server error');
        if (event.usage) stats.usage = event.usage;
        const choice = event.choices && event.choices[0];
        if (!choice) return true;
        const piece = choice.delta && choice.delta.content;
        if (piece) {
          const now = performance.now();
          if (stats.first === null) stats.first = now;
          stats.last = now;
          stats.chunks += 1;
          answer.content += piece;
          redraw();
          showStats(stats.chunks + ' chunks\u2026');
        }
        if (choice.finish_reason) stats.finish = choice.finish_reason;
        return true;
      });
    } catch (e) {
      if (e.name === 'AbortError') {
        stats.stopped = true;
      } else {
        answer.error = e.message || String(e);
        controller.abort();  // a bad event ends the request
      }
    } finally {
      controller = null;
      setBusy(false);
      answer.note = formatStats(stats);
      conv.updated = Date.now();
      saveConversations();
      el.replaceWith(messageElement(answer));
      ui.messages.scrollTop = ui.messages.scrollHeight;
      showStats(answer.error ? '' : answer.note);
    }
  }

  // ---- events -------------------------------------------------------------------------------

  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  ui.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  ui.stop.addEventListener('click', () => {
    if (controller) controller.abort();
  });
  ui.newChat.addEventListener('click', () => {
    if (controller) return;
    const conv = current();
    if (!conv || conv.messages.length) newConversation();
    ui.app.classList.remove('sidebar-open');
    showStats('');
    render();
    ui.input.focus();
  });
  ui.toggleSidebar.addEventListener('click', (e) => {
    e.stopPropagation();
    ui.app.classList.toggle('sidebar-open');
  });
  ui.closeSidebar.addEventListener('click', () => ui.app.classList.remove('sidebar-open'));
  ui.main.addEventListener('click', () => ui.app.classList.remove('sidebar-open'));
  ui.toggleSettings.addEventListener('click', () => { ui.settings.hidden = !ui.settings.hidden; });
  ui.system.addEventListener('change', () => {
    const conv = current();
    if (conv) {
      conv.system = ui.system.value;
      saveConversations();
    }
  });
  for (const input of [ui.temperature, ui.maxTokens]) input.addEventListener('change', saveSettings);
  ui.apiKey.addEventListener('change', () => {
    saveSettings();
    loadModel();
  });

  loadSettings();
  render();
  loadModel();
})();
