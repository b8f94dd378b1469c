-- Batch and serial keys, and runs held on an incident.
--
-- `run_key` is the value of the workflow's `key` expression at start, kept
-- so a batch's runs can be found years later. `active_key` holds the same
-- value while the run is active, only when the workflow has `unique_key`;
-- the writer clears it when the run ends, so the unique index refuses a
-- second active run with the same key and nothing else.
ALTER TABLE runs ADD COLUMN run_key TEXT;
ALTER TABLE runs ADD COLUMN active_key TEXT;
CREATE INDEX runs_by_key ON runs (run_key, id);
CREATE UNIQUE INDEX runs_active_key ON runs (workflow, active_key);
