"""The authorisation matrix, completed: every endpoint x every role against another principal's
objects, with no cross-tenant read or write.

``tests/service/test_api.py::test_roles_matrix`` already covers every endpoint x role x (no
key, wrong key, revoked key, right key on one's own quote). This module adds the fourth column
of the matrix: the right key aimed at *another* principal's quote (``underwriter-2``'s), and
checks that a refused call neither reveals nor changes anything. Quotes are tenant data (an
underwriter sees only their own; senior underwriters and admins see all); simulations are not
stored and rating tables are shared, so for them another principal's object does not exist and
the answer is the same as for one's own request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import underwriting as uw
from api.main import create_app
from api.settings import Settings
from api.store import QuoteRecord, Store

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("underwriter", "senior_underwriter", "chief_underwriter", "actuary", "admin")
OTHER = "underwriter-2"
PROBLEM_JSON = "application/problem+json"
ENDPOINTS = (
    "create quote",
    "get quote",
    "list quotes",
    "replay quote",
    "decide referral",
    "run simulation",
    "list rating tables",
    "get rating tables",
)
# The status when a key of ``role`` (principal ``<role>-1``) aims at underwriter-2's quote.
SEES_ALL = {"senior_underwriter": 200, "chief_underwriter": 200, "admin": 200}
EXPECTED: dict[str, dict[str, int]] = {
    "create quote": {
        "underwriter": 201,
        "senior_underwriter": 201,
        "chief_underwriter": 201,
        "actuary": 403,
        "admin": 201,
    },
    "get quote": {"underwriter": 404, "actuary": 403, **SEES_ALL},
    "list quotes": {"underwriter": 200, "actuary": 403, **SEES_ALL},
    "replay quote": {"underwriter": 404, "actuary": 403, **SEES_ALL},
    "decide referral": {"underwriter": 403, "actuary": 403, **SEES_ALL},
    "run simulation": {
        "underwriter": 403,
        "senior_underwriter": 403,
        "chief_underwriter": 403,
        "actuary": 200,
        "admin": 200,
    },
    "list rating tables": dict.fromkeys(ROLES, 200),
    "get rating tables": dict.fromkeys(ROLES, 200),
}
SIMULATION = {
    "profile": {
        "scenarios": [
            {
                "id": "ref",
                "frequency": {"family": "poisson", "rate": 2.0},
                "severity": {"family": "lognormal", "mu": 10.0, "sigma": 1.5},
                "section": "property",
            }
        ]
    },
    "terms": {"sections": {"property": {"deductible": 10_000, "limit": 500_000}}},
    "n_years": 2_000,
}


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "examples" / f"{name}.json").read_text("utf-8"))
    body["target_relative_error"] = 0.2
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class World:
    """A running app: a key per role, underwriter-2's key, and underwriter-2's referred quote."""

    app: FastAPI
    client: TestClient
    keys: dict[str, dict[str, str]]
    other_key: dict[str, str]
    referred_id: str

    @property
    def store(self) -> Store:
        store: Store = self.app.state.store
        return store

    def others_referred_quote(self) -> str:
        """A fresh copy of underwriter-2's referred quote (no engine run), to aim at."""
        with self.store.session() as session:
            source = session.get(QuoteRecord, self.referred_id)
            assert source is not None
            copied_id = str(uuid.uuid4())
            copied = QuoteRecord(
                id=copied_id,
                principal=OTHER,
                lab_id=f"OTHER-{uuid.uuid4().hex[:8]}",
                outcome=source.outcome,
                status=source.status,
                created_at=source.created_at,
                idempotency_key=f"other-{uuid.uuid4()}",
                request_hash=source.request_hash,
                request=source.request,
                quote=source.quote,
                valid_until=source.valid_until,
                tables_version=source.tables_version,
                record={**source.record, "id": copied_id},
            )
            session.add(copied)
            return copied.id

    def record(self, quote_id: str) -> tuple[str, str, str | None]:
        with self.store.session() as session:
            record = session.get(QuoteRecord, quote_id)
            assert record is not None
            return record.principal, record.status, record.idempotency_key


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('auth')}/uw.db", max_quote_years=2_000
    )
    app = create_app(settings, tables=uw.load_rating_tables("2026.1"))
    with TestClient(app) as client:
        store: Store = app.state.store
        keys = {role: bearer(store.create_key(f"{role}-1", role)[0]) for role in ROLES}
        other_key = bearer(store.create_key(OTHER, "underwriter")[0])
        referred = client.post("/v1/quotes", json=example("bsl3_biobank"), headers=other_key)
        assert referred.status_code == 201, referred.text
        assert referred.json()["status"] == "referred"
        yield World(app, client, keys, other_key, referred.json()["id"])


