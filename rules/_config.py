"""``.kubeguard.yaml``: profile, default namespace, global match, per-rule effect and parameters.

Parameter names are Azure Policy's own, so a team can paste the values of its policy
assignment. Unknown keys, unknown rule ids and wrong types are errors naming the key's line.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from rules._model import Effect, Profile, Rule
from rules._params import is_label_selector, is_string, is_string_list
from rules._registry import all_rules
from rules._yaml import YamlError, compose_documents, construct

CONFIG_FILE = ".kubeguard.yaml"
MATCH_KEYS = ("excludedNamespaces", "namespaces", "labelSelector")
_GLOBAL_VALIDATORS = {
    "excludedNamespaces": is_string_list,
    "namespaces": is_string_list,
    "labelSelector": is_label_selector,
}
EXTENSION_SECTIONS = ("fixes", "review")
FILTER_MODES = ("added", "diff_context", "file", "nofilter")  # which findings a pull-request review shows


def _is_limits(value: Any) -> str | None:
    if not isinstance(value, dict) or not set(value) <= {"cpu", "memory"}:
        return "must be {cpu: <quantity>, memory: <quantity>}"
    return None if all(isinstance(v, str) for v in value.values()) else "values must be strings such as 100m"


def _is_id(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else "must be a positive integer"


def _is_string_map(value: Any) -> str | None:
    ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return None if ok else "must map registry prefixes to mirrors (strings)"


def _is_port_map(value: Any) -> str | None:
    def port(p: Any) -> bool:
        return not isinstance(p, bool) and isinstance(p, int) and 0 < p < 65536
    ok = isinstance(value, dict) and all((port(k) or (isinstance(k, str) and k.isdigit())) and port(v)
                                         for k, v in value.items())
    return None if ok else "must map ports to ports (1-65535)"


FIX_VALIDATORS = {
    "defaultLimits": _is_limits,
    "runAsUser": _is_id,
    "runAsGroup": _is_id,
    "registryMirror": _is_string_map,
    "portMap": _is_port_map,
}


def _is_count(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1000
    return None if ok else "must be an integer from 1 to 1000"


def _is_fail_on(value: Any) -> str | None:
    return None if value in ("deny", "audit", "never") else "must be deny, audit or never"


def _is_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


# The pull-request bot's settings (read from the base branch, so a pull request cannot relax them)
REVIEW_VALIDATORS = {
    "maxComments": _is_count,  # inline comments per review (default 50); the rest is listed in the review body
    "failOn": _is_fail_on,  # check-run conclusion: failure at or above this effect (default deny)
    "drafts": _is_bool,  # review draft pull requests too (default false)
}
_SECTION_VALIDATORS = {"fixes": FIX_VALIDATORS, "review": REVIEW_VALIDATORS}


class ConfigError(Exception):
    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line
        self.message = message


@dataclass(frozen=True)
class RuleConfig:
    effect: Effect
    params: Mapping[str, Any]
    configured: frozenset[str] = frozenset()  # parameter names the user set


@dataclass(frozen=True)
class Config:
    profile: Profile = Profile.CURRENT
    default_namespace: str = "default"
    rules: Mapping[str, RuleConfig] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<defaults>"

    @property
    def legacy(self) -> bool:
        return self.profile is Profile.LEGACY

    def rule(self, rule_id: str) -> RuleConfig:
        return self.rules[rule_id]

    def unconfigured(self) -> dict[str, tuple[str, ...]]:
        """Enabled rules whose Defender "configuration required" parameters were left at the preset."""
        out: dict[str, tuple[str, ...]] = {}
        for rule in all_rules():
            rc = self.rules[rule.id]
            if rc.effect is Effect.DISABLED:
                continue
            missing = tuple(p.name for p in rule.params if p.configure and p.name not in rc.configured)
            if missing:
                out[rule.id] = missing
        return out


def default_config(profile: Profile = Profile.CURRENT) -> Config:
    return _build(profile, "default", {}, {}, {}, "<defaults>")


def _build(profile: Profile, default_ns: str, global_match: Mapping[str, Any],
           rule_values: Mapping[str, Mapping[str, Any]], extensions: Mapping[str, Any], source: str) -> Config:
    built: dict[str, RuleConfig] = {}
    for rule in all_rules():
        values = dict(rule_values.get(rule.id, {}))
        effect = Effect.parse(values.pop("effect")) if "effect" in values else Effect.AUDIT
        params = {p.name: copy.deepcopy(p.default_for(profile)) for p in rule.params}
        for key in MATCH_KEYS:
            if key in global_match:
                params[key] = copy.deepcopy(global_match[key])
        params.update(values)
        built[rule.id] = RuleConfig(effect, params, frozenset(values))
    return Config(profile, default_ns, built, dict(extensions), source)


def _entries(node: Node, source: str, what: str) -> list[tuple[str, ScalarNode, Node]]:
    if not isinstance(node, MappingNode):
        raise ConfigError(source, node.start_mark.line + 1, f"{what} must be a mapping")
    out = []
    for knode, vnode in node.value:
        if not isinstance(knode, ScalarNode):
            raise ConfigError(source, knode.start_mark.line + 1, f"{what}: keys must be strings")
        out.append((knode.value, knode, vnode))
    return out


def _value(vnode: Node, source: str) -> Any:
    try:
        return construct(vnode)
    except YamlError as exc:
        raise ConfigError(source, exc.line, exc.cause) from None


def load_config(text: str, source: str = CONFIG_FILE) -> Config:
    """Parse and validate a configuration; raises ConfigError naming the line."""
    docs = list(compose_documents(text))
    if docs and docs[0].error:
        raise ConfigError(source, docs[0].error.line, f"invalid YAML: {docs[0].error.cause}")
    if len(docs) > 1:
        raise ConfigError(source, docs[1].node.start_mark.line + 1 if docs[1].node else 1,
                          "a configuration holds one YAML document")
    if not docs or docs[0].node is None or _is_null(docs[0].node):  # empty, comments only, or a bare `---`
        return default_config()
    root = docs[0].node
    _value(root, source)  # refuses duplicate keys at every level, naming the repeated key's line
    profile, default_ns = Profile.CURRENT, "default"
    global_match: dict[str, Any] = {}
    rule_values: dict[str, dict[str, Any]] = {}
    extensions: dict[str, Any] = {}
    known_rules = {rule.id: rule for rule in all_rules()}
    for key, knode, vnode in _entries(root, source, "the configuration"):
        line = knode.start_mark.line + 1
        value = _value(vnode, source)
        if key == "profile":
            try:
                profile = Profile(value)
            except ValueError:
                raise ConfigError(source, line, "profile must be azure-current or azure-2021") from None
        elif key == "defaultNamespace":
            if is_string(value) or not value:
                raise ConfigError(source, line, "defaultNamespace must be a non-empty string")
            default_ns = value
        elif key in _GLOBAL_VALIDATORS:
            error = _GLOBAL_VALIDATORS[key](value)
            if error:
                raise ConfigError(source, line, f"{key} {error}")
            global_match[key] = value
        elif key == "rules":
            for rule_id, rknode, rvnode in _entries(vnode, source, "rules"):
                rule = known_rules.get(rule_id)
                if rule is None:
                    raise ConfigError(source, rknode.start_mark.line + 1,
                                      f"unknown rule {rule_id!r} (see `kubeguard rules`)")
                rule_values[rule_id] = _rule_values(rule, rvnode, source)
        elif key in _SECTION_VALIDATORS:
            validators = _SECTION_VALIDATORS[key]
            for fkey, fknode, fvnode in _entries(vnode, source, key):
                validator = validators.get(fkey)
                if validator is None:
                    raise ConfigError(source, fknode.start_mark.line + 1, f"{key}: unknown key {fkey!r} (expected "
                                      + ", ".join(validators) + ")")
                error = validator(_value(fvnode, source))
                if error:
                    raise ConfigError(source, fknode.start_mark.line + 1, f"{key}.{fkey} {error}")
            extensions[key] = value
        elif key == "filter":
            if value not in FILTER_MODES:
                raise ConfigError(source, line, "filter must be one of " + ", ".join(FILTER_MODES))
            extensions[key] = value
        else:
            raise ConfigError(source, line, f"unknown key {key!r} (expected profile, defaultNamespace, "
                                            "excludedNamespaces, namespaces, labelSelector, rules, fixes, "
                                            "filter, review)")
    return _build(profile, default_ns, global_match, rule_values, extensions, source)


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.value in ("", "~", "null", "Null", "NULL") \
        and node.tag.endswith(":null")


def _rule_values(rule: Rule, node: Node, source: str) -> dict[str, Any]:
    if _is_null(node):
        return {}
    values: dict[str, Any] = {}
    names = {p.name: p for p in rule.params}
    for key, knode, vnode in _entries(node, source, f"rules.{rule.id}"):
        line = knode.start_mark.line + 1
        value = _value(vnode, source)
        if key == "effect":
            try:
                Effect.parse(str(value))
            except ValueError as exc:
                raise ConfigError(source, line, f"rules.{rule.id}.effect: {exc}") from None
            values[key] = str(value)
            continue
        param = names.get(key)
        if param is None:
            raise ConfigError(source, line, f"rules.{rule.id}: unknown parameter {key!r} (parameters: "
                                            + ", ".join(["effect", *names]) + ")")
        error = param.validate(value) if param.validate else None
        if error:
            raise ConfigError(source, line, f"rules.{rule.id}.{key} {error}")
        values[key] = value
    return values
