#!/usr/bin/env python3
"""bench/report.py RESULTS_DIR: turns raw/NAME.jsonl (one line per run, written
by bench/run.sh) into NAME.json (runs + medians), summary.json (the flat keys
of issue 7), summary.md and PNG plots (gnuplot, when installed). Medians are
taken over runs; a benchmark never run leaves its keys null."""
import json
import os
import shutil
import statistics
import subprocess
import sys

R = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")
RAW = os.path.join(R, "raw")


def load(name):
    path = os.path.join(RAW, name + ".jsonl")
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path):
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except ValueError:
                print(f"report: bad line in {path}: {line[:80]}", file=sys.stderr)
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 3) if xs else None


def write(name, obj):
    with open(os.path.join(R, name + ".json"), "w") as f:
        json.dump(obj, f, indent=1)


summary = {}
md = []
plots = []

# ---- dispatch + memory ----
d = load("dispatch")
if d:
    enq = {}
    for x in d:
        if x["kind"] == "enqueue":
            enq.setdefault(x["result"]["batch"], []).append(x["result"]["jobs_per_s"])
    enq_med = {b: med(v) for b, v in enq.items()}
    configs = {}
    for x in d:
        if x["kind"] == "e2e":
            k = (x["runners"], x["slots"])
            res = x["result"]
            configs.setdefault(k, []).append({
                "jobs_per_s": res["jobs_per_s"], "jobs": res["jobs"],
                "persisted": res["persisted_completed"],
                "redis_cpu_us_per_job": x["redis_cpu_us"] / res["jobs"],
                "redis_cmds_per_job": x["redis_cmds"] / res["jobs"]})
    table = []
    for (m, c), runs in sorted(configs.items()):
        table.append({"runners": m, "slots": c, "runs": len(runs),
                      "jobs": runs[0]["jobs"],
                      "all_persisted": all(r["persisted"] == r["jobs"] for r in runs),
                      "jobs_per_s_median": med([r["jobs_per_s"] for r in runs]),
                      "redis_cpu_us_per_job": med([r["redis_cpu_us_per_job"] for r in runs]),
                      "redis_cmds_per_job": med([r["redis_cmds_per_job"] for r in runs])})
    best = max(table, key=lambda t: t["jobs_per_s_median"] or 0) if table else None
    mon = next((x for x in d if x["kind"] == "monitor"), None)
    core = next((x["result"] for x in d if x["kind"] == "redis_core"), None)
    store = [x["result"] for x in d if x["kind"] == "store"]
    write("dispatch", {"enqueue_jobs_per_s_by_batch": enq_med, "e2e_configurations": table,
                       "best": best, "monitor": mon, "redis_core": core, "store": store, "runs": d})
    for st in store:
        if st.get("batch") == 1000:
            summary[f'store_{st["op"]}_rows_per_s_batch1000'] = st["rows_per_s"]
    summary["enqueue_jobs_per_s"] = max(enq_med.values()) if enq_med else None
    summary["noop_jobs_per_s"] = best["jobs_per_s_median"] if best else None
    summary["noop_best_config"] = f'{best["runners"]}x{best["slots"]}' if best else None
    one = next((t for t in table if (t["runners"], t["slots"]) == (1, 1)), None)
    summary["noop_1x1_jobs_per_s"] = one["jobs_per_s_median"] if one else None
    summary["noop_all_persisted"] = all(t["all_persisted"] for t in table) if table else None
    summary["redis_cmds_per_job"] = round(mon["cmds_per_job"], 2) if mon else None
    summary["redis_roundtrips_per_job"] = round(mon["roundtrips_per_job"], 2) if mon else None
    summary["redis_cpu_us_per_job"] = best["redis_cpu_us_per_job"] if best else None
    if core:
        summary["redis_core_cmds_per_job_single"] = core.get("summary", {}).get("single")
        summary["redis_core_cmds_per_job_batched"] = core.get("summary", {}).get("batched")
    md.append("## dispatch (no-op jobs, submit -> lease -> complete -> persisted)\n")
    md.append("Batched submit: " + ", ".join(f"batch {b}: {v:.0f} jobs/s" for b, v in sorted(enq_med.items())) + "\n")
    md.append("| runners x slots | jobs | jobs/s (median) | all persisted | Redis CPU us/job | Redis cmds/job |")
    md.append("|---|---|---|---|---|---|")
    for t in table:
        md.append(f'| {t["runners"]}x{t["slots"]} | {t["jobs"]} | {t["jobs_per_s_median"]:.0f} | {t["all_persisted"]} | '
                  f'{t["redis_cpu_us_per_job"]:.1f} | {t["redis_cmds_per_job"]:.1f} |')
    if mon:
        md.append(f'\nMONITOR (2x4, {mon["jobs"]} jobs): {mon["roundtrips_per_job"]:.2f} client commands/job, '
                  f'{mon["cmds_per_job"]:.2f} commands/job incl. script-internal. Top level: '
                  + ", ".join(f"{k} {v}" for k, v in list(mon["top_level"].items())[:8]) + "\n")
    if store:
        md.append("PostgreSQL store alone (bench_store, rows/s): " + "; ".join(
            f'{st["op"]} batch {st["batch"]}: {st["rows_per_s"]}' for st in store) + "\n")
    if core:
        b = core.get("batch_100", {})
        md.append("Redis core alone (bench_redis_core, batch 100): " + ", ".join(
            f'{k} {v["jobs_per_s"]:.0f} jobs/s ({v["commands_per_job"]:.2f} cmds/job)'
            for k, v in b.items() if isinstance(v, dict)) + "\n")
    plots.append(("dispatch_configs", "e2e no-op jobs/s by runners x slots",
                  [(f'{t["runners"]}x{t["slots"]}', t["jobs_per_s_median"]) for t in table], "bars"))

