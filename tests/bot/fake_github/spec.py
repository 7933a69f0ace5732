"""GitHub's OpenAPI description (``tests/bot/data/openapi-subset.json``), loaded once per process.

``api()`` gives the openapi-core ``OpenAPI`` object with ``servers`` rewritten to ``[{"url": "/"}]`` so it
matches any loopback port, and null added to nullable enums (see ``_allow_null_in_nullable_enums``); building
it validates the 445 KB document, ~0.4 s, hence the module-level cache.
``request_errors_message`` turns openapi-core's errors into GitHub's ``Invalid request.\\n\\n...`` wording.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

from openapi_core import OpenAPI

SPEC_PATH = Path(__file__).resolve().parent.parent / "data" / "openapi-subset.json"

_lock = threading.Lock()
_api: OpenAPI | None = None


@cache
def raw_spec() -> dict[str, Any]:
    """The document as published (``servers`` still ``https://api.github.com``); do not mutate."""
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def api() -> OpenAPI:
    global _api
    with _lock:
        if _api is None:
            spec = copy.deepcopy(raw_spec())
            spec["servers"] = [{"url": "/"}]
            _allow_null_in_nullable_enums(spec)
            _api = OpenAPI.from_dict(spec)
        return _api


def _allow_null_in_nullable_enums(node: Any) -> None:
    """``nullable: true`` with an ``enum`` lacking null means "never null" to the validator (OpenAPI 3.0.3),
    yet GitHub sends null there (a running check's ``conclusion``, a single-line comment's ``start_side``;
    the README lists the spec's own check-run example failing on it): add null to such enums (in memory)."""
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        for value in node.values():
            _allow_null_in_nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _allow_null_in_nullable_enums(value)


def operation(method: str, pattern: str) -> dict[str, Any] | None:
    return raw_spec()["paths"].get(pattern, {}).get(method.lower())


def declared_statuses(method: str, pattern: str) -> set[str]:
    op = operation(method, pattern)
    return set(op["responses"]) if op else set()


def documentation_url(method: str, pattern: str) -> str:
    op = operation(method, pattern)
    docs = (op or {}).get("externalDocs", {}).get("url")
    return docs or "https://docs.github.com/rest"


def flask_rule_to_pattern(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _schema_error_text(error: Any) -> str:
    """One jsonschema error in GitHub's words (observed: ``For 'properties/line', "12" is not an integer.``)."""
    where = "/".join(str(p) for p in error.absolute_path if not isinstance(p, int))
    if error.validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, str) else "/".join(error.validator_value)
        value = "nil" if error.instance is None else json.dumps(error.instance)
        return f"For 'properties/{where}', {value} is not {_article(expected)} {expected}."
    if error.validator == "required":
        match = re.match(r"'(.+)' is a required property", error.message)
        return f'"{match.group(1) if match else error.message}" wasn\'t supplied.'
    if error.validator == "maxItems":
        return f"No more than {error.validator_value} items are allowed; {len(error.instance)} were supplied."
    if error.validator == "maxLength":
        return f"For 'properties/{where}', is too long (maximum is {error.validator_value} characters)."
    if error.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value)
        return f"For 'properties/{where}', {json.dumps(error.instance)} is not one of {allowed}."
    if error.validator == "anyOf" and error.context:
        return "No subschema in \"anyOf\" matched.\n" + "\n".join(_schema_error_text(e) for e in error.context)
    return f"For 'properties/{where}', {error.message}." if where else error.message


def request_errors_message(errors: list[Exception]) -> str:
    details: list[str] = []
    for error in errors:
        cause = error.__cause__
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            details.extend(_schema_error_text(e) for e in schema_errors)
        else:
            details.append(str(error))
    return "Invalid request.\n\n" + "\n".join(details)
