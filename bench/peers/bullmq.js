#!/usr/bin/env node
// bench/peers/bullmq.js: BullMQ measured the way bench_load measures dispatch.
// Needs REDIS_URL (a throwaway Redis, flushed by the caller before each run).
//
//   node bullmq.js e2e CONCURRENCY N BATCH TIMEOUT_S
//       one Worker process (CONCURRENCY, no-op processor) is started and ready
//       first; then N jobs are added with addBulk in batches of BATCH (jobs
//       stream in while the worker runs, as bench_load e2e submits to runners
//       already polling); then the completed count is polled every 20 ms until
//       it is N. jobs_per_s = completed / (first addBulk -> last completed).
//   node bullmq.js enqueue N BATCH
//       addBulk rate, no worker running.
//
// e2e also reports CPU seconds over the measured window: worker_cpu_s (the
// worker process), broker_cpu_s (PEER_CPU_PIDS: Redis, PostgreSQL and its
// backends), producer_cpu_s (this process: submit and polling), and
// cpu_us_per_job = (worker + broker) / completed. Prints one JSON object on
// stdout. Completed jobs stay in Redis (BullMQ's default, no
// removeOnComplete), as dispatch keeps every result in PostgreSQL.
"use strict";
const { brokerCpuS, selfCpuS } = require("./cpu.js");
const { serveWorker, startWorker, stopWorker } = require("./worker.js");
const { Queue, Worker } = require("bullmq");

const QUEUE = "bench-noop";

function connection() {
  const u = new URL(process.env.REDIS_URL || "");
  if (!u.port) throw new Error("REDIS_URL must be redis://HOST:PORT");
  return { host: u.hostname, port: Number(u.port) };
}

function jobs(n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = { name: "noop", data: {} };
  return out;
}

async function addAll(queue, n, batch) {
  for (let i = 0; i < n; i += batch) await queue.addBulk(jobs(Math.min(batch, n - i)));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The worker process: a no-op processor at the given concurrency.
async function workerMain(concurrency) {
  return serveWorker(async () => {
    const worker = new Worker(QUEUE, async () => {}, { connection: connection(), concurrency });
    worker.on("error", (e) => console.error("bullmq worker:", e.message));
    await worker.waitUntilReady();
    return { stop: () => worker.close() };
  });
}

async function e2e(concurrency, n, batch, timeoutS) {
  const queue = new Queue(QUEUE, { connection: connection() });
  await queue.waitUntilReady();
  const child = await startWorker(__filename, concurrency);
  await sleep(300); // the worker's first blocking fetch, as run.sh waits for the slots' first long polls
  child.send({ mark: true });
  const b0 = brokerCpuS(), p0 = selfCpuS();
  const t0 = performance.now();
  await addAll(queue, n, batch);
  const submitS = (performance.now() - t0) / 1000;
  let done = 0;
  while ((performance.now() - t0) / 1000 < timeoutS) {
    done = await queue.getCompletedCount();
    if (done >= n) break;
    await sleep(20);
  }
  const totalS = (performance.now() - t0) / 1000;
  const brokerS = brokerCpuS() - b0, producerS = selfCpuS() - p0;
  const failed = await queue.getFailedCount();
  const workerS = await stopWorker(child);
  await queue.close();
  return {
    peer: "bullmq", version: require("bullmq/package.json").version, node: process.version,
    mode: "e2e", concurrency, jobs: n, batch, submit_s: +submitS.toFixed(3), total_s: +totalS.toFixed(3),
    jobs_per_s: Math.round(done / totalS), completed: done, failed,
    worker_cpu_s: workerS === null ? null : +workerS.toFixed(2), broker_cpu_s: +brokerS.toFixed(2),
    producer_cpu_s: +producerS.toFixed(2),
    cpu_us_per_job: workerS === null || !done ? null : Math.round(((workerS + brokerS) / done) * 1e6),
  };
}

async function enqueue(n, batch) {
  const queue = new Queue(QUEUE, { connection: connection() });
  await queue.waitUntilReady();
  const t0 = performance.now();
  await addAll(queue, n, batch);
  const s = (performance.now() - t0) / 1000;
  const waiting = await queue.getWaitingCount();
  await queue.close();
  return {
    peer: "bullmq", version: require("bullmq/package.json").version, node: process.version,
    mode: "enqueue", jobs: n, batch, seconds: +s.toFixed(3), jobs_per_s: Math.round(n / s), waiting,
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
  else throw new Error("usage: bullmq.js e2e CONCURRENCY N BATCH TIMEOUT_S | enqueue N BATCH");
  console.log(JSON.stringify(out));
  return out;
}

main(process.argv.slice(2)).then(
  (out) => {
    if (out) process.exit(out.mode === "e2e" && out.completed !== out.jobs ? 1 : 0);
  },
  (e) => {
    console.error("bullmq.js:", e.message);
    process.exit(1);
  },
);
