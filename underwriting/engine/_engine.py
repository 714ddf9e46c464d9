"""One interface, two engines: the NumPy reference and the compiled engine, chosen once.

An :class:`Engine` is bound to one run: a profile, its stream keys and its term sets. It
simulates any block of years, in any order and in any process, as a pure function of the block.
:func:`choose_engine` picks it once, on the client, from the ``engine`` argument, the
``UW_ENGINE`` environment variable and what this machine and the profile allow; the object is then
sent as it is to every Dask worker, so a cluster never mixes engines (a worker that cannot run the
compiled engine fails with numba's import error rather than falling back).

Both engines draw the same uniforms (``_randomness``): event counts, hits, thinning and cascade
triggers are identical, and amounts agree to 1e-9 relative (the normal quantiles are computed by
different routines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from underwriting.engine._compiled import control_rows, run_block, switched_on
from underwriting.engine._numpy import (
    block_year_loss_table,
    event_loss_table,
    simulate_block_events,
    terms_table,
)
from underwriting.engine._plan import Plan, make_plan
from underwriting.engine._randomness import StreamKey
from underwriting.rating import RiskProfile
from underwriting.results import YearLossTable
from underwriting.terms import PolicyTerms, annual_insured, apply_terms

FloatArray = npt.NDArray[np.float64]

EngineChoice = Literal["auto", "compiled", "numpy"]
"""Which engine simulates: the compiled one where it can (``auto``), or one of them."""


@dataclass(frozen=True, slots=True)
class BlockResult:
    """One block's share of a run: what ``simulate_many`` puts in its arrays.

    ``annual`` and ``max_occurrence`` have shape ``(n_term_sets, n_years)``; ``tables`` holds a
    year loss table for each term set that keeps one, else ``None``. ``controls``, shape
    ``(3, n_years)`` (4 or 5 rows where asked: ``control_rows``), holds each year's controls
    under the first term set (``_control``).
    """

    first_year: int
    annual: FloatArray
    max_occurrence: FloatArray
    annual_ground_up: FloatArray
    tables: tuple[YearLossTable | None, ...]
    controls: FloatArray


class Engine(Protocol):
    """Simulates blocks of years of one run (a profile, its stream keys and its term sets)."""

    @property
    def name(self) -> Literal["compiled", "numpy"]:
        """Which engine this is."""
        ...

    def block(
        self, first: int, size: int, keep: Sequence[bool], controls: bool | int = False
    ) -> BlockResult:
        """Years ``first .. first + size - 1`` under every term set, with a year loss table
        for each term set where ``keep`` is true, and the first term set's controls where
        ``controls`` asks for them (``control_rows``; else shape ``(3, 0)``)."""
        ...

    def annual(self, first: int, size: int) -> FloatArray:
        """The insured loss of each year ``first .. first + size - 1`` under the first term set
        (a portfolio lab's only one), and nothing else."""
        ...


@dataclass(frozen=True)
class NumpyEngine:
    """The NumPy reference engine: events drawn block by block with arrays (``_numpy``)."""

    profile: RiskProfile
    terms: tuple[PolicyTerms, ...]
    keys: dict[str, StreamKey]

    @property
    def name(self) -> Literal["numpy"]:
        return "numpy"

    def block(
        self, first: int, size: int, keep: Sequence[bool], controls: bool | int = False
    ) -> BlockResult:
        rows = control_rows(controls)
        events = simulate_block_events(
            self.profile, self.keys, first, size, self.terms[0] if rows else None
        )
        kept_controls = np.zeros((3, 0))
        if rows:
            totals = events.control[:, 0]
            powers = [totals, events.control[:, 1], totals**2]
            powers += [totals**power for power in range(3, rows)]  # cubes, then 4th powers
            kept_controls = np.stack(
                [np.bincount(events.year, weights=weights, minlength=size) for weights in powers]
            ).astype(np.float64)
        annual_ground_up = np.bincount(
            events.year, weights=events.ground_up.sum(axis=1), minlength=size
        ).astype(np.float64)
        event_years, table = terms_table(events)
        annual = np.zeros((len(self.terms), size))
        max_occurrence = np.zeros((len(self.terms), size))
        tables: list[YearLossTable | None] = []
        for index, term_set in enumerate(self.terms):
            if keep[index]:
                insured = apply_terms(table, term_set)
                year_losses, occurrence = insured.annual, insured.occurrence
                tables.append(
                    block_year_loss_table(
                        events, insured.by_event, first, len(self.profile.scenarios)
                    )
                )
            else:
                year_losses, occurrence = annual_insured(table, term_set)
                tables.append(None)
            annual[index, event_years] = year_losses
            block_max = np.zeros(event_years.size)
            np.maximum.at(block_max, table.year, occurrence.sum(axis=1) * term_set.share)
            max_occurrence[index, event_years] = block_max
        return BlockResult(
            first, annual, max_occurrence, annual_ground_up, tuple(tables), kept_controls
        )

    def annual(self, first: int, size: int) -> FloatArray:
        events = simulate_block_events(self.profile, self.keys, first, size)
        annual, _ = annual_insured(event_loss_table(events, size), self.terms[0])
        return annual


@dataclass(frozen=True)
class CompiledEngine:
    """The compiled engine: the plan (``_plan``) run through the year loop on threads."""

    plan: Plan

    @property
    def name(self) -> Literal["compiled"]:
        return "compiled"

    def block(
        self, first: int, size: int, keep: Sequence[bool], controls: bool | int = False
    ) -> BlockResult:
        out = run_block(self.plan, first, size, keep, controls)
        tables: list[YearLossTable | None] = []
        kept = 0
        for index in range(self.plan.n_term_sets):
            if not keep[index]:
                tables.append(None)
                continue
            # Views of the loop's row buffers (the run's concatenation copies them once).
            tables.append(
                YearLossTable(
                    year=out.year,
                    scenario=out.scenario,
                    section=out.section,
                    ground_up=out.ground_up,
                    insured=out.insured[kept],
                )
            )
            kept += 1
        return BlockResult(
            first, out.annual, out.max_occurrence, out.annual_ground_up, tuple(tables), out.controls
        )

    def annual(self, first: int, size: int) -> FloatArray:
        annual: FloatArray = run_block(self.plan, first, size, [False]).annual[0]
        return annual


def choose_engine(
    profile: RiskProfile,
    keys: dict[str, StreamKey],
    terms: Sequence[PolicyTerms],
    engine: EngineChoice = "auto",
) -> Engine:
    """The engine for this run, chosen once.

    ``auto`` takes the compiled engine where it can run (numba importable, not switched off by
    ``UW_ENGINE=numpy``, every severity with a closed-form quantile) and the NumPy engine
    otherwise; ``compiled`` raises ``ValueError`` where it cannot run; ``numpy`` always runs the
    NumPy engine.
    """
    if engine not in ("auto", "compiled", "numpy"):
        raise ValueError(f"engine must be 'auto', 'compiled' or 'numpy', got {engine!r}")
    if engine != "numpy":
        plan = make_plan(profile, keys, terms) if switched_on() else None
        if plan is not None:
            return CompiledEngine(plan)
        if engine == "compiled":
            raise ValueError(
                "the compiled engine cannot run here: it needs numba (not switched off by "
                "UW_ENGINE=numpy) and severities with closed-form quantiles (lognormal, "
                "lognormal_gpd, pareto); use engine='auto' or 'numpy'"
            )
    return NumpyEngine(profile, tuple(terms), keys)