mem = load("memory")
if mem:
    dk = med([x["dispatchd_hwm_kb"] for x in mem])
    rk = med([x["runner_hwm_kb"] for x in mem])
    write("memory", {"dispatchd_hwm_kb_median": dk, "runner_hwm_kb_median": rk, "runs": mem})
    summary["dispatchd_rss_mb"] = round(dk / 1024, 1)
    summary["runner_rss_mb"] = round(rk / 1024, 1)
    md.append(f"## memory\n\nPeak RSS (VmHWM) after the 2x4 no-op load: dispatchd {dk / 1024:.1f} MB, "
              f"runner {rk / 1024:.1f} MB\n")

# ---- latency ----
lat = load("latency")
if lat:
    by = {}
    for x in lat:
        by.setdefault(x["rate"], []).append(x["result"])
    rows = []
    for rate, runs in sorted(by.items()):
        row = {"offered_jobs_per_s": rate, "runs": len(runs)}
        for k in ("lease_p50_ms", "lease_p99_ms", "lease_max_ms", "done_p50_ms", "done_p99_ms",
                  "done_max_ms", "pg_done_p50_ms", "pg_done_p99_ms", "achieved_submit_jobs_per_s"):
            row[k] = med([r.get(k) for r in runs])
        row["done_fraction"] = med([r["done_events"] / r["jobs"] for r in runs])
        rows.append(row)
    write("latency", {"rates": rows, "runs": lat})
    at1k = next((r for r in rows if r["offered_jobs_per_s"] == 1000), None)
    summary["latency_p50_ms"] = at1k["done_p50_ms"] if at1k else None
    summary["latency_p99_ms"] = at1k["done_p99_ms"] if at1k else None
    summary["latency_lease_p99_ms"] = at1k["lease_p99_ms"] if at1k else None
    md.append("## latency (open loop, 2 runners x 16 slots, no-op)\n")
    md.append("| offered jobs/s | submit->leased p50/p99/max ms | submit->persisted p50/p99/max ms | PG view p50/p99 ms | completed in window |")
    md.append("|---|---|---|---|---|")
    f = lambda v: "-" if v is None else f"{v:.1f}"
    for r in rows:
        md.append(f'| {r["offered_jobs_per_s"]} | {f(r["lease_p50_ms"])}/{f(r["lease_p99_ms"])}/{f(r["lease_max_ms"])} | '
                  f'{f(r["done_p50_ms"])}/{f(r["done_p99_ms"])}/{f(r["done_max_ms"])} | {f(r["pg_done_p50_ms"])}/{f(r["pg_done_p99_ms"])} | {r["done_fraction"]:.2f} |')
    md.append("")
    plots.append(("latency", "submit -> persisted latency (ms) by offered load",
                  [(str(r["offered_jobs_per_s"]), r["done_p50_ms"], r["done_p99_ms"]) for r in rows], "bars2"))

