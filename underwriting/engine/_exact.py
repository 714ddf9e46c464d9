"""The annual insured loss distribution computed exactly, by FFT, where the model allows it.

Where it applies: scenarios that are independent (no cascade, no shared occurrence), each hitting
one section (an event's impacts on several sections are drawn together, through a copula, so their
sum has no closed form), in currency (``amount`` or ``damage_ratio``, not research-interruption
downtime), under per-occurrence terms (a deductible, straight or franchise, or a percentage with
its minimum and maximum; a limit) and the annual aggregate deductible, aggregate limit and share
of the policy; not a section's own annual aggregate limit or a limit as a percentage of the loss.

How: each scenario's insured loss per occurrence ``Y`` (the severity through its basis, cap, the
profile's value at risk, the hit probability and the section's terms) is put on a grid of
``n_buckets`` amounts ``0, h, 2h, ...`` by rounding (the mass of ``Y`` in ``((k - 1/2) h,
(k + 1/2) h]`` goes to ``k h``); the year's total ``S`` has the transform ``prod_j P_j(phi_j)``,
``P_j`` the probability generating function of scenario ``j``'s annual count (Poisson, negative
binomial or fixed) and ``phi_j`` the discrete Fourier transform of ``Y_j``'s grid; the inverse
transform gives ``S``'s probabilities. The grids are exponentially tilted (Grübel and Hermesmeier,
1999, "Computation of compound distributions I: aliasing errors and exponential tilting", ASTIN
Bulletin 29(2)) so that the mass of ``S`` beyond the grid does not wrap around onto small
amounts. The annual terms then map each ``k h`` to ``share * min(max(k h - aggregate_deductible,
0), aggregate_limit)``.

The error stated: the bucket ``h`` (each occurrence moved by at most ``h / 2``) and the truncation
mass, ``P(S`` beyond the grid``)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import fft

from underwriting.errors import ExactMethodError
from underwriting.model import Fixed, NegativeBinomial, Poisson
from underwriting.rating import RiskProfile, Scenario
from underwriting.results import ExactDistribution
from underwriting.terms import PolicyTerms, SectionTerms

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]

DEFAULT_BUCKETS = 2**16
"""Grid points by default: the FFTs take milliseconds and a bucket is 1/65,536 of the range."""

_TILT = 10.0
"""``theta * n_buckets`` of the exponential tilt: mass beyond the grid comes back damped by
``exp(-10)``; the inverse tilt multiplies rounding errors by at most ``exp(10)``."""

_SPREAD = 20.0
"""The grid reaches this many standard deviations of the year's total above its mean."""

_TAIL_Q = 1e-12
"""An occurrence loss with nothing capping it is followed to its ``1 - 1e-12`` quantile."""


def _problems(profile: RiskProfile, terms: PolicyTerms) -> list[str]:
    found = []
    for cascade in profile.cascades:
        found.append(
            f"cascade {cascade.parent} -> {cascade.child}: a cascade ties two scenarios' events"
        )
    for scenario in profile.scenarios:
        if scenario.occurrence is not None:
            found.append(
                f"scenario {scenario.id!r}: its events are shared with other labs "
                f"({scenario.occurrence.stream})"
            )
        if len(scenario.impacts) != 1:
            sections = ", ".join(impact.section.value for impact in scenario.impacts)
            found.append(
                f"scenario {scenario.id!r} hits {len(scenario.impacts)} sections ({sections}) "
                "drawn together through a copula: allowed, one section a scenario"
            )
            continue
        impact = scenario.impacts[0]
        if impact.basis == "downtime_days":
            found.append(
                f"scenario {scenario.id!r}: research-interruption downtime (basis "
                "'downtime_days', with waiting and indemnity periods); allowed: amount, "
                "damage_ratio"
            )
    for section, section_terms in terms.sections.items():
        where = f"terms.sections.{section.value}"
        if section_terms.aggregate_limit is not None:
            found.append(
                f"{where}.aggregate_limit = {section_terms.aggregate_limit:,.0f}: a section's "
                "annual limit; allowed: the policy's aggregate_limit"
            )
        if section_terms.limit_percent_of_loss is not None:
            found.append(f"{where}.limit_percent_of_loss: allowed: a limit as an amount")
        share = section_terms.deductible_percent_of_loss
        if share is not None and (section_terms.franchise or share >= 1):
            found.append(
                f"{where}: a percentage deductible "
                + ("as a franchise" if section_terms.franchise else f"of {share:.0%}")
                + "; allowed: a straight percentage below 100%"
            )
    return found


