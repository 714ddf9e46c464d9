"""Exact means of the per-year occurrence controls: closed forms, brute force, the engine."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, special, stats

import underwriting as uw
from underwriting.engine import _control, clear_memos, control_means
from underwriting.engine._numpy import simulate_block_events
from underwriting.engine._simulation import stream_keys
from underwriting.model import SECTION_INDEX, SECTIONS, Section
from underwriting.rating import Cascade, SharedOccurrence, rate_with_experience
from underwriting.terms import annual_insured, occurrence_payments, occurrence_terms, term_records

ROOT = Path(__file__).resolve().parents[2]
DRAWS = 4_000_000
PROPERTY = uw.LogNormal(mu=10.0, sigma=1.5)


def _one_scenario(
    impact: uw.SectionImpact, value_at_risk: dict[Section, float] | None = None
) -> uw.RiskProfile:
    """A profile of one Poisson(0.3) scenario with one impact."""
    scenario = uw.Scenario(id="s", frequency=uw.Poisson(rate=0.3), impacts=[impact])
    return uw.RiskProfile(scenarios=[scenario], value_at_risk=value_at_risk or {})


# --------------------------------------------------------------------------- closed forms


def test_a_layer_of_a_lognormal_matches_its_limited_expected_values() -> None:
    # E[c1] = rate * (LEV(d + L) - LEV(d)): the layer's expected payment per event (Klugman,
    # Panjer and Willmot, Loss Models, the lognormal's limited expected value, A.4).
    d, limit = 25_000.0, 400_000.0
    profile = _one_scenario(uw.SectionImpact(section="property", severity=PROPERTY))
    terms = uw.PolicyTerms(sections={"property": uw.SectionTerms(deductible=d, limit=limit)})
    first, second, *_ = control_means(profile, terms)
    layer = PROPERTY.limited_expected_value(d + limit) - PROPERTY.limited_expected_value(d)
    assert first == pytest.approx(0.3 * layer, rel=1e-9)
    # E[c2] = rate * E[min(max(X - d, 0), L)**2], by adaptive quadrature on the density.
    density = stats.lognorm(s=PROPERTY.sigma, scale=math.exp(PROPERTY.mu)).pdf
    inside, _ = integrate.quad(
        lambda x: (x - d) ** 2 * density(x), d, d + limit, epsabs=0, epsrel=1e-13, limit=200
    )
    above = limit**2 * float(PROPERTY.sf(np.array([d + limit]))[0])
    assert second == pytest.approx(0.3 * (inside + above), rel=1e-9)


def test_time_terms_on_downtime_match_adaptive_quadrature() -> None:
    # phi by hand: days capped at 365 and at the value at risk (250 days), paid after a 10-day
    # waiting period within 4 months, less 5,000, within 300,000.
    case = CASES["waiting and indemnity periods on downtime"]
    indemnity = 4 * 365 / 12

    def phi(days: float) -> float:
        days = min(days, 365.0)
        loss = min(max(min(days, indemnity) - 10.0, 0.0) * 2_000.0, min(days * 2_000.0, 5e5))
        return min(max(loss - 5_000.0, 0.0), 300_000.0)

    severity = DOWNTIME_DAYS
    density = stats.lognorm(s=severity.sigma, scale=math.exp(severity.mu)).pdf
    kinks = [12.5, indemnity]  # the deductible's day, the end of the indemnity period
    moments = [
        integrate.quad(
            lambda d, k=k: phi(d) ** k * density(d),
            0,
            indemnity,
            points=kinks,
            epsabs=0,
            epsrel=1e-13,
            limit=200,
        )[0]
        + phi(indemnity) ** k * float(severity.sf(np.array([indemnity]))[0])
        for k in (1, 2)
    ]
    exact = control_means(case.profile, case.terms)[:2]
    assert exact == pytest.approx((0.3 * moments[0], 0.3 * moments[1]), rel=1e-9)


def test_the_share_scales_the_controls_linearly_and_quadratically() -> None:
    profile = _one_scenario(uw.SectionImpact(section="property", severity=PROPERTY))
    section = {"property": uw.SectionTerms(deductible=10_000, limit=1e6)}
    whole = control_means(profile, uw.PolicyTerms(sections=section))
    part = control_means(profile, uw.PolicyTerms(sections=section, share=0.4))
    assert part[0] == pytest.approx(0.4 * whole[0], rel=1e-14)
    for moment in (1, 2, 3):
        assert part[moment] == pytest.approx(0.16 * whole[moment], rel=1e-14)


def test_an_uncovered_section_contributes_nothing() -> None:
    profile = _one_scenario(uw.SectionImpact(section="property", severity=PROPERTY))
    terms = uw.PolicyTerms(sections={"liability": uw.SectionTerms()})
    assert control_means(profile, terms) == (0.0, 0.0, 0.0, 0.0)


def test_the_vectorised_terms_give_the_scalar_terms_exactly() -> None:
    rng = np.random.default_rng(3)
    losses = np.concatenate([[0.0, 5_000.0, 10_000.0, 60_000.0], rng.lognormal(10, 2, 2_000)])
    days = rng.uniform(0, 400, losses.size)
    cases = [
        uw.SectionTerms(deductible=10_000, limit=50_000),
        uw.SectionTerms(deductible=10_000, franchise=True, limit=50_000),
        uw.SectionTerms(
            deductible_percent_of_loss=0.1,
            deductible_minimum=5_000,
            deductible_maximum=40_000,
            limit_percent_of_loss=0.7,
        ),
        uw.SectionTerms(deductible_percent_of_loss=0.2, franchise=True, limit=100_000),
        uw.SectionTerms(deductible=1_000, waiting_period_days=14, indemnity_period_months=6),
    ]
    for section_terms in cases:
        terms = uw.PolicyTerms(sections={"research_interruption": section_terms})
        record = term_records([terms])[0][0][SECTION_INDEX[Section.RESEARCH_INTERRUPTION]]
        vectorised = occurrence_payments(losses, section_terms, days, np.full(losses.shape, 300.0))
        scalar = [occurrence_terms(x, t, 300.0, record) for x, t in zip(losses, days, strict=True)]
        np.testing.assert_array_equal(vectorised, np.array(scalar))


# --------------------------------------------------------------------------- brute force


@dataclass(frozen=True)
class Case:
    profile: uw.RiskProfile
    terms: uw.PolicyTerms


def _brute_force_impact(
    impact: uw.SectionImpact,
    profile: uw.RiskProfile,
    terms: uw.PolicyTerms,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``v`` of one impact for ``DRAWS`` independent events (0 where not hit), and ``v**2``,
    through the vectorised terms of the package (``apply_terms``' occurrence step)."""
    amount = impact.severity.isf(rng.uniform(size=DRAWS)) * impact.severity_scale
    hit = rng.uniform(size=DRAWS) < impact.probability
    cap = profile.value_at_risk.get(impact.section, math.inf)
    ground_up = np.zeros((DRAWS, len(SECTIONS)))
    column = SECTION_INDEX[impact.section]
    if impact.basis == "downtime_days":
        assert impact.value is not None
        days = np.minimum(amount, impact.max_days or math.inf)
        daily = np.full(DRAWS, impact.value)
        ground_up[:, column] = np.minimum(days * impact.value, cap)
    else:
        days, daily = np.zeros(DRAWS), np.zeros(DRAWS)
        if impact.basis == "damage_ratio":
            assert impact.value is not None
            loss = impact.value * np.minimum(amount, 1.0)
        else:
            loss = np.minimum(amount, impact.value or math.inf)
        ground_up[:, column] = np.minimum(loss, cap)
    table = uw.EventLossTable(
        year=np.zeros(DRAWS, dtype=np.int64),
        ground_up=ground_up,
        n_years=1,
        downtime_days=days,
        daily_cost=daily,
    )
    paid = annual_insured(table, terms)[1][:, column]
    v = np.where(hit, terms.share * paid, 0.0)
    return v, v * v


