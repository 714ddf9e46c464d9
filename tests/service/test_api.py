"""The quoting API through ``TestClient``: what an underwriter, an actuary and an operator rely on.

Every test builds the app on its own SQLite file; the rating tables are loaded once per module and
handed to ``create_app``. Quote bodies are the example labs with ``target_relative_error`` 0.05,
so that one quote takes a fraction of a second. Every response that passes through a client here
is checked for stack-trace text (``_no_traceback``).
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import math
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from scipy.stats import norm
from sqlalchemy import func, select, update

import underwriting as uw
from api.main import create_app
from api.routes import CURSOR_PATTERN, router
from api.security import Principal, current_principal
from api.settings import Settings
from api.store import QuoteRecord, SchemaInfo, Store, StoreError

TESTS = Path(__file__).resolve().parents[1]
EXAMPLES = TESTS.parent / "examples"
OPENAPI = TESTS / "openapi.json"
TABLES_VERSION = "2026.1"
ROLES = ("underwriter", "senior_underwriter", "chief_underwriter", "actuary", "admin")
PROBLEM_JSON = "application/problem+json"

# The reference scenario ``ref``: Poisson(2) events of LogNormal(10, 1.5) property losses.
REF_PROFILE: dict[str, Any] = {
    "scenarios": [
        {
            "id": "ref",
            "frequency": {"family": "poisson", "rate": 2.0},
            "severity": {"family": "lognormal", "mu": 10.0, "sigma": 1.5},
            "section": "property",
        }
    ]
}
REF_TERMS: dict[str, Any] = {"sections": {"property": {"deductible": 10_000, "limit": 500_000}}}


# --------------------------------------------------------------------------- helpers


def make_settings(path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{path}/uw.db",
        "max_simulation_years": 200_000,
        "max_quote_years": 60_000,
        # Tests here post from one key in bursts (retries, threads); the limits on simulation
        # work per principal have their own tests (test_simulation_limits.py).
        "max_concurrent_simulations_per_principal": 100,
        "max_simulations_per_minute_per_principal": 100_000,
        **changes,
    }
    return Settings(**values)


def _no_traceback(response: httpx2.Response) -> None:
    response.read()
    assert "Traceback" not in response.text, response.text


def open_client(app: FastAPI, *, raise_server_exceptions: bool = True) -> TestClient:
    client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
    client.event_hooks = {"request": [], "response": [_no_traceback]}
    return client


def store_of(app: FastAPI) -> Store:
    store: Store = app.state.store
    return store


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_for(app: FastAPI, principal: str, role: str) -> dict[str, str]:
    """Headers carrying a fresh API key of ``principal`` in ``role``."""
    key, _ = store_of(app).create_key(principal, role)
    return bearer(key)


def example(name: str) -> dict[str, Any]:
    """The example lab ``name`` as a quote request body, at a modest precision."""
    body: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    body["target_relative_error"] = 0.05
    return body


def post_quote(
    client: TestClient, headers: dict[str, str], name: str = "physics_low_hazard"
) -> dict[str, Any]:
    response = client.post("/v1/quotes", json=example(name), headers=headers)
    assert response.status_code == 201, response.text
    quote: dict[str, Any] = response.json()
    return quote


def count_quotes(app: FastAPI) -> int:
    with store_of(app).session() as session:
        return session.scalar(select(func.count()).select_from(QuoteRecord)) or 0


def assert_problem(response: httpx2.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with ``status``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert problem["status"] == status
    assert isinstance(problem["title"], str)
    assert problem["title"]
    assert isinstance(problem["detail"], str)
    assert problem["detail"]
    assert "Traceback" not in response.text
    return problem


def field_errors(problem: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The problem's ``errors`` by field; every entry names the field, the value and a message."""
    errors: list[dict[str, Any]] = problem["errors"]
    for error in errors:
        assert {"field", "value", "message"} <= error.keys(), error
    return {error["field"]: error for error in errors}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables(TABLES_VERSION)


@pytest.fixture
def app(tmp_path: Path, tables: uw.RatingTables) -> FastAPI:
    return create_app(make_settings(tmp_path), tables=tables)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with open_client(app) as client:
        yield client


# --------------------------------------------------------------------------- quotes


def test_create_quote_returns_the_stored_quote(
    client: TestClient, app: FastAPI, tables: uw.RatingTables
) -> None:
    headers = key_for(app, "alice", "underwriter")
    body = example("physics_low_hazard")
    option = copy.deepcopy(body["terms"])
    option["sections"]["property"]["deductible"] = 100_000
    body["options"] = [option]

    response = client.post("/v1/quotes", json=body, headers=headers)

    assert response.status_code == 201, response.text
    quote = response.json()
    assert response.headers["Location"] == f"/v1/quotes/{quote['id']}"
    assert uuid.UUID(quote["id"])
    assert quote["status"] == quote["decision"]["outcome"] == "quoted"
    assert quote["created_by"] == "alice"
    assert quote["lab_id"] == body["submission"]["lab_id"] == "PHY-OPT-201"
    assert quote["referral_decision"] is None

    premium = quote["premium"]
    assert premium["total"] >= premium["minimum"] > 0
    assert premium["total_with_tax"] == pytest.approx(premium["total"] + premium["tax"])
    assert set(premium["by_section"]) == set(body["terms"]["sections"])
    assert sum(premium["by_section"].values()) == pytest.approx(premium["total"], abs=1.0)
    assert sum(premium["by_scenario"].values()) == pytest.approx(premium["total"], abs=1.0)
    assert premium["relative_error"] <= 0.05

    assert quote["worksheet"], "the premium build-up is shown row by row"
    assert all(row["name"] and row["explanation"] for row in quote["worksheet"])
    assert quote["decision"]["rules_evaluated"]

    [priced_option] = quote["options"]
    assert priced_option["terms"]["sections"]["property"]["deductible"] == 100_000
    assert priced_option["premium"]["total"] <= premium["total"], "a higher deductible costs less"
    metrics = {metric["name"]: metric for metric in quote["metrics"]}
    expected_loss = metrics["expected insured loss"]
    assert expected_loss["value"] > 0
    assert expected_loss["standard_error"] > 0
    assert {"VaR 99.5%", "TVaR 99.0%", "P(any claim)"} <= metrics.keys()

    provenance = quote["provenance"]
    assert isinstance(provenance["seed"], str)
    assert provenance["seed"].isdigit()
    assert provenance["tables_version"] == TABLES_VERSION
    assert provenance["tables_sha256"] == dict(tables.sha256)
    assert 0 < provenance["n_years"] <= 60_000, "the service's cap on quote years holds"
    assert provenance["target_relative_error"] == 0.05
    created = dt.datetime.fromisoformat(quote["created_at"])
    assert created.tzinfo is not None
    assert dt.datetime.fromisoformat(quote["valid_until"]) > created

    fetched = client.get(response.headers["Location"], headers=headers)
    assert fetched.status_code == 200
    stored = fetched.json()
    # created_at is compared apart: see test_stored_timestamps_keep_their_utc_offset.
    assert {k: v for k, v in stored.items() if k != "created_at"} == {
        k: v for k, v in quote.items() if k != "created_at"
    }
    assert dt.datetime.fromisoformat(stored["created_at"]).replace(tzinfo=dt.UTC) == created


