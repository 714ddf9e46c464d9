"""A policy's page and its renewal: the renewed request (the expiring one unless edited or
uploaded as JSON) priced as the API's ``POST /v1/policies/{id}/renewal`` prices it, through
``underwriting.workflow.renewal_request`` and ``renew_record``, and stored by ``api.records``
with its decomposition; the renewal quote's page shows the decomposition and is offered and
bound like any quote.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import underwriting as uw
from api import records
from api.routes import AppSettings, Catalogue, Limiter, Tables
from api.security import Principal, get_store
from api.store import PolicyRecord, Store, now
from api.store import QuoteRecord as QuoteRow
from api.web import _forms
from api.web._quotes import actor_of, draw_charts, quote_made_with, tables_of
from api.web._render import page
from api.web._session import PageError, Quoting, check_csrf, form_token, one_time_token
from underwriting import workflow as wf

router = APIRouter(include_in_schema=False)
Store_ = Annotated[Store, Depends(get_store)]


def _visible_policy(session: Session, policy_id: str, principal: Principal) -> PolicyRecord:
    """The policy if this principal may see it (their own, or any for a senior); 404 otherwise."""
    policy = session.get(PolicyRecord, policy_id)
    if policy is None or (not principal.sees_all_quotes and policy.principal != principal.name):
        raise PageError(404, "No policy with this id.")
    return policy


def _expiring(session: Session, policy: PolicyRecord) -> wf.QuoteRecord:
    row = session.get(QuoteRow, policy.quote_id)
    if row is None:  # a policy's quote is a foreign key: only a damaged store lacks it
        raise PageError(500, f"The quote {policy.quote_id} of policy {policy.id} is missing.")
    return records.workflow_record(row)


def _policy_page(
    request: Request,
    principal: Principal,
    store: Store,
    policy_id: str,
    *,
    asked: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    with store.session() as session:
        policy = _visible_policy(session, policy_id, principal)
        expiring = _expiring(session, policy)
        renewals = [
            {"row": renewal, "status": quote.status if quote else "—"}
            for renewal in records.renewals_of_policy(session, policy.id)
            for quote in [session.get(QuoteRow, renewal.quote_id)]
            if principal.sees_all_quotes
            or (quote is not None and quote.principal == principal.name)
        ]
        renews = records.renewal_of_quote(session, policy.quote_id)
    if asked is None:
        default = wf.renewal_request(expiring).model_dump(mode="json", exclude={"seed"})
        asked = json.dumps({k: v for k, v in default.items() if v not in ((), [], None)}, indent=2)
    return page(
        request,
        "policy.html",
        principal,
        status_code=status_code,
        policy=policy,
        expiring=expiring,
        renewals=renewals,
        renews=renews,
        asked=asked,
        errors=errors or {},
        token=one_time_token(),
    )


@router.get("/policies/{policy_id}", response_class=HTMLResponse)
def policy_page(request: Request, policy_id: str, principal: Quoting, store: Store_) -> Response:
    return _policy_page(request, principal, store, policy_id)


@router.post("/policies/{policy_id}/renew", response_class=HTMLResponse)
async def renew_form(
    request: Request,
    policy_id: str,
    principal: Quoting,
    store: Store_,
    tables: Tables,
    catalogue: Catalogue,
    settings: AppSettings,
    limiter: Limiter,
) -> Response:
    async with request.form() as form:  # closed on leaving: an uploaded file's spool too
        check_csrf(request, str(form.get("csrf_token") or ""))
        key = form_token(form)
        text = str(form.get("request_json") or "")
        source = "request_json"
        upload = form.get("request_file")
        if upload is not None and not isinstance(upload, str) and upload.filename:
            source = "request_file"
            try:
                text = (await upload.read()).decode("utf-8")
            except UnicodeDecodeError as error:
                return _refused_form(
                    request, principal, store, policy_id, "", source,
                    f"{upload.filename} is not UTF-8 text: {error.reason} at byte {error.start}",
                )  # fmt: skip
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return _refused_form(
            request, principal, store, policy_id, text, source, f"not JSON: {error}"
        )
    try:
        asked = uw.QuoteRequest.model_validate(data)
    except ValidationError as error:
        return _refused_form(request, principal, store, policy_id, text, source, error)
    request_hash = records.request_hash(
        {"renews": policy_id, "request": asked.model_dump(mode="json")}
    )
    with store.session() as session:
        policy = _visible_policy(session, policy_id, principal)
        expiring = _expiring(session, policy)
        done = quote_made_with(session, principal, key, request_hash)
    if done is not None:  # the form sent twice: the renewal it made the first time
        return RedirectResponse(f"/quotes/{done}#renewal", 303)
    at = now()
    try:
        renewed = wf.renewal_request(expiring, asked)
        with limiter.slot(principal.name):
            renewal = wf.renew_record(
                expiring,
                renewed,
                expiring_tables=tables_of(expiring, catalogue),
                expiring_premium=policy.bound_premium,
                tables=tables,
                renewal_date=at,
                max_events=settings.max_simulated_events,
            )
    except uw.UnderwritingError as error:
        return _refused_form(request, principal, store, policy_id, text, source, str(error))
    record = wf.record_quote(
        renewal.renewal, renewed, id=str(uuid.uuid4()), actor=actor_of(principal), tables=tables
    )
    stored = records.NewQuote(principal.name, request_hash, renewal.renewal.to_dict(), key)
    try:
        with store.session() as session:
            records.add_quote(session, record, stored)
            records.add_renewal(
                session,
                quote_id=record.id,
                policy=policy,
                expiring_quote_id=expiring.id,
                renewal=renewal,
                at=at,
            )
    except IntegrityError:
        # The same form sent twice at once: the other request stored its renewal first.
        with store.session() as session:
            done = quote_made_with(session, principal, key, request_hash)
        if done is None:
            raise
        return RedirectResponse(f"/quotes/{done}#renewal", 303)
    if renewal.renewal.result is not None:
        draw_charts(request, record.id, renewal.renewal.result)
    return RedirectResponse(f"/quotes/{record.id}#renewal", 303)


def _refused_form(
    request: Request,
    principal: Principal,
    store: Store,
    policy_id: str,
    text: str,
    field: str,
    problem: str | ValidationError,
) -> Response:
    """The policy's page again with the renewal form as sent and what is wrong with it, beside
    the field it came in (the JSON text or the file)."""
    messages = (
        [problem]
        if isinstance(problem, str)
        else [f"{name}: {message}" for name, message in _forms.errors_by_field(problem).items()]
    )
    return _policy_page(
        request, principal, store, policy_id, asked=text, errors={field: messages}, status_code=422
    )
