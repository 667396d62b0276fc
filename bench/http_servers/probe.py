import socket, sys, time, os, resource
port, pid = int(sys.argv[1]), int(sys.argv[2])
def threads(): return len(os.listdir(f"/proc/{pid}/task"))
def rss(): return int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1])
res = {}
# slowloris: unfinished headers, how long until the server closes?
s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n")
s.settimeout(20); t0 = time.time()
try: d = s.recv(100); res["slow_headers_closed_after_s"] = round(time.time()-t0,1)
except socket.timeout: res["slow_headers_closed_after_s"] = "still open after 20"
# oversized body: Content-Length 100 MB, nothing sent
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
s.settimeout(5)
try: res["oversized_body_answer"] = s.recv(200).decode().split("\r\n")[0]
except socket.timeout: res["oversized_body_answer"] = "no answer in 5 s (waits for the body)"
# 1000 held requests
t0, r0 = threads(), rss(); socks = []
for i in range(1000):
    c = socket.create_connection(("127.0.0.1", port)); c.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"); socks.append(c)
time.sleep(2)
res["threads_before"], res["threads_with_1000_held"] = t0, threads()
res["rss_kb_per_held"] = round((rss()-r0)/1000, 1)
import json; print(json.dumps(res))
