"""Quotes keep their workflow record; an append-only history; policies and renewals.

- ``quotes.record``: the quote's workflow record (``underwriting.workflow.QuoteRecord.to_dict()``:
  the request, terms, options with labels, warnings, decision and reasons, status, offer,
  referral, validity, parent and history).
- ``quote_events``: one row per event of a quote's history (quote, sequence, who, role, when,
  action, from, to, details), only ever appended to.
- ``policies``: a bound quote's policy (number, period, bound premium and currency, tables
  version, who and when, the policy it renews).
- ``renewals``: a renewal quote of a policy with its rate-change figures and decomposition.

The quotes stored so far get their record from the stored quote and request
(``underwriting.workflow.quote_from_dict`` and ``record_quote``, with the currency and authority
levels of the rating tables of the quote's version): a history of one ``create`` event, by the
stored creator (in the role of their newest API key; ``underwriter`` if that role may not make
quotes) at the stored creation time; a referral already decided adds its ``approve`` or
``decline`` event, by the stored decider at the stored time. The stored status must then be the
record's, or the migration stops naming the quote.

Revision ID: 0003
Revises: 0002
Create Date: 2026-07-02
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import underwriting as uw
from api.migrations import MigrationError
from underwriting import workflow as wf

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 200

_quotes = sa.table(
    "quotes",
    sa.column("id", sa.String()),
    sa.column("principal", sa.String()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime()),
    sa.column("parent_id", sa.String()),
    sa.column("tables_version", sa.String()),
    sa.column("request", sa.JSON()),
    sa.column("quote", sa.JSON()),
    sa.column("record", sa.JSON()),
)
_decisions = sa.table(
    "referral_decisions",
    sa.column("quote_id", sa.String()),
    sa.column("decision", sa.String()),
    sa.column("note", sa.Text()),
    sa.column("decided_by", sa.String()),
    sa.column("decided_at", sa.DateTime()),
)
_keys = sa.table(
    "api_keys",
    sa.column("principal", sa.String()),
    sa.column("role", sa.String()),
    sa.column("created_at", sa.DateTime()),
)


def _events_table() -> sa.TableClause:
    return sa.table(
        "quote_events",
        sa.column("quote_id", sa.String()),
        sa.column("sequence", sa.Integer()),
        sa.column("actor", sa.String()),
        sa.column("role", sa.String()),
        sa.column("at", sa.DateTime()),
        sa.column("action", sa.String()),
        sa.column("from_status", sa.String()),
        sa.column("to_status", sa.String()),
        sa.column("details", sa.JSON()),
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    """A stored timestamp (UTC without a zone on SQLite) as an aware UTC one."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _roles(connection: sa.Connection) -> dict[str, str]:
    """Each principal's role: that of its newest key."""
    roles: dict[str, str] = {}
    for principal, role in connection.execute(
        sa.select(_keys.c.principal, _keys.c.role).order_by(_keys.c.created_at)
    ):
        roles[principal] = role
    return roles


class _Tables:
    """The rating tables of each version met, loaded once."""

    def __init__(self) -> None:
        self._loaded: dict[str, uw.RatingTables] = {}

    def __call__(self, quote_id: str, version: str) -> uw.RatingTables:
        if version not in self._loaded:
            try:
                self._loaded[version] = uw.load_rating_tables(version)
            except uw.UnderwritingError as error:
                raise MigrationError(
                    f"quote {quote_id}: its rating tables {version} cannot be loaded ({error}); "
                    "the migration to 0003 needs their currency and authority levels"
                ) from error
        return self._loaded[version]


def _record(
    row: Any, decision: Any, roles: dict[str, str], tables: uw.RatingTables
) -> wf.QuoteRecord:
    """The workflow record of a stored quote, with its create (and decision) event."""
    levels = tables.rules.authority_levels
    role = roles.get(row.principal, levels[0])
    creator = wf.Actor(row.principal, role if role in (*levels, wf.ADMIN) else levels[0])
    try:
        record = wf.record_quote(
            wf.quote_from_dict(row.quote),
            uw.QuoteRequest.model_validate(row.request),
            id=row.id,
            actor=creator,
            tables=tables,
            at=_aware(row.created_at),
            parent_id=row.parent_id,
        )
    except (uw.UnderwritingError, ValueError) as error:
        raise MigrationError(
            f"quote {row.id}: its stored quote and request cannot make a workflow record: {error}"
        ) from error
    if decision is not None and record.status == wf.Status.REFERRED:
        decider = roles.get(decision.decided_by, "senior_underwriter")
        approved = decision.decision == "approve"
        record = record.with_event(
            wf.HistoryEvent(
                at=max(_aware(decision.decided_at), record.history[-1].at),
                actor=decision.decided_by,
                role=decider,
                action=(wf.Action.APPROVE if approved else wf.Action.DECLINE).value,
                from_status=wf.Status.REFERRED,
                to_status=wf.Status.APPROVED if approved else wf.Status.DECLINED,
                details={"note": decision.note} if decision.note else {},
            )
        )
    if record.status.value != row.status:
        raise MigrationError(
            f"quote {row.id}: its stored status is {row.status!r} but its stored quote and "
            f"decisions make it {record.status.value!r}; the migration to 0003 cannot record it"
        )
    return record


