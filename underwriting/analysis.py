"""What-if analysis for underwriters and actuaries: sensitivities, stress tests, a lab's losses,
and labs repriced under a new version of the rating tables.

Both run on common random numbers: every point of a sensitivity, and a stress test against its
baseline, see the same simulated events, so the differences are the effect of the change, not
simulation noise (a premium curve over a deductible is then monotone, exactly).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from underwriting.engine import check_run, simulate
from underwriting.errors import UnderwritingError
from underwriting.model import Fixed, parse_seed
from underwriting.pricing import batch_error, batch_technical_premiums, paired_standard_error
from underwriting.quote import Quote, quote
from underwriting.rating import (
    Cascade,
    RatingTables,
    RiskProfile,
    load_rating_tables,
    rate_with_experience,
)
from underwriting.request import QuoteRequest, split_subject
from underwriting.results import Metric, SimulationResult

if TYPE_CHECKING:
    from underwriting.model import Submission
    from underwriting.terms import PolicyTerms


@dataclass(frozen=True, slots=True)
class SensitivityPoint:
    """The premium and metrics at one value of the factor varied."""

    value: Any
    premium: float
    technical_premium: float
    expected_loss: Metric
    var_995: Metric
    tvar_99: Metric


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    node: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            raise UnderwritingError(f"factor {path!r}: {part!r} is not a field of the request")
        node = node[part]
    if not isinstance(node, dict):
        raise UnderwritingError(f"factor {path!r} does not name a field of the request")
    node[parts[-1]] = value


def _point(q: Quote, value: Any) -> SensitivityPoint:
    metrics = {metric.name: metric for metric in q.metrics}
    return SensitivityPoint(
        value=value,
        premium=q.premium.total,
        technical_premium=q.premium.technical,
        expected_loss=metrics["expected insured loss"],
        var_995=metrics["VaR 99.5%"],
        tvar_99=metrics["TVaR 99.0%"],
    )


@overload
def sensitivity(
    request: QuoteRequest,
    factor: str,
    values: Sequence[Any],
    /,
    *,
    tables: RatingTables | None = None,
    n_years: int = 100_000,
    seed: int | str | None = None,
) -> tuple[SensitivityPoint, ...]: ...


@overload
def sensitivity(
    submission: Submission,
    terms: PolicyTerms,
    factor: str,
    values: Sequence[Any],
    /,
    *,
    tables: RatingTables | None = None,
    n_years: int = 100_000,
    seed: int | str | None = None,
) -> tuple[SensitivityPoint, ...]: ...


@overload
def sensitivity(
    request: QuoteRequest,
    /,
    *,
    factor: str,
    values: Sequence[Any],
    tables: RatingTables | None = None,
    n_years: int = 100_000,
    seed: int | str | None = None,
) -> tuple[SensitivityPoint, ...]: ...


def sensitivity(
    *arguments: Any,
    factor: str | None = None,
    values: Sequence[Any] | None = None,
    tables: RatingTables | None = None,
    n_years: int = 100_000,
    seed: int | str | None = None,
) -> tuple[SensitivityPoint, ...]:
    """The premium and metrics as one rating factor or term takes each of ``values``.

    Called as ``sensitivity(request, factor, values)`` or ``sensitivity(submission, terms,
    factor, values)``, like :func:`underwriting.quote`.

    Parameters
    ----------
    request
        The base quote request (or a submission and its terms).
    factor
        A dotted path into the request: ``"terms.sections.property.deductible"``,
        ``"terms.aggregate_limit"``, ``"submission.protections.sprinklers"``,
        ``"submission.values.equipment"``...
    values
        The values to try; each is validated like a request (a bad value names the field).
    n_years, seed
        Fixed for every point, so that all points see the same simulated events; the seed is an
        integer or its decimal string.

    Example
    -------
    >>> import pathlib
    >>> request = QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> points = sensitivity(request, "terms.aggregate_deductible", [0, 50_000, 200_000],
    ...                      n_years=20_000)
    >>> [p.premium for p in points] == sorted((p.premium for p in points), reverse=True)
    True
    """
    named = tuple(value for value in (factor, values) if value is not None)
    request, (factor, values) = split_subject(
        (*arguments, *named), ("factor", "values"), "sensitivity"
    )
    tables = tables or load_rating_tables()
    if not values:
        raise ValueError("values must hold at least one value")
    requests = []
    for value in values:
        data = request.model_dump(mode="json")
        _set(data, factor, value)
        requests.append(QuoteRequest.model_validate(data))
    if factor.startswith("terms."):
        # Terms only: one simulation, every value an option on the same events.
        first = requests[0]
        q = quote(
            first.submission,
            first.terms,
            tables=tables,
            seed=seed,
            options=[r.terms for r in requests],
            n_years=n_years,
        )
        return tuple(
            SensitivityPoint(
                value=value,
                premium=option.premium.total,
                technical_premium=option.premium.technical,
                expected_loss=option.metrics[0],
                var_995=option.metrics[1],
                tvar_99=option.metrics[2],
            )
            for value, option in zip(values, q.options, strict=True)
        )
    # A rating factor: one quote per value, on the same events, with the sample means (control
    # variates would shift each quote by its own amount: the points would no longer be exactly
    # monotone in the factor).
    return tuple(
        _point(
            quote(
                r.submission, r.terms, tables=tables, seed=seed, n_years=n_years, sample_means=True
            ),
            value,
        )
        for value, r in zip(values, requests, strict=True)
    )


@dataclass(frozen=True, slots=True)
class StressResult:
    """The insured loss of a year in which the stressed scenario happens (once more).

    Attributes
    ----------
    scenario
        The scenario forced.
    baseline
        Expected annual insured loss without the forced event.
    stressed
        Expected annual insured loss of a year with the forced event on top of its other events.
    added
        What the forced event adds to the year's insured loss, on average (paired years).
    added_percentiles
        Percentiles (50, 90, 99) of what the forced event adds.
    """

    scenario: str
    baseline: Metric
    stressed: Metric
    added: Metric
    added_percentiles: dict[str, float]


@overload
def stress(
    request: QuoteRequest,
    scenario_id: str,
    /,
    *,
    tables: RatingTables | None = None,
    n_years: int = 50_000,
    seed: int | str | None = None,
) -> StressResult: ...


@overload
def stress(
    submission: Submission,
    terms: PolicyTerms,
    scenario_id: str,
    /,
    *,
    tables: RatingTables | None = None,
    n_years: int = 50_000,
    seed: int | str | None = None,
) -> StressResult: ...


@overload
def stress(
    request: QuoteRequest,
    /,
    *,
    scenario_id: str,
    tables: RatingTables | None = None,
    n_years: int = 50_000,
    seed: int | str | None = None,
) -> StressResult: ...


def stress(
    *arguments: Any,
    scenario_id: str | None = None,
    tables: RatingTables | None = None,
    n_years: int = 50_000,
    seed: int | str | None = None,
) -> StressResult:
    """The loss if ``scenario_id`` happens this year: a forced event on top of the usual year.

    The forced event has the scenario's impacts, severities and cascades for this lab; it draws
    from its own stream, so every other event of the year is the one the baseline saw. Called
    as ``stress(request, scenario_id)`` or ``stress(submission, terms, scenario_id)``, like
    :func:`underwriting.quote`; the seed is an integer or its decimal string.

    Example
    -------
    >>> import pathlib
    >>> request = QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/chemistry_high_hazard.json").read_text())
    >>> result = stress(request, "explosion", n_years=5_000, seed=1)
    >>> result.stressed.value > result.baseline.value
    True
    """
    named = () if scenario_id is None else (scenario_id,)
    request, (scenario_id,) = split_subject((*arguments, *named), ("scenario_id",), "stress")
    tables = tables or load_rating_tables()
    chosen = check_run(n_years, 1, seed)
    profile, _ = rate_with_experience(request.submission, tables)
    known = [scenario.id for scenario in profile.scenarios]
    if scenario_id not in known:
        raise UnderwritingError(
            f"scenario {scenario_id!r} is not a scenario of this lab; allowed: {', '.join(known)}"
        )
    original = profile.scenario(scenario_id)
    forced_id = f"forced:{scenario_id}"
    forced = original.model_copy(
        update={"id": forced_id, "frequency": Fixed(count=1), "stream": f"stress/{scenario_id}"}
    )
    cascades = tuple(profile.cascades) + tuple(
        Cascade(parent=forced_id, child=c.child, probability=c.probability)
        for c in profile.cascades
        if c.parent == scenario_id
    )
    stressed_profile = profile.model_copy(
        update={"scenarios": (*profile.scenarios, forced), "cascades": cascades}
    )
    baseline = simulate(profile, request.terms, n_years=n_years, seed=chosen)
    stressed = simulate(stressed_profile, request.terms, n_years=n_years, seed=chosen)
    added = stressed.annual_loss - baseline.annual_loss
    return StressResult(
        scenario=scenario_id,
        baseline=Metric("expected loss", baseline.mean, baseline.standard_error()),
        stressed=Metric("expected loss with the event", stressed.mean, stressed.standard_error()),
        added=Metric(
            "added by the event",
            float(added.mean()),
            float(added.std(ddof=1) / math.sqrt(n_years)) if n_years > 1 else 0.0,
        ),
        added_percentiles={f"p{p}": float(np.percentile(added, p)) for p in (50, 90, 99)},
    )


def simulate_request(
    request: QuoteRequest,
    *,
    n_years: int,
    seed: int | str | None = None,
    tables: RatingTables | None = None,
    detail: Literal["full", "annual"] = "full",
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Simulate a quote request's lab under its terms, rated with the tables' own rates.

    What ``underwriting simulate`` and ``make examples`` print: the tables' rates without the
    lab's claims experience (a quote weighs that in), and the tables' ``default_seed`` when no
    seed is given, as quotes use.

    Parameters
    ----------
    request
        The lab and the terms simulated (its options are not).
    n_years
        Simulated years.
    seed
        Same seed, same figures; the tables' ``pricing.precision.default_seed`` when ``None``.
    tables
        The rating tables; the newest when ``None``.
    detail, progress
        As :func:`underwriting.engine.simulate`.

    Example
    -------
    >>> import pathlib
    >>> request = QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> simulate_request(request, n_years=2_000).n_years
    2000
    """
    tables = tables or load_rating_tables()
    profile = RiskProfile.from_submission(request.submission, tables)
    return simulate(
        profile,
        request.terms,
        n_years=n_years,
        seed=tables.pricing.precision.default_seed if seed is None else seed,
        progress=progress,
        detail=detail,
    )


