#!/usr/bin/env python3
"""Helpers for bench/factory.sh: generate repositories and scripts, run `nightshift run` while
sampling its memory, read the factory's store, split a debug log into phases, print tables.

Standard library only. Every subcommand is driven by bench/factory.sh; see bench/README.md.
"""

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo, *args):
    env = dict(os.environ, **GIT_ENV)
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)


def init_repo(path):
    """`git init` (no template: no sample hooks to copy), add everything, one commit."""
    git(path, "init", "-q", "--template=", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "bench fixture")


# ---------------------------------------------------------------- generation


def cmd_gen_repos(a):
    """N tiny repositories (one file, one commit): one made with git, the rest copied."""
    os.makedirs(a.dir, exist_ok=True)
    width = max(4, len(str(a.count)))
    template = os.path.join(a.dir, "r" + "1".zfill(width))
    os.makedirs(template)
    with open(os.path.join(template, "README.md"), "w") as f:
        f.write("A tiny repository for the factory benchmark.\n")
    init_repo(template)
    for i in range(2, a.count + 1):
        shutil.copytree(template, os.path.join(a.dir, "r" + str(i).zfill(width)), symlinks=True)


def cmd_gen_big(a):
    """One repository with FILES small files, 100 per directory (src/mNNN/fNNN.txt)."""
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "README.md"), "w") as f:
        f.write("A repository with many files for the factory benchmark.\n")
    for i in range(max(a.files - 1, 0)):
        d = os.path.join(a.dir, "src", "m%03d" % (i // 100))
        if i % 100 == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%03d.txt" % (i % 100)), "w") as f:
            f.write("file %d\nline two\n" % i)
    init_repo(a.dir)


def toml_str(s):
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def cmd_script_wait(a):
    """One cycling step: answer after DELAY_MS with write_file then finish (one model call per
    iteration, whatever order the jobs' requests arrive in)."""
    with open(a.file, "w") as f:
        f.write(
            "cycle = true\n\n[[steps]]\ndelay_ms = %d\n"
            "usage = { input_tokens = 1000, output_tokens = 20 }\n"
            "tool_calls = [\n"
            '  { name = "write_file", arguments = { path = "NOTES.md", content = "waited\\n" } },\n'
            '  { name = "finish", arguments = { summary = "wrote a note", done = false, notes = "" } },\n'
            "]\n" % a.delay_ms
        )


def cmd_script_iter(a):
    """ITERATIONS steps, no delay: each writes different content to PATH (a real change, so
    the default policy accepts it) and finishes with done = false."""
    out = ["cycle = true\n"]
    for i in range(1, a.iterations + 1):
        out.append(
            "[[steps]]\n"
            "usage = { input_tokens = 1000, output_tokens = 20 }\n"
            "tool_calls = [\n"
            "  { name = \"write_file\", arguments = { path = %s, content = %s } },\n"
            "  { name = \"finish\", arguments = { summary = %s, done = false, notes = %s } },\n"
            "]\n"
            % (
                toml_str(a.path),
                toml_str("iteration %d\n" % i),
                toml_str("step %d" % i),
                toml_str("step %d done" % i),
            )
        )
    with open(a.file, "w") as f:
        f.write("\n".join(out))


# ---------------------------------------------------------------- running and sampling


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """CPU seconds of a live process: its own user + system time (fields 14, 15 of
    /proc/PID/stat) and that of the children it has reaped (fields 16, 17: git, mostly)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    children = (int(fields[13]) + int(fields[14])) / CLK_TCK
    return own, children


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
            elif k == "Threads":
                out[k] = int(v)
    return out


class Inflight:
    """Counts the iterations in state `running` (started, their work not yet committed): in
    the memory part every loop's one iteration is a model call that takes DELAY_MS, so these
    are the loops waiting on the model. (The gateway's `inflight` table no longer shows them:
    with its journal, a begun call's row reaches SQLite only at a flush.)"""

    def __init__(self, path):
        self.path = path
        self.conn = None

    def count(self):
        if not self.path or not os.path.exists(self.path):
            return None
        try:
            if self.conn is None:
                self.conn = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=0.05)
            return self.conn.execute(
                "SELECT count(*) FROM iterations WHERE state = 'running'"
            ).fetchone()[0]
        except sqlite3.Error:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None


def cmd_run(a):
    """Run a command, sample its RSS (and the inflight count) every SAMPLE_MS, reap it with
    wait4 for its peak RSS and CPU time, write everything to OUT as JSON."""
    inflight = Inflight(a.db)
    with open(a.stdout, "wb") as out, open(a.stderr, "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(a.command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=a.cwd)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % p.pid)
    stop = {"sig": None}

    def forward(sig, _frame):
        stop["sig"] = sig
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    samples = []
    timed_out = False
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        t = time.monotonic() - t0
        if a.timeout and t > a.timeout and not timed_out:
            timed_out = True
            p.send_signal(signal.SIGKILL)
        try:
            s = proc_status(p.pid)
            cpu, child_cpu = proc_cpu(p.pid)
            fds = len(os.listdir("/proc/%d/fd" % p.pid))
        except (OSError, ValueError, IndexError):
            s, cpu, child_cpu, fds = {}, None, None, None
        samples.append(
            {
                "t": round(t, 3),
                "rss_kb": s.get("VmRSS"),
                "anon_kb": s.get("RssAnon"),
                "hwm_kb": s.get("VmHWM"),
                "threads": s.get("Threads"),
                "fds": fds,
                "cpu_s": cpu,
                "child_cpu_s": child_cpu,
                "inflight": inflight.count(),
            }
        )
        time.sleep(a.sample_ms / 1000.0)
    wall = time.monotonic() - t0
    result = {
        "command": a.command,
        "rc": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
        "signal": stop["sig"],
        "wall_s": round(wall, 3),
        "maxrss_kb": ru.ru_maxrss,
        "utime_s": round(ru.ru_utime, 3),
        "stime_s": round(ru.ru_stime, 3),
        "samples": samples,
    }
    with open(a.out, "w") as f:
        json.dump(result, f)
    sys.exit(0 if result["rc"] == 0 else 1)


# ---------------------------------------------------------------- reading the store


def store_events(db, shift):
    conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    ev = conn.execute(
        "SELECT ts_ms, job, kind, data FROM events WHERE shift = ? ORDER BY seq", (shift,)
    ).fetchall()
    ledger = conn.execute(
        "SELECT ts_ms, label_chain, latency_ms FROM ledger WHERE label_chain LIKE ? ORDER BY seq",
        (shift + "/%",),
    ).fetchall()
    conn.close()
    return ev, ledger


def cmd_setup(a):
    """Shift-level timings from the event log: how long until every job had its mirror and
    worktree (job_started), until every loop had started its first iteration, and the end."""
    ev, _ = store_events(a.db, a.shift)
    t0 = next(ts for ts, _, k, _ in ev if k == "shift_started")
    last = lambda kind: max((ts for ts, _, k, _ in ev if k == kind), default=None)
    first = lambda kind: min((ts for ts, _, k, _ in ev if k == kind), default=None)
    rel = lambda ts: None if ts is None else (ts - t0) / 1000.0
    out = {
        "jobs_started": sum(1 for _, _, k, _ in ev if k == "job_started"),
        "setup_s": rel(last("job_started")),
        "first_iteration_s": rel(first("iteration_started")),
        "all_iterating_s": rel(last("iteration_started")),
        "first_gated_s": rel(first("iteration_gated")),
        "last_finished_s": rel(last("job_finished")),
        "shift_finished_s": rel(last("shift_finished")),
    }
    with open(a.out, "w") as f:
        json.dump(out, f)


def cmd_iterations(a):
    """Per iteration of one job: start-to-start cycle, the model's share (the gateway's
    upstream latency from the ledger), and what is left: the factory's overhead."""
    ev, ledger = store_events(a.db, a.shift)
    started, committed, gated, gate_ms = {}, {}, {}, {}
    for ts, job, kind, data in ev:
        if job != a.job:
            continue
        n = json.loads(data).get("n") if kind.startswith("iteration_") else None
        if kind == "iteration_started":
            started[n] = ts
        elif kind == "iteration_committed":
            committed[n] = ts
        elif kind == "iteration_gated":
            gated[n] = ts
            gate_ms[n] = json.loads(data).get("gate_ms", 0)
    label = "%s/%s" % (a.shift, a.job)
    calls = [(ts, lat) for ts, chain, lat in ledger if chain == label or chain.endswith("/" + label)]
    rows = []
    for n in sorted(started):
        if n not in gated:
            continue
        end = started.get(n + 1, gated[n])
        model = sum(lat for ts, lat in calls if started[n] <= ts < end)
        cycle = end - started[n]
        rows.append(
            {
                "n": n,
                "cycle_ms": cycle,
                "worker_ms": committed.get(n, gated[n]) - started[n],
                "gates_ms": gated[n] - committed.get(n, gated[n]),
                "model_ms": model,
                "overhead_ms": cycle - model,
                "gate_run_ms": gate_ms.get(n, 0),
                "overhead_excl_gates_ms": cycle - model - gate_ms.get(n, 0),
            }
        )
    with open(a.out, "w") as f:
        json.dump({"iterations": rows, "calls": len(calls)}, f)


# ---------------------------------------------------------------- debug log phases

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z\s+\w+\s+(\S+?):\s(.*)$")
GIT_ARGS = re.compile(r"\bargs=(\S+)")


def category(target, msg):
    """The phase whose work ends at this log line (the gap before the line is charged to it)."""
    if target.startswith("nightshift_agent"):
        if msg.startswith("agent: model request"):
            return "first message: repository map + guidance"
        return "model call through the gateway + tools"
    if target.startswith("sqlx"):
        if re.search(r"\b(inflight|ledger|tokens)\b", msg):
            return "model call through the gateway + tools"
        return "store writes (SQLite)"
    if target.startswith("nightshift_git::command"):
        m = GIT_ARGS.search(msg)
        sub = m.group(1) if m else "?"
        if sub == "add":
            return "git add"
        if sub == "commit":
            return "git commit"
        if sub in ("diff", "cat-file", "config"):
            return "policy gates (git diff, cat-file, config)"
        if sub in ("reset", "clean", "checkout", "read-tree"):
            return "git reset --hard + clean (worktree back to the commit)"
        return "git write-tree, commit-tree, update-ref, other git"
    return "other"


def parse_ts(s):
    # 2026-11-22T03:16:09.034887 -> seconds of the day with microseconds (runs are short)
    hms = s.split("T")[1]
    h, m, rest = hms.split(":")
    return int(h) * 3600 + int(m) * 60 + float(rest)


def cmd_breakdown(a):
    """Split a single-job run's debug log (NIGHTSHIFT_LOG with nightshift_git, nightshift_agent
    and sqlx at debug) into phases: each gap between consecutive lines is charged to the
    phase of the line that ends it. Cycles run from one `agent: model request` to the next,
    so the phases of a cycle add up to it exactly."""
    lines = []
    with open(a.log, errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            lines.append((parse_ts(m.group(1)), m.group(2), m.group(3)))
    starts = [i for i, (_, tgt, msg) in enumerate(lines) if tgt.startswith("nightshift_agent") and msg.startswith("agent: model request")]
    cycles = []
    for s, e in zip(starts, starts[1:]):
        phases = {}
        for i in range(s + 1, e + 1):
            gap = (lines[i][0] - lines[i - 1][0]) * 1000.0
            c = category(lines[i][1], lines[i][2])
            phases[c] = phases.get(c, 0.0) + gap
        gits = sum(1 for i in range(s + 1, e + 1) if lines[i][1].startswith("nightshift_git::command"))
        cycles.append({"cycle_ms": (lines[e][0] - lines[s][0]) * 1000.0, "phases": phases, "git": gits})
    with open(a.out, "w") as f:
        json.dump({"cycles": cycles}, f)


# ---------------------------------------------------------------- the tables


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def mb(kb):
    return "–" if kb is None else "%.1f MiB" % (kb / 1024.0)


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_ms(x):
    return "–" if x is None else ("%.0f ms" % x if x >= 10 else "%.1f ms" % x)


def fmt_s(x):
    return "–" if x is None else "%.1f s" % x


def waiting_plateau(run, n):
    """Samples taken while N loops were waiting on the model at once (or, if that never
    happened, while the most were)."""
    ss = [s for s in run["samples"] if s["rss_kb"] and s["inflight"] is not None]
    if not ss:
        return 0, []
    top = max(s["inflight"] for s in ss)
    want = n if top >= n else top
    return top, [s for s in ss if s["inflight"] == want]


def report_outcome(path):
    rep = load(path)
    if not rep or "jobs" not in rep:
        return None
    reasons = {}
    for j in rep["jobs"]:
        key = j.get("stop_reason") or j.get("state")
        reasons[key] = reasons.get(key, 0) + 1
    return ", ".join("%d %s" % (v, k) for k, v in sorted(reasons.items()))


def store_warnings(log):
    """sqlx's own warnings in a run's stderr: statements slower than 1 s, connections that
    took more than 2 s to get from the pool (the store is one SQLite file)."""
    slow, acquire, worst = 0, 0, 0.0
    try:
        with open(log, errors="replace") as f:
            for line in f:
                if "slow statement" in line:
                    slow += 1
                    m = re.search(r"elapsed_secs=([0-9.]+)", line)
                    if m:
                        worst = max(worst, float(m.group(1)))
                elif "slow_acquire" in line or "time to acquire exceeded" in line:
                    acquire += 1
    except OSError:
        return None
    return slow, acquire, worst


def memory_table(w, jobs, delay_ms):
    base, run = load(os.path.join(w, "mem-1.json")), load(os.path.join(w, "mem-n.json"))
    if not base or not run:
        print("Memory: not measured (see the log).\n")
        return
    setup = load(os.path.join(w, "mem-n-setup.json")) or {}
    _, bplat = waiting_plateau(base, 1)
    top, plat = waiting_plateau(run, jobs)
    b_rss = med([s["rss_kb"] for s in bplat])
    n_rss = med([s["rss_kb"] for s in plat])
    n_anon = med([s["anon_kb"] for s in plat if s["anon_kb"]])
    b_anon = med([s["anon_kb"] for s in bplat if s["anon_kb"]])
    waiting = jobs if top >= jobs else top
    per = (n_rss - b_rss) / (waiting - 1) if (b_rss and n_rss and waiting > 1) else None
    per_anon = (n_anon - b_anon) / (waiting - 1) if (b_anon and n_anon and waiting > 1) else None
    plat_s = (plat[-1]["t"] - plat[0]["t"]) if len(plat) > 1 else 0.0
    threads = med([s["threads"] for s in plat if s["threads"]])
    fds = med([s["fds"] for s in plat if s["fds"]])
    cpus = [s for s in plat if s.get("cpu_s") is not None]
    print("### Memory per waiting loop: %d jobs, concurrency %d, model answers after %.1f s\n" % (jobs, jobs, delay_ms / 1000.0))
    print("| measure | value | target |")
    print("|---|---:|---:|")
    print("| loops waiting on the model at once (iterations `running`, max) | %d of %d | %d |" % (top, jobs, jobs))
    print("| RSS, 1 job waiting (baseline; median while its call is in flight) | %s |  |" % mb(b_rss))
    print("| RSS, %d jobs waiting (median over %.1f s with all %d in flight) | %s |  |" % (waiting, plat_s, waiting, mb(n_rss)))
    if per is not None:
        print("| **memory per waiting loop** = (RSS_N − RSS_1) / (N − 1) | **%.2f MiB** (%.0f KiB) | ≤ 2 MB |" % (per / 1024.0, per))
    if per_anon is not None:
        print("| … the same with anonymous memory only (RssAnon) | %.2f MiB |  |" % (per_anon / 1024.0))
    print("| peak RSS over the run (wait4 `ru_maxrss`) | %s |  |" % mb(run["maxrss_kb"]))
    print("| threads / open fds while all wait | %s / %s |  |" % ("–" if threads is None else "%d" % threads, "–" if fds is None else "%d" % fds))
    print("| mirrors + worktrees for all jobs (shift start → last `job_started`) | %s |  |" % fmt_s(setup.get("setup_s")))
    print("| shift start → last loop's first model call (last `iteration_started`) | %s |  |" % fmt_s(setup.get("all_iterating_s")))
    if setup.get("first_gated_s") is not None and setup.get("last_finished_s") is not None:
        print("| first `iteration_gated` → last `job_finished` (commits, gates, landing, worktree removal) | %s |  |" % fmt_s(setup["last_finished_s"] - setup["first_gated_s"]))
    print("| wall time of `nightshift run` | %s |  |" % fmt_s(run["wall_s"]))
    last = next((x for x in reversed(run["samples"]) if x.get("cpu_s") is not None), None)
    if len(cpus) > 1 and last:
        before, during = cpus[0]["cpu_s"], cpus[-1]["cpu_s"] - cpus[0]["cpu_s"]
        after = last["cpu_s"] - cpus[-1]["cpu_s"]
        print("| CPU, the `nightshift run` process itself: before all wait / while all wait / after | %.1f s / %.1f s / %.1f s |  |" % (before, during, after))
        print("| CPU, its child processes (git, the landing's pushes): before all wait / after | %.1f s / %.1f s |  |" % (cpus[0]["child_cpu_s"], last["child_cpu_s"] - cpus[0]["child_cpu_s"]))
    print("| CPU, all (wait4: the process and every child it reaped), user + sys | %.1f s + %.1f s |  |" % (run["utime_s"], run["stime_s"]))
    warn = store_warnings(os.path.join(w, "mem-n.log"))
    if warn:
        print("| store: sqlx slow-statement (> 1 s) / slow-acquire (> 2 s) warnings; slowest statement | %d / %d; %.1f s |  |" % warn)
    print("| outcome | %s |  |" % (report_outcome(os.path.join(w, "mem-n.report.json")) or "rc %d" % run["rc"]))
    print()
    if top < jobs:
        print("> Only %d of %d loops were ever waiting at once: setup took longer than the model's delay. Raise DELAY_MS.\n" % (top, jobs))


def iter_stats(paths):
    """Pools the iterations of every run of one repository; the first iteration of each run
    (fresh worktree) is kept apart too."""
    runs = [d["iterations"] for d in (load(p) for p in paths) if d and d["iterations"]]
    if not runs:
        return None
    rows = [r for run in runs for r in run]
    later = [r["overhead_ms"] for run in runs for r in run[1:]]
    oh = [r["overhead_ms"] for r in rows]
    ex = [r.get("overhead_excl_gates_ms", r["overhead_ms"]) for r in rows]
    return {
        "gate_run_med": med([r.get("gate_run_ms", 0) for r in rows]),
        "ex_med": med(ex),
        "ex_p90": sorted(ex)[int(0.9 * (len(ex) - 1))],
        "ex_best_run_med": min(med([r.get("overhead_excl_gates_ms", r["overhead_ms"]) for r in run]) for run in runs),
        "runs": len(runs),
        "best_run_med": min(med([r["overhead_ms"] for r in run]) for run in runs),
        "n": len(rows),
        "cycle_med": med([r["cycle_ms"] for r in rows]),
        "model_med": med([r["model_ms"] for r in rows]),
        "worker_med": med([r["worker_ms"] for r in rows]),
        "gates_med": med([r["gates_ms"] for r in rows]),
        "oh_med": med(oh),
        "oh_p90": sorted(oh)[int(0.9 * (len(oh) - 1))],
        "oh_max": max(oh),
        "oh_first": med([run[0]["overhead_ms"] for run in runs]),
        "oh_rest_max": max(later) if later else None,
    }


def overhead_table(w, files, iterations, repeat):
    runs = lambda kind: [os.path.join(w, "iter-%s-%d.json" % (kind, r)) for r in range(1, repeat + 1)]
    tiny, big = iter_stats(runs("tiny")), iter_stats(runs("big"))
    if not tiny and not big:
        print("Overhead: not measured (see the log).\n")
        return
    print("### Factory overhead per iteration: 1 job, %d iterations × %d runs per repository, model answers at once, no gate commands\n" % (iterations, repeat))
    print("| per iteration | tiny repo (1 file) | %s-file repo | target |" % format(files, ","))
    print("|---|---:|---:|---:|")

    def row(label, key, target="", bold=False):
        vals = []
        for s in (tiny, big):
            v = "–" if not s or s.get(key) is None else fmt_ms(s[key])
            vals.append("**%s**" % v if bold and v != "–" else v)
        print("| %s | %s | %s | %s |" % (label, vals[0], vals[1], target))

    print("| iterations measured (runs) | %s | %s |  |" % tuple("–" if not x else "%d (%d)" % (x["n"], x["runs"]) for x in (tiny, big)))
    row("cycle, `iteration_started` → next `iteration_started` (median)", "cycle_med")
    row("… of which model time (ledger `latency_ms`, median)", "model_med")
    row("… started → committed (agent + commit, median)", "worker_med")
    row("… committed → gated (policy gates + store, median)", "gates_med")
    row("… gates (the factory's `judge`: reading the change from git, policy checks; median)", "gate_run_med")
    row("**factory overhead** = cycle − model − gates (median)", "ex_med", "≤ 100 ms (1 % of a 10 s iteration)", bold=True)
    row("factory overhead excluding gates, p90", "ex_p90")
    row("factory overhead excluding gates, median of the quietest run", "ex_best_run_med")
    row("cycle − model, gates included (median)", "oh_med")
    row("cycle − model, gates included, p90", "oh_p90")
    row("cycle − model, gates included, max", "oh_max")
    row("cycle − model, gates included, median of the quietest run", "best_run_med")
    row("cycle − model, gates included, first iteration of a run (median)", "oh_first")
    row("cycle − model, gates included, max after the first iteration", "oh_rest_max")
    outcome = lambda kind: "; ".join(filter(None, (report_outcome(os.path.join(w, "iter-%s-%d.report.json" % (kind, r))) for r in range(1, repeat + 1)))) or "–"
    print("| outcome per run | %s | %s |  |" % (outcome("tiny"), outcome("big")))
    print()


ORDER = [
    "first message: repository map + guidance",
    "model call through the gateway + tools",
    "git add",
    "git commit",
    "git write-tree, commit-tree, update-ref, other git",
    "policy gates (git diff, cat-file, config)",
    "git reset --hard + clean (worktree back to the commit)",
    "store writes (SQLite)",
    "other",
]


def breakdown_table(w, files):
    data = {k: load(os.path.join(w, "breakdown-%s.json" % k)) for k in ("tiny", "big")}
    if not any(d and d["cycles"] for d in data.values()):
        return
    print("### Where an iteration's time goes (separate runs with debug logging, mean ms per iteration)\n")
    print("| phase (the time up to the log line that ends it) | tiny repo | %s-file repo |" % format(files, ","))
    print("|---|---:|---:|")
    means = {}
    for k, d in data.items():
        cyc = d["cycles"] if d else []
        if not cyc:
            means[k] = None
            continue
        keys = set().union(*(c["phases"].keys() for c in cyc))
        means[k] = {p: sum(c["phases"].get(p, 0.0) for c in cyc) / len(cyc) for p in keys}
        means[k]["__total"] = sum(c["cycle_ms"] for c in cyc) / len(cyc)
        means[k]["__n"] = len(cyc)
    phases = [p for p in ORDER if any(m and p in m for m in means.values())]
    for p in phases:
        cells = []
        for k in ("tiny", "big"):
            m = means[k]
            if not m or p not in m:
                cells.append("–")
            else:
                cells.append("%.1f (%.0f%%)" % (m[p], 100.0 * m[p] / m["__total"] if m["__total"] else 0))
        print("| %s | %s | %s |" % (p, cells[0], cells[1]))
    cells = ["–" if not means[k] else "**%.1f** over %d cycles" % (means[k]["__total"], means[k]["__n"]) for k in ("tiny", "big")]
    print("| whole cycle | %s | %s |" % tuple(cells))
    gits = []
    for k in ("tiny", "big"):
        cyc = data[k]["cycles"] if data[k] else []
        gits.append("%.0f" % med([c.get("git", 0) for c in cyc]) if cyc else "–")
    print("| git processes per iteration (median) | %s | %s |" % tuple(gits))
    print()


def cmd_table(a):
    if "memory" in a.parts:
        memory_table(a.work, a.jobs, a.delay_ms)
    if "overhead" in a.parts:
        overhead_table(a.work, a.files, a.iterations, a.repeat)
        breakdown_table(a.work, a.files)


def cmd_waiting_check(a):
    """Print the most loops that waited on the model at once in a run."""
    run = load(a.run)
    top, _ = waiting_plateau(run, a.jobs) if run else (0, [])
    print(top)


# ---------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("gen-repos")
    s.add_argument("dir")
    s.add_argument("count", type=int)
    s.set_defaults(fn=cmd_gen_repos)

    s = sub.add_parser("gen-big")
    s.add_argument("dir")
    s.add_argument("files", type=int)
    s.set_defaults(fn=cmd_gen_big)

    s = sub.add_parser("script-wait")
    s.add_argument("file")
    s.add_argument("delay_ms", type=int)
    s.set_defaults(fn=cmd_script_wait)

    s = sub.add_parser("script-iter")
    s.add_argument("file")
    s.add_argument("iterations", type=int)
    s.add_argument("path")
    s.set_defaults(fn=cmd_script_iter)

    s = sub.add_parser("run")
    s.add_argument("--out", required=True)
    s.add_argument("--stdout", required=True)
    s.add_argument("--stderr", required=True)
    s.add_argument("--db")
    s.add_argument("--cwd")
    s.add_argument("--pidfile")
    s.add_argument("--sample-ms", type=int, default=100)
    s.add_argument("--timeout", type=float, default=0)
    s.add_argument("command", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("setup")
    s.add_argument("--db", required=True)
    s.add_argument("--shift", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_setup)

    s = sub.add_parser("iterations")
    s.add_argument("--db", required=True)
    s.add_argument("--shift", required=True)
    s.add_argument("--job", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_iterations)

    s = sub.add_parser("breakdown")
    s.add_argument("--log", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_breakdown)

    s = sub.add_parser("waiting")
    s.add_argument("--run", required=True)
    s.add_argument("--jobs", type=int, required=True)
    s.set_defaults(fn=cmd_waiting_check)

    s = sub.add_parser("table")
    s.add_argument("--work", required=True)
    s.add_argument("--parts", default="memory overhead")
    s.add_argument("--jobs", type=int, default=0)
    s.add_argument("--delay-ms", type=int, default=0)
    s.add_argument("--files", type=int, default=0)
    s.add_argument("--iterations", type=int, default=0)
    s.add_argument("--repeat", type=int, default=1)
    s.set_defaults(fn=cmd_table)

    a = p.parse_args()
    if a.cmd == "run":
        a.command = a.command[1:] if a.command[:1] == ["--"] else a.command
        if not a.command:
            p.error("run: no command given")
    a.fn(a)


if __name__ == "__main__":
    main()
