"""The actions on a quote record: each checks the transition table and returns a new record.

Every function takes the record, who acts (:class:`Actor`), when (``at``, timezone-aware, not
before the record's last event) and the rating tables the quote was made with (their authority
levels); each returns a new record with one more history event, or raises the
:class:`~underwriting.errors.WorkflowError` that says why not. The offered premium is
``_offer``'s.
"""

from __future__ import annotations

import datetime as dt

from underwriting.errors import UnderwritingError, WorkflowError
from underwriting.rating import RatingTables, Reason
from underwriting.workflow._record import Actor, HistoryEvent, JSONValue, QuoteRecord, Referral
from underwriting.workflow._states import (
    ADMIN,
    Action,
    Status,
    Transition,
    authority_rank,
    check,
    role_rank,
)

MANUAL_REFERRAL = "REFERRED_BY_UNDERWRITER"
"""The reason code of a referral an underwriter makes by hand."""


def check_tables(record: QuoteRecord, tables: RatingTables) -> None:
    """Refuse tables of another version than the record's (their authority levels may differ)."""
    if tables.version != record.tables_version:
        raise UnderwritingError(
            f"quote {record.id} was made with rating tables {record.tables_version}; act on it "
            f"with those tables, not {tables.version}"
        )


def check_action(
    record: QuoteRecord, action: Action, actor: Actor, at: dt.datetime, tables: RatingTables
) -> Transition:
    """The transition ``actor`` may take on ``record`` at ``at``, or the error that says why not
    (:func:`~underwriting.workflow.check`, with the record's state, validity and referral)."""
    check_tables(record, tables)
    return check(
        status=record.status,
        action=action,
        role=actor.role,
        at=at,
        valid_until=record.valid_until,
        referral_authority=None if record.referral is None else record.referral.authority,
        tables=tables,
    )


def available_actions(
    record: QuoteRecord, actor: Actor, at: dt.datetime, tables: RatingTables
) -> tuple[Action, ...]:
    """The actions ``actor`` may take on ``record`` at ``at`` (what a page offers as buttons)."""
    found = []
    for action in Action:
        try:
            check_action(record, action, actor, at, tables)
        except WorkflowError:
            continue
        found.append(action)
    return tuple(found)


def _act(
    record: QuoteRecord,
    action: Action,
    to_status: Status,
    actor: Actor,
    at: dt.datetime,
    details: dict[str, JSONValue],
    **changes: object,
) -> QuoteRecord:
    event = HistoryEvent(
        at, actor.name, actor.role, action.value, record.status, to_status, details
    )
    return record.with_event(event, **changes)


def _noted(note: str | None, **details: JSONValue) -> dict[str, JSONValue]:
    return {**details, **({"note": note} if note else {})}


def refer(
    record: QuoteRecord,
    *,
    authority: str,
    actor: Actor,
    at: dt.datetime,
    tables: RatingTables,
    note: str | None = None,
) -> QuoteRecord:
    """Refer the quote to ``authority``: above the actor's own, and above the authority of the
    referral it already waits on (an escalation).

    Raises
    ------
    WorkflowError
        If ``authority`` is not a level of the tables, or not above those.
    """
    check_action(record, Action.REFER, actor, at, tables)
    levels = tables.rules.authority_levels
    if authority not in levels:
        raise WorkflowError(
            f"authority {authority!r} is not one of the authority levels of rating tables "
            f"{tables.version}: {', '.join(levels)}",
            status=record.status.value,
            action=Action.REFER.value,
        )
    wanted = authority_rank(authority, tables)
    own = role_rank(actor.role, tables)
    if actor.role != ADMIN and own is not None and wanted <= own:
        above = ", ".join(levels[own + 1 :]) or "none"
        raise WorkflowError(
            f"{actor.role!r} refers a quote to a higher authority, not to {authority!r}; above "
            f"it: {above}",
            status=record.status.value,
            action=Action.REFER.value,
        )
    current = record.referral if record.status == Status.REFERRED else None
    if current is not None and wanted <= authority_rank(current.authority, tables):
        raise WorkflowError(
            f"the quote already waits on {current.authority!r}; a further referral goes above "
            f"it, not to {authority!r}",
            status=record.status.value,
            action=Action.REFER.value,
        )
    reason = Reason(
        code=MANUAL_REFERRAL,
        outcome="refer",
        message=note or f"Referred by {actor.name} ({actor.role}) to {authority}.",
        figures={},
        authority=authority,
    )
    reasons = (*(current.reasons if current is not None else ()), reason)
    return _act(
        record,
        Action.REFER,
        Status.REFERRED,
        actor,
        at,
        _noted(note, authority=authority),
        referral=Referral(authority, reasons),
    )


