-- Plugin components as uploaded, with what `describe` reported.
CREATE TABLE plugins (
    digest        TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    major         BIGINT  NOT NULL,
    description   TEXT    NOT NULL,
    config_schema TEXT,
    imports       TEXT    NOT NULL,
    size          BIGINT  NOT NULL,
    bytes         BYTEA   NOT NULL,
    created_at    BIGINT  NOT NULL,
    UNIQUE (name, version)
);

-- Every applied version of every workflow; never updated, so runs can pin one.
CREATE TABLE workflows (
    name       TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    definition TEXT   NOT NULL,
    plugins    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE runs (
    id              TEXT   PRIMARY KEY,
    workflow        TEXT   NOT NULL,
    version         BIGINT NOT NULL,
    status          TEXT   NOT NULL,
    input           TEXT   NOT NULL,
    output          TEXT,
    error           TEXT,
    idempotency_key TEXT,
    trigger         TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    owner           TEXT,
    lease_until     BIGINT,
    UNIQUE (workflow, idempotency_key)
);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_by_workflow ON runs (workflow, id);

-- One row per attempt of a node (or of one foreach item, or of a compensation).
CREATE TABLE node_executions (
    run_id      TEXT   NOT NULL,
    node_id     TEXT   NOT NULL,
    item        BIGINT NOT NULL,
    phase       TEXT   NOT NULL,
    attempt     BIGINT NOT NULL,
    status      TEXT   NOT NULL,
    output      TEXT,
    error       TEXT,
    error_kind  TEXT,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    retry_at    BIGINT,
    PRIMARY KEY (run_id, node_id, item, phase, attempt)
);

-- Append-only: run history and audit. A run's state is the fold of its events.
CREATE TABLE events (
    seq     BIGSERIAL PRIMARY KEY,
    run_id  TEXT,
    at      BIGINT NOT NULL,
    kind    TEXT   NOT NULL,
    node_id TEXT,
    actor   TEXT,
    data    TEXT   NOT NULL
);
CREATE INDEX events_by_run ON events (run_id, seq);
