"""The workflow's endpoints: history, revisions, offers, binding, policies, renewals, rate
monitoring and the client's document. Each parses, calls ``underwriting.workflow``, stores
through :mod:`api.records` and maps the result; the states, authority and validity rules are the
package's (docs/workflow.md, docs/api-workflow.md)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import underwriting as uw
from api import records
from api.problems import Problem, documented
from api.routes import (
    QUOTING_ROLES,
    AppSettings,
    Catalogue,
    Clock,
    Limiter,
    Store_,
    Tables,
    View,
    _actor,
    _tables_of,
    _visible,
    quote_out,
    stored_by_idempotency_key,
)
from api.schemas import (
    BindIn,
    HistoryEventOut,
    MetricOut,
    OfferIn,
    PolicyOut,
    PolicyPage,
    QuoteOut,
    RateGroupOut,
    RateMonitoringOut,
    RenewalDecompositionOut,
    RenewalIn,
    RenewalOut,
    RevisionOut,
)
from api.security import Principal, require
from api.store import PolicyRecord, QuoteRecord
from underwriting import workflow as wf
from underwriting.report import quote_document_pdf, render_quote_document

router = APIRouter()
Quoting = Annotated[Principal, Depends(require(*QUOTING_ROLES))]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=200, min_length=1)
]
MERGE_PATCH = "application/merge-patch+json"


def _metric(metric: uw.Metric) -> MetricOut:
    return MetricOut.model_validate(metric, from_attributes=True)


def _locked_quote(session: Session, quote_id: str, principal: Principal) -> QuoteRecord:
    """The quote's row, locked until the transaction ends (concurrent actions queue)."""
    return _visible(session.get(QuoteRecord, quote_id, with_for_update=True), principal)


# --------------------------------------------------------------------------- history


@router.get(
    "/v1/quotes/{quote_id}/history",
    response_model=list[HistoryEventOut],
    tags=["workflow"],
    summary="Every change of the quote, oldest first",
    responses=documented(401, 403, 404, 422),
)
def quote_history(quote_id: str, store: Store_, principal: Quoting) -> list[HistoryEventOut]:
    with store.session() as session:
        row = _visible(session.get(QuoteRecord, quote_id), principal)
        return [
            HistoryEventOut.model_validate(event, from_attributes=True)
            for event in records.history(session, row.id)
        ]


# --------------------------------------------------------------------------- revisions


@router.post(
    "/v1/quotes/{quote_id}/revisions",
    status_code=201,
    response_model=RevisionOut,
    tags=["workflow"],
    summary="Revise a quote by a JSON merge patch of its request (RFC 7396)",
    responses=documented(401, 403, 404, 409, 413, 422, 429),
)
def revise_quote(
    quote_id: str,
    patch: Annotated[
        dict[str, Any],
        Body(
            media_type=MERGE_PATCH,
            description="a JSON merge patch of the quote's request (application/json accepted "
            'too): {"terms": {"sections": {"property": {"deductible": 50000}}}}',
        ),
    ],
    response: Response,
    store: Store_,
    catalogue: Catalogue,
    settings: AppSettings,
    limiter: Limiter,
    clock: Clock,
    principal: Quoting,
    idempotency_key: IdempotencyKey = None,
) -> RevisionOut:
    at = clock()
    view = View(principal, catalogue, at)
    request_hash = records.request_hash({"revises": quote_id, "patch": patch})
    with store.session() as session:
        parent = records.workflow_record(_visible(session.get(QuoteRecord, quote_id), principal))
        if idempotency_key is not None:
            done = stored_by_idempotency_key(session, principal, idempotency_key, request_hash)
            if done is not None:
                response.headers["Idempotent-Replayed"] = "true"
                return _revision_replayed(session, done, parent, view, limiter)
    tables = _tables_of(catalogue, parent.tables_version)
    revision = wf.revise(parent, patch)
    with limiter.slot(principal.name):
        priced = wf.price_revision(
            revision, tables=tables, created_at=at, max_events=settings.max_simulated_events
        )
        difference = wf.revision_difference(parent, priced, tables=tables)
    child = wf.record_quote(
        priced,
        revision.request,
        id=str(uuid.uuid4()),
        actor=_actor(principal),
        tables=tables,
        parent_id=parent.id,
    )
    stored = records.NewQuote(principal.name, request_hash, priced.to_dict(), idempotency_key)
    try:
        with store.session() as session:
            row = _locked_quote(session, quote_id, principal)
            current = records.workflow_record(row)  # as it is now, another action may have run
            superseded = wf.supersede(
                current, by=child.id, actor=_actor(principal), at=at, tables=tables
            )
            created = records.add_quote(session, child, stored)
            records.save_record(session, row, superseded)
            session.flush()
            quote = quote_out(session, created, view)
    except IntegrityError as error:
        if idempotency_key is None:
            raise
        raise Problem(
            409, "A request with this Idempotency-Key is being answered; retry it."
        ) from error
    response.headers["Location"] = f"/v1/quotes/{child.id}"
    return RevisionOut(
        quote=quote,
        parent_id=parent.id,
        changed=list(revision.changed),
        technical_difference=_metric(difference.technical),
        expected_loss_difference=_metric(difference.expected_loss),
        currency=child.currency,
    )


