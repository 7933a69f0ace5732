"""kubeguard rules: the 13 Azure Defender for Kubernetes workload-protection recommendations.

Pure: text and configuration in, findings out. ``scan(files, config)`` is the entry point.
"""

from rules._config import CONFIG_FILE, Config, ConfigError, default_config, load_config
from rules._engine import decode, scan, scan_file
from rules._model import (
    Control,
    Effect,
    Finding,
    Param,
    Problem,
    Profile,
    Report,
    Resource,
    ResourceVerdict,
    Rule,
    Severity,
    Suppression,
)
from rules._registry import all_rules, get_rule, rule_ids
from rules._score import ControlScore, control_scores, total_score

__all__ = [
    "CONFIG_FILE",
    "Config",
    "ConfigError",
    "Control",
    "ControlScore",
    "Effect",
    "Finding",
    "Param",
    "Problem",
    "Profile",
    "Report",
    "Resource",
    "ResourceVerdict",
    "Rule",
    "Severity",
    "Suppression",
    "all_rules",
    "control_scores",
    "decode",
    "default_config",
    "get_rule",
    "load_config",
    "rule_ids",
    "scan",
    "scan_file",
    "total_score",
]
