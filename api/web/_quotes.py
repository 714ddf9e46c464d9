"""The quote pages: new quote, the quote with its actions, options, charts and document.

Each route parses its form, calls the package (``uw.quote_request``, the workflow's actions)
and the store's functions (``api.records``) as the API's routes do, and shows a template. Who
may see a quote and who may act on it are the API's rules: an underwriter sees only their own
quotes (404 for another's, never 403, so nothing leaks); an action is the workflow's to allow
or refuse, and its refusal is shown with its reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import underwriting as uw
from api import records
from api.problems import Problem
from api.routes import AppSettings, Catalogue, Limiter, Tables, stored_by_idempotency_key
from api.security import Principal, get_store
from api.store import PolicyRecord as PolicyRow
from api.store import QuoteRecord as QuoteRow
from api.store import Store, now
from api.web import _forms
from api.web._charts import svg
from api.web._render import page
from api.web._session import PageError, Quoting, check_csrf, form_token, one_time_token
from underwriting import report
from underwriting import workflow as wf

if TYPE_CHECKING:
    from matplotlib.figure import Figure

router = APIRouter(include_in_schema=False)
Store_ = Annotated[Store, Depends(get_store)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
"""The example labs of a checkout (absent from an installed package: then none is offered)."""


def _examples() -> dict[str, Path]:
    return {path.stem: path for path in sorted(EXAMPLES.glob("*.json"))}


def actor_of(principal: Principal) -> wf.Actor:
    return wf.Actor(principal.name, principal.role)


def _visible(session: Session, quote_id: str, principal: Principal) -> QuoteRow:
    """The quote's row if this principal may see it; 404 otherwise (as the API)."""
    row = session.get(QuoteRow, quote_id)
    if row is None or (not principal.sees_all_quotes and row.principal != principal.name):
        raise PageError(404, "No quote with this id.")
    return row


def tables_of(record: wf.QuoteRecord, catalogue: Mapping[str, uw.RatingTables]) -> uw.RatingTables:
    tables = catalogue.get(record.tables_version)
    if tables is None:
        raise PageError(
            409,
            f"The quote was made with rating tables {record.tables_version}, which this service "
            f"does not serve (it serves {', '.join(catalogue)}).",
        )
    return tables


def _request_hash(request: uw.QuoteRequest) -> str:
    # As the API hashes a request, so that the store's idempotency check reads the same.
    return records.request_hash(request.model_dump(mode="json"))


def quote_made_with(
    session: Session, principal: Principal, key: str | None, request_hash: str
) -> str | None:
    """The id of the quote this principal made with a form's one-time token, if any.

    Raises
    ------
    api.problems.Problem
        409 if the token was used with another request (as the API's Idempotency-Key).
    """
    if key is None:
        return None
    row = stored_by_idempotency_key(session, principal, key, request_hash)
    return None if row is None else row.id


def _refused(error: uw.UnderwritingError) -> PageError:
    """A workflow's refusal as the API answers it: 403 for authority, 409 for the state."""
    status = 403 if isinstance(error, uw.AuthorityError) else 409
    return PageError(status, str(error))


# --------------------------------------------------------------------------- new quote


def _new_quote_page(
    request: Request,
    principal: Principal,
    tables: uw.RatingTables,
    data: Mapping[str, Any],
    errors: Mapping[str, str],
    *,
    status_code: int = 200,
    source: str = "",
    notice: str = "",
) -> Response:
    groups = _forms.submission_groups(data.get("submission") or {}, tables.currency, errors)
    terms = _forms.terms_groups(data.get("terms") or {}, tables.currency, errors)
    carried = {k: data[k] for k in ("options", "option_labels") if data.get(k)}
    return page(
        request,
        "new_quote.html",
        principal,
        status_code=status_code,
        groups=groups,
        terms=terms,
        checkboxes=_forms.checkbox_names([*groups, *terms]),
        quoting=_forms.quoting_fields(data, errors),
        carried=json.dumps(carried) if carried else "",
        errors=errors,
        examples=list(_examples()),
        tables=tables,
        source=source,
        notice=notice,
        token=one_time_token(),
    )


