"""Reading and writing quote records, their history, policies and renewals in the store.

Every function takes an open :class:`~sqlalchemy.orm.Session` (``store.session()``), so that a
route reads, acts and writes in one transaction; none commits. A quote row keeps its workflow
record as JSON (``quotes.record``) and its status as a column; every event of the record's
history is also a row of ``quote_events``, appended by :func:`save_record` and never changed.
The workflow itself (states, transitions, authority) is ``underwriting.workflow``'s: nothing
here decides anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import underwriting as uw
from api.store import PolicyRecord, QuoteEvent, QuoteRecord, RenewalRecord
from underwriting import workflow as wf

__all__ = [
    "NewQuote",
    "add_policy",
    "add_quote",
    "add_renewal",
    "history",
    "new_policy_number",
    "policies",
    "policy_of_quote",
    "rate_records",
    "renewal_decomposition",
    "renewal_of_quote",
    "renewals_of_policy",
    "request_hash",
    "save_record",
    "workflow_record",
]


def _stored_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def workflow_record(row: QuoteRecord) -> wf.QuoteRecord:
    """The workflow record of a stored quote."""
    return wf.record_from_dict(row.record)


def _append_events(session: Session, quote_id: str, record: wf.QuoteRecord, stored: int) -> None:
    for sequence, event in enumerate(record.history[stored:], start=stored + 1):
        session.add(
            QuoteEvent(
                quote_id=quote_id,
                sequence=sequence,
                actor=event.actor,
                role=event.role,
                at=_stored_utc(event.at),
                action=event.action,
                from_status=None if event.from_status is None else event.from_status.value,
                to_status=event.to_status.value,
                details=dict(event.details),
            )
        )


def request_hash(value: Any) -> str:
    """The SHA-256 of a request's canonical JSON: what an Idempotency-Key is checked against (a
    retried request answers what the first made; the same key on another request is refused)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewQuote:
    """What a new quote row carries besides its record: who asked, how, and the stored quote.

    ``quote`` is ``Quote.to_dict()`` (the document and the replay read it); ``request_hash``
    and ``idempotency_key`` make a retried POST answer with the quote it made.
    """

    principal: str
    request_hash: str
    quote: dict[str, Any]
    idempotency_key: str | None = None


def add_quote(session: Session, record: wf.QuoteRecord, new: NewQuote) -> QuoteRecord:
    """Store a new quote with its record and its history's events."""
    first = record.history[0]
    row = QuoteRecord(
        id=record.id,
        principal=new.principal,
        lab_id=record.request.submission.lab_id,
        outcome=record.decision.outcome,
        status=record.status.value,
        created_at=_stored_utc(first.at),
        idempotency_key=new.idempotency_key,
        request_hash=new.request_hash,
        request=record.request.model_dump(mode="json"),
        quote=new.quote,
        parent_id=record.parent_id,
        valid_until=record.valid_until,
        tables_version=record.tables_version,
        record=record.to_dict(),
    )
    session.add(row)
    session.flush()  # the quote row before its events (their foreign key)
    _append_events(session, record.id, record, 0)
    return row


def save_record(session: Session, row: QuoteRecord, record: wf.QuoteRecord) -> None:
    """Write a record that an action returned: its JSON and status, and its new events.

    Raises
    ------
    ValueError
        If the record is not the row's, or its history does not extend the stored one (the
        history is append-only).
    """
    stored = workflow_record(row)
    if record.id != row.id or record.history[: len(stored.history)] != stored.history:
        raise ValueError(f"the record given does not extend the stored history of quote {row.id}")
    row.record = record.to_dict()
    row.status = record.status.value
    _append_events(session, row.id, record, len(stored.history))


def history(session: Session, quote_id: str) -> list[QuoteEvent]:
    """The events of a quote, oldest first."""
    return list(
        session.scalars(
            select(QuoteEvent).where(QuoteEvent.quote_id == quote_id).order_by(QuoteEvent.sequence)
        )
    )


# --------------------------------------------------------------------------- policies


def new_policy_number(session: Session, year: int) -> str:
    """A policy number not yet used: ``LAB-<year>-<8 hex digits>``."""
    while True:
        number = f"LAB-{year}-{secrets.token_hex(4).upper()}"
        taken = session.scalar(
            select(func.count())
            .select_from(PolicyRecord)
            .where(PolicyRecord.policy_number == number)
        )
        if not taken:
            return number


def policy_of_quote(session: Session, quote_id: str) -> PolicyRecord | None:
    """The policy a quote was bound as, if any."""
    return session.scalars(select(PolicyRecord).where(PolicyRecord.quote_id == quote_id)).first()


def add_policy(
    session: Session,
    record: wf.QuoteRecord,
    *,
    principal: str,
    period: tuple[dt.date, dt.date],
    at: dt.datetime,
    idempotency_key: str | None = None,
) -> PolicyRecord:
    """Store the policy of a bound record (at its offered premium), linked to the policy it
    renews when the quote is a renewal."""
    renewal = renewal_of_quote(session, record.id)
    policy = PolicyRecord(
        id=str(uuid.uuid4()),
        policy_number=new_policy_number(session, period[0].year),
        quote_id=record.id,
        principal=principal,
        lab_id=record.request.submission.lab_id,
        period_start=period[0],
        period_end=period[1],
        bound_premium=record.offered_premium.amount,
        bound_tax=record.offered_tax.amount,
        technical_premium=record.technical_premium.amount,
        currency=record.currency,
        tables_version=record.tables_version,
        created_at=_stored_utc(at),
        renews_policy_id=None if renewal is None else renewal.policy_id,
        idempotency_key=idempotency_key,
    )
    session.add(policy)
    return policy


