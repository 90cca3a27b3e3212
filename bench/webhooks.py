#!/usr/bin/env python3
"""Webhook delivery under load: N receivers on 127.0.0.1, one subscription each, a steady
stream of committed changes; reports commit → receipt latency (p50/p99), lost and duplicated.

Usage: bench/webhooks.py API_BASE TOKEN [--subscriptions 10] [--rate 100] [--duration 30]
The server must run with PORTFOLIO_WEBHOOK_ALLOW_LOCAL=1 (receivers are local).
With --subscriptions 0 it only makes the changes (the same write load, nothing delivered):
bench/run.sh --webhooks compares a read's throughput alone, under the changes, and under the
changes with delivery.
Latency is measured from the event's `occurred_at` (taken in the writing transaction, just
before commit) to the receiver reading the request; same machine, same clock.
"""
import argparse
import datetime
import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("base")
p.add_argument("token")
p.add_argument("--subscriptions", type=int, default=10)
p.add_argument("--rate", type=int, default=100)
p.add_argument("--duration", type=int, default=30)
a = p.parse_args()

received = {}  # receiver index -> list of (seq, latency_s)
lock = threading.Lock()


def receiver(index):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            now = time.time()
            ev = json.loads(body)
            occurred = datetime.datetime.fromisoformat(ev["occurred_at"].replace("Z", "+00:00")).timestamp()
            with lock:
                received.setdefault(index, []).append((ev["seq"], now - occurred))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def request(method, path, body=None, headers=None):
    req = urllib.request.Request(a.base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + a.token, "Content-Type": "application/json",
                                          **(headers or {})})
    return urllib.request.urlopen(req, timeout=30)


def call(method, path, body=None):
    with request(method, path, body) as r:
        return json.loads(r.read() or b"null")


def delete(path):
    """Deletes need the representation's ETag (lost-update protection)."""
    with request("GET", path) as r:
        etag = r.headers["ETag"]
    request("DELETE", path, headers={"If-Match": etag}).close()


servers = [receiver(i) for i in range(a.subscriptions)]
subs = [call("POST", "/api/v1/webhook-subscriptions",
             {"url": f"http://127.0.0.1:{s.server_address[1]}/hook", "entity_types": ["service_area"],
              "description": f"bench {i}"}) for i, s in enumerate(servers)]
start_seq = min((s["delivered_seq"] for s in subs), default=0)

run = int(time.time())
total = a.rate * a.duration


def change(i):
    call("POST", "/api/v1/service-areas", {"year": 2030 + (i % 60), "name": f"bench {run} {i}", "kind": "clinical"})


t0 = time.time()
with ThreadPoolExecutor(max_workers=8) as pool:
    for i in range(total):
        delay = t0 + i / a.rate - time.time()
        if delay > 0:
            time.sleep(delay)
        pool.submit(change, i)
elapsed = time.time() - t0

if not subs:
    print(json.dumps({"changes": total, "achieved_rate": round(total / elapsed, 1), "deliveries": 0,
                      "p50_ms": None, "p99_ms": None, "lost": 0, "duplicated": 0}))
    raise SystemExit(0)

# The events that must arrive: the feed after the subscriptions were made.
expected = []
after = start_seq
while True:
    page = call("GET", f"/api/v1/events?after={after}&limit=1000&entity_type=service_area")
    expected += [e["seq"] for e in page["items"]]
    if not page["items"]:
        break
    after = page["next_after"]
expected = set(expected)

deadline = time.time() + 60
while time.time() < deadline:
    with lock:
        done = all(expected <= {s for s, _ in received.get(i, [])} for i in range(a.subscriptions))
    if done:
        break
    time.sleep(0.2)
time.sleep(1)

lat, lost, dup = [], 0, 0
with lock:
    for i in range(a.subscriptions):
        got = received.get(i, [])
        seqs = [s for s, _ in got]
        lost += len(expected - set(seqs))
        dup += len(seqs) - len(set(seqs))
        lat += [l for s, l in got if s in expected]
lat.sort()


def pct(q):
    return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")


for s in subs:
    delete(f"/api/v1/webhook-subscriptions/{s['id']}")
print(json.dumps({"changes": len(expected), "achieved_rate": round(len(expected) / elapsed, 1),
                  "deliveries": len(lat), "p50_ms": round(pct(0.5), 1), "p99_ms": round(pct(0.99), 1),
                  "lost": lost, "duplicated": dup}))
