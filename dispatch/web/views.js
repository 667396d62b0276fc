// What the dashboard draws. Everything a job brings (its output, messages,
// names, the log) is untrusted: it reaches the page through textContent and
// text nodes only, never innerHTML, and links are built from
// encodeURIComponent'd ids under '#/'.
'use strict';

const Views = (() => {
  // el('td', {class: 'x', text: 'y'}, child...): an element; children are
  // nodes or strings (as text nodes).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, String(v));
      else e[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  const byId = (id) => document.getElementById(id);
  const clear = (node) => { while (node.firstChild) node.removeChild(node.firstChild); return node; };
  const show = (v) => (v === null || v === undefined || v === '' ? '–' : String(v));
  const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
  const jobHref = (id) => '#/jobs/' + encodeURIComponent(id);

  function when(ts) {
    if (!ts) return '–';
    const d = new Date(ts);
    return isNaN(d.getTime()) ? String(ts) : d.toLocaleString();
  }

  function verdictCell(v) {
    return el('td', { class: 'verdict' + (v ? ' v-' + String(v).replace(/[^A-Za-z]/g, '') : ''), text: show(v) });
  }

  // One row of the jobs list from what is known of the job (the job JSON,
  // or an event's fields); updates the row in place when it exists.
  function jobRow(tbody, job) {
    let tr = null;
    for (const r of tbody.rows) if (r.dataset.jobId === job.job_id) { tr = r; break; }
    const cells = [
      el('td', { class: 'id' }, el('a', { href: jobHref(job.job_id), text: job.job_id })),
      el('td', { class: 'profile', text: show(job.profile) }),
      el('td', { class: 'state s-' + String(job.state || '').replace(/[^a-z]/g, ''), text: show(job.state) }),
      verdictCell(job.verdict),
      el('td', { class: 'score', text: show(job.score) }),
      el('td', { class: 'created', text: when(job.created_at) }),
      el('td', { class: 'message', text: show(job.message) }),
    ];
    if (tr === null) {
      tr = el('tr', { 'data-job-id': job.job_id });
      tbody.appendChild(tr);
    } else {
      clear(tr);
    }
    for (const c of cells) tr.appendChild(c);
    return tr;
  }

  // Newest first: rows sorted by created_at (ISO text sorts by time), then id.
  function sortRows(tbody, jobs) {
    const rows = Array.from(tbody.rows);
    const key = (tr) => { const j = jobs.get(tr.dataset.jobId) || {}; return (j.created_at || '9') + tr.dataset.jobId; };
    rows.sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
    for (const r of rows) tbody.appendChild(r);
  }

  function figures(dl, pairs) {
    clear(dl);
    for (const [name, value, cls] of pairs) {
      dl.appendChild(el('div', { class: cls || '' }, el('dt', { text: name }), el('dd', { text: show(value) })));
    }
  }

  function job(j) {
    byId('job-title').textContent = j.job_id;
    figures(byId('job-summary'), [
      ['state', j.state, 'f-state'], ['verdict', j.verdict, 'f-verdict'], ['score', j.score],
      ['profile', j.profile], ['attempts', j.attempts], ['runner', j.runner_id],
      ['created', when(j.created_at)], ['started', when(j.started_at)], ['finished', when(j.finished_at)],
      ['message', j.message, 'f-message'],
      ['labels', (j.labels || []).join(', ') || '–', 'f-labels'], ['priority', j.priority, 'f-priority'],
      ['callback', j.callback ? `${j.callback.state} (${j.callback.attempts} attempt(s))${j.callback.last_error ? ': ' + j.callback.last_error : ''}` : null, 'f-callback'],
    ]);
    const body = clear(byId('job-tests-body'));
    const outs = clear(byId('job-outputs'));
    (j.tests || []).forEach((t, i) => {
      body.appendChild(el('tr', { 'data-test': String(i) },
        el('td', { text: String(i + 1) }), el('td', { class: 'name', text: show(t.name) }), verdictCell(t.verdict),
        el('td', { text: show(t.time_ms) }), el('td', { text: show(t.wall_ms) }), el('td', { text: show(t.memory_kb) }),
        el('td', { text: show(t.exit_code) }), el('td', { text: show(t.signal) }), el('td', { class: 'message', text: show(t.message) })));
      const box = el('details', { class: 'test-output', open: i < 3, 'data-test': String(i) },
        el('summary', { text: `test ${i + 1}${t.name ? ' (' + t.name + ')' : ''}: ${show(t.verdict)}` }));
      box.appendChild(el('h4', { text: 'stdout (excerpt)' }));
      box.appendChild(el('pre', { class: 'output stdout', text: t.stdout || '' }));
      box.appendChild(el('h4', { text: 'stderr (excerpt)' }));
      box.appendChild(el('pre', { class: 'output stderr', text: t.stderr || '' }));
      outs.appendChild(box);
    });
    if (!(j.tests || []).length) {
      body.appendChild(el('tr', {}, el('td', { colSpan: 9, class: 'note', text: TERMINAL.has(j.state) ? 'no test results' : 'waiting for results…' })));
    }
  }

  function fleet(queue, runners) {
    if (queue) {
      figures(byId('queue-figures'), [
        ['pending', queue.pending, 'q-pending'], ['leased', queue.leased, 'q-leased'],
        ['dead', queue.dead, 'q-dead'], ['completed', queue.completed, 'q-completed'],
        ['runners alive', queue.runners_alive, 'q-alive'],
      ]);
    }
    if (runners) {
      const body = clear(byId('runners-body'));
      for (const r of runners) {
        body.appendChild(el('tr', { 'data-runner-id': r.runner_id },
          el('td', { class: 'name', text: show(r.name) }), el('td', { class: 'id', text: show(r.runner_id) }),
          el('td', { class: r.alive ? 'yes' : 'no', text: r.alive ? 'yes' : 'no' }),
          el('td', { text: r.draining ? 'yes' : 'no' }),
          el('td', { class: 'capacity', text: show(r.capacity) }), el('td', { class: 'leased', text: show(r.leased_jobs) }),
          el('td', { text: (r.labels || []).join(', ') || '–' }), el('td', { text: show(r.version) }),
          el('td', { text: when(r.last_seen) })));
      }
      if (!runners.length) body.appendChild(el('tr', {}, el('td', { colSpan: 9, class: 'note', text: 'no runner is registered' })));
    }
  }

  return { el, byId, clear, show, when, jobRow, sortRows, job, fleet, TERMINAL, jobHref };
})();
