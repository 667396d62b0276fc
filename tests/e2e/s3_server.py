#!/usr/bin/env python3
"""A small S3-speaking server for the e2e tests (no S3-compatible server is
installed here): HTTPS on loopback, objects in memory, every request checked
with AWS Signature Version 4, written here from AWS's documentation and
independent of dispatchd's C:
  - PUT with an `Authorization: AWS4-HMAC-SHA256 ...` header (libcurl's
    CURLOPT_AWS_SIGV4, the log store's writes);
  - GET with X-Amz-* query parameters (a presigned URL), refused once
    X-Amz-Date + X-Amz-Expires has passed.
Anything unsigned or wrongly signed gets 403. Each request appends a JSON
line to LOG (method, path, ok, why). PUT_DELAY_SRC seconds (env) hold each
PUT of an inline source archive (src-*) before it is answered: a slow store.

usage: s3_server.py PORT CERT_KEY_PEM ACCESS_KEY SECRET REGION LOG"""
import datetime
import hashlib
import hmac
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, pem, access_key, secret, region, log_path = sys.argv[1:7]
port = int(port)
objects = {}
lock = threading.Lock()
put_delay = float(os.environ.get("PUT_DELAY_SRC", "0"))


def enc(s, keep_slash):
    return urllib.parse.quote(s, safe="/-_.~" if keep_slash else "-_.~")


def signing_key(day):
    k = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def signature(method, path, query_pairs, headers, signed, payload_hash, amz_date, scope):
    cq = "&".join(f"{enc(k, False)}={enc(v, False)}" for k, v in sorted(query_pairs))
    ch = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    creq = "\n".join([method, enc(urllib.parse.unquote(path), True), cq, ch, ";".join(signed),
                      payload_hash])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
    day = scope.split("/")[0]
    return hmac.new(signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body=b"", ok=True, why=""):
        with lock, open(log_path, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path.split("?")[0],
                                "ok": ok, "why": why, "code": code}) + "\n")
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def headers_lower(self):
        return {k.lower(): v for k, v in self.headers.items()}

    def check_header_auth(self, body):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "no SigV4 Authorization header"
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        key, scope = parts["Credential"].split("/", 1)
        if key != access_key or scope.split("/")[1:] != [region, "s3", "aws4_request"]:
            return f"credential {parts['Credential']}"
        h = self.headers_lower()
        payload = h.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
        if payload not in ("UNSIGNED-PAYLOAD", hashlib.sha256(body).hexdigest()):
            return "x-amz-content-sha256 does not match the body"
        url = urllib.parse.urlsplit(self.path)
        want = signature(self.command, url.path, urllib.parse.parse_qsl(url.query, True), h,
                         parts["SignedHeaders"].split(";"), payload, h.get("x-amz-date", ""),
                         scope)
        return "" if hmac.compare_digest(want, parts["Signature"]) else "signature mismatch"

    def check_presigned(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qsl(url.query, True)
        d = dict(q)
        if d.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-Signature" not in d:
            return "not presigned"
        key, scope = d["X-Amz-Credential"].split("/", 1)
        if key != access_key or scope.split("/")[1:] != [region, "s3", "aws4_request"]:
            return f"credential {d['X-Amz-Credential']}"
        signed = d["X-Amz-SignedHeaders"].split(";")
        want = signature("GET", url.path, [(k, v) for k, v in q if k != "X-Amz-Signature"],
                         self.headers_lower(), signed, "UNSIGNED-PAYLOAD", d["X-Amz-Date"], scope)
        if not hmac.compare_digest(want, d["X-Amz-Signature"]):
            return "signature mismatch"
        t0 = datetime.datetime.strptime(d["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        if time.time() > t0 + int(d["X-Amz-Expires"]):
            return "expired"
        return ""

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        why = self.check_header_auth(body)
        if why:
            return self.answer(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", False, why)
        if "/src-" in self.path and put_delay > 0:
            with lock, open(log_path, "a") as f:  # the test times what happens meanwhile
                f.write(json.dumps({"method": "PUT-HELD", "path": self.path}) + "\n")
            time.sleep(put_delay)
        with lock:
            objects[urllib.parse.urlsplit(self.path).path] = body
        self.answer(200)

    def do_GET(self):
        why = self.check_presigned()
        if why:
            return self.answer(403, b"<Error><Code>AccessDenied</Code></Error>", False, why)
        with lock:
            body = objects.get(urllib.parse.urlsplit(self.path).path)
        if body is None:
            return self.answer(404, b"<Error><Code>NoSuchKey</Code></Error>", False, "no such key")
        self.answer(200, body)


ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(pem)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