@router.get("/quotes/new", response_class=HTMLResponse)
def new_quote(
    request: Request,
    principal: Quoting,
    store: Store_,
    tables: Tables,
    example: str | None = None,
    start_from: str | None = None,
) -> Response:
    data: dict[str, Any] = {}
    source = ""
    if example is not None:
        path = _examples().get(example)
        if path is None:
            raise PageError(404, f"No example {example!r}; examples: {', '.join(_examples())}.")
        data, source = json.loads(path.read_text(encoding="utf-8")), f"the example {example}"
    elif start_from is not None:
        with store.session() as session:
            row = _visible(session, start_from, principal)
            data, source = dict(row.request), f"quote {row.id} ({row.lab_id})"
        data.pop("seed", None)
    return _new_quote_page(request, principal, tables, data, {}, source=source)


@router.post("/quotes/new", response_class=HTMLResponse)
async def new_quote_form(
    request: Request,
    principal: Quoting,
    store: Store_,
    tables: Tables,
    settings: AppSettings,
    limiter: Limiter,
) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    if form.get("intent") == "load":
        try:
            return await _loaded(request, principal, tables, form.get("request_file"))
        finally:
            await form.close()  # the uploaded file's spool
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    checkboxes = set(str(form.get("checkboxes") or "").split())
    data = _forms.request_from_form(fields, checkboxes)
    data.update(_options_of(fields))
    try:
        body = uw.QuoteRequest.model_validate(data)
    except ValidationError as error:
        return _new_quote_page(
            request, principal, tables, data, _forms.errors_by_field(error), status_code=422
        )
    key = form_token(form)
    request_hash = _request_hash(body)
    try:
        with store.session() as session:
            done = quote_made_with(session, principal, key, request_hash)
    except Problem:  # the form was sent before with other values (the browser's back button)
        return _new_quote_page(
            request,
            principal,
            tables,
            data,
            {},
            status_code=409,
            notice="This form was sent before with other values and made a quote then. It "
            "now carries a new token: press Quote again to make a new quote of these values.",
        )
    if done is not None:  # the form sent twice: the quote it made the first time
        return RedirectResponse(f"/quotes/{done}", 303)
    with limiter.slot(principal.name):
        quote = uw.quote_request(
            body,
            tables=tables,
            max_events=settings.max_simulated_events,
            max_years=settings.max_quote_years,
        )
    record = wf.record_quote(
        quote, body, id=str(uuid.uuid4()), actor=actor_of(principal), tables=tables
    )
    try:
        with store.session() as session:
            records.add_quote(
                session,
                record,
                records.NewQuote(principal.name, request_hash, quote.to_dict(), key),
            )
    except IntegrityError:
        # The same form sent twice at once: the other request stored its quote first.
        with store.session() as session:
            done = quote_made_with(session, principal, key, request_hash)
        if done is None:
            raise
        return RedirectResponse(f"/quotes/{done}", 303)
    if quote.result is not None:
        draw_charts(request, record.id, quote.result)
    return RedirectResponse(f"/quotes/{record.id}", 303)


