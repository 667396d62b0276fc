#!/usr/bin/env python3
"""Regenerates the committed seed corpora in fuzz/seeds/fuzz_<target>/.

Deterministic (fixed zip timestamps), so rerunning it gives the same bytes.
Crashing inputs that a fuzzer found are added by hand next to these as
fuzz/seeds/fuzz_<target>/crash-<what>; this script leaves them alone.
Run from anywhere: python3 fuzz/make_seeds.py
"""
import io
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
T0 = (2024, 1, 1, 0, 0, 0)


def put(target, name, data):
    d = os.path.join(SEEDS, "fuzz_" + target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED):
    """entries: (name, data, unix mode or None)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data, mode in entries:
            zi = zipfile.ZipInfo(name, T0)
            zi.compress_type = compression
            if mode is not None:
                zi.create_system = 3  # unix: the mode sits in external_attr >> 16
                zi.external_attr = mode << 16
            z.writestr(zi, data)
    return buf.getvalue()


def extract_seeds():
    for ex in sorted(os.listdir(os.path.join(ROOT, "examples"))):
        files = os.path.join(ROOT, "examples", ex, "files")
        if not os.path.isdir(files):
            continue
        entries = []
        for name in sorted(os.listdir(files)):
            with open(os.path.join(files, name), "rb") as f:
                entries.append((name, f.read(), stat.S_IFREG | 0o644))
        put("extract", "example-" + ex + ".zip", zip_bytes(entries))
    reg, dirm = stat.S_IFREG | 0o644, stat.S_IFDIR | 0o755
    put("extract", "nested-dirs.zip", zip_bytes([
        ("src/", b"", dirm), ("src/lib/", b"", dirm),
        ("src/lib/util.c", b"int util(void) { return 1; }\n", reg),
        ("src/main.c", b"int main(void) { return 0; }\n", reg),
        ("tests/data/in.txt", b"1 2\n", reg),
        ("run.sh", b"#!/bin/sh\n./main\n", stat.S_IFREG | 0o755)]))
    put("extract", "stored.zip", zip_bytes([("a.txt", b"hello\n", reg), ("b/c.txt", b"x" * 300, reg)],
                                           zipfile.ZIP_STORED))
    put("extract", "zip-slip.zip", zip_bytes([("ok.txt", b"fine\n", reg),
                                              ("../evil.txt", b"escaped\n", reg)]))
    put("extract", "zip-slip-deep.zip", zip_bytes([("a/b/../../../evil.txt", b"escaped\n", reg)]))
    put("extract", "absolute.zip", zip_bytes([("/tmp/evil.txt", b"abs\n", reg)]))
    put("extract", "symlink.zip", zip_bytes([("link", b"/etc/passwd", stat.S_IFLNK | 0o777),
                                             ("link/x", b"through the link\n", reg)]))
    put("extract", "device.zip", zip_bytes([("dev", b"", stat.S_IFCHR | 0o644)]))
    put("extract", "fifo.zip", zip_bytes([("pipe", b"", stat.S_IFIFO | 0o644)]))
    put("extract", "backslash.zip", zip_bytes([("..\\evil.txt", b"x\n", reg)]))
    put("extract", "duplicate.zip", zip_bytes([("a.txt", b"1\n", reg), ("a.txt", b"2\n", reg)]))
    put("extract", "file-then-dir.zip", zip_bytes([("a", b"file\n", reg), ("a/b", b"under\n", reg)]))
    put("extract", "setuid.zip", zip_bytes([("suid", b"#!/bin/sh\n", stat.S_IFREG | 0o4755)]))
    put("extract", "dos-attrs.zip", zip_bytes([("dos.txt", b"dos\r\n", None)]))
    put("extract", "big-deflate.zip", zip_bytes([("zeros", b"\0" * 200000, reg)]))
    put("extract", "empty.zip", zip_bytes([]))


def entries(recs):
    """fuzz_extract_entries input: (flags, mode, name, data) records."""
    out = b""
    for flags, mode, name, data in recs:
        name = name.encode() if isinstance(name, str) else name
        out += bytes([flags]) + (mode & 0xFFFF).to_bytes(2, "little") + bytes([len(name)]) + name
        out += len(data).to_bytes(2, "little") + data
    return out


def extract_entries_seeds():
    reg, exe, dirm = stat.S_IFREG | 0o644, stat.S_IFREG | 0o755, stat.S_IFDIR | 0o755
    DEFL, DOS, DIR = 1, 2, 4
    put("extract_entries", "nested.bin", entries([
        (DIR, dirm, "src/", b""), (DEFL, reg, "src/lib/util.c", b"int util(void);\n" * 4),
        (0, exe, "run.sh", b"#!/bin/sh\n"), (DEFL, reg, "a/b/c/d/e.txt", b"deep\n")]))
    put("extract_entries", "zip-slip.bin", entries([(0, reg, "ok", b"1"), (0, reg, "../evil", b"x"),
                                                     (0, reg, "a/../../evil", b"x")]))
    put("extract_entries", "absolute.bin", entries([(0, reg, "/tmp/evil", b"x")]))
    put("extract_entries", "symlink.bin", entries([(0, stat.S_IFLNK | 0o777, "link", b"/etc"),
                                                    (0, reg, "link/passwd", b"x")]))
    put("extract_entries", "special.bin", entries([(0, stat.S_IFCHR | 0o600, "c", b""),
                                                    (0, stat.S_IFBLK | 0o600, "b", b""),
                                                    (0, stat.S_IFIFO | 0o600, "p", b""),
                                                    (0, stat.S_IFSOCK | 0o600, "s", b""),
                                                    (0, stat.S_IFREG | 0o6777, "suid", b"x")]))
    put("extract_entries", "dos.bin", entries([(DOS, 0x10, "dir", b""), (DOS | DEFL, 0x20, "f.txt", b"a\r\n")]))
    put("extract_entries", "dots.bin", entries([(0, reg, "./a", b"1"), (0, reg, ".", b""),
                                                 (0, reg, "a//b", b""), (0, reg, "x\\y", b""),
                                                 (0, reg, "c:x", b""), (DIR, dirm, "d/", b"")]))
    put("extract_entries", "file-dir-clash.bin", entries([(0, reg, "a", b"file"), (0, reg, "a/b", b"x"),
                                                           (DIR, dirm, "d", b""), (0, reg, "d", b"x")]))


def profile_seeds():
    pits = os.path.join(ROOT, "pits")
    for name in sorted(os.listdir(pits)):
        if name.endswith(".json"):
            with open(os.path.join(pits, name), "rb") as f:
                put("profile", "pit-" + name, f.read())
    lim = {"time_ms": 2000, "wall_ms": 5000, "memory_kb": 262144, "processes": 16, "output_kb": 1024}
    put("profile", "junit.json", json.dumps({
        "language": "java", "requiredFiles": ["src/Main.java"],
        "setupCommands": [["javac", "-d", "out", "src/Main.java"]],
        "testCommand": "java -cp out Tests", "environment": {"LANG": "C.UTF-8", "X": ""},
        "maxTimeoutMs": 60000, "limits": lim, "setupLimits": lim, "compare": "lines",
        "testFormat": "junit", "junitFile": "reports/TEST.xml", "network": False,
        "description": "junit report"}, indent=1))
    put("profile", "tap.json", json.dumps({
        "language": "sh", "testCommand": ["./t.sh", "-v"], "maxTimeoutMs": 1000,
        "limits": lim, "testFormat": "tap"}))


def job_spec_seeds():
    specs = []
    for ex in sorted(os.listdir(os.path.join(ROOT, "examples"))):
        p = os.path.join(ROOT, "examples", ex, "job.json")
        if not os.path.isfile(p):
            continue
        with open(p) as f:
            text = f.read().replace("ARCHIVE_URL", "file:///srv/dispatch/" + ex + ".zip")
        put("job_spec", "example-" + ex + ".json", text)
        specs.append(json.loads(text))
    put("job_spec", "batch.json", json.dumps(specs[:3]))
    put("job_spec", "full.json", json.dumps({
        "job_id": "j-0001", "profile": "c", "archive": "https://example.com/s.zip",
        "archive_sha256": "A" * 64, "submission_id": "s 1",
        "tests": [{"name": "t", "stdin": "1\n", "expected_stdout": "1\n", "timeout_ms": 1000,
                   "compare": "lines"}, {"stdin": "\u00e9\n"}, {"compare": "exact"}],
        "limits": {"time_ms": 1000, "wall_ms": 2000, "memory_kb": 65536, "processes": 8,
                   "output_kb": 64}, "max_attempts": 100}))


UNITTEST_PASS = """test_add (test_calc.TestCalc.test_add) ... ok
test_div (test_calc.TestCalc.test_div)
Division of two numbers. ... ok
test_skip (test_calc.TestCalc.test_skip) ... skipped 'not today'
test_xfail (test_calc.TestCalc.test_xfail) ... expected failure

