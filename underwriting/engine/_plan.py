"""The compiled engine's plan: a profile and its term sets flattened into record arrays.

Each array is a NumPy structured array (OasisLMF's numba record dtypes are the model), so the
year loop reads ``scenario["count_threshold"]`` or ``terms["deductible"]``, never a column by
number. The term sets' records (``SECTION_TERMS``, ``POLICY_TERMS``) are those of
:mod:`underwriting.terms`, beside the scalar terms that read them. ``inf`` stands for "none" in
limits, caps and periods. Built once per run by :func:`make_plan`, on the client; the plan
travels to Dask workers as it is.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from underwriting.engine._memo import memo, token
from underwriting.engine._randomness import TO_UNIT, StreamKey
from underwriting.model import SECTION_INDEX, SECTIONS, LogNormal, LogNormalGPD, Pareto
from underwriting.rating import RiskProfile, SectionImpact
from underwriting.terms import PolicyTerms, term_records

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Records = npt.NDArray[np.void]

N_SECTIONS = len(SECTIONS)

# Severity families the compiled engine evaluates (closed-form quantiles).
LOGNORMAL, LOGNORMAL_GPD, PARETO = 0, 1, 2
# Impact bases.
AMOUNT, DAMAGE_RATIO, DOWNTIME = 0, 1, 2
_BASES = {"amount": AMOUNT, "damage_ratio": DAMAGE_RATIO, "downtime_days": DOWNTIME}

SCENARIO = np.dtype(
    [
        ("key_low", np.uint64),  # the scenario's own stream key
        ("key_high", np.uint64),
        ("count_key_low", np.uint64),  # the stream its counts come from (a shared one, or own)
        ("count_key_high", np.uint64),
        ("table_start", np.int64),  # its survival table P(N > k) in Plan.tables
        ("table_end", np.int64),
        ("first_impact", np.int64),  # its impacts in Plan.impacts
        ("end_impact", np.int64),
        ("shared", np.int64),  # 1 where its events are a shared (site-level) occurrence's
        ("first_cascade", np.int64),  # its cascades in Plan.cascades, contiguous
        ("n_cascades", np.int64),
        ("count_threshold", np.int64),  # see count_threshold(); -1: never an event
        ("share", np.float64),  # share of the shared events it takes part in
    ],
    align=True,
)
"""One scenario of the profile."""

IMPACT = np.dtype(
    [
        ("section", np.int64),  # index in SECTIONS
        ("basis", np.int64),  # AMOUNT, DAMAGE_RATIO or DOWNTIME
        ("family", np.int64),  # LOGNORMAL, LOGNORMAL_GPD or PARETO
        ("value", np.float64),  # cap, value at risk or daily cost (inf: none)
        ("severity_scale", np.float64),
        ("probability", np.float64),  # that the section is hit
        ("factor_loading_squared", np.float64),  # rho: sqrt(rho) on the common factor
        ("max_days", np.float64),  # inf: none
        ("mu", np.float64),  # lognormal, and the body of the spliced lognormal-GPD
        ("sigma", np.float64),
        ("threshold", np.float64),  # the GPD tail
        ("xi", np.float64),
        ("beta", np.float64),
        ("tail_probability", np.float64),
        ("alpha", np.float64),  # Pareto
        ("pareto_scale", np.float64),
    ],
    align=True,
)
"""One section impact of a scenario, with its severity's parameters."""

_IMPACT_FIELDS: tuple[str, ...] = IMPACT.names or ()

CASCADE = np.dtype(
    [
        ("number", np.int64),  # its index in the profile's cascades: it keys the draws
        ("child", np.int64),  # the child scenario's index
        ("probability", np.float64),
    ],
    align=True,
)
"""One cascade from a parent scenario to a child."""


