"""The load benchmark's machinery in miniature (``benchmarks/load_service.py``): the real ``kubeguard serve``
(gunicorn, SQLite queue, worker threads) against the GitHub stand-in, signed deliveries at a fixed rate, one
``kill -9`` of the whole service mid-load and a restart. Whatever was acknowledged is reviewed, once."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import load_service


def test_a_kill_9_mid_load_loses_no_acknowledged_delivery_and_posts_nothing_twice(rsa_key: tuple[str, str]) -> None:
    options = load_service.LoadOptions(rate=4, seconds=3, kill_at=0.4, restart_after=0.5, redeliver_every=4,
                                       drain_timeout=30)
    result = load_service.run(load_service.SCENARIOS["embedded-kill"], options, key=rsa_key, verbose=False)
    summary = load_service.describe(result)
    assert result.sent == 12 and result.redeliveries == 2, summary
    assert result.refused + result.failed > 0, summary  # the service really was down during the load
    assert result.acknowledged >= 4 and result.downtime is not None, summary
    assert result.drained, summary
    assert result.lost == 0, summary
    assert result.duplicates == 0, summary
    assert result.completed_prs >= result.expected_prs > 0, summary
    assert result.queue_counts.get("dead") == 0 and result.queue_counts.get("done", 0) >= result.expected_prs, summary
    assert result.leftover_processes == [], summary
