-- Installation-wide switches that must survive a restart, such as the
-- safety interlock.
CREATE TABLE flags (
    name       TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    actor      TEXT,
    updated_at BIGINT NOT NULL
);
