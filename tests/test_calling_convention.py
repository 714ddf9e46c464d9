"""One calling convention: a request, or a submission and its terms; seeds as int or string."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import reference_profile, reference_terms

import underwriting as uw

ROOT = Path(__file__).resolve().parents[1]


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((ROOT / "examples" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.1")


def test_a_seed_as_a_decimal_string_is_the_same_seed() -> None:
    as_int = uw.simulate(reference_profile(), reference_terms(), n_years=3_000, seed=42)
    as_text = uw.simulate(reference_profile(), reference_terms(), n_years=3_000, seed="42")
    assert as_text.seed == 42
    np.testing.assert_array_equal(as_text.annual_loss, as_int.annual_loss)


@pytest.mark.parametrize("seed", ["4.2", "-1", "0x2a", "", str(2**128)])
def test_a_seed_that_is_no_decimal_integer_names_the_value(seed: str) -> None:
    with pytest.raises(ValueError, match="seed must be"):
        uw.simulate(reference_profile(), reference_terms(), n_years=10, seed=seed)


def test_a_quote_of_a_request_is_the_quote_of_its_submission_and_terms(
    tables: uw.RatingTables,
) -> None:
    request = _request("physics_low_hazard").model_copy(update={"seed": "11"})
    of_request = uw.quote(request, tables=tables, n_years=5_000)
    of_parts = uw.quote(request.submission, request.terms, tables=tables, n_years=5_000, seed=11)
    assert of_request.premium == of_parts.premium
    assert of_request.provenance.seed == "11"
    with pytest.raises(TypeError, match="carries its own terms"):
        uw.quote(request, request.terms, tables=tables, n_years=5_000)


def test_sensitivity_and_stress_take_either_form(tables: uw.RatingTables) -> None:
    request = _request("chemistry_high_hazard")
    sub, terms = request.submission, request.terms
    factor, values = "terms.aggregate_deductible", [0, 100_000]
    one = uw.sensitivity(request, factor, values, tables=tables, n_years=4_000, seed=3)
    two = uw.sensitivity(sub, terms, factor, values, tables=tables, n_years=4_000, seed="3")
    assert one == two
    named = uw.sensitivity(
        request, factor=factor, values=values, tables=tables, n_years=4_000, seed=3
    )
    assert named == one  # the keywords of the earlier signature still work
    a = uw.stress(request, "explosion", tables=tables, n_years=3_000, seed=2)
    assert uw.stress(request, scenario_id="explosion", tables=tables, n_years=3_000, seed=2) == a
    b = uw.stress(sub, terms, "explosion", tables=tables, n_years=3_000, seed="2")
    assert a == b
    with pytest.raises(TypeError, match="needs its PolicyTerms next"):
        uw.stress(sub, "explosion", tables=tables, n_years=3_000)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="got 2 argument"):
        uw.stress(request, "explosion", "fire", tables=tables)  # type: ignore[call-overload]


def test_marginal_impact_takes_either_form(tables: uw.RatingTables) -> None:
    requests = [_request("physics_low_hazard"), _request("bsl3_biobank")]
    portfolio = uw.Portfolio(requests[:1], tables=tables)
    new = requests[1]
    one = uw.marginal_impact(portfolio, new, n_years=2_000, seed=5)
    two = uw.marginal_impact(portfolio, new.submission, new.terms, n_years=2_000, seed="5")
    assert one == two
    result = uw.simulate_portfolio(portfolio, n_years=2_000, seed="5")
    assert result.seed == 5
