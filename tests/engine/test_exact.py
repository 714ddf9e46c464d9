"""The exact (FFT) annual loss distribution: against closed forms and against the simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import reference_profile, reference_terms, rich_profile, rich_terms

import underwriting as uw


def test_the_reference_model_simulated_agrees_with_the_exact_distribution() -> None:
    # Poisson(2) LogNormal(10, 1.5) losses, deductible 10,000, limit 500,000, aggregate limit 1M.
    exact = uw.exact(reference_profile(), reference_terms())
    result = uw.simulate(reference_profile(), reference_terms(), n_years=200_000, seed=19)
    check = result.cross_check(exact)
    assert check.agrees(within=4.0), repr(check)
    names = [row.name for row in check.rows]
    for name in ("mean", "P(any claim)", "VaR 99.5%", "TVaR 99.0%", "AEP 1 in 250", "OEP 1 in 100"):
        assert name in names
    assert exact.truncation_placed  # the mass beyond the grid is on the aggregate limit
    assert exact.amounts.max() == 1_000_000
    assert sum(exact.probabilities) == pytest.approx(1.0, abs=1e-9)


def test_the_mean_matches_the_closed_form_of_a_limited_lognormal() -> None:
    # E[Y] = E[min(G, d + L)] - E[min(G, d)] for a straight deductible d and limit L
    # (Klugman, Panjer and Willmot, Loss Models, limited expected value of the lognormal, A.4).
    severity = uw.LogNormal(mu=10.0, sigma=1.5)
    d, limit = 10_000.0, 500_000.0
    per_event = severity.limited_expected_value(d + limit) - severity.limited_expected_value(d)
    exact = uw.exact(reference_profile(), reference_terms(None))
    assert exact.mean == pytest.approx(2.0 * per_event, abs=2.0 * exact.amount_error)
    assert exact.truncation_mass < 1e-9
    claim = 1 - math.exp(-2.0 * float(severity.sf(np.array([d]))[0]))
    assert exact.probability_of_claim() == pytest.approx(claim, rel=1e-12)


def test_negative_binomial_counts_percentage_deductibles_and_annual_terms_agree() -> None:
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="fire",
                frequency=uw.NegativeBinomial(rate=0.8, rate_cv=0.5),
                impacts=[
                    uw.SectionImpact(
                        section="property",
                        basis="damage_ratio",
                        value=5e6,
                        severity=uw.LogNormal.from_median_p95(0.02, 0.4),
                    )
                ],
            ),
            uw.Scenario(
                id="injury",
                frequency=uw.Poisson(rate=1.5),
                impacts=[
                    uw.SectionImpact(
                        section="employee_injury",
                        severity=uw.Pareto(alpha=2.5, scale=20_000),
                        probability=0.6,
                    )
                ],
            ),
        ],
        value_at_risk={"property": 4e6},
    )
    terms = uw.PolicyTerms(
        sections={
            "property": uw.SectionTerms(
                deductible_percent_of_loss=0.1,
                deductible_minimum=5_000,
                deductible_maximum=50_000,
                limit=3e6,
            ),
            "employee_injury": uw.SectionTerms(deductible=2_000, franchise=True, limit=1e6),
        },
        aggregate_deductible=10_000,
        aggregate_limit=4e6,
        share=0.7,
    )
    exact = uw.exact(profile, terms)
    result = uw.simulate(profile, terms, n_years=200_000, seed=23)
    check = result.cross_check(exact)
    assert check.agrees(within=4.0), repr(check)
    assert exact.amounts.max() == pytest.approx(0.7 * 4e6)


def test_what_the_exact_method_cannot_do_is_named() -> None:
    with pytest.raises(uw.ExactMethodError) as raised:
        uw.exact(rich_profile(), rich_terms())
    message = str(raised.value)
    for expected in (
        "cascade explosion -> fire",
        "scenario 'fire' hits 3 sections (property, research_interruption, spoilage)",
        "terms.sections.property.aggregate_limit = 4,000,000",
        "Simulate instead",
    ):
        assert expected in message


def test_the_discretisation_is_stated_and_refines() -> None:
    coarse = uw.exact(reference_profile(), reference_terms(), n_buckets=2**12)
    fine = uw.exact(reference_profile(), reference_terms(), n_buckets=2**16)
    assert coarse.bucket == pytest.approx(16 * fine.bucket)
    assert "buckets of" in repr(fine)
    assert "truncation mass" in repr(fine)
    assert abs(fine.mean - coarse.mean) < 16 * coarse.amount_error
    with pytest.raises(ValueError, match="n_buckets must be an integer of at least 16"):
        uw.exact(reference_profile(), reference_terms(), n_buckets=8)


@pytest.mark.parametrize(
    "severity",
    [
        uw.LogNormal(mu=10.0, sigma=1.5),
        uw.Gamma(shape=0.8, scale=20_000),
        uw.Pareto(alpha=1.8, scale=50_000),
        uw.LogNormalGPD.from_median_p95(3e5, 5e6, threshold=2e6, xi=0.5),
        uw.LogNormalGPD.from_median_p95(3e5, 5e6, threshold=2e6, xi=0.0),
    ],
)
def test_each_severitys_survival_function_inverts_its_sampling(severity: uw.LogNormal) -> None:
    q = np.array([0.9, 0.5, 0.1, 1e-3, 1e-8])
    np.testing.assert_allclose(severity.sf(severity.isf(q)), q, rtol=1e-12)
