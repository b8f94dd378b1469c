-- The state of each PLC-change trigger, so that one edge starts one run,
-- across restarts and across the nodes of a cluster.
--
-- `trigger_key` names the trigger within its workflow (device, address and
-- condition, e.g. `oven-1/coil:5/rising`). `level` is its last stable state
-- (the bit, or whether the register is above its threshold), `value` the
-- reading that settled it. `edges` counts every change of that state,
-- baselines taken after an outage included, so that a number never names two
-- changes: a run's idempotency key is derived from it, and a write succeeds
-- only if `edges` is still what the writer last read.
CREATE TABLE plc_triggers (
    workflow    TEXT   NOT NULL,
    trigger_key TEXT   NOT NULL,
    level       BIGINT NOT NULL,
    value       BIGINT NOT NULL,
    edges       BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (workflow, trigger_key)
);
