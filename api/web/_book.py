"""The book: quotes (search), referrals waiting on the signed-in authority, policies and the
rate-monitoring report. Only what the principal may see, as the API lists it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from api import records
from api.routes import Catalogue, Tables
from api.security import get_store
from api.store import QuoteRecord as QuoteRow
from api.store import Store
from api.web._charts import svg
from api.web._render import page
from api.web._session import PageError, Quoting
from underwriting import workflow as wf

router = APIRouter(include_in_schema=False)
Store_ = Annotated[Store, Depends(get_store)]
LISTED = 200
"""Rows a list shows at most (newest first)."""


def _day(text: str | None, name: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
    except ValueError as error:
        raise PageError(422, f"{name}: {text!r} is not a date (YYYY-MM-DD)") from error


@router.get("/quotes", response_class=HTMLResponse)
def quotes_page(
    request: Request,
    principal: Quoting,
    store: Store_,
    lab: str = "",
    institution: str = "",
    status: str = "",
    underwriter: str = "",
    created_from: str = "",
    created_to: str = "",
) -> Response:
    conditions: list[Any] = []
    if not principal.sees_all_quotes:
        conditions.append(QuoteRow.principal == principal.name)
    if underwriter:
        conditions.append(QuoteRow.principal == underwriter)
    if lab:
        conditions.append(QuoteRow.lab_id.contains(lab))
    if status:
        if status not in {s.value for s in wf.Status}:
            raise PageError(
                422, f"status: {status!r}; allowed: {', '.join(s.value for s in wf.Status)}"
            )
        conditions.append(QuoteRow.status == status)
    start, end = _day(created_from, "created_from"), _day(created_to, "created_to")
    if start is not None:
        conditions.append(QuoteRow.created_at >= start)
    if end is not None:
        conditions.append(QuoteRow.created_at < end + dt.timedelta(days=1))
    with store.session() as session:
        rows = list(
            session.scalars(
                select(QuoteRow)
                .where(*conditions)
                .order_by(QuoteRow.created_at.desc(), QuoteRow.id.desc())
                .limit(LISTED)
            )
        )
        listed = [
            {
                "id": row.id,
                "lab_id": row.lab_id,
                "institution": row.request["submission"].get("institution", ""),
                "status": row.status,
                "premium": row.record["offered_premium"],
                "created_by": row.principal,
                "created_at": row.created_at,
            }
            for row in rows
        ]
    if institution:
        listed = [q for q in listed if institution.lower() in q["institution"].lower()]
    return page(
        request,
        "quotes.html",
        principal,
        quotes=listed,
        statuses=[s.value for s in wf.Status],
        query={
            "lab": lab,
            "institution": institution,
            "status": status,
            "underwriter": underwriter,
            "created_from": created_from,
            "created_to": created_to,
        },
        limit=LISTED,
    )


@router.get("/referrals", response_class=HTMLResponse)
def referrals_page(
    request: Request, principal: Quoting, store: Store_, tables: Tables, catalogue: Catalogue
) -> Response:
    """The referred quotes this principal may decide now (its authority at or above the
    referral's), and those above it, shown apart."""
    with store.session() as session:
        rows = list(
            session.scalars(
                select(QuoteRow)
                .where(QuoteRow.status == wf.Status.REFERRED.value)
                .order_by(QuoteRow.created_at)
                .limit(LISTED)
            )
        )
        found = [(row, records.workflow_record(row)) for row in rows]
    actor = wf.Actor(principal.name, principal.role)
    moment = dt.datetime.now(dt.UTC)
    mine: list[dict[str, Any]] = []
    above: list[dict[str, Any]] = []
    for row, record in found:
        if not principal.sees_all_quotes and row.principal != principal.name:
            continue
        record_tables = catalogue.get(record.tables_version, tables)
        actions = {a.value for a in wf.available_actions(record, actor, moment, record_tables)}
        entry = {"row": row, "record": record, "actions": actions}
        (mine if "approve" in actions else above).append(entry)
    return page(request, "referrals.html", principal, mine=mine, above=above)


@router.get("/policies", response_class=HTMLResponse)
def policies_page(request: Request, principal: Quoting, store: Store_, lab: str = "") -> Response:
    with store.session() as session:
        listed = records.policies(
            session,
            principal=None if principal.sees_all_quotes else principal.name,
            lab_id=lab or None,
            limit=LISTED,
        )
        renewals = {
            policy.id: records.renewal_of_quote(session, policy.quote_id) for policy in listed
        }
    return page(request, "policies.html", principal, policies=listed, renewals=renewals, lab=lab)


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_page(request: Request, principal: Quoting, store: Store_) -> Response:
    with store.session() as session:
        written = records.rate_records(
            session, principal=None if principal.sees_all_quotes else principal.name
        )
    report = wf.monitor_rates(written) if written else None
    return page(request, "monitoring.html", principal, report=report)


@router.get("/monitoring/chart.svg")
def monitoring_chart(principal: Quoting, store: Store_) -> Response:
    with store.session() as session:
        written = records.rate_records(
            session, principal=None if principal.sees_all_quotes else principal.name
        )
    if not written:
        raise PageError(404, "No policy written yet: no rate-monitoring chart.")
    from underwriting import report

    figure = report.plot_rate_monitoring(wf.monitor_rates(written))
    return Response(svg(figure), media_type="image/svg+xml")
