"""Exact means of the per-year occurrence controls, for control variates on the premium.

For the quote's terms ``T`` (share ``sigma``), every impact of every simulated event that is hit,
its own scenario's or a triggered cascade child's, contributes ``v = sigma * phi``, where ``phi``
is what the per-occurrence terms (steps 1-3 of :mod:`underwriting.terms`) pay on that impact
alone: its ground-up loss ``x`` (``SectionImpact.capped``, then the section's value at risk) in
the section's terms, or for a ``downtime_days`` impact its days at the daily cost. A year's
controls are ``c1 = sum v``, ``c2 = sum v**2``, ``c3 = sum_e V_e**2`` (``V_e`` an event's total
``v``, its triggered cascade children's included) and ``c4 = c1**2``. They follow the simulated
premium closely but, unlike it, their expectations are known:

``E[c] = sum_s m_s (sum_i p_i E[v_i**k] + sum_{cascades c of s} pi_c sum_j p_j E[v_j**k])``

for ``c1`` and ``c2`` (``k = 1, 2``), ``m_s`` the mean of the engine's count of scenario ``s``
(its survival table, which stops below 2**-54, summed; a shared occurrence's at the shared rate
times the chance of taking part), ``p`` the hit probabilities and ``pi`` the cascades'. Each
``E[v**k]`` is an integral over the survival probability ``q`` of the severity,
``x = x(scale * isf(q))``, taken by Gauss-Legendre quadrature on pieces between the ``q`` where
``phi`` has a kink or a jump (deductibles, limits, caps, periods), in ``log q`` below ``q = 1/2``
and in ``log(1 - q)`` above it, so that both tails are smooth in the variable integrated. The
copula that ties an event's impacts does not enter: each marginal is exactly the severity's.

``E[c3] = sum_s m_s E[V_s**2]``: an event's hits are independent, a cascade child's impacts are
independent of the parent's (their own common factor) and of another cascade's, so

``E[V**2] = E[P**2] + sum_c (2 pi_c E[P] E[C_c] + pi_c E[C_c**2])
+ sum_{c != d} pi_c pi_d E[C_c] E[C_d]``

with ``P`` the parent's own impacts' sum, ``C_c`` a child's, and ``E[P**2] = sum_i p_i E[v_i**2]
+ sum_{i != j} p_i p_j E[v_i v_j]``. Two impacts' normal scores have correlation
``c = sqrt(rho_i rho_j)``: ``E[v_i v_j]`` is the product of the means at ``c = 0``, one integral
over the common score at ``c = 1``, and otherwise Mehler's expansion
``sum_k c**k a_k(v_i) a_k(v_j)``, ``a_k`` the coefficients on the normalised Hermite polynomials,
taken by Gauss-Legendre in the normal score on pieces between the scores of the kinks and cut
where ``c**k`` falls below 1e-12.

``E[c4] = Var(c1) + E[c1]**2``, ``Var(c1) = sum_s (E[N_s] E[V_s**2] + (E[N_s (N_s - 1)] -
E[N_s]**2) E[V_s]**2)`` for scenarios drawn independently, the factorial moment from the same
survival table (``E[N (N - 1)] = sum_k 2 k P(N > k)``; thinned by ``t``: ``t**2`` times it).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from underwriting.engine._memo import memo, token
from underwriting.model import SECTION_INDEX, LogNormalGPD, Section
from underwriting.rating import RiskProfile, Scenario, SectionImpact
from underwriting.terms import PolicyTerms, SectionTerms, occurrence_payments, term_records

FloatArray = npt.NDArray[np.float64]

_SMALLEST_SURVIVAL = 2.0**-54
"""Where the integrals stop in ``q`` (and ``1 - q``): below every uniform the engine draws."""
_PANEL_WIDTH = 0.5
"""Widest Gauss-Legendre panel, in ``log q`` or ``log(1 - q)``."""
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(20)
_LARGEST_SCORE = -float(special.ndtri(_SMALLEST_SURVIVAL))
"""Where the integrals over a normal score stop (about 8.29): ``-ndtri(2**-54)``."""
_SCORE_PANEL_WIDTH = 0.5
"""Widest Gauss-Legendre panel in a normal score."""
_SERIES_CUT = 1e-12
"""Mehler's series stops where ``c**k`` falls below this."""
_MAX_DEGREE = 4_000
"""Most Hermite terms of one pair (reached only for correlations above about 0.993)."""


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
    impact: SectionImpact, cap: float, terms: Any, section: SectionTerms
) -> tuple[Callable[[FloatArray], FloatArray], list[float]]:
    """``phi`` of an impact as a function of its scaled severity (steps 1-3 of ``section``,
    ``underwriting.terms.occurrence_payments``), and that severity's kinks (from ``terms``,
    the section's record)."""
    kinks = _loss_kinks(terms)
    if impact.basis == "downtime_days":
        daily = float(impact.value or 0.0)

        def phi(amount: FloatArray) -> FloatArray:
            days = impact.capped(amount)
            return occurrence_payments(
                np.minimum(days * daily, cap), section, days, np.full(days.shape, daily)
            )

        found = [impact.max_days or math.inf]
        if daily > 0:
            wait = float(terms["waiting_days"])
            found += [cap / daily, cap / daily + wait, float(terms["indemnity_days"]), wait]
            found += [k / daily for k in kinks] + [k / daily + wait for k in kinks]
        return phi, found

    def phi_loss(amount: FloatArray) -> FloatArray:
        return occurrence_payments(np.minimum(impact.capped(amount), cap), section)

    if impact.basis == "damage_ratio":
        value = float(impact.value or 0.0)
        found = [1.0]
        if value > 0:
            found += [cap / value] + [k / value for k in kinks]
        return phi_loss, found
    return phi_loss, [impact.value or math.inf, cap, *kinks]


