#!/usr/bin/env python3
"""bench/http_api.py URL KEY: the HTTP API's own figures (./dev bench http),
one JSON line: POST /api/v1/jobs throughput (single specs over keep-alive
connections from CONC client threads, and batches of 100) and POST /execute
round-trip latency against no-op runners (RUNNER_NOOP=1: the dispatch path,
inline-file store included, without the sandbox)."""
import http.client, json, sys, threading, time
from urllib.parse import urlparse

url, key = sys.argv[1], sys.argv[2]
u = urlparse(url)
HDR = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
SPEC = {"profile": "shell", "archive": "file:///nonexistent/noop.zip"}


def conn():
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def post(c, path, body):
    c.request("POST", path, json.dumps(body), HDR)
    r = c.getresponse()
    data = r.read()
    return r.status, data


def submit_rate(total, conc):
    per, errs = total // conc, []

    def worker():
        c = conn()
        for _ in range(per):
            s, d = post(c, "/api/v1/jobs", SPEC)
            if s != 201:
                errs.append((s, d[:200]))
    ts = [threading.Thread(target=worker) for _ in range(conc)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    assert not errs, errs[:3]
    return round(per * conc / dt, 1)


def batch_rate(batches, size):
    c = conn()
    t0 = time.perf_counter()
    for _ in range(batches):
        s, d = post(c, "/api/v1/jobs", [SPEC] * size)
        assert s == 201, (s, d[:200])
    return round(batches * size / (time.perf_counter() - t0), 1)


def execute_latency(n):
    c = conn()
    lat = []
    for i in range(n):
        body = {"language": "python", "source": "print(%d)\n" % i, "tests": [{"stdin": "", "expectedStdout": "%d\n" % i}]}
        t0 = time.perf_counter()
        s, d = post(c, "/execute", body)
        lat.append((time.perf_counter() - t0) * 1000)
        assert s == 200, (s, d[:200])
    lat.sort()
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2)
    return {"n": n, "p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99), "max_ms": round(lat[-1], 2)}


out = {
    "submit_per_s_conc1": submit_rate(1000, 1),
    "submit_per_s_conc16": submit_rate(4000, 16),
    "submit_batch100_jobs_per_s": batch_rate(50, 100),
    "execute_noop": execute_latency(200),
}
print(json.dumps(out))
