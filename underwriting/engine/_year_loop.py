"""The compiled engine's year loop: one pass per year, no temporary arrays.

A first pass over a block's years finds which scenarios have an event in which year from the
count uniforms' hash words alone (an integer comparison, vectorised); most years of a lab have
none and are done. For each other year the loop draws the event counts of the scenarios that
have one, and for each event its impacts and cascades (``_scalar.impacts``: inverse CDF of the
same uniforms as the NumPy engine), caps the section losses, applies every set of policy terms to
the sections hit and then to the year (the terms' scalar form from ``underwriting.terms``:
``occurrence_terms``, ``section_aggregate``, ``year_terms``) and adds the year's sums, all in
registers and a few small scratch arrays. It reads the plan's record arrays by field name
(``_plan``). It is compiled with numba, as OasisLMF's ``gulmc`` and ``fmpy`` are.

Year loss table rows come out year by year (then scenario, then section), so a run's table does
not depend on the block size or the threads either.

numba's on-disk cache of the loop is keyed by this file alone, while the scalar functions it
inlines live in ``engine/_scalar.py`` and ``terms/_scalar.py`` (and the constants it freezes in
``_randomness.py`` and ``_plan.py``). So this file records the sha256 of those sources in
``INLINED_SOURCES_SHA256``, and a test fails when they change until the digest here is updated:
updating it changes this file, which makes numba compile the loop afresh instead of running the
old cached code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt

import underwriting.engine._scalar as _scalar
from underwriting.engine._randomness import (
    DIM_CASCADE_BASE,
    DIM_CASCADE_TRIGGER,
    DIM_COUNT,
    DIM_THIN,
)
from underwriting.engine._scalar import count_word, impacts, uniform, year_state
from underwriting.model import SECTION_INDEX, Section
from underwriting.terms import SCALAR_TERMS, occurrence_terms, section_aggregate, year_terms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_RI = SECTION_INDEX[Section.RESEARCH_INTERRUPTION]
_ALL_BITS = np.uint64(2**64 - 1)
_DENSE_QUIET_SHARE = 0.25
"""Below this expected share of years without an event, the loop skips its first pass."""
_COUNT_STEPS = 4
"""Counts found by walking the survival table before bisecting the rest of it."""

INLINED_SOURCES = (
    "engine/_scalar.py",
    "terms/_scalar.py",
    "engine/_randomness.py",
    "engine/_plan.py",
)
"""The package's files whose code or constants the compiled loop takes in (paths under
``underwriting/``)."""
INLINED_SOURCES_SHA256 = "d217d9e872da8c7c073ab7ad580b4ab05d37de19ff96626097f4d92ff5488428"
"""sha256 of those files' bytes, in that order; see the module docstring."""


