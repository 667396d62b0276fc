// The dashboard's JavaScript without a browser (suite unit; Node.js, which
// ./dev installs for the javascript profile): every file parses, and the
// Server-Sent Events reader of api.js (fetch + ReadableStream) gets the
// events right whatever the chunk boundaries (mid-line, mid-CRLF, mid-UTF-8
// character), sends the key only in the Authorization header, resumes with
// Last-Event-ID after a drop, and stops on a refusal instead of retrying.
// The browser test (e2e-dashboard) drives the same code against the server.
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const dir = process.argv[2];
for (const f of ['api.js', 'views.js', 'dash.js']) {
  new vm.Script(fs.readFileSync(path.join(dir, f), 'utf8'), { filename: f }); // throws on a syntax error
}

// api.js in a context of its own: sessionStorage and fetch are the test's.
function load(fetchImpl) {
  const store = new Map();
  const ctx = {
    sessionStorage: {
      getItem: (k) => (store.has(k) ? store.get(k) : null),
      setItem: (k, v) => store.set(k, String(v)),
      removeItem: (k) => store.delete(k),
    },
    fetch: fetchImpl, TextDecoder, AbortController, setTimeout, Promise, JSON, Object, Number, String,
  };
  vm.createContext(ctx);
  vm.runInContext(fs.readFileSync(path.join(dir, 'api.js'), 'utf8') + '\nthis.Api = Api;', ctx);
  return ctx.Api;
}

// A streaming answer made of these byte chunks.
function answer(chunks, status = 200) {
  const body = new ReadableStream({
    start(c) { for (const ch of chunks) c.enqueue(ch); c.close(); },
  });
  return new Response(body, { status, headers: { 'Content-Type': 'text/event-stream' } });
}

const STREAM =
  ': ping\r\n\r\n' +
  'event: job\r\ndata: {"job_id":"j-1","state":"queued"}\r\n\r\n' +
  'id: 7\ndata: {"job_id":"j-1",\ndata: "state":"leased","message":"caf\u00e9 \u2713"}\n\n' +
  'retry: 5\rid: 8\rdata: {"job_id":"j-1","state":"completed","verdict":"AC"}\r\r' +
  'data: not json\n\n';
const WANT = [
  ['job', { job_id: 'j-1', state: 'queued' }],
  ['message', { job_id: 'j-1', state: 'leased', message: 'caf\u00e9 \u2713' }],
  ['message', { job_id: 'j-1', state: 'completed', verdict: 'AC' }],
];

async function splitsEverywhere() {
  const bytes = Buffer.from(STREAM, 'utf8');
  for (let cut = 1; cut < bytes.length; cut++) {
    const got = [];
    const Api = load(async () => answer([bytes.subarray(0, cut), bytes.subarray(cut)]));
    const s = new Api.EventStream('/e', { once: true, onEvent: (t, d) => got.push([t, d]) });
    await new Promise((resolve) => { s.opts.onEnd = resolve; s.start(); });
    assert.deepStrictEqual(JSON.parse(JSON.stringify(got)), WANT, `cut at byte ${cut}`);
    assert.strictEqual(s.lastId, '8', `cut at byte ${cut}: lastId`);
    assert.strictEqual(s.retryMs, 5);
  }
  // one byte per chunk
  const got = [];
  const Api = load(async () => answer(Array.from(bytes, (b) => Uint8Array.of(b))));
  const s = new Api.EventStream('/e', { once: true, onEvent: (t, d) => got.push([t, d]) });
  await new Promise((resolve) => { s.opts.onEnd = resolve; s.start(); });
  assert.deepStrictEqual(JSON.parse(JSON.stringify(got)), WANT, 'byte by byte');
  console.log(`ok: the SSE reader parses the same events at all ${bytes.length - 1} cuts and byte by byte`);
}

async function resumesWithLastEventId() {
  const calls = [];
  const Api = load(async (url, init) => {
    calls.push({ url, headers: Object.assign({}, init.headers) });
    if (calls.length === 1) return answer([Buffer.from('retry: 1\nid: 41\ndata: {"n":1}\n\n')]);
    if (calls.length === 2) return answer([Buffer.from('id: 42\ndata: {"n":2}\n\n')]);
    return new Response('{"error":{"code":"forbidden","message":"no"}}', { status: 403 });
  });
  Api.setKey('dpk_test_secret');
  const got = [];
  const statuses = [];
  await new Promise((resolve) => {
    new Api.EventStream('/api/v1/events', {
      onEvent: (t, d) => got.push(d.n),
      onStatus: (st, r) => { statuses.push(st); if (st === 'refused') { assert.strictEqual(r.status, 403); resolve(); } },
    }).start();
  });
  assert.deepStrictEqual(got, [1, 2]);
  assert.strictEqual(calls.length, 3, 'a refusal is not retried');
  for (const c of calls) {
    assert.strictEqual(c.url, '/api/v1/events', 'the key never goes in the URL');
    assert.strictEqual(c.headers.Authorization, 'Bearer dpk_test_secret');
  }
  assert.strictEqual(calls[0].headers['Last-Event-ID'], undefined);
  assert.strictEqual(calls[1].headers['Last-Event-ID'], '41');
  assert.strictEqual(calls[2].headers['Last-Event-ID'], '42');
  assert.deepStrictEqual(statuses, ['open', 'retrying', 'open', 'retrying', 'refused']);
  await new Promise((r) => setTimeout(r, 50));
  assert.strictEqual(calls.length, 3, 'nothing after the refusal');
  console.log('ok: reconnects with Last-Event-ID 41, then 42; the key only in Authorization; a 403 stops it');
}

(async () => {
  await splitsEverywhere();
  await resumesWithLastEventId();
  console.log('dashboard JavaScript: ok');
})().catch((e) => { console.error('FAIL:', e && e.stack ? e.stack : e); process.exit(1); });