def policies(
    session: Session,
    *,
    principal: str | None = None,
    lab_id: str | None = None,
    limit: int = 100,
) -> list[PolicyRecord]:
    """Policies, newest first; only ``principal``'s when given."""
    conditions: list[Any] = []
    if principal is not None:
        conditions.append(PolicyRecord.principal == principal)
    if lab_id is not None:
        conditions.append(PolicyRecord.lab_id == lab_id)
    return list(
        session.scalars(
            select(PolicyRecord)
            .where(*conditions)
            .order_by(PolicyRecord.created_at.desc(), PolicyRecord.id.desc())
            .limit(limit)
        )
    )


# --------------------------------------------------------------------------- renewals


def _metric(metric: uw.Metric) -> dict[str, Any]:
    return {"name": metric.name, "value": metric.value, "standard_error": metric.standard_error}


def renewal_decomposition(
    renewal: wf.Renewal, *, policy: PolicyRecord, expiring_quote_id: str
) -> dict[str, Any]:
    """The change from the expiring premium to the renewal's, step by step, as JSON: what a
    renewal row keeps and the API answers (``RenewalDecompositionOut``) and the pages show."""
    expiring, renewed = renewal.expiring.provenance, renewal.renewal.provenance
    return {
        "policy_id": policy.id,
        "expiring_quote_id": expiring_quote_id,
        "currency": policy.currency,
        "seed": expiring.seed,
        "n_years": expiring.n_years,
        "expiring_tables_version": expiring.tables_version,
        "tables_version": renewed.tables_version,
        "expiring_technical": renewal.expiring.premium.technical,
        "renewal_technical": renewal.renewal.premium.technical,
        "expiring_premium": renewal.expiring_premium,
        "renewal_premium": renewal.renewal_premium,
        "steps": [
            {
                "name": step.name,
                "changes": list(step.changes),
                "technical_before": step.technical_before,
                "technical_after": step.technical_after,
                "technical_change": _metric(step.technical_change),
                "expected_loss_change": _metric(step.expected_loss_change),
                "price_change": _metric(step.price_change),
            }
            for step in renewal.steps
        ],
        "adequacy_change": _metric(renewal.adequacy_change),
        "technical_change": _metric(renewal.technical_change),
        "expiring_adequacy": _metric(renewal.expiring_adequacy),
        "renewal_adequacy": _metric(renewal.renewal_adequacy),
        "risk_change": _metric(renewal.risk_change),
        "rate_change": _metric(renewal.rate_change),
        "pure_rate_change": _metric(renewal.pure_rate_change),
    }


def add_renewal(
    session: Session,
    *,
    quote_id: str,
    policy: PolicyRecord,
    expiring_quote_id: str,
    renewal: wf.Renewal,
    at: dt.datetime,
) -> RenewalRecord:
    """Store a renewal quote's link to the policy it renews and its rate-change figures
    (:func:`renewal_decomposition`)."""
    row = RenewalRecord(
        quote_id=quote_id,
        policy_id=policy.id,
        expiring_premium=renewal.expiring_premium,
        expiring_technical=renewal.expiring.premium.technical,
        like_for_like_technical=renewal.like_for_like.premium.technical,
        renewal_technical=renewal.renewal.premium.technical,
        rate_change=renewal.rate_change.value,
        decomposition=renewal_decomposition(
            renewal, policy=policy, expiring_quote_id=expiring_quote_id
        ),
        created_at=_stored_utc(at),
    )
    session.add(row)
    return row


def renewal_of_quote(session: Session, quote_id: str) -> RenewalRecord | None:
    """The renewal a quote prices, if it is a renewal quote."""
    return session.get(RenewalRecord, quote_id)


def renewals_of_policy(session: Session, policy_id: str) -> list[RenewalRecord]:
    """The renewal quotes made for a policy, newest first."""
    return list(
        session.scalars(
            select(RenewalRecord)
            .where(RenewalRecord.policy_id == policy_id)
            .order_by(RenewalRecord.created_at.desc(), RenewalRecord.quote_id.desc())
        )
    )


def rate_records(session: Session, *, principal: str | None = None) -> list[wf.RateRecord]:
    """Every policy written, as a rate-monitoring record (``underwriting.workflow.RateRecord``).

    The month is the policy's, the underwriter the one who asked for its quote, the premium the
    bound premium; a policy bound from a renewal quote carries the expiring premium, the
    expiring technical premium and the like-for-like technical premium of its renewal (its
    premium is then ``P1``). Only ``principal``'s policies when given.
    """
    query = (
        select(PolicyRecord, QuoteRecord, RenewalRecord)
        .join(QuoteRecord, QuoteRecord.id == PolicyRecord.quote_id)
        .outerjoin(RenewalRecord, RenewalRecord.quote_id == PolicyRecord.quote_id)
        .order_by(PolicyRecord.created_at, PolicyRecord.id)
    )
    if principal is not None:
        query = query.where(PolicyRecord.principal == principal)
    found: list[wf.RateRecord] = []
    for policy, quote, renewal in session.execute(query):
        category = quote.request["submission"]["lab_category"]
        renewed: dict[str, float] = (
            {}
            if renewal is None
            else {
                "expiring_premium": renewal.expiring_premium,
                "expiring_technical": renewal.expiring_technical,
                "like_for_like_technical": renewal.like_for_like_technical,
            }
        )
        found.append(
            wf.RateRecord(
                month=f"{policy.created_at:%Y-%m}",
                lab_category=str(category),
                underwriter=quote.principal,
                premium=policy.bound_premium,
                technical=policy.technical_premium,
                **renewed,
            )
        )
    return found