@dataclass(frozen=True, slots=True)
class RepricedLab:
    """A lab quoted under two versions of the rating tables, on the same simulated events.

    Attributes
    ----------
    lab_id
        The lab.
    old, new
        Its quote under each version (premium, its standard error, decision), or ``None`` where
        that version could not rate it.
    old_error, new_error
        Why a version could not rate it (the engine's message), else ``None``.
    difference_standard_error
        Monte Carlo standard error of the technical premium's change, over paired years (the
        same events under both versions, so it is far below either premium's own); ``None``
        unless both versions quoted the lab.
    """

    lab_id: str
    old: Quote | None
    new: Quote | None
    old_error: str | None = None
    new_error: str | None = None
    difference_standard_error: float | None = None

    @property
    def premium_change(self) -> float | None:
        """New premium minus old (charged, before tax); ``None`` unless both versions quoted."""
        if self.old is None or self.new is None:
            return None
        return self.new.premium.total - self.old.premium.total


@dataclass(frozen=True, slots=True)
class Repricing:
    """Labs quoted under an old and a new version of the rating tables.

    Attributes
    ----------
    old_version, new_version
        The two versions.
    seed, n_years
        Of every quote, under both versions: the same events.
    labs
        Each lab, in the order given.
    """

    old_version: str
    new_version: str
    seed: int
    n_years: int
    labs: tuple[RepricedLab, ...]


