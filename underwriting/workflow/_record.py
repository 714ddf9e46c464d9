"""The quote record: everything quoted, where the quote stands, and how it got there.

A :class:`QuoteRecord` is immutable. It keeps the request as asked (submission, terms, options
with the caller's labels, seed), what the quote found (premium and build-up, decision, options'
premiums and decisions, warnings, provenance, validity), the offered premium with its schedule
credits, the current referral, the parent it revises, and an append-only history: each action
(``_actions``, ``_offer``) returns a new record with one more :class:`HistoryEvent`.

:meth:`QuoteRecord.to_dict` gives a JSON-ready dictionary (a store keeps it as JSON) in which
every money amount carries its currency (the rating tables'): ``{"amount": ..., "currency":
...}``, or, for a premium's build-up, a ``currency`` beside its amounts.
:func:`record_from_dict` reads it back to an equal record.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from underwriting.errors import AuthorityError, UnderwritingError, UnderwritingWarning
from underwriting.pricing import Premium
from underwriting.quote import OptionQuote, Provenance, Quote, provenance_from_dict
from underwriting.rating import Decision, RatingTables, Reason
from underwriting.request import QuoteRequest
from underwriting.results import Metric
from underwriting.terms import PolicyTerms
from underwriting.workflow._states import Status, role_rank

JSONValue = str | int | float | bool | None | list[Any] | dict[str, Any]

CREATE = "create"
"""The history's first event: the quote was made (``from_status`` is ``None``)."""


