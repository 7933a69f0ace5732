"""Real local parts that the bot's tests and ``benchmarks/load_service.py`` both start: a free loopback port,
a GitHub App key pair, and a redis-server (started by the caller, waited for here)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rsa_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair for a GitHub App: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def redis_command(port: int, *extra: str) -> list[str]:
    """The command line of a redis-server on ``port`` of 127.0.0.1 without persistence; ``FileNotFoundError``
    naming the fix when redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed: these need a real one "
                                "(apt-get install redis-server; .ci/run installs it)")
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *extra]


def wait_for_redis(proc: subprocess.Popen[bytes], port: int, timeout: float = 10.0) -> None:
    """Return once the redis-server ``proc`` answers PING on ``port``; ``RuntimeError`` if it exits or does not
    answer within ``timeout`` seconds."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer PING on port {port}") from None
                time.sleep(0.02)
    finally:
        client.close()
