#!/usr/bin/env python3
"""Every metric the Grafana dashboard and the Prometheus alerts use must be
one the programs emit.

  check_dashboards.py SRC                     names declared in the sources
                                              (dispatch/status_metrics.c,
                                              runner/runner_status.c)
  check_dashboards.py SRC --scrape FILE...    names with samples in live
                                              /metrics scrapes (tests/e2e)

Exit 0 when all are known; 1 naming each unknown one and where it is used."""
import json
import re
import sys

import yaml

DESC_FILES = ["dispatch/status_metrics.c", "runner/runner_status.c"]
HIST_SUFFIXES = ("_bucket", "_sum", "_count")
# PromQL words that look like names but are not metrics
PROMQL_WORDS = {"sum", "max", "min", "avg", "rate", "increase", "by", "on", "and", "or",
                "unless", "histogram_quantile", "vector", "le", "without", "ignoring",
                "count", "absent", "irate", "topk", "bottomk", "group_left", "group_right"}


def declared(src):
    """name -> kind from the desc tables."""
    out = {}
    pat = re.compile(r'\{"(dispatch_[a-z0-9_]+)",\s*DP_METRIC_(COUNTER|GAUGE|HIST)')
    for f in DESC_FILES:
        for name, kind in pat.findall(open(f"{src}/{f}").read()):
            out[name] = kind.lower()
    return out


def scraped(files):
    """name -> kind from TYPE lines, kept only when a sample of it is present."""
    types, sampled = {}, set()
    for f in files:
        for line in open(f):
            m = re.match(r"# TYPE (\S+) (\S+)", line)
            if m:
                types[m.group(1)] = "hist" if m.group(2) == "histogram" else m.group(2)
                continue
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{| )", line)
            if m and not line.startswith("#"):
                sampled.add(m.group(1))
    out = {}
    for name, kind in types.items():
        forms = [name + s for s in HIST_SUFFIXES] if kind == "hist" else [name]
        if any(f in sampled for f in forms):
            out[name] = kind
    return out


def exprs(src):
    """(where, PromQL) of every panel target and alert rule."""
    dash = json.load(open(f"{src}/deploy/grafana/dispatch.json"))
    for p in dash["panels"]:
        for t in p.get("targets", []):
            yield f"dashboard panel '{p['title']}'", t["expr"]
    rules = yaml.safe_load(open(f"{src}/deploy/prometheus/alerts.yml"))
    for g in rules["groups"]:
        for r in g["rules"]:
            yield f"alert {r['alert']}", r["expr"]


def used(expr):
    # drop label matchers, strings and ranges, then take identifiers
    e = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        if w not in PROMQL_WORDS and w.startswith("dispatch_"):
            yield w


def main():
    src = sys.argv[1]
    known = scraped(sys.argv[3:]) if "--scrape" in sys.argv[2:3] else declared(src)
    if not known:
        print("check_dashboards: no metric names found", file=sys.stderr)
        return 1
    bad, n = [], 0
    for where, expr in exprs(src):
        for w in used(expr):
            n += 1
            base = w
            for s in HIST_SUFFIXES:
                if w.endswith(s) and known.get(w[: -len(s)]) == "hist":
                    base = w[: -len(s)]
            if base not in known:
                bad.append(f"{where}: {w} is not emitted")
            elif base != w or known[base] == "hist":
                if base == w:
                    bad.append(f"{where}: {w} is a histogram: use {w}_bucket/_sum/_count")
    for b in bad:
        print(b, file=sys.stderr)
    print(f"check_dashboards: {n} uses of {len(known)} known metrics, {len(bad)} unknown")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