def _threshold(section_terms: SectionTerms) -> Callable[[FloatArray], FloatArray]:
    """``g(y)``: an occurrence pays more than ``y`` (below the limit) iff its ground-up loss
    exceeds ``g(y)``. The terms pay a non-decreasing function of the ground-up loss."""
    share = section_terms.deductible_percent_of_loss
    if share is None:
        deductible = section_terms.deductible
        if section_terms.franchise:
            return lambda y: np.maximum(y, deductible)
        return lambda y: y + deductible
    low = section_terms.deductible_minimum
    high = (
        math.inf if section_terms.deductible_maximum is None else section_terms.deductible_maximum
    )

    def inverse(y: FloatArray) -> FloatArray:
        # Paid: g - low while share * g < low; g (1 - share) between; g - high above.
        if share == 0:
            return y + low
        first = low * (1 - share) / share
        second = high * (1 - share) / share
        return np.where(y < first, y + low, np.where(y < second, y / (1 - share), y + high))

    return inverse


def _occurrence_survival(
    scenario: Scenario, profile: RiskProfile, section_terms: SectionTerms
) -> tuple[Callable[[FloatArray], FloatArray], float]:
    """``P(Y > y)`` for one occurrence's insured loss ``Y``, and the largest ``Y`` to follow."""
    impact = scenario.impacts[0]
    severity, scale = impact.severity, impact.severity_scale
    cap = math.inf
    if impact.basis == "damage_ratio" and impact.value is not None:  # it always has one
        per_unit = impact.value * scale
        cap = impact.value
    else:
        per_unit = scale
        if impact.value is not None:
            cap = impact.value
    cap = min(cap, profile.value_at_risk.get(impact.section, math.inf))
    threshold = _threshold(section_terms)
    limit = math.inf if section_terms.limit is None else section_terms.limit

    def ground_up_survival(g: FloatArray) -> FloatArray:
        inside = severity.sf(np.asarray(g, dtype=np.float64) / per_unit)
        return np.where(g >= cap, 0.0, inside) * impact.probability

    def survival(y: FloatArray) -> FloatArray:
        y = np.asarray(y, dtype=np.float64)
        paid = ground_up_survival(threshold(np.maximum(y, 0.0)))
        return np.where(y >= limit, 0.0, np.where(y < 0, 1.0, paid))

    top = min(limit, cap)
    if not math.isfinite(top):
        top = float(severity.isf(np.array([_TAIL_Q]))[0]) * per_unit
    return survival, top


def _moments(survival: Callable[[FloatArray], FloatArray], top: float) -> tuple[float, float]:
    """``E[Y]`` and ``E[Y**2]`` from the survival function (``int S``, ``int 2 y S``)."""
    grid = np.concatenate([[0.0], np.geomspace(max(top, 1.0) * 1e-9, top, 20_000)])
    values = survival(grid)
    first = float(np.trapezoid(values, grid))
    second = float(np.trapezoid(2 * grid * values, grid))
    return first, second


def _pgf(scenario: Scenario, z: ComplexArray) -> ComplexArray:
    frequency = scenario.frequency
    if isinstance(frequency, Poisson):
        return np.asarray(np.exp(frequency.rate * (z - 1.0)), dtype=np.complex128)
    if isinstance(frequency, NegativeBinomial):
        n = 1.0 / frequency.rate_cv**2
        p = n / (n + frequency.rate)
        return np.asarray(
            np.exp(n * (np.log(p) - np.log(1.0 - (1.0 - p) * z))), dtype=np.complex128
        )
    if isinstance(frequency, Fixed):
        return np.asarray(z**frequency.count, dtype=np.complex128)
    raise ExactMethodError(  # pragma: no cover - the frequencies are a closed union
        f"scenario {scenario.id!r}: frequency {type(frequency).__name__} has no generating function"
    )


