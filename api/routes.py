"""The endpoints: thin routes that call the ``underwriting`` package and map its results."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import underwriting as uw
from api import records
from api.limits import SimulationLimiter
from api.problems import Problem, documented
from api.schemas import (
    ContributionOut,
    EPPointOut,
    Health,
    MetricOut,
    QueryDateTime,
    QuoteOut,
    QuotePage,
    QuoteStatus,
    QuoteSummary,
    RatingTablesDetailOut,
    RatingTablesOut,
    Readiness,
    ReferralDecisionIn,
    ReplayOut,
    SimulationIn,
    SimulationOut,
    WarningOut,
)
from api.security import Principal, get_store, refuse_unknown_query, require, signed_in
from api.settings import Settings
from api.store import DecisionRecord, QuoteRecord, Store, now
from underwriting import workflow as wf

router = APIRouter()
QUOTING_ROLES = ("underwriter", "senior_underwriter", "chief_underwriter")
DECIDING_ROLES = ("senior_underwriter", "chief_underwriter")
"""Roles that may decide a referral, each only up to its own authority (admin: any)."""

Store_ = Annotated[Store, Depends(get_store)]


def get_tables(request: Request) -> uw.RatingTables:
    tables: uw.RatingTables = request.app.state.tables
    return tables


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_limiter(request: Request) -> SimulationLimiter:
    """The process's per-principal limits on simulation work (api/limits.py)."""
    limiter: SimulationLimiter = request.app.state.limiter
    return limiter


def get_catalogue(request: Request) -> Mapping[str, uw.RatingTables]:
    """Every version loaded at start, by version (read-only)."""
    catalogue: Mapping[str, uw.RatingTables] = request.app.state.catalogue
    return catalogue


