"""The storage, crash-durability and concurrency tests on a real PostgreSQL server.

The server is the one named by ``UW_TEST_POSTGRES_URL`` (a ``postgresql://`` URL whose user may
create databases), or else a throwaway cluster started here with ``initdb`` and ``pg_ctl``. With
neither, every test here is skipped and pytest's summary says why (``-ra``). Each test gets a
fresh database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from scenarios import (
    crash_cycles,
    decision_race,
    idempotency_race,
    load,
    stores_starting_together,
)
from servers import PostgresServer, PostgresUnavailable, bearer, libpq_url, postgres_server
from sqlalchemy import select

import underwriting as uw
from api.main import create_app
from api.settings import Settings
from api.store import SCHEMA_VERSION, QuoteRecord, SchemaInfo, Store, StoreError


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    try:
        with postgres_server() as server:
            yield server
    except PostgresUnavailable as reason:
        pytest.skip(f"PostgreSQL was skipped: {reason}")


@pytest.fixture
def database_url(postgres: PostgresServer) -> Iterator[str]:
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.1")


def _request(lab: str = "bsl3_biobank", seed: str = "7") -> dict[str, object]:
    import json

    body: dict[str, object] = json.loads(
        (Path(__file__).resolve().parents[2] / "examples" / f"{lab}.json").read_text(
            encoding="utf-8"
        )
    )
    body["target_relative_error"] = 0.2
    body["seed"] = seed
    return body


def test_storage_round_trip(database_url: str, tables: uw.RatingTables) -> None:
    """Keys, quotes, filters, pages, idempotency, decisions and revocation, stored in PostgreSQL."""
    settings = Settings(database_url=database_url, max_quote_years=2000)
    store = Store(database_url)
    store.create_schema()
    underwriter, _ = store.create_key("pg-underwriter", "underwriter")
    senior, _ = store.create_key("pg-senior", "senior_underwriter")
    other, other_record = store.create_key("pg-other", "underwriter")
    store.engine.dispose()

    with TestClient(create_app(settings, tables=tables)) as client:
        created = []
        for n, lab in enumerate(["bsl3_biobank", "physics_low_hazard", "bsl3_biobank"]):
            response = client.post(
                "/v1/quotes",
                json=_request(lab, seed=str(n)),
                headers={**bearer(underwriter), "Idempotency-Key": f"key-{n}"},
            )
            assert response.status_code == 201, response.text
            created.append(response.json())
        first = created[0]
        assert client.get(f"/v1/quotes/{first['id']}", headers=bearer(underwriter)).json() == first
        assert dt.datetime.fromisoformat(first["created_at"]).utcoffset() == dt.timedelta(0)

        again = client.post(
            "/v1/quotes",
            json=_request("bsl3_biobank", seed="0"),
            headers={**bearer(underwriter), "Idempotency-Key": "key-0"},
        )
        assert again.status_code == 201
        assert again.json() == first
        assert again.headers["Idempotent-Replayed"] == "true"
        conflict = client.post(
            "/v1/quotes",
            json=_request("bsl3_biobank", seed="99"),
            headers={**bearer(underwriter), "Idempotency-Key": "key-0"},
        )
        assert conflict.status_code == 409

        referred = client.get(
            "/v1/quotes", params={"outcome": "referred"}, headers=bearer(underwriter)
        ).json()
        assert {q["id"] for q in referred["items"]} == {created[0]["id"], created[2]["id"]}
        pages, cursor = [], None
        while True:
            params: dict[str, str | int] = {"limit": 1}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/quotes", params=params, headers=bearer(underwriter)).json()
            pages += [q["id"] for q in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert pages == [q["id"] for q in reversed(created)]
        assert client.get(f"/v1/quotes/{first['id']}", headers=bearer(other)).status_code == 404

        decided = client.post(
            f"/v1/quotes/{first['id']}/decision",
            json={"decision": "approve", "note": "within appetite"},
            headers=bearer(senior),
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == "approved"
        assert client.get(f"/v1/quotes/{first['id']}", headers=bearer(senior)).json() == (
            decided.json()
        )
        twice = client.post(
            f"/v1/quotes/{first['id']}/decision",
            json={"decision": "decline", "note": "changed my mind"},
            headers=bearer(senior),
        )
        assert twice.status_code == 409

        replay = client.post(f"/v1/quotes/{created[1]['id']}/replay", headers=bearer(underwriter))
        assert replay.json()["matches"] is True

        store = Store(database_url)
        assert store.revoke_key(other_record.id)
        store.engine.dispose()
        assert client.get("/v1/quotes", headers=bearer(other)).status_code == 401


def test_a_newer_schema_is_refused(database_url: str) -> None:
    store = Store(database_url)
    try:
        store.create_schema()
        with store.session() as session:
            info = session.get(SchemaInfo, 1)
            assert info is not None
            info.version = SCHEMA_VERSION + 1
        with pytest.raises(StoreError, match="newer than this service"):
            store.create_schema()
    finally:
        store.engine.dispose()


def test_a_plain_postgresql_url_uses_psycopg(database_url: str) -> None:
    """DATABASE_URL as PostgreSQL tools write it (``postgresql://``) works as it is."""
    store = Store(libpq_url(database_url))
    try:
        store.create_schema()
        with store.session() as session:
            assert list(session.scalars(select(QuoteRecord))) == []
        assert store.ping()
    finally:
        store.engine.dispose()


def test_crash_durability(database_url: str, tmp_path: Path) -> None:
    report = crash_cycles(database_url, tmp_path, cycles=3, seed=20260801)
    print(f"PostgreSQL: {report.summary()}")
    assert report.problems == []
    assert report.decisions_acknowledged > 0


@pytest.mark.soak
def test_crash_durability_twenty_cycles(database_url: str, tmp_path: Path) -> None:
    report = crash_cycles(database_url, tmp_path, cycles=20, seed=20260820)
    print(f"PostgreSQL: {report.summary()}")
    assert report.problems == []
    assert report.decisions_acknowledged > 0


def _assert_load(database_url: str, tmp_path: Path, seconds: float, seed: int) -> None:
    report = load(database_url, tmp_path, clients=32, seconds=seconds, seed=seed)
    print(f"PostgreSQL: {report.summary()}")
    assert report.errors == []
    assert report.requests["POST quote (retry)"] > 0
    assert report.requests["POST decision"] > 0


def test_32_clients_without_errors(database_url: str, tmp_path: Path) -> None:
    _assert_load(database_url, tmp_path, seconds=20, seed=9)


@pytest.mark.soak
def test_32_clients_for_minutes(database_url: str, tmp_path: Path) -> None:
    _assert_load(database_url, tmp_path, seconds=180, seed=10)


def test_same_idempotency_key_at_once_stores_one_quote(database_url: str, tmp_path: Path) -> None:
    assert idempotency_race(database_url, tmp_path, clients=32, rounds=5) == []


def test_one_referral_decided_by_many_at_once(database_url: str, tmp_path: Path) -> None:
    assert decision_race(database_url, tmp_path, clients=16, rounds=3) == []


def test_services_starting_at_once_on_a_fresh_database(database_url: str) -> None:
    """Several replicas starting together on an empty database: every one of them starts."""
    stores_starting_together(database_url, stores=8)
