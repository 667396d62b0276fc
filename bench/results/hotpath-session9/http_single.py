"""http_single.py URL KEY TOTAL CONC: TOTAL single-spec POST /api/v1/jobs
from CONC keep-alive client threads; prints jobs/s (cpu-http.sh)."""
import http.client, json, sys, threading, time
from urllib.parse import urlparse
url, key, total, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
u = urlparse(url)
HDR = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
SPEC = json.dumps({"profile": "shell", "archive": "file:///nonexistent/noop.zip"})
per = total // conc
def worker():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    for _ in range(per):
        c.request("POST", "/api/v1/jobs", SPEC, HDR); r = c.getresponse(); r.read()
        assert r.status == 201
ts = [threading.Thread(target=worker) for _ in range(conc)]
t0 = time.perf_counter()
[t.start() for t in ts]; [t.join() for t in ts]
print(round(per * conc / (time.perf_counter() - t0), 1))