# ---- scale ----
sc = load("scale")
if sc:
    rs, ds = {}, {}
    for x in sc:
        if x["kind"] == "runners":
            rs.setdefault(x["runners"], []).append(x["result"]["jobs_per_s"])
        else:
            ds.setdefault(x["result"]["depth"], []).append(x["result"])
    runners = [{"runners": n, "slots": 2, "jobs_per_s_median": med(v), "runs": len(v)} for n, v in sorted(rs.items())]
    depth = [{"depth": n, "lease_redis_us_per_call": med([r["lease_redis_us_per_call"] for r in v]),
              "lease_wall_us_median": med([r["lease_wall_us_median"] for r in v]),
              "lease_wall_us_p99": med([r["lease_wall_us_p99"] for r in v]),
              "fill_jobs_per_s": med([r["fill_jobs_per_s"] for r in v]), "runs": len(v)}
             for n, v in sorted(ds.items())]
    write("scale", {"runners": runners, "depth": depth, "runs": sc})
    d10k = next((x for x in depth if x["depth"] == 10000), None)
    d1m = next((x for x in depth if x["depth"] == 1000000), None)
    if d10k and d1m:
        summary["lease_cost_ratio_1m_vs_10k"] = round(d1m["lease_redis_us_per_call"] / d10k["lease_redis_us_per_call"], 3)
        summary["lease_wall_ratio_1m_vs_10k"] = round(d1m["lease_wall_us_median"] / d10k["lease_wall_us_median"], 3)
    md.append("## scale\n")
    md.append("| runner processes (x2 slots) | no-op jobs/s |\n|---|---|")
    for r in runners:
        md.append(f'| {r["runners"]} | {r["jobs_per_s_median"]:.0f} |')
    md.append("\n| pending | lease Redis us/call | lease wall us p50 / p99 |\n|---|---|---|")
    for r in depth:
        md.append(f'| {r["depth"]} | {r["lease_redis_us_per_call"]:.2f} | {r["lease_wall_us_median"]:.1f} / {r["lease_wall_us_p99"]:.1f} |')
    md.append("")
    plots.append(("scale_runners", "no-op jobs/s against runner processes (2 slots each)",
                  [(str(r["runners"]), r["jobs_per_s_median"]) for r in runners], "bars"))
    plots.append(("scale_depth", "lease cost (Redis us/call) against pending jobs",
                  [(str(r["depth"]), r["lease_redis_us_per_call"]) for r in depth], "bars"))

# ---- reclaim ----
rc = load("reclaim")
if rc:
    rec = [x for x in rc if x["kind"] == "reclaim"]
    sw = {}
    for x in rc:
        if x["kind"] == "sweep":
            sw.setdefault(x["result"]["leased"], []).append(x["result"])
    sweeps = [{"leased": n, "sweep_ms": med([r["sweep_ms"] for r in v]),
               "sweep_us_per_job": med([r["sweep_us_per_job"] for r in v]),
               "empty_sweep_ms": med([r["empty_sweep_ms"] for r in v]), "runs": len(v)}
              for n, v in sorted(sw.items())]
    rs = med([x["reclaim_s"] for x in rec if x["completed_elsewhere"] == x["jobs"]])
    ttl = rec[0]["alive_ttl_ms"] if rec else None
    write("reclaim", {"reclaim_s_median": rs, "alive_ttl_ms": ttl, "sweeps": sweeps, "runs": rc})
    summary["reclaim_s"] = rs
    summary["reclaim_alive_ttl_s"] = ttl / 1000 if ttl else None
    md.append(f"## reclaim\n\nSIGKILLed runner holding 2 jobs, alive TTL {ttl} ms: jobs completed by another "
              f"runner after {rs} s (median of {len(rec)}; includes the new lease and no-op run).\n")
    md.append("| leased jobs of the lost runner | sweep ms | us/job | empty sweep ms |\n|---|---|---|---|")
    for s in sweeps:
        md.append(f'| {s["leased"]} | {s["sweep_ms"]:.2f} | {s["sweep_us_per_job"]:.2f} | {s["empty_sweep_ms"]:.3f} |')
    md.append("")
    plots.append(("reclaim_sweep", "sweep ms against leased jobs of the lost runner",
                  [(str(s["leased"]), s["sweep_ms"]) for s in sweeps], "bars"))

