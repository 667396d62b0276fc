// bench/peers/worker.js: the forked worker process both peer drivers use.
// serveWorker runs in the child: it starts the peer's worker (start() returns
// an object with stop()), says ready, and reports its own CPU seconds since
// the driver's { mark } when asked to { stop }. startWorker / stopWorker run
// in the driver.
"use strict";
const { fork } = require("node:child_process");
const { selfCpuS } = require("./cpu.js");

async function serveWorker(start) {
  const worker = await start();
  process.send({ ready: true });
  let cpu0 = selfCpuS();
  process.on("disconnect", () => process.exit(1)); // the driver died: do not linger
  process.on("message", async (m) => {
    if (m && m.mark) cpu0 = selfCpuS();
    if (m && m.stop) {
      const cpuS = selfCpuS() - cpu0;
      await worker.stop();
      process.send({ cpuS }, () => process.exit(0));
    }
  });
}

function startWorker(file, concurrency) {
  return new Promise((resolve, reject) => {
    const child = fork(file, ["worker", String(concurrency)], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    child.once("message", (m) => (m && m.ready ? resolve(child) : reject(new Error("worker: bad hello"))));
    child.once("exit", (code) => reject(new Error(`worker exited (${code}) before it was ready`)));
  });
}

// Stops the worker; resolves to the CPU seconds it used since { mark }.
async function stopWorker(child) {
  let cpuS = null;
  child.on("message", (m) => {
    if (m && typeof m.cpuS === "number") cpuS = m.cpuS;
  });
  const gone = new Promise((r) => child.once("exit", r));
  child.send({ stop: true });
  const t = setTimeout(() => child.kill("SIGKILL"), 5000);
  await gone;
  clearTimeout(t);
  return cpuS;
}

module.exports = { serveWorker, startWorker, stopWorker };
