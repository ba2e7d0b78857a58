#!/usr/bin/env python3
"""bench/ledger_ids.py — what the shape of a call id costs the ledger's SQLite writes.

The ledger has a UNIQUE index on `call_id`. A random id lands each insert on a random page
of that index, and every page a transaction dirties is a WAL frame at commit; an id that
starts with the time lands every insert at the index's end. This inserts ROWS rows in
batches of BATCH (the gateway's ledger writer commits batches), WAL mode,
synchronous=NORMAL as the store uses, once with random ids and once with time-ordered ids
(the gateway's `new_call_id`: 48 bits of milliseconds, then 48 random bits), and prints
the time per row. Standard library only.

    python3 bench/ledger_ids.py               # 200,000 rows, batches of 50, 2 rounds
    ROWS=500000 BATCH=200 python3 bench/ledger_ids.py
"""
import os
import random
import sqlite3
import tempfile
import time

ROWS = int(os.environ.get("ROWS", "200000"))
BATCH = int(os.environ.get("BATCH", "50"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))


def run(ordered, folder):
    path = os.path.join(folder, "ledger.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL UNIQUE,"
        " ts_ms INTEGER, token_id TEXT, label_chain TEXT, detail TEXT,"
        " input_tokens INTEGER, output_tokens INTEGER, reserved_nanos INTEGER, settled_nanos INTEGER)"
    )
    db.execute("CREATE INDEX ledger_token ON ledger(token_id)")
    ms = int(time.time() * 1000)
    start = time.perf_counter()
    for first in range(0, ROWS, BATCH):
        rows = []
        for n in range(first, min(first + BATCH, ROWS)):
            if ordered:
                # about seven calls per millisecond, as at 7,000 calls/s
                call_id = "call_%012x%012x" % (ms + n // 7, random.getrandbits(48))
            else:
                call_id = "call_%024x" % random.getrandbits(96)
            rows.append((call_id, ms, "tok_bench", "shift/job", None, 12, 2, 100, 100))
        db.execute("BEGIN")
        db.executemany(
            "INSERT OR IGNORE INTO ledger (call_id, ts_ms, token_id, label_chain, detail,"
            " input_tokens, output_tokens, reserved_nanos, settled_nanos) VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def main():
    print("| ids | rows | batch | seconds | µs per row |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="nightshift-ledger-ids.") as folder:
        for _ in range(ROUNDS):
            for ordered in (False, True):
                s = run(ordered, folder)
                print("| %s | %d | %d | %.2f | %.1f |" % ("time-ordered" if ordered else "random", ROWS, BATCH, s, s / ROWS * 1e6))


if __name__ == "__main__":
    main()
