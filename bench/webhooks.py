#!/usr/bin/env python3
"""Webhook delivery under load: N receivers on 127.0.0.1, one subscription each, a steady
stream of committed changes; reports commit → receipt latency (p50/p99), lost and duplicated.

Usage: bench/webhooks.py API_BASE TOKEN [--subscriptions 10] [--rate 100] [--duration 30]
The server must run with PORTFOLIO_WEBHOOK_ALLOW_LOCAL=1 (receivers are local).
With --subscriptions 0 it only makes the changes (the same write load, nothing delivered):
bench/run.sh --webhooks compares a read's throughput alone, under the changes, and under the
changes with delivery. With --subscriptions 0 --control-receivers 10 it also starts ten
receivers and feeds them the delivery's request rate from a plain sender (bench/receivers.py):
the control run, which shows what the reads lose to the receivers rather than to the server.
The receivers are one nginx process (bench/nginx_receivers.py; `--receivers python`: one lean
asyncio process, bench/receivers.py); --pids FILE names it (and the sender) so that
bench/cpu.py can charge their CPU to them.
Latency is measured from the event's `occurred_at` (taken in the writing transaction, just
before commit, as the feed shows it) to the receiver reading the request; same machine, same
clock.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

p = argparse.ArgumentParser()
p.add_argument("base")
p.add_argument("token")
p.add_argument("--subscriptions", type=int, default=10)
p.add_argument("--rate", type=int, default=100)
p.add_argument("--duration", type=int, default=30)
p.add_argument("--control-receivers", type=int, default=0,
               help="with --subscriptions 0: start this many receivers and feed them rate × this many "
                    "requests/s from a plain sender (bench/receivers.py send) instead of the server")
p.add_argument("--receivers", choices=["nginx", "python"], default="nginx",
               help="what serves the receivers: one nginx process, or one asyncio process")
p.add_argument("--pids", help="write the receivers' (and sender's) process ids to this file")
a = p.parse_args()

HERE = os.path.dirname(os.path.abspath(__file__))
# The receivers run in a process of their own (bench/receivers.py), so their CPU is measured
# apart from this script's and the server's.
receivers_n = a.subscriptions or a.control_receivers
log_path = tempfile.mktemp(prefix="webhook-receipts.")
receivers, ports = None, []
if receivers_n and a.receivers == "nginx":
    sys.path.insert(0, HERE)
    import nginx_receivers
    receivers, ports = nginx_receivers.start(receivers_n, log_path)
elif receivers_n:
    receivers = subprocess.Popen([sys.executable, os.path.join(HERE, "receivers.py"), "serve", str(receivers_n), log_path],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ports = json.loads(receivers.stdout.readline())
children = [receivers] if receivers else []
index_of_port = {str(p): i for i, p in enumerate(ports)}


def received():
    """receiver index -> list of (seq, receipt time), as logged so far. The nginx log says
    `port webhook-id time` (the seq ends the webhook-id), the asyncio one `index seq time`."""
    got = {}
    try:
        with open(log_path) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 3:
                    continue
                if a.receivers == "nginx":
                    if parts[0] in index_of_port and parts[1].startswith("msg_"):
                        got.setdefault(index_of_port[parts[0]], []).append(
                            (int(parts[1].rsplit("_", 1)[1]), float(parts[2])))
                else:
                    got.setdefault(int(parts[0]), []).append((int(parts[1]), float(parts[2])))
    except FileNotFoundError:
        pass
    return got


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


subs = [call("POST", "/api/v1/webhook-subscriptions",
             {"url": f"http://127.0.0.1:{port}/hook", "entity_types": ["service_area"],
              "description": f"bench {i}"}) for i, port in enumerate(ports[:a.subscriptions])]
if a.control_receivers and not subs:
    children.append(subprocess.Popen([sys.executable, os.path.join(HERE, "receivers.py"), "send",
                                      str(a.rate * a.control_receivers)] + [str(p) for p in ports],
                                     stdin=subprocess.PIPE))
if a.pids:
    with open(a.pids, "w") as f:
        f.write(" ".join(str(c.pid) for c in children) + "\n")


def stop_children():
    for c in reversed(children):  # the sender before the receivers it sends to
        if c.stdin:
            c.stdin.close()
        else:
            c.terminate()  # nginx
        c.wait()
    try:
        os.unlink(log_path)
    except FileNotFoundError:
        pass

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
    stop_children()
    print(json.dumps({"changes": total, "achieved_rate": round(total / elapsed, 1), "deliveries": 0,
                      "p50_ms": None, "p99_ms": None, "lost": 0, "duplicated": 0}))
    raise SystemExit(0)

# The events that must arrive: the feed after the subscriptions were made.
occurred = {}
after = start_seq
while True:
    page = call("GET", f"/api/v1/events?after={after}&limit=1000&entity_type=service_area")
    for e in page["items"]:
        occurred[e["seq"]] = datetime.datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")).timestamp()
    if not page["items"]:
        break
    after = page["next_after"]
expected = set(occurred)

deadline = time.time() + 60
while time.time() < deadline:
    got = received()
    if all(expected <= {s for s, _ in got.get(i, [])} for i in range(a.subscriptions)):
        break
    time.sleep(0.2)
time.sleep(1)

lat, lost, dup = [], 0, 0
all_got = received()
stop_children()
for i in range(a.subscriptions):
    got = all_got.get(i, [])
    seqs = [s for s, _ in got]
    lost += len(expected - set(seqs))
    dup += len(seqs) - len(set(seqs))
    lat += [t - occurred[s] for s, t in got if s in expected]
lat.sort()


def pct(q):
    return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")


for s in subs:
    delete(f"/api/v1/webhook-subscriptions/{s['id']}")
print(json.dumps({"changes": len(expected), "achieved_rate": round(len(expected) / elapsed, 1),
                  "deliveries": len(lat), "p50_ms": round(pct(0.5), 1), "p99_ms": round(pct(0.99), 1),
                  "lost": lost, "duplicated": dup}))
