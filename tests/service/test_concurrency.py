"""Concurrency on SQLite: 32 clients against a real server.

Zero errors and zero 'database is locked'; a retried post with the same Idempotency-Key and body
gives the same quote; the same key sent by many clients at the same instant stores exactly one
quote; many seniors deciding one referral at once: one wins, the others are told 409. ``make
test`` runs 20 s of load, ``make soak`` several minutes. The same scenarios run on PostgreSQL in
``test_postgres.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scenarios import decision_race, idempotency_race, load, stores_starting_together


def _assert_load(tmp_path: Path, seconds: float, seed: int) -> None:
    report = load(f"sqlite:///{tmp_path}/uw.db", tmp_path, clients=32, seconds=seconds, seed=seed)
    print(f"SQLite: {report.summary()}")
    assert report.errors == []
    assert report.locked == 0
    assert report.requests["POST quote"] > 0
    assert report.requests["POST quote (retry)"] > 0
    assert report.requests["POST decision"] > 0


def test_32_clients_without_errors(tmp_path: Path) -> None:
    _assert_load(tmp_path, seconds=20, seed=7)


@pytest.mark.soak
def test_32_clients_for_minutes(tmp_path: Path) -> None:
    _assert_load(tmp_path, seconds=180, seed=8)


def test_same_idempotency_key_at_once_stores_one_quote(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/uw.db"
    assert idempotency_race(url, tmp_path, clients=32, rounds=5) == []


def test_one_referral_decided_by_many_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/uw.db"
    assert decision_race(url, tmp_path, clients=16, rounds=3) == []


def test_services_starting_at_once_on_a_fresh_database(tmp_path: Path) -> None:
    """Several processes' stores opened together on a new file: every one of them starts.

    (The race is narrow on SQLite, so it is run on twenty new files.)
    """
    for attempt in range(20):
        url = f"sqlite:///{tmp_path}/uw-{attempt}.db"
        stores_starting_together(url, stores=16)
