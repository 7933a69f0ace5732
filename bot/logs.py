"""Structured logs for the service: one JSON object per line on standard error.

Every line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, then the fields of the current
context (``delivery_id``, ``event``, ``repo``, ``pr`` when known; see ``context``) and the record's own
fields (``logger.info("queued", extra=fields(jobs=2))``).

What must never appear: the webhook secret, tokens, private keys, signatures, payload bodies. The code does
not pass them; as a second line of defence fields whose names look secret are dropped, and values registered
with ``register_secret`` are masked wherever they occur in a line.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

ROOT_LOGGER = "kubeguard"
_FIELDS_ATTR = "kubeguard_fields"
_SECRET_NAMES = ("secret", "token", "password", "private_key", "privatekey", "signature", "authorization",
                 "payload", "body", "jwt")
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("kubeguard_log_context", default={})  # noqa: B039
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
MASK = "[redacted]"


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a logging call: structured fields of this one line."""
    return {_FIELDS_ATTR: values}


@contextlib.contextmanager
def context(**values: Any) -> Iterator[None]:
    """Fields added to every line logged inside the block (in this thread / task)."""
    merged = {**_context.get(), **{k: v for k, v in values.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every line from now on (the webhook secret, a private key, a token)."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)
            # a PEM key's lines are masked one by one too, should one line of it ever reach a message
            _secrets.update(line for line in value.splitlines() if len(line) >= 16 and "-----" not in line)


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_NAMES)


def _mask(text: str) -> str:
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record; never raises on odd field values (they are ``str``-ed)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = _dt.datetime.fromtimestamp(record.created, tz=_dt.timezone.utc)
        line: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = {**_context.get(), **(getattr(record, _FIELDS_ATTR, None) or {})}
        for name, value in extra.items():
            if name in line or _is_secret_name(name):
                continue
            line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
            line["traceback"] = self.formatException(record.exc_info)
        return _mask(json.dumps(line, default=str, ensure_ascii=False))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the call (so test capture and redirection work)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure(level: int | str = logging.INFO) -> logging.Logger:
    """Send the ``kubeguard`` loggers to standard error as JSON lines (idempotent). Returns that logger."""
    logger = logging.getLogger(ROOT_LOGGER)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
