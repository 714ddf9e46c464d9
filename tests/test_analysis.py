"""Sensitivities and stress tests on common random numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import underwriting as uw

ROOT = Path(__file__).resolve().parents[1]


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((ROOT / "examples" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.1")


def test_a_deductible_sensitivity_is_monotone(tables: uw.RatingTables) -> None:
    request = _request("chemistry_high_hazard")
    values = [0, 10_000, 50_000, 200_000, 1_000_000]
    points = uw.sensitivity(
        request, "terms.aggregate_deductible", values, tables=tables, n_years=20_000
    )
    assert [p.value for p in points] == values
    premiums = [p.technical_premium for p in points]
    assert premiums == sorted(premiums, reverse=True)
    losses = [p.expected_loss.value for p in points]
    assert losses == sorted(losses, reverse=True)


def test_a_rating_factor_sensitivity_reprices_the_lab(tables: uw.RatingTables) -> None:
    request = _request("chemistry_high_hazard")
    points = uw.sensitivity(
        request, "submission.protections.sprinklers", [False, True], tables=tables, n_years=20_000
    )
    without, with_ = points
    assert with_.premium < without.premium


def test_a_bad_factor_or_value_names_the_field(tables: uw.RatingTables) -> None:
    request = _request("physics_low_hazard")
    with pytest.raises(uw.UnderwritingError, match="not a field"):
        uw.sensitivity(request, "terms.sections.moon.deductible", [1], tables=tables)
    with pytest.raises(ValidationError, match="deductible"):
        uw.sensitivity(request, "terms.sections.property.deductible", [-5], tables=tables)


def test_a_forced_event_only_adds_to_each_year(tables: uw.RatingTables) -> None:
    request = _request("chemistry_high_hazard")
    result = uw.stress(request, "explosion", tables=tables, n_years=10_000, seed=2)
    assert result.scenario == "explosion"
    assert result.stressed.value > result.baseline.value
    assert result.added.value == pytest.approx(
        result.stressed.value - result.baseline.value, rel=1e-9
    )
    assert result.added_percentiles["p50"] >= 0
    assert result.added_percentiles["p99"] >= result.added_percentiles["p50"]


def test_the_forced_event_matches_the_scenarios_own_severity(tables: uw.RatingTables) -> None:
    # With terms that pay everything, the average added loss of a forced event is the mean
    # ground-up loss of one event of the scenario (cascades included), which the plain simulation
    # estimates as the scenario's expected annual ground-up loss over its rate.
    request = _request("physics_low_hazard")
    generous = uw.PolicyTerms(sections={s: uw.SectionTerms() for s in uw.SECTIONS})
    request = request.model_copy(update={"terms": generous})
    result = uw.stress(request, "escape_of_water", tables=tables, n_years=40_000, seed=3)
    profile = uw.RiskProfile.from_submission(request.submission, tables)
    rate = profile.scenario("escape_of_water").frequency.mean
    plain = uw.simulate(profile, generous, n_years=400_000, seed=4).by_scenario()
    per_event = plain["escape_of_water"].mean_ground_up / rate
    error = np.hypot(result.added.standard_error, plain["escape_of_water"].standard_error / rate)
    assert abs(result.added.value - per_event) < 4 * error


def test_an_unknown_scenario_is_refused_with_the_allowed_ids(tables: uw.RatingTables) -> None:
    with pytest.raises(uw.UnderwritingError, match="allowed: contained_fire"):
        uw.stress(_request("physics_low_hazard"), "meteor", tables=tables)
