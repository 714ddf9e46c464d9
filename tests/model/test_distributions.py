"""Frequencies and severities sampled by inverse CDF agree with scipy's distributions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import underwriting as uw

GRID = (np.arange(1, 20_000) - 0.5) / 20_000  # survival probabilities on a fine grid


@pytest.mark.parametrize(
    ("distribution", "reference"),
    [
        (uw.LogNormal(mu=10, sigma=1.5), stats.lognorm(s=1.5, scale=np.exp(10))),
        (uw.Gamma(shape=0.8, scale=20_000), stats.gamma(a=0.8, scale=20_000)),
        (uw.Pareto(alpha=1.8, scale=50_000), stats.pareto(b=1.8, scale=50_000)),
    ],
    ids=["lognormal", "gamma", "pareto"],
)
def test_inverse_survival_matches_scipy(distribution: object, reference: object) -> None:
    values = distribution.isf(GRID)  # type: ignore[attr-defined]
    expected = reference.isf(GRID)  # type: ignore[attr-defined]
    np.testing.assert_allclose(values, expected, rtol=1e-9)


def test_lognormal_from_median_and_p95() -> None:
    severity = uw.LogNormal.from_median_p95(median=150_000, p95=3_000_000)
    np.testing.assert_allclose(severity.isf(np.array([0.5, 0.05])), [150_000, 3_000_000])
    with pytest.raises(ValueError, match="median < p95"):
        uw.LogNormal.from_median_p95(median=10, p95=5)


def test_lognormal_gpd_splices_continuously_and_has_a_gpd_tail() -> None:
    severity = uw.LogNormalGPD.from_median_p95(3e6, 30e6, threshold=10e6, xi=0.5)
    tail = severity.tail_probability
    below = severity.isf(np.array([tail * (1 + 1e-9)]))[0]
    above = severity.isf(np.array([tail * (1 - 1e-9)]))[0]
    assert below == pytest.approx(10e6, rel=1e-6)
    assert above == pytest.approx(10e6, rel=1e-6)
    # Above the threshold the conditional excess is GPD(xi, beta) (scipy.stats.genpareto).
    q = np.array([0.5, 0.1, 0.01]) * tail
    expected = 10e6 + stats.genpareto(c=0.5, scale=severity.beta).isf(q / tail)
    np.testing.assert_allclose(severity.isf(q), expected, rtol=1e-9)
    # Below, it is the lognormal body.
    body = uw.LogNormal(mu=severity.mu, sigma=severity.sigma)
    np.testing.assert_allclose(severity.isf(np.array([0.9])), body.isf(np.array([0.9])))


def test_lognormal_gpd_mean_matches_numerical_integration() -> None:
    severity = uw.LogNormalGPD.from_median_p95(3e5, 5e6, threshold=2e6, xi=0.3)
    # E[X] = integral of the survival function = integral over q of isf(q), by quadrature on a
    # fine grid (midpoint rule in q, with the far tail integrated exactly by scipy's GPD mean).
    q = (np.arange(1, 2_000_001) - 0.5) / 2_000_000
    assert severity.mean == pytest.approx(float(severity.isf(q).mean()), rel=2e-3)


@pytest.mark.parametrize(
    ("frequency", "reference"),
    [
        (uw.Poisson(rate=2.0), stats.poisson(2.0)),
        (uw.Poisson(rate=0.003), stats.poisson(0.003)),
        (uw.NegativeBinomial(rate=0.8, rate_cv=0.5), stats.nbinom(4.0, 4.0 / 4.8)),
    ],
    ids=["poisson-2", "poisson-rare", "negative-binomial"],
)
def test_counts_have_the_right_distribution(frequency: object, reference: object) -> None:
    counts = frequency.counts(GRID)  # type: ignore[attr-defined]
    # On an equally spaced grid of survival probabilities the share of each count is its pmf,
    # to within the grid spacing.
    for k in range(6):
        share = np.mean(counts == k)
        assert share == pytest.approx(reference.pmf(k), abs=2 / GRID.size)  # type: ignore[attr-defined]


@settings(max_examples=50, deadline=None)
@given(
    rate=st.floats(1e-6, 200),
    factor=st.floats(1.0, 10.0),
    q=st.floats(1e-15, 1 - 1e-15),
)
def test_counts_never_fall_when_the_rate_rises(rate: float, factor: float, q: float) -> None:
    low = uw.Poisson(rate=rate).counts(np.array([q]))[0]
    high = uw.Poisson(rate=rate).scaled(factor).counts(np.array([q]))[0]
    assert high >= low
    low_nb = uw.NegativeBinomial(rate=rate, rate_cv=0.5).counts(np.array([q]))[0]
    high_nb = uw.NegativeBinomial(rate=rate * factor, rate_cv=0.5).counts(np.array([q]))[0]
    assert high_nb >= low_nb


@settings(max_examples=100, deadline=None, derandomize=True)
@given(rate=st.floats(1e-6, 300), rate_cv=st.floats(0.01, 5.0))
def test_count_tables_are_scipy_stats_survival_functions_bit_for_bit(
    rate: float, rate_cv: float
) -> None:
    # The package evaluates the same functions scipy.stats does, without importing scipy.stats;
    # any difference in the last bit could move a count, so the tables must be equal exactly.
    poisson = uw.Poisson(rate=rate).survival_table
    k = np.arange(poisson.size)
    np.testing.assert_array_equal(poisson, stats.poisson.sf(k, rate))
    n = 1.0 / rate_cv**2
    negative_binomial = uw.NegativeBinomial(rate=rate, rate_cv=rate_cv).survival_table
    k = np.arange(negative_binomial.size)
    np.testing.assert_array_equal(negative_binomial, stats.nbinom.sf(k, n, n / (n + rate)))


def test_scaled_frequency_does_not_reuse_the_old_count_table() -> None:
    poisson = uw.Poisson(rate=1.0)
    _ = poisson.survival_table
    assert poisson.scaled(100).counts(np.array([0.5]))[0] == 100  # median of Poisson(100)


def test_distribution_parameters_are_validated_with_the_field_named() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="sigma"):
        uw.LogNormal(mu=1, sigma=-1)
    with pytest.raises(ValidationError, match="rate"):
        uw.Poisson(rate=-0.1)
    with pytest.raises(ValidationError, match="xi"):
        uw.LogNormalGPD(mu=1, sigma=1, threshold=5, xi=1.5)
