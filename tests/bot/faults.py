"""Crash a real process at one of the queue's fault points (``bot.jobs.FAULT_POINTS``) and see what is left."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

from bot import jobs
from bot.webhook import signature

SECRET = "fault-secret"
SHA = "c" * 40


def killed_at(point: str, action: Callable[[], object]) -> tuple[int, list[str]]:
    """Run ``action`` in a forked child whose hook SIGKILLs it at ``point``; returns the child's wait status
    and the fault points it passed before (the one it died at last). The child never returns from here."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report each point reached, die at ``point``
        try:
            os.close(read_end)

            def hook(name: str) -> None:
                os.write(write_end, f"{name}\n".encode())
                if name == point:
                    os.kill(os.getpid(), signal.SIGKILL)

            jobs.set_fault_hook(hook)
            action()
        finally:
            os._exit(0)  # only reached if the kill never came
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        passed = reader.read().decode().split()
    _, status = os.waitpid(pid, 0)
    return status, passed


def delivery(delivery_id: str, number: int = 7) -> tuple[bytes, dict[str, Any]]:
    """A signed ``pull_request`` delivery (body, headers) as GitHub sends it, for ``create_app(secret=SECRET)``."""
    body = json.dumps({"action": "synchronize", "installation": {"id": 5},
                       "repository": {"name": "repo", "owner": {"login": "octo"}},
                       "pull_request": {"number": number, "state": "open", "draft": False,
                                        "head": {"sha": SHA}}}).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
               "X-GitHub-Delivery": delivery_id, "X-Hub-Signature-256": signature(SECRET, body)}
    return body, headers


def job_of(delivery_id: str, number: int = 7) -> jobs.Job:
    """The job the webhook makes of ``delivery(delivery_id, number)``."""
    return jobs.Job(delivery_id, "pull_request", "synchronize", 5, "octo", "repo", number, SHA)
