"""The states of a quote and every transition between them, in one table.

A quote enters the workflow ``quoted``, ``referred`` or ``declined`` (the rules' decision) and
leaves it ``bound``, ``declined``, ``expired`` or ``superseded``::

    quoted ──refer / offer beyond the band──> referred ──approve──> approved ──bind──> bound
      │  └──────────────────────bind────────────────────────────────────────────────────^
      ├──decline──> declined <──decline── referred
      ├──expire (past valid_until)──> expired      (also from referred and approved)
      └──supersede (a revision)──> superseded      (also from referred, approved, declined,
                                                    expired)

Authority is ordered by the rating tables' ``authority_levels`` (lowest first: underwriter,
senior_underwriter, chief_underwriter); a role of that name holds that level. ``admin`` holds
every authority; ``actuary`` (and any other role) may not act on quotes. Deciding a referral
(approve, or decline a referred quote) needs a senior underwriter and at least the authority the
referral names, as the service decided referrals before this module existed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from underwriting.errors import (
    AuthorityError,
    QuoteExpiredError,
    TransitionError,
    UnderwritingError,
    WorkflowError,
)
from underwriting.rating import RatingTables

ADMIN = "admin"
"""The role that holds every authority."""


class Status(StrEnum):
    """Where a quote stands."""

    QUOTED = "quoted"
    """Priced within the rules; may be offered, bound, referred or declined."""
    REFERRED = "referred"
    """Waiting for the authority its referral names."""
    APPROVED = "approved"
    """A referral approved by the authority it named; may be bound."""
    DECLINED = "declined"
    """Declined by the rules or by an underwriter."""
    BOUND = "bound"
    """Accepted by the client: a policy."""
    EXPIRED = "expired"
    """Past ``valid_until`` without being bound."""
    SUPERSEDED = "superseded"
    """Replaced by a revision."""


class Action(StrEnum):
    """What may be done to a quote."""

    REFER = "refer"
    APPROVE = "approve"
    DECLINE = "decline"
    BIND = "bind"
    EXPIRE = "expire"
    SUPERSEDE = "supersede"
    OFFER = "offer"


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the workflow: an action, the states it leaves and enters, the authority it needs.

    Attributes
    ----------
    action
        The action.
    leaves
        The states it may be taken from.
    enters
        The state it leads to; an offer stays ``quoted`` within the actor's band and no rule's
        referral, and is ``referred`` otherwise (``enters`` lists both).
    authority
        The lowest authority level that may take it (admin may take every one).
    referral_authority
        Whether it also needs the authority that the quote's referral names.
    needs_valid_quote
        Whether a quote past its ``valid_until`` refuses it.
    meaning
        One sentence a person reads.
    """

    action: Action
    leaves: tuple[Status, ...]
    enters: tuple[Status, ...]
    authority: str
    referral_authority: bool
    needs_valid_quote: bool
    meaning: str


_OPEN = (Status.QUOTED, Status.REFERRED, Status.APPROVED)

TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        Action.REFER,
        (Status.QUOTED, Status.REFERRED),
        (Status.REFERRED,),
        "underwriter",
        referral_authority=False,
        needs_valid_quote=True,
        meaning="refer to an authority above the actor's own (and above the current referral's)",
    ),
    Transition(
        Action.OFFER,
        (Status.QUOTED, Status.REFERRED),
        (Status.QUOTED, Status.REFERRED),
        "underwriter",
        referral_authority=False,
        needs_valid_quote=True,
        meaning="set the offered premium with schedule credits and debits; beyond the actor's "
        "band it is referred to the authority whose band holds the total",
    ),
    Transition(
        Action.APPROVE,
        (Status.REFERRED,),
        (Status.APPROVED,),
        "senior_underwriter",
        referral_authority=True,
        needs_valid_quote=True,
        meaning="approve a referral",
    ),
    Transition(
        Action.DECLINE,
        (Status.QUOTED,),
        (Status.DECLINED,),
        "underwriter",
        referral_authority=False,
        needs_valid_quote=True,
        meaning="decline a quote within the underwriter's authority",
    ),
    Transition(
        Action.DECLINE,
        (Status.REFERRED,),
        (Status.DECLINED,),
        "senior_underwriter",
        referral_authority=True,
        needs_valid_quote=True,
        meaning="decline a referral",
    ),
    Transition(
        Action.BIND,
        (Status.QUOTED, Status.APPROVED),
        (Status.BOUND,),
        "underwriter",
        referral_authority=False,
        needs_valid_quote=True,
        meaning="bind the quote at its offered premium: a policy",
    ),
    Transition(
        Action.EXPIRE,
        _OPEN,
        (Status.EXPIRED,),
        "underwriter",
        referral_authority=False,
        needs_valid_quote=False,
        meaning="record that the quote is past its valid_until (only then)",
    ),
    Transition(
        Action.SUPERSEDE,
        (*_OPEN, Status.DECLINED, Status.EXPIRED),
        (Status.SUPERSEDED,),
        "underwriter",
        referral_authority=False,
        needs_valid_quote=False,
        meaning="replace the quote by a revision (priced with its seed and tables version)",
    ),
)
"""Every transition of the workflow; an action absent from a state's rows is illegal there."""


