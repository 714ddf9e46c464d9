"""The NumPy engine, the reference: a block's events drawn with arrays, no loop per year.

Per block, for each scenario: the count of events in each year (inverse CDF of the frequency),
then for each event a common severity factor and, per section impact, whether the section is hit
and how badly (inverse CDF through a Gaussian copula), then cascades (a child scenario's impacts
inside the parent's occurrence). Section losses of an event are capped at the section's value at
risk. The policy terms are then applied to all events of the block at once
(:func:`underwriting.terms.apply_terms`, in ``_engine.NumpyEngine``), and the block's year loss
table is kept. Nothing loops in Python per year or per event: only per block, scenario and
impact. Every uniform comes from ``_randomness``, as the compiled engine's do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from underwriting.engine._randomness import (
    DIM_CASCADE_BASE,
    DIM_CASCADE_TRIGGER,
    DIM_COUNT,
    DIM_EVENT_FACTOR,
    DIM_HIT,
    DIM_SEVERITY,
    DIM_THIN,
    StreamKey,
    uniforms_from_states,
    year_states,
)
from underwriting.model import SECTION_INDEX, SECTIONS, Section
from underwriting.rating import RiskProfile, Scenario, SectionImpact
from underwriting.results import YearLossTable
from underwriting.terms import EventLossTable, PolicyTerms, occurrence_payments

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_RI = SECTION_INDEX[Section.RESEARCH_INTERRUPTION]


@dataclass(frozen=True, slots=True)
class BlockEvents:
    """The events of one block of years, ordered by scenario, then year, then event index.

    Attributes
    ----------
    year
        Year of each event, relative to the block's first year, shape ``(n_events,)``.
    scenario
        Index of each event's scenario in the profile, shape ``(n_events,)``.
    event
        Index of the event within its year and scenario (1-based), shape ``(n_events,)``.
    ground_up
        Ground-up loss per event and section (currency), shape ``(n_events, len(SECTIONS))``.
    downtime_days
        Research-interruption downtime of each event (days), shape ``(n_events,)``.
    daily_cost
        Research cost per day (currency), shape ``(n_events,)``.
    control
        Each event's control and its sum of squares under the control terms (the compiled
        engine's ``_scalar.impacts``), shape ``(n_events, 2)``; zeros without control terms.
    """

    year: IntArray
    scenario: IntArray
    event: IntArray
    ground_up: FloatArray
    downtime_days: FloatArray
    daily_cost: FloatArray
    control: FloatArray


@dataclass(frozen=True, slots=True)
class _Control:
    """What the control of an impact needs: the main terms and the sections' caps."""

    terms: PolicyTerms
    caps: dict[Section, float]

    def add(
        self, impact: SectionImpact, capped: FloatArray, amount: FloatArray, control: FloatArray
    ) -> None:
        """Add an impact's control (its own capped loss through the main terms' per-occurrence
        terms, times the share) and its square into ``control``, shape ``(n_events, 2)``.
        ``amount`` is the sampled severity, 0 where the impact missed."""
        section = (
            Section.RESEARCH_INTERRUPTION if impact.basis == "downtime_days" else impact.section
        )
        terms = self.terms.sections.get(section)
        if terms is None or (
            section is Section.RESEARCH_INTERRUPTION and impact.basis != "downtime_days"
        ):
            return
        if impact.basis == "downtime_days":
            assert impact.value is not None
            days: FloatArray | None = capped
            daily: FloatArray | None = np.full(capped.shape, impact.value)
            loss = capped * impact.value
        else:
            days = daily = None
            loss = capped
        loss = np.minimum(loss, self.caps.get(section, np.inf))
        paid = np.where(amount > 0.0, occurrence_payments(loss, terms, days, daily), 0.0)
        paid *= self.terms.share
        control[:, 0] += paid
        control[:, 1] += paid * paid


def _normal(states: npt.NDArray[np.uint64], events: IntArray, dimension: int) -> FloatArray:
    return np.asarray(special.ndtri(uniforms_from_states(states, events, dimension)))


