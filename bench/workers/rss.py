#!/usr/bin/env python3
"""Helper for bench/workers.sh: run a command, sample the resident memory of its whole
process tree (the command and every descendant, found through /proc) every SAMPLE_MS, and
write the peaks as JSON.

Standard library only. `rss.py --out FILE --stdout F --stderr F --cwd DIR --sample-ms N --timeout S -- CMD...`

- `tree_peak_kib`: the largest sum of VmRSS over the whole tree at one sample.
- `root_peak_kib`: the command's own largest VmRSS.
- `children_peak_kib`: the largest sum over its descendants (the agent CLIs and whatever
  they run) at one sample, and `children_processes`: how many there were then.
"""

import argparse
import json
import os
import subprocess
import sys
import time


def processes():
    """{pid: (ppid, rss_kib, cmdline)} for every readable process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                status = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid, rss = 0, 0
        for line in status.splitlines():
            if line.startswith("PPid:"):
                ppid = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        out[int(name)] = (ppid, rss, cmd)
    return out


def descendants(root, procs):
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            seen.append(pid)
        todo.extend(children.get(pid, []))
    return seen


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--stdout", required=True)
    p.add_argument("--stderr", required=True)
    p.add_argument("--cwd", required=True)
    p.add_argument("--sample-ms", type=int, default=100)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    with open(a.stdout, "wb") as so, open(a.stderr, "wb") as se:
        child = subprocess.Popen(cmd, cwd=a.cwd, stdout=so, stderr=se, stdin=subprocess.DEVNULL)
        tree_peak = root_peak = kids_peak = kids_procs = samples = 0
        t0 = time.monotonic()
        while child.poll() is None:
            if time.monotonic() - t0 > a.timeout:
                child.kill()
                print(f"timed out after {a.timeout} s", file=sys.stderr)
                return 1
            procs = processes()
            tree = descendants(child.pid, procs)
            total = sum(procs[p][1] for p in tree)
            kids = [p for p in tree if p != child.pid]
            k = sum(procs[p][1] for p in kids)
            tree_peak = max(tree_peak, total)
            root_peak = max(root_peak, procs.get(child.pid, (0, 0, ""))[1])
            if k > kids_peak:
                kids_peak, kids_procs = k, len(kids)
            samples += 1
            time.sleep(a.sample_ms / 1000)
    with open(a.out, "w") as f:
        json.dump({"rc": child.returncode, "tree_peak_kib": tree_peak,
                   "root_peak_kib": root_peak,
                   "children_peak_kib": kids_peak, "children_processes": kids_procs,
                   "samples": samples, "seconds": round(time.monotonic() - t0, 1)}, f)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
