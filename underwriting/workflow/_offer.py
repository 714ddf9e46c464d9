"""The offered premium: the technical premium moved by schedule credits and debits.

``offered = technical * (1 + sum of adjustments)``, each adjustment chosen from a reason of the
rating tables (``[[schedule_credits]]`` in ``rules.toml``) within its range; then the tables'
minimum premium and rounding unit, as for the charged premium. How far the sum may go depends on
who offers: each authority level has a band (``[[offer_bands]]``). Beyond the actor's band the
quote is referred to the lowest authority whose band holds the sum; outside every band it cannot
be offered. Tables without schedule credits (2026.1, 2026.2) allow only the technical premium.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from underwriting.errors import OfferError
from underwriting.rating import OfferBand, RatingTables, Reason
from underwriting.workflow._actions import check_action
from underwriting.workflow._record import (
    Actor,
    HistoryEvent,
    JSONValue,
    Money,
    Offer,
    QuoteRecord,
    Referral,
    ScheduleCredit,
)
from underwriting.workflow._states import Action, Status, authority_rank, role_rank

OFFER_BEYOND_BAND = "OFFER_BEYOND_BAND"
"""The reason code of a referral for an offer beyond the actor's band."""


def _percent(value: float) -> str:
    return f"{value:+.1%}"


def _band_text(band: OfferBand) -> str:
    return (
        f"{band.authority} {_percent(band.min_total_adjustment)} to "
        f"{_percent(band.max_total_adjustment)}"
    )


def _credits(
    adjustments: Mapping[str, float], tables: RatingTables, record: QuoteRecord
) -> tuple[ScheduleCredit, ...]:
    """The chosen credits in the tables' order, each checked against its reason's range."""
    rules = tables.rules
    fail = {"status": record.status.value, "action": Action.OFFER.value}
    if not rules.schedule_credits:
        moved = {reason: value for reason, value in adjustments.items() if value != 0}
        if moved:
            raise OfferError(
                f"rating tables {tables.version} have no schedule credits: an offer other than "
                f"the technical premium is refused (asked: {', '.join(sorted(moved))})",
                **fail,
            )
        return ()
    reasons = {reason.id: reason for reason in rules.schedule_credits}
    for reason_id, value in adjustments.items():
        if reason_id not in reasons:
            raise OfferError(
                f"schedule credit {reason_id!r} is not a reason of rating tables "
                f"{tables.version}; allowed: {', '.join(reasons)}",
                **fail,
            )
        reason = reasons[reason_id]
        if not (math.isfinite(value) and reason.min_adjustment <= value <= reason.max_adjustment):
            raise OfferError(
                f"schedule credit {reason_id!r} ({reason.label}) of {value!r} is outside its "
                f"range {_percent(reason.min_adjustment)} to {_percent(reason.max_adjustment)} "
                f"(as fractions: {reason.min_adjustment} to {reason.max_adjustment}; rating "
                f"tables {tables.version})",
                **fail,
            )
    return tuple(
        ScheduleCredit(reason.id, reason.label, float(adjustments[reason.id]))
        for reason in rules.schedule_credits
        if reason.id in adjustments
    )


def _band_of(role: str, tables: RatingTables) -> OfferBand | None:
    """The band of the role's authority (admin: the widest); ``None`` without bands."""
    bands = tables.rules.offer_bands
    if not bands:
        return None
    rank = role_rank(role, tables)
    assert rank is not None  # check_action refused a role that may not act on quotes
    return bands[min(rank, len(bands) - 1)]


def _approving_band(total: float, tables: RatingTables, record: QuoteRecord) -> OfferBand | None:
    """The lowest authority's band that holds ``total``; ``None`` without bands."""
    bands = tables.rules.offer_bands
    if not bands:
        return None
    for band in bands:
        if band.contains(total):
            return band
    raise OfferError(
        f"schedule credits and debits of {_percent(total)} in total are outside every "
        f"authority's band (rating tables {tables.version}: "
        f"{'; '.join(_band_text(band) for band in bands)}): no one may approve this offer",
        status=record.status.value,
        action=Action.OFFER.value,
    )