def _brute_force(case: Case, seed: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Monte Carlo ``(E[c1], E[c2])`` and their standard errors: per scenario, ``DRAWS`` events
    with every impact and cascade drawn independently, times the expected count."""
    rng = np.random.default_rng(seed)
    means, variances = np.zeros(2), np.zeros(2)
    profile = case.profile
    for scenario in profile.scenarios:
        per_event = np.zeros((2, DRAWS))
        for impact in scenario.impacts:
            per_event += _brute_force_impact(impact, profile, case.terms, rng)
        for cascade in profile.cascades:
            if cascade.parent != scenario.id:
                continue
            triggered = rng.uniform(size=DRAWS) < cascade.probability
            for impact in profile.scenario(cascade.child).impacts:
                per_event += np.where(
                    triggered, _brute_force_impact(impact, profile, case.terms, rng), 0.0
                )
        count = scenario.frequency.mean  # a shared scenario keeps its own rate on average
        means += count * per_event.mean(axis=1)
        variances += count**2 * per_event.var(axis=1, ddof=1) / DRAWS
    errors = np.sqrt(variances)
    return (float(means[0]), float(means[1])), (float(errors[0]), float(errors[1]))


def _terms(**sections: uw.SectionTerms) -> uw.PolicyTerms:
    return uw.PolicyTerms(sections=sections)


DOWNTIME_DAYS = uw.LogNormal.from_median_p95(20.0, 200.0)
DOWNTIME = uw.SectionImpact(
    section="research_interruption",
    basis="downtime_days",
    value=2_000.0,
    severity=DOWNTIME_DAYS,
    max_days=365.0,
)
CASES = {
    "franchise": Case(
        _one_scenario(uw.SectionImpact(section="property", severity=PROPERTY)),
        _terms(property=uw.SectionTerms(deductible=30_000, franchise=True, limit=300_000)),
    ),
    "share deductible with minimum and maximum": Case(
        _one_scenario(uw.SectionImpact(section="liability", severity=PROPERTY, severity_scale=2)),
        _terms(
            liability=uw.SectionTerms(
                deductible_percent_of_loss=0.15,
                deductible_minimum=5_000,
                deductible_maximum=60_000,
                limit=500_000,
                limit_percent_of_loss=0.9,
            )
        ),
    ),
    "waiting and indemnity periods on downtime": Case(
        _one_scenario(DOWNTIME, value_at_risk={Section.RESEARCH_INTERRUPTION: 500_000.0}),
        _terms(
            research_interruption=uw.SectionTerms(
                deductible=5_000, waiting_period_days=10, indemnity_period_months=4, limit=300_000
            )
        ),
    ),
    "damage ratio with a cap": Case(
        _one_scenario(
            uw.SectionImpact(
                section="property",
                basis="damage_ratio",
                value=4e6,
                severity=uw.LogNormal.from_median_p95(0.05, 0.8),
                severity_scale=1.3,
            ),
            value_at_risk={Section.PROPERTY: 2.5e6},
        ),
        uw.PolicyTerms(sections={"property": uw.SectionTerms(deductible=20_000)}, share=0.6),
    ),
    "cascade": Case(
        uw.RiskProfile(
            scenarios=[
                uw.Scenario(
                    id="fire",
                    frequency=uw.Poisson(rate=0.2),
                    impacts=[uw.SectionImpact(section="property", severity=PROPERTY)],
                ),
                uw.Scenario(
                    id="smoke",
                    frequency=uw.NegativeBinomial(rate=0.5, rate_cv=0.6),
                    impacts=[
                        uw.SectionImpact(
                            section="spoilage",
                            severity=uw.Gamma(shape=2.0, scale=20_000.0),
                            factor_loading_squared=0.3,
                        ),
                        DOWNTIME,
                    ],
                ),
            ],
            cascades=[Cascade(parent="fire", child="smoke", probability=0.4)],
        ),
        _terms(
            property=uw.SectionTerms(deductible=10_000, limit=1e6),
            spoilage=uw.SectionTerms(deductible=2_000),
            research_interruption=uw.SectionTerms(waiting_period_days=5),
        ),
    ),
    "shared occurrence": Case(
        uw.RiskProfile(
            scenarios=[
                uw.Scenario(
                    id="flood",
                    frequency=uw.NegativeBinomial(rate=0.2, rate_cv=0.5),
                    occurrence=SharedOccurrence(stream="site:flood", rate=0.5),
                    impacts=[
                        uw.SectionImpact(
                            section="property",
                            severity=uw.LogNormalGPD.from_median_p95(
                                50_000, 600_000, threshold=400_000, xi=0.3
                            ),
                        )
                    ],
                )
            ]
        ),
        _terms(property=uw.SectionTerms(deductible=15_000, limit=2e6)),
    ),
    "hit probability below one": Case(
        uw.RiskProfile(
            scenarios=[
                uw.Scenario(
                    id="spill",
                    frequency=uw.Poisson(rate=1.2),
                    impacts=[
                        uw.SectionImpact(
                            section="pollution",
                            severity=uw.Pareto(alpha=1.8, scale=8_000.0),
                            probability=0.35,
                        ),
                        uw.SectionImpact(
                            section="employee_injury", severity=PROPERTY, probability=0.6
                        ),
                    ],
                )
            ]
        ),
        _terms(
            pollution=uw.SectionTerms(deductible=5_000, limit=250_000),
            employee_injury=uw.SectionTerms(limit=100_000),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_exact_means_agree_with_brute_force(name: str) -> None:
    case = CASES[name]
    exact = control_means(case.profile, case.terms)[:2]
    estimate, error = _brute_force(case, seed=sorted(CASES).index(name) + 11)
    for moment in range(2):
        assert exact[moment] > 0
        # Within 4 standard errors of 4,000,000 events per scenario (relative s.e. 0.03%-0.6%).
        assert abs(exact[moment] - estimate[moment]) < 4 * error[moment], (
            name,
            moment + 1,
            exact[moment],
            estimate[moment],
            error[moment],
        )


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_quadrature_has_converged(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    exact = control_means(case.profile, case.terms)
    monkeypatch.setattr(_control, "_PANEL_WIDTH", 0.2)
    nodes, weights = np.polynomial.legendre.leggauss(40)
    monkeypatch.setattr(_control, "_NODES", nodes)
    monkeypatch.setattr(_control, "_WEIGHTS", weights)
    monkeypatch.setattr(_control, "_SCORE_PANEL_WIDTH", 0.2)
    monkeypatch.setattr(_control, "_SERIES_CUT", 1e-15)
    clear_memos()  # else the memo gives the integrals of the coarser quadrature back
    finer = control_means(case.profile, case.terms)
    clear_memos()
    assert finer == pytest.approx(exact, rel=1e-10)


def test_the_mean_is_the_simulated_insured_mean_when_each_event_hits_one_section() -> None:
    # Without annual terms, a year's insured loss is c1 itself when every event hits one
    # section: the simulation's mean estimates E[c1], the engine's counts included.
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="fire",
                frequency=uw.NegativeBinomial(rate=0.7, rate_cv=0.8),
                impacts=[uw.SectionImpact(section="property", severity=PROPERTY)],
            ),
            uw.Scenario(
                id="flood",
                frequency=uw.Poisson(rate=0.1),
                occurrence=SharedOccurrence(stream="site:flood", rate=0.4),
                impacts=[uw.SectionImpact(section="spoilage", severity=PROPERTY, probability=0.5)],
            ),
        ],
        value_at_risk={"property": 800_000.0},
    )
    terms = uw.PolicyTerms(
        sections={
            "property": uw.SectionTerms(deductible=10_000),
            "spoilage": uw.SectionTerms(deductible=5_000, limit=200_000),
        },
        share=0.5,
    )
    result = uw.simulate(profile, terms, n_years=400_000, seed=5, engine="numpy")
    first, *_ = control_means(profile, terms)
    assert abs(result.mean - first) < 4 * result.standard_error("mean")


# --------------------------------------------------------------------------- example labs


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.json")), ids=lambda p: p.stem)
def test_the_example_labs_have_positive_control_means(path: Path) -> None:
    request = uw.QuoteRequest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    profile, _ = rate_with_experience(request.submission, uw.load_rating_tables())
    first, second, events, square = control_means(profile, request.terms)
    assert 0 < first < math.inf
    assert 0 < second < events < square < math.inf  # copulas tie an event's impacts


# --------------------------------------------------------------------------- second moments

INJURY = uw.LogNormal(mu=9.0, sigma=2.0)
PAIR_TERMS = uw.PolicyTerms(
    sections={
        "property": uw.SectionTerms(deductible=25_000, limit=400_000),
        "liability": uw.SectionTerms(deductible=5_000, limit=150_000),
    }
)


def _layer(x: float, deductible: float, limit: float) -> float:
    return min(max(x - deductible, 0.0), limit)


def _pair_reference(rho_property: float, rho_liability: float) -> float:
    """``E[v1 v2]`` of a layered lognormal pair whose normal scores correlate
    ``c = sqrt(rho1 rho2)``, by adaptive quadrature over the property score ``z``: given ``z``,
    the liability loss is lognormal with ``mu + sigma c z`` and ``sigma sqrt(1 - c**2)``, so its
    layer's conditional mean is a difference of limited expected values in closed form (Klugman,
    Panjer and Willmot, Loss Models, A.4); at ``c = 1`` it is the layer at the same score."""
    c = math.sqrt(rho_property * rho_liability)
    spread = math.sqrt(1.0 - c * c)

    def liability_given(z: float) -> float:
        if spread == 0.0:
            return _layer(math.exp(INJURY.mu + INJURY.sigma * z), 5_000, 150_000)
        given = uw.LogNormal(mu=INJURY.mu + INJURY.sigma * c * z, sigma=INJURY.sigma * spread)
        return given.limited_expected_value(155_000) - given.limited_expected_value(5_000)

    def integrand(z: float) -> float:
        paid = _layer(math.exp(PROPERTY.mu + PROPERTY.sigma * z), 25_000, 400_000)
        return paid * liability_given(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    kinks = [(math.log(x) - PROPERTY.mu) / PROPERTY.sigma for x in (25_000, 425_000)]
    if spread == 0.0:
        kinks += [(math.log(x) - INJURY.mu) / INJURY.sigma for x in (5_000, 155_000)]
    kinks.sort()
    top = -float(special.ndtri(2.0**-54))  # the engine's largest normal score
    value, _ = integrate.quad(
        integrand, kinks[0], top, points=kinks[1:], epsabs=0, epsrel=1e-13, limit=500
    )
    return float(value)


@pytest.mark.parametrize(
    ("rho_property", "rho_liability"),
    [(0.81, 0.49), (0.9, 0.8), (1.0, 0.9), (1.0, 1.0), (0.0, 1.0), (0.0, 0.5)],
)
def test_a_copula_pair_matches_adaptive_quadrature(
    rho_property: float, rho_liability: float
) -> None:
    # One event a year, both impacts always hit: E[c3] - E[c2] = 2 E[v1 v2].
    scenario = uw.Scenario(
        id="blast",
        frequency=uw.Fixed(count=1),
        impacts=[
            uw.SectionImpact(
                section="property", severity=PROPERTY, factor_loading_squared=rho_property
            ),
            uw.SectionImpact(
                section="liability", severity=INJURY, factor_loading_squared=rho_liability
            ),
        ],
    )
    _, second, events, square = control_means(uw.RiskProfile(scenarios=[scenario]), PAIR_TERMS)
    assert (events - second) / 2 == pytest.approx(
        _pair_reference(rho_property, rho_liability), rel=1e-7
    )
    assert square == pytest.approx(events, rel=1e-12)  # a fixed count: c1**2 is c3


def _engine_controls(
    profile: uw.RiskProfile, terms: uw.PolicyTerms, n_years: int, seed: int
) -> np.ndarray:
    """The NumPy engine's own per-year ``c1, c2, c3, c4``, shape ``(4, n_years)``: each event's
    control ``V_e`` (its impacts' and triggered children's ``v``) summed, squared and summed,
    and ``c1**2``, over blocks of 250,000 years."""
    keys = stream_keys(profile, seed)
    years = []
    for first in range(0, n_years, 250_000):
        size = min(250_000, n_years - first)
        events = simulate_block_events(profile, keys, first, size, terms)
        per_event = events.control[:, 0]
        c1 = np.bincount(events.year, per_event, size)
        c2 = np.bincount(events.year, events.control[:, 1], size)
        c3 = np.bincount(events.year, per_event**2, size)
        years.append(np.stack([c1, c2, c3, c1**2]))
    return np.concatenate(years, axis=1)


def _lab(name: str) -> Case:
    """An example lab rated as a 2026.4 quote rates it, with the quote's main terms."""
    request = uw.QuoteRequest.model_validate_json(
        (ROOT / "examples" / f"{name}.json").read_text(encoding="utf-8")
    )
    profile, _ = rate_with_experience(request.submission, uw.load_rating_tables("2026.4"))
    return Case(profile, request.terms)


