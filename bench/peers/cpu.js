// bench/peers/cpu.js: CPU seconds of the broker processes (Redis, PostgreSQL)
// read from /proc, so a peer's CPU per job can be set beside ours on a machine
// shared with other work. PEER_CPU_PIDS is a space-separated list of pids; a
// pid written "tree:PID" also counts its live children and the children it has
// reaped (cutime/cstime): PostgreSQL's backends exit when a client disconnects.
"use strict";
const fs = require("node:fs");

const TICK = 100; // USER_HZ on Linux, what /proc/PID/stat counts in

function stat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" "); // [0] is field 3 (state)
  } catch {
    return null;
  }
}

function ticks(spec) {
  const tree = spec.startsWith("tree:");
  const pid = tree ? spec.slice(5) : spec;
  const s = stat(pid);
  if (!s) return 0;
  let t = Number(s[11]) + Number(s[12]); // utime, stime
  if (!tree) return t;
  t += Number(s[13]) + Number(s[14]); // cutime, cstime of reaped children
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const c = stat(d);
    if (c && c[1] === pid) t += Number(c[11]) + Number(c[12]);
  }
  return t;
}

// Seconds of CPU the PEER_CPU_PIDS processes have used so far (0 when unset).
function brokerCpuS() {
  const specs = (process.env.PEER_CPU_PIDS || "").split(/\s+/).filter(Boolean);
  return specs.reduce((a, p) => a + ticks(p), 0) / TICK;
}

// Seconds of CPU this process has used so far.
function selfCpuS() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

module.exports = { brokerCpuS, selfCpuS };
