-- The floor: a supervisor may kill a job, which stops it with the reason `killed`. SQLite
-- cannot alter a CHECK, so `jobs` is rebuilt as migrations 0004 and 0005 did; no other
-- table refers to it. The supervisor's actions themselves are events (`control`).

ALTER TABLE jobs RENAME TO jobs_v5;
CREATE TABLE jobs (
    shift          TEXT NOT NULL REFERENCES shifts(name),
    name           TEXT NOT NULL,
    source         TEXT NOT NULL,
    branch         TEXT NOT NULL,
    worktree       TEXT,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'running', 'queued_for_landing', 'landing', 'finished')),
    stop_reason    TEXT CHECK (stop_reason IN ('done', 'budget', 'max_iterations', 'wall_clock', 'stalled', 'failed', 'killed')),
    stop_detail    TEXT,
    iterations     INTEGER NOT NULL DEFAULT 0,
    accepted       INTEGER NOT NULL DEFAULT 0,
    defects        INTEGER NOT NULL DEFAULT 0,
    base_sha       TEXT,
    head_sha       TEXT,
    started_ms     INTEGER,
    finished_ms    INTEGER,
    landing        TEXT CHECK (landing IN ('nothing', 'pushed', 'failed', 'merged', 'ci_green', 'ci_failed', 'ci_pending', 'changes_requested', 'closed', 'conflict')),
    landing_detail TEXT,
    pull_number    INTEGER,
    pull_url       TEXT,
    pull_state     TEXT CHECK (pull_state IN ('open', 'closed', 'merged')),
    pull_opened_ms INTEGER,
    PRIMARY KEY (shift, name),
    CHECK ((pull_number IS NULL) = (pull_state IS NULL))
);
INSERT INTO jobs SELECT shift, name, source, branch, worktree, state, stop_reason, stop_detail,
                        iterations, accepted, defects, base_sha, head_sha, started_ms, finished_ms,
                        landing, landing_detail, pull_number, pull_url, pull_state, pull_opened_ms
    FROM jobs_v5;
DROP TABLE jobs_v5;

-- The floor's tokens: who may read the floor (`viewer`) and who may also act on it
-- (`operator`). A table of their own, so that a floor token is never a gateway token (it
-- has no budget and no model can be called with it) and a gateway token never opens the
-- floor. The secret itself is never stored, only its SHA-256.
CREATE TABLE floor_tokens (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
    created_ms    INTEGER NOT NULL,
    revoked_ms    INTEGER
);
