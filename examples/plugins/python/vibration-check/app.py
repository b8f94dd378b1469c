"""vibration-check: judge a machine's vibration from PLC samples, then publish
and report the verdict.

Reads `count` input registers of vibration velocity samples (raw units times
`scale` = mm/s), computes mean, RMS and peak, and classifies the RMS against
ISO 10816-style zones (`warn_rms`, `alarm_rms`) and the peak against
`alarm_peak`. The verdict is published as JSON on an MQTT topic and, when
`report_url` is set, posted to a quality system over HTTP with the attempt's
idempotency key. A report that the node's grants do not allow is skipped with
a warning instead of failing the task: the verdict has already been published.
"""
import json
import math

import wit_world
from componentize_py_types import Err
from wit_world.imports import baton_plugin_types as t
from wit_world.imports import log, mqtt, plc

import wasi_http_client as http

VERSION = "1.0.0"

CONFIG_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["device", "address", "count", "connection", "topic"],
    "additionalProperties": False,
    "properties": {
        "device": {"type": "string"},
        "address": {"type": "integer", "minimum": 0, "maximum": 65535},
        "count": {"type": "integer", "minimum": 1, "maximum": 125},
        "scale": {"type": "number", "default": 0.1},
        "warn_rms": {"type": "number", "default": 4.5},
        "alarm_rms": {"type": "number", "default": 7.1},
        "alarm_peak": {"type": "number", "default": 11.0},
        "connection": {"type": "string"},
        "topic": {"type": "string"},
        "report_url": {"type": "string", "pattern": "^https?://"},
    },
}

RETRYABLE = (plc.PlcError_Timeout, plc.PlcError_Unavailable, mqtt.MqttError_Timeout, mqtt.MqttError_Unavailable)


def capability_error(what: str, error) -> Err:
    """Turn a capability error into the task error the engine acts on."""
    detail = getattr(error, "value", "") or type(error).__name__.split("_")[-1].lower()
    message = f"{what}: {type(error).__name__.split('_')[-1]}: {detail}"
    if isinstance(error, RETRYABLE):
        return Err(t.TaskError_Retryable(message))
    return Err(t.TaskError_Fatal(message))


def verdict(rms: float, peak: float, cfg: dict) -> str:
    if rms >= cfg.get("alarm_rms", 7.1) or peak >= cfg.get("alarm_peak", 11.0):
        return "alarm"
    if rms >= cfg.get("warn_rms", 4.5):
        return "warn"
    return "ok"


class WitWorld(wit_world.WitWorld):
    def describe(self) -> t.PluginInfo:
        return t.PluginInfo(
            name="vibration-check",
            version=VERSION,
            description="Classifies machine vibration from PLC samples; publishes and reports the verdict.",
            config_schema=json.dumps(CONFIG_SCHEMA),
        )

    def run(self, ctx: t.TaskContext, config: str, input: str) -> str:
        cfg = json.loads(config) or {}
        missing = [k for k in CONFIG_SCHEMA["required"] if k not in cfg]
        if missing:
            raise Err(t.TaskError_Fatal(f"config is missing {', '.join(missing)}"))

        try:
            raw = plc.read_input_registers(cfg["device"], cfg["address"], cfg["count"])
        except Err as e:
            raise capability_error(f"reading {cfg['device']}", e.value)
        scale = cfg.get("scale", 0.1)
        samples = [r * scale for r in raw]
        mean = sum(samples) / len(samples)
        rms = math.sqrt(sum(s * s for s in samples) / len(samples))
        peak = max(abs(s) for s in samples)
        record = {
            "device": cfg["device"],
            "run": ctx.run_id,
            "verdict": verdict(rms, peak, cfg),
            "rms": round(rms, 3),
            "peak": round(peak, 3),
            "mean": round(mean, 3),
            "samples": len(samples),
        }
        log.log(log.Level.INFO, f"{cfg['device']}: {record['verdict']} (rms {record['rms']} mm/s)")

        try:
            mqtt.publish(cfg["connection"], cfg["topic"], json.dumps(record).encode(), mqtt.Qos.AT_LEAST_ONCE, False)
        except Err as e:
            raise capability_error(f"publishing to {cfg['topic']}", e.value)

        reported = "skipped"
        if "report_url" in cfg:
            try:
                response = http.request(
                    "POST",
                    cfg["report_url"],
                    {"content-type": "application/json", "idempotency-key": ctx.idempotency_key},
                    json.dumps(record).encode(),
                    timeout_ms=5000,
                )
            except http.Denied:
                log.log(log.Level.WARN, f"report to {cfg['report_url']} is not granted; verdict published only")
                reported = "denied"
            except http.TransportError as e:
                raise Err(t.TaskError_Retryable(f"reporting to {cfg['report_url']}: {e}"))
            else:
                if response.status >= 500 or response.status == 429:
                    raise Err(t.TaskError_Retryable(f"{cfg['report_url']} answered {response.status}"))
                if response.status >= 400:
                    raise Err(t.TaskError_Fatal(f"{cfg['report_url']} answered {response.status}: {response.body[:200]!r}"))
                reported = str(response.status)

        return json.dumps({**record, "published": True, "reported": reported})