def test_a_stratified_quote_shows_its_strata_years_and_replays(tmp_path: Path) -> None:
    """Without the test service's year cap, a 2026.5 quote prices on strata of years: the API
    shows each stratum's years by label, and the replay endpoint reproduces the quote from them."""
    tables = uw.load_rating_tables("2026.5")
    app = create_app(make_settings(tmp_path, max_quote_years=None), tables=tables)
    with open_client(app) as client:
        headers = key_for(app, "alice", "underwriter")
        body = example("physics_low_hazard")
        body.pop("target_relative_error", None)
        response = client.post("/v1/quotes", json=body, headers=headers)
        assert response.status_code == 201, response.text
        provenance = response.json()["provenance"]
        assert provenance["strata_years"]["(none)"] >= tables.pricing.precision.pilot_years
        assert provenance["sample_means"] is False
        quote_id = response.json()["id"]
        replayed = client.post(f"/v1/quotes/{quote_id}/replay", headers=headers)
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["matches"] is True
        # A quote stored by an older package replays on the figures, not on that version.
        with store_of(app).session() as session:
            record = session.get(QuoteRecord, quote_id)
            assert record is not None
            older = dict(record.quote)
            older["provenance"] = {**older["provenance"], "package_version": "0.0.9"}
            record.quote = older
        replayed = client.post(f"/v1/quotes/{quote_id}/replay", headers=headers)
        assert replayed.json() == {"quote_id": quote_id, "matches": True, "differences": []}


def test_stored_timestamps_keep_their_utc_offset(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "alice", "underwriter")
    created = post_quote(client, headers)
    fetched = client.get(f"/v1/quotes/{created['id']}", headers=headers).json()
    [listed] = client.get("/v1/quotes", headers=headers).json()["items"]
    assert dt.datetime.fromisoformat(listed["created_at"]).tzinfo is not None
    assert fetched == created


def test_unknown_quote_is_404_problem(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "alice", "underwriter")
    assert_problem(client.get(f"/v1/quotes/{uuid.uuid4()}", headers=headers), 404)
    assert_problem(client.post(f"/v1/quotes/{uuid.uuid4()}/replay", headers=headers), 404)


# --------------------------------------------------------------------------- idempotency


def test_idempotency_key_replays_the_same_quote(client: TestClient, app: FastAPI) -> None:
    alice = key_for(app, "alice", "underwriter")
    headers = {**alice, "Idempotency-Key": "order-42"}
    body = example("physics_low_hazard")

    first = client.post("/v1/quotes", json=body, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers

    retry = client.post("/v1/quotes", json=body, headers=headers)
    assert retry.status_code in {200, 201}
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["premium"] == first.json()["premium"]
    assert count_quotes(app) == 1

    changed = copy.deepcopy(body)
    changed["submission"]["headcount"] += 1
    conflict = assert_problem(client.post("/v1/quotes", json=changed, headers=headers), 409)
    assert "Idempotency-Key" in conflict["detail"]
    assert count_quotes(app) == 1

    # Keys are scoped to their principal: another underwriter's same key is a new request.
    bob = {**key_for(app, "bob", "underwriter"), "Idempotency-Key": "order-42"}
    other = client.post("/v1/quotes", json=body, headers=bob)
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]
    assert count_quotes(app) == 2


