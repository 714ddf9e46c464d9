"""Exact means of the per-year occurrence controls, for control variates on the premium.

For the quote's terms ``T`` (share ``sigma``), every impact of every simulated event that is hit,
its own scenario's or a triggered cascade child's, contributes ``v = sigma * phi``, where ``phi``
is what the per-occurrence terms (steps 1-3 of :mod:`underwriting.terms`) pay on that impact
alone: its ground-up loss ``x`` (``SectionImpact.capped``, then the section's value at risk) in
the section's terms, or for a ``downtime_days`` impact its days at the daily cost. A year's
controls are ``c1 = sum v`` and ``c2 = sum v**2``. They follow the simulated premium closely but,
unlike it, their expectations are known:

``E[c] = sum_s m_s (sum_i p_i E[v_i**k] + sum_{cascades c of s} pi_c sum_j p_j E[v_j**k])``

for ``k = 1, 2``, ``m_s`` the mean of the engine's count of scenario ``s`` (its survival table,
which stops below 2**-54, summed; a shared occurrence's at the shared rate times the chance of
taking part), ``p`` the hit probabilities and ``pi`` the cascades'. Each ``E[v**k]`` is an
integral over the survival probability ``q`` of the severity, ``x = x(scale * isf(q))``, taken by
Gauss-Legendre quadrature on pieces between the ``q`` where ``phi`` has a kink or a jump
(deductibles, limits, caps, periods), in ``log q`` below ``q = 1/2`` and in ``log(1 - q)`` above
it, so that both tails are smooth in the variable integrated. The copula that ties an event's
impacts does not enter: each marginal is exactly the severity's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from underwriting.model import SECTION_INDEX, LogNormalGPD, Section
from underwriting.rating import RiskProfile, Scenario, SectionImpact
from underwriting.terms import PolicyTerms, term_records

FloatArray = npt.NDArray[np.float64]

_SMALLEST_SURVIVAL = 2.0**-54
"""Where the integrals stop in ``q`` (and ``1 - q``): below every uniform the engine draws."""
_PANEL_WIDTH = 0.5
"""Widest Gauss-Legendre panel, in ``log q`` or ``log(1 - q)``."""
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(20)


def occurrence_paid(
    loss: FloatArray, downtime: FloatArray | float, daily_cost: float, terms: Any
) -> FloatArray:
    """Steps 1-3 over an array of one section's losses (a ``SECTION_TERMS`` record ``terms``):
    :func:`underwriting.terms.occurrence_terms` elementwise, the same operations in the same
    order, so the same values bit for bit. Shape as ``loss`` (currency)."""
    if terms["time_terms"]:
        paid_days = np.maximum(
            np.minimum(downtime, terms["indemnity_days"]) - terms["waiting_days"], 0.0
        )
        loss = np.minimum(paid_days * daily_cost, loss)
    deductible: FloatArray | float
    if terms["deductible_is_share"]:
        deductible = np.minimum(
            np.maximum(terms["deductible_share"] * loss, terms["deductible_minimum"]),
            terms["deductible_maximum"],
        )
    else:
        deductible = float(terms["deductible"])
    if terms["franchise"]:
        amount = np.where(loss > deductible, loss, 0.0)
    else:
        amount = np.maximum(loss - deductible, 0.0)
    amount = np.minimum(amount, terms["limit"])
    if terms["limit_is_share"]:
        amount = np.minimum(amount, terms["limit_share"] * loss)
    return np.asarray(amount, dtype=np.float64)


def _loss_kinks(terms: Any) -> list[float]:
    """Losses where steps 2-3 of a section's terms have a kink or a jump (some may be none)."""
    deductible, limit = float(terms["deductible"]), float(terms["limit"])
    kinks = [deductible, limit, deductible + limit]
    floors = [deductible]
    if terms["deductible_is_share"]:
        share = float(terms["deductible_share"])
        low, high = float(terms["deductible_minimum"]), float(terms["deductible_maximum"])
        floors = [low, high]
        kinks += [low, high, low + limit, high + limit]
        if share > 0:
            kinks += [low / share, high / share]
        if share < 1:
            kinks.append(limit / (1.0 - share))
    if terms["limit_is_share"]:
        limit_share = float(terms["limit_share"])
        if limit_share > 0:
            kinks.append(limit / limit_share)
        if limit_share < 1:
            kinks += [floor / (1.0 - limit_share) for floor in floors]
    return kinks


def _impact_terms(
    impact: SectionImpact, cap: float, terms: Any
) -> tuple[Callable[[FloatArray], FloatArray], list[float]]:
    """``phi`` of an impact as a function of its scaled severity, and that severity's kinks."""
    kinks = _loss_kinks(terms)
    if impact.basis == "downtime_days":
        daily = float(impact.value or 0.0)

        def phi(amount: FloatArray) -> FloatArray:
            days = impact.capped(amount)
            return occurrence_paid(np.minimum(days * daily, cap), days, daily, terms)

        found = [impact.max_days or math.inf]
        if daily > 0:
            wait = float(terms["waiting_days"])
            found += [cap / daily, cap / daily + wait, float(terms["indemnity_days"]), wait]
            found += [k / daily for k in kinks] + [k / daily + wait for k in kinks]
        return phi, found

    def phi_loss(amount: FloatArray) -> FloatArray:
        return occurrence_paid(np.minimum(impact.capped(amount), cap), 0.0, 0.0, terms)

    if impact.basis == "damage_ratio":
        value = float(impact.value or 0.0)
        found = [1.0]
        if value > 0:
            found += [cap / value] + [k / value for k in kinks]
        return phi_loss, found
    return phi_loss, [impact.value or math.inf, cap, *kinks]


