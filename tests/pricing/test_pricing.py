"""The premium build-up: arithmetic as docs/sources.md#research-4-1 writes it, parts add up."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import underwriting as uw
from underwriting.rating import write_manifest_hashes

ROOT = Path(__file__).resolve().parents[2]


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
    # docs/sources.md#research-4-1: P = (E[L] + risk load + F) / (1 - V - Q), commission in V + Q.
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
    permutation_seed=st.integers(0, 2**32 - 1),
)
def test_tail_weights_share_the_var_equally_among_tied_years(
    losses: list[float], level: float, permutation_seed: int
) -> None:
    # Many years tie at an aggregate limit: each year tied at the VaR takes the same share of
    # what the years above it leave, so permuting the years permutes the weights.
    x = np.array(losses)
    n = x.size
    years, weights = uw.LossDistribution(n, 0, x, None).tail_weights(level)
    var = np.sort(x)[min(max(math.ceil(n * level) - 1, 0), n - 1)]
    np.testing.assert_array_equal(years, np.flatnonzero(x >= var))
    unit = 1 / (n * (1 - level))
    above = int(np.count_nonzero(x > var))
    tied = int(np.count_nonzero(x == var))
    np.testing.assert_allclose(weights[x[years] > var], unit)
    np.testing.assert_allclose(weights[x[years] == var], (1 - above * unit) / tied)
    assert float(weights.sum()) == pytest.approx(1.0)
    assert float(weights @ x[years]) == pytest.approx(
        uw.LossDistribution(n, 0, x, None).tvar(level)
    )
    permutation = np.random.default_rng(permutation_seed).permutation(n)
    full = np.zeros(n)
    full[years] = weights
    p_years, p_weights = uw.LossDistribution(n, 0, x[permutation], None).tail_weights(level)
    p_full = np.zeros(n)
    p_full[p_years] = p_weights
    np.testing.assert_allclose(p_full, full[permutation], rtol=1e-12)


def test_tail_allocation_at_a_tied_var_is_the_conditional_expectation_by_hand() -> None:
    # Ten years, two sections, an annual aggregate limit of 10 paid pro rata to the sections.
    # Years 2, 5 and 8 reach the cap; 9 is the only year in between. At level 0.8 the VaR is
    # the 8th smallest total, 10 (the cap); no year is above it, so TVaR 80% = 10 and each part's
    # co-TVaR is its mean over the three capped years (hand computation):
    #   section a: (6 + 2 + 5) / 3 = 13/3, section b: (4 + 8 + 5) / 3 = 17/3.
    # Before the fix all the weight went to year 2 alone (a = 6, b = 4).
    a = np.array([0.0, 1.0, 6.0, 0.0, 3.0, 2.0, 0.0, 0.5, 5.0, 4.0])
    b = np.array([0.0, 0.0, 4.0, 2.0, 0.0, 8.0, 1.0, 0.5, 5.0, 5.0])
    total = a + b
    assert np.count_nonzero(total == 10) == 3
    years, weights = uw.LossDistribution(10, 0, total, None).tail_weights(0.8)
    np.testing.assert_array_equal(years, [2, 5, 8])
    assert float(weights @ a[years]) == pytest.approx(13 / 3, rel=1e-12)
    assert float(weights @ b[years]) == pytest.approx(17 / 3, rel=1e-12)
    assert float(weights @ total[years]) == pytest.approx(10.0, rel=1e-12)


def _capped(seed: int) -> uw.SimulationResult:
    # Two sections, frequent losses, a policy aggregate limit that binds in about a quarter of
    # the years: VaR 99.5% is the limit, with hundreds of years tied at it.
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="fire",
                frequency=uw.Poisson(rate=2.0),
                severity=uw.LogNormal(mu=11.0, sigma=1.0),
                section="property",
            ),
            uw.Scenario(
                id="breakdown",
                frequency=uw.Poisson(rate=3.0),
                severity=uw.LogNormal(mu=10.5, sigma=0.8),
                section="equipment_breakdown",
            ),
        ]
    )
    terms = uw.PolicyTerms(
        sections={"property": uw.SectionTerms(), "equipment_breakdown": uw.SectionTerms()},
        aggregate_limit=300_000,
    )
    return uw.simulate(profile, terms, n_years=20_000, seed=seed)


def _permuted(result: uw.SimulationResult, permutation: np.ndarray) -> uw.SimulationResult:
    """The same years in another order (year ``permutation[k]`` becomes year ``k``)."""
    table = result.year_loss_table
    assert table is not None
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(permutation.size)
    moved = dataclasses.replace(table, year=inverse[table.year].astype(np.int32))
    return dataclasses.replace(
        result,
        annual_loss=result.annual_loss[permutation],
        annual_ground_up=None,
        annual_max_occurrence=None,
        year_loss_table=moved,
    )


@pytest.mark.parametrize("method", ["cost_of_capital", "wang"])
def test_premium_split_of_a_capped_model_does_not_depend_on_the_order_of_the_years(
    tables: uw.RatingTables, method: str
) -> None:
    result = _capped(seed=11)
    cap = 300_000.0
    assert result.var(0.995) == cap
    assert np.count_nonzero(result.annual_loss == cap) > 100
    settings = tables.pricing.premium.model_copy(update={"risk_load_method": method})
    base = uw.price(result, settings, batches=25)
    permutation = np.random.default_rng(3).permutation(result.n_years)
    moved = uw.price(_permuted(result, permutation), settings, batches=25)
    assert moved.by_section == base.by_section
    assert moved.by_scenario == base.by_scenario
    if method == "cost_of_capital":
        # The risk load's split by hand: co-TVaR at the VaR = each section's mean over the
        # capped years (no year is above the cap), less its mean, in proportion.
        table = result.year_loss_table
        assert table is not None
        capped = result.annual_loss == cap
        excess = []
        for index in (0, 1):  # property, equipment_breakdown (SECTIONS order)
            annual = table.annual(table.section == index, result.n_years)
            excess.append(float(annual[capped].mean() - annual.mean()))
        share = excess[1] / sum(excess)
        loaded = result.mean + base.risk_load
        breakdown_mean = float(table.annual(table.section == 1, result.n_years).mean())
        expected = (breakdown_mean + share * base.risk_load) / loaded * base.total
        assert base.by_section["equipment_breakdown"] == pytest.approx(
            expected, abs=settings.rounding_unit
        )
