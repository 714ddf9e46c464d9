"""Renewal pricing: the renewal's premium and the change from the expiring one, step by step.

The expiring quote is priced again from what it recorded (request, tables version, seed, years,
date), then one thing is changed at a time, each step on the same seed and years as the one
before, so every step's change is its own effect on the same simulated events (docs/renewal.md)::

    T0  expiring request, expiring tables, rated at the expiring date
    T1  + exposure: the renewed submission, all of it but the claims history
    T2  + terms: the renewed terms
    T3  + claims experience: the renewed claims history, rated at the renewal date
    T4  + tables version: the current tables (the renewal's technical premium)

The technical steps telescope: ``(T1 - T0) + ... + (T4 - T3) = T4 - T0`` exactly. ``T3`` is
the renewed risk on the expiring tables, the like-for-like technical premium: ``T3 / T0`` is the
change in risk, and the risk-adjusted rate change (RARC) is the change in price beyond it::

    RARC = (P1 / P0) / (T3 / T0) - 1

with ``P0`` the expiring (bound) premium and ``P1`` the renewal premium. In money, the price
walks from ``P0`` to ``P1`` by each risk step at the expiring adequacy ``A0 = P0 / T0``, then
the tables step at that adequacy, then the change of adequacy ``(A1 - A0) T4``; the last two
are the pure rate change, ``P1 - P0 T3 / T0``, which is 0 when the tables version and the
adequacy are unchanged.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from underwriting.errors import UnderwritingError
from underwriting.model import Submission
from underwriting.quote import Quote, quote
from underwriting.rating import RatingTables, load_rating_tables
from underwriting.request import QuoteRequest
from underwriting.results import Metric
from underwriting.terms import PolicyTerms
from underwriting.workflow._paired import paired_difference
from underwriting.workflow._record import QuoteRecord

FloatArray = npt.NDArray[np.float64]

STEPS = ("exposure", "terms", "claims_experience", "tables_version")
"""The steps from the expiring technical premium to the renewal's, in order."""

RISK_STEPS = STEPS[:3]
"""The steps that change the risk; the tables version changes the rate, not the risk."""


def risk_adjusted_rate_change(
    expiring_premium: float,
    renewal_premium: float,
    expiring_technical: float,
    like_for_like_technical: float,
) -> float:
    """The risk-adjusted rate change: the change of price beyond the change of risk.

    ``(renewal_premium / expiring_premium) / (like_for_like_technical / expiring_technical) - 1``,
    where ``like_for_like_technical`` prices the renewed risk (exposure, terms, claims history)
    on the expiring tables, so that the ratio of technical premiums measures the change in risk
    alone (docs/renewal.md).

    Raises
    ------
    UnderwritingError
        If an amount is not a positive finite number (naming it).

    Example
    -------
    >>> round(risk_adjusted_rate_change(100, 121, 80, 88), 10)  # 10 % more risk, 21 % more price
    0.1
    """
    for name, amount in (
        ("expiring_premium", expiring_premium),
        ("renewal_premium", renewal_premium),
        ("expiring_technical", expiring_technical),
        ("like_for_like_technical", like_for_like_technical),
    ):
        _check_positive(name, amount)
    return (renewal_premium / expiring_premium) / (like_for_like_technical / expiring_technical) - 1


def _check_positive(name: str, amount: float) -> None:
    if not (isinstance(amount, int | float) and math.isfinite(amount) and amount > 0):
        raise UnderwritingError(f"{name} is {amount!r}; it must be a positive finite amount")


@dataclass(frozen=True, slots=True)
class RenewalStep:
    """One step from the expiring technical premium to the renewal's.

    Attributes
    ----------
    name
        ``exposure``, ``terms``, ``claims_experience`` or ``tables_version``.
    changes
        What this step changed, for a person
        (``"submission.values.equipment: 12,000,000 -> 13,200,000"``); empty when nothing did
        (the step's change is then exactly 0).
    technical_before, technical_after
        The technical premium before and after the step (currency).
    technical_change
        ``technical_after - technical_before`` with its paired standard error.
    expected_loss_change
        The change of the expected annual insured loss with its paired standard error.
    price_change
        The step's part of the price change ``P1 - P0``: ``technical_change`` at the expiring
        adequacy ``P0 / T0``, with its standard error by batch means.
    """

    name: str
    changes: tuple[str, ...]
    technical_before: float
    technical_after: float
    technical_change: Metric
    expected_loss_change: Metric
    price_change: Metric