@dataclass(frozen=True)
class Plan:
    """A profile and its term sets as the year loop reads them (S scenarios, I impacts, C
    cascades, T term sets)."""

    scenarios: Records
    """(S,) of :data:`SCENARIO`."""
    tables: FloatArray
    """Every scenario's survival table ``P(N > k)``, end to end."""
    impacts: Records
    """(I,) of :data:`IMPACT`, each scenario's contiguous."""
    cascades: Records
    """(C,) of :data:`CASCADE`, each parent's contiguous, in profile order."""
    caps: FloatArray
    """(7,) value at risk per section."""
    active: IntArray
    """The sections any impact can hit, ascending."""
    section_terms: Records
    """(T, 7) of :data:`underwriting.terms.SECTION_TERMS`."""
    policy: Records
    """(T,) of :data:`underwriting.terms.POLICY_TERMS`."""
    rows_per_year: float
    """An upper bound on the expected year loss table rows per year (sizes the row buffers)."""

    @property
    def n_scenarios(self) -> int:
        return int(self.scenarios.shape[0])

    @property
    def n_term_sets(self) -> int:
        return int(self.policy.shape[0])


def _severity_parameters(severity: object) -> tuple[int, dict[str, float]] | None:
    if isinstance(severity, LogNormal):
        return LOGNORMAL, {"mu": severity.mu, "sigma": severity.sigma}
    if isinstance(severity, LogNormalGPD):
        return LOGNORMAL_GPD, {
            "mu": severity.mu,
            "sigma": severity.sigma,
            "threshold": severity.threshold,
            "xi": severity.xi,
            "beta": severity.beta,
            "tail_probability": severity.tail_probability,
        }
    if isinstance(severity, Pareto):
        return PARETO, {"alpha": severity.alpha, "pareto_scale": severity.scale}
    return None


def _none_is_inf(value: float | None) -> float:
    return math.inf if value is None else value


_IMPACT_MEMO = memo(2_048)
"""Impact records of recent profiles (a quote's dozen runs, its strata and stages, share one),
weighed by their impacts and keyed by their tokens: about 50 of the examples' profiles."""


def _impact_records(profile: RiskProfile) -> Records | None:
    """Every scenario's impacts as :data:`IMPACT` records, end to end (a copy of the memo's,
    which the seed and the counts never change); ``None`` if a severity has no closed-form
    quantile."""
    impacts = tuple(tuple(scenario.impacts) for scenario in profile.scenarios)
    found = _IMPACT_MEMO.get(
        tuple(token(scenario.impacts) for scenario in profile.scenarios),
        functools.partial(_flattened_impacts, impacts),
        weight=sum(len(scenario_impacts) for scenario_impacts in impacts),
    )
    return None if found is None else found.copy()


def _flattened_impacts(impacts: tuple[tuple[SectionImpact, ...], ...]) -> Records | None:
    rows: list[tuple[float, ...]] = []
    for impact in itertools.chain.from_iterable(impacts):
        parameters = _severity_parameters(impact.severity)
        if parameters is None:
            return None
        family, values = parameters
        record = dict.fromkeys(_IMPACT_FIELDS, 0.0)
        record.update(values)
        if len(record) != len(_IMPACT_FIELDS):  # a parameter the dtype has no field for
            raise KeyError(f"unknown severity parameters: {set(record) - set(_IMPACT_FIELDS)}")
        record["section"] = SECTION_INDEX[impact.section]
        record["basis"] = _BASES[impact.basis]
        record["family"] = family
        record["value"] = _none_is_inf(impact.value)
        record["severity_scale"] = impact.severity_scale
        record["probability"] = impact.probability
        record["factor_loading_squared"] = impact.factor_loading_squared
        record["max_days"] = _none_is_inf(impact.max_days)
        rows.append(tuple(record[name] for name in _IMPACT_FIELDS))
    return np.array(rows, dtype=IMPACT).reshape(len(rows))


