-- The factory's state. `events` is the append-only log of everything that happened;
-- the other tables are its current projection, written in the same transactions.
CREATE TABLE shifts (
    name        TEXT PRIMARY KEY,
    spec_path   TEXT NOT NULL,
    spec_json   TEXT NOT NULL,
    token_id    TEXT,
    state       TEXT NOT NULL,          -- running | finished
    created_ms  INTEGER NOT NULL,
    finished_ms INTEGER
);

CREATE TABLE jobs (
    shift        TEXT NOT NULL REFERENCES shifts(name),
    name         TEXT NOT NULL,
    source       TEXT NOT NULL,
    branch       TEXT NOT NULL,
    worktree     TEXT,
    state        TEXT NOT NULL,         -- pending | running | finished
    stop_reason  TEXT,                  -- done | budget | max_iterations | wall_clock | stalled | failed
    stop_detail  TEXT,
    iterations   INTEGER NOT NULL DEFAULT 0,
    accepted     INTEGER NOT NULL DEFAULT 0,
    defects      INTEGER NOT NULL DEFAULT 0,
    base_sha     TEXT,
    head_sha     TEXT,
    started_ms   INTEGER,
    finished_ms  INTEGER,
    PRIMARY KEY (shift, name)
);

-- Every gateway token a job has held (a resumed job gets a new one).
CREATE TABLE job_tokens (
    shift    TEXT NOT NULL,
    job      TEXT NOT NULL,
    token_id TEXT NOT NULL PRIMARY KEY
);

CREATE TABLE iterations (
    shift        TEXT NOT NULL,
    job          TEXT NOT NULL,
    n            INTEGER NOT NULL,
    state        TEXT NOT NULL,         -- running | committed | accepted | rejected | interrupted
    base_sha     TEXT NOT NULL,
    commit_sha   TEXT,
    worker_stop  TEXT,
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

CREATE TABLE gate_results (
    shift       TEXT NOT NULL,
    job         TEXT NOT NULL,
    n           INTEGER NOT NULL,
    gate        TEXT NOT NULL,
    passed      INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    exit_code   INTEGER,
    timed_out   INTEGER NOT NULL,
    detail      TEXT NOT NULL,
    excerpt     TEXT NOT NULL,
    PRIMARY KEY (shift, job, n, gate)
);

CREATE TABLE events (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    shift TEXT NOT NULL,
    job   TEXT,
    kind  TEXT NOT NULL,
    data  TEXT NOT NULL
);
CREATE INDEX events_shift ON events(shift, seq);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
