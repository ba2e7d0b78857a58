-- Scoped gateway tokens. The secret itself is never stored, only its SHA-256.
CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    parent_id     TEXT REFERENCES tokens(id),
    budget_nanos  INTEGER NOT NULL,
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER,
    revoked_ms    INTEGER
);

-- Append-only: one row per model call, written once when the call settles.
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
    outcome             TEXT NOT NULL,
    usage_source        TEXT NOT NULL,
    attempts            INTEGER NOT NULL,
    detail              TEXT
);
CREATE INDEX ledger_token ON ledger(token_id);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;

-- Write-ahead record of calls in flight: a row appears when a call reserves and goes
-- when its ledger row is written, in the same transaction. Rows left after a crash are
-- settled at their reservation on the next start.
CREATE TABLE inflight (
    call_id         TEXT PRIMARY KEY,
    ts_ms           INTEGER NOT NULL,
    token_id        TEXT NOT NULL,
    label_chain     TEXT NOT NULL,
    provider        TEXT NOT NULL,
    model           TEXT NOT NULL,
    upstream_model  TEXT NOT NULL,
    client_format   TEXT NOT NULL,
    upstream_format TEXT NOT NULL,
    streamed        INTEGER NOT NULL,
    reserved_nanos  INTEGER NOT NULL,
    price_version   TEXT NOT NULL
);
