"""Monte Carlo simulation of a risk profile's annual losses under policy terms.

The work is cut into fixed-size blocks of years; every random number is addressed by
``(seed, scenario id, year, event, dimension)`` (``_randomness``), so a result depends on neither
the block size nor the order in which blocks run, adding a scenario leaves the others' draws
alone, and runs with the same seed see the same events whatever the terms or the relativities
(common random numbers).

A run chooses its engine once (``_engine.choose_engine``): by default (``engine="auto"``) the
compiled engine, which makes the same draws as the NumPy reference engine in one pass per year and
agrees with it to 1e-9; the NumPy engine where the compiled one cannot run (no numba, a gamma
severity, ``UW_ENGINE=numpy``). Blocks run in this process or on a Dask cluster
(``_executors``), with the same result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from underwriting.engine._compiled import control_rows
from underwriting.engine._engine import BlockResult, Engine, EngineChoice, choose_engine
from underwriting.engine._executors import Backend, run_blocks
from underwriting.engine._numpy import BlockEvents, simulate_block_events, terms_table
from underwriting.engine._randomness import StreamKey, new_seed, stream_key
from underwriting.errors import HeavyTailError, SimulationLimitError, UnderwritingWarning
from underwriting.model import Section, parse_seed
from underwriting.rating import RiskProfile, SectionImpact
from underwriting.results import (
    EventLosses,
    EventSource,
    SimulationResult,
    YearLossTableBuilder,
)
from underwriting.terms import InsuredLosses, PolicyTerms, apply_terms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_BLOCK_YEARS = 65_536
"""Years per block: bounds memory; results do not depend on it."""

MAX_EVENTS_PER_BLOCK = 2_000_000
"""Expected events per block above which blocks are made smaller (memory; results unchanged)."""

MAX_YEARS = 1_000_000_000

Detail = Literal["full", "annual"]
"""What a run keeps: everything (``full``), or the annual insured losses only (``annual``)."""


def _capped(profile: RiskProfile, terms: PolicyTerms, impact: SectionImpact) -> bool:
    """Whether something bounds the insured loss an impact can cause in a year."""
    if impact.basis == "damage_ratio":  # value x min(X, 1)
        return True
    if impact.basis == "amount" and impact.value is not None:  # min(X, value)
        return True
    if impact.basis == "downtime_days" and impact.max_days is not None:
        return True
    if impact.section in profile.value_at_risk:  # an event's section loss is capped there
        return True
    section = terms.sections.get(impact.section)
    if section is None:  # not covered: no insured loss at all
        return True
    if section.limit is not None or section.aggregate_limit is not None:
        return True
    if impact.section is Section.RESEARCH_INTERRUPTION and section.indemnity_period_months:
        return True
    return terms.aggregate_limit is not None


def tail_warnings(
    profile: RiskProfile, terms: Sequence[PolicyTerms]
) -> tuple[tuple[UnderwritingWarning, ...], ...]:
    """Refuse a severity whose insured loss has no mean; warn on one with no variance.

    A severity with tail index at most 1 (Pareto ``alpha <= 1``, a GPD tail with ``xi >= 1``)
    has an infinite mean: with nothing capping the insured loss (an impact's value or
    ``max_days``, the profile's value at risk for the section, the section's ``limit``,
    ``aggregate_limit`` or indemnity period in the terms, or a policy ``aggregate_limit``), the
    simulated mean is finite but means nothing, and its standard error neither. That raises
    :class:`HeavyTailError`. A tail index at most 2 (Pareto ``alpha <= 2``, GPD ``xi >= 0.5``)
    has an infinite variance: the mean exists but the standard errors, computed from the sample
    variance, are too small; the result then carries a ``HEAVY_TAIL_INFINITE_VARIANCE`` warning
    per uncapped impact. Returns the warnings of each set of terms.
    """
    found: list[tuple[UnderwritingWarning, ...]] = []
    for term_set in terms:
        warnings: list[UnderwritingWarning] = []
        for i, scenario in enumerate(profile.scenarios):
            if scenario.frequency.mean == 0:
                continue
            for j, impact in enumerate(scenario.impacts):
                severity = impact.severity
                index = severity.tail_index
                if index > 2 or _capped(profile, term_set, impact):
                    continue
                parameter = severity.tail_parameter or "tail_index"
                value = float(getattr(severity, parameter, index))
                field = f"profile.scenarios[{i}].impacts[{j}].severity.{parameter}"
                described = (
                    f"scenario {scenario.id!r}, section {impact.section.value}: the "
                    f"{severity.family} severity with {parameter} = {value:g}"
                )
                cap = (
                    f"a limit or aggregate_limit on section {impact.section.value!r} in the "
                    "terms, a policy aggregate_limit, a value (cap) on the impact or a "
                    "value_at_risk for the section in the profile"
                )
                if index <= 1:
                    allowed = "alpha > 1" if parameter == "alpha" else "xi < 1"
                    raise HeavyTailError(
                        f"{field}: {described} has an infinite mean and nothing caps the "
                        f"insured loss, so no expected loss, premium or standard error exists; "
                        f"allowed: {allowed}, or cap the loss with {cap}",
                        field=field,
                        value=value,
                    )
                warnings.append(
                    UnderwritingWarning(
                        code="HEAVY_TAIL_INFINITE_VARIANCE",
                        message=(
                            f"{described} has an infinite variance and nothing caps the insured "
                            "loss: the standard errors shown assume a finite variance and are "
                            "too small, the mean converges slowly and the tail figures vary "
                            f"from seed to seed; cap the loss with {cap} for reliable errors"
                        ),
                        field=field,
                        value=value,
                    )
                )
        found.append(tuple(warnings))
    return tuple(found)


def check_run(n_years: int, block_size: int, seed: int | str | None) -> int:
    """The run's seed (drawn if ``None``), once its arguments are checked.

    A number of years that is not a positive integer, or a block size that is not, is a
    ``ValueError``; more years than ``MAX_YEARS`` is a :class:`SimulationLimitError`, as too many
    events is; a seed outside its domain is a ``ValueError`` (:func:`parse_seed`: an integer or
    its decimal digits as a string, as requests carry it).
    """
    if isinstance(n_years, bool) or not isinstance(n_years, int) or n_years < 1:
        raise ValueError(f"n_years must be an integer in [1, {MAX_YEARS:,}], got {n_years!r}")
    if n_years > MAX_YEARS:
        raise SimulationLimitError(
            f"n_years must be an integer in [1, {MAX_YEARS:,}], got {n_years:,}: simulate fewer "
            "years"
        )
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    return new_seed() if seed is None else parse_seed(seed)


def simulate(
    profile: RiskProfile,
    terms: PolicyTerms,
    *,
    n_years: int,
    seed: int | str | None = None,
    block_size: int = DEFAULT_BLOCK_YEARS,
    progress: Callable[[int], None] | None = None,
    max_events: float | None = None,
    engine: EngineChoice = "auto",
    backend: Backend = "local",
    client: Any | None = None,
    detail: Detail = "full",
) -> SimulationResult:
    """Simulate ``n_years`` independent years of the profile's losses under the terms.

    Parameters
    ----------
    profile
        The scenarios to simulate.
    terms
        The policy terms applied to every event and year.
    n_years
        Number of simulated years.
    seed
        An integer in ``[0, 2**128)``, or its decimal digits as a string (``"42"`` is 42);
        fresh entropy when ``None`` (recorded in the result, so the run can be replayed).
    block_size
        Years simulated at once. Bounds memory; the result does not depend on it.
    progress
        Called with the number of years just simulated after each block (for a progress bar).
    max_events
        Refuse (``SimulationLimitError``) a run expected to draw more events than this.
    engine
        ``auto`` runs the compiled kernel (:mod:`underwriting.engine`) where it can and the NumPy
        engine otherwise; ``numpy`` or ``compiled`` forces one (the same results to 1e-9).
    backend, client
        ``local`` runs the blocks in this process; ``dask`` runs them on a ``dask.distributed``
        cluster through ``client`` (the ``[dask]`` extra), with bit-identical results
        (:mod:`underwriting.engine`, docs/scale.md).
    detail
        ``full`` keeps, besides the annual insured losses, each year's ground-up loss and
        largest occurrence (the OEP) and the year loss table by scenario and section.
        ``annual`` keeps the annual insured losses only: the whole distribution and its metrics
        in 8 bytes a year (10 million years in about 80 MB), without the OEP or the breakdowns.
        The annual losses are the same either way.

    Returns
    -------
    SimulationResult
        The annual insured losses, the year loss table by scenario and section, and metrics
        with their standard errors.

    Example
    -------
    >>> from underwriting.model import LogNormal, Poisson
    >>> from underwriting.rating import RiskProfile, Scenario
    >>> from underwriting.terms import PolicyTerms, SectionTerms
    >>> profile = RiskProfile(scenarios=[Scenario(id="ref", frequency=Poisson(rate=2.0),
    ...                       severity=LogNormal(mu=10.0, sigma=1.5), section="property")])
    >>> terms = PolicyTerms(sections={"property": SectionTerms(deductible=10_000)})
    >>> result = simulate(profile, terms, n_years=10_000, seed=42)
    >>> result.annual_loss.shape
    (10000,)
    """
    return simulate_many(
        profile,
        [terms],
        n_years=n_years,
        seed=seed,
        block_size=block_size,
        progress=progress,
        max_events=max_events,
        engine=engine,
        backend=backend,
        client=client,
        detail=detail,
    )[0]


def simulate_many(
    profile: RiskProfile,
    terms: Sequence[PolicyTerms],
    *,
    n_years: int,
    seed: int | str | None = None,
    block_size: int = DEFAULT_BLOCK_YEARS,
    year_loss_tables: bool | Sequence[bool] | None = None,
    max_occurrence: bool | Sequence[bool] | None = None,
    progress: Callable[[int], None] | None = None,
    max_events: float | None = None,
    engine: EngineChoice = "auto",
    backend: Backend = "local",
    client: Any | None = None,
    detail: Detail = "full",
    controls: bool | int = False,
) -> tuple[SimulationResult, ...]:
    """Simulate once and apply several sets of terms to the very same events.

    Each result equals ``simulate(profile, terms[i], ...)`` with the same seed; the events are
    drawn once. ``year_loss_tables`` says, for all or for each set of terms, whether to keep the
    year loss table by scenario and section (needed for ``by_section`` and ``by_scenario``); by
    default, with ``detail="full"``. ``max_occurrence`` says the same of each year's largest
    occurrence (``annual_max_occurrence``, the OEP; 8 bytes a year for each set of terms that
    keeps it), by default with ``detail="full"``. ``controls`` keeps each year's controls under
    the first set of terms in the first result (``SimulationResult.controls``; 4 keeps the
    events' totals cubed too, 5 also to the fourth power: ``control_rows``). ``max_events``
    refuses
    (``SimulationLimitError``) a run expected to draw more events; ``engine``, ``backend``,
    ``client`` and ``detail`` are as for :func:`simulate`.

    Example
    -------
    >>> from underwriting.model import LogNormal, Poisson
    >>> from underwriting.rating import RiskProfile, Scenario
    >>> from underwriting.terms import PolicyTerms, SectionTerms
    >>> profile = RiskProfile(scenarios=[Scenario(id="ref", frequency=Poisson(rate=2.0),
    ...                       severity=LogNormal(mu=10.0, sigma=1.5), section="property")])
    >>> low, high = (PolicyTerms(sections={"property": SectionTerms(deductible=d)})
    ...              for d in (1_000, 50_000))
    >>> a, b = simulate_many(profile, [low, high], n_years=5_000, seed=1)
    >>> bool((b.annual_loss <= a.annual_loss).all())
    True
    """
    return _simulate(
        profile,
        terms,
        n_years=n_years,
        seed=seed,
        block_size=block_size,
        year_loss_tables=year_loss_tables,
        max_occurrence=max_occurrence,
        progress=progress,
        max_events=max_events,
        engine=engine,
        backend=backend,
        client=client,
        detail=detail,
        controls=controls,
    )


YearsNeeded = Callable[[FloatArray, "FloatArray | None"], int]
"""Given the first term set's annual losses so far and their controls (or ``None``), the years
a run needs in all: as many as it has to stop."""


def simulate_many_until(
    profile: RiskProfile,
    terms: Sequence[PolicyTerms],
    *,
    first_years: int,
    max_years: int,
    needed: YearsNeeded,
    seed: int | str | None = None,
    year_loss_tables: bool | Sequence[bool] | None = None,
    max_occurrence: bool | Sequence[bool] | None = None,
    controls: bool | int = False,
    max_stages: int = 3,
    carried: int | None = None,
) -> tuple[SimulationResult, ...]:
    """:func:`simulate_many` run in stages until ``needed`` is satisfied: ``first_years`` years,
    then, while ``needed`` asks for more (and at most ``max_stages`` stages in all), the years it
    asks for, within ``max_years``. The years of a stage follow those of the one before, so
    nothing is simulated twice; the results are those of ``simulate_many`` with the final
    number of years, bit for bit (results do not depend on how years are cut into blocks).

    ``carried`` term sets (the first ones; all by default) go on after the first stage; the
    others' results cover the first stage's years only (a quote's worksheet variants).
    """
    return _simulate(
        profile,
        terms,
        n_years=first_years,
        seed=seed,
        year_loss_tables=year_loss_tables,
        max_occurrence=max_occurrence,
        controls=controls,
        max_years=max_years,
        needed=needed,
        max_stages=max_stages,
        carried=carried,
    )


def _simulate(
    profile: RiskProfile,
    terms: Sequence[PolicyTerms],
    *,
    n_years: int,
    seed: int | str | None,
    block_size: int = DEFAULT_BLOCK_YEARS,
    year_loss_tables: bool | Sequence[bool] | None = None,
    max_occurrence: bool | Sequence[bool] | None = None,
    progress: Callable[[int], None] | None = None,
    max_events: float | None = None,
    engine: EngineChoice = "auto",
    backend: Backend = "local",
    client: Any | None = None,
    detail: Detail = "full",
    controls: bool | int = False,
    max_years: int | None = None,
    needed: YearsNeeded | None = None,
    max_stages: int = 1,
    carried: int | None = None,
) -> tuple[SimulationResult, ...]:
    """``n_years`` years, then as ``needed`` asks (up to ``max_years``, ``max_stages`` stages),
    the first ``carried`` term sets only after the first stage."""
    capacity = n_years if max_years is None else max(max_years, n_years)
    seed = check_run(capacity, block_size, seed)
    if not terms:
        raise ValueError("terms must hold at least one set of policy terms")
    warnings = tail_warnings(profile, terms)
    block_size = bounded_block_size(profile, capacity, block_size, max_events)
    keep = _kept_tables(year_loss_tables, len(terms), detail)
    occurrences = _kept_occurrences(max_occurrence, len(terms), detail)
    full = detail == "full"
    keys = stream_keys(profile, seed)
    chosen = choose_engine(profile, keys, terms, engine)
    # Sized for the most years the run may take; pages never written take no memory.
    annual = [np.empty(capacity) for _ in terms]
    largest = [np.empty(capacity) if kept else None for kept in occurrences]
    # The kept tables share their rows' keys: the first one's builder holds them.
    tables: list[YearLossTableBuilder | None] = []
    first_kept: YearLossTableBuilder | None = None
    for kept in keep:
        builder = YearLossTableBuilder(capacity, keys_from=first_kept) if kept else None
        first_kept = first_kept or builder
        tables.append(builder)
    annual_ground_up = np.empty(capacity) if full else None
    rows = control_rows(controls)
    kept_controls = np.empty((rows, capacity)) if rows else None
    task = functools.partial(_simulate_block, chosen, tuple(keep), controls)
    years_of = [capacity] * len(terms)  # each term set's years, once the run is done
    done, target, stage = 0, n_years, 0
    while done < target:
        stage += 1
        if stage == 2 and carried is not None and carried < len(terms):
            for index in range(carried, len(terms)):
                years_of[index] = done
            later = choose_engine(profile, keys, terms[:carried], engine)
            task = functools.partial(_simulate_block, later, tuple(keep[:carried]), controls)
        blocks = [
            (first, min(block_size, target - first)) for first in range(done, target, block_size)
        ]
        for block in run_blocks(task, blocks, backend=backend, client=client):
            first, size = block.first_year, block.annual_ground_up.size
            if annual_ground_up is not None:
                annual_ground_up[first : first + size] = block.annual_ground_up
            if kept_controls is not None:
                kept_controls[:, first : first + size] = block.controls
            for index, table in enumerate(block.tables):
                annual[index][first : first + size] = block.annual[index]
                occurrence = largest[index]
                if occurrence is not None:
                    occurrence[first : first + size] = block.max_occurrence[index]
                builder = tables[index]
                if table is not None and builder is not None:
                    builder.append(table, size)
            if progress is not None:
                progress(size)
        done = target
        if needed is not None and stage < max_stages:
            asked = needed(
                annual[0][:done], None if kept_controls is None else kept_controls[:, :done]
            )
            target = min(max(asked, done), capacity)
    return tuple(
        SimulationResult(
            profile=profile,
            terms=term_set,
            n_years=(years := min(done, years_of[index])),
            seed=seed,
            block_size=block_size,
            annual_loss=annual[index][:years],
            annual_ground_up=None if annual_ground_up is None else annual_ground_up[:years],
            annual_max_occurrence=None if (most := largest[index]) is None else most[:years],
            year_loss_table=None if (builder := tables[index]) is None else builder.build(),
            event_source=_event_source(profile, term_set, keys, block_size),
            warnings=warnings[index],
            controls=None if kept_controls is None or index else kept_controls[:, :done],
        )
        for index, term_set in enumerate(terms)
    )


def _kept_tables(
    year_loss_tables: bool | Sequence[bool] | None, n_terms: int, detail: Detail
) -> list[bool]:
    """Which term sets keep a year loss table, checked against ``detail``."""
    if detail not in ("full", "annual"):
        raise ValueError(f"detail must be 'full' or 'annual', got {detail!r}")
    if year_loss_tables is None:
        year_loss_tables = detail == "full"
    keep = (
        [year_loss_tables] * n_terms
        if isinstance(year_loss_tables, bool)
        else list(year_loss_tables)
    )
    if len(keep) != n_terms:
        raise ValueError(f"year_loss_tables has {len(keep)} entries for {n_terms} term sets")
    if detail == "annual" and any(keep):
        raise ValueError(
            "detail='annual' keeps the annual losses only, so no year loss table; "
            "use detail='full' to keep one"
        )
    return keep


def _kept_occurrences(
    max_occurrence: bool | Sequence[bool] | None, n_terms: int, detail: Detail
) -> list[bool]:
    """Which term sets keep each year's largest occurrence, checked against ``detail``."""
    if max_occurrence is None:
        max_occurrence = detail == "full"
    keep = [max_occurrence] * n_terms if isinstance(max_occurrence, bool) else list(max_occurrence)
    if len(keep) != n_terms:
        raise ValueError(f"max_occurrence has {len(keep)} entries for {n_terms} term sets")
    if detail == "annual" and any(keep):
        raise ValueError(
            "detail='annual' keeps the annual losses only, so no largest occurrence; "
            "use detail='full' to keep it"
        )
    return keep


def _simulate_block(
    engine: Engine, keep: tuple[bool, ...], controls: bool | int, first: int, size: int
) -> BlockResult:
    """Years ``first .. first + size - 1``: a pure function of the block, on the engine chosen
    for the run (it can run in any order and in any process)."""
    return engine.block(first, size, keep, controls)


def expected_events_per_year(profile: RiskProfile) -> float:
    """Expected events a year over all scenarios (shared occurrences at the shared rate)."""
    return sum(
        s.occurrence.rate if s.occurrence is not None else s.frequency.mean
        for s in profile.scenarios
    )


def bounded_block_size(
    profile: RiskProfile, n_years: int, block_size: int, max_events: float | None = None
) -> int:
    """A block size that keeps a block's expected events within ``MAX_EVENTS_PER_BLOCK``.

    Results do not depend on the block size, so shrinking it only bounds memory. Raises
    ``SimulationLimitError`` if the whole run is expected to draw more than ``max_events``.
    """
    rate = expected_events_per_year(profile)
    if max_events is not None and rate * n_years > max_events:
        raise SimulationLimitError(
            f"this simulation would draw about {rate * n_years:,.0f} events ({rate:,.4g} a year "
            f"for {n_years:,} years); the limit is {max_events:,.0f}: simulate fewer years or "
            "check the rates"
        )
    if rate <= 0:
        return block_size
    return max(1, min(block_size, int(MAX_EVENTS_PER_BLOCK / rate)))


def stream_keys(profile: RiskProfile, seed: int) -> dict[str, StreamKey]:
    """The key of every stream the profile draws from: its scenarios' and shared occurrences'."""
    names = {scenario.stream_id for scenario in profile.scenarios}
    names |= {s.occurrence.stream for s in profile.scenarios if s.occurrence is not None}
    return {name: stream_key(seed, name) for name in sorted(names)}


def _numpy_events_and_insured(
    profile: RiskProfile,
    terms: PolicyTerms,
    keys: dict[str, StreamKey],
    first_year: int,
    n_years: int,
) -> tuple[BlockEvents, InsuredLosses]:
    events = simulate_block_events(profile, keys, first_year, n_years)
    return events, apply_terms(terms_table(events)[1], terms)


def _event_source(
    profile: RiskProfile, terms: PolicyTerms, keys: dict[str, StreamKey], block_size: int
) -> EventSource:
    """Regenerates the event loss table of any range of years from the run's keys.

    Blocks hold whole years and every draw is keyed by its year, so the events, and the annual
    terms applied to them, are those of the original run. They come from the NumPy engine: after
    a run on the compiled kernel the amounts agree with the run's to about 1e-12 (the same
    events, amounts rounded differently), so event sums match the annual losses to 1e-9, not
    bit for bit.
    """
    ids = np.array([scenario.id for scenario in profile.scenarios])

    def regenerate(first_year: int, n_years: int) -> EventLosses:
        parts = []
        for first in range(first_year, first_year + n_years, block_size):
            size = min(block_size, first_year + n_years - first)
            events, insured = _numpy_events_and_insured(profile, terms, keys, first, size)
            order = np.lexsort((events.event, events.scenario, events.year))
            parts.append((events, insured, order, first))
        if not parts:
            parts.append(
                (
                    *_numpy_events_and_insured(profile, terms, keys, first_year, 0),
                    np.zeros(0, int),
                    0,
                )
            )
        return EventLosses(
            year=np.concatenate([e.year[o] + f for e, _, o, f in parts]),
            scenario=ids[np.concatenate([e.scenario[o] for e, _, o, _ in parts])]
            if ids.size
            else np.zeros(0, dtype=str),
            event=np.concatenate([e.event[o] for e, _, o, _ in parts]),
            ground_up=np.concatenate([e.ground_up[o] for e, _, o, _ in parts]),
            insured=np.concatenate([i.by_event[o] for _, i, o, _ in parts]),
            downtime_days=np.concatenate([e.downtime_days[o] for e, _, o, _ in parts]),
        )

    return regenerate