def test_concurrent_retries_create_exactly_one_quote(client: TestClient, app: FastAPI) -> None:
    headers = {**key_for(app, "alice", "underwriter"), "Idempotency-Key": "retry-storm"}
    body = example("physics_low_hazard")

    def attempt(_: int) -> httpx2.Response:
        return client.post("/v1/quotes", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(attempt, range(6)))

    assert all(r.status_code in {200, 201} for r in responses), [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 5
    assert count_quotes(app) == 1


# --------------------------------------------------------------------------- durability


def test_quote_is_stored_before_the_201(client: TestClient, app: FastAPI, tmp_path: Path) -> None:
    headers = key_for(app, "alice", "underwriter")
    body = example("chemistry_high_hazard")
    quote = client.post("/v1/quotes", json=body, headers=headers).json()

    fresh = Store(f"sqlite:///{tmp_path}/uw.db")
    try:
        with fresh.session() as session:
            record = session.get(QuoteRecord, quote["id"])
            assert record is not None, "the acknowledged quote is in the database"
            assert record.principal == "alice"
            assert record.lab_id == quote["lab_id"]
            assert record.outcome == record.status == quote["status"]
            expected_request = uw.QuoteRequest.model_validate(body).model_dump(mode="json")
            assert record.request == expected_request
            for part in ("premium", "decision", "worksheet", "options", "metrics", "experience"):
                stored = record.quote[part]
                if part == "premium":
                    # Quotes on tables without LAE store no "lae" key; the API reads it as 0.
                    # The API states the tables' currency beside the amounts.
                    stored = {"lae": 0.0, **stored, "currency": quote["currency"]}
                assert stored == quote[part], part
            # Stored quotes leave out the defaults (replay reads them back); the API shows them.
            stored_provenance = {
                "sample_means": False,
                "strata_years": {},
                **record.quote["provenance"],
            }
            sent_provenance = dict(quote["provenance"])
            assert dt.datetime.fromisoformat(
                stored_provenance.pop("created_at")
            ) == dt.datetime.fromisoformat(sent_provenance.pop("created_at"))
            assert stored_provenance == sent_provenance
            # Enough to re-create the quote: the full request and the provenance.
            again = uw.replay(
                uw.Provenance(
                    **{
                        **record.quote["provenance"],
                        "created_at": dt.datetime.fromisoformat(
                            record.quote["provenance"]["created_at"]
                        ),
                    }
                ),
                uw.QuoteRequest.model_validate(record.request),
            )
            assert again.premium.total == quote["premium"]["total"]
    finally:
        fresh.engine.dispose()


# --------------------------------------------------------------------------- roles matrix

QUOTING = {"underwriter", "senior_underwriter", "chief_underwriter", "admin"}
EXPECTED_ROLES: dict[str, set[str]] = {
    "create quote": QUOTING,
    "get quote": QUOTING,
    "list quotes": QUOTING,
    "replay quote": QUOTING,
    # (a referral needing senior authority; a chief-level one: test_authority_*)
    "decide referral": {"senior_underwriter", "chief_underwriter", "admin"},
    "run simulation": {"actuary", "admin"},
    "list rating tables": set(ROLES),
    "get rating tables": set(ROLES),
}
SUCCESS = {"create quote": 201}
CREDENTIALS = ("no key", "wrong key", "revoked key", "right key")


@dataclass(frozen=True)
class World:
    """One running app with an active and a revoked key per role, and a referred quote."""

    app: FastAPI
    client: TestClient
    keys: dict[str, dict[str, str]]
    revoked: dict[str, dict[str, str]]
    referred_id: str

    def own_referred_quote(self, principal: str) -> str:
        """A copy of the stored referred quote, owned by ``principal`` (no engine run)."""
        with store_of(self.app).session() as session:
            source = session.get(QuoteRecord, self.referred_id)
            assert source is not None
            copied_id = str(uuid.uuid4())
            copied = QuoteRecord(
                id=copied_id,
                principal=principal,
                lab_id=source.lab_id,
                outcome=source.outcome,
                status=source.status,
                created_at=source.created_at,
                idempotency_key=None,
                request_hash=source.request_hash,
                request=source.request,
                quote=source.quote,
                valid_until=source.valid_until,
                tables_version=source.tables_version,
                record={**source.record, "id": copied_id},
            )
            session.add(copied)
            return copied.id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tables: uw.RatingTables) -> Iterator[World]:
    app = create_app(make_settings(tmp_path_factory.mktemp("roles")), tables=tables)
    with open_client(app) as client:
        keys = {role: key_for(app, f"{role}-1", role) for role in ROLES}
        revoked = {}
        for role in ROLES:
            key, record = store_of(app).create_key(f"{role}-1", role)
            assert store_of(app).revoke_key(record.id)
            revoked[role] = bearer(key)
        referred = post_quote(client, keys["admin"], "bsl3_biobank")
        assert referred["status"] == "referred"
        yield World(app, client, keys, revoked, referred["id"])


def _call(world: World, endpoint: str, role: str, headers: dict[str, str]) -> httpx2.Response:
    client = world.client
    if endpoint == "create quote":
        return client.post("/v1/quotes", json=example("physics_low_hazard"), headers=headers)
    if endpoint == "list quotes":
        return client.get("/v1/quotes", headers=headers)
    if endpoint == "run simulation":
        body = {"profile": REF_PROFILE, "terms": REF_TERMS, "n_years": 5_000}
        return client.post("/v1/simulations", json=body, headers=headers)
    if endpoint == "list rating tables":
        return client.get("/v1/rating-tables", headers=headers)
    if endpoint == "get rating tables":
        return client.get(f"/v1/rating-tables/{TABLES_VERSION}", headers=headers)
    quote_id = world.own_referred_quote(f"{role}-1")
    if endpoint == "get quote":
        return client.get(f"/v1/quotes/{quote_id}", headers=headers)
    if endpoint == "replay quote":
        return client.post(f"/v1/quotes/{quote_id}/replay", headers=headers)
    assert endpoint == "decide referral"
    decision = {"decision": "approve", "note": "survey received"}
    return client.post(f"/v1/quotes/{quote_id}/decision", json=decision, headers=headers)


@pytest.mark.parametrize("credentials", CREDENTIALS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(EXPECTED_ROLES))
def test_roles_matrix(world: World, endpoint: str, role: str, credentials: str) -> None:
    headers = {
        "no key": {},
        "wrong key": bearer("uwk_" + "x" * 43),
        "revoked key": world.revoked[role],
        "right key": world.keys[role],
    }[credentials]

    response = _call(world, endpoint, role, headers)

    if credentials != "right key":
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    elif role in EXPECTED_ROLES[endpoint]:
        assert response.status_code == SUCCESS.get(endpoint, 200), response.text
        assert response.headers["content-type"] == "application/json"
    else:
        problem = assert_problem(response, 403)
        assert repr(role) in problem["detail"]


