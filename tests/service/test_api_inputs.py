"""Input that could silently move the price, over HTTP: refused with a 422 problem naming the
field, the value and what is allowed, or quoted with a machine-readable warning
(docs/warnings.md)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_api import (
    assert_problem,
    example,
    field_errors,
    key_for,
    make_settings,
    open_client,
)

import underwriting as uw
from api.main import create_app

# Tables with the plausibility bounds and R08 (they arrived with 2026.2).
TABLES_VERSION = "2026.2"


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


def _with_claim(date: dt.date) -> dict[str, Any]:
    body = example("physics_low_hazard")
    body["submission"]["claims_history"] = {
        "years_observed": 5,
        "claims": [{"scenario": "contained_fire", "date": date.isoformat(), "amount": 80_000}],
    }
    return body


def test_a_claim_dated_in_the_future_is_a_422_naming_it(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "alice", "underwriter")
    future = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=60)
    response = client.post("/v1/quotes", json=_with_claim(future), headers=headers)
    problem = assert_problem(response, 422)
    assert f"submission.claims_history.claims[0].date = {future.isoformat()}" in problem["detail"]
    assert "after the quote date" in problem["detail"]


def test_a_claim_before_the_window_is_quoted_with_a_warning_and_replays(
    client: TestClient, app: FastAPI
) -> None:
    headers = key_for(app, "alice", "underwriter")
    old = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20 * 365)
    response = client.post("/v1/quotes", json=_with_claim(old), headers=headers)
    assert response.status_code == 201, response.text
    quote = response.json()
    assert [(w["code"], w["field"], w["value"]) for w in quote["warnings"]] == [
        ("CLAIM_OUTSIDE_WINDOW", "submission.claims_history.claims[0].date", old.isoformat())
    ]
    assert quote["experience"]["claims_count"] == 0
    replayed = client.post(f"/v1/quotes/{quote['id']}/replay", headers=headers)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["matches"] is True


@pytest.mark.parametrize("where", ["terms", "options"])
def test_a_deductible_above_the_limit_is_a_422_naming_field_and_values(
    client: TestClient, app: FastAPI, where: str
) -> None:
    headers = key_for(app, "alice", "underwriter")
    body = example("physics_low_hazard")
    terms = copy.deepcopy(body["terms"])
    terms["sections"]["property"] = {"deductible": 2_000_000, "limit": 1_000_000}
    if where == "terms":
        body["terms"] = terms
    else:
        body["options"] = [terms]
    problem = assert_problem(client.post("/v1/quotes", json=body, headers=headers), 422)
    field = "terms" if where == "terms" else "options.0"
    error = field_errors(problem)[field]
    assert "sections.property: deductible 2,000,000 is above limit 1,000,000" in error["message"]
    assert "allowed: deductible at most limit" in error["message"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sections": {}}, "sections is empty"),
        ({"aggregate_limit": 0}, "aggregate_limit is 0"),
        (
            {
                "sections": {
                    "research_interruption": {
                        "waiting_period_days": 400,
                        "indemnity_period_months": 12,
                    }
                }
            },
            "waiting_period_days 400 is not shorter than indemnity_period_months 12",
        ),
    ],
)
def test_terms_without_cover_are_a_422(
    client: TestClient, app: FastAPI, change: dict[str, Any], expected: str
) -> None:
    headers = key_for(app, "alice", "underwriter")
    body = example("physics_low_hazard")
    body["terms"] = {**body["terms"], **change}
    problem = assert_problem(client.post("/v1/quotes", json=body, headers=headers), 422)
    assert expected in field_errors(problem)["terms"]["message"]


def test_an_implausible_exposure_is_quoted_with_a_warning_and_referred(
    client: TestClient, app: FastAPI
) -> None:
    headers = key_for(app, "alice", "underwriter")
    body = example("physics_low_hazard")
    body["submission"]["chemicals"]["flammable_liquids_litres"] = 1e9
    response = client.post("/v1/quotes", json=body, headers=headers)
    assert response.status_code == 201, response.text
    quote = response.json()
    assert quote["status"] == "referred"
    assert [r["code"] for r in quote["decision"]["reasons"]] == ["R08_IMPLAUSIBLE_EXPOSURE"]
    (warning,) = quote["warnings"]
    assert warning["code"] == "IMPLAUSIBLE_EXPOSURE"
    assert warning["field"] == "submission.chemicals.flammable_liquids_litres"
    assert warning["value"] == 1e9


def test_a_quote_short_of_its_precision_says_so(client: TestClient, app: FastAPI) -> None:
    headers = key_for(app, "alice", "underwriter")
    body = example("bsl3_biobank")
    body["target_relative_error"] = 0.001  # far beyond the service's 60,000-year cap
    response = client.post("/v1/quotes", json=body, headers=headers)
    assert response.status_code == 201, response.text
    quote = response.json()
    (warning,) = [w for w in quote["warnings"] if w["code"] == "PRECISION_NOT_REACHED"]
    assert warning["field"] == "target_relative_error"
    assert warning["value"] == 0.001
    assert "above the target of 0.10%" in warning["message"]
    assert quote["premium"]["relative_error"] > 0.001


@pytest.mark.parametrize("value", ["35184372088832", "1.5", "-3"])
def test_a_number_is_not_a_date_time_in_the_quote_list(
    client: TestClient, app: FastAPI, value: str
) -> None:
    """The contract says ISO 8601 text; pydantic alone would read a number as a Unix time (found
    by the contract fuzzer: ?created_from=35184372088832 answered 200)."""
    headers = key_for(app, "wang", "underwriter")
    for name in ("created_from", "created_to"):
        problem = assert_problem(
            client.get("/v1/quotes", params={name: value}, headers=headers), 422
        )
        assert name in str(problem), problem
        assert "ISO 8601" in str(problem), problem
    ok = client.get("/v1/quotes", params={"created_from": "2026-12-06T00:00:00Z"}, headers=headers)
    assert ok.status_code == 200