def _draw_impacts(
    scenario: Scenario,
    states: npt.NDArray[np.uint64],
    events: IntArray,
    base: int,
    ground_up: FloatArray,
    downtime_days: FloatArray,
    factor_states: npt.NDArray[np.uint64] | None = None,
    control: tuple[_Control, FloatArray] | None = None,
) -> float:
    """Add one scenario's impacts for the given events into ``ground_up`` and ``downtime_days``.

    ``factor_states`` (default ``states``) key the event's common severity factor: a shared
    stream for site-level events, so that every lab hit by one event sees the same severity
    percentile. ``control`` adds the events' controls into its array. Returns the daily
    research cost of the research-interruption impact (0 if none).
    """
    daily_cost = 0.0
    event_factor = _normal(
        states if factor_states is None else factor_states, events, base + DIM_EVENT_FACTOR
    )
    for impact in scenario.impacts:
        column = SECTION_INDEX[impact.section]
        if impact.factor_loading_squared == 1.0:
            z = event_factor
        else:
            own = _normal(states, events, base + DIM_SEVERITY + 2 * column)
            if impact.factor_loading_squared == 0.0:
                z = own
            else:
                rho = impact.factor_loading_squared
                z = np.sqrt(rho) * event_factor + np.sqrt(1.0 - rho) * own
        severity = impact.severity.from_normal(z) * impact.severity_scale
        if impact.probability < 1.0:
            hit = uniforms_from_states(states, events, base + DIM_HIT + 2 * column)
            severity = np.where(hit < impact.probability, severity, 0.0)
        capped = impact.capped(severity)
        if impact.basis == "downtime_days":
            assert impact.value is not None
            np.maximum(downtime_days, capped, out=downtime_days)
            daily_cost = impact.value
        else:
            ground_up[:, column] += capped
        if control is not None:
            control[0].add(impact, capped, severity, control[1])
    return daily_cost


def simulate_block_events(
    profile: RiskProfile,
    keys: dict[str, StreamKey],
    first_year: int,
    n_years: int,
    control_terms: PolicyTerms | None = None,
) -> BlockEvents:
    """Simulate the events of years ``first_year .. first_year + n_years - 1``, with each
    event's control under ``control_terms`` where given."""
    control = None if control_terms is None else _Control(control_terms, profile.value_at_risk)
    years = np.arange(first_year, first_year + n_years, dtype=np.int64)
    parts: list[tuple[IntArray, int, IntArray, FloatArray, FloatArray, FloatArray, FloatArray]]
    parts = []
    for index, scenario in enumerate(profile.scenarios):
        states = year_states(keys[scenario.stream_id], years)
        shared = scenario.occurrence
        if shared is None:
            count_states, frequency = states, scenario.frequency
        else:
            count_states = year_states(keys[shared.stream], years)
            frequency = scenario.frequency.with_rate(shared.rate)
        counts = frequency.counts(
            uniforms_from_states(count_states, np.zeros(n_years, dtype=np.int64), DIM_COUNT)
        )
        total = int(counts.sum())
        if total == 0:
            continue
        local_year = np.repeat(np.arange(n_years, dtype=np.int64), counts)
        first_of_year = np.cumsum(counts) - counts
        event = np.arange(total, dtype=np.int64) - np.repeat(first_of_year, counts) + 1
        event_states = states[local_year]
        factor_states = None
        if shared is not None:
            factor_states = count_states[local_year]
            share = scenario.frequency.mean / shared.rate
            if share < 1.0:
                taken = uniforms_from_states(event_states, event, DIM_THIN) < share
                local_year, event = local_year[taken], event[taken]
                event_states, factor_states = event_states[taken], factor_states[taken]
                total = int(local_year.size)
                if total == 0:
                    continue
        ground_up = np.zeros((total, len(SECTIONS)))
        downtime = np.zeros(total)
        controls = np.zeros((total, 2))
        daily = np.full(
            total,
            _draw_impacts(
                scenario,
                event_states,
                event,
                0,
                ground_up,
                downtime,
                factor_states=factor_states,
                control=None if control is None else (control, controls),
            ),
        )
        for number, cascade in enumerate(profile.cascades):
            if cascade.parent != scenario.id:
                continue
            trigger = uniforms_from_states(event_states, event, DIM_CASCADE_TRIGGER + number)
            (triggered,) = np.nonzero(trigger < cascade.probability)
            if triggered.size == 0:
                continue
            child_ground_up = np.zeros((triggered.size, len(SECTIONS)))
            child_downtime = np.zeros(triggered.size)
            child_controls = np.zeros((triggered.size, 2))
            child_daily = _draw_impacts(
                profile.scenario(cascade.child),
                event_states[triggered],
                event[triggered],
                DIM_CASCADE_BASE * (number + 1),
                child_ground_up,
                child_downtime,
                control=None if control is None else (control, child_controls),
            )
            ground_up[triggered] += child_ground_up
            controls[triggered] += child_controls
            downtime[triggered] = np.maximum(downtime[triggered], child_downtime)
            if child_daily:
                daily[triggered] = np.maximum(daily[triggered], child_daily)
        ground_up[:, _RI] = downtime * daily
        for section, cap in profile.value_at_risk.items():
            column = SECTION_INDEX[section]
            np.minimum(ground_up[:, column], cap, out=ground_up[:, column])
        parts.append((local_year, index, event, ground_up, downtime, daily, controls))
    if not parts:
        empty_int = np.zeros(0, dtype=np.int64)
        return BlockEvents(
            empty_int,
            empty_int,
            empty_int,
            np.zeros((0, len(SECTIONS))),
            np.zeros(0),
            np.zeros(0),
            np.zeros((0, 2)),
        )
    return BlockEvents(
        year=np.concatenate([p[0] for p in parts]),
        scenario=np.concatenate([np.full(p[0].size, p[1], dtype=np.int64) for p in parts]),
        event=np.concatenate([p[2] for p in parts]),
        ground_up=np.concatenate([p[3] for p in parts]),
        downtime_days=np.concatenate([p[4] for p in parts]),
        daily_cost=np.concatenate([p[5] for p in parts]),
        control=np.concatenate([p[6] for p in parts]),
    )