GAS = uw.SectionImpact(
    section="liability",
    severity=uw.Gamma(shape=1.5, scale=60_000.0),
    probability=0.6,
    factor_loading_squared=0.49,
)
SECOND_MOMENT_CASES = {
    "copula": Case(
        uw.RiskProfile(
            scenarios=[
                uw.Scenario(
                    id="explosion",
                    frequency=uw.Poisson(rate=0.8),
                    impacts=[
                        uw.SectionImpact(
                            section="property", severity=PROPERTY, factor_loading_squared=0.81
                        ),
                        GAS,
                        uw.SectionImpact(
                            section="employee_injury",
                            severity=INJURY,
                            probability=0.4,
                            factor_loading_squared=1.0,
                        ),
                        uw.SectionImpact(
                            section="pollution",
                            severity=uw.Pareto(alpha=2.5, scale=20_000.0),
                            probability=0.5,
                            factor_loading_squared=0.0,
                        ),
                    ],
                )
            ]
        ),
        _terms(
            property=uw.SectionTerms(deductible=30_000, franchise=True, limit=500_000),
            liability=uw.SectionTerms(deductible=5_000, limit=200_000),
            employee_injury=uw.SectionTerms(limit=300_000),
            pollution=uw.SectionTerms(deductible=10_000, limit=150_000),
        ),
    ),
    "cascades": Case(
        uw.RiskProfile(
            scenarios=[
                *CASES["cascade"].profile.scenarios,
                uw.Scenario(
                    id="leak", frequency=uw.Poisson(rate=0.05), impacts=[GAS], stream="leaks"
                ),
            ],
            cascades=[
                Cascade(parent="fire", child="smoke", probability=0.6),
                Cascade(parent="fire", child="leak", probability=0.5),
            ],
        ),
        uw.PolicyTerms(
            sections={
                **CASES["cascade"].terms.sections,
                "liability": uw.SectionTerms(deductible=5_000, limit=200_000),
            }
        ),
    ),
    "negative binomial": Case(
        uw.RiskProfile(
            scenarios=[
                uw.Scenario(
                    id="breakdown",
                    frequency=uw.NegativeBinomial(rate=1.5, rate_cv=1.2),
                    impacts=[
                        uw.SectionImpact(
                            section="equipment_breakdown",
                            severity=uw.Gamma(shape=2.0, scale=20_000.0),
                            factor_loading_squared=0.64,
                        ),
                        uw.SectionImpact(
                            section="research_interruption",
                            basis="downtime_days",
                            value=1_500.0,
                            severity=DOWNTIME_DAYS,
                            probability=0.7,
                            factor_loading_squared=0.36,
                        ),
                    ],
                )
            ]
        ),
        _terms(
            equipment_breakdown=uw.SectionTerms(deductible=5_000, limit=100_000),
            research_interruption=uw.SectionTerms(waiting_period_days=7, limit=150_000),
        ),
    ),
}
SECOND_MOMENT_YEARS = {"copula": 2_000_000, "cascades": 2_000_000, "negative binomial": 1_000_000}
LABS = ("physics_low_hazard", "chemistry_high_hazard", "bsl3_biobank")


