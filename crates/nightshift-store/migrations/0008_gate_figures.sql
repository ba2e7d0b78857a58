-- A gate may keep figures beside its words: the `health` gate its code-health deltas, a
-- reviewer its verdict's findings and its cost (JSON, the gate's own shape).
ALTER TABLE gate_results ADD COLUMN figures TEXT;
