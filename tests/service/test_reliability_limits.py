"""Resource limits: a request either fits the service's budgets or is refused, saying what is too
large, before it can tie up a worker.

The budgets: ``max_body_bytes`` (413), ``max_simulation_years`` (422 naming ``n_years``),
``max_quote_years`` (a quote reports the precision it reached within it) and
``max_simulated_events``, the time budget, checked before anything is simulated: a simulation's
expected events, or a quote's expected events times the sets of terms priced on them (the terms,
each option and the build-up's variants). Severity parameters have a declared domain within which
no simulated loss or metric overflows.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import underwriting as uw
from api.main import create_app
from api.settings import Settings
from api.store import QuoteRecord

ROOT = Path(__file__).resolve().parents[2]
PROBLEM_JSON = "application/problem+json"


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "examples" / f"{name}.json").read_text("utf-8"))
    body["target_relative_error"] = 0.2
    return body


def pathological() -> dict[str, Any]:
    """Every flag set and every number at the end of what the schema allows."""
    body = example("chemistry_high_hazard")
    submission = body["submission"]
    submission.update(
        hazard_grade="I",
        area_m2=1_000_000,
        floor=-10,
        construction="combustible",
        headcount=100_000,
        student_share=1.0,
        biosafety_level=4,
        values={name: 1e15 for name in submission["values"]},
        equipment_schedule=[
            {"type": "NMR", "value": 1e12, "age_years": 100, "cryogenic_magnet": True}
        ]
        * 50,
        cold_storage={
            "ultra_low_freezers": 10**6,
            "ln2_dewars": 10**6,
            "remote_alarm": False,
            "backup_power": False,
            "backup_freezer": False,
        },
        natural_hazards=dict.fromkeys(
            ("flood_zone", "typhoon_zone", "earthquake_zone", "critical_assets_below_ground"),
            True,
        ),
        claims_history={
            "years_observed": 100,
            "claims": [{"scenario": "contained_fire", "date": "2024-01-01", "amount": 1e15}] * 500,
        },
    )
    submission["chemicals"].update(
        flammable_liquids_litres=1e15,
        pyrophoric=True,
        water_reactive=True,
        explosive=True,
        acutely_toxic=True,
        explosives_manufacturing=True,
        gas_cylinders=dict.fromkeys(("flammable", "toxic", "oxidising", "inert"), 10**6),
    )
    body["options"] = [copy.deepcopy(body["terms"]) for _ in range(20)]
    return body


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert "Traceback" not in response.text
    return body


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.1")


def start(
    tmp_path: Path, tables: uw.RatingTables, **changes: Any
) -> Generator[TestClient, None, None]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/uw.db", **changes)
    app = create_app(settings, tables=tables)
    with TestClient(app) as client:
        for role in ("underwriter", "actuary"):
            key, _ = app.state.store.create_key(f"{role}-1", role)
            client.headers[f"X-Test-{role}"] = key  # kept here, sent as Authorization below
        yield client


def as_role(client: TestClient, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.headers[f'X-Test-{role}']}"}


def stored_quotes(app: FastAPI) -> int:
    with app.state.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(QuoteRecord)) or 0)


@pytest.fixture
def production(tmp_path: Path, tables: uw.RatingTables) -> Iterator[TestClient]:
    """The service with its default limits, as ``underwriting serve`` starts it."""
    yield from start(tmp_path, tables)


@pytest.fixture
def small(tmp_path: Path, tables: uw.RatingTables) -> Iterator[TestClient]:
    """Limits small enough to reach cheaply."""
    yield from start(
        tmp_path,
        tables,
        max_body_bytes=20_000,
        max_quote_years=5_000,
        max_simulation_years=10_000,
        max_simulated_events=200_000,
    )


# --------------------------------------------------------------------------- body and years


@pytest.mark.parametrize(
    "path", ["/v1/quotes", "/v1/simulations", "/v1/quotes/any/decision", "/v1/quotes/any/replay"]
)
def test_a_body_over_the_limit_is_413_and_nothing_is_stored(small: TestClient, path: str) -> None:
    body = pathological()  # with 20 options, far over 20,000 bytes
    assert len(json.dumps(body)) > 20_000
    response = small.post(path, json=body, headers=as_role(small, "underwriter"))
    assert "20,000 bytes" in problem(response, 413)["detail"]
    assert stored_quotes(small.app) == 0  # type: ignore[arg-type]


def test_n_years_above_the_cap_is_422_naming_the_field_value_and_cap(small: TestClient) -> None:
    body = {
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
        "terms": {"sections": {"property": {}}},
        "n_years": 10_001,
    }
    response = small.post("/v1/simulations", json=body, headers=as_role(small, "actuary"))
    [error] = problem(response, 422)["errors"]
    assert error == {"field": "n_years", "value": 10_001, "message": "must be at most 10000"}
    body["n_years"] = 10_000
    assert small.post("/v1/simulations", json=body, headers=as_role(small, "actuary")).is_success


def test_years_above_the_engines_cap_are_a_422_like_too_many_events(
    tmp_path: Path, tables: uw.RatingTables
) -> None:
    # A service whose own cap is above the engine's: the engine's SimulationLimitError is a 422.
    running = start(tmp_path, tables, max_simulation_years=2_000_000_000, max_simulated_events=1e30)
    client = next(running)
    body = {
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
        "terms": {"sections": {"property": {}}},
        "n_years": 1_000_000_001,
    }
    response = client.post("/v1/simulations", json=body, headers=as_role(client, "actuary"))
    found = problem(response, 422)
    assert found["title"] == "Cannot underwrite this request"
    assert "n_years must be an integer in [1, 1,000,000,000]" in found["detail"]
    running.close()


# --------------------------------------------------------------------------- time budget


def test_a_pathological_submission_is_refused_before_simulating(production: TestClient) -> None:
    """Default limits: refused at once, naming the events, the limit and what drives them."""
    body = pathological()
    uw.QuoteRequest.model_validate(body)  # valid: every value is within the schema
    response = production.post("/v1/quotes", json=body, headers=as_role(production, "underwriter"))
    detail = problem(response, 422)["detail"]
    assert "simulated events" in detail
    assert "the limit is 50,000,000" in detail
    assert "Most frequent scenarios" in detail
    assert "cold_storage_failure" in detail
    assert stored_quotes(production.app) == 0  # type: ignore[arg-type]


def test_options_count_against_the_time_budget(tmp_path: Path, tables: uw.RatingTables) -> None:
    """The same lab fits the budget alone but not with twenty options priced on its events.

    The physics lab draws about 0.2 events a year: 1,000 in 5,000 years, priced under its terms
    and four build-up variants (5,000), or also under twenty options (25,000).
    """
    running = start(tmp_path, tables, max_quote_years=5_000, max_simulated_events=10_000)
    client = next(running)
    headers = as_role(client, "underwriter")
    body = example("physics_low_hazard")
    alone = client.post("/v1/quotes", json=body, headers=headers)
    assert alone.status_code == 201, alone.text

    body["options"] = [copy.deepcopy(body["terms"]) for _ in range(20)]
    detail = problem(client.post("/v1/quotes", json=body, headers=headers), 422)["detail"]
    running.close()
    assert "25 sets of terms" in detail
    assert "fewer options" in detail


def test_an_impossible_precision_is_quoted_at_the_cap(small: TestClient) -> None:
    """A target far beyond reach once overflowed the choice of years; now the cap applies."""
    body = example("physics_low_hazard")
    body["target_relative_error"] = 1e-300
    response = small.post("/v1/quotes", json=body, headers=as_role(small, "underwriter"))
    assert response.status_code == 201, response.text
    quote = response.json()
    assert quote["provenance"]["n_years"] == 5_000
    assert quote["premium"]["relative_error"] > 1e-300


def test_an_actuarys_flood_of_events_is_refused(small: TestClient) -> None:
    body = {
        "profile": {
            "scenarios": [
                {
                    "id": "flood",
                    "frequency": {"family": "poisson", "rate": 1e9},
                    "severity": {"family": "gamma", "shape": 2.0, "scale": 1e3},
                    "section": "property",
                }
            ]
        },
        "terms": {"sections": {"property": {}}},
        "n_years": 1_000,
    }
    response = small.post("/v1/simulations", json=body, headers=as_role(small, "actuary"))
    assert "the limit is 200,000" in problem(response, 422)["detail"]


# --------------------------------------------------------------------------- parameter domain

SEVERITIES_OUT_OF_DOMAIN = [
    ({"family": "lognormal", "mu": 700.0, "sigma": 1.0}, "mu"),
    ({"family": "lognormal", "mu": 0.0, "sigma": 1e6}, "sigma"),
    ({"family": "pareto", "alpha": 1e-300, "scale": 1.0}, "alpha"),
    ({"family": "gamma", "shape": 1e300, "scale": 1.0}, "shape"),
    (
        {"family": "lognormal_gpd", "mu": 1.0, "sigma": 1.0, "threshold": 1e300, "xi": 0.5},
        "threshold",
    ),
]
SEVERITIES_AT_THE_EDGE = [
    {"family": "lognormal", "mu": 35.0, "sigma": 5.0},
    {"family": "pareto", "alpha": 0.5, "scale": 1e15},
    {"family": "gamma", "shape": 1e6, "scale": 1e15},
    {"family": "lognormal_gpd", "mu": 35.0, "sigma": 5.0, "threshold": 1e15, "xi": 0.99},
]


def one_scenario(severity: dict[str, Any]) -> dict[str, Any]:
    return {
        "profile": {
            "scenarios": [
                {
                    "id": "edge",
                    "frequency": {"family": "poisson", "rate": 50.0},
                    "impacts": [
                        {"section": "property", "severity": severity, "severity_scale": 1e6}
                    ],
                }
            ]
        },
        "terms": {"sections": {"property": {}}},
        "n_years": 2_000,
    }


@pytest.mark.parametrize(("severity", "field"), SEVERITIES_OUT_OF_DOMAIN)
def test_a_severity_that_would_overflow_is_422_naming_the_parameter(
    small: TestClient, severity: dict[str, Any], field: str
) -> None:
    """These once overflowed inside the simulation: a 500, or infinite and NaN metrics."""
    response = small.post(
        "/v1/simulations", json=one_scenario(severity), headers=as_role(small, "actuary")
    )
    fields = [error["field"] for error in problem(response, 422)["errors"]]
    assert any(name.endswith(f".{field}") for name in fields), fields


@pytest.mark.parametrize("severity", SEVERITIES_AT_THE_EDGE)
def test_a_severity_at_the_edge_of_its_domain_gives_finite_figures(
    small: TestClient, severity: dict[str, Any]
) -> None:
    # A limit at the largest amount a request may state: an infinite-mean severity (Pareto alpha
    # 0.5) with nothing capping it is refused (tests/engine/test_heavy_tails.py); capped, it must
    # give finite figures however large.
    body = one_scenario(severity)
    body["terms"] = {"sections": {"property": {"limit": 1e15}}}
    response = small.post("/v1/simulations", json=body, headers=as_role(small, "actuary"))
    assert response.status_code == 200, response.text
    result = response.json()
    numbers = [m["value"] for m in result["metrics"]]
    numbers += [point["aep"] for point in result["ep_curve"]]
    assert all(isinstance(x, float | int) and math.isfinite(x) for x in numbers)
    assert result["metrics"][0]["value"] > 0
