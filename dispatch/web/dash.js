// The dashboard: a key prompt, submit, the jobs list (live over SSE), a
// job's page, runners and queue. Views are hash routes (#/submit, #/jobs,
// #/jobs/ID, #/fleet): one page load for the whole session.
'use strict';

(() => {
  const { el, byId, clear, TERMINAL } = Views;
  const SESSION_JOBS = 'dispatch.jobs'; // ids submitted from this tab (for a server without GET /api/v1/jobs)
  // The shipped profiles (pits/): the list when neither /api/v1/profiles
  // nor the runners say which the fleet offers.
  const SHIPPED = ['c', 'cpp17', 'cpp20', 'java', 'go', 'rust', 'javascript', 'python3',
    'python3-unittest', 'bash', 'shell'];
  const STARTERS = {
    c: ['main.c', '#include <stdio.h>\n\nint main(void)\n{\n    long a, b;\n    if (scanf("%ld %ld", &a, &b) != 2)\n        return 1;\n    printf("%ld\\n", a + b);\n    return 0;\n}\n'],
    cpp17: ['main.cpp', '#include <iostream>\n\nint main()\n{\n    long a, b;\n    std::cin >> a >> b;\n    std::cout << a + b << "\\n";\n}\n'],
    cpp20: ['main.cpp', '#include <iostream>\n\nint main()\n{\n    long a, b;\n    std::cin >> a >> b;\n    std::cout << a + b << "\\n";\n}\n'],
    python3: ['main.py', 'a, b = map(int, input().split())\nprint(a + b)\n'],
    javascript: ['main.js', "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n"],
    java: ['Main.java', 'import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        Scanner in = new Scanner(System.in);\n        System.out.println(in.nextLong() + in.nextLong());\n    }\n}\n'],
    go: ['main.go', 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar a, b int64\n\tfmt.Scan(&a, &b)\n\tfmt.Println(a + b)\n}\n'],
    rust: ['main.rs', 'use std::io::Read;\n\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n    let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n    println!("{}", v[0] + v[1]);\n}\n'],
    bash: ['main.sh', 'read -r a b\necho $((a + b))\n'],
    shell: ['test.sh', 'exit 0\n'],
    'python3-unittest': ['test_main.py', 'import unittest\n\n\nclass T(unittest.TestCase):\n    def test_ok(self):\n        self.assertEqual(1 + 1, 2)\n'],
  };

  const state = {
    jobs: new Map(), // job_id -> what is known (job JSON or event fields)
    stream: null, // the global SSE stream
    jobStreams: new Map(), // per-job streams (a key without read scope)
    perJob: false, // the global stream was refused: follow jobs one by one
    next: null, // listing cursor
    files: [], // [{name, text}]
    current: 0,
    pristine: true, // the editor still holds the starter
    fleetTimer: null,
    gen: 0, // bumped when the key goes: late answers for the last key are dropped
  };

  // ---- the key ----

  function askKey(message) {
    state.gen++;
    Api.forgetKey();
    stopStreams();
    // what this key saw is not the next key's to see
    sessionStorage.removeItem(SESSION_JOBS);
    state.jobs.clear();
    clear(byId('jobs-body'));
    state.next = null;
    byId('jobs-more').hidden = true;
    byId('nav').hidden = true;
    byId('forget-key').hidden = true;
    const err = byId('key-error');
    err.hidden = !message;
    err.textContent = message || '';
    route();
  }

  Api.onUnauthorized = (why) => askKey('The key was refused (' + why + '). Enter another.');

  byId('key-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const k = byId('key-input').value.trim();
    if (!/^[\x21-\x7e]+$/.test(k)) { askKey('A key is printable ASCII without spaces.'); return; }
    Api.setKey(k);
    byId('key-input').value = '';
    byId('key-error').hidden = true;
    started();
    if (location.hash === '' || location.hash === '#/key') location.hash = '#/jobs';
    else route();
  });

  byId('forget-key').addEventListener('click', () => askKey(''));

  // ---- live events ----

  function setLive(text, on) {
    const l = byId('live');
    l.textContent = text;
    l.className = 'live ' + (on ? 'on' : 'off');
  }

  function stopStreams() {
    if (state.stream) state.stream.stop();
    state.stream = null;
    for (const s of state.jobStreams.values()) s.stop();
    state.jobStreams.clear();
    state.perJob = false;
    waiting.length = 0;
    setLive('offline', false);
  }

  function onEvent(type, ev) {
    if (type === 'job') { remember(ev); return; } // a job's stream starts with the job
    if (!ev.job_id) return;
    const known = state.jobs.get(ev.job_id);
    const merged = Object.assign({}, known || {}, {
      job_id: ev.job_id, state: ev.state, verdict: ev.verdict || (known && known.verdict) || null,
      message: ev.message !== undefined ? ev.message : known && known.message,
    });
    remember(merged);
    // what an event does not carry (profile, score, times): ask for the job
    if (!known || TERMINAL.has(ev.state)) refreshJob(ev.job_id);
    if (location.hash === Views.jobHref(ev.job_id)) loadJob(ev.job_id);
  }

  function startGlobalStream() {
    state.stream = new Api.EventStream('/api/v1/events', {
      onEvent,
      onStatus: (s, r) => {
        if (s === 'open') setLive('live', true);
        else if (s === 'retrying') setLive('reconnecting…', false);
        else if (s === 'refused' && r.status === 403) {
          // a submit-scope key may not read every job's events: follow its own
          state.perJob = true;
          setLive('live (own jobs)', true);
          for (const j of state.jobs.values()) followJob(j);
        } else setLive('events refused: ' + Api.errorText(r), false);
      },
    }).start();
  }

  // A browser opens at most 6 HTTP/1.1 connections to a server, and each
  // stream holds one: at most 3 job streams at once, the others wait.
  const MAX_JOB_STREAMS = 3;
  const waiting = [];

  function followJob(j) {
    if (!state.perJob || TERMINAL.has(j.state) || state.jobStreams.has(j.job_id)) return;
    if (state.jobStreams.size >= MAX_JOB_STREAMS) {
      if (!waiting.includes(j.job_id)) waiting.push(j.job_id);
      return;
    }
    const done = () => {
      state.jobStreams.delete(j.job_id);
      while (waiting.length && state.jobStreams.size < MAX_JOB_STREAMS) {
        const next = state.jobs.get(waiting.shift());
        if (next) followJob(next);
      }
    };
    const s = new Api.EventStream('/api/v1/jobs/' + encodeURIComponent(j.job_id) + '/events', {
      onEvent, once: true, onEnd: done, onStatus: (st) => { if (st === 'refused') done(); },
    });
    state.jobStreams.set(j.job_id, s);
    s.start();
  }

  // ---- the jobs list ----

  const MAX_ROWS = 500; // a busy fleet: the newest rows only

  function remember(job) {
    if (!job || typeof job.job_id !== 'string') return;
    state.jobs.set(job.job_id, Object.assign({}, state.jobs.get(job.job_id) || {}, job));
    const tbody = byId('jobs-body');
    Views.jobRow(tbody, state.jobs.get(job.job_id));
    Views.sortRows(tbody, state.jobs);
    while (tbody.rows.length > MAX_ROWS) {
      const last = tbody.rows[tbody.rows.length - 1];
      if (last.dataset.jobId === job.job_id) break;
      state.jobs.delete(last.dataset.jobId);
      last.remove();
    }
    followJob(state.jobs.get(job.job_id));
  }

  async function refreshJob(id) {
    const gen = state.gen;
    const r = await Api.call('GET', '/api/v1/jobs/' + encodeURIComponent(id));
    if (r.ok && r.data && gen === state.gen) remember(r.data);
  }

  function sessionJobs() {
    try { return JSON.parse(sessionStorage.getItem(SESSION_JOBS) || '[]'); } catch (e) { return []; }
  }

  async function loadJobs(after) {
    const q = '/api/v1/jobs?limit=50' + (after ? '&after=' + encodeURIComponent(after) : '');
    const gen = state.gen;
    const r = await Api.call('GET', q);
    const note = byId('jobs-note');
    if (gen !== state.gen) return;
    if (r.ok && r.data && Array.isArray(r.data.jobs)) {
      for (const j of r.data.jobs) remember(j);
      state.next = r.data.next || null;
      byId('jobs-more').hidden = !state.next;
      note.textContent = 'Newest first; updated live.';
      return;
    }
    if (r.status === 404 || r.status === 405) {
      // this server has no listing route: this tab's submissions, then events
      note.textContent = 'This server lists no jobs: shown are the jobs submitted from this tab and the ones events announce, updated live.';
      await Promise.all(sessionJobs().map(refreshJob));
      return;
    }
    note.textContent = 'Cannot list jobs: ' + Api.errorText(r);
  }

  byId('jobs-more').addEventListener('click', () => loadJobs(state.next));

  // ---- a job's page (kept current by onEvent: the global stream, or the
  // job's own stream that remember() opened for a key without read scope) ----

  async function loadJob(id) {
    const r = await Api.call('GET', '/api/v1/jobs/' + encodeURIComponent(id));
    const err = byId('job-error');
    if (!r.ok || !r.data) {
      err.hidden = false;
      err.textContent = Api.errorText(r);
      return;
    }
    if (location.hash !== Views.jobHref(id) || !Api.key()) return; // moved on meanwhile
    err.hidden = true;
    remember(r.data);
    Views.job(r.data);
    const log = await Api.call('GET', '/api/v1/jobs/' + encodeURIComponent(id) + '/log');
    byId('job-log').textContent = log.ok ? log.text : (log.status === 404 ? 'no log yet' : Api.errorText(log));
  }

  // ---- runners and queue ----

  async function loadFleet() {
    const [q, rs] = await Promise.all([Api.call('GET', '/api/v1/queue'), Api.call('GET', '/api/v1/runners')]);
    Views.fleet(q.ok ? q.data : null, rs.ok && rs.data ? rs.data.runners || [] : null);
    const notes = [];
    if (!q.ok) notes.push('queue: ' + Api.errorText(q));
    if (!rs.ok) notes.push('runners: ' + Api.errorText(rs));
    byId('fleet-note').textContent = notes.length ? notes.join('; ') : 'Refreshed every 5 s while shown.';
  }

  // ---- submit ----

  function drawTabs() {
    const tabs = clear(byId('file-tabs'));
    state.files.forEach((f, i) => {
      const b = el('button', { type: 'button', class: 'tab' + (i === state.current ? ' current' : ''), text: f.name, 'aria-selected': i === state.current ? 'true' : 'false', 'data-file': f.name });
      b.addEventListener('click', () => { keepEditor(); state.current = i; drawFiles(); });
      tabs.appendChild(b);
    });
  }

  function drawFiles() {
    drawTabs();
    const f = state.files[state.current];
    byId('file-editor').value = f ? f.text : '';
    byId('file-name').value = f ? f.name : '';
  }

  function keepEditor() {
    const f = state.files[state.current];
    if (f) f.text = byId('file-editor').value;
  }

  function starter(profile) {
    const s = STARTERS[profile] || ['main.txt', ''];
    state.files = [{ name: s[0], text: s[1] }];
    state.current = 0;
    state.pristine = true;
    drawFiles();
  }

  const goodName = (n) => n.length > 0 && n.length <= 255 && !n.startsWith('/') &&
    !n.split('/').some((p) => p === '' || p === '.' || p === '..') && !/[\\\x00-\x1f]/.test(n);

  function submitNote(text, bad) {
    const p = byId('submit-result');
    clear(p);
    p.className = bad ? 'error' : 'note';
    if (typeof text === 'string') p.textContent = text;
    else p.appendChild(text);
  }

  byId('file-editor').addEventListener('input', () => { state.pristine = false; keepEditor(); });
  byId('file-add').addEventListener('click', () => {
    keepEditor();
    let n = 1;
    while (state.files.some((f) => f.name === `file${n}.txt`)) n++;
    state.files.push({ name: `file${n}.txt`, text: '' });
    state.current = state.files.length - 1;
    state.pristine = false;
    drawFiles();
  });
  byId('file-rename').addEventListener('click', () => {
    const name = byId('file-name').value.trim();
    if (!goodName(name)) { submitNote(`"${name}" is not a safe relative file name`, true); return; }
    if (state.files.some((f, i) => f.name === name && i !== state.current)) { submitNote(`there is a file "${name}" already`, true); return; }
    keepEditor();
    state.files[state.current].name = name;
    state.pristine = false;
    drawFiles();
  });
  byId('file-remove').addEventListener('click', () => {
    if (state.files.length <= 1) { submitNote('a job needs at least one file', true); return; }
    state.files.splice(state.current, 1);
    state.current = Math.max(0, state.current - 1);
    state.pristine = false;
    drawFiles();
  });

  function addTest(stdin, expected, score) {
    const body = byId('tests-body');
    const tr = el('tr', { class: 'test' },
      el('td', { class: 'n' }),
      el('td', {}, el('textarea', { class: 't-stdin', rows: 3, spellcheck: false, value: stdin || '', placeholder: 'empty: no input', 'aria-label': 'stdin' })),
      el('td', {}, el('textarea', { class: 't-expected', rows: 3, spellcheck: false, value: expected || '', placeholder: 'empty: not compared (exit status only)', 'aria-label': 'expected output' })),
      el('td', {}, el('input', { class: 't-score', type: 'number', min: 0, step: 'any', value: score === undefined ? '1' : String(score), 'aria-label': 'score' })));
    const rm = el('button', { type: 'button', class: 't-remove', text: 'Remove' });
    rm.addEventListener('click', () => { tr.remove(); numberTests(); });
    tr.appendChild(el('td', {}, rm));
    body.appendChild(tr);
    numberTests();
  }

  function numberTests() {
    Array.from(byId('tests-body').rows).forEach((tr, i) => { tr.cells[0].textContent = String(i + 1); });
  }

  byId('test-add').addEventListener('click', () => addTest('', '', 1));
  byId('profile').addEventListener('change', () => { if (state.pristine) starter(byId('profile').value); });

  function buildSpec() {
    keepEditor();
    const spec = { profile: byId('profile').value, files: {} };
    for (const f of state.files) {
      if (!goodName(f.name)) throw new Error(`"${f.name}" is not a safe relative file name`);
      spec.files[f.name] = f.text;
    }
    const compare = byId('compare').value;
    spec.tests = Array.from(byId('tests-body').rows).map((tr, i) => {
      const t = { stdin: tr.querySelector('.t-stdin').value };
      const want = tr.querySelector('.t-expected').value;
      if (want !== '') t.expected_stdout = want; // empty: the output is not compared
      const score = tr.querySelector('.t-score').value;
      if (score !== '') {
        if (!(Number(score) >= 0)) throw new Error(`test ${i + 1}: score must be a number >= 0`);
        t.score = Number(score);
      }
      if (compare) t.compare = compare;
      return t;
    });
    if (spec.tests.length === 0) delete spec.tests;
    const limits = {};
    for (const k of ['time_ms', 'wall_ms', 'memory_kb', 'processes', 'output_kb']) {
      const v = byId('lim-' + k).value;
      if (v === '') continue;
      if (!/^[1-9]\d*$/.test(v)) throw new Error(`limits.${k}: want a positive whole number`);
      limits[k] = Number(v);
    }
    if (Object.keys(limits).length) spec.limits = limits;
    // routing (README "Routing and priority"): labels the runner must carry
    const labels = byId('labels').value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const l of labels) {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(l)) throw new Error(`labels: "${l}" is not a label ([A-Za-z0-9_.-])`);
    }
    if (labels.length) spec.labels = labels;
    const priority = byId('priority').value;
    if (priority) spec.priority = priority;
    return spec;
  }

  byId('submit-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    let spec;
    try { spec = buildSpec(); } catch (x) { submitNote(x.message, true); return; }
    const button = byId('submit-button');
    button.disabled = true;
    submitNote('submitting…', false);
    try {
      const r = await Api.call('POST', '/api/v1/jobs', spec);
      if (r.status !== 201 || !r.data || !r.data.job_id) { submitNote('refused: ' + Api.errorText(r), true); return; }
      const ids = sessionJobs();
      ids.push(r.data.job_id);
      sessionStorage.setItem(SESSION_JOBS, JSON.stringify(ids.slice(-200)));
      remember(r.data);
      submitNote(el('span', {}, 'Submitted ', el('a', { href: Views.jobHref(r.data.job_id), id: 'submitted-link', text: r.data.job_id }), ': it is in the jobs list.'), false);
      location.hash = '#/jobs';
    } catch (x) {
      submitNote('cannot reach the server: ' + x.message, true);
    } finally {
      button.disabled = false;
    }
  });

  async function loadProfiles() {
    const sel = byId('profile');
    let names = [];
    let source = '';
    const p = await Api.call('GET', '/api/v1/profiles');
    if (p.ok && p.data) {
      const list = Array.isArray(p.data) ? p.data : p.data.profiles || [];
      names = list.map((x) => (typeof x === 'string' ? x : x && x.name)).filter((x) => typeof x === 'string');
      source = 'the profiles the fleet offers';
    }
    if (!names.length) {
      const r = await Api.call('GET', '/api/v1/runners');
      const seen = new Set();
      if (r.ok && r.data) for (const rn of r.data.runners || []) for (const x of rn.profiles || []) if (typeof x === 'string') seen.add(x);
      names = Array.from(seen).sort();
      source = names.length ? 'the profiles of the registered runners' : '';
    }
    if (!names.length) { names = SHIPPED; source = 'the shipped profiles (this server does not say which it runs)'; }
    const before = sel.value;
    clear(sel);
    for (const n of names) sel.appendChild(el('option', { value: n, text: n }));
    sel.value = names.includes(before) ? before : names.includes('c') ? 'c' : names[0];
    byId('profile-source').textContent = source;
    if (state.pristine) starter(sel.value);
  }

  // ---- routing ----

  const VIEWS = ['key', 'submit', 'jobs', 'job', 'fleet'];

  function showView(name) {
    for (const v of VIEWS) byId('view-' + v).hidden = v !== name;
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('current', a.id === 'nav-' + name);
    if (state.fleetTimer && name !== 'fleet') { clearInterval(state.fleetTimer); state.fleetTimer = null; }
  }

  function route() {
    if (!Api.key()) { showView('key'); byId('key-input').focus(); return; }
    const h = location.hash || '#/jobs';
    const m = /^#\/jobs\/([^/]+)$/.exec(h);
    if (m) {
      showView('job');
      const id = decodeURIComponent(m[1]);
      byId('job-title').textContent = id;
      clear(byId('job-summary')); clear(byId('job-tests-body')); clear(byId('job-outputs'));
      byId('job-log').textContent = '';
      loadJob(id);
    } else if (h === '#/submit') {
      showView('submit');
    } else if (h === '#/fleet') {
      showView('fleet');
      loadFleet();
      if (!state.fleetTimer) state.fleetTimer = setInterval(loadFleet, 5000);
    } else {
      showView('jobs');
    }
  }

  // Once a key is there: the stream, the list, the profiles.
  function started() {
    byId('nav').hidden = false;
    byId('forget-key').hidden = false;
    if (!state.stream) startGlobalStream();
    loadJobs(null);
    loadProfiles();
  }

  window.addEventListener('hashchange', route);
  addTest('2 3\n', '5\n', 1);
  starter('c');
  if (Api.key()) started();
  route();
})();