Tables = Annotated[uw.RatingTables, Depends(get_tables)]
Catalogue = Annotated[Mapping[str, uw.RatingTables], Depends(get_catalogue)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
Limiter = Annotated[SimulationLimiter, Depends(get_limiter)]


# --------------------------------------------------------------------------- mapping


@dataclass(frozen=True, slots=True)
class View:
    """Who is looking, when, and the tables each quote was made with: what a quote's status
    ('expired' past valid_until) and available actions depend on."""

    principal: Principal
    catalogue: Mapping[str, uw.RatingTables]
    at: dt.datetime


def quote_out(
    session: Session, row: QuoteRecord, view: View, new: wf.QuoteRecord | None = None
) -> QuoteOut:
    """A stored quote as the API shows it: its workflow record, the stored quote's build-up,
    the referral decision, the policy it was bound as and the policy it renews.

    ``new``: the record of a quote just added (``records.add_quote``) by ``POST /v1/quotes``,
    which no decision, policy or renewal can name yet: the row's record is not read back and
    none of them is looked up (the same answer as a later ``GET``, in less of a request's
    time)."""
    if new is None:
        record = records.workflow_record(row)
        data = record.to_dict()
        referral = session.get(DecisionRecord, row.id)
        policy = records.policy_of_quote(session, row.id)
        renewal = records.renewal_of_quote(session, row.id)
    else:
        record, data = new, row.record
        referral = policy = renewal = None
    stored = row.quote
    tables = view.catalogue.get(record.tables_version)
    actions = (
        []
        if tables is None
        else [
            action.value
            for action in wf.available_actions(record, _actor(view.principal), view.at, tables)
        ]
    )
    return QuoteOut.model_validate(
        {
            "id": row.id,
            "status": wf.effective_status(record, view.at).value,
            "parent_id": record.parent_id,
            "superseded_by": record.superseded_by,
            "policy_id": None if policy is None else policy.id,
            "renews_policy_id": None if renewal is None else renewal.policy_id,
            "currency": record.currency,
            "request": data["request"],
            "technical_premium": data["technical_premium"],
            "offered_premium": data["offered_premium"],
            "offered_tax": data["offered_tax"],
            "adequacy_ratio": data["adequacy_ratio"],
            "offer": data["offer"],
            "referral": data["referral"],
            "available_actions": actions,
            "created_by": row.principal,
            "created_at": row.created_at,
            "valid_until": data["valid_until"],
            "lab_id": row.lab_id,
            "decision": data["decision"],
            "premium": data["premium"],
            "worksheet": stored["worksheet"],
            "options": data["options"],
            "metrics": stored["metrics"],
            "experience": stored["experience"],
            "provenance": data["provenance"],
            "warnings": data["warnings"],
            "referral_decision": None
            if referral is None
            else {
                "decision": referral.decision,
                "note": referral.note,
                "decided_by": referral.decided_by,
                "decided_at": referral.decided_at,
            },
        }
    )


def get_clock(request: Request) -> Callable[[], dt.datetime]:
    """The service's clock: what "now" is for validity and history (tests override it)."""
    return now


Clock = Annotated[Callable[[], dt.datetime], Depends(get_clock)]


def _actor(principal: Principal) -> wf.Actor:
    return wf.Actor(principal.name, principal.role)


def _tables_of(catalogue: Mapping[str, uw.RatingTables], version: str) -> uw.RatingTables:
    """The rating tables a quote was made with; 422 if this service does not serve them."""
    tables = catalogue.get(version)
    if tables is None:
        raise Problem(
            422,
            f"The quote was made with rating tables {version}, which this service does not "
            f"serve (it serves {', '.join(catalogue)}).",
        )
    return tables


def _visible(record: QuoteRecord | None, principal: Principal) -> QuoteRecord:
    """The record if this principal may see it; 404 otherwise (never 403: no existence leak)."""
    if record is None or (not principal.sees_all_quotes and record.principal != principal.name):
        raise Problem(404, "No quote with this id.")
    return record


# --------------------------------------------------------------------------- quotes


@router.post(
    "/v1/quotes",
    status_code=201,
    response_model=QuoteOut,
    tags=["quotes"],
    summary="Quote a lab: premium with its build-up, options, decision",
    responses=documented(401, 403, 409, 413, 422, 429),
)
def create_quote(
    body: uw.QuoteRequest,
    response: Response,
    store: Store_,
    tables: Tables,
    catalogue: Catalogue,
    clock: Clock,
    settings: AppSettings,
    limiter: Limiter,
    principal: Annotated[Principal, Depends(require(*QUOTING_ROLES))],
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=200, min_length=1)
    ] = None,
) -> QuoteOut:
    request_hash = records.request_hash(body.model_dump(mode="json"))
    view = View(principal, catalogue, clock())
    if idempotency_key is not None:
        existing = _by_idempotency_key(store, view, idempotency_key, request_hash)
        if existing is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return existing
    with limiter.slot(principal.name):
        quote = uw.quote_request(
            body,
            tables=tables,
            max_events=settings.max_simulated_events,
            max_years=settings.max_quote_years,
        )
    record = wf.record_quote(
        quote,
        body,
        id=str(uuid.uuid4()),
        actor=wf.Actor(principal.name, principal.role),
        tables=tables,
    )
    stored = records.NewQuote(principal.name, request_hash, quote.to_dict(), idempotency_key)
    try:
        with store.session() as session:
            row = records.add_quote(session, record, stored)
            created = quote_out(session, row, view, new=record)
    except IntegrityError:
        # Another request with the same idempotency key won the race: answer as it did.
        if idempotency_key is None:
            raise
        existing = _by_idempotency_key(store, view, idempotency_key, request_hash)
        if existing is None:
            raise
        response.headers["Idempotent-Replayed"] = "true"
        return existing
    response.headers["Location"] = f"/v1/quotes/{row.id}"
    return created


def stored_by_idempotency_key(
    session: Session, principal: Principal, key: str, request_hash: str
) -> QuoteRecord | None:
    """The quote this principal made with ``key``; 409 if it was made from another request."""
    row = session.scalars(
        select(QuoteRecord).where(
            QuoteRecord.principal == principal.name, QuoteRecord.idempotency_key == key
        )
    ).first()
    if row is not None and row.request_hash != request_hash:
        raise Problem(
            409,
            "This Idempotency-Key was used with a different request body; use a new key "
            "for a new request.",
        )
    return row


