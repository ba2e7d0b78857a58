-- The floor reads one job's history (its events) for the job's page: an index so that it
-- does not read its whole shift's log to find them.
CREATE INDEX events_job ON events(shift, job, seq);
