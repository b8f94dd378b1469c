"""A Python task that misbehaves on request, to test the sandbox with an
interpreted guest. Config `{"mode": "spin" | "raise" | "echo"}`."""
import json

import wit_world
from wit_world.imports import baton_plugin_types as t


class WitWorld(wit_world.WitWorld):
    def describe(self) -> t.PluginInfo:
        return t.PluginInfo(name="py-hostile", version="1.0.0", description="Misbehaves on request.", config_schema=None)

    def run(self, ctx: t.TaskContext, config: str, input: str) -> str:
        mode = json.loads(config)["mode"]
        if mode == "spin":
            n = 0
            while True:
                n += 1
        if mode == "raise":
            raise ValueError(f"recipe {json.loads(input)} has no oven profile")
        return input
