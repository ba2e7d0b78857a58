#!/usr/bin/env python3
"""Fill a migrated nightshift store with one finished-looking shift: JOBS jobs of ITERATIONS
iterations each, with their gates, events and two ledger rows per iteration, as the factory
writes them (the same tables and texts), for bench/floor.sh. Usage: seed.py DB JOBS ITERATIONS"""

import json
import sqlite3
import sys

db, jobs, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
con = sqlite3.connect(db)
cur = con.cursor()
t0 = 1_764_000_000_000
shift = "bench"
spec = json.dumps({"name": shift, "shift_nanos": 10_000 * 1_000_000_000})
cur.execute("INSERT INTO tokens (id, secret_sha256, label, parent_id, budget_nanos, created_ms) VALUES (?, ?, ?, NULL, ?, ?)",
            ("tok_shift", "0" * 64, shift, 10_000 * 1_000_000_000, t0))
cur.execute("INSERT INTO shifts (name, spec_path, spec_json, token_id, state, created_ms) VALUES (?, ?, ?, ?, 'running', ?)",
            (shift, "/bench/shift.toml", spec, "tok_shift", t0))
seq_rows = []
ev = lambda ts, job, kind, data: seq_rows.append((ts, shift, job, kind, json.dumps(data)))
ev(t0, None, "shift_started", {"jobs": jobs, "budget_nanos": 10_000 * 10**9, "concurrency": 50})
gates = ["non-empty-change", "tests-intact", "protected-paths", "diff-size", "hooks", "symlinks", "cargo test"]
for j in range(jobs):
    name = f"job-{j:04d}"
    tok = f"tok_{j:04d}"
    cur.execute("INSERT INTO tokens (id, secret_sha256, label, parent_id, budget_nanos, created_ms) VALUES (?, ?, ?, 'tok_shift', ?, ?)",
                (tok, f"{j + 1:064d}", name, 10 * 10**9, t0))
    cur.execute("INSERT INTO job_tokens (shift, job, token_id) VALUES (?, ?, ?)", (shift, name, tok))
    accepted = defects = 0
    ts = t0 + j
    ev(ts, name, "job_started", {"budget_left_nanos": 10 * 10**9, "base": "b" * 40, "branch": f"nightshift/{shift}/{name}", "resumed": False})
    for n in range(1, iterations + 1):
        ok = (n + j) % 3 != 0
        state = "accepted" if ok else "rejected"
        accepted += ok
        defects += not ok
        start, end = ts + n * 30_000, ts + n * 30_000 + 25_000
        cur.execute("INSERT INTO iterations (shift, job, n, state, base_sha, commit_sha, worker_stop, claims_done, summary, notes, files, insertions, deletions, started_ms, finished_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'finished', 0, ?, NULL, 2, 14, 3, ?, ?)",
                    (shift, name, n, state, "b" * 40, f"{n:040x}", "refactored the parser", start, end))
        for g in gates:
            passed = ok or g != "cargo test"
            cur.execute("INSERT INTO gate_results (shift, job, n, gate, passed, duration_ms, exit_code, timed_out, detail, excerpt, review) VALUES (?, ?, ?, ?, ?, 120, 0, 0, ?, ?, NULL)",
                        (shift, name, n, g, int(passed), "ok" if passed else "exit 101", "" if passed else "test parser::round_trip ... FAILED\n" * 5))
        ev(start, name, "iteration_started", {"n": n, "base": "b" * 40})
        ev(end - 100, name, "iteration_committed", {"n": n, "commit": f"{n:040x}", "worker": "finished", "events": [f"tool edit_file src/lib.rs ({k})" for k in range(20)]})
        ev(end, name, "iteration_gated", {"n": n, "verdict": state, "failed_gates": [] if ok else ["cargo test"], "done_verified": False, "gate_ms": 800})
        for c in range(2):
            cur.execute("INSERT INTO ledger (call_id, ts_ms, token_id, label_chain, provider, model, upstream_model, client_format, upstream_format, streamed, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, reserved_nanos, settled_nanos, price_version, upstream_status, latency_ms, outcome, usage_source, attempts, detail) "
                        "VALUES (?, ?, ?, ?, 'anthropic', 'claude-sonnet', 'claude-sonnet', 'openai-chat', 'anthropic-messages', 1, 20000, 15000, 0, 800, 0, 90000000, 72000000, 'bench', 200, 9000, 'ok', 'upstream', 1, NULL)",
                        (f"c-{j}-{n}-{c}", start + c * 10_000, tok, f"{shift}/{name}"))
    cur.execute("INSERT INTO jobs (shift, name, source, branch, worktree, state, iterations, accepted, defects, base_sha, head_sha, started_ms) VALUES (?, ?, ?, ?, NULL, 'running', ?, ?, ?, ?, ?, ?)",
                (shift, name, f"/bench/repos/{name}", f"nightshift/{shift}/{name}", iterations, accepted, defects, "b" * 40, "c" * 40, ts))
cur.executemany("INSERT INTO events (ts_ms, shift, job, kind, data) VALUES (?, ?, ?, ?, ?)", seq_rows)
con.commit()
print(f"{jobs} jobs, {jobs * iterations} iterations, {len(seq_rows)} events, {jobs * iterations * 2} ledger rows")