def _pieces(edges: Sequence[float]) -> tuple[FloatArray, FloatArray]:
    """Nodes ``q`` and weights ``dq`` of composite Gauss-Legendre on each piece
    ``[edges[i], edges[i + 1]]`` of ``q``, all pieces at once: a piece below ``q = 1/2`` is
    integrated in ``log q``, one above in ``log(1 - q)`` (stopping at ``1 - q = 2**-54``), in
    panels no wider than ``_PANEL_WIDTH``."""
    low = np.asarray(edges[:-1], dtype=np.float64)
    high = np.asarray(edges[1:], dtype=np.float64)
    upper = low >= 0.5
    with np.errstate(divide="ignore"):
        start = np.where(upper, np.log(np.maximum(1.0 - high, _SMALLEST_SURVIVAL)), np.log(low))
        stop = np.where(upper, np.log1p(-low), np.log(high))
    panels = np.maximum(1, np.ceil((stop - start) / _PANEL_WIDTH)).astype(np.int64)
    piece = np.repeat(np.arange(low.size), panels)  # the piece of each panel
    within = np.arange(piece.size) - np.repeat(np.cumsum(panels) - panels, panels)
    width = (stop - start) / panels
    left = start[piece] + within * width[piece]
    half = (width[piece] / 2)[:, None]
    t = (left[:, None] + half + half * _NODES).ravel()
    weight = (half * _WEIGHTS).ravel()
    on_upper = np.repeat(upper[piece], _NODES.size)
    e = np.exp(t)
    return np.where(on_upper, 1.0 - e, e), weight * e


def _moments(
    impact: SectionImpact, cap: float, terms: Any, section: SectionTerms, share: float
) -> tuple[float, float]:
    """``E[v]`` and ``E[v**2]`` of one impact when hit, ``v = share * phi``."""
    phi, amounts = _impact_terms(impact, cap, terms, section)
    scale = impact.severity_scale
    severity = impact.severity
    positive = np.array([a for a in amounts if 0 < a < math.inf], dtype=np.float64)
    breaks = [float(b) for b in severity.sf(positive / scale)]
    if isinstance(severity, LogNormalGPD):
        breaks.append(severity.tail_probability)
    inner = sorted({b for b in breaks if _SMALLEST_SURVIVAL < b < 1.0} | {0.5})
    edges = [_SMALLEST_SURVIVAL, *inner, 1.0]
    # Every piece's nodes at once: one call of the quantile function and of the terms.
    q, dq = _pieces(edges)
    v = share * phi(severity.isf(q) * scale)
    return float(np.dot(v, dq)), float(np.dot(v * v, dq))


@dataclass(frozen=True)
class _Impact:
    """A covered impact of a scenario, as its cross moments with the others need it."""

    probability: float
    loading: float
    """``rho``, the squared loading on the event's common factor."""
    mean: float
    """``E[v]`` when hit (NaN where it is not needed: the events' powers do not use it)."""
    values: Callable[[FloatArray], FloatArray]
    """``v`` at normal scores ``z`` (the engine's ``severity.from_normal(z)``)."""
    scores: tuple[float, ...]
    """Normal scores where ``v`` has a kink or a jump."""