# ---- idle ----
idle = load("idle")
if idle:
    x = idle[-1]
    write("idle", x)
    summary["idle_redis_cmds_per_s_per_runner"] = x["cmds_per_s_per_runner"]
    md.append(f'## idle\n\n{x["runners"]} idle runners for {x["seconds"]} s: {x["redis_cmds"]} Redis commands, '
              f'{x["cmds_per_s_per_runner"]} /s/runner. By command: '
              + ", ".join(f"{k} {v}" for k, v in sorted(x["commandstats"].items(), key=lambda kv: -kv[1])[:8]) + "\n")

# ---- sandbox ----
sb = load("sandbox")
if sb:
    bare = med([x["result"]["sandbox_bare_ms_median"] for x in sb])
    run = med([x["result"]["sandbox_run_ms_median"] for x in sb])
    write("sandbox", {"sandbox_bare_ms_median": bare, "sandbox_run_ms_median": run, "runs": sb})
    summary["sandbox_bare_ms_median"] = bare
    summary["sandbox_run_ms_median"] = run
    md.append(f"## sandbox\n\n/bin/true bare {bare} ms, fully sandboxed {run} ms (median of {len(sb)} runs of 1,000)\n")

# ---- langs ----
lg = load("langs")
if lg:
    langs = lg[-1]["result"]["languages"]
    write("langs", {"runs": lg})
    rows = []
    for name, x in langs.items():
        # CPU comes from the cgroup in whole ms: below 10 ms bare the CPU
        # ratio says nothing, so the key is null and the wall ratio stands
        cpu = round(x["sandbox_cpu_ms_median"] / x["bare_cpu_ms_median"], 3) \
            if x["bare_cpu_ms_median"] >= 10 else None
        summary[f"sandbox_overhead_ratio_{name}"] = cpu
        summary[f"sandbox_overhead_wall_ratio_{name}"] = round(x["wall_ratio"], 3)
        summary[f"compile_ms_{name}"] = x["compile_ms"]
        rows.append(f"| {name} | {x['compile_ms']:.0f} | {x['bare_cpu_ms_median']:.1f} / {x['bare_wall_ms_median']:.1f} "
                    f"| {x['sandbox_cpu_ms_median']:.1f} / {x['sandbox_wall_ms_median']:.1f} | {cpu} | {x['wall_ratio']:.2f} |")
    md.append("## langs\n\ntrivial program per language, median of 20 interleaved runs\n\n"
              "| profile | compile ms | bare CPU / wall ms | sandboxed CPU / wall ms | CPU ratio | wall ratio |\n"
              "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")

# ---- execute ----
ex = load("execute")
if ex:
    good = [x for x in ex if x["unfinished"] == 0]
    jps = med([x["jobs"] / x["seconds"] for x in good])
    write("execute", {"exec_jobs_per_s": jps, "runs": ex})
    summary["exec_jobs_per_s"] = jps
    summary["exec_tests_per_s"] = round(jps * 10, 2) if jps else None
    summary["exec_all_ac"] = all(x["ac"] == x["jobs"] for x in ex)
    md.append(f"## execute\n\nC job (gcc -O2 once, 10 I/O tests), 2 runners x 2 slots: {jps} jobs/s, "
              f"{summary['exec_tests_per_s']} tests/s; all AC: {summary['exec_all_ac']}\n")