@dataclass(frozen=True, slots=True)
class Money:
    """An amount and its currency (the rating tables')."""

    amount: float
    currency: str

    def to_dict(self) -> dict[str, float | str]:
        return {"amount": self.amount, "currency": self.currency}

    def __str__(self) -> str:
        return f"{self.currency} {self.amount:,.0f}"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a principal's name and the role it acts in."""

    name: str
    role: str


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One change of a quote record.

    Attributes
    ----------
    at
        When (timezone-aware).
    actor, role
        Who, and in which role.
    action
        ``"create"`` or an :class:`~underwriting.workflow.Action`'s value.
    from_status, to_status
        The state before (``None`` for ``create``) and after.
    details
        What the action carried (a note, the offered premium and its credits, the revision that
        supersedes the quote, the authority referred to), JSON-ready.
    """

    at: dt.datetime
    actor: str
    role: str
    action: str
    from_status: Status | None
    to_status: Status
    details: Mapping[str, JSONValue]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "from_status": None if self.from_status is None else self.from_status.value,
            "to_status": self.to_status.value,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class Referral:
    """Why a quote waits, and for whom: the highest authority its reasons name."""

    authority: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class ScheduleCredit:
    """One schedule credit (negative) or debit (positive), a fraction of the technical premium,
    with the reason from the rating tables."""

    reason: str
    label: str
    adjustment: float


@dataclass(frozen=True, slots=True)
class Offer:
    """The offered premium: ``technical * (1 + total_adjustment)``, at least the tables' minimum
    premium, rounded to their unit; ``tax`` is the premium tax on it.

    ``authority_required`` is the lowest authority whose band holds ``total_adjustment``; the
    quote is referred to it when the actor's own band does not.
    """

    credits: tuple[ScheduleCredit, ...]
    total_adjustment: float
    premium: float
    tax: float
    authority_required: str


@dataclass(frozen=True, slots=True)
class QuoteRecord:
    """A quote, where it stands and its history.

    Attributes
    ----------
    id
        The record's identifier (a store's).
    request
        What was asked: submission, terms, options and their labels, seed, precision.
    currency
        Of every amount, from the rating tables' manifest.
    premium
        The technical premium's build-up and the premium charged without an offer.
    decision
        The underwriting rules' decision when quoted.
    options
        Each option with its label, premium, decision and paired difference from the terms.
    warnings, provenance, valid_until
        As quoted.
    status
        Where the quote stands.
    referral
        The referral it waits on (when ``referred``; kept once decided, for the record).
    offer
        The offered premium with its schedule credits, or ``None`` (the charged premium).
    parent_id
        The quote this one revises, or ``None``.
    history
        Every change, oldest first; the first is ``create``.
    """

    id: str
    request: QuoteRequest
    currency: str
    premium: Premium
    decision: Decision
    options: tuple[OptionQuote, ...]
    warnings: tuple[UnderwritingWarning, ...]
    provenance: Provenance
    valid_until: dt.datetime
    status: Status
    referral: Referral | None
    offer: Offer | None
    parent_id: str | None
    history: tuple[HistoryEvent, ...]

    @property
    def tables_version(self) -> str:
        return self.provenance.tables_version

    @property
    def technical_premium(self) -> Money:
        """The technical premium (before the minimum and rounding)."""
        return Money(self.premium.technical, self.currency)

    @property
    def offered_premium(self) -> Money:
        """The premium offered: the offer's, else the premium charged (minimum, rounded)."""
        amount = self.offer.premium if self.offer is not None else self.premium.total
        return Money(amount, self.currency)

    @property
    def offered_tax(self) -> Money:
        """Premium tax on the offered premium."""
        amount = self.offer.tax if self.offer is not None else self.premium.tax
        return Money(amount, self.currency)

    @property
    def adequacy_ratio(self) -> float:
        """Offered over technical premium: below 1, the offer does not pay the technical price."""
        technical = self.premium.technical
        return self.offered_premium.amount / technical if technical > 0 else math.inf

    @property
    def superseded_by(self) -> str | None:
        """The revision that superseded this quote, if any."""
        for event in reversed(self.history):
            if event.to_status == Status.SUPERSEDED:
                by = event.details.get("by")
                return by if isinstance(by, str) else None
        return None

    def summary(self) -> str:
        """A few lines a person reads: status, premiums, referral and the last event."""
        lines = [
            f"quote {self.id} ({self.request.submission.lab_id}): {self.status.value}, "
            f"tables {self.tables_version}, valid until {self.valid_until:%Y-%m-%d}",
            f"technical premium {self.technical_premium}, offered {self.offered_premium} "
            f"(adequacy {self.adequacy_ratio:.3f})",
        ]
        if self.status == Status.REFERRED and self.referral is not None:
            codes = ", ".join(r.code for r in self.referral.reasons)
            lines.append(f"referred to {self.referral.authority}: {codes}")
        last = self.history[-1]
        lines.append(f"last: {last.action} by {last.actor} ({last.role}) at {last.at:%Y-%m-%d}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary; :func:`record_from_dict` reads it back.

        ``technical_premium``, ``offered_premium``, ``offered_tax`` and ``adequacy_ratio`` are
        derived, for readers; they are not read back.
        """
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "status": self.status.value,
            "currency": self.currency,
            "request": self.request.model_dump(mode="json"),
            "technical_premium": self.technical_premium.to_dict(),
            "offered_premium": self.offered_premium.to_dict(),
            "offered_tax": self.offered_tax.to_dict(),
            "adequacy_ratio": _jsonable(self.adequacy_ratio),
            "premium": _premium_dict(self.premium, self.currency),
            "offer": None if self.offer is None else _offer_dict(self.offer, self.currency),
            "decision": _jsonable(self.decision),
            "referral": _jsonable(self.referral),
            "options": [_option_dict(option, self.currency) for option in self.options],
            "warnings": [warning.to_dict() for warning in self.warnings],
            "provenance": _jsonable(self.provenance),
            "valid_until": self.valid_until.isoformat(),
            "history": [event.to_dict() for event in self.history],
        }

    def with_event(self, event: HistoryEvent, **changes: Any) -> QuoteRecord:
        """A new record with ``changes`` and one more history event (entering its state).

        Raises
        ------
        UnderwritingError
            If the event is dated before the last one, has no time zone, or does not leave the
            record's state.
        """
        _check_time(event.at)
        last = self.history[-1].at
        if event.at < last:
            raise UnderwritingError(
                f"an event at {event.at.isoformat()} cannot follow the last one, at "
                f"{last.isoformat()}: the history is in order of time"
            )
        if event.from_status != self.status:
            raise UnderwritingError(
                f"an event from {event.from_status} cannot follow state {self.status.value}"
            )
        return replace(self, status=event.to_status, history=(*self.history, event), **changes)


def _check_time(moment: dt.datetime) -> None:
    if moment.tzinfo is None:
        raise UnderwritingError(f"time {moment.isoformat()} has no time zone: give one (UTC)")


# --------------------------------------------------------------------------- creating


def record_quote(
    quote: Quote,
    request: QuoteRequest,
    *,
    id: str,
    actor: Actor,
    tables: RatingTables,
    at: dt.datetime | None = None,
    parent_id: str | None = None,
) -> QuoteRecord:
    """The record of a new quote: ``quoted``, ``referred`` or ``declined`` as the rules decided.

    Parameters
    ----------
    quote
        The quote of ``request`` (:func:`underwriting.quote_request`).
    request
        What was asked; its submission and terms must be the quote's.
    id
        The record's identifier.
    actor
        Who asked; a role that may act on quotes.
    tables
        The tables the quote was made with (their currency and authority levels).
    at
        When the record is made; the quote's timestamp by default.
    parent_id
        The quote this one revises.

    Raises
    ------
    UnderwritingError
        If the request is not the quote's, or the tables are of another version.
    AuthorityError
        If the role may not act on quotes.
    """
    if quote.submission != request.submission or quote.terms != request.terms:
        raise UnderwritingError("the request's submission and terms are not the quote's")
    if tables.version != quote.provenance.tables_version:
        raise UnderwritingError(
            f"the quote was made with rating tables {quote.provenance.tables_version}, "
            f"not {tables.version}"
        )
    if role_rank(actor.role, tables) is None:
        raise AuthorityError(
            f"role {actor.role!r} may not make quotes; the roles that may are "
            f"{', '.join(tables.rules.authority_levels)} and admin",
            status="none",
            action=CREATE,
            role=actor.role,
            required=tables.rules.authority_levels[0],
        )
    decision = quote.decision
    status = Status(decision.outcome)
    referral = (
        Referral(decision.authority_required, decision.reasons)
        if status == Status.REFERRED and decision.authority_required is not None
        else None
    )
    moment = at or quote.provenance.created_at
    _check_time(moment)
    details: dict[str, JSONValue] = {
        "technical_premium": Money(quote.premium.technical, tables.currency).to_dict(),
        "decision": decision.outcome,
    }
    if parent_id is not None:
        details["revises"] = parent_id
    return QuoteRecord(
        id=id,
        request=request,
        currency=tables.currency,
        premium=quote.premium,
        decision=decision,
        options=quote.options,
        warnings=quote.warnings,
        provenance=quote.provenance,
        valid_until=quote.valid_until,
        status=status,
        referral=referral,
        offer=None,
        parent_id=parent_id,
        history=(HistoryEvent(moment, actor.name, actor.role, CREATE, None, status, details),),
    )


# --------------------------------------------------------------------------- to JSON


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value) if f.compare}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _premium_dict(premium: Premium, currency: str) -> dict[str, Any]:
    data: dict[str, Any] = _jsonable(premium)
    data["currency"] = currency
    return data


def _offer_dict(offer: Offer, currency: str) -> dict[str, Any]:
    return {
        "credits": [_jsonable(credit) for credit in offer.credits],
        "total_adjustment": offer.total_adjustment,
        "premium": Money(offer.premium, currency).to_dict(),
        "tax": Money(offer.tax, currency).to_dict(),
        "authority_required": offer.authority_required,
    }


def _option_dict(option: OptionQuote, currency: str) -> dict[str, Any]:
    return {
        "label": option.label,
        "terms": option.terms.model_dump(mode="json"),
        "premium": _premium_dict(option.premium, currency),
        "metrics": _jsonable(option.metrics),
        "decision": _jsonable(option.decision),
        "difference": Money(option.difference, currency).to_dict(),
        "difference_standard_error": Money(
            _finite_or_none(option.difference_standard_error), currency
        ).to_dict(),
    }


def _finite_or_none(value: float) -> Any:
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- from JSON


def _error(value: Any) -> float:
    """A standard error as stored: ``None`` stands for an infinite one (too few years)."""
    return math.inf if value is None else float(value)


def _time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    _check_time(moment)
    return moment


def _premium_from(data: Mapping[str, Any]) -> Premium:
    values = {f.name: data[f.name] for f in fields(Premium) if f.name in data}
    values["standard_error"] = _error(data["standard_error"])
    values["relative_error"] = _error(data["relative_error"])
    values["by_section"] = dict(data["by_section"])
    values["by_scenario"] = dict(data["by_scenario"])
    return Premium(**values)


def _decision_from(data: Mapping[str, Any]) -> Decision:
    return Decision(
        outcome=data["outcome"],
        reasons=tuple(_reason_from(reason) for reason in data["reasons"]),
        authority_required=data["authority_required"],
        rules_evaluated=tuple(data["rules_evaluated"]),
    )


def _reason_from(data: Mapping[str, Any]) -> Reason:
    return Reason(
        code=data["code"],
        outcome=data["outcome"],
        message=data["message"],
        figures=dict(data["figures"]),
        authority=data.get("authority"),
    )


def _option_from(data: Mapping[str, Any]) -> OptionQuote:
    return OptionQuote(
        label=data["label"],
        terms=PolicyTerms.model_validate(data["terms"]),
        premium=_premium_from(data["premium"]),
        metrics=tuple(
            Metric(m["name"], float(m["value"]), _error(m["standard_error"]))
            for m in data["metrics"]
        ),
        decision=_decision_from(data["decision"]),
        difference=float(data["difference"]["amount"]),
        difference_standard_error=_error(data["difference_standard_error"]["amount"]),
    )


def _offer_from(data: Mapping[str, Any]) -> Offer:
    return Offer(
        credits=tuple(ScheduleCredit(**credit) for credit in data["credits"]),
        total_adjustment=float(data["total_adjustment"]),
        premium=float(data["premium"]["amount"]),
        tax=float(data["tax"]["amount"]),
        authority_required=data["authority_required"],
    )


def _event_from(data: Mapping[str, Any]) -> HistoryEvent:
    return HistoryEvent(
        at=_time(data["at"]),
        actor=data["actor"],
        role=data["role"],
        action=data["action"],
        from_status=None if data["from_status"] is None else Status(data["from_status"]),
        to_status=Status(data["to_status"]),
        details=dict(data["details"]),
    )


def record_from_dict(data: Mapping[str, Any]) -> QuoteRecord:
    """A record from :meth:`QuoteRecord.to_dict`'s dictionary (as a store kept it).

    Raises
    ------
    UnderwritingError
        If a field is missing or of the wrong kind (naming it).
    pydantic.ValidationError
        If the request or a set of terms is invalid.
    """
    try:
        referral = data["referral"]
        return QuoteRecord(
            id=str(data["id"]),
            request=QuoteRequest.model_validate(data["request"]),
            currency=str(data["currency"]),
            premium=_premium_from(data["premium"]),
            decision=_decision_from(data["decision"]),
            options=tuple(_option_from(option) for option in data["options"]),
            warnings=tuple(UnderwritingWarning(**warning) for warning in data["warnings"]),
            provenance=provenance_from_dict(data["provenance"]),
            valid_until=_time(data["valid_until"]),
            status=Status(data["status"]),
            referral=None
            if referral is None
            else Referral(
                referral["authority"], tuple(_reason_from(r) for r in referral["reasons"])
            ),
            offer=None if data["offer"] is None else _offer_from(data["offer"]),
            parent_id=data["parent_id"],
            history=tuple(_event_from(event) for event in data["history"]),
        )
    except ValidationError:
        raise  # it names the field of the request or terms
    except KeyError as error:
        raise UnderwritingError(
            f"a stored quote record lacks the field {error.args[0]!r}"
        ) from error
    except (TypeError, ValueError) as error:
        raise UnderwritingError(f"a stored quote record is malformed: {error}") from error