def _covered_impact(
    impact: SectionImpact, cap: float, terms: Any, section: SectionTerms, share: float, mean: float
) -> _Impact:
    phi, amounts = _impact_terms(impact, cap, terms, section)
    scale, severity = impact.severity_scale, impact.severity
    positive = np.array([a for a in amounts if 0 < a < math.inf], dtype=np.float64)
    survivals = [float(b) for b in severity.sf(positive / scale)]
    if isinstance(severity, LogNormalGPD):
        survivals.append(severity.tail_probability)
    scores = -special.ndtri(np.array([q for q in survivals if 0.0 < q < 1.0]))

    def values(z: FloatArray) -> FloatArray:
        return share * phi(severity.from_normal(z) * scale)

    inner = tuple(float(z) for z in scores if abs(z) < _LARGEST_SCORE)
    return _Impact(impact.probability, impact.factor_loading_squared, mean, values, inner)


def _score_nodes(scores: Iterable[float], width: float) -> tuple[FloatArray, FloatArray]:
    """Nodes ``z`` and weights ``pdf(z) dz`` of composite Gauss-Legendre on the normal scores
    ``[-8.29, 8.29]``, pieces split at ``scores`` and no wider than ``width``."""
    z, plain = _plain_nodes(scores, width, _NODES, _WEIGHTS)
    return z, plain * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _plain_nodes(
    scores: Iterable[float], width: float, nodes: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Nodes and plain weights (no normal density) of composite Gauss-Legendre with ``nodes``
    and ``weights`` on the normal scores ``[-8.29, 8.29]``, pieces split at ``scores`` and no
    wider than ``width``."""
    top = _LARGEST_SCORE
    breaks = [-top, *sorted({z for z in scores if -top < z < top}), top]
    edges = np.concatenate(
        [
            np.linspace(low, high, max(1, math.ceil((high - low) / width)) + 1)[:-1]
            for low, high in itertools.pairwise(breaks)
        ]
        + [np.array([top])]
    )
    half = np.diff(edges)[:, None] / 2
    z = ((edges[:-1, None] + edges[1:, None]) / 2 + half * nodes).ravel()
    return z, (half * weights).ravel()


def _degree(correlation: float) -> int:
    """Terms of Mehler's series at ``correlation`` in ``(0, 1)``: ``c**k`` down to the cut."""
    return min(_MAX_DEGREE, math.ceil(math.log(_SERIES_CUT) / math.log(correlation)))


def _hermite_coefficients(impacts: list[_Impact], degree: int) -> FloatArray:
    """``a_k = E[v He_k(Z) / sqrt(k!)]`` of each impact's ``v`` at a standard normal ``Z``,
    ``k = 0 .. degree``, shape ``(len(impacts), degree + 1)``. Pieces narrow enough for the
    highest polynomial's oscillations (zeros about ``pi / sqrt(2 degree)`` apart)."""
    width = min(_SCORE_PANEL_WIDTH, 3 * math.pi / math.sqrt(2 * degree + 1))
    grids = [_score_nodes(impact.scores, width) for impact in impacts]
    size = max(z.size for z, _ in grids)
    z = np.zeros((len(impacts), size))
    weighted = np.zeros((len(impacts), size))  # w v, zero past an impact's own nodes
    for row, (impact, (nodes, weights)) in enumerate(zip(impacts, grids, strict=True)):
        z[row, : nodes.size] = nodes
        weighted[row, : nodes.size] = weights * impact.values(nodes)
    coefficients = np.empty((len(impacts), degree + 1))
    previous, current = np.zeros_like(z), np.ones_like(z)
    for k in range(degree + 1):
        coefficients[:, k] = np.einsum("ij,ij->i", weighted, current)
        # He_{k+1} = z He_k - k He_{k-1}, normalised by sqrt((k + 1)!).
        previous, current = current, (z * current - math.sqrt(k) * previous) / math.sqrt(k + 1)
    return coefficients


def _same_score_product(first: _Impact, second: _Impact) -> float:
    """``E[v_i v_j]`` of two impacts on the same normal score (both loadings 1)."""
    z, weight = _score_nodes(first.scores + second.scores, _SCORE_PANEL_WIDTH)
    return float(np.dot(weight, first.values(z) * second.values(z)))


def _cross_moments(scenarios: dict[str, list[_Impact]]) -> dict[str, float]:
    """Per scenario, ``sum_{i != j} p_i p_j E[v_i v_j]`` over its own impacts' pairs."""
    pairs: list[tuple[str, int, int, float]] = []
    products: dict[tuple[str, int, int], float] = {}
    for scenario_id, impacts in scenarios.items():
        for (i, first), (j, second) in itertools.combinations(enumerate(impacts), 2):
            correlation = math.sqrt(first.loading * second.loading)
            if correlation == 0.0:
                products[scenario_id, i, j] = first.mean * second.mean
            elif correlation == 1.0:
                products[scenario_id, i, j] = _same_score_product(first, second)
            else:
                pairs.append((scenario_id, i, j, correlation))
    # Each impact's series as long as its most correlated pair needs, in groups of lengths up
    # to a power of two (one pair close to 1 does not lengthen every impact's series).
    needed: dict[tuple[str, int], int] = {}
    for scenario_id, i, j, correlation in pairs:
        for row in ((scenario_id, i), (scenario_id, j)):
            needed[row] = max(needed.get(row, 0), _degree(correlation))
    groups: dict[int, list[tuple[str, int]]] = {}
    for row, degree in needed.items():
        groups.setdefault(min(_MAX_DEGREE, 2 ** math.ceil(math.log2(degree))), []).append(row)
    series: dict[tuple[str, int], FloatArray] = {}
    for degree, rows in groups.items():
        coefficients = _hermite_coefficients([scenarios[s][i] for s, i in rows], degree)
        series.update(zip(rows, coefficients, strict=True))
    for scenario_id, i, j, correlation in pairs:
        terms = _degree(correlation) + 1
        powers = correlation ** np.arange(terms)
        a, b = series[scenario_id, i][:terms], series[scenario_id, j][:terms]
        products[scenario_id, i, j] = float(np.dot(powers * a, b))
    totals = dict.fromkeys(scenarios, 0.0)
    for (scenario_id, i, j), product in products.items():
        impacts = scenarios[scenario_id]
        totals[scenario_id] += 2 * impacts[i].probability * impacts[j].probability * product
    return totals


def _count_moments(scenario: Scenario) -> tuple[float, float]:
    """``E[N]`` and ``E[N (N - 1)]`` of the count the NumPy engine draws for the scenario
    (``simulate_block_events``): from the truncated survival table ``P(N > k)``,
    ``E[N] = sum_k P(N > k)`` and ``E[N (N - 1)] = sum_k 2 k P(N > k)``; for a shared
    occurrence, at the shared rate, thinned by the chance ``t`` of taking part in a shared
    event (not drawn when it is 1 or more): ``t`` and ``t**2`` times those."""
    shared = scenario.occurrence
    frequency = scenario.frequency if shared is None else scenario.frequency.with_rate(shared.rate)
    table = frequency.survival_table
    factorial = float(np.dot(2.0 * np.arange(table.size), table))
    if shared is None:
        return float(table.sum()), factorial
    taken = min(scenario.frequency.mean / shared.rate, 1.0)
    return float(table.sum()) * taken, factorial * taken**2


def _shares_draws(profile: RiskProfile) -> bool:
    """Whether two scenarios draw from one stream (a shared occurrence, or one stream id): their
    counts, and common factors, are then the same draws, not independent."""
    seen: set[str] = set()
    for scenario in profile.scenarios:
        names = {scenario.stream_id}
        if scenario.occurrence is not None:
            names.add(scenario.occurrence.stream)
        if names & seen:
            return True
        seen |= names
    return False


def control_means(profile: RiskProfile, terms: PolicyTerms) -> tuple[float, ...]:
    """Exact expectations of a simulated year's controls ``c1 = sum v``, ``c2 = sum v**2``,
    ``c3 = sum_e V_e**2`` and ``c4 = c1**2``.

    ``v = terms.share * phi`` over every hit impact of every event (cascade children included),
    ``phi`` the per-occurrence terms (steps 1-3) on that impact's loss alone, capped at the
    section's value at risk; ``V_e`` the sum of ``v`` over event ``e`` (module docstring).
    Deterministic quadrature, to about 1e-9 relative (cross moments of impacts whose scores
    correlate above about 0.993 to the rest of Mehler's series after 4,000 terms); a heavy tail
    with no limit or cap gives the moment of the engine's own draws, whose survival
    probabilities stop at 2**-54.

    Parameters
    ----------
    profile
        The scenarios simulated.
    terms
        The quote's main terms.

    Returns
    -------
    E[c1], E[c2], E[c3], E[c4]
        Currency per year, then currency squared per year. ``E[c4]`` is left out (three means)
        when two scenarios draw from one stream (a shared occurrence or stream id): their counts
        are then dependent and ``c1``'s variance is not the sum over scenarios.

    Example
    -------
    >>> from underwriting.model import LogNormal, Poisson
    >>> from underwriting.terms import SectionTerms
    >>> profile = RiskProfile(scenarios=[Scenario(id="fire", frequency=Poisson(rate=0.3),
    ...     severity=LogNormal(mu=10.0, sigma=1.5), section="property")])
    >>> terms = PolicyTerms(sections={"property": SectionTerms(deductible=10_000)})
    >>> mean, second, events, square = control_means(profile, terms)
    >>> round(mean)
    17817
    >>> events == second  # one impact per event: V_e = v
    True
    >>> round(square / (second + mean**2), 12)  # Poisson: Var(c1) = E[c2]
    1.0
    """
    return stratum_control_means(profile, terms, [profile])[0]


def _covered_terms(
    scenario: Scenario, profile: RiskProfile, terms: PolicyTerms, records: Any
) -> Iterator[tuple[SectionImpact, float, Any, SectionTerms]]:
    """Each impact of ``scenario`` that the terms cover, with the section's value at risk, its
    term record and its terms (research interruption counts downtime impacts only, as the
    events' ground-up does)."""
    for impact in scenario.impacts:
        record = records[SECTION_INDEX[impact.section]]
        if not record["covered"] or (
            impact.section == Section.RESEARCH_INTERRUPTION and impact.basis != "downtime_days"
        ):
            continue
        cap = profile.value_at_risk.get(impact.section, math.inf)
        yield impact, cap, record, terms.sections[impact.section]


_MEMO_WEIGHT = 2_048
"""Impacts whose integrals each memo keeps (an entry weighs the impacts of its key): a profile's
event moments (three floats a scenario) in one, a scenario's powers (five floats) in another,
an impact's own moments (two floats) in a third; about 50 of the examples' quotes. All full,
with the tokens of the impacts, hold about 10 MiB where the terms differ from quote to quote
(210 quotes traced; their keys keep the sections' terms): a server's memory per worker, not per
request."""
_EVENT_MEMO = memo(_MEMO_WEIGHT)
_POWER_MEMO = memo(_MEMO_WEIGHT)
_MOMENT_MEMO = memo(_MEMO_WEIGHT)
"""An impact's own moments (:func:`_moments`), keyed by the impact, its value at risk, its
section's terms and the share: a revision of one section's terms finds the others'."""


def _terms_key(terms: PolicyTerms) -> Hashable:
    """What the integrals read of the terms: the sections' terms and the share (the aggregate
    terms act on a year, not on an impact)."""
    return frozenset(terms.sections.items()), terms.share


def _sections_key(scenario: Scenario, terms: PolicyTerms) -> Hashable:
    """What a scenario's own powers read of the terms: the terms of its impacts' sections
    (``None`` where a section is not covered) and the share."""
    return tuple(terms.sections.get(impact.section) for impact in scenario.impacts), terms.share


def _impacts_key(profile: RiskProfile) -> Hashable:
    """What the event moments read of a profile: each scenario's id and impacts, in order, the
    cascades and the values at risk; never the counts, so the strata of a profile, or its
    frequencies under stress, share them."""
    return (
        tuple((s.id, token(s.impacts)) for s in profile.scenarios),
        token(profile.cascades),
        frozenset(profile.value_at_risk.items()),
    )


def stratum_control_means(
    profile: RiskProfile,
    terms: PolicyTerms,
    counted: Sequence[RiskProfile],
    first_only: Sequence[bool] = (),
) -> list[tuple[float, ...]]:
    """:func:`control_means` for each profile of ``counted``: ``profile`` with other count
    distributions (the strata of ``underwriting.engine.rare_strata``, whose scenarios differ
    from ``profile``'s in their frequencies only). The impacts' moments, which do not depend on
    the counts, are integrated once.

    Where ``first_only[i]`` is true, profile ``i`` gets ``E[c1]`` alone, ``(E[c1],)`` (a
    stratum whose fit uses ``c1`` alone). The cross moments of impacts, the costly part, are
    then integrated only for the scenarios that occur in the other profiles: a scenario with
    no events there adds exactly nothing to their means, so they are the same to the last bit.
    """
    counts = [
        [_count_moments(other.scenario(s.id)) for s in profile.scenarios] for other in counted
    ]
    if first_only and len(first_only) != len(counted):
        raise ValueError(f"first_only has {len(first_only)} flags for {len(counted)} profiles")
    full = [not flag for flag in first_only] if first_only else [True] * len(counted)
    occurring = frozenset(
        s.id
        for i, other in enumerate(counts)
        if full[i]
        for s, (count, _) in zip(profile.scenarios, other, strict=True)
        if count != 0.0
    )
    occurring |= {c.child for c in profile.cascades if c.parent in occurring}
    events = _EVENT_MEMO.get(
        (_impacts_key(profile), _terms_key(terms), occurring),
        lambda: _event_moments(profile, terms, occurring),
        weight=sum(len(scenario.impacts) for scenario in profile.scenarios),
    )
    shared = _shares_draws(profile)
    means: list[tuple[float, ...]] = []
    for i, other in enumerate(counts):
        total_first = total_second = total_square = variance = 0.0
        for (first, second, square), (count, factorial) in zip(events, other, strict=True):
            total_first += count * first
            if not full[i] or count == 0.0:
                continue  # adds exactly 0.0 to the sums below (no events: no factorial)
            total_second += count * second
            total_square += count * square
            variance += count * square + (factorial - count**2) * first**2
        if not full[i]:
            means.append((total_first,))
        elif shared:
            means.append((total_first, total_second, total_square))
        else:
            means.append((total_first, total_second, total_square, variance + total_first**2))
    return means


def _event_moments(
    profile: RiskProfile, terms: PolicyTerms, occurring: frozenset[str]
) -> tuple[tuple[float, float, float], ...]:
    """Each scenario's event moments ``E[V]``, ``E[v**2]`` summed and ``E[V**2]``, its
    cascades included (the last NaN where the scenario is not in ``occurring``: its cross
    moments are not integrated). They read the scenarios' impacts, the cascades, the values at
    risk and the sections' terms and share, never the counts (:func:`_impacts_key`)."""
    records = term_records([terms])[0][0]
    moments: dict[str, tuple[float, float]] = {}
    impacts_of: dict[str, list[_Impact]] = {}

    def scenario_moments(scenario: Scenario) -> tuple[float, float]:
        if scenario.id not in moments:
            first = second = 0.0
            covered = []
            for impact, cap, record, section in _covered_terms(scenario, profile, terms, records):
                m1, m2 = _MOMENT_MEMO.get(
                    (impact, cap, section, terms.share),
                    functools.partial(_moments, impact, cap, record, section, terms.share),
                )
                first += impact.probability * m1
                second += impact.probability * m2
                if scenario.id in occurring:
                    covered.append(_covered_impact(impact, cap, record, section, terms.share, m1))
            moments[scenario.id] = (first, second)
            if scenario.id in occurring:
                impacts_of[scenario.id] = covered
        return moments[scenario.id]

    for scenario in profile.scenarios:
        scenario_moments(scenario)
    cross = _cross_moments(impacts_of)

    # Each scenario's event moments E[V], E[v**2] summed, E[V**2] (its cascades included; the
    # last only where the scenario occurs in a profile that needs it).
    events: list[tuple[float, float, float]] = []
    for scenario in profile.scenarios:
        first, second = scenario_moments(scenario)
        own_first = first
        square = second + cross.get(scenario.id, math.nan)  # E[P**2], the parent's own impacts
        children_first = 0.0  # sum of pi_c E[C_c] over the cascades so far
        for cascade in profile.cascades:
            if cascade.parent == scenario.id:
                pi = cascade.probability
                child_first, child_second = scenario_moments(profile.scenario(cascade.child))
                first += pi * child_first
                second += pi * child_second
                child_square = child_second + cross.get(cascade.child, math.nan)
                square += 2 * pi * own_first * child_first + pi * child_square
                square += 2 * pi * child_first * children_first  # independent cascades
                children_first += pi * child_first
        events.append((first, second, square))
    return tuple(events)


_POWERS = 4
"""The highest power of an event's total whose mean :func:`event_power_means` can work out."""
_BINOMIAL = [[math.comb(k, j) for j in range(k + 1)] for k in range(_POWERS + 1)]
_POWER_WIDTH = 1.0
"""Widest panel, in a normal score, of the quadrature of :func:`_event_powers` (against half that
width and 20 nodes, the examples' means agree to 1e-15)."""
_POWER_FACTOR_WIDTH = 2.0
"""Widest panel in the event's common factor: the integrand is smooth there, but near the
kinks of an impact that loads on it alone or nearly (``_NARROW_SPREAD``), which split the
panels."""
_POWER_NODES, _POWER_WEIGHTS = np.polynomial.legendre.leggauss(16)
_POWER_SPREADS = 2.0
"""Widest panel in an impact's own score, in standard deviations of its part given the event's
factor, ``sqrt(1 - rho)``: the normal density it is integrated against must be resolved."""
_NARROW_SPREAD = 0.5
"""Where an impact's part given the factor is narrower than this, the factor's panels are split
where the impact's kinks sit given the factor (``score / sqrt(rho)``): its conditional moments
bend there almost as sharply as the kinks themselves; narrower than 0.1 (``rho`` above 0.99),
also 1, 2 and 4 spreads either side. A single impact's moments, which cannot depend on ``rho``,
then agree with ``rho = 0``'s to about 1e-9 for every ``rho`` (the tests)."""


def _added(total: FloatArray, part: FloatArray) -> FloatArray:
    """Raw moments ``0 .. k`` (rows) of the sum of two independent variables with raw moments
    ``total`` and ``part`` (also by node, in columns), ``k + 1`` the rows they have."""
    out = np.zeros(np.broadcast_shapes(total.shape, part.shape))
    for k in range(len(total)):
        for j in range(k + 1):
            out[k] += _BINOMIAL[k][j] * total[j] * part[k - j]
    return out


def _event_powers(impacts: Sequence[_Impact], highest: int) -> FloatArray:
    """``E[P**k]``, ``k = 0 .. highest``, of the sum ``P`` of one event's hit impacts' ``v``
    (each power's figures are the same whatever ``highest``).

    Given the event's common factor ``Z = z``, impact ``i``'s normal score is ``sqrt(rho_i) z +
    sqrt(1 - rho_i) e_i`` with ``e_i`` its own, and whether it is hit is drawn apart: the
    impacts are independent, so their conditional raw moments ``p_i E[v_i**r | z]`` add up as
    independent sums' (:func:`_added`). Each ``E[v**r | z]`` is an integral over the impact's
    score against the normal density of its own part (composite Gauss-Legendre, split at the
    impact's kinks, panels no wider than ``_POWER_SPREADS`` spreads of that density); the
    moments of ``P`` are then integrated over ``z``, on panels split where an impact of a narrow
    part (or loading 1) has its kinks given ``z``."""
    breaks = []
    for impact in impacts:
        spread = math.sqrt(1.0 - impact.loading)
        if impact.loading > 0 and spread < _NARROW_SPREAD:
            # The kinks given the factor, and for a part narrower than a panel of nodes can
            # follow, a few of its spreads around them.
            around = (0.0, -4.0, -2.0, -1.0, 1.0, 2.0, 4.0) if spread < 0.1 else (0.0,)
            root = math.sqrt(impact.loading)
            breaks += [(s + k * spread) / root for s in impact.scores for k in around]
    z, plain = _plain_nodes(breaks, _POWER_FACTOR_WIDTH, _POWER_NODES, _POWER_WEIGHTS)
    density = plain * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    total = np.zeros((highest + 1, z.size))
    total[0] = 1.0
    for impact in impacts:
        part = np.zeros_like(total)
        part[0] = 1.0
        rho = impact.loading
        if rho == 1.0:  # the event's own factor: v at z
            v = impact.values(z)
            conditional = [v**r for r in range(1, highest + 1)]
        else:
            spread = math.sqrt(1.0 - rho)
            x, weights = _plain_nodes(
                impact.scores,
                min(_POWER_WIDTH, _POWER_SPREADS * spread),
                _POWER_NODES,
                _POWER_WEIGHTS,
            )
            v = impact.values(x)
            kernel = np.exp(-0.5 * ((x[None, :] - math.sqrt(rho) * z[:, None]) / spread) ** 2)
            kernel *= weights / (spread * math.sqrt(2 * math.pi))
            conditional = [np.einsum("zx,x->z", kernel, v**r) for r in range(1, highest + 1)]
        for r, moment in enumerate(conditional, start=1):
            part[r] = impact.probability * moment
        total = _added(total, part)
    return np.asarray(np.einsum("kz,z->k", total, density))


def event_power_means(
    profile: RiskProfile,
    terms: PolicyTerms,
    counted: Sequence[RiskProfile],
    *,
    highest: int = _POWERS,
) -> list[tuple[float, ...]]:
    """``(E[sum_e V_e**3], .., E[sum_e V_e**highest])`` per year for each profile of
    ``counted`` (as for :func:`stratum_control_means`): the means of the controls a run keeps in
    rows 3 and 4 with ``simulate_many(..., controls=5)``, ``V_e`` an event's total ``v`` (the one
    ``c3`` squares), its cascade children's included (:func:`_event_power_sums`). ``highest`` 3
    or 4; a quote of tables with ``event_power_controls`` asks for the cube alone, the same to
    the last bit either way and a little cheaper (3 % to 9 % for the examples)."""
    if not 3 <= highest <= _POWERS:
        raise ValueError(f"highest must be 3 or {_POWERS}, got {highest}")
    sums = _event_power_sums(profile, terms, counted, highest)
    return [tuple(float(x) for x in s[3:]) for s in sums]


def _event_power_sums(
    profile: RiskProfile, terms: PolicyTerms, counted: Sequence[RiskProfile], highest: int
) -> list[FloatArray]:
    """``E[sum_e V_e**k]``, ``k = 0 .. highest``, per year for each profile of ``counted``.

    An event's ``E[V**k]`` comes from its own impacts' sum ``P`` (:func:`_event_powers`) and each
    cascade's ``B_c C_c`` (``B_c`` whether it follows, with chance ``pi_c``; ``C_c`` the child's
    own impacts' sum), all independent: ``E[(B C)**k] = pi E[C**k]`` for ``k >= 1``, combined
    as independent sums. Then ``E[sum_e V_e**k] = sum_s E[N_s] E[V_s**k]``, from the counts the
    engine draws (:func:`_count_moments`), whether or not the scenarios share draws. The first
    and second powers by the same route agree with ``c1``'s and ``c3``'s means to about 1e-14
    (the tests)."""
    records = term_records([terms])[0][0]
    counts = [
        [_count_moments(other.scenario(s.id)) for s in profile.scenarios] for other in counted
    ]
    occurring = {
        s.id
        for other in counts
        for s, (count, _) in zip(profile.scenarios, other, strict=True)
        if count != 0.0
    }
    needed = occurring | {c.child for c in profile.cascades if c.parent in occurring}
    own: dict[str, FloatArray] = {}
    for scenario in profile.scenarios:
        if scenario.id not in needed:
            continue
        powers = _POWER_MEMO.get(
            (
                token(scenario.impacts),
                tuple(profile.value_at_risk.get(i.section, math.inf) for i in scenario.impacts),
                _sections_key(scenario, terms),
                highest,
            ),
            functools.partial(_scenario_powers, scenario, profile, terms, records, highest),
            weight=len(scenario.impacts),
        )
        own[scenario.id] = np.array(powers)
    events: dict[str, FloatArray] = {}
    for scenario in profile.scenarios:
        if scenario.id not in occurring:
            continue
        total = own[scenario.id]
        for cascade in profile.cascades:
            if cascade.parent == scenario.id:
                child = own[cascade.child]
                total = _added(total, np.concatenate([[1.0], cascade.probability * child[1:]]))
        events[scenario.id] = total
    sums = []
    for other in counts:
        total = np.zeros(highest + 1)
        for scenario, (count, _) in zip(profile.scenarios, other, strict=True):
            if count != 0.0:
                total += count * events[scenario.id]
        sums.append(total)
    return sums


def _scenario_powers(
    scenario: Scenario, profile: RiskProfile, terms: PolicyTerms, records: Any, highest: int
) -> tuple[float, ...]:
    """:func:`_event_powers` of a scenario's own covered impacts, as a tuple (the memo keeps
    it; the floats are the array's)."""
    # The powers read each impact's values and kinks, never its mean: NaN, not integrated.
    covered = [
        _covered_impact(impact, cap, record, section, terms.share, math.nan)
        for impact, cap, record, section in _covered_terms(scenario, profile, terms, records)
    ]
    return tuple(float(x) for x in _event_powers(covered, highest))
