#!/usr/bin/env python3
"""Lean webhook receivers for the bench, and a plain sender to compare them against.

    receivers.py serve N LOG   N receivers on 127.0.0.1 (one asyncio process); prints their
                               ports as one JSON line, then appends "index seq receipt_time" per
                               request to LOG (flushed every 100 ms) until stdin closes.
    receivers.py send RATE PORTS...   POSTs a feed-event-sized body to PORTS in turn, RATE
                               requests/s in all (one keep-alive connection per port), until
                               stdin closes: the same requests the server's delivery worker
                               makes, from a plain load generator (the bench's control run).

Why one asyncio process with hand-parsed HTTP/1.1: a receiver on its own machine costs the
server nothing; here it shares two cores with the server, PostgreSQL and wrk. Measured at
1,000 requests/s from the plain sender: ~64 µs of CPU per request here, against ~108 µs for
the ten http.server receivers (a thread per connection) the bench used before. Its CPU is
measured separately (bench/cpu.py), so what remains is the server's.
"""
import asyncio
import datetime
import json
import sys
import time

RESPONSE = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


async def handle(index, log, reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            now = time.time()
            log.write(f"{index} {json.loads(body)['seq']} {now:.6f}\n")
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass  # the sender hung up, or this process is stopping
    finally:
        writer.close()


async def until_stdin_closes():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


async def serve(n, log_path):
    log = open(log_path, "a", buffering=1 << 16)
    servers = []
    for i in range(n):
        servers.append(await asyncio.start_server(lambda r, w, i=i: handle(i, log, r, w), "127.0.0.1", 0))
    print(json.dumps([s.sockets[0].getsockname()[1] for s in servers]), flush=True)

    async def flush():
        while True:
            await asyncio.sleep(0.1)
            log.flush()

    flusher = asyncio.create_task(flush())
    await until_stdin_closes()
    flusher.cancel()
    for s in servers:
        s.close()
    log.flush()


async def send(rate, ports):
    body = json.dumps({"seq": 1, "occurred_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                       "entity_type": "service_area", "entity_id": "00000000-0000-0000-0000-000000000000",
                       "action": "created", "version": 1,
                       "actor": {"subject": "bench", "org_number": "991324968"}}).encode()
    conns = []
    for p in ports:
        r, w = await asyncio.open_connection("127.0.0.1", p)
        req = (f"POST /hook HTTP/1.1\r\nhost: 127.0.0.1:{p}\r\ncontent-type: application/json\r\n"
               f"webhook-id: msg_bench\r\nwebhook-timestamp: {int(time.time())}\r\n"
               f"webhook-signature: v1,{'A' * 44}\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body
        conns.append((r, w, req))
    stop = asyncio.create_task(until_stdin_closes())
    t0, i = time.time(), 0
    while not stop.done():
        # Requests due by now, one per connection in turn, each waiting for its answer.
        due = int((time.time() - t0) * rate)
        batch = []
        while i < due:
            batch.append(conns[i % len(conns)])
            i += 1
        for _, w, req in batch:
            w.write(req)
        for r, _, _ in batch:
            await r.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.005)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2]), sys.argv[3]))
    else:
        try:
            asyncio.run(send(int(sys.argv[2]), [int(p) for p in sys.argv[3:]]))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the receivers stopped first
