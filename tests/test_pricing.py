"""The premium build-up: arithmetic as research.md section 4.1 writes it, parts that add up."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import underwriting as uw
from underwriting.tables import write_manifest_hashes

ROOT = Path(__file__).resolve().parents[1]


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((ROOT / "examples" / name).read_text())


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.1")


@pytest.fixture(scope="module")
def chemistry(tables: uw.RatingTables) -> tuple[uw.SimulationResult, uw.Premium]:
    request = _request("chemistry_high_hazard.json")
    profile = uw.RiskProfile.from_submission(request.submission, tables)
    result = uw.simulate(profile, request.terms, n_years=100_000, seed=5)
    return result, uw.price(result, tables.pricing.premium, batches=25)


def test_technical_premium_is_the_loss_cost_formula(
    tables: uw.RatingTables, chemistry: tuple[uw.SimulationResult, uw.Premium]
) -> None:
    result, premium = chemistry
    s = tables.pricing.premium
    # research.md 4.1: P = (E[L] + risk load + F) / (1 - V - Q), commission inside V + Q here.
    assert premium.expected_loss == pytest.approx(result.mean, rel=1e-12)
    capital = result.var(s.capital_level) - result.mean
    assert premium.risk_load == pytest.approx(
        s.cost_of_capital_rate * s.capital_share * capital, rel=1e-12
    )
    loaded = premium.expected_loss + premium.risk_load + s.fixed_expense_per_policy
    divisor = 1 - s.variable_expense_ratio - s.commission_ratio - s.profit_margin
    assert premium.technical == pytest.approx(loaded / divisor, rel=1e-12)
    assert premium.variable_expenses + premium.commission + premium.profit + loaded == (
        pytest.approx(premium.technical, rel=1e-12)
    )
    assert premium.total == round(premium.technical / s.rounding_unit) * s.rounding_unit
    assert premium.tax == round(premium.total * s.premium_tax_rate)
    assert premium.total_with_tax == premium.total + premium.tax
    assert premium.relative_error == pytest.approx(premium.standard_error / premium.technical)


def test_parts_add_up_exactly_to_the_total(
    chemistry: tuple[uw.SimulationResult, uw.Premium],
) -> None:
    _, premium = chemistry
    assert sum(premium.by_section.values()) == premium.total
    assert sum(premium.by_scenario.values()) == premium.total
    assert all(value >= 0 for value in premium.by_section.values())
    assert all(float(value).is_integer() for value in premium.by_scenario.values())


def test_the_tail_scenario_carries_more_than_its_share_of_expected_loss(
    tables: uw.RatingTables,
) -> None:
    # Two scenarios with the same expected loss: one frequent and light, one rare and heavy.
    # The Euler (co-TVaR) allocation gives the heavy one the larger share of the premium.
    light = uw.Scenario(
        id="light",
        frequency=uw.Poisson(rate=2.0),
        severity=uw.Gamma(shape=4.0, scale=2_500.0),  # mean 10,000
        section="property",
    )
    heavy = uw.Scenario(
        id="heavy",
        frequency=uw.Poisson(rate=0.01),
        severity=uw.LogNormal(mu=math.log(2e6) - 0.5, sigma=1.0),  # mean 2,000,000
        section="liability",
    )
    profile = uw.RiskProfile(scenarios=[light, heavy])
    terms = uw.PolicyTerms(sections={"property": uw.SectionTerms(), "liability": uw.SectionTerms()})
    result = uw.simulate(profile, terms, n_years=200_000, seed=9)
    premium = uw.price(result, tables.pricing.premium, batches=25)
    by_scenario = result.by_scenario()
    assert by_scenario["heavy"].mean_insured == pytest.approx(
        by_scenario["light"].mean_insured, rel=0.1
    )
    assert premium.by_scenario["heavy"] > 1.5 * premium.by_scenario["light"]
    assert premium.by_section["liability"] == premium.by_scenario["heavy"]


def test_a_small_risk_pays_the_minimum_premium(tables: uw.RatingTables) -> None:
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="tiny",
                frequency=uw.Poisson(rate=0.01),
                severity=uw.LogNormal(mu=8.0, sigma=0.5),
                section="property",
            )
        ]
    )
    terms = uw.PolicyTerms(sections={"property": uw.SectionTerms()})
    result = uw.simulate(profile, terms, n_years=20_000, seed=1)
    premium = uw.price(result, tables.pricing.premium, batches=25)
    assert premium.minimum_applied
    assert premium.total == tables.pricing.premium.minimum_premium
    assert sum(premium.by_section.values()) == premium.total


def test_wang_transform_is_selectable_in_the_tables(tmp_path: Path) -> None:
    copy = tmp_path / "2026.1"
    shutil.copytree(ROOT / "rating_tables" / "2026.1", copy)
    pricing = copy / "pricing.toml"
    text = pricing.read_text(encoding="utf-8")
    pricing.write_text(
        text.replace('risk_load_method = "cost_of_capital"', 'risk_load_method = "wang"'),
        encoding="utf-8",
    )
    write_manifest_hashes(copy)
    wang_tables = uw.load_rating_tables("2026.1", root=tmp_path)
    settings = wang_tables.pricing.premium
    assert settings.risk_load_method == "wang"
    request = _request("physics_low_hazard.json")
    profile = uw.RiskProfile.from_submission(request.submission, wang_tables)
    result = uw.simulate(profile, request.terms, n_years=50_000, seed=2)
    premium = uw.price(result, settings, batches=25)
    # Wang (2000): rho = integral of g(S(x)) dx with g(s) = Phi(Phi^-1(s) + lambda); on the
    # empirical distribution, a sum over layers between consecutive order statistics.
    x = np.sort(result.annual_loss)
    n = x.size
    survival_above = (n - np.arange(n)) / n  # S(x) on [x_(i-1), x_(i))
    g = stats.norm.cdf(stats.norm.ppf(survival_above) + settings.wang_lambda)
    rho = float(np.sum(np.diff(np.concatenate([[0.0], x])) * g))
    assert premium.risk_load == pytest.approx(rho - result.mean, rel=1e-9)
    assert premium.risk_load_method == "wang"
    assert sum(premium.by_scenario.values()) == premium.total


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    losses=st.lists(st.sampled_from([0.0, 1.0, 2.5, 7.0, 1e6]), min_size=1, max_size=400),
    level=st.floats(0.01, 0.999),
)
def test_tail_weights_give_the_var_year_as_a_stable_sort_would(
    losses: list[float], level: float
) -> None:
    # Many years tie at an aggregate limit; the year at the VaR must be the same one a stable
    # sort puts at the quantile's index, whatever the selection algorithm.
    x = np.array(losses)
    years, weights = uw.LossDistribution(x.size, 0, x, None).tail_weights(level)
    at_var = int(
        np.argsort(x, kind="stable")[min(max(math.ceil(x.size * level) - 1, 0), x.size - 1)]
    )
    above = np.flatnonzero(x > x[at_var])
    np.testing.assert_array_equal(years, np.sort(np.append(above, at_var)))
    assert float(weights @ x[years]) == pytest.approx(
        uw.LossDistribution(x.size, 0, x, None).tvar(level)
    )