@pytest.mark.parametrize("name", [*SECOND_MOMENT_CASES, *LABS])
def test_the_second_moments_agree_with_the_engine(name: str) -> None:
    case = SECOND_MOMENT_CASES[name] if name in SECOND_MOMENT_CASES else _lab(name)
    n_years = SECOND_MOMENT_YEARS.get(name, 4_000_000)
    exact = np.array(control_means(case.profile, case.terms))
    simulated = _engine_controls(case.profile, case.terms, n_years, seed=2026)
    # c3 - c2 (the products of two impacts of one event) and c4 - c3 (of two events of one
    # year) vary far less than c3 and c4: they tell a dropped cross term apart.
    statistics = {
        "c3": (simulated[2], exact[2]),
        "c4": (simulated[3], exact[3]),
        "c3 - c2": (simulated[2] - simulated[1], exact[2] - exact[1]),
        "c4 - c3": (simulated[3] - simulated[2], exact[3] - exact[2]),
    }
    for statistic, (sample, mean) in statistics.items():
        error = sample.std() / math.sqrt(n_years)
        # Within 4 standard errors (relative s.e. in the report of this test's figures).
        assert abs(sample.mean() - mean) < 4 * error, (name, statistic, mean, sample.mean(), error)


def test_the_engine_controls_are_the_simulated_controls() -> None:
    case = SECOND_MOMENT_CASES["cascades"]
    result = uw.simulate_many(
        case.profile,
        [case.terms],
        n_years=20_000,
        seed=4,
        controls=True,
        engine="numpy",
        year_loss_tables=False,
    )[0]
    assert result.controls is not None
    simulated = _engine_controls(case.profile, case.terms, 20_000, seed=4)
    np.testing.assert_allclose(result.controls[:2], simulated[:2], rtol=1e-12)


