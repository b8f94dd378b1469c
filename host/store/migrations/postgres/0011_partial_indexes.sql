-- Indexes on columns that most runs leave empty hold only the runs that
-- fill them. A run without a batch key, a unique key or a parent writes
-- three fewer index entries when it is created, and one fewer when it
-- ends. Every query on these columns compares them for equality, which
-- implies they are not null, so these indexes still serve them, and the
-- unique one still refuses a second active run with the same key.
DROP INDEX runs_by_key;
CREATE INDEX runs_by_key ON runs (run_key, id) WHERE run_key IS NOT NULL;
DROP INDEX runs_active_key;
CREATE UNIQUE INDEX runs_active_key ON runs (workflow, active_key) WHERE active_key IS NOT NULL;
DROP INDEX runs_by_parent;
CREATE INDEX runs_by_parent ON runs (parent_run) WHERE parent_run IS NOT NULL;