----------------------------------------------------------------------
Ran 4 tests in 0.001s

OK (skipped=1, expected failures=1)
"""

TAP = """TAP version 13
1..6
ok 1 - add works
not ok 2 - div by zero
  ---
  message: 'expected 0, got ZeroDivisionError'
  ...
ok 3 # SKIP no network
not ok 4 - flaky # TODO fix later
ok 5
ok - unnumbered
Bail out! database gone
"""

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.05">
<testcase classname="tests.test_calc" name="test_add" time="0.001"/>
<testcase classname="tests.test_calc" name="test_div[a&amp;b]" time="0.001"><failure message="assert 3 == 3.5">def test_div():
&gt;       assert calc.div(7, 2) == 3.5
E       assert 3 == 3.5</failure></testcase>
<testcase classname='tests.test_io' name='test_open' time="0.002"><error message="FileNotFoundError"/></testcase>
<testcase classname="tests.test_calc" name="test_skip" time="0"><skipped message="later"/></testcase>
<testcase name="no_class"></testcase>
</testsuite></testsuites>
"""


def parse_seeds():
    put("parse", "unittest-pass.txt", UNITTEST_PASS)
    put("parse", "tap.txt", TAP)
    put("parse", "junit.xml", JUNIT)
    put("parse", "tap-crlf.txt", TAP.replace("\n", "\r\n"))
    # the real output of the two unittest examples
    for ex in ("unittest-fail", "unittest-pass"):
        with tempfile.TemporaryDirectory() as d:
            files = os.path.join(ROOT, "examples", ex, "files")
            r = subprocess.run([sys.executable, "-m", "unittest", "-v"], cwd=files,
                               capture_output=True, env={"PYTHONDONTWRITEBYTECODE": "1",
                                                         "PATH": os.environ.get("PATH", "")})
            # the run time varies: pin it so the seed stays the same bytes
            out = re.sub(rb"(Ran \d+ tests? in )[0-9.]+s", rb"\g<1>0.001s", r.stderr)
            put("parse", "example-" + ex + ".txt", out)
            del d


