#!/usr/bin/env node
// bench/peers/graphile.js: graphile-worker measured the way bench_load
// measures dispatch. Needs PG_DSN (a fresh database of a throwaway
// PostgreSQL; the schema is migrated before the clock starts).
//
//   node graphile.js e2e CONCURRENCY N BATCH TIMEOUT_S
//       one worker process (run(), CONCURRENCY, no-op task, the batching
//       options of graphile-worker's performance page: localQueue size 500,
//       completeJobBatchDelay 0, failJobBatchDelay 0, pool of CONCURRENCY+1)
//       is started and ready first; then N jobs are added with addJobs in
//       batches of BATCH; then the jobs table is polled every 20 ms until no
//       job is left (graphile-worker deletes a job when it completes).
//       jobs_per_s = completed / (first addJobs -> table empty).
//   node graphile.js enqueue N BATCH
//       addJobs rate, no worker running.
//
// Per-job info lines are dropped (the default logger prints one per job);
// warnings and errors go to stderr. e2e also reports CPU seconds over the
// measured window: worker_cpu_s (the worker process), broker_cpu_s
// (PEER_CPU_PIDS: PostgreSQL and its backends, Redis), producer_cpu_s (this
// process: submit and polling), and cpu_us_per_job = (worker + broker) /
// completed. Prints one JSON object on stdout.
"use strict";
const { brokerCpuS, selfCpuS } = require("./cpu.js");
const { serveWorker, startWorker, stopWorker } = require("./worker.js");
const { Logger, run, makeWorkerUtils } = require("graphile-worker");

const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
});

function dsn() {
  const s = process.env.PG_DSN;
  if (!s) throw new Error("PG_DSN is not set");
  return s;
}

function specs(n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = { identifier: "noop", payload: {} };
  return out;
}

async function addAll(utils, n, batch) {
  for (let i = 0; i < n; i += batch) await utils.addJobs(specs(Math.min(batch, n - i)));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function batchingPreset(concurrency) {
  return {
    worker: { concurrentJobs: concurrency, maxPoolSize: concurrency + 1, localQueue: { size: 500 },
      completeJobBatchDelay: 0, failJobBatchDelay: 0 },
  };
}

async function workerMain(concurrency) {
  return serveWorker(async () => {
    const runner = await run({
      connectionString: dsn(), concurrency, maxPoolSize: concurrency + 1, noHandleSignals: true, logger,
      taskList: { noop: async () => {} }, preset: batchingPreset(concurrency),
    });
    return { stop: () => runner.stop() };
  });
}

async function left(utils) {
  return utils.withPgClient(async (c) => {
    const r = await c.query(
      "SELECT count(*)::int AS n, count(*) FILTER (WHERE last_error IS NOT NULL)::int AS failed FROM graphile_worker._private_jobs");
    return r.rows[0];
  });
}

async function e2e(concurrency, n, batch, timeoutS) {
  const utils = await makeWorkerUtils({ connectionString: dsn(), logger });
  await utils.migrate();
  const child = await startWorker(__filename, concurrency);
  await sleep(300); // as run.sh waits for the slots' first long polls
  child.send({ mark: true });
  const b0 = brokerCpuS(), p0 = selfCpuS();
  const t0 = performance.now();
  await addAll(utils, n, batch);
  const submitS = (performance.now() - t0) / 1000;
  let rest = { n: -1, failed: 0 };
  while ((performance.now() - t0) / 1000 < timeoutS) {
    rest = await left(utils);
    if (rest.n === 0) break;
    await sleep(20);
  }
  const totalS = (performance.now() - t0) / 1000;
  const brokerS = brokerCpuS() - b0, producerS = selfCpuS() - p0;
  const workerS = await stopWorker(child);
  await utils.release();
  const done = n - rest.n;
  return {
    peer: "graphile-worker", version: require("graphile-worker/package.json").version, node: process.version,
    mode: "e2e", concurrency, jobs: n, batch, submit_s: +submitS.toFixed(3), total_s: +totalS.toFixed(3),
    jobs_per_s: Math.round(done / totalS), completed: done, failed: rest.failed,
    worker_cpu_s: workerS === null ? null : +workerS.toFixed(2), broker_cpu_s: +brokerS.toFixed(2),
    producer_cpu_s: +producerS.toFixed(2),
    cpu_us_per_job: workerS === null || !done ? null : Math.round(((workerS + brokerS) / done) * 1e6),
  };
}

async function enqueue(n, batch) {
  const utils = await makeWorkerUtils({ connectionString: dsn(), logger });
  await utils.migrate();
  const t0 = performance.now();
  await addAll(utils, n, batch);
  const s = (performance.now() - t0) / 1000;
  const rest = await left(utils);
  await utils.release();
  return {
    peer: "graphile-worker", version: require("graphile-worker/package.json").version, node: process.version,
    mode: "enqueue", jobs: n, batch, seconds: +s.toFixed(3), jobs_per_s: Math.round(n / s), waiting: rest.n,
  };
}

function int(s, what) {
  const v = Number(s);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${what} must be a positive integer, got "${s}"`);
  return v;
}

async function main(argv) {
  const [mode, ...a] = argv;
  if (mode === "worker") return workerMain(int(a[0], "CONCURRENCY"));
  let out;
  if (mode === "e2e" && a.length === 4)
    out = await e2e(int(a[0], "CONCURRENCY"), int(a[1], "N"), int(a[2], "BATCH"), int(a[3], "TIMEOUT_S"));
  else if (mode === "enqueue" && a.length === 2) out = await enqueue(int(a[0], "N"), int(a[1], "BATCH"));
  else throw new Error("usage: graphile.js e2e CONCURRENCY N BATCH TIMEOUT_S | enqueue N BATCH");
  console.log(JSON.stringify(out));
  return out;
}

main(process.argv.slice(2)).then(
  (out) => {
    if (out) process.exit(out.mode === "e2e" && out.completed !== out.jobs ? 1 : 0);
  },
  (e) => {
    console.error("graphile.js:", e.message);
    process.exit(1);
  },
);
