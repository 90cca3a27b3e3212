#!/usr/bin/env python3
"""N webhook receivers on 127.0.0.1 served by one nginx process (Debian's nginx-light).

Why nginx: the issue puts the receivers on the server's machine, so every CPU microsecond a
receiver spends is taken from the reads the bench measures. nginx answers a webhook (read the
request, discard the body, 204, one access-log line into a 64 KB buffer) for a fraction of
the asyncio receivers' cost (bench/receivers.py, still there: `--receivers python`). What is
left of the delivering window's loss is then the server's own.

The access log holds `port webhook-id receipt-time` per request; `webhook-id` is
`msg_{subscription}_{seq}`, so the seq and, with the feed's `occurred_at`, the latency follow.
"""
import os
import socket
import subprocess
import tempfile
import time

CONF = """worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    log_format hook '$server_port $http_webhook_id $msec';
    client_body_temp_path {dir}/body;
    keepalive_timeout 600s;
    keepalive_requests 10000000;
{servers}
}}
"""
SERVER = """    server {{
        listen 127.0.0.1:{port};
        access_log {log} hook buffer=64k flush=100ms;
        location / {{ return 204; }}
    }}"""


def free_ports(n):
    """Ports the kernel hands out now; bound by nginx a moment later."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start(n, log_path):
    """(process, ports): nginx in the foreground, one process, serving n receivers."""
    d = tempfile.mkdtemp(prefix="webhook-nginx.")
    ports = free_ports(n)
    servers = "\n".join(SERVER.format(port=p, log=log_path) for p in ports)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(dir=d, servers=servers))
    proc = subprocess.Popen(["nginx", "-p", d, "-e", os.path.join(d, "error.log"), "-c", conf,
                             "-g", "daemon off; master_process off;"],
                            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("nginx did not start: " + open(os.path.join(d, "error.log")).read())
        try:
            for p in ports:
                socket.create_connection(("127.0.0.1", p), timeout=1).close()
            return proc, ports
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("nginx did not listen within 10 s")
