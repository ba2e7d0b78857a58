#!/usr/bin/env python3
"""Measure a running floor (bench/floor.sh): answer times of the line, a shift page, a job
page and /metrics; the dashboard's page load in headless chromium; SSE fan-out to CLIENTS
clients (time from an appended event to its arrival at every client); the floor's RSS.
Usage: probe.py BASE_URL FLOOR_PID CONFIG_DIR NIGHTSHIFT_BIN CLIENTS"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

base, pid, cfg_dir, binary, clients = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])


def rss_mb(p):
    with open(f"/proc/{p}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed(path, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        with urllib.request.urlopen(base + path, timeout=120) as r:
            body = r.read()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out), max(out), len(body)


rows = []
rss_idle = rss_mb(pid)
with urllib.request.urlopen(base + "/api/v1/shifts", timeout=120) as r:
    total = json.load(r)["shifts"][0]["jobs_total"]
middle = f"job-{total // 2:04d}"
for name, path, n in [("the line: GET /api/v1/shifts", "/api/v1/shifts", 5),
                      (f"a shift: GET /api/v1/shifts/bench (100 jobs of {total:,})", "/api/v1/shifts/bench", 5),
                      (f"a job: GET …/jobs/{middle}", f"/api/v1/shifts/bench/jobs/{middle}", 5),
                      ("GET /metrics", "/metrics", 3)]:
    med, worst, size = timed(path, n)
    rows.append((name, f"{med:,.0f}", f"{worst:,.0f}", f"{size / 1024:,.0f}"))
rss_after_reads = rss_mb(pid)

# The dashboard's page load in headless chromium: from navigation to the shift's row shown.
page_ms = "n/a"
try:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = b.new_page()
        t = time.perf_counter()
        page.goto(base + "/#/shift/bench")
        page.wait_for_selector(f"tr[data-job='job-{min(total, 100) - 1:04d}']", timeout=120_000)
        page_ms = f"{(time.perf_counter() - t) * 1000:,.0f}"
        b.close()
except Exception as e:  # a benchmark reports what it could not measure
    page_ms = f"n/a ({type(e).__name__})"
rows.append(("the dashboard: a shift page shown in chromium", page_ms, "", ""))

# SSE fan-out: CLIENTS streams from the latest event; one action appended; time to each.
with urllib.request.urlopen(base + "/api/v1/shifts", timeout=60) as r:
    last = json.load(r)["last_seq"]
arrived = []
ready = threading.Barrier(clients + 1)
lock = threading.Lock()


def listen():
    req = urllib.request.Request(base + "/api/v1/events", headers={"Last-Event-ID": str(last)})
    with urllib.request.urlopen(req, timeout=60) as r:
        ready.wait()
        for line in r:
            if line.startswith(b"id: "):
                with lock:
                    arrived.append(time.perf_counter())
                return


threads = [threading.Thread(target=listen, daemon=True) for _ in range(clients)]
for t in threads:
    t.start()
ready.wait()
time.sleep(0.5)
rss_streams = rss_mb(pid)
t0 = time.perf_counter()
subprocess.run([binary, "pause", "bench", "job-0001", "--config", "nightshift.toml"], cwd=cfg_dir, check=True,
               capture_output=True)
for t in threads:
    t.join(30)
lat = sorted((a - t0) * 1000 for a in arrived)
rows.append((f"SSE: one event to {clients} clients (all arrived: {len(lat) == clients})",
             f"{statistics.median(lat):,.0f}" if lat else "n/a", f"{lat[-1]:,.0f}" if lat else "n/a", ""))

print("| what | median ms | worst ms | answer KiB |")
print("|---|---:|---:|---:|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
print("| floor RSS | MiB |")
print("|---|---:|")
print(f"| idle, store opened | {rss_idle:,.1f} |")
print(f"| after the reads above | {rss_after_reads:,.1f} |")
print(f"| with {clients} live streams | {rss_streams:,.1f} |")