def _by_idempotency_key(store: Store, view: View, key: str, request_hash: str) -> QuoteOut | None:
    with store.session() as session:
        row = stored_by_idempotency_key(session, view.principal, key, request_hash)
        return None if row is None else quote_out(session, row, view)


@router.get(
    "/v1/quotes/{quote_id}",
    response_model=QuoteOut,
    tags=["quotes"],
    responses=documented(401, 403, 404, 422),
)
def get_quote(
    quote_id: str,
    store: Store_,
    catalogue: Catalogue,
    clock: Clock,
    principal: Annotated[Principal, Depends(require(*QUOTING_ROLES))],
) -> QuoteOut:
    with store.session() as session:
        row = _visible(session.get(QuoteRecord, quote_id), principal)
        return quote_out(session, row, View(principal, catalogue, clock()))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CURSOR_PATTERN = r"^[0-9]{1,17}_[0-9a-f-]{1,36}$"
"""A position in the listing: the creation time in microseconds since 1970 (UTC) and the id of
the last quote of the page. Every string of this form is a valid position (the quotes created
before it, newest first), so the schema's pattern is the whole rule: nothing that matches it is
refused, and nothing else is accepted."""


def _encode_cursor(record: QuoteRecord) -> str:
    micros = (record.created_at - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}_{record.id}"


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    micros, quote_id = cursor.split("_", 1)
    return _EPOCH + dt.timedelta(microseconds=int(micros)), quote_id


