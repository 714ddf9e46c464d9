"""The currency comes from the rating tables; an actuary's own profile states none unless given."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import reference_profile, reference_terms

import underwriting as uw

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
YEARS = 2_000


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate(json.loads((EXAMPLES / f"{name}.json").read_text()))


def test_a_profile_rated_from_a_submission_takes_the_tables_currency() -> None:
    tables = uw.load_rating_tables()
    request = _request("physics_low_hazard")
    profile = uw.RiskProfile.from_submission(request.submission, tables)
    assert profile.currency == tables.currency
    result = uw.simulate(profile, request.terms, n_years=YEARS, seed=1)
    assert result.currency == tables.currency
    assert result.summary().splitlines()[0].endswith(f", amounts in {tables.currency}")


def test_an_own_profile_states_no_currency_and_its_summary_shows_plain_amounts() -> None:
    result = uw.simulate(reference_profile(), reference_terms(), n_years=YEARS, seed=1)
    assert result.profile.currency is None
    assert result.currency is None
    title = result.summary().splitlines()[0]
    assert title == f"Simulated {YEARS:,} years, seed 1, tables none (own profile)"

    stated = reference_profile().model_copy(update={"currency": "EUR"})
    titled = uw.simulate(stated, reference_terms(), n_years=YEARS, seed=1).summary()
    assert titled.splitlines()[0] == f"{title}, amounts in EUR"


def test_a_portfolio_is_in_its_tables_currency() -> None:
    tables = uw.load_rating_tables()
    requests = [_request(name) for name in ("physics_low_hazard", "bsl3_biobank")]
    result = uw.simulate_portfolio(uw.Portfolio(requests, tables=tables), n_years=YEARS, seed=1)
    assert result.currency == tables.currency
    assert f"amounts in {tables.currency}" in result.summary().splitlines()[0]