# ---- peers (bench/peers: BullMQ and graphile-worker, measured like our e2e/enqueue) ----
pe = load("peers")
if pe:
    e2e, enq, versions = {}, {}, {}
    for x in pe:
        res = x["result"]
        if res.get("version"):
            versions[x["peer"]] = {"version": res["version"], "node": res.get("node")}
        if x["kind"] == "e2e" and "system_cpu_s" in x:  # ours: CPU counted by peers.sh
            done = res.get("persisted_completed") or 0
            res["cpu_us_per_job"] = round(x["system_cpu_s"] / done * 1e6) if done else None
        if x["kind"] == "e2e":
            e2e.setdefault((x["peer"], x["concurrency"]), []).append(x)
        else:
            enq.setdefault((x["peer"], res["batch"]), []).append(x)
    e2e_rows = [{"peer": p, "concurrency": c, "config": runs[0].get("config"), "jobs": runs[0]["result"]["jobs"],
                 "runs": len(runs),
                 "all_completed": all(r["result"].get("completed", r["result"].get("persisted_completed"))
                                      == r["result"]["jobs"] for r in runs),
                 "jobs_per_s_median": med([r["result"]["jobs_per_s"] for r in runs]),
                 "jobs_per_s_each": [r["result"]["jobs_per_s"] for r in runs],
                 "cpu_us_per_job_median": med([r["result"].get("cpu_us_per_job") for r in runs]),
                 "loadavg_1m_each": [r.get("loadavg_1m") for r in runs]}
                for (p, c), runs in sorted(e2e.items())]
    enq_rows = [{"peer": p, "batch": b, "jobs": runs[0]["result"]["jobs"], "runs": len(runs),
                 "jobs_per_s_median": med([r["result"]["jobs_per_s"] for r in runs]),
                 "jobs_per_s_each": [r["result"]["jobs_per_s"] for r in runs]}
                for (p, b), runs in sorted(enq.items())]
    times = sorted(x.get("utc") for x in pe if x.get("utc"))
    write("peers", {"versions": versions, "e2e": e2e_rows, "enqueue": enq_rows,
                    "measured_utc": [times[0], times[-1]] if times else None, "runs": pe})

    def e2e_med(peer, conc):
        return next((r["jobs_per_s_median"] for r in e2e_rows if (r["peer"], r["concurrency"]) == (peer, conc)), None)

    def enq_best(peer):
        v = [r["jobs_per_s_median"] for r in enq_rows if r["peer"] == peer and r["jobs_per_s_median"] is not None]
        return max(v) if v else None

    summary["bullmq_c1_jobs_per_s"] = e2e_med("bullmq", 1)
    summary["bullmq_c50_jobs_per_s"] = e2e_med("bullmq", 50)
    summary["bullmq_addbulk_jobs_per_s"] = enq_best("bullmq")
    summary["graphile_worker_jobs_per_s"] = e2e_med("graphile-worker", 24)
    summary["graphile_worker_addjobs_jobs_per_s"] = enq_best("graphile-worker")

    def ratio(a, b):
        return round(a / b, 3) if a is not None and b else None

    peer_best = max([v for v in (summary["bullmq_c50_jobs_per_s"], summary["graphile_worker_jobs_per_s"]) if v] or [0])
    peer_enq = max([v for v in (summary["bullmq_addbulk_jobs_per_s"], summary["graphile_worker_addjobs_jobs_per_s"]) if v] or [0])
    summary["noop_vs_best_peer_ratio"] = ratio(summary.get("noop_jobs_per_s"), peer_best)
    summary["noop_1x1_vs_bullmq_c1_ratio"] = ratio(summary.get("noop_1x1_jobs_per_s"), summary["bullmq_c1_jobs_per_s"])
    summary["enqueue_vs_best_peer_ratio"] = ratio(summary.get("enqueue_jobs_per_s"), peer_enq)

    # Paired: our no-op e2e run in the same round, right before the peers, so
    # both sides saw the same machine load; median of the per-round ratios.
    def paired(ours, theirs):
        by = {}
        for x in pe:
            if x["kind"] == "e2e":
                by.setdefault(x["run"], {})[(x["peer"], x["concurrency"])] = x["result"]["jobs_per_s"]
        rs = []
        for rnd in by.values():
            o = rnd.get(ours)
            t = [rnd[k] for k in theirs if rnd.get(k)]
            if o is not None and t:
                rs.append(o / max(t))
        return med(rs)

    summary["noop_2x16_paired_jobs_per_s"] = e2e_med("dispatch", 32)
    summary["noop_1x1_paired_jobs_per_s"] = e2e_med("dispatch", 1)
    summary["noop_vs_best_peer_ratio_paired"] = paired(("dispatch", 32), [("bullmq", 50), ("graphile-worker", 24)])
    summary["noop_1x1_vs_bullmq_c1_ratio_paired"] = paired(("dispatch", 1), [("bullmq", 1)])
    cpu = {(r["peer"], r["concurrency"]): r["cpu_us_per_job_median"] for r in e2e_rows}
    summary["enqueue_paired_jobs_per_s"] = enq_best("dispatch")
    enq_pairs = []
    for rnd in sorted({x["run"] for x in pe}):
        for b in sorted({x["result"]["batch"] for x in pe if x["kind"] == "enqueue"}):
            got = {x["peer"]: x["result"]["jobs_per_s"] for x in pe
                   if x["kind"] == "enqueue" and x["run"] == rnd and x["result"]["batch"] == b}
            theirs = [v for k, v in got.items() if k != "dispatch" and v]
            if "dispatch" in got and theirs:
                enq_pairs.append(got["dispatch"] / max(theirs))
    summary["enqueue_vs_best_peer_ratio_paired"] = med(enq_pairs)
    summary["noop_2x16_cpu_us_per_job"] = cpu.get(("dispatch", 32))
    summary["bullmq_c50_cpu_us_per_job"] = cpu.get(("bullmq", 50))
    summary["graphile_worker_cpu_us_per_job"] = cpu.get(("graphile-worker", 24))
    md.append("## peers (bench/peers: the same no-op e2e and batched-submit measurements on BullMQ and graphile-worker)\n")
    md.append("Versions: " + ", ".join(f'{p} {v["version"]}' for p, v in sorted(versions.items()))
              + f' (node {next(iter(versions.values()))["node"]}); measured '
              + (f"{times[0]} to {times[-1]}" if times else "at an unknown time")
              + "; the same throwaway Redis / PostgreSQL as ours (FLUSHALL before each BullMQ run, a new "
                "database per graphile-worker run). Streaming submit (batches of 1,000 while the workers run, as "
                "bench_load e2e), 500 jobs per slot up to 4,000. Rows `dispatch` are our own no-op e2e run in the "
                "same round right before the peers (paired).\n")
    md.append("| peer | concurrency | jobs | jobs/s (median) | each run | CPU us/job (median) | all completed | load avg 1 min |")
    md.append("|---|---|---|---|---|---|---|---|")
    for r in e2e_rows:
        conc = f'{r["concurrency"]} ({r["config"]})' if r["config"] else r["concurrency"]
        md.append(f'| {r["peer"]} | {conc} | {r["jobs"]} | {r["jobs_per_s_median"]:.0f} | '
                  f'{", ".join(str(v) for v in r["jobs_per_s_each"])} | {r["cpu_us_per_job_median"]} | {r["all_completed"]} | '
                  f'{", ".join(str(v) for v in r["loadavg_1m_each"])} |')
    md.append("\n| peer | bulk enqueue batch | jobs | jobs/s (median) | each run |\n|---|---|---|---|---|")
    for r in enq_rows:
        md.append(f'| {r["peer"]} | {r["batch"]} | {r["jobs"]} | {r["jobs_per_s_median"]:.0f} | '
                  f'{", ".join(str(v) for v in r["jobs_per_s_each"])} |')
    md.append("\nThe first three ratios take our figures from the dispatch benchmark (raw/dispatch.jsonl, measured "
              "whenever it last ran, maybe on a quieter machine); the paired ones come from the same rounds as the "
              "peers. On a shared machine trust the paired ratios and the CPU per job.\n")
    md.append(f'Ours against them: noop_jobs_per_s {summary.get("noop_jobs_per_s")} ({summary.get("noop_best_config")}) / '
              f'best peer {peer_best} = **{summary["noop_vs_best_peer_ratio"]}**; noop_1x1_jobs_per_s '
              f'{summary.get("noop_1x1_jobs_per_s")} / bullmq_c1 {summary["bullmq_c1_jobs_per_s"]} = '
              f'**{summary["noop_1x1_vs_bullmq_c1_ratio"]}**; enqueue_jobs_per_s {summary.get("enqueue_jobs_per_s")} / '
              f'best peer bulk enqueue {peer_enq} = **{summary["enqueue_vs_best_peer_ratio"]}**. '
              f'Paired in the same rounds (median of per-round ratios): 2x16 vs best peer '
              f'**{summary["noop_vs_best_peer_ratio_paired"]}**, 1x1 vs bullmq c1 '
              f'**{summary["noop_1x1_vs_bullmq_c1_ratio_paired"]}**, batched submit vs best peer bulk enqueue '
              f'**{summary["enqueue_vs_best_peer_ratio_paired"]}**. CPU us/job counts the system under test '
              "(dispatchd + runners, or the peer's worker process; plus Redis and PostgreSQL with its backends; not "
              "the load generator) over the measured window: less sensitive to other load on the machine than jobs/s. "
              "Ours persists every job and result in PostgreSQL; BullMQ keeps them in Redis only.\n")