def year_loop(
    first_year: int,
    n_years: int,
    out_offset: int,
    scenarios: Any,
    tables: FloatArray,
    impact_records: Any,
    cascades: Any,
    caps: FloatArray,
    active: IntArray,
    section_terms: Any,
    policy: Any,
    kept: IntArray,
    annual: FloatArray,
    max_occurrence: FloatArray,
    annual_ground_up: FloatArray,
    controls: FloatArray,
    out_year: npt.NDArray[np.int32],
    out_scenario: npt.NDArray[np.int16],
    out_section: npt.NDArray[np.int8],
    out_ground_up: FloatArray,
    out_insured: FloatArray,
) -> int:
    """Simulate years ``first_year .. first_year + n_years - 1`` of a plan (its fields, by name).

    Writes each year's sums at ``out_offset + i`` of ``annual``, ``max_occurrence`` (each term
    set's), ``annual_ground_up`` and, where ``controls`` has room for the years (shape ``(3, 0)``
    asks for none), the first term set's controls: the year's sum of its impacts' controls
    (``_scalar.impacts``), their sum of squares, and the sum of its events' totals squared (and,
    where ``controls`` has four or five rows, cubed, then to the fourth power: ``control_rows``);
    and the year loss table rows of the term sets in ``kept`` into the ``out_*`` buffers;
    returns the number of rows, or -1 where the buffers are too small (the caller runs the
    piece again with larger ones).
    """
    n_scenarios = scenarios.shape[0]
    n_terms = policy.shape[0]
    # The controls are drawn only where asked (a ``controls`` array with years); 0 turns them off.
    control_share = policy[0]["share"] if controls.shape[1] > 0 else 0.0
    cubes = controls.shape[0] >= 4  # row 3: the events' totals cubed; row 4: to the fourth
    fourths = controls.shape[0] >= 5
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
        if scenarios[s]["table_start"] < scenarios[s]["table_end"]:
            quiet *= 1.0 - tables[scenarios[s]["table_start"]]
    busy = np.zeros(n_years, dtype=np.uint64)
    if quiet < _DENSE_QUIET_SHARE:
        busy[:] = _ALL_BITS
    for s in range(n_scenarios):
        if scenarios[s]["count_threshold"] < 0 or quiet < _DENSE_QUIET_SHARE:
            continue
        threshold = np.uint64(scenarios[s]["count_threshold"])
        low = scenarios[s]["count_key_low"]
        high = scenarios[s]["count_key_high"]
        bit = np.uint64(min(s, 63))
        for i in range(n_years):
            drawn = count_word(year_state(low, high, first_year + i)) <= threshold
            busy[i] |= np.uint64(drawn) << bit
    rows = 0
    for i in range(n_years):
        if busy[i] == 0:
            annual_ground_up[out_offset + i] = 0.0
            if control_share > 0.0:
                controls[0, out_offset + i] = 0.0
                controls[1, out_offset + i] = 0.0
                controls[2, out_offset + i] = 0.0
                if cubes:
                    controls[3, out_offset + i] = 0.0
                if fourths:
                    controls[4, out_offset + i] = 0.0
            for t in range(n_terms):
                annual[t, out_offset + i] = 0.0
                max_occurrence[t, out_offset + i] = 0.0
            continue
        year = first_year + i
        for t in range(n_terms):
            occurrence_max[t] = 0.0
        total_ground_up = 0.0
        year_control = 0.0
        year_control_squared = 0.0
        year_event_squares = 0.0
        year_event_cubes = 0.0
        year_event_fourths = 0.0
        any_event = False
        for s in range(n_scenarios):
            had_events[s] = False
            if (busy[i] >> np.uint64(min(s, 63))) & np.uint64(1) == 0:
                continue
            scenario = scenarios[s]
            count_state = year_state(scenario["count_key_low"], scenario["count_key_high"], year)
            if count_word(count_state) > np.uint64(scenario["count_threshold"]):
                continue  # no event this year
            # Count: #{k: P(N > k) >= q} on the decreasing survival table. Counts are mostly
            # small: a few steps from the start of the table, then bisection of the rest.
            q = uniform(count_state, 0, DIM_COUNT)
            lo = scenario["table_start"]
            hi = scenario["table_end"]
            while lo < hi and lo - scenario["table_start"] < _COUNT_STEPS:
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
            count = lo - scenario["table_start"]
            shared = scenario["shared"] != 0
            state = (
                year_state(scenario["key_low"], scenario["key_high"], year)
                if shared
                else count_state
            )
            share = scenario["share"]
            for event in range(1, count + 1):
                if shared and share < 1.0 and not uniform(state, event, DIM_THIN) < share:
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
                daily_cost, downtime, control, control_squared = impacts(
                    impact_records,
                    scenario["first_impact"],
                    scenario["end_impact"],
                    state,
                    count_state,
                    event,
                    0,
                    ground_up,
                    caps,
                    section_terms,
                    control_share,
                )
                year_control += control
                year_control_squared += control_squared
                event_control = control
                first_cascade = scenario["first_cascade"]
                for position in range(first_cascade, first_cascade + scenario["n_cascades"]):
                    number = cascades[position]["number"]
                    trigger = uniform(state, event, DIM_CASCADE_TRIGGER + number)
                    if not trigger < cascades[position]["probability"]:
                        continue
                    c = cascades[position]["child"]
                    for a in range(n_active):
                        column = active[a]
                        child[column] = 0.0
                    child_daily, child_downtime, control, control_squared = impacts(
                        impact_records,
                        scenarios[c]["first_impact"],
                        scenarios[c]["end_impact"],
                        state,
                        state,
                        event,
                        DIM_CASCADE_BASE * (number + 1),
                        child,
                        caps,
                        section_terms,
                        control_share,
                    )
                    year_control += control
                    year_control_squared += control_squared
                    event_control += control
                    for a in range(n_active):
                        column = active[a]
                        ground_up[column] += child[column]
                    downtime = max(downtime, child_downtime)
                    if child_daily != 0.0:
                        daily_cost = max(daily_cost, child_daily)
                ground_up[_RI] = downtime * daily_cost
                squared = event_control * event_control
                year_event_squares += squared
                if cubes:
                    year_event_cubes += squared * event_control
                if fourths:
                    year_event_fourths += squared * squared
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
                        if section_terms[t, column]["covered"]:
                            amount = occurrence_terms(
                                ground_up[column], downtime, daily_cost, section_terms[t, column]
                            )
                            before[t, column] += amount
                            occurrence_total += amount
                            if keeping:
                                year_paid[k, s, column] += amount
                    occurrence_max[t] = max(
                        occurrence_max[t], occurrence_total * policy[t]["share"]
                    )
                    if keeping:
                        k += 1
        annual_ground_up[out_offset + i] = total_ground_up
        if control_share > 0.0:
            controls[0, out_offset + i] = year_control
            controls[1, out_offset + i] = year_control_squared
            controls[2, out_offset + i] = year_event_squares
            if cubes:
                controls[3, out_offset + i] = year_event_cubes
            if fourths:
                controls[4, out_offset + i] = year_event_fourths
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
                sections_total += section_aggregate(before[t, column], section_terms[t, column])
            year_loss = year_terms(sections_total, policy[t])
            annual[t, out_offset + i] = year_loss
            max_occurrence[t, out_offset + i] = occurrence_max[t]
            if k < n_kept and kept[k] == t:
                # Allocate the year's amount back to sections and scenarios pro rata.
                policy_factor = year_loss / sections_total if sections_total > 0.0 else 0.0
                for h in range(n_touched):
                    column = year_sections[h]
                    after = section_aggregate(before[t, column], section_terms[t, column])
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


