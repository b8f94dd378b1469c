-- Equipment locks and concurrency limits, shared by every node on the
-- database. One row per key a run (node_id '') or a node asked for: held,
-- or waiting in line. `id` is the arrival order: waiting requests are
-- granted oldest first, all of a request's keys at once, so no request
-- holds one lock while it waits for another. Rows go when the node or run
-- ends, in the same transaction that records the end.
CREATE TABLE locks (
    id           BIGSERIAL PRIMARY KEY,
    lock_key     TEXT   NOT NULL,
    run_id       TEXT   NOT NULL,
    node_id      TEXT   NOT NULL,
    lock_limit   BIGINT NOT NULL,
    held         BIGINT NOT NULL DEFAULT 0,
    requested_at BIGINT NOT NULL,
    acquired_at  BIGINT,
    UNIQUE (lock_key, run_id, node_id)
);
CREATE INDEX locks_by_run ON locks (run_id, node_id);