def _year_totals(year: IntArray, values: FloatArray) -> tuple[IntArray, FloatArray]:
    """Sum ``values`` by ``year`` for rows sorted by year: ``(distinct years, sums)``."""
    if year.size == 0:
        return year, values
    starts = np.flatnonzero(np.r_[True, year[1:] != year[:-1]])
    return year[starts], np.add.reduceat(values, starts)


def block_year_loss_table(
    events: BlockEvents, insured: FloatArray, first_year: int, n_scenarios: int
) -> YearLossTable:
    parts = []
    for scenario in range(n_scenarios):
        lo, hi = np.searchsorted(events.scenario, [scenario, scenario + 1])
        if lo == hi:
            continue
        year = events.year[lo:hi]
        for column in range(len(SECTIONS)):
            ground_up = events.ground_up[lo:hi, column]
            mask = ground_up > 0
            if not mask.any():
                continue
            years, gu_sums = _year_totals(year[mask], ground_up[mask])
            _, insured_sums = _year_totals(year[mask], insured[lo:hi, column][mask])
            parts.append((years + first_year, scenario, column, gu_sums, insured_sums))
    return YearLossTable.from_parts(parts)


def event_loss_table(events: BlockEvents, n_years: int) -> EventLossTable:
    return EventLossTable(
        year=events.year,
        ground_up=events.ground_up,
        n_years=n_years,
        downtime_days=events.downtime_days,
        daily_cost=events.daily_cost,
    )


def terms_table(events: BlockEvents) -> tuple[IntArray, EventLossTable]:
    """The block's years with events, and its event table with those years numbered 0, 1, ...

    Terms act only on years with events (a year without one pays nothing), so they are applied
    on those years alone; callers put year results back at ``years``.
    """
    years, compact = np.unique(events.year, return_inverse=True)
    table = EventLossTable(
        year=compact.astype(np.int64),
        ground_up=events.ground_up,
        n_years=int(years.size),
        downtime_days=events.downtime_days,
        daily_cost=events.daily_cost,
    )
    return years, table