_compile_lock = threading.Lock()
_compiled: list[Callable[..., int]] = []


def compiled() -> Callable[..., int]:
    """The year loop, compiled by numba on first use (and cached on disk next to this module).

    Thread-safe: a server's worker threads may ask for it at once; one compiles, the others wait.
    """
    if _compiled:
        return _compiled[0]
    with _compile_lock:
        if not _compiled:
            _compiled.append(_compile())
    return _compiled[0]


def _compile() -> Callable[..., int]:
    import numba

    def jit(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return cast(Callable[[Callable[..., Any]], Callable[..., Any]], numba.njit(**options))

    # numba resolves the scalar functions by name in the globals of the module that calls them
    # when it compiles, so the compiled versions replace the Python ones in ``_scalar`` (where
    # they call each other) and here (where the loop calls them). Inlined: no call overhead and
    # no reference counting of the arrays they read (the loop also avoids slices for that
    # reason). error_model="numpy": no zero-division checks (every division here is guarded).
    # The terms' scalar functions are leaves (they call nothing of the package): compiled
    # first, for the loop and for ``_scalar.impacts``, which applies them for its control.
    namespace = globals()
    for term in SCALAR_TERMS:
        function = jit(cache=True, inline="always", error_model="numpy")(term)
        namespace[term.__name__] = function
        if hasattr(_scalar, term.__name__):
            setattr(_scalar, term.__name__, function)
    for name in _scalar.HELPERS:
        function = jit(cache=True, inline="always", error_model="numpy")(getattr(_scalar, name))
        setattr(_scalar, name, function)
        if name in namespace:
            namespace[name] = function
    return cast(Callable[..., int], jit(cache=True, nogil=True, error_model="numpy")(year_loop))
