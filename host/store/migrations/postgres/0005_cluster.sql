-- Cluster mode: the nodes that share this database, and who owns each run.
--
-- A run is owned by one node at a time, as (owner, epoch). Every commit of a
-- run's transitions checks both in the same transaction; a takeover raises
-- the epoch, so a node that lost a run cannot write to it again.
-- `lease_until` (from 0001) holds a run for its owner past the owner's own
-- heartbeat, while an attempt that can act on the world is in flight.
CREATE TABLE nodes (
    id           TEXT   PRIMARY KEY,
    incarnation  TEXT   NOT NULL,
    address      TEXT,
    version      TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    stopped_at   BIGINT,
    free_slots   BIGINT NOT NULL DEFAULT 0
);

ALTER TABLE runs ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
CREATE INDEX runs_by_owner ON runs (owner, status);

-- Operator actions for runs owned by another node, answered by the owner.
CREATE TABLE inbox (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    taken_at    BIGINT,
    answered_at BIGINT,
    answer      TEXT
);
CREATE INDEX inbox_open ON inbox (run_id) WHERE answered_at IS NULL;
