#!/usr/bin/env python3
"""What the webhook delivery worker did between two scrapes of /metrics: claims, subscriptions
per claim, attempts by outcome and how long receivers took.

Usage: bench/worker_metrics.py BEFORE.txt AFTER.txt
"""
import re
import sys


def read(path):
    values = {}
    try:
        for line in open(path):
            if line.startswith("#"):
                continue
            m = re.match(r"^(\S+?)(\{[^}]*\})?\s+(\S+)", line)
            if m:
                values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    except FileNotFoundError:
        pass
    return values


a, b = read(sys.argv[1]), read(sys.argv[2])


def delta(name):
    return b.get(name, 0.0) - a.get(name, 0.0)


claims = delta("portfolio_webhook_claim_subscriptions_count")
served = delta("portfolio_webhook_claim_subscriptions_sum")
attempts = delta("portfolio_webhook_attempt_duration_seconds_count")
took = delta("portfolio_webhook_attempt_duration_seconds_sum")
outcomes = {k.split('"')[1]: b[k] - a.get(k, 0.0) for k in b if k.startswith("portfolio_webhook_attempts_total{")}
if not claims and not attempts:
    print("delivery worker: no webhook metrics (a build without them?)")
    sys.exit(0)
print(f"delivery worker: {claims:,.0f} claims, {served / claims if claims else 0:.1f} subscriptions per claim; "
      f"{attempts:,.0f} attempts ({', '.join(f'{k} {v:,.0f}' for k, v in sorted(outcomes.items()))}), "
      f"receivers took {1000 * took / attempts if attempts else 0:.2f} ms on average")