def compare_seeds():
    # byte 0: excerpt cap; byte 1: split point (fraction of the rest / 255)
    put("compare", "equal.bin", b"\x40\x80" + b"5\n" + b"5\n")
    put("compare", "trailing-blanks.bin", b"\x10\x80" + b"a b\nc\n" + b"a b \r\nc\t\n\n")
    put("compare", "differ.bin", b"\x08\x80" + b"-3\n" + b"-4\n")
    put("compare", "utf8.bin", b"\x06\x80" + "h\u00e9llo \u20ac\n".encode() + b"h\xc3llo \xe2\x82\n\0")
    put("compare", "long.bin", b"\x20\x10" + b"x\n" + b"".join(b"line %d\n" % i for i in range(40)))


def stream_frames_seeds():
    # byte 0: bit 7 = a greeting first, bits 0-6 + 1 = body limit; byte 1:
    # read sizes; then u32 BE length + u32 BE call id + body per frame
    def frame(cid, body):
        return len(body).to_bytes(4, "big") + cid.to_bytes(4, "big") + body
    calls = frame(1, b"\x01call") + frame(2, b"\x02one-way") + frame(0xFFFFFFFF, b"\x00")
    put("stream_frames", "frames.bin", b"\x3f\x07" + calls)
    put("stream_frames", "greeted.bin", b"\xbf\x01" + b"DPACTOR1" + calls)
    put("stream_frames", "partial.bin", b"\x3f\x33" + calls + frame(3, b"\x01abcdef")[:11])
    put("stream_frames", "zero-length.bin", b"\x3f\x00" + frame(1, b"\x01a") + bytes(8))
    put("stream_frames", "over-limit.bin", b"\x03\x05" + frame(1, b"\x01ab") + frame(2, b"\x01abcd"))
    put("stream_frames", "at-limit.bin", b"\x7f\x99" + frame(9, bytes(128)) + frame(10, b"\x01"))


if __name__ == "__main__":
    extract_seeds()
    extract_entries_seeds()
    profile_seeds()
    job_spec_seeds()
    parse_seeds()
    compare_seeds()
    stream_frames_seeds()