def allowed_from(action: Action) -> tuple[Status, ...]:
    """The states from which ``action`` may be taken, in the order of :class:`Status`."""
    states = {status for t in TRANSITIONS if t.action == action for status in t.leaves}
    return tuple(status for status in Status if status in states)


def transition(status: Status, action: Action) -> Transition:
    """The row for ``action`` from ``status``.

    Raises
    ------
    TransitionError
        If ``status`` does not allow ``action``; the message names the states that do.
    """
    for row in TRANSITIONS:
        if row.action == action and status in row.leaves:
            return row
    allowed = allowed_from(action)
    raise TransitionError(
        f"cannot {action.value} a quote that is {status.value}: only a quote that is "
        f"{_either(allowed)} can be {_past(action)}",
        status=status.value,
        action=action.value,
        allowed_from=tuple(s.value for s in allowed),
    )


def _either(states: Sequence[Status]) -> str:
    names = [s.value for s in states]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _past(action: Action) -> str:
    return {
        Action.REFER: "referred",
        Action.APPROVE: "approved",
        Action.DECLINE: "declined",
        Action.BIND: "bound",
        Action.EXPIRE: "expired",
        Action.SUPERSEDE: "superseded",
        Action.OFFER: "offered",
    }[action]


def authority_rank(authority: str, tables: RatingTables) -> int:
    """The position of an authority level in the tables' ``authority_levels`` (0: lowest)."""
    levels = tables.rules.authority_levels
    if authority not in levels:
        raise UnderwritingError(
            f"authority {authority!r} is not one of the authority levels of rating tables "
            f"{tables.version} ({', '.join(levels)})"
        )
    return levels.index(authority)


def role_rank(role: str, tables: RatingTables) -> int | None:
    """The authority a role holds: its level's rank, above every level for admin, ``None`` for a
    role that may not act on quotes (an actuary)."""
    levels = tables.rules.authority_levels
    if role == ADMIN:
        return len(levels)
    return levels.index(role) if role in levels else None


def holds(role: str, authority: str, tables: RatingTables) -> bool:
    """Whether ``role`` holds ``authority`` (admin holds every one)."""
    rank = role_rank(role, tables)
    return rank is not None and rank >= authority_rank(authority, tables)


def expired_at(valid_until: dt.datetime, at: dt.datetime) -> bool:
    """Whether a quote valid until ``valid_until`` is expired at ``at`` (strictly after)."""
    return at > valid_until


def check(
    *,
    status: Status,
    action: Action,
    role: str,
    at: dt.datetime,
    valid_until: dt.datetime,
    referral_authority: str | None,
    tables: RatingTables,
) -> Transition:
    """The transition ``role`` may take at ``at``, or the error that says why not.

    The checks, in order: the role may act on quotes; the state allows the action; the quote is
    still valid (when the action needs it; ``expire`` needs it past); the role holds the
    authority the action and, for a decision on a referral, the referral need.

    Raises
    ------
    AuthorityError
        If the role may not act on quotes, or lacks the authority needed.
    TransitionError
        If the state does not allow the action.
    QuoteExpiredError
        If the quote is past ``valid_until`` and the action needs a valid quote.
    WorkflowError
        If ``expire`` is asked before ``valid_until``.
    UnderwritingError
        If ``at`` has no time zone.
    """
    if at.tzinfo is None:
        raise UnderwritingError(f"time {at.isoformat()} has no time zone: give one (UTC)")
    levels = tables.rules.authority_levels
    if role_rank(role, tables) is None:
        raise AuthorityError(
            f"role {role!r} may not act on quotes; the roles that may are "
            f"{', '.join(levels)} (lowest first, rating tables {tables.version}) and {ADMIN}",
            status=status.value,
            action=action.value,
            role=role,
            required=None,
        )
    row = transition(status, action)
    when = f"{valid_until.isoformat(timespec='seconds')}"
    if row.needs_valid_quote and expired_at(valid_until, at):
        raise QuoteExpiredError(
            f"cannot {action.value} the quote: it was valid until {when} and has expired (it is "
            f"now {at.isoformat(timespec='seconds')}); revise it for a new quote",
            status=status.value,
            action=action.value,
            valid_until=valid_until.isoformat(),
        )
    if action == Action.EXPIRE and not expired_at(valid_until, at):
        raise WorkflowError(
            f"cannot expire the quote before its valid_until, {when}; it is now "
            f"{at.isoformat(timespec='seconds')}",
            status=status.value,
            action=action.value,
        )
    required = row.authority
    if (
        row.referral_authority
        and referral_authority is not None
        and authority_rank(referral_authority, tables) > authority_rank(required, tables)
    ):
        required = referral_authority
    if not holds(role, required, tables):
        whose = " (the authority its referral names)" if required != row.authority else ""
        raise AuthorityError(
            f"{role!r} may not {action.value} a {status.value} quote: it needs the authority of "
            f"{required!r}{whose} or above (authority levels of rating tables {tables.version}, "
            f"lowest first: {', '.join(levels)}; {ADMIN} may do anything)",
            status=status.value,
            action=action.value,
            role=role,
            required=required,
        )
    return row
