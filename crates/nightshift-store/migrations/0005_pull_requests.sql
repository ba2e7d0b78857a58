-- Landing for real: a job's pull request, the states a job passes through while it lands
-- (`queued_for_landing` under the rollout limits, `landing` while its checks are watched)
-- and the outcomes a pull request ends in. SQLite cannot alter a CHECK, so `jobs` is
-- rebuilt as migration 0004 did; no other table refers to it.

ALTER TABLE jobs RENAME TO jobs_v4;
CREATE TABLE jobs (
    shift          TEXT NOT NULL REFERENCES shifts(name),
    name           TEXT NOT NULL,
    source         TEXT NOT NULL,
    branch         TEXT NOT NULL,
    worktree       TEXT,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'running', 'queued_for_landing', 'landing', 'finished')),
    stop_reason    TEXT CHECK (stop_reason IN ('done', 'budget', 'max_iterations', 'wall_clock', 'stalled', 'failed')),
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
    -- The job's pull request (GitHub/Gitea number, GitLab iid), once one is known.
    pull_number    INTEGER,
    pull_url       TEXT,
    pull_state     TEXT CHECK (pull_state IN ('open', 'closed', 'merged')),
    -- When this shift opened it (the rollout governor counts these); NULL when adopted.
    pull_opened_ms INTEGER,
    PRIMARY KEY (shift, name),
    CHECK ((pull_number IS NULL) = (pull_state IS NULL))
);
INSERT INTO jobs (shift, name, source, branch, worktree, state, stop_reason, stop_detail,
                  iterations, accepted, defects, base_sha, head_sha, started_ms, finished_ms,
                  landing, landing_detail)
    SELECT shift, name, source, branch, worktree, state, stop_reason, stop_detail,
           iterations, accepted, defects, base_sha, head_sha, started_ms, finished_ms,
           landing, landing_detail
    FROM jobs_v4;
DROP TABLE jobs_v4;