def make_plan(
    profile: RiskProfile, keys: dict[str, StreamKey], terms: Sequence[PolicyTerms]
) -> Plan | None:
    """Flatten the profile and terms; ``None`` if the compiled engine cannot run them. The
    records are built from tuples in their dtypes' field order (fields set one by one on a
    record cost a quote's dozen runs milliseconds)."""
    index = {scenario.id: number for number, scenario in enumerate(profile.scenarios)}
    cascades = list(enumerate(profile.cascades))
    # Cascades of one parent are contiguous in the plan, in profile order (their numbers key
    # their draws, so each keeps its own number).
    ordered = sorted(cascades, key=lambda item: (index[item[1].parent], item[0]))
    first_cascade: dict[str, int] = {}
    for position, (_, c) in enumerate(ordered):
        first_cascade.setdefault(c.parent, position)
    impact_records = _impact_records(profile)
    if impact_records is None:
        return None
    rows: list[tuple[object, ...]] = []
    tables: list[FloatArray] = []
    table_size = 0
    end_impact = 0
    rows_per_year = 0.0
    for scenario in profile.scenarios:
        own = keys[scenario.stream_id]
        shared = scenario.occurrence
        count_key = own if shared is None else keys[shared.stream]
        frequency = (
            scenario.frequency if shared is None else scenario.frequency.with_rate(shared.rate)
        )
        table = frequency.survival_table
        first_impact = end_impact
        end_impact += len(scenario.impacts)
        n_cascades = sum(1 for _, c in cascades if c.parent == scenario.id)
        rows.append(
            (
                own.low,  # key_low
                own.high,
                count_key.low,  # count_key_low
                count_key.high,
                table_size,  # table_start
                table_size + table.size,  # table_end
                first_impact,
                end_impact,
                int(shared is not None),  # shared
                first_cascade.get(scenario.id, 0),
                n_cascades,
                count_threshold(float(table[0]) if table.size else 0.0),
                1.0 if shared is None else scenario.frequency.mean / shared.rate,  # share
            )
        )
        tables.append(table)
        table_size += table.size
        sections = len(scenario.impacts) + (N_SECTIONS if n_cascades else 0)
        rows_per_year += min(frequency.mean, 1.0) * min(sections, N_SECTIONS)
    cascade_records = np.array(
        [(n, index[c.child], c.probability) for n, c in ordered], dtype=CASCADE
    ).reshape(len(ordered))
    caps = np.full(N_SECTIONS, math.inf)
    for section, cap in profile.value_at_risk.items():
        caps[SECTION_INDEX[section]] = cap
    section_terms, policy = term_records(terms)
    return Plan(
        scenarios=np.array(rows, dtype=SCENARIO).reshape(len(rows)),
        tables=np.concatenate(tables) if tables else np.zeros(0),
        impacts=impact_records,
        cascades=cascade_records,
        caps=caps,
        active=np.unique(impact_records["section"]).astype(np.int64),
        section_terms=section_terms,
        policy=policy,
        rows_per_year=rows_per_year,
    )


def _unit(word: int) -> float:
    """The uniform of a 53-bit hash word, as both engines compute it."""
    return (float(word) + 0.5) * TO_UNIT


def count_threshold(p_any: float) -> int:
    """The largest 53-bit hash word whose uniform ``q`` is at most ``p_any``, or -1 if none.

    A scenario draws at least one event in a year exactly when its count uniform ``q`` satisfies
    ``q <= P(N > 0)`` (``counts``: ``N = #{k: P(N > k) >= q}``). The uniform is non-decreasing
    in its hash word, so the test is the same as ``word <= count_threshold(P(N > 0))``: integer
    arithmetic only, which lets the compiler run the test for many years at once.
    """
    if not _unit(0) <= p_any:
        return -1
    # The word whose uniform is nearest, then a step or two to the exact answer (rounding).
    top = 2**53 - 1
    word = min(max(int(p_any / TO_UNIT - 0.5), 0), top) if p_any < 1.0 else top
    while word < top and _unit(word + 1) <= p_any:
        word += 1
    while word > 0 and _unit(word) > p_any:
        word -= 1
    return word
