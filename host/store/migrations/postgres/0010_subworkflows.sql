-- Sub-workflows: the run and node that started a run, so that parent and
-- child link to each other and a cancel reaches the children.
ALTER TABLE runs ADD COLUMN parent_run TEXT;
ALTER TABLE runs ADD COLUMN parent_node TEXT;
CREATE INDEX runs_by_parent ON runs (parent_run);