@router.get(
    "/v1/quotes", response_model=QuotePage, tags=["quotes"], responses=documented(401, 403, 422)
)
def list_quotes(
    store: Store_,
    principal: Annotated[Principal, Depends(require(*QUOTING_ROLES))],
    outcome: Literal["quoted", "referred", "declined"] | None = None,
    status: Annotated[
        QuoteStatus | None,
        Query(
            description="the quote's status: its outcome, or approved/declined once a referral "
            "is decided ('referred' lists the referrals still waiting)"
        ),
    ] = None,
    lab_id: Annotated[str | None, Query(max_length=100)] = None,
    created_from: QueryDateTime | None = None,
    created_to: QueryDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None,
        Query(
            min_length=3,
            max_length=54,
            pattern=CURSOR_PATTERN,
            description="a page's next_cursor, to list the quotes after it",
        ),
    ] = None,
) -> QuotePage:
    conditions: list[Any] = []
    if not principal.sees_all_quotes:
        conditions.append(QuoteRecord.principal == principal.name)
    if outcome is not None:
        conditions.append(QuoteRecord.outcome == outcome)
    if status is not None:
        conditions.append(QuoteRecord.status == status)
    if lab_id is not None:
        conditions.append(QuoteRecord.lab_id == lab_id)
    if created_from is not None:
        conditions.append(QuoteRecord.created_at >= _aware(created_from))
    if created_to is not None:
        conditions.append(QuoteRecord.created_at < _aware(created_to))
    if cursor is not None:
        created, quote_id = _decode_cursor(cursor)
        conditions.append(
            or_(
                QuoteRecord.created_at < created,
                and_(QuoteRecord.created_at == created, QuoteRecord.id < quote_id),
            )
        )
    with store.session() as session:
        rows = list(
            session.execute(
                select(QuoteRecord, DecisionRecord)
                .outerjoin(DecisionRecord, DecisionRecord.quote_id == QuoteRecord.id)
                .where(*conditions)
                .order_by(QuoteRecord.created_at.desc(), QuoteRecord.id.desc())
                .limit(limit + 1)
            )
        )
    page, more = rows[:limit], len(rows) > limit
    return QuotePage(
        items=[
            QuoteSummary(
                id=r.id,
                lab_id=r.lab_id,
                outcome=r.outcome,
                status=r.status,
                premium_total=float(r.quote["premium"]["total"]),
                created_by=r.principal,
                created_at=r.created_at,
                decision=None if d is None else d.decision,
                decided_by=None if d is None else d.decided_by,
                decided_at=None if d is None else d.decided_at,
            )
            for r, d in page
        ],
        next_cursor=_encode_cursor(page[-1][0]) if more and page else None,
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    """In UTC; a time without a zone is taken as UTC."""
    return moment.astimezone(dt.UTC) if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


@router.post(
    "/v1/quotes/{quote_id}/decision",
    response_model=QuoteOut,
    tags=["quotes"],
    responses=documented(401, 403, 404, 409, 413, 422),
)
def decide_referral(
    quote_id: str,
    body: ReferralDecisionIn,
    store: Store_,
    catalogue: Catalogue,
    clock: Clock,
    principal: Annotated[Principal, Depends(require(*DECIDING_ROLES))],
) -> QuoteOut:
    already = "This referral has already been decided"
    try:
        with store.session() as session:
            # Lock the quote's row so two seniors deciding at once queue and the second sees the
            # first's decision (PostgreSQL; SQLite's writers already queue at BEGIN IMMEDIATE).
            row = _visible(session.get(QuoteRecord, quote_id, with_for_update=True), principal)
            if session.get(DecisionRecord, row.id) is not None:
                raise Problem(409, f"{already}: the quote is {row.status}.")
            record = records.workflow_record(row)
            act = wf.approve if body.decision == "approve" else wf.decline
            decided = act(
                record,
                actor=_actor(principal),
                at=clock(),
                tables=_tables_of(catalogue, record.tables_version),
                note=body.note,
            )
            records.save_record(session, row, decided)
            if record.status == wf.Status.REFERRED:
                decision = DecisionRecord(
                    quote_id=row.id,
                    decision=body.decision,
                    note=body.note,
                    decided_by=principal.name,
                    decided_at=decided.history[-1].at,
                )
                session.add(decision)
            session.flush()
            answer = quote_out(session, row, View(principal, catalogue, clock()))
    except IntegrityError as error:
        # Any other path to a second decision on the same quote meets the primary key.
        raise Problem(409, f"{already}.") from error
    return answer


@router.post(
    "/v1/quotes/{quote_id}/replay",
    response_model=ReplayOut,
    tags=["quotes"],
    responses=documented(401, 403, 404, 422, 429),
)
def replay_quote(
    quote_id: str,
    store: Store_,
    catalogue: Catalogue,
    limiter: Limiter,
    principal: Annotated[Principal, Depends(require(*QUOTING_ROLES))],
) -> ReplayOut:
    with store.session() as session:
        record = _visible(session.get(QuoteRecord, quote_id), principal)
        stored_request, stored_quote = record.request, record.quote
    request = uw.QuoteRequest.model_validate(stored_request)
    provenance = uw.provenance_from_dict(stored_quote["provenance"])
    tables = catalogue.get(provenance.tables_version)
    if tables is None:
        raise Problem(
            422,
            f"The quote was made with rating tables {provenance.tables_version}, which this "
            f"service does not serve (it serves {', '.join(catalogue)}).",
        )
    with limiter.slot(principal.name):
        again = uw.replay(provenance, request, tables=tables).to_dict()
    # The package that replays may be newer than the one that quoted: its version is recorded,
    # not compared (a figure it changed shows under its own key).
    again["provenance"] = {
        **again["provenance"],
        "package_version": stored_quote["provenance"]["package_version"],
    }
    differences = [
        key
        for key in sorted(stored_quote.keys() | again.keys())
        if stored_quote.get(key) != again.get(key)
    ]
    return ReplayOut(quote_id=quote_id, matches=not differences, differences=differences)


# --------------------------------------------------------------------------- simulations


@router.post(
    "/v1/simulations",
    response_model=SimulationOut,
    tags=["simulations"],
    responses=documented(401, 403, 413, 422, 429),
)
def run_simulation(
    body: SimulationIn,
    tables: Tables,
    settings: AppSettings,
    limiter: Limiter,
    principal: Annotated[Principal, Depends(require("actuary"))],
) -> SimulationOut:
    if body.n_years > settings.max_simulation_years:
        raise Problem(
            422,
            f"n_years: {body.n_years} is above the cap of {settings.max_simulation_years}",
            errors=[
                {
                    "field": "n_years",
                    "value": body.n_years,
                    "message": f"must be at most {settings.max_simulation_years}",
                }
            ],
        )
    if body.submission is not None:
        profile = uw.RiskProfile.from_submission(body.submission, tables)
    else:
        assert body.profile is not None
        profile = body.profile
    # SeedText has checked the range: int() of it is a valid seed.
    seed = int(body.seed) if body.seed is not None else tables.pricing.precision.default_seed
    try:
        with limiter.slot(principal.name):
            result = uw.simulate(
                profile,
                body.terms,
                n_years=body.n_years,
                seed=seed,
                max_events=settings.max_simulated_events,
            )
    except uw.HeavyTailError as error:  # an infinite mean that nothing caps: no figure exists
        raise Problem(
            422,
            str(error),
            errors=[{"field": error.field, "value": error.value, "message": str(error)}],
        ) from error
    return SimulationOut(
        n_years=result.n_years,
        seed=str(result.seed),
        tables_version=profile.tables_version,
        experience_applied=result.experience_applied,
        metrics=[MetricOut.model_validate(m, from_attributes=True) for m in result.metrics()],
        ep_curve=[EPPointOut.model_validate(p, from_attributes=True) for p in result.ep_curve()],
        by_section=[
            ContributionOut.model_validate(c, from_attributes=True)
            for c in result.by_section().values()
        ],
        by_scenario=[
            ContributionOut.model_validate(c, from_attributes=True)
            for c in result.by_scenario().values()
        ],
        warnings=[WarningOut.model_validate(w, from_attributes=True) for w in result.warnings],
    )


# --------------------------------------------------------------------------- rating tables


def _tables_out(tables: uw.RatingTables, current: str) -> RatingTablesOut:
    return RatingTablesOut(
        version=tables.version,
        effective_date=tables.effective_date,
        currency=tables.currency,
        sha256=dict(tables.sha256),
        current=tables.version == current,
    )


@router.get(
    "/v1/rating-tables",
    response_model=list[RatingTablesOut],
    tags=["rating tables"],
    responses=documented(401, 422),
)
def list_rating_tables(
    tables: Tables,
    catalogue: Catalogue,
    principal: Annotated[Principal, Depends(signed_in)],
) -> list[RatingTablesOut]:
    ordered = sorted(catalogue.values(), key=lambda loaded: (loaded.effective_date, loaded.version))
    return [_tables_out(loaded, tables.version) for loaded in ordered]


@router.get(
    "/v1/rating-tables/{version}",
    response_model=RatingTablesDetailOut,
    tags=["rating tables"],
    responses=documented(401, 404, 422),
)
def get_rating_tables(
    version: str,
    tables: Tables,
    catalogue: Catalogue,
    principal: Annotated[Principal, Depends(signed_in)],
) -> RatingTablesDetailOut:
    loaded = catalogue.get(version)
    if loaded is None:
        raise Problem(404, f"No rating tables version {version!r}.")
    return RatingTablesDetailOut(
        **_tables_out(loaded, tables.version).model_dump(),
        scenarios=list(loaded.scenario_ids),
        rules=[rule.code for rule in loaded.rules.rules],
        risk_load_method=loaded.pricing.premium.risk_load_method,
    )


# --------------------------------------------------------------------------- health


@router.get(
    "/healthz",
    response_model=Health,
    tags=["health"],
    dependencies=[Depends(refuse_unknown_query)],
    responses=documented(422),
)
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["health"],
    dependencies=[Depends(refuse_unknown_query)],
    responses=documented(422, 503),
)
def readyz(request: Request) -> Readiness:
    tables = getattr(request.app.state, "tables", None)
    store: Store | None = getattr(request.app.state, "store", None)
    if tables is None or store is None or not store.ping():
        raise Problem(503, "Not ready: the rating tables or the store are not available.")
    return Readiness(status="ready", tables_version=tables.version)
