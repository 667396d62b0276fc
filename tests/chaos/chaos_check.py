#!/usr/bin/env python3
"""One chaos row, from PostgreSQL's history (the record of truth):
    chaos_check.py DSN FAULT DIR T_INJECT T_HEAL REFUSED EXTRA_JSON
lost: accepted (dispatchctl printed its id) but missing or not terminal;
duplicated: results of an attempt other than the recorded one (a job is
completed once by its row's fenced update, and its `completed` history row is
that row since migration 10, so rows are no longer counted);
duplicated_leased: (job, attempt) pairs with more than one `leased` row
(each lease's row is written by its state change, once).
Prints the row as JSON; exits 1 if anything was lost or recorded twice."""
import json
import os
import subprocess
import sys

dsn, fault, d, t_inj, t_heal, refused, extra = sys.argv[1:8]
t_inj, t_heal = float(t_inj), float(t_heal)


def sql(q):
    out = subprocess.run(["psql", dsn, "-qAt", "-F", "\t", "-c", q], check=True,
                         capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def read_time(name):
    p = os.path.join(d, f"{name}-{fault}")
    try:
        return round(float(open(p).read()) - t_inj, 2)
    except (OSError, ValueError):
        return None


accepted = set(open(os.path.join(d, f"accepted-{fault}")).read().split())
rows = sql(f"""
SELECT j.id, j.state, coalesce(j.result_attempt, 0),
       (SELECT count(*) FROM test_results t WHERE t.job_id = j.id
          AND t.attempt IS DISTINCT FROM j.result_attempt)
FROM jobs j WHERE j.submission_id = 'chaos-{fault}'""")
seen = {r[0]: r for r in rows}
terminal = {"completed", "failed", "cancelled"}
lost = sum(1 for i in accepted if i not in seen or seen[i][1] not in terminal)
unconfirmed = [r for r in rows if r[0] not in accepted]  # reply lost: in PG all the same
lost += sum(1 for r in unconfirmed if r[1] not in terminal)
dup = sum(1 for r in rows if int(r[3]) > 0)
failed = sum(1 for r in rows if r[1] == "failed")
dup_leased = int(sql(f"""
SELECT count(*) FROM (SELECT e.job_id, e.attempt FROM job_history e
  JOIN jobs j ON j.id = e.job_id AND j.submission_id = 'chaos-{fault}'
  WHERE e.state = 'leased' GROUP BY e.job_id, e.attempt HAVING count(*) > 1) x""")[0][0])
leased = len(open(os.path.join(d, f"leased-{fault}")).read().split())
row = {"fault": fault, "jobs": len(accepted), "unconfirmed": len(unconfirmed), "lost": lost,
       "duplicated": dup, "duplicated_leased": dup_leased, "failed": failed,
       "refused_batches": int(refused or 0), "leased_at_fault": leased,
       "recovery_s": read_time("recovered"), "drain_s": read_time("drained"),
       "fault_s": round(t_heal - t_inj, 2)}
try:
    dropped = open(os.path.join(d, "runner-4.log")).read().count('"result_dropped"')
    row["runner4_results_refused"] = dropped
except OSError:
    pass
if extra.strip():
    row.update(json.loads("{" + extra.strip().lstrip(",") + "}"))
if "dropped_before_heal" in row:  # the partitioned runner's late completes, refused
    row["late_results_refused"] = row.pop("runner4_results_refused", 0) - row.pop("dropped_before_heal")
print(json.dumps(row))
# the partitioned runner must come back, and its late result must be refused
partition_ok = fault != "partition" or (row.get("registered_again") and
                                        row.get("late_results_refused", 0) >= 1)
sys.exit(1 if lost or dup or dup_leased or not partition_ok else 0)
