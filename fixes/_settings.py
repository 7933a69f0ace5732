"""The ``fixes:`` section of the configuration (validated, with its lines, by rules._config)."""

from __future__ import annotations

from fixes._model import FixSettings
from rules import Config


def settings_from_config(config: Config) -> FixSettings:
    raw = dict(config.extensions.get("fixes") or {})
    limits = raw.get("defaultLimits") or {}
    defaults = FixSettings()
    return FixSettings(
        cpu=limits.get("cpu", defaults.cpu),
        memory=limits.get("memory", defaults.memory),
        run_as_user=raw.get("runAsUser", defaults.run_as_user),
        run_as_group=raw.get("runAsGroup"),
        registry_mirror=dict(raw.get("registryMirror") or {}),
        port_map={str(k): v for k, v in (raw.get("portMap") or {}).items()},
    )