def call_on_others(world: World, endpoint: str, headers: dict[str, str]) -> httpx2.Response:
    """Call ``endpoint`` aimed at underwriter-2's quote wherever the endpoint takes one."""
    client = world.client
    target = world.others_referred_quote()
    if endpoint == "create quote":
        # underwriter-2's idempotency key, with underwriter-2's very body
        _, _, key = world.record(target)
        assert key is not None
        body = example("bsl3_biobank")
        return client.post("/v1/quotes", json=body, headers={**headers, "Idempotency-Key": key})
    if endpoint == "list quotes":
        with world.store.session() as session:
            record = session.get(QuoteRecord, target)
            assert record is not None
            lab_id = record.lab_id
        return client.get("/v1/quotes", params={"lab_id": lab_id}, headers=headers)
    if endpoint == "get quote":
        return client.get(f"/v1/quotes/{target}", headers=headers)
    if endpoint == "replay quote":
        return client.post(f"/v1/quotes/{target}/replay", headers=headers)
    if endpoint == "decide referral":
        decision = {"decision": "approve", "note": "looked at it"}
        return client.post(f"/v1/quotes/{target}/decision", json=decision, headers=headers)
    if endpoint == "run simulation":
        return client.post("/v1/simulations", json=SIMULATION, headers=headers)
    if endpoint == "list rating tables":
        return client.get("/v1/rating-tables", headers=headers)
    assert endpoint == "get rating tables"
    return client.get("/v1/rating-tables/2026.1", headers=headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_another_principals_objects(world: World, endpoint: str, role: str) -> None:
    response = call_on_others(world, endpoint, world.keys[role])
    expected = EXPECTED[endpoint][role]

    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"] == PROBLEM_JSON
        assert OTHER not in response.text, "a refusal says nothing of the owner"
        return
    body = response.json()
    if endpoint == "create quote":
        assert body["created_by"] == f"{role}-1", "a new quote of one's own, not theirs"
        assert "Idempotent-Replayed" not in response.headers
    elif endpoint == "list quotes":
        owners = {item["created_by"] for item in body["items"]}
        assert owners == ({OTHER} if role in SEES_ALL else set())
    elif endpoint in ("get quote", "decide referral"):
        assert body["created_by"] == OTHER
    elif endpoint == "replay quote":
        assert body["matches"] is True


def test_an_underwriter_lists_nothing_of_another(world: World) -> None:
    client, mine = world.client, world.keys["underwriter"]
    target = world.others_referred_quote()
    with world.store.session() as session:
        record = session.get(QuoteRecord, target)
        assert record is not None
        lab_id = record.lab_id
    queries: list[dict[str, str | int]] = [
        {"lab_id": lab_id},
        {"outcome": "referred", "limit": 100},
        {"created_from": "2000-01-01T00:00:00Z", "limit": 100},
    ]
    for params in queries:
        items = client.get("/v1/quotes", params=params, headers=mine).json()["items"]
        assert OTHER not in {item["created_by"] for item in items}, params


def test_a_refused_write_changes_nothing(world: World) -> None:
    target = world.others_referred_quote()
    before = world.record(target)
    for role in ("underwriter", "actuary"):
        decision = {"decision": "decline", "note": "not mine to decide"}
        response = world.client.post(
            f"/v1/quotes/{target}/decision", json=decision, headers=world.keys[role]
        )
        assert response.status_code == 403
    assert world.record(target) == before
    own = world.client.get(f"/v1/quotes/{target}", headers=world.other_key).json()
    assert own["referral_decision"] is None
    assert own["status"] == "referred"


def test_another_principals_quote_and_no_quote_look_the_same(world: World) -> None:
    """404 either way, with the same words: an id reveals nothing about whether it exists."""
    mine = world.keys["underwriter"]
    others = world.others_referred_quote()
    missing = str(uuid.uuid4())
    for path in ("/v1/quotes/{}", "/v1/quotes/{}/replay"):
        method = world.client.get if path.endswith("}") else world.client.post
        seen = [method(path.format(quote_id), headers=mine) for quote_id in (others, missing)]
        assert [r.status_code for r in seen] == [404, 404]
        assert seen[0].json()["detail"] == seen[1].json()["detail"]


@pytest.mark.parametrize("credentials", ["no key", "wrong key", "revoked key"])
def test_bad_credentials_are_401_before_any_object_is_looked_up(
    world: World, credentials: str
) -> None:
    """Another principal's quote and a missing one give the same 401: no existence oracle."""
    if credentials == "revoked key":
        key, record = world.store.create_key("underwriter-1", "underwriter")
        world.store.revoke_key(record.id)
        headers = bearer(key)
    else:
        headers = {} if credentials == "no key" else bearer("uwk_" + "y" * 43)
    others = world.others_referred_quote()
    missing = str(uuid.uuid4())
    for quote_id in (others, missing):
        for response in (
            world.client.get(f"/v1/quotes/{quote_id}", headers=headers),
            world.client.post(f"/v1/quotes/{quote_id}/replay", headers=headers),
            world.client.post(
                f"/v1/quotes/{quote_id}/decision",
                json={"decision": "approve", "note": "x"},
                headers=headers,
            ),
        ):
            assert response.status_code == 401, response.text
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert world.record(others)[1] == "referred"
