#!/usr/bin/env python3
"""A runner written against the HTTP runner protocol (docs/api.md, "Runners
over HTTP") with the standard library only: what a runner in any language
does. It does not sandbox anything: it "runs" a job by reading its tests and
answering each with its expected output (AC), or with a wrong output (WA)
when the job's archive holds a file `answer` whose text is `wrong`.

  mock_runner.py URL register NAME [SLOTS]    prints the registration JSON
  mock_runner.py URL serve RUNNER N [WAIT]   heartbeats in the background,
        long-polls next-job, fetches each archive, completes N jobs; prints
        one line per job: "JOB ATTEMPT VERDICT EPOCH_MS" (when next-job answered)
  mock_runner.py URL lease RUNNER [WAIT]     leases one job and prints
        "JOB ATTEMPT EPOCH_MS" (its last heartbeat's time), then exits: it
        holds the lease and never heart-beats again
  mock_runner.py URL complete ID TOKEN JOB ATTEMPT VERDICT   prints the status

RUNNER is "ID TOKEN" (two arguments) of a registered runner, or "new NAME":
register first, in this process (printed first: "runner ID TOKEN"), so no
process start-up on a loaded machine comes between registering and the first
heartbeat.

Registration token: DISPATCH_REGISTRATION_TOKEN. Exit 0 unless a request
failed in a way the protocol does not describe.
"""
import hashlib
import io
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile


def call(base, method, path, token=None, body=None, timeout=60):
    """(status, parsed JSON or None) of one request."""
    headers = {}
    data = None
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            raw = res.read()
            status = res.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    return status, (json.loads(raw) if raw.strip() else None)


def register(base, name, slots=1):
    status, reg = call(base, "POST", "/api/v1/runners/register", body={
        "registration_token": os.environ["DISPATCH_REGISTRATION_TOKEN"],
        "name": name, "labels": ["mock", "python"], "profiles": ["shell", "python3"],
        "slots": slots, "version": "mock-1"})
    if status != 201:
        sys.exit(f"register: {status} {reg}")
    return reg


def heartbeat(base, rid, token):
    status, _ = call(base, "POST", f"/api/v1/runners/{rid}/heartbeat", token, timeout=10)
    return status


def next_job(base, rid, token, wait, request_id):
    # The same request_id until this request is answered: a retry after a
    # lost answer gets the same job instead of stranding it.
    path = f"/api/v1/runners/{rid}/next-job?wait={wait}&request_id={request_id}"
    return call(base, "GET", path, token, timeout=wait + 30)


def fetch_archive(job):
    with urllib.request.urlopen(job["archive_url"], timeout=30) as res:
        data = res.read()
    want = job.get("archive_sha256")
    if want is not None and hashlib.sha256(data).hexdigest() != want:
        raise RuntimeError(f"{job['job_id']}: archive sha256 differs")
    return zipfile.ZipFile(io.BytesIO(data))


def run(job):
    """The result body: every test answered (right or wrong)."""
    z = fetch_archive(job)
    wrong = "answer" in z.namelist() and z.read("answer").decode().strip() == "wrong"
    tests = []
    for i, t in enumerate(job["spec"].get("tests", [])):
        expected = t.get("expected_stdout", "")
        out = "not " + expected if wrong else expected
        tests.append({"name": t.get("name", f"test {i + 1}"), "verdict": "WA" if wrong else "AC",
                      "exit_code": 0, "time_ms": 1, "wall_ms": 2, "memory_kb": 1024,
                      "stdout": out, "stderr": ""})
    verdict = "WA" if wrong else "AC"
    log = f"mock runner: {len(tests)} tests from {len(z.namelist())} files, {verdict}\n"
    return {"attempt": job["attempt"], "verdict": verdict, "tests": tests, "log": log,
            "message": "wrong answer" if wrong else None}


def runner(base, args):
    """(id, token, rest of args) from "ID TOKEN ..." or "new NAME ..."."""
    if args[0] == "new":
        reg = register(base, args[1])
        print("runner", reg["runner_id"], reg["runner_token"], flush=True)
        return reg["runner_id"], reg["runner_token"], args[2:]
    return args[0], args[1], args[2:]


def serve(base, rid, token, n, wait):
    reg_hb = float(os.environ.get("MOCK_HEARTBEAT_S", "0.5"))
    stop = threading.Event()
    if heartbeat(base, rid, token) != 204:
        sys.exit("heartbeat refused")

    def beat():
        while not stop.wait(reg_hb):
            if heartbeat(base, rid, token) != 204:
                print("heartbeat refused", file=sys.stderr)

    threading.Thread(target=beat, daemon=True).start()
    done = 0
    seq = 0
    while done < n:
        seq += 1
        status, job = next_job(base, rid, token, wait, f"{rid}-{seq}")
        got_ms = int(time.time() * 1000)
        if status == 204:
            continue
        if status != 200:
            sys.exit(f"next-job: {status} {job}")
        result = run(job)
        status, body = call(base, "PUT", f"/api/v1/runners/{rid}/jobs/{job['job_id']}/complete",
                            token, body=result)
        if status != 204:
            sys.exit(f"complete {job['job_id']}: {status} {body}")
        print(job["job_id"], job["attempt"], result["verdict"], got_ms, flush=True)
        done += 1
    stop.set()


def main():
    base, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "register":
        print(json.dumps(register(base, args[0], int(args[1]) if len(args) > 1 else 1)))
    elif cmd == "serve":
        rid, token, rest = runner(base, args)
        serve(base, rid, token, int(rest[0]), int(rest[1]) if len(rest) > 1 else 5)
    elif cmd == "lease":
        rid, token, rest = runner(base, args)
        wait = int(rest[0]) if rest else 1
        while True:
            hb = heartbeat(base, rid, token)
            if hb != 204:
                sys.exit(f"heartbeat refused: {hb}")
            last = time.time()
            status, job = next_job(base, rid, token, wait, rid + "-hold")
            if status == 200:
                break
            if status != 204:
                sys.exit(f"next-job: {status} {job}")
        print(job["job_id"], job["attempt"], int(last * 1000), flush=True)
    elif cmd == "complete":
        rid, token, job, attempt, verdict = args
        status, body = call(base, "PUT", f"/api/v1/runners/{rid}/jobs/{job}/complete", token,
                            body={"attempt": int(attempt), "verdict": verdict})
        print(status, json.dumps(body) if body else "")
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