def _pieces(low: float, high: float, upper: bool) -> tuple[FloatArray, FloatArray]:
    """Nodes ``q`` and weights ``dq`` of composite Gauss-Legendre on ``[low, high]`` in ``q``,
    integrating in ``log q`` (``upper`` False) or ``log(1 - q)`` (``upper`` True, stopping at
    ``1 - q = 2**-54``)."""
    if upper:
        start, stop = math.log(max(1.0 - high, _SMALLEST_SURVIVAL)), math.log1p(-low)
    else:
        start, stop = math.log(low), math.log(high)
    panels = max(1, math.ceil((stop - start) / _PANEL_WIDTH))
    edges = np.linspace(start, stop, panels + 1)
    half = np.diff(edges)[:, None] / 2
    t = ((edges[:-1, None] + edges[1:, None]) / 2 + half * _NODES).ravel()
    weight = (half * _WEIGHTS).ravel()
    if upper:
        r = np.exp(t)
        return 1.0 - r, weight * r
    q = np.exp(t)
    return q, weight * q


def _moments(impact: SectionImpact, cap: float, terms: Any, share: float) -> tuple[float, float]:
    """``p E[v]`` and ``p E[v**2]`` of one impact, ``v = share * phi``, ``p`` its hit chance."""
    phi, amounts = _impact_terms(impact, cap, terms)
    scale = impact.severity_scale
    severity = impact.severity
    positive = np.array([a for a in amounts if 0 < a < math.inf], dtype=np.float64)
    breaks = [float(b) for b in severity.sf(positive / scale)]
    if isinstance(severity, LogNormalGPD):
        breaks.append(severity.tail_probability)
    inner = sorted({b for b in breaks if _SMALLEST_SURVIVAL < b < 1.0} | {0.5})
    edges = [_SMALLEST_SURVIVAL, *inner, 1.0]
    first = second = 0.0
    for low, high in itertools.pairwise(edges):
        q, dq = _pieces(low, high, upper=low >= 0.5)
        v = share * phi(severity.isf(q) * scale)
        first += float(np.dot(v, dq))
        second += float(np.dot(v * v, dq))
    return impact.probability * first, impact.probability * second


def _mean_count(scenario: Scenario) -> float:
    """The mean of the count the NumPy engine draws for the scenario (``simulate_block_events``):
    the truncated table summed; for a shared occurrence, at the shared rate, times the chance of
    taking part in a shared event (not drawn when it is 1 or more)."""
    shared = scenario.occurrence
    if shared is None:
        return float(scenario.frequency.survival_table.sum())
    taken = min(scenario.frequency.mean / shared.rate, 1.0)
    return float(scenario.frequency.with_rate(shared.rate).survival_table.sum()) * taken


def control_means(profile: RiskProfile, terms: PolicyTerms) -> tuple[float, float]:
    """Exact expectations of a simulated year's controls ``c1 = sum v`` and ``c2 = sum v**2``.

    ``v = terms.share * phi`` over every hit impact of every event (cascade children included),
    ``phi`` the per-occurrence terms (steps 1-3) on that impact's loss alone, capped at the
    section's value at risk (module docstring). Deterministic quadrature, to about 1e-9
    relative; a heavy tail with no limit or cap gives the moment of the engine's own draws,
    whose survival probabilities stop at 2**-54.

    Parameters
    ----------
    profile
        The scenarios simulated.
    terms
        The quote's main terms.

    Returns
    -------
    E[c1], E[c2]
        Currency per year, and currency squared per year.

    Example
    -------
    >>> from underwriting.model import LogNormal, Poisson
    >>> from underwriting.terms import SectionTerms
    >>> profile = RiskProfile(scenarios=[Scenario(id="fire", frequency=Poisson(rate=0.3),
    ...     severity=LogNormal(mu=10.0, sigma=1.5), section="property")])
    >>> terms = PolicyTerms(sections={"property": SectionTerms(deductible=10_000)})
    >>> mean, _ = control_means(profile, terms)
    >>> round(mean)
    17817
    """
    records = term_records([terms])[0][0]
    moments: dict[str, tuple[float, float]] = {}

    def scenario_moments(scenario: Scenario) -> tuple[float, float]:
        if scenario.id not in moments:
            first = second = 0.0
            for impact in scenario.impacts:
                record = records[SECTION_INDEX[impact.section]]
                if not record["covered"] or (
                    impact.section is Section.RESEARCH_INTERRUPTION
                    and impact.basis != "downtime_days"
                ):
                    continue
                cap = profile.value_at_risk.get(impact.section, math.inf)
                m1, m2 = _moments(impact, cap, record, terms.share)
                first, second = first + m1, second + m2
            moments[scenario.id] = (first, second)
        return moments[scenario.id]

    total_first = total_second = 0.0
    for scenario in profile.scenarios:
        first, second = scenario_moments(scenario)
        for cascade in profile.cascades:
            if cascade.parent == scenario.id:
                child_first, child_second = scenario_moments(profile.scenario(cascade.child))
                first += cascade.probability * child_first
                second += cascade.probability * child_second
        count = _mean_count(scenario)
        total_first += count * first
        total_second += count * second
    return total_first, total_second
