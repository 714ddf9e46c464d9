"""The compiled engine's driver: a plan's block of years through the year loop, on threads.

The compiled engine makes exactly the same draws as the NumPy engine (the same SplitMix64 hash,
bit for bit, from ``_randomness``), so event counts, hits, thinning and cascade triggers are
identical, and amounts agree to rounding (the normal quantile here is Wichura's AS241, scipy's is
Cephes; both are accurate to about 1e-16). Tests run both on the same seeds and require
agreement to 1e-9 relative.

It runs where numba is importable and every severity has a closed-form quantile (lognormal,
spliced lognormal-GPD, Pareto); otherwise, or with ``UW_ENGINE=numpy`` in the environment, the
NumPy engine runs, slower, with the same results.

Year loss table rows come out year by year (then scenario, then section). The NumPy engine
orders its rows otherwise (by block, scenario, section, then year); row order is not part of a
table's meaning, and every figure drawn from a table sums its rows by year, section or scenario.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from underwriting.engine._plan import Plan, make_plan
from underwriting.engine._threads import map_pieces, split
from underwriting.engine._year_loop import compiled
from underwriting.model import LogNormal, Section
from underwriting.rating import RiskProfile
from underwriting.terms import PolicyTerms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def switched_on() -> bool:
    """Whether the compiled engine can run here (numba importable, not switched off)."""
    if os.environ.get("UW_ENGINE", "").strip().lower() == "numpy":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class BlockOutput:
    """What the compiled engine returns for a block of years.

    Attributes
    ----------
    annual, max_occurrence
        Each term set's insured loss of each year, and its largest occurrence after the
        per-occurrence terms and the share (currency), shape ``(n_term_sets, n_years)``.
    annual_ground_up
        Ground-up loss of each year (currency), shape ``(n_years,)``.
    controls
        The first term set's controls of each year: the sum of its impacts' controls
        (``_scalar.impacts``), their sum of squares and the sum of its events' totals squared
        (exact means in ``_control``), shape ``(3, n_years)`` (4 or 5 rows where asked:
        ``control_rows``), or ``(3, 0)`` where not asked.
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
    controls: FloatArray
    year: npt.NDArray[np.int32]
    scenario: npt.NDArray[np.int16]
    section: npt.NDArray[np.int8]
    ground_up: FloatArray
    insured: FloatArray


@dataclass(frozen=True)
class _Rows:
    """One piece's year loss table rows (the columns of :class:`BlockOutput`)."""

    year: npt.NDArray[np.int32]
    scenario: npt.NDArray[np.int16]
    section: npt.NDArray[np.int8]
    ground_up: FloatArray
    insured: FloatArray


def control_rows(controls: bool | int) -> int:
    """The rows of controls a run keeps: ``False`` (or 0) none; ``True`` (or 3) the three
    controls (``SimulationResult.controls``); 4 adds the sum of the year's events' totals cubed,
    5 also to the fourth power (``underwriting.engine.event_power_means`` gives their means)."""
    rows = 3 if controls is True else int(controls)
    if rows not in (0, 3, 4, 5):
        raise ValueError(f"controls must be False, True or 0, 3, 4, 5 rows, got {controls!r}")
    return rows


def run_block(
    plan: Plan, first_year: int, n_years: int, keep: Sequence[bool], controls: bool | int = False
) -> BlockOutput:
    """Simulate years ``first_year .. first_year + n_years - 1`` under every term set.

    Year loss table rows are kept for the term sets where ``keep`` is true, and the controls
    (``BlockOutput.controls``, else shape ``(3, 0)``) where ``controls`` is. The years are shared
    among :func:`underwriting.engine._threads.threads` threads (the loop runs without the GIL);
    the result is the same.
    """
    kept = np.flatnonzero(np.asarray(keep, dtype=np.bool_)).astype(np.int64)
    bounds = split(n_years)
    # Each piece writes its years' sums in place; only the year loss table rows are joined.
    annual = np.empty((plan.n_term_sets, n_years))
    max_occurrence = np.empty((plan.n_term_sets, n_years))
    annual_ground_up = np.empty(n_years)
    n_controls = control_rows(controls)
    controls_out = np.empty((max(n_controls, 3), n_years if n_controls else 0))

    def piece(k: int) -> _Rows:
        return _run_piece(
            plan,
            first_year,
            bounds[k],
            bounds[k + 1] - bounds[k],
            kept,
            (annual, max_occurrence, annual_ground_up, controls_out),
        )

    rows = map_pieces(piece, len(bounds) - 1)
    return BlockOutput(
        annual=annual,
        max_occurrence=max_occurrence,
        annual_ground_up=annual_ground_up,
        controls=controls_out,
        year=_join([r.year for r in rows]),
        scenario=_join([r.scenario for r in rows]),
        section=_join([r.section for r in rows]),
        ground_up=_join([r.ground_up for r in rows]),
        insured=np.concatenate([r.insured for r in rows], axis=1)
        if len(rows) > 1
        else rows[0].insured,
    )


def _join(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _run_piece(
    plan: Plan,
    first_year: int,
    offset: int,
    n_years: int,
    kept: IntArray,
    sums: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
) -> _Rows:
    """Years ``first_year + offset ..`` of a block: sums into ``sums`` at ``offset``, and rows."""
    capacity = int(n_years * plan.rows_per_year * 1.25) + 1024 if kept.size else 0
    loop = compiled()
    while True:
        out_year = np.empty(capacity, dtype=np.int32)
        out_scenario = np.empty(capacity, dtype=np.int16)
        out_section = np.empty(capacity, dtype=np.int8)
        out_ground_up = np.empty(capacity)
        out_insured = np.empty((kept.size, capacity))
        rows = loop(
            np.int64(first_year + offset),
            np.int64(n_years),
            np.int64(offset),
            plan.scenarios,
            plan.tables,
            plan.impacts,
            plan.cascades,
            plan.caps,
            plan.active,
            plan.section_terms,
            plan.policy,
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


def warm_up() -> bool:
    """Compile the compiled engine now (or load it from the on-disk cache), not on first use.

    A server calls it at start-up so that no request waits for the compiler. Returns whether the
    compiled engine is available here.
    """
    if not switched_on():
        return False
    # One year of a one-scenario profile: numba compiles (or loads) the loop for the argument
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
