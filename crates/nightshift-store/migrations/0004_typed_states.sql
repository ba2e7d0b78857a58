-- States as types: every state column holds one of its type's texts and nothing else
-- (crates/nightshift-store/src/states.rs; the ledger's outcome and usage source too).
--
-- SQLite cannot add a CHECK to an existing column, so each table is rebuilt: renamed,
-- created anew with its CHECKs, filled from the old one (converting the texts that
-- changed), and the old one dropped. Renaming a parent table re-points its children's
-- REFERENCES at the old copy, so the order below keeps every foreign key satisfied at
-- every statement. Dropping a table fires no trigger, so the ledger's append-only
-- triggers are re-created on its new copy.
--
-- What changed besides the CHECKs: an iteration's `worker_stop` `finished (claims done)`
-- is now `claims_done`; a job's `landing` `failed: REASON` is now `failed` with the reason
-- in `landing_detail`; a gate result may carry `review` (passed, but a person should
-- look). The iteration state `interrupted`, documented but never written, is gone.

ALTER TABLE shifts RENAME TO shifts_v3;
CREATE TABLE shifts (
    name        TEXT PRIMARY KEY,
    spec_path   TEXT NOT NULL,
    spec_json   TEXT NOT NULL,
    token_id    TEXT,
    state       TEXT NOT NULL CHECK (state IN ('running', 'finished')),
    created_ms  INTEGER NOT NULL,
    finished_ms INTEGER
);
INSERT INTO shifts (name, spec_path, spec_json, token_id, state, created_ms, finished_ms)
    SELECT name, spec_path, spec_json, token_id, state, created_ms, finished_ms FROM shifts_v3;

ALTER TABLE jobs RENAME TO jobs_v3;
CREATE TABLE jobs (
    shift          TEXT NOT NULL REFERENCES shifts(name),
    name           TEXT NOT NULL,
    source         TEXT NOT NULL,
    branch         TEXT NOT NULL,
    worktree       TEXT,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'running', 'finished')),
    stop_reason    TEXT CHECK (stop_reason IN ('done', 'budget', 'max_iterations', 'wall_clock', 'stalled', 'failed')),
    stop_detail    TEXT,
    iterations     INTEGER NOT NULL DEFAULT 0,
    accepted       INTEGER NOT NULL DEFAULT 0,
    defects        INTEGER NOT NULL DEFAULT 0,
    base_sha       TEXT,
    head_sha       TEXT,
    started_ms     INTEGER,
    finished_ms    INTEGER,
    landing        TEXT CHECK (landing IN ('nothing', 'pushed', 'failed')),
    landing_detail TEXT,
    PRIMARY KEY (shift, name)
);
INSERT INTO jobs (shift, name, source, branch, worktree, state, stop_reason, stop_detail,
                  iterations, accepted, defects, base_sha, head_sha, started_ms, finished_ms,
                  landing, landing_detail)
    SELECT shift, name, source, branch, worktree, state, stop_reason, stop_detail,
           iterations, accepted, defects, base_sha, head_sha, started_ms, finished_ms,
           CASE WHEN landing LIKE 'failed%' THEN 'failed' ELSE landing END,
           CASE WHEN landing LIKE 'failed: %' THEN substr(landing, 9) END
    FROM jobs_v3;
DROP TABLE jobs_v3;
DROP TABLE shifts_v3;

ALTER TABLE iterations RENAME TO iterations_v3;
CREATE TABLE iterations (
    shift        TEXT NOT NULL,
    job          TEXT NOT NULL,
    n            INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('running', 'committed', 'accepted', 'verified', 'rejected')),
    base_sha     TEXT NOT NULL,
    commit_sha   TEXT,
    worker_stop  TEXT CHECK (worker_stop IN ('finished', 'claims_done', 'budget', 'failed', 'thrashing')),
    claims_done  INTEGER NOT NULL DEFAULT 0,
    summary      TEXT,
    notes        TEXT,
    files        INTEGER NOT NULL DEFAULT 0,
    insertions   INTEGER NOT NULL DEFAULT 0,
    deletions    INTEGER NOT NULL DEFAULT 0,
    started_ms   INTEGER NOT NULL,
    finished_ms  INTEGER,
    PRIMARY KEY (shift, job, n)
);
INSERT INTO iterations (shift, job, n, state, base_sha, commit_sha, worker_stop, claims_done,
                        summary, notes, files, insertions, deletions, started_ms, finished_ms)
    SELECT shift, job, n, state, base_sha, commit_sha,
           CASE worker_stop WHEN 'finished (claims done)' THEN 'claims_done' ELSE worker_stop END,
           claims_done, summary, notes, files, insertions, deletions, started_ms, finished_ms
    FROM iterations_v3;
DROP TABLE iterations_v3;

ALTER TABLE gate_results ADD COLUMN review TEXT;

ALTER TABLE ledger RENAME TO ledger_v3;
CREATE TABLE ledger (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id             TEXT NOT NULL UNIQUE,
    ts_ms               INTEGER NOT NULL,
    token_id            TEXT NOT NULL,
    label_chain         TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    upstream_model      TEXT NOT NULL,
    client_format       TEXT NOT NULL,
    upstream_format     TEXT NOT NULL,
    streamed            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    reserved_nanos      INTEGER NOT NULL,
    settled_nanos       INTEGER NOT NULL,
    price_version       TEXT NOT NULL,
    upstream_status     INTEGER,
    latency_ms          INTEGER NOT NULL,
    outcome             TEXT NOT NULL CHECK (outcome IN ('ok', 'refused', 'cut', 'upstream_error', 'client_abort', 'interrupted')),
    usage_source        TEXT NOT NULL CHECK (usage_source IN ('upstream', 'reserved', 'none')),
    attempts            INTEGER NOT NULL,
    detail              TEXT
);
INSERT INTO ledger SELECT * FROM ledger_v3;
DROP TABLE ledger_v3;
CREATE INDEX ledger_token ON ledger(token_id);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
