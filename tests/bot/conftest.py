"""Fixtures for the fake GitHub (tests/bot/fake_github): a started server per test, checked against the spec."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_github import FakeGitHub


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A started ``FakeGitHub(strict=True)``; fails the test if any of its answers did not match the spec."""
    fake = FakeGitHub(strict=True)
    with fake:
        yield fake
    assert not fake.response_errors, "fake GitHub answered against the spec:\n" + "\n".join(fake.response_errors)