def _revision_replayed(
    session: Session, row: QuoteRecord, parent: wf.QuoteRecord, view: View, limiter: Any
) -> RevisionOut:
    """A retried revision's answer: the quote it made, its changes and its difference, priced
    again on the same seed, years and date (the same figures)."""
    child = records.workflow_record(row)
    tables = _tables_of(view.catalogue, child.tables_version)
    with limiter.slot(view.principal.name):
        again = uw.replay(child.provenance, child.request, tables=tables)
        difference = wf.revision_difference(parent, again, tables=tables)
    return RevisionOut(
        quote=quote_out(session, row, view),
        parent_id=parent.id,
        changed=list(
            wf.changed_paths(
                parent.request.model_dump(mode="json"), child.request.model_dump(mode="json")
            )
        ),
        technical_difference=_metric(difference.technical),
        expected_loss_difference=_metric(difference.expected_loss),
        currency=child.currency,
    )


# --------------------------------------------------------------------------- offer


@router.post(
    "/v1/quotes/{quote_id}/offer",
    response_model=QuoteOut,
    tags=["workflow"],
    summary="Offer a premium with schedule credits; beyond the caller's band it is referred",
    responses=documented(401, 403, 404, 409, 413, 422),
)
def offer_quote(
    quote_id: str,
    body: OfferIn,
    store: Store_,
    catalogue: Catalogue,
    clock: Clock,
    principal: Quoting,
) -> QuoteOut:
    at = clock()
    with store.session() as session:
        row = _locked_quote(session, quote_id, principal)
        record = records.workflow_record(row)
        offered = wf.offer(
            record,
            body.credits,
            actor=_actor(principal),
            at=at,
            tables=_tables_of(catalogue, record.tables_version),
            note=body.note,
        )
        records.save_record(session, row, offered)
        session.flush()
        return quote_out(session, row, View(principal, catalogue, at))


# --------------------------------------------------------------------------- bind and policies


def _policy_out(policy: PolicyRecord) -> PolicyOut:
    def money(amount: float) -> dict[str, Any]:
        return {"amount": amount, "currency": policy.currency}

    return PolicyOut.model_validate(
        {
            "id": policy.id,
            "policy_number": policy.policy_number,
            "quote_id": policy.quote_id,
            "lab_id": policy.lab_id,
            "created_by": policy.principal,
            "created_at": policy.created_at,
            "period_start": policy.period_start,
            "period_end": policy.period_end,
            "bound_premium": money(policy.bound_premium),
            "bound_tax": money(policy.bound_tax),
            "technical_premium": money(policy.technical_premium),
            "tables_version": policy.tables_version,
            "renews_policy_id": policy.renews_policy_id,
        }
    )


