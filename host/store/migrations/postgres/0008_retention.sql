-- Retention: finished runs in the order they finished, so that a sweep finds
-- the oldest ones with a short range scan however many runs are kept.
CREATE INDEX runs_finished ON runs (finished_at, id) WHERE finished_at IS NOT NULL;
