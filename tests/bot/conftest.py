"""Fixtures for the fake GitHub (tests/bot/fake_github): a started server per test, checked against the spec;
and a real redis-server per test module."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_github import FakeGitHub
from local_servers import free_port, redis_command, rsa_key_pair, wait_for_redis


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A started ``FakeGitHub(strict=True)``; fails the test if any of its answers did not match the spec."""
    fake = FakeGitHub(strict=True)
    with fake:
        yield fake
    assert not fake.response_errors, "fake GitHub answered against the spec:\n" + "\n".join(fake.response_errors)


@pytest.fixture
def rsa_key() -> tuple[str, str]:
    """A fresh RSA key pair for a GitHub App: (private PEM, public PEM)."""
    return rsa_key_pair()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[str]:
    """A real redis-server on a free loopback port for the test module (no persistence); yields its URL."""
    port = free_port()
    try:
        command = redis_command(port)
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_redis(proc, port)
    except RuntimeError as exc:
        proc.kill()
        pytest.fail(str(exc), pytrace=False)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(5)
