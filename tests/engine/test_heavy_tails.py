"""Heavy tails in an own profile: an infinite mean is refused, an infinite variance warned.

A Pareto severity with ``alpha <= 1`` and nothing capping the loss has an infinite mean: it is
refused rather than reported as a finite mean with a standard error. With ``alpha <= 2`` the
variance is infinite and the standard errors would be too small: the result says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import underwriting as uw
from api.main import create_app
from api.settings import Settings
from underwriting.engine import tail_warnings

ROOT = Path(__file__).resolve().parents[2]
SCALE = 10_000.0
FIELD = "profile.scenarios[0].impacts[0].severity.alpha"


def _pareto(alpha: float, rate: float = 1.0) -> uw.RiskProfile:
    return uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="big_one",
                frequency=uw.Poisson(rate=rate),
                severity=uw.Pareto(alpha=alpha, scale=SCALE),
                section="property",
            )
        ]
    )


def _terms(**section: float) -> uw.PolicyTerms:
    return uw.PolicyTerms(sections={"property": uw.SectionTerms(**section)})


def _pareto_limited_mean(alpha: float, limit: float) -> float:
    """E[min(X, L)] for a type I Pareto, closed form: scale + scale**a (L**(1-a) - scale**(1-a))
    / (1 - a), the integral of the survival function (scale / x)**a from scale to L."""
    return float(SCALE + SCALE**alpha * (limit ** (1 - alpha) - SCALE ** (1 - alpha)) / (1 - alpha))


def test_an_infinite_mean_with_nothing_capping_it_is_refused() -> None:
    with pytest.raises(uw.HeavyTailError) as raised:
        uw.simulate(_pareto(0.9), _terms(deductible=1_000), n_years=1_000, seed=1)
    error = raised.value
    assert error.field == FIELD
    assert error.value == 0.9
    message = str(error)
    for words in ("'big_one'", "alpha = 0.9", "infinite mean", "alpha > 1", "limit"):
        assert words in message, message


@pytest.mark.parametrize(
    "terms",
    [
        _terms(limit=1_000_000),
        _terms(aggregate_limit=1_000_000),
        uw.PolicyTerms(sections={"property": uw.SectionTerms()}, aggregate_limit=1_000_000),
    ],
    ids=["section limit", "section aggregate limit", "policy aggregate limit"],
)
def test_an_infinite_mean_capped_by_the_terms_is_simulated(terms: uw.PolicyTerms) -> None:
    result = uw.simulate(_pareto(0.9, rate=0.5), terms, n_years=100_000, seed=2)
    assert result.warnings == ()
    if terms.sections[uw.Section.PROPERTY].limit is not None:
        # Every event pays min(X, 1,000,000): the mean has a closed form (Poisson rate 0.5).
        expected = 0.5 * _pareto_limited_mean(0.9, 1_000_000)
        assert abs(result.mean - expected) < 4 * result.standard_error()
    else:
        assert result.annual_loss.max() <= 1_000_000  # the year is capped


def test_an_infinite_mean_on_a_section_not_covered_is_no_insured_loss() -> None:
    terms = uw.PolicyTerms(sections={"liability": uw.SectionTerms(limit=1_000)})
    result = uw.simulate(_pareto(0.9), terms, n_years=1_000, seed=3)
    assert result.mean == 0


def test_an_infinite_variance_is_warned_in_the_result_and_its_summary() -> None:
    result = uw.simulate(_pareto(1.5), _terms(), n_years=20_000, seed=4)
    [warning] = result.warnings
    assert warning.code == "HEAVY_TAIL_INFINITE_VARIANCE"
    assert warning.field == FIELD
    assert warning.value == 1.5
    assert "infinite variance" in warning.message
    assert "too small" in warning.message
    summary = result.summary()
    assert f"warning HEAVY_TAIL_INFINITE_VARIANCE ({FIELD})" in summary
    # Closed form: E[X] = alpha scale / (alpha - 1) = 30,000 per event, finite: the mean is shown.
    assert math.isfinite(result.mean)


def test_a_gpd_tail_with_xi_at_least_a_half_is_warned_by_its_xi() -> None:
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="lawsuit",
                frequency=uw.Poisson(rate=0.2),
                severity=uw.LogNormalGPD(mu=11.0, sigma=1.0, threshold=500_000, xi=0.6),
                section="liability",
            )
        ]
    )
    terms = uw.PolicyTerms(sections={"liability": uw.SectionTerms()})
    [[warning]] = tail_warnings(profile, [terms])
    assert warning.field == "profile.scenarios[0].impacts[0].severity.xi"
    assert warning.value == 0.6
    capped = uw.PolicyTerms(sections={"liability": uw.SectionTerms(limit=5_000_000)})
    assert tail_warnings(profile, [capped]) == ((),)


@pytest.mark.parametrize("alpha", [2.5, 3.0])
def test_a_finite_variance_is_not_warned(alpha: float) -> None:
    assert uw.simulate(_pareto(alpha), _terms(), n_years=1_000, seed=5).warnings == ()


@pytest.mark.parametrize("name", ["physics_low_hazard", "chemistry_high_hazard", "bsl3_biobank"])
def test_the_example_labs_raise_no_false_warning(name: str) -> None:
    # The tables' scenarios have GPD tails with xi = 0.5 on liability-type sections; the
    # examples' terms put a limit on every such section, so nothing is warned.
    tables = uw.load_rating_tables("2026.1")
    request = uw.QuoteRequest.model_validate_json((ROOT / "examples" / f"{name}.json").read_text())
    profile = uw.RiskProfile.from_submission(request.submission, tables)
    assert tail_warnings(profile, [request.terms]) == ((),)


# --------------------------------------------------------------------------- the API


@contextmanager
def _client(path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(database_url=f"sqlite:///{path}/uw.db", max_simulation_years=200_000)
    app = create_app(settings, tables=uw.load_rating_tables("2026.1"))
    with TestClient(app) as client:
        key, _ = app.state.store.create_key("ada", "actuary")
        yield client, {"Authorization": f"Bearer {key}"}


def _body(alpha: float) -> dict[str, Any]:
    return {
        "profile": _pareto(alpha).model_dump(mode="json"),
        "terms": {"sections": {"property": {"deductible": 1_000}}},
        "n_years": 10_000,
        "seed": "7",
    }


def test_the_api_refuses_an_infinite_mean_naming_the_field(tmp_path: Path) -> None:
    with _client(tmp_path) as (client, headers):
        response = client.post("/v1/simulations", json=_body(0.9), headers=headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    [error] = problem["errors"]
    assert error["field"] == FIELD
    assert error["value"] == 0.9
    assert "alpha > 1" in error["message"]
    assert "infinite mean" in problem["detail"]


def test_the_api_carries_the_infinite_variance_warning(tmp_path: Path) -> None:
    with _client(tmp_path) as (client, headers):
        response = client.post("/v1/simulations", json=_body(1.5), headers=headers)
        finite = client.post("/v1/simulations", json=_body(3.0), headers=headers)
    assert response.status_code == 200, response.text
    [warning] = response.json()["warnings"]
    assert warning["code"] == "HEAVY_TAIL_INFINITE_VARIANCE"
    assert warning["field"] == FIELD
    assert warning["value"] == 1.5
    assert finite.json()["warnings"] == []
