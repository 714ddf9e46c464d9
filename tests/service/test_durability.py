"""Crash durability on SQLite: ``kill -9`` the server while clients post.

Every quote that got its 201 and every referral decision that got its 200 must come back after
the restart, identical; no row may be partial or half-decided; a post that got no answer, retried
with its Idempotency-Key, is stored exactly once. ``make test`` runs a few cycles, ``make soak``
twenty. The same scenario runs on PostgreSQL in ``test_postgres.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scenarios import crash_cycles


def _assert_durable(tmp_path: Path, cycles: int, seed: int) -> None:
    report = crash_cycles(f"sqlite:///{tmp_path}/uw.db", tmp_path, cycles=cycles, seed=seed)
    print(f"SQLite, seed {seed}: {report.summary()}")
    assert report.problems == []
    assert report.quotes_acknowledged > 0
    assert report.decisions_acknowledged > 0


def test_acknowledged_quotes_and_decisions_survive_kill_9(tmp_path: Path) -> None:
    _assert_durable(tmp_path, cycles=3, seed=20260701)


@pytest.mark.soak
def test_twenty_kill_9_cycles(tmp_path: Path) -> None:
    _assert_durable(tmp_path, cycles=20, seed=20260720)