@dataclass(frozen=True)
class Renewal:
    """A renewal priced against its expiring quote, with the change decomposed.

    Attributes
    ----------
    expiring
        The expiring request priced again on its tables, seed, years and date (``T0``).
    renewal
        The renewed request on the current tables at the renewal date (``T4``): the renewal's
        quote, with its decision and warnings.
    like_for_like
        The renewed risk on the expiring tables (``T3``).
    steps
        Exposure, terms, claims experience, tables version; their technical changes add up
        exactly to ``technical_change``.
    technical_change
        ``T4 - T0`` with its paired standard error (the two quotes compared directly).
    expiring_premium, renewal_premium
        ``P0``, the premium bound, and ``P1``, the premium offered at renewal (the renewal's
        charged premium unless one was given).
    expiring_adequacy, renewal_adequacy
        ``P0 / T0`` and ``P1 / T4``, with standard errors by batch means.
    risk_change
        ``T3 / T0 - 1``: the change in risk, like for like, with its paired error.
    rate_change
        The risk-adjusted rate change ``(P1 / P0) / (T3 / T0) - 1``, with its paired error
        (the prices are figures, the errors are those of the technical premiums).
    pure_rate_change
        ``P1 - P0 T3 / T0``: the price change beyond the risk change, in money; it is the
        tables step and the adequacy change of the price walk.
    adequacy_change
        ``(A1 - A0) T4``: the last step of the price walk, the change of price over technical.
    """

    expiring: Quote
    renewal: Quote
    like_for_like: Quote
    steps: tuple[RenewalStep, ...]
    technical_change: Metric
    expiring_premium: float
    renewal_premium: float
    expiring_adequacy: Metric
    renewal_adequacy: Metric
    risk_change: Metric
    rate_change: Metric
    pure_rate_change: Metric
    adequacy_change: Metric

    @property
    def price_change(self) -> float:
        """``P1 - P0``: the steps' price changes plus ``adequacy_change``, exactly."""
        return self.renewal_premium - self.expiring_premium

    def summary(self) -> str:
        """The decomposition as a table a person can read."""
        provenance = self.expiring.provenance
        lines = [
            f"renewal of {self.renewal.submission.lab_id}: tables "
            f"{provenance.tables_version} -> {self.renewal.provenance.tables_version}, seed "
            f"{provenance.seed}, {provenance.n_years:,} years for every step",
            f"{'step':<20}{'technical change':>24}{'price change':>24}",
            f"{'expiring':<20}{self.expiring.premium.technical:>24,.0f}"
            f"{self.expiring_premium:>24,.0f}",
        ]
        for step in self.steps:
            lines.append(
                f"{step.name:<20}{_plus_minus(step.technical_change):>24}"
                f"{_plus_minus(step.price_change):>24}"
            )
        lines.append(f"{'adequacy':<20}{'':>24}{_plus_minus(self.adequacy_change):>24}")
        lines += [
            f"{'renewal':<20}{self.renewal.premium.technical:>24,.0f}"
            f"{self.renewal_premium:>24,.0f}",
            f"adequacy {self.expiring_adequacy.value:.3f} -> {self.renewal_adequacy.value:.3f}; "
            f"risk change {self.risk_change.value:+.2%} ± {self.risk_change.standard_error:.2%}; "
            f"RARC {self.rate_change.value:+.2%} ± {self.rate_change.standard_error:.2%}",
        ]
        return "\n".join(lines)


def _plus_minus(metric: Metric) -> str:
    return f"{metric.value:+,.0f} ± {metric.standard_error:,.0f}"