def offered_amounts(technical: float, total: float, tables: RatingTables) -> tuple[float, float]:
    """The offered premium and its tax: ``technical * (1 + total)``, at least the minimum premium,
    rounded to the tables' unit, as the charged premium is."""
    settings = tables.pricing.premium
    unit = settings.rounding_unit
    premium = round(max(technical * (1.0 + total), settings.minimum_premium) / unit) * unit
    tax = round(premium * settings.premium_tax_rate / unit) * unit
    return float(premium), float(tax)


def offer(
    record: QuoteRecord,
    credits: Mapping[str, float],
    *,
    actor: Actor,
    at: dt.datetime,
    tables: RatingTables,
    note: str | None = None,
) -> QuoteRecord:
    """Set the offered premium with schedule credits (negative) and debits (positive).

    Parameters
    ----------
    record
        A ``quoted`` or ``referred`` quote, still valid.
    credits
        Reason id (``"survey_excellent_housekeeping"``) to its adjustment, a fraction of the
        technical premium within the reason's range (``-0.05``). Empty: the technical premium.
    actor, at, tables
        Who offers and when; the rating tables of the quote (reasons, bands, minimum, rounding).
    note
        Why, for the history.

    Returns
    -------
    QuoteRecord
        With the offer, and ``quoted`` when the total is within the actor's band and no other
        reason refers the quote; else ``referred`` to the highest authority its reasons need
        (the band's: the lowest authority whose band holds the total). A new offer replaces the
        previous one and its referral.

    Raises
    ------
    OfferError
        If a reason is unknown, an adjustment is outside its range, the total is outside every
        band, or the tables have no schedule credits and an adjustment is not 0.
    TransitionError, QuoteExpiredError, AuthorityError
        As :func:`~underwriting.workflow.check`.
    """
    check_action(record, Action.OFFER, actor, at, tables)
    chosen = _credits(credits, tables, record)
    total = math.fsum(credit.adjustment for credit in chosen)
    own = _band_of(actor.role, tables)
    approving = _approving_band(total, tables, record)
    lowest = tables.rules.authority_levels[0]
    required = approving.authority if approving is not None else lowest
    premium, tax = offered_amounts(record.premium.technical, total, tables)

    waiting = record.referral if record.status == Status.REFERRED else None
    reasons = [r for r in (waiting.reasons if waiting else ()) if r.code != OFFER_BEYOND_BAND]
    if own is not None and not own.contains(total):
        reasons.append(
            Reason(
                code=OFFER_BEYOND_BAND,
                outcome="refer",
                message=f"Schedule credits and debits of {_percent(total)} in total are outside "
                f"the band of {_band_text(own)}; {_band_text(approving or own)} may approve "
                f"them (rating tables {tables.version}).",
                figures={
                    "total_adjustment": total,
                    "band_min": own.min_total_adjustment,
                    "band_max": own.max_total_adjustment,
                },
                authority=required,
            )
        )
    referral = (
        Referral(
            max((r.authority or lowest for r in reasons), key=lambda a: authority_rank(a, tables)),
            tuple(reasons),
        )
        if reasons
        else None
    )
    status = Status.REFERRED if referral is not None else Status.QUOTED
    made = Offer(chosen, total, premium, tax, required)
    details: dict[str, JSONValue] = {
        "credits": [
            {"reason": c.reason, "label": c.label, "adjustment": c.adjustment} for c in chosen
        ],
        "total_adjustment": total,
        "offered_premium": Money(premium, record.currency).to_dict(),
        "technical_premium": record.technical_premium.to_dict(),
        "authority_required": required,
    }
    if referral is not None:
        details["referred_to"] = referral.authority
    if note:
        details["note"] = note
    event = HistoryEvent(
        at, actor.name, actor.role, Action.OFFER.value, record.status, status, details
    )
    return record.with_event(event, offer=made, referral=referral)
