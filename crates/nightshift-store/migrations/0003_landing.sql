-- Where a job's accepted work landed: `pushed`, `nothing` (no accepted change), or
-- `failed: …` with git's reason. The work is on the mirror's branch in every case.
ALTER TABLE jobs ADD COLUMN landing TEXT;
