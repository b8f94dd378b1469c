"""{{name}}: a Baton task in Python. Build with ./build.sh."""
import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import baton_plugin_types as t
from wit_world.imports import log, mqtt, plc

CONFIG_SCHEMA = {
    "type": "object",
    "required": ["device", "address"],
    "properties": {
        "device": {"type": "string"},
        "address": {"type": "integer", "minimum": 0, "maximum": 65535},
        "connection": {"type": "string", "default": "plant"},
        "topic": {"type": "string"},
    },
}

# Worth retrying: the device may answer next time.
RETRYABLE = (plc.PlcError_Timeout, plc.PlcError_Unavailable, mqtt.MqttError_Timeout, mqtt.MqttError_Unavailable)


class WitWorld(wit_world.WitWorld):
    def describe(self) -> t.PluginInfo:
        return t.PluginInfo(
            name="{{name}}",
            version="0.1.0",
            description="Reads one holding register and, with `topic`, publishes it.",
            config_schema=json.dumps(CONFIG_SCHEMA),
        )

    def run(self, ctx: t.TaskContext, config: str, input: str) -> str:
        cfg = json.loads(config) or {}
        if "device" not in cfg or "address" not in cfg:
            raise Err(t.TaskError_Fatal("config needs `device` and `address`"))
        try:
            [value] = plc.read_holding_registers(cfg["device"], cfg["address"], 1)
        except Err as e:
            kind = t.TaskError_Retryable if isinstance(e.value, RETRYABLE) else t.TaskError_Fatal
            raise Err(kind(f"reading {cfg['device']}: {e.value}"))
        log.log(log.Level.INFO, f"{ctx.node_id}: read {value}")
        result = {"value": value}
        if "topic" in cfg:
            try:
                mqtt.publish(cfg.get("connection", "plant"), cfg["topic"], json.dumps(result).encode(), mqtt.Qos.AT_LEAST_ONCE, False)
            except Err as e:
                kind = t.TaskError_Retryable if isinstance(e.value, RETRYABLE) else t.TaskError_Fatal
                raise Err(kind(f"publishing to {cfg['topic']}: {e.value}"))
        return json.dumps(result)