def test_keys_see_only_their_principals_quotes(world: World) -> None:
    """The referred quote of the world belongs to the admin's principal."""
    client, keys = world.client, world.keys
    hidden = client.get(f"/v1/quotes/{world.referred_id}", headers=keys["underwriter"])
    assert "No quote" in assert_problem(hidden, 404)["detail"]
    replay = client.post(f"/v1/quotes/{world.referred_id}/replay", headers=keys["underwriter"])
    assert_problem(replay, 404)
    listed = client.get("/v1/quotes", params={"limit": 100}, headers=keys["underwriter"])
    items = listed.json()["items"]
    assert world.referred_id not in {item["id"] for item in items}
    assert {item["created_by"] for item in items} <= {"underwriter-1"}
    seen = client.get(f"/v1/quotes/{world.referred_id}", headers=keys["senior_underwriter"])
    assert seen.json()["created_by"] == "admin-1"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_needs_no_key(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.json()["status"] in {"ok", "ready"}
    if path == "/readyz":
        assert response.json()["tables_version"] == TABLES_VERSION


def test_readyz_reports_an_unreachable_store(
    client: TestClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_of(app), "ping", lambda: False)
    assert_problem(client.get("/readyz"), 503)
    assert client.get("/healthz").status_code == 200, "the process itself is alive"


def test_underwriters_see_only_their_own_quotes(client: TestClient, app: FastAPI) -> None:
    """Who is calling is swapped with ``dependency_overrides`` instead of keys."""

    def act_as(name: str, role: str) -> None:
        principal = Principal(name=name, role=role)
        app.dependency_overrides[current_principal] = lambda: principal

    try:
        act_as("alice", "underwriter")
        alices = post_quote(client, {})
        act_as("bob", "underwriter")
        bobs = post_quote(client, {})

        # bob may not learn that alice's quote exists: 404, never 403.
        assert_problem(client.get(f"/v1/quotes/{alices['id']}"), 404)
        assert_problem(client.post(f"/v1/quotes/{alices['id']}/replay"), 404)
        listed = client.get("/v1/quotes").json()["items"]
        assert [item["id"] for item in listed] == [bobs["id"]]
        assert client.get(f"/v1/quotes/{bobs['id']}").status_code == 200

        for role in ("senior_underwriter", "admin"):
            act_as("sam", role)
            assert client.get(f"/v1/quotes/{alices['id']}").json()["created_by"] == "alice"
            listed = client.get("/v1/quotes").json()["items"]
            assert {item["id"] for item in listed} == {alices["id"], bobs["id"]}
    finally:
        app.dependency_overrides.clear()

    # Without the override, the real key check is back.
    assert_problem(client.get("/v1/quotes"), 401)


# --------------------------------------------------------------------------- listing


def test_list_filters_and_cursor_pagination(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "alice", "underwriter")
    names = [
        "physics_low_hazard",
        "chemistry_high_hazard",
        "bsl3_biobank",
        "physics_low_hazard",
        "bsl3_biobank",
    ]
    quotes = [post_quote(client, headers, name) for name in names]
    ids = [quote["id"] for quote in quotes]
    outcome = {quote["id"]: quote["status"] for quote in quotes}
    assert sorted(set(outcome.values())) == ["quoted", "referred"]

    def listed(**params: str | int) -> list[dict[str, Any]]:
        response = client.get("/v1/quotes", params=params, headers=headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    everything = listed()
    assert [item["id"] for item in everything] == ids[::-1], "newest first"
    by_id = {quote["id"]: quote for quote in quotes}
    for item in everything:
        assert item["premium_total"] == by_id[item["id"]]["premium"]["total"]
        assert item["created_by"] == "alice"
        assert item["outcome"] == item["status"] == outcome[item["id"]]

    referred = [i for i in ids[::-1] if outcome[i] == "referred"]
    assert [item["id"] for item in listed(outcome="referred")] == referred
    assert {item["id"] for item in listed(outcome="quoted")} == {ids[0], ids[3]}
    chemistry = listed(lab_id=quotes[1]["lab_id"])
    assert [item["id"] for item in chemistry] == [ids[1]]
    assert listed(lab_id="NO-SUCH-LAB") == []

    # created_from is inclusive, created_to exclusive.
    window = listed(created_from=quotes[1]["created_at"], created_to=quotes[3]["created_at"])
    assert [item["id"] for item in window] == [ids[2], ids[1]]

    seen: list[str] = []
    pages: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/v1/quotes", params=params, headers=headers).json()
        seen += [item["id"] for item in page["items"]]
        pages.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [2, 2, 1]
    assert seen == ids[::-1], "every quote once, newest first"

    problem = assert_problem(
        client.get("/v1/quotes", params={"cursor": "not-a-cursor"}, headers=headers), 422
    )
    assert "cursor" in problem["detail"]
    assert field_errors(problem)["query.cursor"]["value"] == "not-a-cursor"


def test_cursor_bounds_in_the_schema_are_the_ones_enforced(
    client: TestClient, app: FastAPI
) -> None:
    """A cursor the schema allowed (any string up to 500 characters) was refused with 422 unless
    it came from the endpoint; now the schema's pattern and length are the whole rule."""
    headers = key_for(app, "alice", "underwriter")
    [cursor] = [
        parameter["schema"]["anyOf"][0]
        for parameter in app.openapi()["paths"]["/v1/quotes"]["get"]["parameters"]
        if parameter["name"] == "cursor"
    ]
    assert cursor == {"type": "string", "minLength": 3, "maxLength": 54, "pattern": CURSOR_PATTERN}
    quotes = [post_quote(client, headers) for _ in range(3)]

    for position in ("0_0", "99999999999999999_" + "f" * 36, "1_-", "12345678901234567_abc"):
        assert re.fullmatch(CURSOR_PATTERN, position)
        response = client.get("/v1/quotes", params={"cursor": position}, headers=headers)
        assert response.status_code == 200, (position, response.text)
    everything = client.get(
        "/v1/quotes", params={"cursor": "99999999999999999_" + "f" * 36}, headers=headers
    ).json()["items"]
    assert [item["id"] for item in everything] == [quote["id"] for quote in quotes[::-1]]

    for refused in ("x" * 600, "1" * 18 + "_a", "1_" + "a" * 37, "1_G", "_a", "1_"):
        problem = assert_problem(
            client.get("/v1/quotes", params={"cursor": refused}, headers=headers), 422
        )
        assert field_errors(problem)["query.cursor"]["value"] == refused[:200]


def test_status_filter_and_decisions_in_list_rows(client: TestClient, app: FastAPI) -> None:
    """``?status=`` filters (it was ignored: every quote came back), and a row says what was
    decided on a referral, by whom and when."""
    underwriter = key_for(app, "uma", "underwriter")
    senior = key_for(app, "sam", "senior_underwriter")
    quoted = post_quote(client, underwriter, "physics_low_hazard")
    approved = post_quote(client, underwriter, "bsl3_biobank")
    waiting = post_quote(client, underwriter, "bsl3_biobank")
    declined = post_quote(client, underwriter, "chemistry_high_hazard")
    for quote, decision in ((approved, "approve"), (declined, "decline")):
        response = client.post(
            f"/v1/quotes/{quote['id']}/decision",
            json={"decision": decision, "note": "survey read"},
            headers=senior,
        )
        assert response.status_code == 200, response.text
    decided_at = client.get(f"/v1/quotes/{approved['id']}", headers=underwriter).json()[
        "referral_decision"
    ]["decided_at"]

    def listed(status: str) -> list[dict[str, Any]]:
        response = client.get("/v1/quotes", params={"status": status}, headers=senior)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    assert [item["id"] for item in listed("approved")] == [approved["id"]]
    assert [item["id"] for item in listed("declined")] == [declined["id"]]
    assert [item["id"] for item in listed("referred")] == [waiting["id"]], "still waiting"
    assert [item["id"] for item in listed("quoted")] == [quoted["id"]]

    [row] = listed("approved")
    assert row["decision"] == "approve"
    assert row["decided_by"] == "sam"
    assert row["decided_at"] == decided_at
    [row] = listed("referred")
    assert row["decision"] is row["decided_by"] is row["decided_at"] is None

    wrong = client.get("/v1/quotes", params={"status": "accepted"}, headers=senior)
    error = field_errors(assert_problem(wrong, 422))["query.status"]
    assert error["value"] == "accepted"
    assert "approved" in error["message"]


def test_unknown_query_parameters_are_422_naming_them(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "uma", "underwriter")

    response = client.get("/v1/quotes", params={"state": "approved", "x": "1"}, headers=headers)

    problem = assert_problem(response, 422)
    assert "'state'" in problem["detail"]
    assert "'x'" in problem["detail"]
    assert "status" in problem["detail"], "says what is allowed"
    errors = field_errors(problem)
    assert errors["query.state"]["value"] == "approved"
    assert (
        "allowed: created_from, created_to, cursor, lab_id, limit, outcome, status"
        in (errors["query.state"]["message"])
    )
    # Without a valid key the answer is 401 whatever the query carries.
    assert_problem(client.get("/v1/quotes", params={"state": "approved"}), 401)


def test_every_endpoint_refuses_unknown_query_parameters(client: TestClient, app: FastAPI) -> None:
    admin = key_for(app, "ada", "admin")
    routes = [route for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) == 10
    for route in routes:
        path = route.path.format(quote_id=uuid.uuid4(), version=TABLES_VERSION)
        for method in sorted(route.methods or ()):
            response = client.request(method, path, params={"nonsense": "1"}, headers=admin)
            problem = assert_problem(response, 422)
            assert "'nonsense'" in problem["detail"], (method, path)
            assert field_errors(problem)["query.nonsense"]["value"] == "1"


def test_date_filters_respect_utc_offsets(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "alice", "underwriter")
    quote = post_quote(client, headers)
    created = dt.datetime.fromisoformat(quote["created_at"])
    beijing = dt.timezone(dt.timedelta(hours=8))
    before = (created - dt.timedelta(minutes=1)).astimezone(beijing).isoformat()
    after = (created + dt.timedelta(minutes=1)).astimezone(dt.timezone(-dt.timedelta(hours=5)))

    def ids(**params: str) -> list[str]:
        items = client.get("/v1/quotes", params=params, headers=headers).json()["items"]
        return [item["id"] for item in items]

    assert ids(created_from=before) == [quote["id"]]
    assert ids(created_from=after.isoformat()) == []


# --------------------------------------------------------------------------- referrals


def test_senior_underwriter_decides_a_referral(client: TestClient, app: FastAPI) -> None:
    underwriter = key_for(app, "uma", "underwriter")
    senior = key_for(app, "sam", "senior_underwriter")
    referred = post_quote(client, underwriter, "bsl3_biobank")
    assert referred["status"] == "referred"
    assert referred["decision"]["authority_required"] == "senior_underwriter"
    assert referred["decision"]["reasons"]

    empty_note = {"decision": "approve", "note": ""}
    url = f"/v1/quotes/{referred['id']}/decision"
    assert "note" in field_errors(
        assert_problem(client.post(url, json=empty_note, headers=senior), 422)
    )

    note = "Survey of 2026-03-02 received: sprinklers to be fitted by June."
    response = client.post(url, json={"decision": "approve", "note": note}, headers=senior)
    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["status"] == "approved"
    assert decided["decision"]["outcome"] == "referred", "the engine's decision is kept"
    assert decided["premium"] == referred["premium"]
    assert decided["referral_decision"]["decision"] == "approve"
    assert decided["referral_decision"]["note"] == note
    assert decided["referral_decision"]["decided_by"] == "sam"

    # The underwriter who asked sees the decision and who made it.
    seen = client.get(f"/v1/quotes/{referred['id']}", headers=underwriter).json()
    assert seen["status"] == "approved"
    assert seen["referral_decision"]["decided_by"] == "sam"
    [item] = client.get("/v1/quotes", params={"outcome": "referred"}, headers=underwriter).json()[
        "items"
    ]
    assert item["status"] == "approved"

    again = client.post(
        url, json={"decision": "decline", "note": "changed my mind"}, headers=senior
    )
    assert "already" in assert_problem(again, 409)["detail"]
    assert client.get(f"/v1/quotes/{referred['id']}", headers=senior).json()["status"] == "approved"

    declined = post_quote(client, underwriter, "chemistry_high_hazard")
    assert declined["status"] == "referred"
    response = client.post(
        f"/v1/quotes/{declined['id']}/decision",
        json={"decision": "decline", "note": "outside appetite"},
        headers=senior,
    )
    assert response.json()["status"] == "declined"

    quoted = post_quote(client, underwriter, "physics_low_hazard")
    assert quoted["status"] == "quoted"
    response = client.post(
        f"/v1/quotes/{quoted['id']}/decision",
        json={"decision": "approve", "note": "fine"},
        headers=senior,
    )
    assert "quoted" in assert_problem(response, 409)["detail"]


def chief_level_request() -> dict[str, Any]:
    """The physics example with every value ten times larger: total insured value 143,000,000,
    above the senior underwriter's authority of 100,000,000 (rule R02)."""
    body = example("physics_low_hazard")
    submission = body["submission"]
    submission["values"] = {name: 10 * value for name, value in submission["values"].items()}
    for item in submission["equipment_schedule"]:
        item["value"] *= 10
    return body


def test_authority_a_senior_may_not_decide_a_chief_level_referral(
    client: TestClient, app: FastAPI
) -> None:
    underwriter = key_for(app, "uma", "underwriter")
    senior = key_for(app, "sam", "senior_underwriter")
    chief = key_for(app, "cleo", "chief_underwriter")
    response = client.post("/v1/quotes", json=chief_level_request(), headers=underwriter)
    assert response.status_code == 201, response.text
    referred = response.json()
    assert referred["status"] == "referred"
    assert referred["decision"]["authority_required"] == "chief_underwriter"
    assert "R02_TIV_ABOVE_SENIOR_AUTHORITY" in {r["code"] for r in referred["decision"]["reasons"]}
    url = f"/v1/quotes/{referred['id']}/decision"
    decision = {"decision": "approve", "note": "reinsurance facultative cover arranged"}

    refused = client.post(url, json=decision, headers=senior)

    detail = assert_problem(refused, 403)["detail"]
    assert "'chief_underwriter'" in detail, "names the authority required"
    assert "'senior_underwriter'" in detail, "names the caller's authority"
    still = client.get(f"/v1/quotes/{referred['id']}", headers=senior).json()
    assert still["status"] == "referred"
    assert still["referral_decision"] is None, "a refused decision is not recorded"

    decided = client.post(url, json=decision, headers=chief)

    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    assert decided.json()["referral_decision"]["decided_by"] == "cleo"


def test_authority_admin_decides_any_and_chief_decides_senior_level(
    client: TestClient, app: FastAPI
) -> None:
    underwriter = key_for(app, "uma", "underwriter")
    chief = key_for(app, "cleo", "chief_underwriter")
    admin = key_for(app, "ada", "admin")
    chief_level = client.post("/v1/quotes", json=chief_level_request(), headers=underwriter)
    senior_level = post_quote(client, underwriter, "bsl3_biobank")
    assert senior_level["decision"]["authority_required"] == "senior_underwriter"
    decision = {"decision": "decline", "note": "outside appetite"}

    by_admin = client.post(
        f"/v1/quotes/{chief_level.json()['id']}/decision", json=decision, headers=admin
    )
    by_chief = client.post(
        f"/v1/quotes/{senior_level['id']}/decision", json=decision, headers=chief
    )

    assert by_admin.status_code == 200, by_admin.text
    assert by_chief.status_code == 200, by_chief.text
    assert by_chief.json()["status"] == "declined"


def test_replay_reproduces_a_stored_quote(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "alice", "underwriter")
    quote = post_quote(client, headers, "chemistry_high_hazard")
    response = client.post(f"/v1/quotes/{quote['id']}/replay", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"quote_id": quote["id"], "matches": True, "differences": []}


# --------------------------------------------------------------------------- simulations


def _lognormal_layer(mu: float, sigma: float, deductible: float, limit: float) -> float:
    """E[min(max(X - d, 0), L)] for X ~ LogNormal(mu, sigma), in closed form."""

    def limited_mean(u: float) -> float:
        z = (math.log(u) - mu) / sigma
        return float(math.exp(mu + sigma**2 / 2) * norm.cdf(z - sigma) + u * norm.sf(z))

    return limited_mean(deductible + limit) - limited_mean(deductible)


def test_simulation_of_an_actuarys_profile(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "ada", "actuary")
    body = {"profile": REF_PROFILE, "terms": REF_TERMS, "n_years": 100_000, "seed": "11"}
    response = client.post("/v1/simulations", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["n_years"] == 100_000
    assert result["seed"] == "11"
    assert result["tables_version"] is None

    metrics = {metric["name"]: metric for metric in result["metrics"]}
    mean = metrics["mean"]
    expected = 2.0 * _lognormal_layer(10.0, 1.5, 10_000, 500_000)
    assert abs(mean["value"] - expected) < 4 * mean["standard_error"], (mean, expected)
    assert all(metric["standard_error"] is not None for metric in result["metrics"])

    curve = result["ep_curve"]
    assert [p["return_period"] for p in curve] == sorted(p["return_period"] for p in curve)
    assert all(a["aep"] <= b["aep"] for a, b in itertools.pairwise(curve))
    assert all(p["oep"] <= p["aep"] <= 1e6 and p["oep"] <= 500_000 for p in curve)

    sections = {c["name"]: c for c in result["by_section"]}
    assert sections["property"]["share"] == pytest.approx(1.0)
    assert sections["property"]["mean_insured"] == pytest.approx(mean["value"])
    [scenario] = result["by_scenario"]
    assert scenario["name"] == "ref"


def test_simulation_of_a_submission(
    client: TestClient, app: FastAPI, tables: uw.RatingTables
) -> None:
    headers = key_for(app, "ada", "actuary")
    lab = example("physics_low_hazard")
    body = {"submission": lab["submission"], "terms": lab["terms"], "n_years": 20_000}
    response = client.post("/v1/simulations", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["tables_version"] == TABLES_VERSION
    assert result["seed"].isdigit()
    # The physics lab has claims that its quote weighs; a simulation uses the tables' rates and
    # says so, since its expected loss differs from the quote's.
    assert lab["submission"]["claims_history"]["years_observed"] > 0
    assert result["experience_applied"] is False
    assert {c["name"] for c in result["by_section"]} <= set(lab["terms"]["sections"])
    assert {c["name"] for c in result["by_scenario"]} <= set(tables.scenario_ids)
    assert sum(c["share"] for c in result["by_section"]) == pytest.approx(1.0)
    assert sum(c["share"] for c in result["by_scenario"]) == pytest.approx(1.0)

    again = client.post("/v1/simulations", json=body, headers=headers).json()
    assert again["metrics"] == result["metrics"], "the same seed gives the same figures"


def test_simulation_limits_and_sources(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "ada", "actuary")
    lab = example("physics_low_hazard")
    capped = {"profile": REF_PROFILE, "terms": REF_TERMS, "n_years": 200_001}
    problem = assert_problem(client.post("/v1/simulations", json=capped, headers=headers), 422)
    assert field_errors(problem)["n_years"]["value"] == 200_001
    assert "200000" in problem["detail"]

    both = {**capped, "n_years": 1_000, "submission": lab["submission"]}
    problem = assert_problem(client.post("/v1/simulations", json=both, headers=headers), 422)
    assert "exactly one of submission or profile" in problem["detail"]

    neither = {"terms": REF_TERMS, "n_years": 1_000}
    assert_problem(client.post("/v1/simulations", json=neither, headers=headers), 422)

    zero = {"profile": REF_PROFILE, "terms": REF_TERMS, "n_years": 0}
    problem = assert_problem(client.post("/v1/simulations", json=zero, headers=headers), 422)
    assert "n_years" in field_errors(problem)

    big_seed = {"profile": REF_PROFILE, "terms": REF_TERMS, "n_years": 1_000, "seed": "9" * 39}
    problem = assert_problem(client.post("/v1/simulations", json=big_seed, headers=headers), 422)
    assert "seed" in field_errors(problem)


def test_simulation_of_an_impossible_frequency_is_422(app: FastAPI) -> None:
    profile = copy.deepcopy(REF_PROFILE)
    profile["scenarios"][0]["frequency"]["rate"] = 1e9
    body = {"profile": profile, "terms": REF_TERMS, "n_years": 1_000}
    with open_client(app, raise_server_exceptions=False) as client:
        headers = key_for(app, "ada", "actuary")
        response = client.post("/v1/simulations", json=body, headers=headers)
        assert_problem(response, 422)


# --------------------------------------------------------------------------- rating tables


def test_rating_tables_versions_and_hashes(
    client: TestClient, app: FastAPI, tables: uw.RatingTables
) -> None:
    headers = key_for(app, "ada", "actuary")
    listed = client.get("/v1/rating-tables", headers=headers).json()
    current = [entry for entry in listed if entry["current"]]
    assert [entry["version"] for entry in current] == [TABLES_VERSION]
    [entry] = current
    assert entry["effective_date"] == "2026-01-01"
    assert entry["currency"] == "CNY"
    assert len(entry["sha256"]) == 5
    assert all(len(digest) == 64 and int(digest, 16) >= 0 for digest in entry["sha256"].values())
    assert entry["sha256"] == dict(tables.sha256)

    detail = client.get(f"/v1/rating-tables/{TABLES_VERSION}", headers=headers).json()
    assert {k: detail[k] for k in entry} == entry
    assert len(detail["scenarios"]) == 11
    assert detail["scenarios"] == list(tables.scenario_ids)
    assert detail["rules"] == [rule.code for rule in tables.rules.rules]
    assert detail["risk_load_method"] == tables.pricing.premium.risk_load_method

    problem = assert_problem(client.get("/v1/rating-tables/1999.9", headers=headers), 404)
    assert "1999.9" in problem["detail"]

    # A draft version (being prepared) is neither listed nor served.
    assert [entry["version"] for entry in listed] == list(uw.available_versions())
    for draft in set(uw.available_versions(drafts=True)) - set(uw.available_versions()):
        assert_problem(client.get(f"/v1/rating-tables/{draft}", headers=headers), 404)


def test_a_seed_of_2_to_the_128_is_422_naming_seed_on_every_endpoint(
    client: TestClient, app: FastAPI
) -> None:
    # Quotes and simulations parse the seed with one type (underwriting.model.SeedText): the
    # largest seed passes its pattern, the next one is refused by its range check, field "seed".
    too_big = str(2**128)
    simulation = {"profile": REF_PROFILE, "terms": REF_TERMS, "n_years": 1_000, "seed": too_big}
    headers = key_for(app, "ada", "actuary")
    problem = assert_problem(client.post("/v1/simulations", json=simulation, headers=headers), 422)
    error = field_errors(problem)["seed"]
    assert error["value"] == too_big
    assert "[0, 2**128)" in error["message"]

    request = {**example("physics_low_hazard"), "seed": too_big}
    headers = key_for(app, "alice", "underwriter")
    problem = assert_problem(client.post("/v1/quotes", json=request, headers=headers), 422)
    assert "[0, 2**128)" in field_errors(problem)["seed"]["message"]
    assert count_quotes(app) == 0

    largest = {**simulation, "seed": str(2**128 - 1)}
    headers = key_for(app, "ada", "actuary")
    response = client.post("/v1/simulations", json=largest, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["seed"] == str(2**128 - 1)


# --------------------------------------------------------------------------- errors


def test_validation_errors_name_field_value_and_rule(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "alice", "underwriter")
    body = example("physics_low_hazard")
    body["submission"]["values"]["contents"] = -1
    del body["submission"]["site_id"]
    body["seed"] = "twelve"

    problem = assert_problem(client.post("/v1/quotes", json=body, headers=headers), 422)

    errors = field_errors(problem)
    contents = errors["submission.values.contents"]
    assert contents["value"] == -1
    assert "greater than or equal to 0" in contents["message"]
    assert errors["submission.site_id"]["message"] == "Field required"
    assert errors["seed"]["value"] == "twelve"
    assert problem["detail"].endswith("(and 2 more)")
    assert count_quotes(app) == 0


def test_domain_errors_are_422_problems(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "alice", "underwriter")
    body = example("physics_low_hazard")
    body["submission"]["claims_history"]["claims"] = [
        {"scenario": "alien_invasion", "date": "2025-05-01", "amount": 10_000}
    ]
    problem = assert_problem(client.post("/v1/quotes", json=body, headers=headers), 422)
    assert "alien_invasion" in problem["detail"]


@pytest.mark.parametrize(
    "payload",
    [b'{"submission": ', b"not json at all", b'{"submission": {}} trailing'],
    ids=["truncated", "text", "trailing"],
)
def test_malformed_json_is_422_not_500(client: TestClient, app: FastAPI, payload: bytes) -> None:
    headers = {**key_for(app, "alice", "underwriter"), "Content-Type": "application/json"}
    problem = assert_problem(client.post("/v1/quotes", content=payload, headers=headers), 422)
    assert "JSON" in problem["detail"]


def test_malformed_json_names_the_body(client: TestClient, app: FastAPI) -> None:
    headers = {**key_for(app, "alice", "underwriter"), "Content-Type": "application/json"}
    response = client.post("/v1/quotes", content=b'{"submission": ', headers=headers)
    [error] = assert_problem(response, 422)["errors"]
    assert error["field"] == "(body)"


def test_body_that_is_not_utf8_is_a_client_error(client: TestClient, app: FastAPI) -> None:
    headers = {**key_for(app, "alice", "underwriter"), "Content-Type": "application/json"}
    response = client.post("/v1/quotes", content=b'{"lab": "\xff"}', headers=headers)
    # 400 today ("There was an error parsing the body"); 422 would match the other JSON errors.
    assert_problem(response, response.status_code)
    assert response.status_code in {400, 422}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
def test_non_finite_numbers_are_422(app: FastAPI, number: str) -> None:
    text = json.dumps(example("physics_low_hazard")).replace(
        '"area_m2": 240', f'"area_m2": {number}'
    )
    assert number in text
    with open_client(app, raise_server_exceptions=False) as client:
        headers = {**key_for(app, "alice", "underwriter"), "Content-Type": "application/json"}
        response = client.post("/v1/quotes", content=text.encode(), headers=headers)
        problem = assert_problem(response, 422)
        assert "submission.area_m2" in field_errors(problem)


def test_body_over_the_limit_is_413(tmp_path: Path, tables: uw.RatingTables) -> None:
    app = create_app(make_settings(tmp_path, max_body_bytes=1_000), tables=tables)
    with open_client(app) as client:
        headers = key_for(app, "alice", "underwriter")
        body = example("physics_low_hazard")
        assert len(json.dumps(body)) > 1_000
        problem = assert_problem(client.post("/v1/quotes", json=body, headers=headers), 413)
        assert "1,000 bytes" in problem["detail"]
        assert count_quotes(app) == 0
        small = client.post("/v1/quotes/x/decision", json={}, headers=headers)
        assert small.status_code == 403, "small bodies pass the limit"


def test_chunked_body_over_the_limit_is_413(tmp_path: Path, tables: uw.RatingTables) -> None:
    app = create_app(make_settings(tmp_path, max_body_bytes=1_000), tables=tables)

    def chunks() -> Iterator[bytes]:
        text = json.dumps(example("physics_low_hazard")).encode()
        for start in range(0, len(text), 500):
            yield text[start : start + 500]

    with open_client(app) as client:
        headers = {**key_for(app, "alice", "underwriter"), "Content-Type": "application/json"}
        response = client.post("/v1/quotes", content=chunks(), headers=headers)
        assert "content-length" not in response.request.headers
        assert_problem(response, 413)


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404)
    assert_problem(client.delete("/v1/quotes"), 405)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/v1/quotes", "GET, POST"),
        ("DELETE", "/v1/quotes", "GET, POST"),
        ("OPTIONS", "/v1/quotes/any-id", "GET"),
        ("GET", "/v1/quotes/any-id/decision", "POST"),
        ("PUT", "/v1/simulations", "POST"),
    ],
)
def test_method_not_allowed_names_every_method_of_the_path(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    """``OPTIONS /v1/quotes`` answered ``Allow: POST`` although GET is served too."""
    response = client.request(method, path)
    problem = assert_problem(response, 405)
    assert response.headers["Allow"] == allowed
    assert problem["detail"] == f"{method} is not allowed on {path}; allowed: {allowed}."


# --------------------------------------------------------------------------- store versions


def test_store_of_a_newer_schema_is_refused(tmp_path: Path, tables: uw.RatingTables) -> None:
    settings = make_settings(tmp_path)
    newer = Store(settings.database_url)
    try:
        newer.create_schema()
        with newer.session() as session:
            session.execute(update(SchemaInfo).where(SchemaInfo.id == 1).values(version=99))
    finally:
        newer.engine.dispose()

    app = create_app(settings, tables=tables)
    with pytest.raises(StoreError, match="newer") as raised, open_client(app):
        pass  # pragma: no cover - the start fails
    assert "99" in str(raised.value)
    store_of(app).engine.dispose()


# --------------------------------------------------------------------------- contract


def test_the_schema_states_what_is_enforced(tmp_path: Path) -> None:
    """Found by schemathesis's positive_data_acceptance: requests the schema allowed were refused
    for a missing union tag, a key that is not a section, n_years over the service's cap."""
    schemas = create_app(make_settings(tmp_path)).openapi()["components"]["schemas"]
    for variant in ("Poisson", "NegativeBinomial", "Fixed", "LogNormal", "Pareto", "Gamma"):
        assert "family" in schemas[variant]["required"], variant
    sections = schemas["PolicyTerms"]["properties"]["sections"]["propertyNames"]
    assert sections["enum"] == [section.value for section in uw.SECTIONS]
    assert schemas["SimulationIn"]["properties"]["n_years"]["maximum"] == 200_000


def test_openapi_snapshot(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The API contract, pinned. Rewrite with ``pytest --update-golden`` and review the diff."""
    spec = create_app(make_settings(tmp_path)).openapi()
    text = json.dumps(spec, sort_keys=True, indent=2) + "\n"
    if request.config.getoption("--update-golden"):
        OPENAPI.write_text(text, encoding="utf-8")
    assert {
        "/v1/quotes",
        "/v1/quotes/{quote_id}",
        "/v1/quotes/{quote_id}/decision",
        "/v1/quotes/{quote_id}/replay",
        "/v1/quotes/{quote_id}/history",
        "/v1/quotes/{quote_id}/revisions",
        "/v1/quotes/{quote_id}/offer",
        "/v1/quotes/{quote_id}/bind",
        "/v1/quotes/{quote_id}/document",
        "/v1/policies",
        "/v1/policies/{policy_id}",
        "/v1/policies/{policy_id}/renewal",
        "/v1/reports/rate-monitoring",
        "/v1/simulations",
        "/v1/rating-tables",
        "/v1/rating-tables/{version}",
        "/healthz",
        "/readyz",
    } <= spec["paths"].keys()
    assert text == OPENAPI.read_text(encoding="utf-8"), (
        "the OpenAPI contract changed: review it, then run pytest --update-golden"
    )