def test_scenarios_sharing_an_occurrence_keep_c3_but_not_c4() -> None:
    shared = SharedOccurrence(stream="site:flood", rate=0.6)
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id=name,
                frequency=uw.Poisson(rate=rate),
                occurrence=shared,
                impacts=[
                    uw.SectionImpact(section=section, severity=PROPERTY),
                    uw.SectionImpact(section="spoilage", severity=INJURY, probability=0.5),
                ],
            )
            for name, rate, section in (("flood", 0.6, "property"), ("sewer", 0.3, "liability"))
        ]
    )
    terms = _terms(
        property=uw.SectionTerms(deductible=10_000, limit=1e6),
        liability=uw.SectionTerms(limit=500_000),
        spoilage=uw.SectionTerms(deductible=2_000, limit=300_000),
    )
    exact = control_means(profile, terms)
    assert len(exact) == 3  # the two counts are the same draws: c1's variance is not known
    simulated = _engine_controls(profile, terms, 2_000_000, seed=8)
    for moment in range(3):
        sample = simulated[moment]
        error = sample.std() / math.sqrt(sample.size)
        assert abs(sample.mean() - exact[moment]) < 4 * error, (moment, exact, sample.mean())


# --------------------------------------------------------------------------- events' powers


@pytest.mark.parametrize("name", [*SECOND_MOMENT_CASES, *LABS])
def test_the_event_powers_give_the_means_of_c1_and_c3_by_their_own_route(name: str) -> None:
    """The powers' route (each impact's moments given the event's factor, integrated over it)
    gives ``E[c1]`` and ``E[c3]`` as the closed forms and Mehler's series do, to 1e-12: the same
    quadrature then gives the third and fourth powers."""
    case = SECOND_MOMENT_CASES[name] if name in SECOND_MOMENT_CASES else _lab(name)
    exact = control_means(case.profile, case.terms)
    sums = _control._event_power_sums(case.profile, case.terms, [case.profile], 4)[0]
    assert sums[1] == pytest.approx(exact[0], rel=1e-12)
    assert sums[2] == pytest.approx(exact[2], rel=1e-12)


