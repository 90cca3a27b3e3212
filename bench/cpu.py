#!/usr/bin/env python3
"""Where the machine's CPU went during a measurement: /proc snapshots before and after.

    cpu.py snap FILE --server PID --postmaster PID [--pids-file F] [--psql "ARGS"]
    cpu.py diff BEFORE AFTER [WRK_TIME]  → JSON: CPU seconds per group over the interval
                                    (WRK_TIME: time(1)'s "user system" of the wrk run)

Groups: the server's threads by name (`webhook-*`, `db-*`, actix workers, …), PostgreSQL
(backends serving the webhook worker's pool — application_name `portfolio-webhooks`, looked
up with psql when --psql is given — apart from the others; also the number of delivery
attempts recorded in the interval), wrk, the bench's Python
processes (receivers — nginx or asyncio — and plain sender from --pids-file, the change maker webhooks.py), and
the whole machine (/proc/stat), so what other users of the machine took shows as `other`.
Threads and processes that ended in the interval count too: the server's ended threads (its
process total minus its live threads) and PostgreSQL's ended children (the postmaster's
cutime/cstime).
"""
import json
import os
import re
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def stat(path):
    """(comm, ppid, utime + stime in ticks) of /proc/…/stat."""
    with open(path) as f:
        s = f.read()
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return comm, int(rest[1]), int(rest[11]) + int(rest[12])


def children_time(path):
    """cutime + cstime of /proc/…/stat: the CPU of the children it has waited for."""
    with open(path) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[13]) + int(rest[14])


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def snap(server, postmaster, pids_file, psql):
    groups = {}

    def add(name, ticks):
        groups[name] = groups.get(name, 0) + ticks

    live = 0
    for tid in os.listdir(f"/proc/{server}/task"):
        try:
            comm, _, t = stat(f"/proc/{server}/task/{tid}/stat")
        except OSError:
            continue
        live += t
        add("server " + re.sub(r"[\d\s:-]+$", "", comm), t)
    # Threads that ended (the delivery worker's short-lived send lanes): the process's total
    # counts them, its live threads no longer do.
    add("server (ended threads)", stat(f"/proc/{server}/stat")[2] - live)
    webhook_backends = set()
    if psql:
        # Named sessions; for a build that does not name them, the sessions whose last
        # statement touched the webhook tables (the API's sessions run reads meanwhile).
        out = subprocess.run(psql.split() + ["-At", "-c",
                             "SELECT pid FROM pg_stat_activity WHERE application_name = 'portfolio-webhooks' "
                             "OR (query LIKE '%webhook_cursors%' AND pid <> pg_backend_pid())"],
                             capture_output=True, text=True).stdout
        webhook_backends = {int(x) for x in out.split()}
        out = subprocess.run(psql.split() + ["-At", "-c", "SELECT count(*) FROM webhook_deliveries"],
                             capture_output=True, text=True).stdout.strip()
        if out.isdigit():
            groups["deliveries (count, not CPU)"] = int(out) * TICK
    bench_pids = set()
    if pids_file and os.path.exists(pids_file):
        bench_pids = {int(x) for x in open(pids_file).read().split()}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        pid = int(pid)
        try:
            comm, ppid, t = stat(f"/proc/{pid}/stat")
        except OSError:
            continue
        if pid == postmaster:
            # Ended children (autovacuum workers, ended sessions) as the postmaster reaped them.
            add("postgres (ended processes)", children_time(f"/proc/{pid}/stat"))
        if pid == postmaster or ppid == postmaster:
            add("postgres (webhook worker)" if pid in webhook_backends else "postgres", t)
        elif comm == "wrk":
            add("wrk", t)
        elif pid in bench_pids:
            add("receivers" if comm == "nginx" or "receivers.py serve" in cmdline(pid) else "plain sender", t)
        elif comm.startswith("python") and "webhooks.py" in cmdline(pid):
            add("change maker (webhooks.py)", t)
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    groups["machine"] = sum(cpu) - cpu[3] - cpu[4]  # all but idle and iowait
    return {"at": time.time(), "ticks": groups}


def diff(a, b, wrk_file=None):
    secs = b["at"] - a["at"]
    out = {k: round((v - a["ticks"].get(k, 0)) / TICK, 2) for k, v in b["ticks"].items() if k in a["ticks"]}
    if wrk_file and os.path.exists(wrk_file):
        # wrk has exited by the second snapshot: its CPU comes from time(1).
        user, system = open(wrk_file).read().split()[-2:]
        out["wrk"] = round(float(user) + float(system), 2)
    ours = sum(v for k, v in out.items() if k != "machine" and not k.startswith("deliveries"))
    out["other (not this bench)"] = round(out["machine"] - ours, 2)
    out["interval_s"] = round(secs, 2)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "snap":
        args = dict(zip(sys.argv[3::2], sys.argv[4::2]))
        s = snap(int(args["--server"]), int(args["--postmaster"]), args.get("--pids-file"), args.get("--psql"))
        json.dump(s, open(sys.argv[2], "w"))
    else:
        print(json.dumps(diff(json.load(open(sys.argv[2])), json.load(open(sys.argv[3])),
                              sys.argv[4] if len(sys.argv) > 4 else None)))
