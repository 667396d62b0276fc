#!/usr/bin/env python3
"""bench/redis_layout.py [JOBS] [REPS]: Redis CPU per job of the per-job part of
enqueue, lease, owner check and complete, for today's layout (a hash and a
string tombstone per job: redis_layout/cur.lua) against the per-batch layout
under study (every job's state a field of one hash: redis_layout/batch.lua),
and of the deployed scripts themselves (dispatch/redis/rq_*.lua with their
prelude, one registered runner, one queue, the events the callers stream),
at batches of 64, 16 (two runners x 16 slots) and 1 (one slot), specs of 64 bytes
and 2 KiB. Starts its own redis-server on a free loopback port (stopped by pid
at the end), one call at a time as dispatchd makes them, and reads the
server's CPU (INFO cpu) around each phase; the layouts take turns within each
repetition (medians over REPS). The two layouts leave out what every call
shares (queue choice, events, retry records); the deployed scripts include
it. One JSON line; never a test (issue 10, docs/bench.md)."""
import json, os, socket, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
JOBS = int(sys.argv[1]) if len(sys.argv) > 1 else 16000
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 3


class Conn:
    """A minimal RESP client: one command, one reply."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.s.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu(c):
    info = c.call("INFO", "cpu").decode()
    v = dict(l.split(":", 1) for l in info.split("\r\n") if ":" in l)
    return float(v["used_cpu_sys"]) + float(v["used_cpu_user"])


def run(c, sha, batch, spec, n, sweep):
    """Redis CPU seconds per phase over n jobs in batches (sweep: the layout
    sweeps its tombstones, batch.lua)."""
    c.call("FLUSHALL")
    P, rid = "{b}:", "r-01a24e8eabda42d0f7e06b1db1e40ceb"
    ids = ["j-01a24e8ede4c%020d" % i for i in range(n)]
    got = []
    out = {}
    t0 = cpu(c)
    for i in range(0, n, batch):
        c.call("EVALSHA", sha, 1, P, "enqueue", spec, *ids[i:i + batch])
    t1 = cpu(c)
    out["enqueue"] = t1 - t0
    for i in range(0, n, batch):
        r = c.call("EVALSHA", sha, 1, P, "lease", rid, batch)
        got += [(r[j].decode(), r[j + 1].decode() if isinstance(r[j + 1], bytes) else str(r[j + 1]))
                for j in range(0, len(r), 3)]
    t2 = cpu(c)
    out["lease"] = t2 - t1
    assert len(got) == n, (len(got), n)
    for phase in ("check", "complete"):
        ta = cpu(c)
        for i in range(0, n, batch):
            args = [x for p in got[i:i + batch] for x in p]
            r = c.call("EVALSHA", sha, 1, P, phase, rid, *args)
            assert all(x == 0 for x in r), r
        out[phase] = cpu(c) - ta
    if sweep:
        ta = cpu(c)
        for k in c.call("KEYS", P + "tb:*"):
            c.call("EVALSHA", sha, 1, P, "sweep", k.decode().rsplit(":", 1)[1])
        out["sweep"] = cpu(c) - ta
    return out


RQ = os.path.join(HERE, "..", "dispatch", "redis")
# rq_events.h / rq.h: the events stream's MAXLEN, events per stream entry, the
# retry records kept per runner
MAXLEN, PER, REQS = 4000, 64, 8
FIXED = ["{r}:", "{r}:jobs:pending", "{r}:jobs:leased", "{r}:jobs:dead", "{r}:runners:alive",
         "{r}:runners"]
EVENT = b"e" * 80  # one event's msgpack, about this size; opaque to the scripts


def load(c, *paths):
    """SCRIPT LOAD of the files joined (the deployed scripts: prelude first)."""
    sha = c.call("SCRIPT", "LOAD", b"\n".join(open(p, "rb").read() for p in paths))
    return sha.decode() if isinstance(sha, bytes) else sha


def rq_script(c, name):
    return load(c, os.path.join(RQ, "rq_prelude.lua"), os.path.join(RQ, "rq_%s.lua" % name))


def blobs(k):
    return [EVENT * min(PER, k - i) for i in range(0, k, PER)]


def run_real(c, sh, batch, spec, n):
    """The deployed scripts, called as the reporter and the leaser call them."""
    c.call("FLUSHALL")
    rid = "r-01a24e8eabda42d0f7e06b1db1e40ceb"
    ev = lambda name, *argv: c.call("EVALSHA", sh[name], len(FIXED), *FIXED, *argv)
    ev("register", rid, "0" * 64, "runner-1", "", 16, "1", 3600000, "shell")
    ids = ["j-01a24e8ede4c%020d" % i for i in range(n)]
    out, got = {}, []
    t0 = cpu(c)
    for i in range(0, n, batch):
        b = ids[i:i + batch]
        args = [x for j in b for x in (j, spec, 3, 0, "shell:", "n")]
        ev("enqueue", len(b), *args, MAXLEN, len(blobs(len(b))), *blobs(len(b)))
    t1 = cpu(c)
    out["enqueue"] = t1 - t0
    for i in range(0, n, batch):
        r = ev("lease", "2026-12-07T04:00:00.000Z", MAXLEN, 1, PER, REQS, 1, rid, batch,
               "q-%d" % i, 0)
        claim = r[0]
        got += [(claim[j].decode(), str(claim[j + 1])) for j in range(1, len(claim), 3)]
    out["lease"] = cpu(c) - t1
    assert len(got) == n, (len(got), n)
    ta = cpu(c)
    for i in range(0, n, batch):
        ev("owner_check", *[x for j, a in got[i:i + batch] for x in (j, rid, a)])
    out["check"] = cpu(c) - ta
    ta = cpu(c)
    for i in range(0, n, batch):
        b = got[i:i + batch]
        r = ev("complete", rid, 3600000, len(b), *[x for j, a in b for x in (j, a, "")], MAXLEN,
               len(blobs(len(b))), *blobs(len(b)))
        assert all(x == 0 for x in r), r
    out["complete"] = cpu(c) - ta
    return out


tmp = tempfile.mkdtemp(prefix="redis-layout.")
port = free_port()
srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            c = Conn(port)
            c.call("PING")
            break
        except OSError:
            time.sleep(0.05)
    shas = {name: load(c, os.path.join(HERE, "redis_layout", name + ".lua"))
            for name in ("cur", "batch")}
    real = {name: rq_script(c, name)
            for name in ("register", "enqueue", "lease", "owner_check", "complete")}
    res = {"jobs": JOBS, "reps": REPS}
    for batch in (64, 16, 1):
        for spec_len in (64, 2048):
            spec = b"s" * spec_len
            n = JOBS if batch > 1 else JOBS // 4
            # the layouts take turns within each repetition, so the host's
            # drift (large on a shared 2-core VM) favours none of them
            runs = {name: [] for name in ("real", "cur", "batch")}
            for _ in range(REPS):
                for name in runs:
                    runs[name].append(run_real(c, real, batch, spec, n) if name == "real" else
                                      run(c, shas[name], batch, spec, n, name == "batch"))
            for name, rs in runs.items():
                phases = {p: round(statistics.median(r[p] for r in rs) * 1e6 / n, 2) for p in rs[0]}
                phases["total"] = round(sum(phases.values()), 2)
                res["%s_b%d_spec%d_us_per_job" % (name, batch, spec_len)] = phases
    print(json.dumps(res))
finally:
    srv.terminate()
    srv.wait()
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)