@pytest.mark.parametrize("name", [*SECOND_MOMENT_CASES, *LABS])
def test_the_cube_alone_is_the_cube_of_the_full_route_to_the_last_bit(name: str) -> None:
    """A quote asks for the cube alone (``highest=3``, a little less work): its mean must be the
    one the route to the fourth power gives, bit for bit, so that the choice never moves a
    premium; a power the route does not work out is refused."""
    case = SECOND_MOMENT_CASES[name] if name in SECOND_MOMENT_CASES else _lab(name)
    both = uw.engine.event_power_means(case.profile, case.terms, [case.profile])[0]
    alone = uw.engine.event_power_means(case.profile, case.terms, [case.profile], highest=3)[0]
    assert alone == both[:1]
    with pytest.raises(ValueError, match="highest must be 3 or 4, got 5"):
        uw.engine.event_power_means(case.profile, case.terms, [case.profile], highest=5)


@pytest.mark.parametrize("name", [*SECOND_MOMENT_CASES, *LABS])
def test_the_event_powers_agree_with_the_engine(name: str) -> None:
    """``event_power_means`` against the engine's rows 3 and 4 (``controls=5``) over a million
    years, within 4 standard errors of the simulated means."""
    case = SECOND_MOMENT_CASES[name] if name in SECOND_MOMENT_CASES else _lab(name)
    cubes, fourths = uw.engine.event_power_means(case.profile, case.terms, [case.profile])[0]
    result = uw.simulate_many(
        case.profile, [case.terms], n_years=1_000_000, seed=2027, detail="annual", controls=5
    )[0]
    assert result.controls is not None
    assert result.controls.shape == (5, 1_000_000)
    for row, mean in ((3, cubes), (4, fourths)):
        sample = result.controls[row]
        error = sample.std() / math.sqrt(sample.size)
        assert abs(sample.mean() - mean) < 4 * error, (name, row, mean, sample.mean(), error)


