#!/usr/bin/env python3
"""A callback receiver for e2e_callback.sh: answers each POST as the next
word of its script says (a status such as 500 or 200, or `hang`: keep the
request open for 5 s, longer than the sender's timeout, then answer 200),
the last word repeating. It verifies X-Dispatch-Signature itself (Python's
hmac, independent of dispatchd's C) and appends one JSON line per request to
the log: delivery id, job id, signature ok, the body's job_id and callback,
what it answered.

usage: callback_receiver.py PORT SECRET SCRIPT LOG   (SCRIPT: 500,hang,200)"""
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, secret, script, log_path = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].split(","), sys.argv[4]
lock = threading.Lock()
count = [0]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Dispatch-Signature", "")
        with lock:
            n = count[0]
            count[0] += 1
        action = script[min(n, len(script) - 1)]
        try:
            job = json.loads(body)
        except ValueError:
            job = {}
        entry = {"n": n, "t": time.time(), "delivery": self.headers.get("X-Dispatch-Delivery"),
                 "job": self.headers.get("X-Dispatch-Job"), "sig_ok": hmac.compare_digest(want, got),
                 "body_job_id": job.get("job_id"), "state": job.get("state"),
                 "finished_at": job.get("finished_at"),
                 "callback": job.get("callback"), "action": action,
                 "type": self.headers.get("Content-Type")}
        with lock, open(log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        if action == "hang":
            time.sleep(5)
            action = "200"
        try:
            self.send_response(int(action))
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the sender gave up


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
