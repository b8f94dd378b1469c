-- Sub-workflows: the run and node that started a run, so that parent and
-- child link to each other and a cancel reaches the children; and how many
-- runs up its chain of parents goes (0 for a run started otherwise), so
-- that nesting is bounded with one read of the parent.
ALTER TABLE runs ADD COLUMN parent_run TEXT;
ALTER TABLE runs ADD COLUMN parent_node TEXT;
ALTER TABLE runs ADD COLUMN depth BIGINT NOT NULL DEFAULT 0;
CREATE INDEX runs_by_parent ON runs (parent_run);
