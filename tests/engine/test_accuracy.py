"""Accuracy of the simulation against independent references: the closed-form mean, an FFT.

Model ``ref``: N ~ Poisson(2) events a year, X ~ LogNormal(mu=10, sigma=1.5), per-occurrence
deductible d = 10,000 and limit l = 500,000, no annual aggregate limit. Each event pays
Y = min(max(X - d, 0), l).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import reference_profile, reference_terms
from scipy import stats

import underwriting as uw

RATE, MU, SIGMA, DEDUCTIBLE, LIMIT = 2.0, 10.0, 1.5, 10_000.0, 500_000.0
YEARS = 1_000_000


@pytest.fixture(scope="module")
def result() -> uw.SimulationResult:
    return uw.simulate(reference_profile(), reference_terms(None), n_years=YEARS, seed=7)


def test_mean_matches_the_closed_form_within_four_standard_errors(
    result: uw.SimulationResult,
) -> None:
    # Closed form: E[S] = lambda * (LEV(d + l) - LEV(d)), with the lognormal limited expected
    # value LEV(u) = exp(mu + sigma^2/2) Phi((ln u - mu - sigma^2)/sigma) + u (1 - Phi((ln u - mu)
    # / sigma)) (Klugman, Panjer and Willmot, Loss Models, 4th ed., Appendix A.4.1.1).
    def lev(u: float) -> float:
        z = (math.log(u) - MU) / SIGMA
        return float(math.exp(MU + SIGMA**2 / 2) * stats.norm.cdf(z - SIGMA) + u * stats.norm.sf(z))

    expected = RATE * (lev(DEDUCTIBLE + LIMIT) - lev(DEDUCTIBLE))
    assert expected == pytest.approx(99_786.7, rel=1e-5)  # the same formula, evaluated by hand
    # The engine's own LEV agrees with this independent evaluation.
    severity = uw.LogNormal(mu=MU, sigma=SIGMA)
    assert severity.limited_expected_value(DEDUCTIBLE) == pytest.approx(lev(DEDUCTIBLE), rel=1e-12)
    error = result.standard_error()
    assert abs(result.mean - expected) < 4 * error, (result.mean, expected, error)
    assert error / result.mean < 0.005


def _compound_poisson_by_fft() -> tuple[np.ndarray, float]:
    """The distribution of S on a grid of step h, by FFT of the compound Poisson transform.

    Y is discretised by the rounding method (mass of [kh - h/2, kh + h/2) at kh; Klugman et al.,
    Loss Models, section 9.6.1), then P_S = IFFT(exp(lambda (FFT(P_Y) - 1))) (Panjer and
    Willmot, 1992). The grid reaches 2**16 * 100 = 6.5M, beyond which P(S) < 1e-8 (it needs
    at least 14 events), so wrap-around is negligible.
    """
    step, size = 100.0, 2**16
    edges = (np.arange(size + 1) - 0.5) * step
    edges[0] = 0.0
    # CDF of Y: F_Y(y) = F_X(y + d) for 0 <= y < l, and 1 from y = l (the limit's atom).
    cdf = np.where(
        edges < LIMIT, stats.lognorm.cdf(edges + DEDUCTIBLE, s=SIGMA, scale=math.exp(MU)), 1.0
    )
    cdf[0] = stats.lognorm.cdf(DEDUCTIBLE, s=SIGMA, scale=math.exp(MU))
    masses = np.diff(np.concatenate([[0.0], cdf]))[:size]
    masses[0] = cdf[0]
    aggregate = np.real(np.fft.ifft(np.exp(RATE * (np.fft.fft(masses) - 1.0))))
    return np.clip(aggregate, 0.0, None), step


def test_var_and_tvar_match_the_fft_aggregate_within_two_percent(
    result: uw.SimulationResult,
) -> None:
    masses, step = _compound_poisson_by_fft()
    grid = np.arange(masses.size) * step
    cdf = np.cumsum(masses)
    var99 = grid[np.searchsorted(cdf, 0.99)]
    # TVaR_p = VaR_p + E[(S - VaR_p)+] / (1 - p)
    tvar99 = var99 + float(np.sum(np.maximum(grid - var99, 0.0) * masses)) / 0.01
    assert result.var(0.99) == pytest.approx(var99, rel=0.02)
    assert result.tvar(0.99) == pytest.approx(tvar99, rel=0.02)


def test_every_metric_has_a_standard_error_in_the_summary(result: uw.SimulationResult) -> None:
    for metric in result.metrics():
        assert math.isfinite(metric.standard_error), metric
        assert metric.standard_error >= 0, metric
    text = result.summary()
    assert "std. error" in text
    for label in ("mean", "VaR 99.5%", "TVaR 99.0%", "P(any claim)", "coefficient of variation"):
        assert label in text
    assert result.standard_error("var", 0.995) > 0
    assert result.standard_error("tvar", 0.99) > 0


def test_standard_error_of_the_mean_is_honest() -> None:
    # Twenty independent runs of 20,000 years: their means scatter as the reported error says
    # (the ratio of the observed to the reported spread is ~1; chi-square with 19 d.o.f. puts it
    # in [0.55, 1.45] with probability > 0.999).
    runs = [
        uw.simulate(reference_profile(), reference_terms(), n_years=20_000, seed=seed)
        for seed in range(100, 120)
    ]
    means = np.array([run.mean for run in runs])
    reported = np.mean([run.standard_error() for run in runs])
    assert 0.55 < means.std(ddof=1) / reported < 1.45