def exact(
    profile: RiskProfile,
    terms: PolicyTerms,
    *,
    n_buckets: int = DEFAULT_BUCKETS,
    bucket: float | None = None,
) -> ExactDistribution:
    """The annual insured loss distribution by FFT, with its discretisation error stated.

    Parameters
    ----------
    profile, terms
        As for :func:`simulate`; see the module's description for what the method allows.
    n_buckets
        Grid points (a power of two is fastest).
    bucket
        The grid step (currency); by default the grid reaches the aggregate deductible plus the
        aggregate limit, every occurrence's largest loss, and 20 standard deviations of the
        year's total above its mean, whichever is furthest.

    Raises
    ------
    ExactMethodError
        Naming each scenario or term the method does not allow.

    Example
    -------
    >>> from underwriting.model import LogNormal, Poisson
    >>> from underwriting.rating import RiskProfile, Scenario
    >>> from underwriting.terms import PolicyTerms, SectionTerms
    >>> profile = RiskProfile(scenarios=[Scenario(id="ref", frequency=Poisson(rate=2.0),
    ...                       severity=LogNormal(mu=10.0, sigma=1.5), section="property")])
    >>> terms = PolicyTerms(sections={"property": SectionTerms(deductible=10_000,
    ...                     limit=500_000)}, aggregate_limit=1_000_000)
    >>> distribution = exact(profile, terms)
    >>> round(distribution.mean, -2), distribution.bucket < 100, distribution.truncation_mass
    (99700.0, True, 0.0)
    """
    if isinstance(n_buckets, bool) or not isinstance(n_buckets, int) or n_buckets < 16:
        raise ValueError(f"n_buckets must be an integer of at least 16, got {n_buckets!r}")
    if bucket is not None and not (math.isfinite(bucket) and bucket > 0):
        raise ValueError(f"bucket must be a positive amount, got {bucket!r}")
    problems = _problems(profile, terms)
    if problems:
        raise ExactMethodError(
            "the exact method does not apply: " + "; ".join(problems) + ". Simulate instead"
        )
    parts = []
    mean = variance = 0.0
    reach = 0.0
    for scenario in profile.scenarios:
        section_terms = terms.sections.get(scenario.impacts[0].section)
        if section_terms is None or scenario.frequency.mean == 0:
            continue  # not covered, or never happens: pays nothing
        survival, top = _occurrence_survival(scenario, profile, section_terms)
        first, second = _moments(survival, top)
        count_mean, count_variance = scenario.frequency.mean, scenario.frequency.variance
        mean += count_mean * first
        variance += count_mean * (second - first**2) + count_variance * first**2
        reach = max(reach, top)
        parts.append((scenario, survival))
    if terms.aggregate_limit is not None:
        reach = max(reach, terms.aggregate_deductible + terms.aggregate_limit)
    reach = max(reach, mean + _SPREAD * math.sqrt(variance), 1.0)
    h = bucket if bucket is not None else reach * 1.05 / n_buckets
    theta = _TILT / n_buckets
    nodes = np.arange(n_buckets, dtype=np.float64)
    tilt = np.exp(-theta * nodes)
    edges = (nodes + 0.5) * h
    transform = np.ones(n_buckets, dtype=np.complex128)
    occurrence_cdf = np.ones(n_buckets)
    no_occurrence_paid = 1.0  # P(no occurrence pays anything), exactly: not from the grid
    for scenario, survival in parts:
        paid = complex(1.0 - float(survival(np.zeros(1))[0]))
        no_occurrence_paid *= float(np.real(_pgf(scenario, np.array([paid]))[0]))
        above = survival(edges)
        masses = np.concatenate([[1.0 - above[0]], above[:-1] - above[1:]])
        phi = fft.fft(masses * tilt)
        transform *= _pgf(scenario, phi)
        occurrence_cdf *= np.real(_pgf(scenario, (1.0 - above).astype(np.complex128)))
    total = np.real(fft.ifft(transform)) / tilt
    probabilities = np.clip(total, 0.0, None)
    truncation = max(1.0 - float(probabilities.sum()), 0.0)
    limit = math.inf if terms.aggregate_limit is None else terms.aggregate_limit
    amounts = terms.share * np.minimum(
        np.maximum(nodes * h - terms.aggregate_deductible, 0.0), limit
    )
    placed = math.isfinite(limit) and n_buckets * h > terms.aggregate_deductible + limit
    if placed:
        probabilities[-1] += truncation
    # Without an aggregate deductible a year pays when an occurrence does; the grid would count
    # an occurrence paying under half a bucket as paying nothing.
    no_claim = no_occurrence_paid if terms.aggregate_deductible == 0 else None
    return ExactDistribution(
        amounts=amounts,
        probabilities=probabilities,
        occurrence_amounts=terms.share * nodes * h,
        occurrence_cdf=np.maximum.accumulate(np.clip(occurrence_cdf, 0.0, 1.0)),
        bucket=h,
        n_buckets=n_buckets,
        truncation_mass=truncation,
        truncation_placed=placed,
        share=terms.share,
        no_claim_probability=no_claim,
    )