def test_both_engines_keep_the_same_event_powers() -> None:
    """Rows 3 and 4 of the compiled engine and of the NumPy engine, year by year; the first
    three rows are those of a run that keeps three."""
    case = _lab("chemistry_high_hazard")  # closed-form quantiles: the compiled engine runs it
    runs = {
        (engine, rows): uw.simulate_many(
            case.profile,
            [case.terms],
            n_years=20_000,
            seed=5,
            detail="annual",
            controls=rows,
            engine=engine,
        )[0].controls
        for engine in ("compiled", "numpy")
        for rows in (True, 4, 5)
    }
    compiled, numpy_engine = runs["compiled", 5], runs["numpy", 5]
    assert compiled is not None
    assert numpy_engine is not None
    np.testing.assert_allclose(compiled, numpy_engine, rtol=1e-9)
    for engine in ("compiled", "numpy"):
        three, four, five = (runs[engine, rows] for rows in (True, 4, 5))
        assert three is not None
        assert four is not None
        assert five is not None
        np.testing.assert_array_equal(five[:3], three)
        np.testing.assert_array_equal(five[:4], four)


def test_a_run_refuses_rows_of_controls_it_does_not_keep() -> None:
    case = SECOND_MOMENT_CASES["cascades"]
    with pytest.raises(ValueError, match="controls must be False, True or 0, 3, 4, 5 rows"):
        uw.simulate_many(case.profile, [case.terms], n_years=100, seed=1, controls=2)


@pytest.mark.parametrize("rho", [0.5, 0.9, 0.98, 0.99, 0.999, 0.9999, 1.0])
def test_one_impact_s_powers_do_not_depend_on_its_loading(rho: float) -> None:
    """One impact's ``E[v**k]`` cannot depend on its loading on the event's factor: the powers'
    quadrature gives ``rho = 0``'s (the closed-form marginal, no factor) for loadings up to 1,
    where the impact's part given the factor becomes too narrow for fixed panels."""
    terms = _terms(property=uw.SectionTerms(deductible=20_000, limit=1_500_000))
    record = term_records([terms])[0][0][SECTION_INDEX[Section.PROPERTY]]

    def powers(loading: float) -> np.ndarray:
        impact = uw.SectionImpact(
            section="property",
            severity=uw.LogNormal(mu=11.0, sigma=1.6),
            factor_loading_squared=loading,
        )
        section = terms.sections[Section.PROPERTY]
        mean, _ = _control._moments(impact, math.inf, record, section, 1.0)
        covered = _control._covered_impact(impact, math.inf, record, section, 1.0, mean)
        return _control._event_powers([covered], 4)

    np.testing.assert_allclose(powers(rho)[1:], powers(0.0)[1:], rtol=5e-9)
