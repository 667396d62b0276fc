// The dashboard's talk with the HTTP API (docs/api.md): the key, JSON calls,
// and Server-Sent Events read with fetch() so that the key travels in the
// Authorization header (EventSource cannot send headers, and a key in a URL
// ends up in logs and history).
'use strict';

const Api = (() => {
  const KEY = 'dispatch.apiKey';
  let onUnauthorized = () => {};

  // The key lives in this tab's sessionStorage only: never localStorage,
  // never a cookie, never a URL.
  const key = () => sessionStorage.getItem(KEY) || '';
  const setKey = (k) => sessionStorage.setItem(KEY, k);
  const forgetKey = () => sessionStorage.removeItem(KEY);

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (key()) h['Authorization'] = 'Bearer ' + key();
    return h;
  }

  // One call: resolves to {status, ok, data (parsed JSON or null), text};
  // rejects only when the server cannot be reached.
  async function call(method, path, body) {
    const init = { method, headers: headers(), cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let data = null;
    if ((res.headers.get('Content-Type') || '').startsWith('application/json')) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (res.status === 401) onUnauthorized(errorText({ status: res.status, data, text }));
    return { status: res.status, ok: res.ok, data, text };
  }

  // The message of an API error answer ({"error":{"code","message"}}).
  function errorText(r) {
    const e = r.data && r.data.error;
    if (e && typeof e.message === 'string') return `${r.status} ${e.code || ''}: ${e.message}`;
    return `${r.status}: ${String(r.text || '').slice(0, 200)}`;
  }

  // A Server-Sent Events stream read with fetch + a ReadableStream parser
  // (the text/event-stream format of the HTML standard: id, event, data,
  // retry; comment lines ignored). Reconnects with Last-Event-ID after a
  // drop; a stream the server ends (a job's, after its terminal state) calls
  // opts.onEnd instead when opts.once. opts.onStatus(s) hears 'open',
  // 'retrying' and 'refused' (with the answer: 403 / 404 are not retried).
  class EventStream {
    constructor(path, opts) {
      this.path = path;
      this.opts = opts;
      this.lastId = '';
      this.retryMs = 1000;
      this.stopped = false;
      this.abort = null;
    }

    start() { this.loop(); return this; }

    stop() {
      this.stopped = true;
      if (this.abort) this.abort.abort();
    }

    status(s, r) { if (this.opts.onStatus) this.opts.onStatus(s, r); }

    async loop() {
      while (!this.stopped) {
        let ended = false;
        try {
          ended = await this.once();
        } catch (e) {
          if (this.stopped) return;
        }
        if (this.stopped) return;
        if (ended && this.opts.once) {
          if (this.opts.onEnd) this.opts.onEnd();
          return;
        }
        this.status('retrying');
        await new Promise((ok) => setTimeout(ok, this.retryMs));
      }
    }

    // One connection; true when the server ended the stream, false when
    // the answer was an error worth retrying. Refusals stop the loop.
    async once() {
      this.abort = new AbortController();
      const h = headers({ Accept: 'text/event-stream' });
      if (this.lastId) h['Last-Event-ID'] = this.lastId;
      const res = await fetch(this.path, {
        headers: h, cache: 'no-store', credentials: 'omit', signal: this.abort.signal,
      });
      if (!res.ok || !res.body) {
        const text = await res.text();
        let data = null;
        try { data = JSON.parse(text); } catch (e) { data = null; }
        if (res.status === 401) onUnauthorized(errorText({ status: res.status, data, text }));
        if (res.status >= 400 && res.status < 500) {
          this.stopped = true;
          this.status('refused', { status: res.status, data, text });
        }
        return false;
      }
      this.status('open');
      const reader = res.body.getReader();
      const decoder = new TextDecoder('utf-8');
      let buf = '';
      let ev = { id: null, type: '', data: [] };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        // whole lines only; a lone \r at the end may be half of \r\n
        let m;
        while ((m = /\r\n|\n|\r(?!$)/.exec(buf)) !== null) {
          const line = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          ev = this.line(line, ev);
        }
      }
      return true;
    }

    // Feeds one line; returns the event being built.
    line(line, ev) {
      if (line === '') {
        if (ev.id !== null) this.lastId = ev.id;
        if (ev.data.length > 0) {
          let parsed = null;
          try { parsed = JSON.parse(ev.data.join('\n')); } catch (e) { parsed = null; }
          if (parsed !== null) this.opts.onEvent(ev.type || 'message', parsed);
        }
        return { id: null, type: '', data: [] };
      }
      if (line[0] === ':') return ev; // a comment (": ping")
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') ev.data.push(value);
      else if (field === 'event') ev.type = value;
      else if (field === 'id' && value.indexOf('\0') < 0) ev.id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
      return ev;
    }
  }

  return {
    key, setKey, forgetKey, call, errorText, EventStream,
    set onUnauthorized(fn) { onUnauthorized = fn; },
  };
})();
