"""Fixtures for the fake GitHub (tests/bot/fake_github): a started server per test, checked against the spec."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_github import FakeGitHub


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
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public
