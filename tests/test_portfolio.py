"""Portfolios: accumulation on shared sites, Euler contributions, marginal impact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import underwriting as uw

ROOT = Path(__file__).resolve().parents[1]
YEARS = 40_000


def _requests() -> list[uw.QuoteRequest]:
    return [
        uw.QuoteRequest.model_validate_json(path.read_text())
        for path in sorted((ROOT / "examples").glob("*.json"))
    ]


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.1")


@pytest.fixture(scope="module")
def apart(tables: uw.RatingTables) -> uw.PortfolioResult:
    return uw.simulate_portfolio(uw.Portfolio(_requests(), tables=tables), n_years=YEARS, seed=3)


@pytest.fixture(scope="module")
def together(tables: uw.RatingTables) -> uw.PortfolioResult:
    portfolio = uw.Portfolio(_requests(), tables=tables).on_one_site("campus")
    return uw.simulate_portfolio(portfolio, n_years=YEARS, seed=3)


def test_contributions_add_up_to_the_portfolio_tvar(apart: uw.PortfolioResult) -> None:
    contributions = apart.tvar_contributions()
    assert set(contributions) == set(apart.lab_ids)
    assert sum(contributions.values()) == pytest.approx(apart.tvar(0.99), rel=1e-9)
    assert float(np.sum(apart.lab_means)) == pytest.approx(apart.mean, rel=1e-9)


def test_a_portfolio_of_independent_labs_adds_up_their_losses(tables: uw.RatingTables) -> None:
    # On separate sites labs share nothing: each lab's mean in the portfolio estimates its own
    # expected insured loss (a single-lab simulation on other streams), within 4 standard errors.
    requests = _requests()
    result = uw.simulate_portfolio(uw.Portfolio(requests, tables=tables), n_years=YEARS, seed=8)
    for index, request in enumerate(requests):
        alone = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS, seed=9)
        single = alone.metrics[0]
        error = np.hypot(single.standard_error, result.lab_standard_errors[index])
        assert abs(result.lab_means[index] - single.value) < 4 * error


def test_labs_on_one_site_accumulate_site_events(
    apart: uw.PortfolioResult, together: uw.PortfolioResult
) -> None:
    # The same labs: the same expected loss (site sharing moves events, not their rate), but a
    # heavier tail when a fire or flood can hit all of them in one event.
    error = np.hypot(apart.standard_error(), together.standard_error())
    assert abs(apart.mean - together.mean) < 4 * error
    assert together.tvar(0.995) > apart.tvar(0.995)


def test_a_shared_event_hits_every_lab_of_the_site_in_the_same_year(
    tables: uw.RatingTables,
) -> None:
    # Two copies of a lab on one site, with only the site-level scenarios: their natural
    # catastrophe and major fire years coincide exactly.
    request = _requests()[0]
    twin = request.model_copy(
        update={"submission": request.submission.model_copy(update={"lab_id": "TWIN"})}
    )
    portfolio = uw.Portfolio([request, twin], tables=tables)
    profiles = [lab.profile for lab in portfolio.labs]
    site_only = [
        p.model_copy(
            update={"scenarios": tuple(s for s in p.scenarios if s.site_level), "cascades": ()}
        )
        for p in profiles
    ]
    years = []
    for profile in site_only:
        events = uw.simulate(profile, request.terms, n_years=200_000, seed=5).event_losses()
        years.append(set(events.year.tolist()))
    assert years[0] == years[1]
    assert len(years[0]) > 50


def test_the_result_does_not_depend_on_the_block_size(tables: uw.RatingTables) -> None:
    portfolio = uw.Portfolio(_requests(), tables=tables)
    first = uw.simulate_portfolio(portfolio, n_years=5_000, seed=1, block_size=5_000)
    second = uw.simulate_portfolio(portfolio, n_years=5_000, seed=1, block_size=777)
    np.testing.assert_array_equal(first.annual_loss, second.annual_loss)
    np.testing.assert_array_equal(first.lab_tail_means, second.lab_tail_means)


def test_marginal_impact_of_a_new_lab(tables: uw.RatingTables) -> None:
    requests = _requests()
    portfolio = uw.Portfolio(requests[:2], tables=tables)
    impact = uw.marginal_impact(portfolio, requests[2], n_years=YEARS, seed=4)
    assert impact.lab_id == requests[2].submission.lab_id
    assert impact.expected_loss.value > 0
    assert impact.expected_loss.standard_error > 0
    # Adding a lab with non-negative losses never lowers any year's total: the tail grows too.
    assert impact.tvar_99.value >= 0
    assert impact.var_995.value >= 0


def test_the_summary_reports_labs_and_sites(apart: uw.PortfolioResult) -> None:
    text = apart.summary()
    assert "Portfolio of 3 labs on 3 site(s)" in text
    for lab in apart.lab_ids:
        assert lab in text
    assert apart.ep_curve()[0].oep is None


def test_duplicate_lab_ids_are_refused(tables: uw.RatingTables) -> None:
    request = _requests()[0]
    with pytest.raises(ValueError, match="lab ids must be unique"):
        uw.Portfolio([request, request], tables=tables)


def test_backend_and_group_size_mistakes_are_named(tables: uw.RatingTables) -> None:
    portfolio = uw.Portfolio(_requests()[:1], tables=tables)
    with pytest.raises(ValueError, match="lab_group_size must be a positive integer, got 0"):
        uw.simulate_portfolio(portfolio, n_years=100, seed=1, lab_group_size=0)
    with pytest.raises(ValueError, match="backend must be one of 'local', 'dask', got 'spark'"):
        uw.simulate_portfolio(portfolio, n_years=100, seed=1, backend="spark")  # type: ignore[arg-type]


def test_groups_of_labs_change_the_sums_by_rounding_at_most(tables: uw.RatingTables) -> None:
    # The group size fixes the order of the portfolio's sums (the same on every backend); with
    # groups of one lab or of all three, the years agree to rounding.
    portfolio = uw.Portfolio(_requests(), tables=tables)
    whole = uw.simulate_portfolio(portfolio, n_years=5_000, seed=2)
    single = uw.simulate_portfolio(portfolio, n_years=5_000, seed=2, lab_group_size=1)
    np.testing.assert_allclose(single.annual_loss, whole.annual_loss, rtol=1e-12)
    np.testing.assert_array_equal(single.lab_means, whole.lab_means)


def test_contributions_share_a_tied_var_among_its_years(tables: uw.RatingTables) -> None:
    # Two labs, each with an annual aggregate limit of 100,000: about a quarter of the years
    # total exactly 100,000 (one lab at its cap, the other without loss, either way round). At
    # tail level 0.8 the portfolio's VaR is that atom, and the years tied at it must share its
    # weight: by hand, lab i contributes
    #   (sum of its losses in years above the VaR) / (n (1 - p))
    #   + (1 - (years above) / (n (1 - p))) * (its mean over the tied years),
    # its own losses from a one-lab portfolio on the same seed (the same streams, checked).
    requests = [
        r.model_copy(update={"terms": r.terms.model_copy(update={"aggregate_limit": 100_000})})
        for r in _requests()[:2]
    ]
    n, level = 20_000, 0.8
    result = uw.simulate_portfolio(
        uw.Portfolio(requests, tables=tables), n_years=n, seed=3, tail_level=level
    )
    alone = [
        uw.simulate_portfolio(uw.Portfolio([r], tables=tables), n_years=n, seed=3).annual_loss
        for r in requests
    ]
    total = result.annual_loss
    np.testing.assert_array_equal(alone[0] + alone[1], total)
    var = result.var(level)
    tied = total == var
    assert var == 100_000
    assert np.count_nonzero(tied) > 1000
    above = total > var
    unit = 1 / (n * (1 - level))
    leftover = 1 - np.count_nonzero(above) * unit
    for index, losses in enumerate(alone):
        by_hand = unit * losses[above].sum() + leftover * losses[tied].mean()
        assert result.lab_tail_means[index] == pytest.approx(by_hand, rel=1e-9)
    assert float(result.lab_tail_means.sum()) == pytest.approx(result.tvar(level), rel=1e-9)