def _quote_or_error(
    request: QuoteRequest, tables: RatingTables, seed: int, n_years: int
) -> Quote | str:
    try:
        return quote(request.submission, request.terms, tables=tables, seed=seed, n_years=n_years)
    except UnderwritingError as error:
        return str(error)


def _paired_error(
    old: Quote, new: Quote, old_tables: RatingTables, new_tables: RatingTables
) -> float | None:
    if old.result is None or new.result is None or old.result.n_years != new.result.n_years:
        return None
    batches = old_tables.pricing.precision.batches
    if old.stratified is not None or new.stratified is not None:
        return batch_error(
            new.batch_estimates(new_tables.pricing.premium, batches)[0]
            - old.batch_estimates(old_tables.pricing.premium, batches)[0]
        )
    if old.controls is None and new.controls is None:
        return paired_standard_error(
            old.result.annual_loss,
            old_tables.pricing.premium,
            new.result.annual_loss,
            new_tables.pricing.premium,
            batches,
        )
    if old.result.n_years // batches < 2:
        return math.inf
    # Each premium as its quote estimated it (control variates under 2026.4 on), batch by batch.
    difference = batch_technical_premiums(
        new.result.annual_loss, new_tables.pricing.premium, batches, new.controls
    ) - batch_technical_premiums(
        old.result.annual_loss, old_tables.pricing.premium, batches, old.controls
    )
    return float(np.std(difference, ddof=1) / math.sqrt(batches))


def reprice(
    requests: Sequence[QuoteRequest],
    old: RatingTables,
    new: RatingTables,
    *,
    seed: int | str | None = None,
    n_years: int = 50_000,
    progress: Callable[[], None] | None = None,
) -> Repricing:
    """Quote each request's lab under ``old`` and ``new`` on the same simulated events.

    Every quote uses ``seed`` (default: ``old``'s default seed) and ``n_years``, so a premium's
    change is the effect of the new tables, not simulation noise. The requests' own seeds and
    options are not used. A lab a version cannot rate is recorded with the engine's message.

    Parameters
    ----------
    requests
        The labs and their terms, e.g. the example requests.
    old, new
        The two versions of the rating tables.
    progress
        Called after each quote (twice a lab).
    """
    chosen = old.pricing.precision.default_seed if seed is None else parse_seed(seed)
    labs = []
    for request in requests:
        quotes: list[Quote | str] = []
        for tables in (old, new):
            quotes.append(_quote_or_error(request, tables, chosen, n_years))
            if progress is not None:
                progress()
        was, now = quotes
        labs.append(
            RepricedLab(
                lab_id=request.submission.lab_id,
                old=None if isinstance(was, str) else was,
                new=None if isinstance(now, str) else now,
                old_error=was if isinstance(was, str) else None,
                new_error=now if isinstance(now, str) else None,
                difference_standard_error=(
                    None
                    if isinstance(was, str) or isinstance(now, str)
                    else _paired_error(was, now, old, new)
                ),
            )
        )
    return Repricing(
        old_version=old.version,
        new_version=new.version,
        seed=chosen,
        n_years=n_years,
        labs=tuple(labs),
    )