def _changed(before: Any, after: Any, path: str) -> list[str]:
    """The dotted paths at which two JSON-like values differ, with both values."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        found: list[str] = []
        for key in dict.fromkeys([*before, *after]):
            inner = f"{path}.{key}" if path else str(key)
            found += _changed(before.get(key), after.get(key), inner)
        return found
    if before == after:
        return []
    return [f"{path}: {_text(before)} -> {_text(after)}"]


def _text(value: Any) -> str:
    """A value of a request for a person: amounts with separators and no float noise."""
    if isinstance(value, float):
        return f"{value:,.15g}"
    if value is None:
        return "none"
    return str(value)


def _with_claims_history(submission: Submission, source: Submission) -> Submission:
    data = submission.model_dump(mode="json")
    data["claims_history"] = source.claims_history.model_dump(mode="json")
    return Submission.model_validate(data)


@dataclass(frozen=True, slots=True)
class _Inputs:
    submission: Submission
    terms: PolicyTerms
    tables: RatingTables
    as_of: dt.datetime


def _batch_technicals(quotes: list[Quote], tables: list[RatingTables], batches: int) -> FloatArray:
    """The technical premium of each quote on each batch of years, shape ``(quotes, batches)``,
    as each quote was priced (with its control variates where its tables use them)."""
    rows = [
        q.batch_estimates(version.pricing.premium, batches)[0]
        for q, version in zip(quotes, tables, strict=True)
    ]
    return np.asarray(rows, dtype=np.float64)


def _metric(name: str, value: float, per_batch: FloatArray) -> Metric:
    """``value`` with the batch-means standard error of the statistic computed per batch."""
    batches = per_batch.size
    error = float(np.std(per_batch, ddof=1) / math.sqrt(batches)) if batches > 1 else math.inf
    return Metric(name, value, error)


def renew(
    expiring: QuoteRequest,
    *,
    expiring_tables: RatingTables,
    seed: int | str,
    n_years: int,
    expiring_date: dt.datetime,
    expiring_premium: float,
    renewed: QuoteRequest | None = None,
    tables: RatingTables | None = None,
    renewal_date: dt.datetime | None = None,
    renewal_premium: float | None = None,
    max_events: float | None = None,
    strata_years: Mapping[str, int] | None = None,
) -> Renewal:
    """Price a renewal and decompose its change from the expiring quote on common random numbers.

    Parameters
    ----------
    expiring
        The expiring quote's request.
    expiring_tables, seed, n_years, expiring_date
        What the expiring quote was priced with (its provenance: tables version, seed, years,
        ``created_at``); the expiring quote is priced again from them, so it reproduces the
        quote bound when they are its own. Every step uses the same seed and years.
    strata_years
        The expiring quote's strata's years (``Provenance.strata_years``, tables 2026.5 on):
        every step whose lab has the same strata takes them, so the expiring step reproduces the
        quote bound.
    expiring_premium
        ``P0``, the premium bound (before tax).
    renewed
        The renewed request; the expiring one when ``None``. Its options are not priced.
    tables
        The current tables; the newest released version when ``None``.
    renewal_date
        When the renewal is rated (its claims history is counted up to it); now when ``None``.
    renewal_premium
        ``P1``, the premium offered at renewal; the renewal quote's charged premium when
        ``None``.
    max_events
        A service's budget, checked for each step's quote (:func:`underwriting.quote.quote`).

    Raises
    ------
    UnderwritingError
        If a premium is not positive, the renewal date is before the expiring date, or a step
        cannot be quoted (a claim after the renewal date, a scenario the tables do not know...).

    Example
    -------
    >>> import datetime as dt, pathlib
    >>> from underwriting.rating import load_rating_tables
    >>> request = QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> tables = load_rating_tables("2026.2")
    >>> when = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    >>> r = renew(request, expiring_tables=tables, seed=7, n_years=5_000, expiring_date=when,
    ...           expiring_premium=60_000, tables=tables, renewal_date=when.replace(year=2027))
    >>> [step.technical_change.value for step in r.steps]  # nothing changed but the date
    [0.0, 0.0, 0.0, 0.0]
    >>> r.risk_change.value
    0.0
    """
    _check_positive("expiring_premium", expiring_premium)
    if renewal_premium is not None:
        _check_positive("renewal_premium", renewal_premium)
    renewed = renewed or expiring
    tables = tables or load_rating_tables()
    renewal_date = renewal_date or dt.datetime.now(dt.UTC)
    if renewal_date < expiring_date:
        raise UnderwritingError(
            f"renewal_date {renewal_date.isoformat()} is before the expiring quote's date "
            f"{expiring_date.isoformat()}; a renewal is rated on or after it"
        )
    exposed = _with_claims_history(renewed.submission, expiring.submission)
    inputs = [
        _Inputs(expiring.submission, expiring.terms, expiring_tables, expiring_date),
        _Inputs(exposed, expiring.terms, expiring_tables, expiring_date),
        _Inputs(exposed, renewed.terms, expiring_tables, expiring_date),
        _Inputs(renewed.submission, renewed.terms, expiring_tables, renewal_date),
        _Inputs(renewed.submission, renewed.terms, tables, renewal_date),
    ]
    quotes: list[Quote] = []
    for step in inputs:
        if quotes and step == inputs[len(quotes) - 1]:
            quotes.append(quotes[-1])  # nothing changed: the same quote, a change of exactly 0
            continue
        quotes.append(
            quote(
                step.submission,
                step.terms,
                tables=step.tables,
                seed=seed,
                n_years=n_years,
                strata_years=strata_years,
                created_at=step.as_of,
                max_events=max_events,
            )
        )
    return _decompose(expiring, renewed, inputs, quotes, expiring_premium, renewal_premium)


def renewal_request(expiring: QuoteRecord, asked: QuoteRequest | None = None) -> QuoteRequest:
    """The request a renewal quote records and prices: ``asked`` (the expiring quote's request
    when ``None``) without options, on the expiring quote's seed.

    A renewal prices the renewed terms only; options are added afterwards by revising the
    renewal quote, on the same seed.

    Raises
    ------
    UnderwritingError
        If ``asked`` carries options (naming how many).

    Example
    -------
    >>> import pathlib
    >>> import underwriting as uw
    >>> from underwriting.workflow import Actor, record_quote
    >>> tables = uw.load_rating_tables("2026.3")
    >>> request = uw.QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> q = uw.quote(request.submission, request.terms, tables=tables, n_years=2_000, seed=11)
    >>> record = record_quote(q, request, id="q1", actor=Actor("wang", "underwriter"),
    ...                       tables=tables)
    >>> renewal_request(record).seed == q.provenance.seed, renewal_request(record).options
    (True, ())
    """
    if asked is not None and asked.options:
        raise UnderwritingError(
            f"request.options: {len(asked.options)} option(s) given; a renewal prices the "
            "renewed terms only (none allowed): revise the renewal quote to add options"
        )
    return (asked or expiring.request).model_copy(
        update={"options": (), "option_labels": (), "seed": expiring.provenance.seed}
    )


def renew_record(
    expiring: QuoteRecord,
    renewed: QuoteRequest,
    *,
    expiring_tables: RatingTables,
    expiring_premium: float,
    tables: RatingTables,
    renewal_date: dt.datetime,
    max_events: float | None = None,
) -> Renewal:
    """:func:`renew` of a stored quote: the expiring quote priced again from its record (request,
    seed, years, date on ``expiring_tables``, its own version) and ``renewed``
    (:func:`renewal_request`) on ``tables`` at ``renewal_date``.

    ``expiring_premium`` is the premium the policy was bound at. Raises as :func:`renew`.

    Example
    -------
    >>> import datetime as dt, pathlib
    >>> import underwriting as uw
    >>> from underwriting.workflow import Actor, record_quote
    >>> tables = uw.load_rating_tables("2026.3")
    >>> request = uw.QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> when = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
    >>> q = uw.quote(request.submission, request.terms, tables=tables, n_years=2_000, seed=11,
    ...              created_at=when)
    >>> record = record_quote(q, request, id="q1", actor=Actor("wang", "underwriter"),
    ...                       tables=tables)
    >>> r = renew_record(record, renewal_request(record), expiring_tables=tables,
    ...                  expiring_premium=q.premium.total, tables=tables,
    ...                  renewal_date=when.replace(year=2028))
    >>> r.renewal.premium.technical == q.premium.technical, r.risk_change.value
    (True, 0.0)
    """
    provenance = expiring.provenance
    if expiring_tables.version != provenance.tables_version:
        raise UnderwritingError(
            f"expiring_tables: version {expiring_tables.version} given, but the expiring quote "
            f"{expiring.id} was priced on {provenance.tables_version}"
        )
    return renew(
        expiring.request,
        expiring_tables=expiring_tables,
        seed=provenance.seed,
        n_years=provenance.n_years,
        strata_years=provenance.strata_years,
        expiring_date=provenance.created_at,
        expiring_premium=expiring_premium,
        renewed=renewed,
        tables=tables,
        renewal_date=renewal_date,
        max_events=max_events,
    )


def _step_changes(
    expiring: QuoteRequest, renewed: QuoteRequest, inputs: list[_Inputs]
) -> list[list[str]]:
    before = expiring.submission.model_dump(mode="json")
    after = renewed.submission.model_dump(mode="json")
    claims = _changed(before.pop("claims_history"), after.pop("claims_history"), "claims_history")
    expiring_date, renewal_date = inputs[2].as_of.date(), inputs[3].as_of.date()
    if expiring_date != renewal_date:
        claims.append(f"rated at {renewal_date.isoformat()} instead of {expiring_date.isoformat()}")
    old, new = inputs[3].tables, inputs[4].tables
    return [
        _changed(before, after, "submission"),
        _changed(
            expiring.terms.model_dump(mode="json"), renewed.terms.model_dump(mode="json"), "terms"
        ),
        claims,
        [] if _same_tables(old, new) else [f"tables {old.version} -> {new.version}"],
    ]


def _same_tables(one: RatingTables, other: RatingTables) -> bool:
    return one.version == other.version and dict(one.sha256) == dict(other.sha256)


def _decompose(
    expiring: QuoteRequest,
    renewed: QuoteRequest,
    inputs: list[_Inputs],
    quotes: list[Quote],
    expiring_premium: float,
    renewal_premium: float | None,
) -> Renewal:
    first, like_for_like, last = quotes[0], quotes[3], quotes[4]
    p0 = expiring_premium
    p1 = last.premium.total if renewal_premium is None else renewal_premium
    technical = [q.premium.technical for q in quotes]
    for q in quotes:
        _check_positive("technical premium", q.premium.technical)
    batches = inputs[0].tables.pricing.precision.batches
    per_batch = _batch_technicals(quotes, [i.tables for i in inputs], batches)
    t0, t3, t4 = technical[0], technical[3], technical[4]
    a0, a1 = p0 / t0, p1 / t4
    a0_batch = p0 / per_batch[0]

    steps = []
    for k, (name, changes) in enumerate(
        zip(STEPS, _step_changes(expiring, renewed, inputs), strict=True), start=1
    ):
        difference = paired_difference(
            quotes[k - 1],
            quotes[k],
            first_tables=inputs[k - 1].tables,
            second_tables=inputs[k].tables,
        )
        steps.append(
            RenewalStep(
                name=name,
                changes=tuple(changes),
                technical_before=technical[k - 1],
                technical_after=technical[k],
                technical_change=difference.technical,
                expected_loss_change=difference.expected_loss,
                price_change=_metric(
                    f"{name}: price change",
                    a0 * (technical[k] - technical[k - 1]),
                    a0_batch * (per_batch[k] - per_batch[k - 1]),
                ),
            )
        )
    ratio = per_batch[3] / per_batch[0]
    whole = paired_difference(
        first, last, first_tables=inputs[0].tables, second_tables=inputs[4].tables
    )
    return Renewal(
        expiring=first,
        renewal=last,
        like_for_like=like_for_like,
        steps=tuple(steps),
        technical_change=whole.technical,
        expiring_premium=p0,
        renewal_premium=p1,
        expiring_adequacy=_metric("adequacy at expiry", a0, a0_batch),
        renewal_adequacy=_metric("adequacy at renewal", a1, p1 / per_batch[4]),
        risk_change=_metric("risk change", t3 / t0 - 1, ratio - 1),
        rate_change=_metric(
            "risk-adjusted rate change",
            risk_adjusted_rate_change(p0, p1, t0, t3),
            (p1 / p0) / ratio - 1,
        ),
        pure_rate_change=_metric("pure rate change", p1 - p0 * t3 / t0, p1 - p0 * ratio),
        adequacy_change=_metric(
            "adequacy change",
            (a1 - a0) * t4,
            (p1 / per_batch[4] - a0_batch) * per_batch[4],
        ),
    )