def _fill(connection: sa.Connection) -> int:
    """Write the record and history of every stored quote; how many were filled."""
    roles = _roles(connection)
    tables = _Tables()
    events = _events_table()
    update = (
        sa.update(_quotes)
        .where(_quotes.c.id == sa.bindparam("quote_id"))
        .values(record=sa.bindparam("filled"))
    )
    filled = 0
    while True:
        found = connection.execute(
            sa.select(_quotes, _decisions)
            .outerjoin(_decisions, _decisions.c.quote_id == _quotes.c.id)
            .where(_quotes.c.record.is_(None))
            .order_by(_quotes.c.id)
            .limit(_BATCH)
        ).all()
        if not found:
            return filled
        records = []
        for row in found:
            decision = row if row.decided_by is not None else None
            records.append(_record(row, decision, roles, tables(row.id, row.tables_version)))
        connection.execute(update, [{"quote_id": r.id, "filled": r.to_dict()} for r in records])
        connection.execute(
            events.insert(),
            [
                {
                    "quote_id": r.id,
                    "sequence": number,
                    "actor": event.actor,
                    "role": event.role,
                    "at": event.at.astimezone(dt.UTC).replace(tzinfo=None),
                    "action": event.action,
                    "from_status": None if event.from_status is None else event.from_status.value,
                    "to_status": event.to_status.value,
                    "details": dict(event.details),
                }
                for r in records
                for number, event in enumerate(r.history, start=1)
            ],
        )
        filled += len(records)


def upgrade() -> None:
    op.create_table(
        "quote_events",
        sa.Column("quote_id", sa.String(36), nullable=False),
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["quote_id"], ["quotes.id"], name="quote_events_quote_id_fkey"),
        sa.PrimaryKeyConstraint("quote_id", "sequence", name="quote_events_pkey"),
    )
    op.create_index("ix_quote_events_at", "quote_events", ["at"])
    op.create_table(
        "policies",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("policy_number", sa.String(32), nullable=False),
        sa.Column("quote_id", sa.String(36), nullable=False),
        sa.Column("principal", sa.String(100), nullable=False),
        sa.Column("lab_id", sa.String(100), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("bound_premium", sa.Float(), nullable=False),
        sa.Column("bound_tax", sa.Float(), nullable=False),
        sa.Column("technical_premium", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("tables_version", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("renews_policy_id", sa.String(36), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["quote_id"], ["quotes.id"], name="policies_quote_id_fkey"),
        sa.ForeignKeyConstraint(
            ["renews_policy_id"], ["policies.id"], name="policies_renews_policy_id_fkey"
        ),
        sa.PrimaryKeyConstraint("id", name="policies_pkey"),
        sa.UniqueConstraint("policy_number", name="policies_policy_number_key"),
        sa.UniqueConstraint("quote_id", name="policies_quote_id_key"),
        sa.UniqueConstraint("principal", "idempotency_key", name="uq_policies_idempotency"),
    )
    op.create_index("ix_policies_principal", "policies", ["principal"])
    op.create_index("ix_policies_lab_id", "policies", ["lab_id"])
    op.create_index("ix_policies_created_at", "policies", ["created_at"])
    op.create_index("ix_policies_renews_policy_id", "policies", ["renews_policy_id"])
    op.create_index("ix_policies_created_id", "policies", ["created_at", "id"])
    op.create_table(
        "renewals",
        sa.Column("quote_id", sa.String(36), nullable=False),
        sa.Column("policy_id", sa.String(36), nullable=False),
        sa.Column("expiring_premium", sa.Float(), nullable=False),
        sa.Column("expiring_technical", sa.Float(), nullable=False),
        sa.Column("like_for_like_technical", sa.Float(), nullable=False),
        sa.Column("renewal_technical", sa.Float(), nullable=False),
        sa.Column("rate_change", sa.Float(), nullable=False),
        sa.Column("decomposition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["quote_id"], ["quotes.id"], name="renewals_quote_id_fkey"),
        sa.ForeignKeyConstraint(["policy_id"], ["policies.id"], name="renewals_policy_id_fkey"),
        sa.PrimaryKeyConstraint("quote_id", name="renewals_pkey"),
    )
    op.create_index("ix_renewals_policy_id", "renewals", ["policy_id"])
    op.create_index("ix_renewals_created_at", "renewals", ["created_at"])
    with op.batch_alter_table("quotes") as batch:
        batch.add_column(sa.Column("record", sa.JSON(), nullable=True))
    _fill(op.get_bind())
    with op.batch_alter_table("quotes") as batch:
        batch.alter_column("record", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("quotes") as batch:
        batch.drop_column("record")
    op.drop_table("renewals")
    op.drop_table("policies")
    op.drop_table("quote_events")