async def _loaded(
    request: Request, principal: Principal, tables: uw.RatingTables, upload: Any
) -> Response:
    """The form filled from an uploaded quote request (JSON)."""
    if upload is None or isinstance(upload, str) or not upload.filename:
        return _new_quote_page(
            request, principal, tables, {}, {"request_file": "choose a JSON file"}, status_code=422
        )
    try:
        data = json.loads(await upload.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return _new_quote_page(
            request,
            principal,
            tables,
            {},
            {"request_file": f"{upload.filename} is not JSON: {error}"},
            status_code=422,
        )
    if not isinstance(data, dict):
        data = {}
    return _new_quote_page(request, principal, tables, data, {}, source=str(upload.filename))


def _options_of(fields: Mapping[str, str]) -> dict[str, Any]:
    """The options of the request the form started from, carried through it unchanged (JSON
    in a hidden field): the form shows the submission and the terms, options are added on the
    quote's page."""
    try:
        carried = json.loads(fields.get("carried_options") or "{}")
    except json.JSONDecodeError:
        return {}
    return {k: v for k, v in carried.items() if k in ("options", "option_labels")}


def draw_charts(request: Request, quote_id: str, result: uw.SimulationResult) -> None:
    """Keep the quote's charts, drawn from the simulation just made (no replay to show them)."""
    from api.web._charts import draw

    request.app.state.charts.put(quote_id, draw(result))


# --------------------------------------------------------------------------- the quote


def _record_of(row: QuoteRow) -> wf.QuoteRecord:
    return records.workflow_record(row)


@router.get("/quotes/{quote_id}", response_class=HTMLResponse)
def quote_page(
    request: Request,
    quote_id: str,
    principal: Quoting,
    store: Store_,
    catalogue: Catalogue,
) -> Response:
    with store.session() as session:
        row = _visible(session, quote_id, principal)
        record = _record_of(row)
        stored = dict(row.quote)
        policy = records.policy_of_quote(session, quote_id)
        renewal = records.renewal_of_quote(session, quote_id)
        decomposition = None if renewal is None else dict(renewal.decomposition)
        renewed = None if decomposition is None else renewal_view(session, decomposition)
        owner = row.principal
    tables = tables_of(record, catalogue)
    moment = now()
    actions = {a.value for a in wf.available_actions(record, actor_of(principal), moment, tables)}
    rules = tables.rules
    own_band = next(
        (band for band in rules.offer_bands if band.authority == principal.role),
        rules.offer_bands[-1] if rules.offer_bands and principal.role == "admin" else None,
    )
    chosen = {c.reason: c.adjustment for c in record.offer.credits} if record.offer else {}
    return page(
        request,
        "quote.html",
        principal,
        record=record,
        owner=owner,
        status=wf.effective_status(record, moment).value,
        stored=stored,
        worksheet=stored.get("worksheet", []),
        metrics=stored.get("metrics", []),
        tables=tables,
        actions=actions,
        own_band=own_band,
        credits=rules.schedule_credits,
        chosen=chosen,
        higher=[level for level in rules.authority_levels if _above(level, principal, tables)],
        policy=policy,
        renewal=decomposition,
        renewed=renewed,
        sections=list(record.request.terms.sections),
    )


def _above(level: str, principal: Principal, tables: uw.RatingTables) -> bool:
    levels = list(tables.rules.authority_levels)
    if principal.role not in levels:
        return True
    return levels.index(level) > levels.index(principal.role)


@router.get("/quotes/{quote_id}/charts/{name}.svg")
def quote_chart(
    request: Request,
    quote_id: str,
    name: str,
    principal: Quoting,
    store: Store_,
    catalogue: Catalogue,
    limiter: Limiter,
) -> Response:
    with store.session() as session:
        row = _visible(session, quote_id, principal)
        record = _record_of(row)
        renewal = records.renewal_of_quote(session, quote_id)
        decomposition = None if renewal is None else dict(renewal.decomposition)
    if name == "renewal" and decomposition is not None:
        return Response(
            svg(renewal_chart(decomposition)),
            media_type="image/svg+xml",
            headers={"Cache-Control": "private, max-age=3600"},
        )
    tables = tables_of(record, catalogue)
    if name not in ("ep-curve", "loss-distribution"):
        raise PageError(
            404,
            f"No chart {name!r}; charts: ep-curve, loss-distribution"
            + (", renewal." if decomposition is not None else "."),
        )

    def simulate() -> uw.SimulationResult:
        with limiter.slot(principal.name):
            replayed = uw.replay(record.provenance, record.request, tables=tables)
        assert replayed.result is not None  # a replay simulates
        return replayed.result

    charts = request.app.state.charts.get(quote_id, simulate)
    return Response(
        charts[name],
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.get("/quotes/{quote_id}/document")
def quote_document(
    quote_id: str,
    principal: Quoting,
    store: Store_,
    catalogue: Catalogue,
    format: str = "html",
) -> Response:
    with store.session() as session:
        row = _visible(session, quote_id, principal)
        record = _record_of(row)
        stored = dict(row.quote)
        policy = records.policy_of_quote(session, quote_id)
    tables = tables_of(record, catalogue)
    quote = wf.quote_as_offered(wf.quote_from_dict(stored), record)
    options: dict[str, Any] = {
        "tables": tables,
        "status": record.status.value,
        "quote_id": record.id,
        "policy_number": None if policy is None else policy.policy_number,
        "period": None if policy is None else (policy.period_start, policy.period_end),
    }
    name = f"quotation-{record.request.submission.lab_id}-{record.id[:8]}"
    if format == "pdf":
        return Response(
            report.quote_document_pdf(quote, **options),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    if format != "html":
        raise PageError(404, f"No document format {format!r}; formats: html, pdf.")
    return HTMLResponse(report.render_quote_document(quote, **options))


def renewal_view(session: Session, decomposition: Mapping[str, Any]) -> dict[str, Any]:
    """What the quote page shows of a renewal quote beside its stored decomposition: the
    expiring quote's own standard error and the policy it renews."""
    expiring = session.get(QuoteRow, decomposition["expiring_quote_id"])
    policy = session.get(PolicyRow, decomposition["policy_id"])
    return {
        "expiring_standard_error": None
        if expiring is None
        else records.workflow_record(expiring).premium.standard_error,
        "policy_number": None if policy is None else policy.policy_number,
    }


def renewal_chart(decomposition: Mapping[str, Any]) -> Figure:
    """The renewal's price walk as a waterfall: each step's price change with its standard
    error, then the change of adequacy (the decomposition a renewal row keeps)."""
    steps = [
        (
            step["name"].replace("_", " "),
            step["price_change"]["value"],
            step["price_change"]["standard_error"],
        )
        for step in decomposition["steps"]
    ]
    adequacy = decomposition["adequacy_change"]
    steps.append(("adequacy", adequacy["value"], adequacy["standard_error"]))
    return report.plot_renewal(
        decomposition["expiring_premium"],
        steps,
        decomposition["renewal_premium"],
        currency=decomposition["currency"],
        title="Renewal price walk",
    )


# --------------------------------------------------------------------------- actions


def _act(
    request: Request,
    quote_id: str,
    principal: Principal,
    store: Store,
    catalogue: Mapping[str, uw.RatingTables],
    act: Any,
) -> wf.QuoteRecord:
    """Apply ``act(record, actor, at, tables)`` to the stored record and save what it returns."""
    with store.session() as session:
        row = session.get(QuoteRow, quote_id, with_for_update=True)
        if row is None or (not principal.sees_all_quotes and row.principal != principal.name):
            raise PageError(404, "No quote with this id.")
        record = _record_of(row)
        tables = tables_of(record, catalogue)
        try:
            changed: wf.QuoteRecord = act(record, actor_of(principal), now(), tables)
        except uw.UnderwritingError as error:
            raise _refused(error) from error
        records.save_record(session, row, changed)
        return changed


def _note(form: Mapping[str, Any]) -> str | None:
    text = str(form.get("note") or "").strip()
    return text[:2000] or None


@router.post("/quotes/{quote_id}/offer")
async def offer_form(
    request: Request, quote_id: str, principal: Quoting, store: Store_, catalogue: Catalogue
) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    credits: dict[str, float] = {}
    for name, value in form.items():
        if name.startswith("credit.") and isinstance(value, str) and value.strip():
            try:
                credits[name.removeprefix("credit.")] = float(value) / 100
            except ValueError as error:
                raise PageError(
                    422, f"{name.removeprefix('credit.')}: {value!r} is not a percentage"
                ) from error
    note = _note(form)
    _act(
        request,
        quote_id,
        principal,
        store,
        catalogue,
        lambda r, a, at, t: wf.offer(r, credits, actor=a, at=at, tables=t, note=note),
    )
    return RedirectResponse(f"/quotes/{quote_id}#decision", 303)


@router.post("/quotes/{quote_id}/{action}")
async def action_form(
    request: Request,
    quote_id: str,
    action: str,
    principal: Quoting,
    store: Store_,
    catalogue: Catalogue,
) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    note = _note(form)
    if action == "refer":
        authority = str(form.get("authority") or "")
        _act(
            request,
            quote_id,
            principal,
            store,
            catalogue,
            lambda r, a, at, t: wf.refer(
                r, authority=authority, actor=a, at=at, tables=t, note=note
            ),
        )
    elif action in ("approve", "decline"):
        step = wf.approve if action == "approve" else wf.decline
        _act(
            request,
            quote_id,
            principal,
            store,
            catalogue,
            lambda r, a, at, t: step(r, actor=a, at=at, tables=t, note=note),
        )
        if form.get("back") == "referrals":
            return RedirectResponse("/referrals", 303)
    elif action == "bind":
        _bind(quote_id, principal, store, catalogue)
    elif action == "option":
        return _add_option(request, quote_id, principal, store, catalogue, form)
    else:
        raise PageError(404, f"No action {action!r} on a quote.")
    return RedirectResponse(f"/quotes/{quote_id}#decision", 303)


def _bind(
    quote_id: str, principal: Principal, store: Store, catalogue: Mapping[str, uw.RatingTables]
) -> None:
    """Bind the quote and store its policy; a second bind (a retried form) finds the policy."""
    with store.session() as session:
        row = session.get(QuoteRow, quote_id, with_for_update=True)
        if row is None or (not principal.sees_all_quotes and row.principal != principal.name):
            raise PageError(404, "No quote with this id.")
        if records.policy_of_quote(session, quote_id) is not None:
            return
        record = _record_of(row)
        tables = tables_of(record, catalogue)
        moment = now()
        try:
            bound = wf.bind(record, actor=actor_of(principal), at=moment, tables=tables)
        except uw.UnderwritingError as error:
            raise _refused(error) from error
        records.save_record(session, row, bound)
        # The API's period (a year from today, to the day before the anniversary), kept in one
        # place.
        records.add_policy(
            session,
            bound,
            principal=principal.name,
            period=wf.policy_period(moment.date()),
            at=moment,
        )


def _add_option(
    request: Request,
    quote_id: str,
    principal: Principal,
    store: Store,
    catalogue: Mapping[str, uw.RatingTables],
    form: Mapping[str, Any],
) -> Response:
    """A revision whose request adds one option: the terms with one section's deductible or
    limit changed, priced on the parent's events; the parent is superseded by it."""
    section = str(form.get("section") or "")
    term = str(form.get("term") or "")
    label = str(form.get("label") or "").strip()
    if term not in ("deductible", "limit"):
        raise PageError(422, f"term: {term!r} cannot be changed here; allowed: deductible, limit")
    try:
        value = float(str(form.get("value") or "").replace(",", ""))
    except ValueError as error:
        raise PageError(422, f"value: {form.get('value')!r} is not an amount") from error
    with store.session() as session:
        parent_row = session.get(QuoteRow, quote_id, with_for_update=True)
        if parent_row is None or (
            not principal.sees_all_quotes and parent_row.principal != principal.name
        ):
            raise PageError(404, "No quote with this id.")
        parent = _record_of(parent_row)
        tables = tables_of(parent, catalogue)
        asked = parent.request.model_dump(mode="json")
        if section not in asked["terms"]["sections"]:
            raise PageError(
                422,
                f"section: {section!r} is not covered by this quote; covered: "
                f"{', '.join(asked['terms']['sections'])}",
            )
        option = wf.merge_patch(asked["terms"], {"sections": {section: {term: value}}})
        labels = list(asked.get("option_labels") or [])
        labels += [f"option {n + 1}" for n in range(len(labels), len(asked["options"]))]
        patch = {
            "options": [*asked["options"], option],
            "option_labels": [*labels, label or f"{section} {term} {value:,.0f}"],
        }
        try:
            revision = wf.revise(parent, patch)
            quote = wf.price_revision(revision, tables=tables)
            moment = now()
            child = wf.record_quote(
                quote,
                revision.request,
                id=str(uuid.uuid4()),
                actor=actor_of(principal),
                tables=tables,
                at=max(moment, quote.provenance.created_at),
                parent_id=parent.id,
            )
            superseded = wf.supersede(
                parent, by=child.id, actor=actor_of(principal), at=moment, tables=tables
            )
        except ValidationError as error:
            messages = _forms.errors_by_field(error)
            raise PageError(
                422, "; ".join(f"{name}: {text}" for name, text in messages.items())
            ) from error
        except uw.UnderwritingError as error:
            raise _refused(error) from error
        records.add_quote(
            session,
            child,
            records.NewQuote(
                parent_row.principal, _request_hash(revision.request), quote.to_dict()
            ),
        )
        records.save_record(session, parent_row, superseded)
    if quote.result is not None:
        draw_charts(request, child.id, quote.result)
    return RedirectResponse(f"/quotes/{child.id}#options", 303)