@router.post(
    "/v1/quotes/{quote_id}/bind",
    status_code=201,
    response_model=PolicyOut,
    tags=["workflow"],
    summary="Bind a quoted or approved quote: a policy (a retry answers the same policy)",
    responses=documented(401, 403, 404, 409, 413, 422),
)
def bind_quote(
    quote_id: str,
    response: Response,
    store: Store_,
    catalogue: Catalogue,
    clock: Clock,
    principal: Quoting,
    body: Annotated[BindIn | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> PolicyOut:
    at = clock()
    start = (body.period_start if body else None) or at.date()
    if start < at.date():
        raise Problem(
            422,
            f"period_start: {start.isoformat()} is before today, {at.date().isoformat()}; "
            "cover starts on the day of binding or later",
            errors=[
                {
                    "field": "period_start",
                    "value": start.isoformat(),
                    "message": f"must be {at.date().isoformat()} or later",
                }
            ],
        )
    try:
        with store.session() as session:
            row = _locked_quote(session, quote_id, principal)
            existing = records.policy_of_quote(session, row.id)
            if existing is not None:  # a retry: the policy made the first time
                response.headers["Idempotent-Replayed"] = "true"
                response.status_code = 200
                return _policy_out(existing)
            record = records.workflow_record(row)
            bound = wf.bind(
                record,
                actor=_actor(principal),
                at=at,
                tables=_tables_of(catalogue, record.tables_version),
            )
            records.save_record(session, row, bound)
            policy = records.add_policy(
                session,
                bound,
                principal=principal.name,
                period=wf.policy_period(start),
                at=at,
                idempotency_key=idempotency_key,
            )
            session.flush()
            answer = _policy_out(policy)
    except IntegrityError as error:
        raise Problem(
            409,
            "This Idempotency-Key was used to bind another quote; use a new key for a new request.",
        ) from error
    response.headers["Location"] = f"/v1/policies/{answer.id}"
    return answer


def _visible_policy(policy: PolicyRecord | None, principal: Principal) -> PolicyRecord:
    if policy is None or (not principal.sees_all_quotes and policy.principal != principal.name):
        raise Problem(404, "No policy with this id.")
    return policy


@router.get(
    "/v1/policies",
    response_model=PolicyPage,
    tags=["policies"],
    summary="Policies, newest first (an underwriter sees their own)",
    responses=documented(401, 403, 422),
)
def list_policies(
    store: Store_,
    principal: Quoting,
    lab_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PolicyPage:
    with store.session() as session:
        found = records.policies(
            session,
            principal=None if principal.sees_all_quotes else principal.name,
            lab_id=lab_id,
            limit=limit,
        )
        return PolicyPage(items=[_policy_out(policy) for policy in found])


@router.get(
    "/v1/policies/{policy_id}",
    response_model=PolicyOut,
    tags=["policies"],
    responses=documented(401, 403, 404, 422),
)
def get_policy(policy_id: str, store: Store_, principal: Quoting) -> PolicyOut:
    with store.session() as session:
        return _policy_out(_visible_policy(session.get(PolicyRecord, policy_id), principal))


# --------------------------------------------------------------------------- renewal


@router.post(
    "/v1/policies/{policy_id}/renewal",
    status_code=201,
    response_model=RenewalOut,
    tags=["policies"],
    summary="Price the renewal and decompose its change (exposure, terms, claims, tables, RARC)",
    responses=documented(401, 403, 404, 409, 413, 422, 429),
)
def renew_policy(
    policy_id: str,
    response: Response,
    store: Store_,
    tables: Tables,
    catalogue: Catalogue,
    settings: AppSettings,
    limiter: Limiter,
    clock: Clock,
    principal: Quoting,
    body: Annotated[RenewalIn | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> RenewalOut:
    at = clock()
    view = View(principal, catalogue, at)
    asked = body.request if body is not None else None
    request_hash = records.request_hash(
        {"renews": policy_id, "request": None if asked is None else asked.model_dump(mode="json")}
    )
    with store.session() as session:
        policy = _visible_policy(session.get(PolicyRecord, policy_id), principal)
        expiring_row = session.get(QuoteRecord, policy.quote_id)
        assert expiring_row is not None  # a policy's quote is a foreign key
        expiring = records.workflow_record(expiring_row)
        if idempotency_key is not None:
            done = stored_by_idempotency_key(session, principal, idempotency_key, request_hash)
            if done is not None:
                renewal_row = records.renewal_of_quote(session, done.id)
                if renewal_row is None:
                    raise Problem(409, "This Idempotency-Key was used for another kind of request.")
                response.headers["Idempotent-Replayed"] = "true"
                return RenewalOut(
                    quote=quote_out(session, done, view),
                    decomposition=RenewalDecompositionOut.model_validate(renewal_row.decomposition),
                )
    renewed = wf.renewal_request(expiring, asked)
    with limiter.slot(principal.name):
        renewal = wf.renew_record(
            expiring,
            renewed,
            expiring_tables=_tables_of(catalogue, expiring.tables_version),
            expiring_premium=policy.bound_premium,
            tables=tables,
            renewal_date=at,
            max_events=settings.max_simulated_events,
        )
    record = wf.record_quote(
        renewal.renewal, renewed, id=str(uuid.uuid4()), actor=_actor(principal), tables=tables
    )
    stored = records.NewQuote(
        principal.name, request_hash, renewal.renewal.to_dict(), idempotency_key
    )
    try:
        with store.session() as session:
            row = records.add_quote(session, record, stored)
            renewal_row = records.add_renewal(
                session,
                quote_id=row.id,
                policy=policy,
                expiring_quote_id=expiring.id,
                renewal=renewal,
                at=at,
            )
            session.flush()
            quote = quote_out(session, row, view)
            decomposition = RenewalDecompositionOut.model_validate(renewal_row.decomposition)
    except IntegrityError as error:
        if idempotency_key is None:
            raise
        raise Problem(
            409, "A request with this Idempotency-Key is being answered; retry it."
        ) from error
    response.headers["Location"] = f"/v1/quotes/{row.id}"
    return RenewalOut(quote=quote, decomposition=decomposition)


# --------------------------------------------------------------------------- rate monitoring


def _group(group: wf.RateGroup) -> RateGroupOut:
    return RateGroupOut.model_validate({**dataclasses.asdict(group), "count": group.count})


@router.get(
    "/v1/reports/rate-monitoring",
    response_model=RateMonitoringOut,
    tags=["reports"],
    summary="RARC and adequacy of the policies written, by month, lab category and underwriter",
    responses=documented(401, 403, 422),
)
def rate_monitoring(
    store: Store_,
    principal: Annotated[Principal, Depends(require(*QUOTING_ROLES, "actuary"))],
) -> RateMonitoringOut:
    own = principal.role == "underwriter"
    with store.session() as session:
        found = records.rate_records(session, principal=principal.name if own else None)
    if not found:
        return RateMonitoringOut(
            policies=0, book=None, by_month=[], by_lab_category=[], by_underwriter=[]
        )
    book = wf.monitor_rates(found)
    return RateMonitoringOut(
        policies=len(found),
        book=_group(book.book),
        by_month=[_group(g) for g in book.by_month],
        by_lab_category=[_group(g) for g in book.by_lab_category],
        by_underwriter=[_group(g) for g in book.by_underwriter],
    )


# --------------------------------------------------------------------------- document


@router.get(
    "/v1/quotes/{quote_id}/document",
    tags=["workflow"],
    summary="The client's quotation document: HTML, or PDF (Accept: application/pdf)",
    response_class=HTMLResponse,
    responses={
        200: {
            "description": "the document",
            "content": {"text/html": {}, "application/pdf": {}},
        },
        **documented(401, 403, 404, 422, 503),
    },
)
def quote_document(
    quote_id: str,
    request: Request,
    store: Store_,
    catalogue: Catalogue,
    clock: Clock,
    principal: Quoting,
    format_: Annotated[
        Literal["html", "pdf"] | None,
        Query(alias="format", description="html or pdf; the Accept header chooses when left out"),
    ] = None,
) -> Response:
    with store.session() as session:
        row = _visible(session.get(QuoteRecord, quote_id), principal)
        record = records.workflow_record(row)
        stored = row.quote
        policy = records.policy_of_quote(session, row.id)
    tables = _tables_of(catalogue, record.tables_version)
    quote = wf.quote_as_offered(wf.quote_from_dict(stored), record)
    options: dict[str, Any] = {
        "tables": tables,
        "status": wf.effective_status(record, clock()).value,
        "quote_id": record.id,
        "policy_number": None if policy is None else policy.policy_number,
        "period": None if policy is None else (policy.period_start, policy.period_end),
    }
    chosen = format_ or (
        "pdf" if "application/pdf" in request.headers.get("accept", "") else "html"
    )
    if chosen == "html":
        return HTMLResponse(render_quote_document(quote, **options))
    try:
        pdf = quote_document_pdf(quote, **options)
    except ImportError as error:
        raise Problem(503, f"The PDF cannot be rendered here: {error}") from error
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="quote-{record.id}.pdf"'},
    )