def approve(
    record: QuoteRecord,
    *,
    actor: Actor,
    at: dt.datetime,
    tables: RatingTables,
    note: str | None = None,
) -> QuoteRecord:
    """Approve a referral: a senior underwriter holding the authority the referral names."""
    check_action(record, Action.APPROVE, actor, at, tables)
    return _act(record, Action.APPROVE, Status.APPROVED, actor, at, _noted(note))


def decline(
    record: QuoteRecord,
    *,
    actor: Actor,
    at: dt.datetime,
    tables: RatingTables,
    note: str | None = None,
) -> QuoteRecord:
    """Decline a quote (an underwriter) or a referral (with the authority the referral names)."""
    check_action(record, Action.DECLINE, actor, at, tables)
    return _act(record, Action.DECLINE, Status.DECLINED, actor, at, _noted(note))


def bind(
    record: QuoteRecord, *, actor: Actor, at: dt.datetime, tables: RatingTables
) -> QuoteRecord:
    """Bind a quoted or approved quote, still valid, at its offered premium.

    A bound quote cannot be bound again (:class:`~underwriting.errors.TransitionError`): a
    service that makes binding idempotent returns the policy it made the first time.
    """
    check_action(record, Action.BIND, actor, at, tables)
    details: dict[str, JSONValue] = {
        "premium": record.offered_premium.to_dict(),
        "tax": record.offered_tax.to_dict(),
    }
    return _act(record, Action.BIND, Status.BOUND, actor, at, details)


def expire(
    record: QuoteRecord, *, actor: Actor, at: dt.datetime, tables: RatingTables
) -> QuoteRecord:
    """Record that an open quote is past its ``valid_until`` (refused before it)."""
    check_action(record, Action.EXPIRE, actor, at, tables)
    details: dict[str, JSONValue] = {"valid_until": record.valid_until.isoformat()}
    return _act(record, Action.EXPIRE, Status.EXPIRED, actor, at, details)


def supersede(
    record: QuoteRecord, *, by: str, actor: Actor, at: dt.datetime, tables: RatingTables
) -> QuoteRecord:
    """Mark the quote superseded by the revision ``by`` (its record's id)."""
    check_action(record, Action.SUPERSEDE, actor, at, tables)
    return _act(record, Action.SUPERSEDE, Status.SUPERSEDED, actor, at, {"by": by})


def effective_status(record: QuoteRecord, at: dt.datetime) -> Status:
    """The state a reader should see at ``at``: ``expired`` for an open quote past its
    ``valid_until`` whose expiry is not yet recorded, else the record's."""
    if record.status in (Status.QUOTED, Status.REFERRED, Status.APPROVED) and (
        at > record.valid_until
    ):
        return Status.EXPIRED
    return record.status


def policy_period(start: dt.date) -> tuple[dt.date, dt.date]:
    """A year of cover from ``start``: its last day is the day before the anniversary.

    >>> import datetime as dt
    >>> policy_period(dt.date(2028, 2, 29))  # no 29 February in 2029: the anniversary is 1 March
    (datetime.date(2028, 2, 29), datetime.date(2029, 2, 28))
    """
    try:
        anniversary = start.replace(year=start.year + 1)
    except ValueError:  # 29 February: the anniversary is 1 March
        anniversary = dt.date(start.year + 1, 3, 1)
    return start, anniversary - dt.timedelta(days=1)
