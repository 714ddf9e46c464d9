"""The fused simulation kernel: one compiled pass per year, no temporary arrays.

A first pass over a block's years finds which scenarios have an event in which year from the
count uniforms' hash words alone (an integer comparison, vectorised); most years of a lab have
none and are done. For each other year the kernel draws the event counts of the scenarios that
have one, and for each event its impacts and cascades (inverse CDF of the same uniforms as the
NumPy engine), caps the section losses, applies every set of policy terms to the sections hit
and adds the year's sums, all in registers and a few small scratch arrays. It is compiled with
numba, as OasisLMF's ``gulmc`` and ``fmpy`` are.

The NumPy engine (:func:`underwriting.engine.simulate_block_events` and
:func:`underwriting.terms.apply_terms`) is the reference: the kernel draws exactly the same
uniforms (the same SplitMix64 hash, bit for bit), so event counts, hits, thinning and cascade
triggers are identical, and amounts agree to rounding (the normal quantile here is Wichura's
AS241, scipy's is Cephes; both are accurate to about 1e-16). Tests run both on the same seeds and
require agreement to 1e-9 relative.

The kernel is used when numba is importable and every severity has a closed-form quantile
(lognormal, spliced lognormal-GPD, Pareto); otherwise, or with ``UW_ENGINE=numpy`` in the
environment, the NumPy engine runs, slower, with the same results.

Year loss table rows come out year by year (then scenario, then section), so a run's table does
not depend on the block size or the threads either. The NumPy engine orders its rows otherwise
(by block, scenario, section, then year); row order is not part of a table's meaning, and every
figure drawn from a table sums its rows by year, section or scenario.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from underwriting.engine._randomness import StreamKey
from underwriting.model import SECTION_INDEX, SECTIONS, LogNormal, LogNormalGPD, Pareto, Section
from underwriting.rating import RiskProfile
from underwriting.terms import DAYS_PER_MONTH, PolicyTerms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

N_SECTIONS = len(SECTIONS)
_RI = SECTION_INDEX[Section.RESEARCH_INTERRUPTION]

# Severity families the kernel evaluates (closed-form quantiles).
_LOGNORMAL, _LOGNORMAL_GPD, _PARETO = 0, 1, 2
# Impact bases.
_AMOUNT, _DAMAGE_RATIO, _DOWNTIME = 0, 1, 2
_BASES = {"amount": _AMOUNT, "damage_ratio": _DAMAGE_RATIO, "downtime_days": _DOWNTIME}


def switched_on() -> bool:
    """Whether the compiled kernel can run here (numba importable, not switched off)."""
    if os.environ.get("UW_ENGINE", "").strip().lower() == "numpy":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Plan:
    """A profile and its term sets flattened into arrays the kernel reads.

    Built once per run by :func:`make_plan`. ``arrays`` are, in the kernel's argument order (S
    scenarios, I impacts, C cascades, T term sets; ``inf`` stands for "none" in limits, caps and
    periods):

    - ``scenario_keys`` (S, 4) uint64: own stream key (low, high), count stream key (low, high);
    - ``scenario_int`` (S, 8): survival table start and end, first and end impact, shared
      occurrence (0/1), first cascade, number of cascades, and the largest hash word of a
      count uniform that draws at least one event (-1 for none: :func:`count_threshold`);
    - ``scenario_share`` (S,): share of the shared events the scenario takes part in;
    - ``tables``: every scenario's survival table ``P(N > k)``, end to end;
    - ``impact_int`` (I, 3): section, basis, severity family;
    - ``impact_float`` (I, 11): value, severity scale, hit probability, correlation, maximum
      days, then the severity's parameters;
    - ``cascade_int`` (C, 2): cascade number (it keys the draws), child scenario;
      ``cascade_probability`` (C,);
    - ``caps`` (7,): value at risk per section; ``active``: the sections any impact can hit;
    - ``terms_float`` (T, 7, 9): indemnity days, waiting days, deductible, deductible share,
      its minimum and maximum, limit, limit share, aggregate limit;
    - ``terms_flags`` (T, 7, 5): covered, time terms, deductible as a share, franchise, limit as
      a share;
    - ``policy`` (T, 3): aggregate deductible, aggregate limit, share.
    """

    arrays: tuple[npt.NDArray[Any], ...]
    n_scenarios: int
    n_term_sets: int
    rows_per_year: float
    """An upper bound on the expected year loss table rows per year (sizes the row buffers)."""


def _severity_parameters(severity: object) -> tuple[int, list[float]] | None:
    if isinstance(severity, LogNormal):
        return _LOGNORMAL, [severity.mu, severity.sigma, 0.0, 0.0, 0.0, 0.0]
    if isinstance(severity, LogNormalGPD):
        return _LOGNORMAL_GPD, [
            severity.mu,
            severity.sigma,
            severity.threshold,
            severity.xi,
            severity.beta,
            severity.tail_probability,
        ]
    if isinstance(severity, Pareto):
        return _PARETO, [severity.alpha, severity.scale, 0.0, 0.0, 0.0, 0.0]
    return None


def make_plan(
    profile: RiskProfile, keys: dict[str, StreamKey], terms: Sequence[PolicyTerms]
) -> Plan | None:
    """Flatten the profile and terms for the kernel; ``None`` if the kernel cannot run them."""
    index = {scenario.id: number for number, scenario in enumerate(profile.scenarios)}
    scenario_keys = np.zeros((len(profile.scenarios), 4), dtype=np.uint64)
    scenario_int = np.zeros((len(profile.scenarios), 8), dtype=np.int64)
    scenario_share = np.ones(len(profile.scenarios))
    tables: list[FloatArray] = []
    table_size = 0
    impact_int: list[list[int]] = []
    impact_float: list[list[float]] = []
    cascades = list(enumerate(profile.cascades))
    rows_per_year = 0.0
    for number, scenario in enumerate(profile.scenarios):
        own = keys[scenario.stream_id]
        shared = scenario.occurrence
        count_key = own if shared is None else keys[shared.stream]
        frequency = (
            scenario.frequency if shared is None else scenario.frequency.with_rate(shared.rate)
        )
        if shared is not None:
            scenario_share[number] = scenario.frequency.mean / shared.rate
        table = frequency.survival_table
        first_impact = len(impact_int)
        for impact in scenario.impacts:
            parameters = _severity_parameters(impact.severity)
            if parameters is None:
                return None
            family, values = parameters
            impact_int.append([SECTION_INDEX[impact.section], _BASES[impact.basis], family])
            impact_float.append(
                [
                    math.inf if impact.value is None else impact.value,
                    impact.severity_scale,
                    impact.probability,
                    impact.correlation,
                    math.inf if impact.max_days is None else impact.max_days,
                    *values,
                ]
            )
        own_cascades = [n for n, c in cascades if c.parent == scenario.id]
        scenario_keys[number] = (own.low, own.high, count_key.low, count_key.high)
        # Column 5 (the scenario's first cascade in the plan) is set below, once they are ordered.
        scenario_int[number, :5] = (
            table_size,
            table_size + table.size,
            first_impact,
            len(impact_int),
            int(shared is not None),
        )
        scenario_int[number, 6] = len(own_cascades)
        scenario_int[number, 7] = count_threshold(float(table[0]) if table.size else 0.0)
        tables.append(table)
        table_size += table.size
        sections = len(scenario.impacts) + (N_SECTIONS if own_cascades else 0)
        rows_per_year += min(frequency.mean, 1.0) * min(sections, N_SECTIONS)
    # Cascades of one parent are contiguous in the plan, in profile order (their numbers key
    # their draws, so each keeps its own number).
    ordered = sorted(cascades, key=lambda item: (index[item[1].parent], item[0]))
    cascade_int = np.array(
        [[n, index[c.child]] for n, c in ordered] or np.zeros((0, 2)), dtype=np.int64
    ).reshape(-1, 2)
    cascade_probability = np.array([c.probability for _, c in ordered], dtype=np.float64)
    for number, scenario in enumerate(profile.scenarios):
        positions = [p for p, (_, c) in enumerate(ordered) if c.parent == scenario.id]
        scenario_int[number, 5] = positions[0] if positions else 0
    caps = np.full(N_SECTIONS, math.inf)
    for section, cap in profile.value_at_risk.items():
        caps[SECTION_INDEX[section]] = cap
    terms_float = np.zeros((len(terms), N_SECTIONS, 9))
    terms_flags = np.zeros((len(terms), N_SECTIONS, 5), dtype=np.bool_)
    policy = np.zeros((len(terms), 3))
    for t, term_set in enumerate(terms):
        policy[t] = (
            term_set.aggregate_deductible,
            math.inf if term_set.aggregate_limit is None else term_set.aggregate_limit,
            term_set.share,
        )
        for section, st in term_set.sections.items():
            c = SECTION_INDEX[section]
            percent = st.deductible_percent_of_loss is not None
            terms_flags[t, c] = (
                True,
                st.has_time_terms,
                percent,
                st.franchise,
                st.limit_percent_of_loss is not None,
            )
            terms_float[t, c] = (
                math.inf
                if st.indemnity_period_months is None
                else st.indemnity_period_months * DAYS_PER_MONTH,
                st.waiting_period_days,
                st.deductible,
                st.deductible_percent_of_loss or 0.0,
                st.deductible_minimum,
                math.inf if st.deductible_maximum is None else st.deductible_maximum,
                math.inf if st.limit is None else st.limit,
                st.limit_percent_of_loss or 0.0,
                math.inf if st.aggregate_limit is None else st.aggregate_limit,
            )
    arrays: tuple[npt.NDArray[Any], ...] = (
        scenario_keys,
        scenario_int,
        scenario_share,
        np.concatenate(tables) if tables else np.zeros(0),
        np.array(impact_int, dtype=np.int64).reshape(-1, 3),
        np.array(impact_float, dtype=np.float64).reshape(-1, 11),
        cascade_int,
        cascade_probability,
        caps,
        np.array(sorted({row[0] for row in impact_int}), dtype=np.int64),
        terms_float,
        terms_flags,
        policy,
    )
    return Plan(
        arrays=arrays,
        n_scenarios=len(profile.scenarios),
        n_term_sets=len(terms),
        rows_per_year=rows_per_year,
    )


def _unit(word: int) -> float:
    """The uniform of a 53-bit hash word, computed as the kernel and ``randomness`` compute it."""
    return (float(word) + 0.5) * _TO_UNIT


def count_threshold(p_any: float) -> int:
    """The largest 53-bit hash word whose uniform ``q`` is at most ``p_any``, or -1 if none.

    A scenario draws at least one event in a year exactly when its count uniform ``q`` satisfies
    ``q <= P(N > 0)`` (``counts``: ``N = #{k: P(N > k) >= q}``). The uniform is non-decreasing
    in its hash word, so the test is the same as ``word <= count_threshold(P(N > 0))``: integer
    arithmetic only, which lets the compiler run the test for many years at once.
    """
    if not _unit(0) <= p_any:
        return -1
    good, bad = 0, 2**53  # words are below 2**53: the answer lies in [good, bad)
    while bad - good > 1:
        middle = (good + bad) // 2
        if _unit(middle) <= p_any:
            good = middle
        else:
            bad = middle
    return good


@dataclass(frozen=True)
class BlockOutput:
    """What the kernel returns for a block of years.

    Attributes
    ----------
    annual, max_occurrence
        Each term set's insured loss of each year, and its largest occurrence after the
        per-occurrence terms and the share (currency), shape ``(n_term_sets, n_years)``.
    annual_ground_up
        Ground-up loss of each year (currency), shape ``(n_years,)``.
    year, scenario, section
        Year loss table rows (absolute year, scenario index, section index), shape ``(rows,)``.
    ground_up
        The row's ground-up loss (currency), shape ``(rows,)``.
    insured
        The row's insured loss under each kept term set (currency), shape ``(n_kept, rows)``.
    """

    annual: FloatArray
    max_occurrence: FloatArray
    annual_ground_up: FloatArray
    year: npt.NDArray[np.int32]
    scenario: npt.NDArray[np.int16]
    section: npt.NDArray[np.int8]
    ground_up: FloatArray
    insured: FloatArray


MIN_YEARS_PER_THREAD = 4_096
"""A block is split among threads only where each gets at least this many years."""


def threads() -> int:
    """Threads the kernel uses: ``UW_THREADS`` from the environment, else every core.

    Results do not depend on it: each thread simulates whole years, and the pieces are put back
    in year order.
    """
    value = os.environ.get("UW_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"UW_THREADS must be a positive integer, got {value!r}")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_block(plan: Plan, first_year: int, n_years: int, keep: Sequence[bool]) -> BlockOutput:
    """Simulate years ``first_year .. first_year + n_years - 1`` under every term set.

    Year loss table rows are kept for the term sets where ``keep`` is true. The years are shared
    among :func:`threads` threads (the kernel runs without the GIL); the result is the same.
    """
    kept = np.flatnonzero(np.asarray(keep, dtype=np.bool_)).astype(np.int64)
    pieces = max(1, min(threads(), n_years // MIN_YEARS_PER_THREAD))
    bounds = [n_years * k // pieces for k in range(pieces + 1)]
    # Each piece writes its years' sums in place; only the year loss table rows are joined.
    annual = np.empty((plan.n_term_sets, n_years))
    max_occurrence = np.empty((plan.n_term_sets, n_years))
    annual_ground_up = np.empty(n_years)

    def piece(k: int) -> _Rows:
        return _run_piece(
            plan,
            first_year,
            bounds[k],
            bounds[k + 1] - bounds[k],
            kept,
            (annual, max_occurrence, annual_ground_up),
        )

    rows = [piece(0)] if pieces == 1 else list(_pool(pieces).map(piece, range(pieces)))
    return BlockOutput(
        annual=annual,
        max_occurrence=max_occurrence,
        annual_ground_up=annual_ground_up,
        year=_join([r.year for r in rows]),
        scenario=_join([r.scenario for r in rows]),
        section=_join([r.section for r in rows]),
        ground_up=_join([r.ground_up for r in rows]),
        insured=np.concatenate([r.insured for r in rows], axis=1)
        if pieces > 1
        else rows[0].insured,
    )


def _join(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


@dataclass(frozen=True)
class _Rows:
    """One piece's year loss table rows (the columns of :class:`BlockOutput`)."""

    year: npt.NDArray[np.int32]
    scenario: npt.NDArray[np.int16]
    section: npt.NDArray[np.int8]
    ground_up: FloatArray
    insured: FloatArray


_pools: list[ThreadPoolExecutor] = []
_pools_lock = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    """One pool for the process, with at least ``size`` threads (grown, never duplicated)."""
    with _pools_lock:
        if not _pools or _pools[0]._max_workers < size:
            if _pools:
                _pools.pop().shutdown(wait=False)
            _pools.append(ThreadPoolExecutor(size, thread_name_prefix="uw-kernel"))
        return _pools[0]


# A forked child inherits the pool object but not its threads: it starts a pool of its own.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pools.clear)


def _run_piece(
    plan: Plan,
    first_year: int,
    offset: int,
    n_years: int,
    kept: IntArray,
    sums: tuple[FloatArray, FloatArray, FloatArray],
) -> _Rows:
    """Years ``first_year + offset ..`` of a block: sums into ``sums`` at ``offset``, and rows."""
    capacity = int(n_years * plan.rows_per_year * 1.25) + 1024 if kept.size else 0
    kernel = _compiled()
    while True:
        out_year = np.empty(capacity, dtype=np.int32)
        out_scenario = np.empty(capacity, dtype=np.int16)
        out_section = np.empty(capacity, dtype=np.int8)
        out_ground_up = np.empty(capacity)
        out_insured = np.empty((kept.size, capacity))
        rows = kernel(
            np.int64(first_year + offset),
            np.int64(n_years),
            np.int64(offset),
            *plan.arrays,
            kept,
            *sums,
            out_year,
            out_scenario,
            out_section,
            out_ground_up,
            out_insured,
        )
        if rows >= 0:
            return _Rows(
                year=out_year[:rows],
                scenario=out_scenario[:rows],
                section=out_section[:rows],
                ground_up=out_ground_up[:rows],
                insured=out_insured[:, :rows],
            )
        capacity *= 2  # more rows than expected (rare): the piece is run again, identically


# --------------------------------------------------------------------------- kernel source
# Plain Python, compiled by numba on first use (``_compiled``). Integer constants are uint64 so
# that numba keeps the hash in 64-bit unsigned arithmetic, wrapping as NumPy's does.

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_U30, _U27, _U31, _U11, _U16 = (np.uint64(n) for n in (30, 27, 31, 11, 16))
_TO_UNIT = 2.0**-53
_ALL_BITS = np.uint64(2**64 - 1)
_DENSE_QUIET_SHARE = 0.25
"""Below this expected share of years without an event, the kernel skips its first pass."""
_COUNT_STEPS = 4
"""Counts found by walking the survival table before bisecting the rest of it."""
_SQRT1_2 = math.sqrt(0.5)
# Dimensions of an event's draws: the same as underwriting.engine's.
_DIM_HIT, _DIM_SEVERITY, _DIM_THIN, _DIM_CASCADE_TRIGGER, _DIM_CASCADE_BASE = 1, 2, 99, 100, 1000


def _mix(z: np.uint64) -> np.uint64:
    z = z ^ (z >> _U30)
    z = z * _M1
    z = z ^ (z >> _U27)
    z = z * _M2
    return z ^ (z >> _U31)


def _year_state(low: np.uint64, high: np.uint64, year: int) -> np.uint64:
    z = np.uint64(year) * _GAMMA + low
    return _mix(_mix(z) ^ high)


def _count_word(state: np.uint64) -> np.uint64:
    """The 53-bit hash word of a year's count uniform: ``_uniform(state, 0, 0)`` before scaling.

    Event 0 and dimension 0 hash to 0 (``_mix(0) == 0``), so only the state is mixed.
    """
    return _mix(state) >> _U11


def _uniform(state: np.uint64, event: int, dimension: int) -> float:
    z = ((np.uint64(event) << _U16) | np.uint64(dimension)) * _GAMMA
    z = _mix(_mix(z) ^ state) >> _U11
    return (float(z) + 0.5) * _TO_UNIT


def _ndtri(p: float) -> float:
    """The standard normal quantile (Wichura 1988, algorithm AS241, as CPython's statistics)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (
            (
                (
                    (
                        (
                            (
                                (2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r
                                + 6.7265770927008700853e4
                            )
                            * r
                            + 4.5921953931549871457e4
                        )
                        * r
                        + 1.3731693765509461125e4
                    )
                    * r
                    + 1.9715909503065514427e3
                )
                * r
                + 1.3314166789178437745e2
            )
            * r
            + 3.3871328727963666080e0
        ) * q
        den = (
            (
                (
                    (
                        (
                            (5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r
                            + 3.9307895800092710610e4
                        )
                        * r
                        + 2.1213794301586595867e4
                    )
                    * r
                    + 5.3941960214247511077e3
                )
                * r
                + 6.8718700749205790830e2
            )
            * r
            + 4.2313330701600911252e1
        ) * r + 1.0
        return num / den
    r = p if q <= 0.0 else 1.0 - p
    if r <= 0.0:
        return -math.inf if q < 0.0 else math.inf
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r = r - 1.6
        num = (
            (
                (
                    (
                        (
                            (7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                            + 2.41780725177450611770e-1
                        )
                        * r
                        + 1.27045825245236838258e0
                    )
                    * r
                    + 3.64784832476320460504e0
                )
                * r
                + 5.76949722146069140550e0
            )
            * r
            + 4.63033784615654529590e0
        ) * r + 1.42343711074968357734e0
        den = (
            (
                (
                    (
                        (
                            (1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                            + 1.51986665636164571966e-2
                        )
                        * r
                        + 1.48103976427480074590e-1
                    )
                    * r
                    + 6.89767334985100004550e-1
                )
                * r
                + 1.67638483018380384940e0
            )
            * r
            + 2.05319162663775882187e0
        ) * r + 1.0
    else:
        r = r - 5.0
        num = (
            (
                (
                    (
                        (
                            (2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                            + 1.24266094738807843860e-3
                        )
                        * r
                        + 2.65321895265761230930e-2
                    )
                    * r
                    + 2.96560571828504891230e-1
                )
                * r
                + 1.78482653991729133580e0
            )
            * r
            + 5.46378491116411436990e0
        ) * r + 6.65790464350110377720e0
        den = (
            (
                (
                    (
                        (
                            (2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                            + 1.84631831751005468180e-5
                        )
                        * r
                        + 7.86869131145613259100e-4
                    )
                    * r
                    + 1.48753612908506148525e-2
                )
                * r
                + 1.36929880922735805310e-1
            )
            * r
            + 5.99832206555887937690e-1
        ) * r + 1.0
    x = num / den
    return -x if q < 0.0 else x


def _severity(family: int, impact_float: FloatArray, i: int, z: float) -> float:
    """The severity of impact ``i`` at standard normal deviate ``z`` (``from_normal``)."""
    if family == _LOGNORMAL:
        return float(math.exp(impact_float[i, 5] + impact_float[i, 6] * z))
    q = 0.5 * math.erfc(z * _SQRT1_2)  # P(X > x) = ndtr(-z)
    if family == _PARETO:
        return float(impact_float[i, 6] * q ** (-1.0 / impact_float[i, 5]))
    mu, sigma, threshold = impact_float[i, 5], impact_float[i, 6], impact_float[i, 7]
    xi, beta, tail = impact_float[i, 8], impact_float[i, 9], impact_float[i, 10]
    if q < tail:
        ratio = min(q / tail, 1.0)
        excess = -beta * math.log(ratio) if xi == 0.0 else beta / xi * (ratio ** (-xi) - 1.0)
        return float(threshold + excess)
    return float(min(math.exp(mu - sigma * _ndtri(q)), threshold))


def _impacts(
    impact_int: IntArray,
    impact_float: FloatArray,
    first: int,
    last: int,
    state: np.uint64,
    factor_state: np.uint64,
    event: int,
    base: int,
    ground_up: FloatArray,
) -> tuple[float, float]:
    """Add one scenario's impacts of one event into ``ground_up``: ``(daily cost, downtime)``."""
    daily_cost = 0.0
    downtime = 0.0
    event_factor = math.nan  # drawn when an impact hit first needs it
    for i in range(first, last):
        column = impact_int[i, 0]
        basis = impact_int[i, 1]
        hit_probability = impact_float[i, 2]
        if hit_probability < 1.0 and not (
            _uniform(state, event, base + _DIM_HIT + 2 * column) < hit_probability
        ):
            # Not hit: a zero severity, as the NumPy engine's; its draws are not needed.
            severity = 0.0
        else:
            correlation = impact_float[i, 3]
            if correlation != 0.0 and math.isnan(event_factor):
                event_factor = _ndtri(_uniform(factor_state, event, base))
            if correlation == 1.0:
                z = event_factor
            else:
                own = _ndtri(_uniform(state, event, base + _DIM_SEVERITY + 2 * column))
                if correlation == 0.0:
                    z = own
                else:
                    z = math.sqrt(correlation) * event_factor + math.sqrt(1.0 - correlation) * own
            severity = _severity(impact_int[i, 2], impact_float, i, z) * impact_float[i, 1]
        if basis == _DAMAGE_RATIO:
            ground_up[column] += impact_float[i, 0] * min(severity, 1.0)
        elif basis == _DOWNTIME:
            downtime = max(downtime, min(severity, impact_float[i, 4]))
            daily_cost = impact_float[i, 0]
        else:
            ground_up[column] += min(severity, impact_float[i, 0])
    return daily_cost, downtime


def _paid(
    loss: float,
    downtime: float,
    daily_cost: float,
    terms_float: FloatArray,
    terms_flags: Any,
    t: int,
    c: int,
) -> float:
    """Steps 1-3 of the terms (``underwriting.terms``) for one event, term set and section."""
    if terms_flags[t, c, 1]:
        paid_days = max(min(downtime, terms_float[t, c, 0]) - terms_float[t, c, 1], 0.0)
        loss = min(paid_days * daily_cost, loss)
    if terms_flags[t, c, 2]:
        deductible = min(
            max(terms_float[t, c, 3] * loss, terms_float[t, c, 4]), terms_float[t, c, 5]
        )
    else:
        deductible = terms_float[t, c, 2]
    if terms_flags[t, c, 3]:
        paid = loss if loss > deductible else 0.0
    else:
        paid = max(loss - deductible, 0.0)
    paid = min(paid, terms_float[t, c, 6])
    if terms_flags[t, c, 4]:
        paid = min(paid, terms_float[t, c, 7] * loss)
    return float(paid)


def _simulate(
    first_year: int,
    n_years: int,
    out_offset: int,
    scenario_keys: Any,
    scenario_int: IntArray,
    scenario_share: FloatArray,
    tables: FloatArray,
    impact_int: IntArray,
    impact_float: FloatArray,
    cascade_int: IntArray,
    cascade_probability: FloatArray,
    caps: FloatArray,
    active: IntArray,
    terms_float: FloatArray,
    terms_flags: Any,
    policy: FloatArray,
    kept: IntArray,
    annual: FloatArray,
    max_occurrence: FloatArray,
    annual_ground_up: FloatArray,
    out_year: npt.NDArray[np.int32],
    out_scenario: npt.NDArray[np.int16],
    out_section: npt.NDArray[np.int8],
    out_ground_up: FloatArray,
    out_insured: FloatArray,
) -> int:
    n_scenarios = scenario_int.shape[0]
    n_terms = terms_float.shape[0]
    n_sections = caps.shape[0]
    n_active = active.shape[0]
    n_kept = kept.shape[0]
    capacity = out_ground_up.shape[0]
    ground_up = np.zeros(n_sections)
    hit = np.zeros(n_sections, dtype=np.int64)
    year_sections = np.zeros(n_sections, dtype=np.int64)
    child = np.zeros(n_sections)
    before = np.zeros((n_terms, n_sections))
    occurrence_max = np.zeros(n_terms)
    year_ground_up = np.zeros((n_scenarios, n_sections))
    year_paid = np.zeros((n_kept, n_scenarios, n_sections))
    had_events = np.zeros(n_scenarios, dtype=np.bool_)
    touched = np.zeros(n_sections, dtype=np.bool_)
    # First pass: which scenarios draw an event in which year, as one bit per scenario (bit 63
    # for every scenario from the 64th on). Only the count uniform's hash word is needed,
    # compared with an integer threshold, so the loop over years has no branch and is
    # vectorised. Most years of a lab have no event and end there.
    # Where most years have an event (the reference model: 86%), the first pass would only
    # hash every count twice: every scenario is then looked at in every year.
    quiet = 1.0
    for s in range(n_scenarios):
        if scenario_int[s, 0] < scenario_int[s, 1]:
            quiet *= 1.0 - tables[scenario_int[s, 0]]
    busy = np.zeros(n_years, dtype=np.uint64)
    if quiet < _DENSE_QUIET_SHARE:
        busy[:] = _ALL_BITS
    for s in range(n_scenarios):
        if scenario_int[s, 7] < 0 or quiet < _DENSE_QUIET_SHARE:
            continue
        threshold = np.uint64(scenario_int[s, 7])
        low = scenario_keys[s, 2]
        high = scenario_keys[s, 3]
        bit = np.uint64(min(s, 63))
        for i in range(n_years):
            drawn = _count_word(_year_state(low, high, first_year + i)) <= threshold
            busy[i] |= np.uint64(drawn) << bit
    rows = 0
    for i in range(n_years):
        if busy[i] == 0:
            annual_ground_up[out_offset + i] = 0.0
            for t in range(n_terms):
                annual[t, out_offset + i] = 0.0
                max_occurrence[t, out_offset + i] = 0.0
            continue
        year = first_year + i
        for t in range(n_terms):
            occurrence_max[t] = 0.0
        total_ground_up = 0.0
        any_event = False
        for s in range(n_scenarios):
            had_events[s] = False
            if (busy[i] >> np.uint64(min(s, 63))) & np.uint64(1) == 0:
                continue
            count_state = _year_state(scenario_keys[s, 2], scenario_keys[s, 3], year)
            if _count_word(count_state) > np.uint64(scenario_int[s, 7]):
                continue  # no event this year
            # Count: #{k: P(N > k) >= q} on the decreasing survival table. Counts are mostly
            # small: a few steps from the start of the table, then bisection of the rest.
            q = _uniform(count_state, 0, 0)
            lo = scenario_int[s, 0]
            hi = scenario_int[s, 1]
            while lo < hi and lo - scenario_int[s, 0] < _COUNT_STEPS:
                if tables[lo] >= q:
                    lo += 1
                else:
                    hi = lo
            while lo < hi:
                mid = (lo + hi) // 2
                if tables[mid] >= q:
                    lo = mid + 1
                else:
                    hi = mid
            count = lo - scenario_int[s, 0]
            shared = scenario_int[s, 4] != 0
            state = (
                _year_state(scenario_keys[s, 0], scenario_keys[s, 1], year)
                if shared
                else count_state
            )
            share = scenario_share[s]
            for event in range(1, count + 1):
                if shared and share < 1.0 and not _uniform(state, event, _DIM_THIN) < share:
                    continue
                if not had_events[s]:
                    had_events[s] = True
                    for a in range(n_active):
                        column = active[a]
                        year_ground_up[s, column] = 0.0
                        for k in range(n_kept):
                            year_paid[k, s, column] = 0.0
                any_event = True
                for a in range(n_active):
                    column = active[a]
                    ground_up[column] = 0.0
                daily_cost, downtime = _impacts(
                    impact_int,
                    impact_float,
                    scenario_int[s, 2],
                    scenario_int[s, 3],
                    state,
                    count_state,
                    event,
                    0,
                    ground_up,
                )
                for position in range(scenario_int[s, 5], scenario_int[s, 5] + scenario_int[s, 6]):
                    number = cascade_int[position, 0]
                    trigger = _uniform(state, event, _DIM_CASCADE_TRIGGER + number)
                    if not trigger < cascade_probability[position]:
                        continue
                    c = cascade_int[position, 1]
                    for a in range(n_active):
                        column = active[a]
                        child[column] = 0.0
                    child_daily, child_downtime = _impacts(
                        impact_int,
                        impact_float,
                        scenario_int[c, 2],
                        scenario_int[c, 3],
                        state,
                        state,
                        event,
                        _DIM_CASCADE_BASE * (number + 1),
                        child,
                    )
                    for a in range(n_active):
                        column = active[a]
                        ground_up[column] += child[column]
                    downtime = max(downtime, child_downtime)
                    if child_daily != 0.0:
                        daily_cost = max(daily_cost, child_daily)
                ground_up[_RI] = downtime * daily_cost
                event_total = 0.0
                n_hit = 0
                for a in range(n_active):
                    column = active[a]
                    ground_up[column] = min(ground_up[column], caps[column])
                    event_total += ground_up[column]
                    year_ground_up[s, column] += ground_up[column]
                    if ground_up[column] > 0.0:
                        hit[n_hit] = column
                        n_hit += 1
                        touched[column] = True
                total_ground_up += event_total
                # The terms pay nothing on a section without loss (deductibles are not negative),
                # so only the sections this event hit are visited.
                k = 0
                for t in range(n_terms):
                    keeping = k < n_kept and kept[k] == t
                    occurrence_total = 0.0
                    for h in range(n_hit):
                        column = hit[h]
                        if terms_flags[t, column, 0]:
                            paid = _paid(
                                ground_up[column],
                                downtime,
                                daily_cost,
                                terms_float,
                                terms_flags,
                                t,
                                column,
                            )
                            before[t, column] += paid
                            occurrence_total += paid
                            if keeping:
                                year_paid[k, s, column] += paid
                    occurrence_max[t] = max(occurrence_max[t], occurrence_total * policy[t, 2])
                    if keeping:
                        k += 1
        annual_ground_up[out_offset + i] = total_ground_up
        if not any_event:
            for t in range(n_terms):
                annual[t, out_offset + i] = 0.0
                max_occurrence[t, out_offset + i] = 0.0
            continue
        # The sections with a loss this year, in the order of ``active``: the others hold zeros,
        # which would add nothing to the sums below.
        n_touched = 0
        for a in range(n_active):
            column = active[a]
            if touched[column]:
                touched[column] = False
                year_sections[n_touched] = column
                n_touched += 1
        k = 0
        for t in range(n_terms):
            sections_total = 0.0
            for h in range(n_touched):
                column = year_sections[h]
                sections_total += min(before[t, column], terms_float[t, column, 8])
            year_loss = max(sections_total - policy[t, 0], 0.0)
            year_loss = min(year_loss, policy[t, 1]) * policy[t, 2]
            annual[t, out_offset + i] = year_loss
            max_occurrence[t, out_offset + i] = occurrence_max[t]
            if k < n_kept and kept[k] == t:
                # Allocate the year's amount back to sections and scenarios pro rata.
                policy_factor = year_loss / sections_total if sections_total > 0.0 else 0.0
                for h in range(n_touched):
                    column = year_sections[h]
                    after = min(before[t, column], terms_float[t, column, 8])
                    section_factor = after / before[t, column] if before[t, column] > 0.0 else 0.0
                    before[t, column] = section_factor * policy_factor
                k += 1
        # Year loss table rows: every (scenario, section) with a ground-up loss this year.
        for s in range(n_scenarios):
            if n_kept == 0 or not had_events[s]:
                continue
            for h in range(n_touched):
                column = year_sections[h]
                if year_ground_up[s, column] > 0.0:
                    if rows >= capacity:
                        return -1
                    out_year[rows] = year
                    out_scenario[rows] = s
                    out_section[rows] = column
                    out_ground_up[rows] = year_ground_up[s, column]
                    for k in range(n_kept):
                        out_insured[k, rows] = year_paid[k, s, column] * before[kept[k], column]
                    rows += 1
        for t in range(n_terms):
            for h in range(n_touched):
                before[t, year_sections[h]] = 0.0
    return rows


_HELPERS = (
    "_mix",
    "_year_state",
    "_count_word",
    "_uniform",
    "_ndtri",
    "_severity",
    "_impacts",
    "_paid",
)
_compile_lock = threading.Lock()
_kernel: list[Callable[..., int]] = []


def warm_up() -> bool:
    """Compile the kernel now (or load it from the on-disk cache) rather than on first use.

    A server calls it at start-up so that no request waits for the compiler. Returns whether the
    kernel is available here.
    """
    if not switched_on():
        return False
    # One year of a one-scenario profile: numba compiles (or loads) the kernel for the argument
    # types of every plan on the first call, not when the dispatcher is made.
    from underwriting.engine._randomness import stream_key
    from underwriting.model import Poisson
    from underwriting.rating import Scenario
    from underwriting.terms import SectionTerms

    scenario = Scenario(
        id="warm_up",
        frequency=Poisson(rate=1.0),
        severity=LogNormal(mu=0.0, sigma=1.0),
        section=Section.PROPERTY,
    )
    terms = PolicyTerms(sections={Section.PROPERTY: SectionTerms()})
    plan = make_plan(
        RiskProfile(scenarios=[scenario]), {"warm_up": stream_key(0, "warm_up")}, [terms]
    )
    assert plan is not None
    run_block(plan, 0, 1, [True])
    return True


def _compiled() -> Callable[..., int]:
    """The kernel, compiled by numba on first use (and cached on disk next to this module).

    Thread-safe: a server's worker threads may ask for it at once; one compiles, the others wait.
    """
    if _kernel:
        return _kernel[0]
    with _compile_lock:
        if not _kernel:
            _kernel.append(_compile())
    return _kernel[0]


def _compile() -> Callable[..., int]:
    import numba

    def jit(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return cast(Callable[[Callable[..., Any]], Callable[..., Any]], numba.njit(**options))

    # numba resolves the helpers by name in this module's globals when it compiles the kernel,
    # so the compiled versions replace the Python ones there. Inlined: no call overhead and no
    # reference counting of the arrays they read (the kernel also avoids slices for that reason).
    # error_model="numpy": no zero-division checks (every division here is guarded).
    namespace = globals()
    for name in _HELPERS:
        namespace[name] = jit(cache=True, inline="always", error_model="numpy")(namespace[name])
    return cast(Callable[..., int], jit(cache=True, nogil=True, error_model="numpy")(_simulate))