# ---- profiles (bench/profile.sh output, quoted) ----
for mode in ("e2e", "enqueue"):
    pp = os.path.join(R, f"profile-{mode}.txt")
    if os.path.exists(pp):
        lines = open(pp).read().splitlines()
        cut = next((i for i, l in enumerate(lines) if l.startswith("## perf")), len(lines))
        md.append(f"## profile: {mode} (bench/results/profile-{mode}.txt)\n\n```")
        md.extend(lines[:cut])
        md.append("```\n")

# ---- summary ----
machine = {}
mp = os.path.join(R, "machine.json")
if os.path.exists(mp):
    machine = json.load(open(mp))
summary["machine"] = machine
GOALS = [("noop_jobs_per_s", ">=", 40000), ("enqueue_jobs_per_s", ">=", 50000),
         ("latency_p99_ms", "<=", 5), ("idle_redis_cmds_per_s_per_runner", "<=", 0.5),
         ("lease_cost_ratio_1m_vs_10k", "<=", 1.2), ("sandbox_run_ms_median", "<=", 2.0),
         ("dispatchd_rss_mb", "<=", 32), ("runner_rss_mb", "<=", 16)]
with open(os.path.join(R, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)

head = ["# dispatch benchmarks\n",
        f'Machine: {machine.get("nproc")} x {machine.get("cpu_model")}, {machine.get("ram_mb")} MB RAM, '
        f'kernel {machine.get("kernel")}, Redis {machine.get("redis")}, commit {machine.get("commit")}\n',
        "| key | value | goal | met |", "|---|---|---|---|"]
for k, op, g in GOALS:
    v = summary.get(k)
    ok = None if v is None else (v >= g if op == ">=" else v <= g)
    head.append(f"| {k} | {v} | {op} {g} | {'-' if ok is None else ('yes' if ok else 'NO')} |")
if summary.get("reclaim_s") is not None:
    lim = summary["reclaim_alive_ttl_s"] + 2
    head.append(f'| reclaim_s | {summary["reclaim_s"]} | <= TTL+2 = {lim} | {"yes" if summary["reclaim_s"] <= lim else "NO"} |')
for k in ("noop_vs_best_peer_ratio", "noop_1x1_vs_bullmq_c1_ratio", "enqueue_vs_best_peer_ratio",
          "noop_vs_best_peer_ratio_paired", "noop_1x1_vs_bullmq_c1_ratio_paired", "enqueue_vs_best_peer_ratio_paired",
          "noop_2x16_cpu_us_per_job", "bullmq_c50_cpu_us_per_job", "graphile_worker_cpu_us_per_job",
          "noop_1x1_jobs_per_s", "bullmq_c1_jobs_per_s", "bullmq_c50_jobs_per_s", "graphile_worker_jobs_per_s",
          "bullmq_addbulk_jobs_per_s", "graphile_worker_addjobs_jobs_per_s",
          "exec_jobs_per_s", "exec_tests_per_s", "redis_cmds_per_job", "redis_roundtrips_per_job",
          "redis_cpu_us_per_job", "sandbox_bare_ms_median", "latency_p50_ms"):
    if k in summary:
        head.append(f"| {k} | {summary[k]} | | |")
head.append("")
with open(os.path.join(R, "summary.md"), "w") as f:
    f.write("\n".join(head + md) + "\n")

# ---- plots ----
if shutil.which("gnuplot"):
    for name, title, rows, kind in plots:
        rows = [r for r in rows if all(v is not None for v in r[1:])]
        if not rows:
            continue
        dat = os.path.join(R, name + ".dat")
        with open(dat, "w") as f:
            for r in rows:
                f.write('"%s" %s\n' % (r[0], " ".join(str(v) for v in r[1:])))
        using = ('using 2:xtic(1) title "" lc rgb "#3060a0"' if kind == "bars" else
                 'using 2:xtic(1) title "p50", "" using 3 title "p99"')
        script = (f'set terminal pngcairo size 800,450 noenhanced\nset output "{os.path.join(R, name + ".png")}"\n'
                  f'set title "{title}"\nset style data histograms\nset style fill solid 0.8\n'
                  f'set boxwidth 0.8\nset grid ytics\nset yrange [0:*]\nplot "{dat}" {using}\n')
        try:
            subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
        except (subprocess.CalledProcessError, OSError) as e:
            script = script.replace("pngcairo", "png")
            subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        os.remove(dat)
print(json.dumps(summary, indent=1))
