"""Quotes keep their parent quote, validity and tables version as columns.

What the underwriting workflow filters and links on, as columns: ``parent_id``, the quote a
revision revises (none for the quotes stored so far); ``valid_until`` and ``tables_version``,
filled for the stored quotes from their stored quote (``valid_until`` and
``provenance.tables_version``, which every release has written). The request as quoted and the
status were stored already (``request``, ``status``). ``schema_info`` goes to version 2, so that
a release from before the migrations, which would store quotes without these columns, refuses
the store.

Revision ID: 0002
Revises: 0001
Create Date: 2026-07-01
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.migrations import MigrationError

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows read and written at a time while filling the new columns.
_BATCH = 500

_quotes = sa.table(
    "quotes",
    sa.column("id", sa.String()),
    sa.column("quote", sa.JSON()),
    sa.column("valid_until", sa.DateTime()),
    sa.column("tables_version", sa.String()),
)
_schema_info = sa.table("schema_info", sa.column("id", sa.Integer()), sa.column("version"))


def _stored_utc(quote_id: str, value: str | None) -> dt.datetime:
    """``valid_until`` as the store keeps timestamps: UTC, without a zone."""
    try:
        parsed = dt.datetime.fromisoformat(value or "")
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise MigrationError(
            f"quote {quote_id}: its stored quote's valid_until is {value!r}, not a timestamp "
            "with a time zone; the migration to 0002 cannot fill the valid_until column"
        )
    return parsed.astimezone(dt.UTC).replace(tzinfo=None)


def _fill(connection: sa.Connection) -> int:
    """Fill ``valid_until`` and ``tables_version`` of every stored quote; how many were filled."""
    valid_until = _quotes.c.quote["valid_until"].as_string()
    tables_version = _quotes.c.quote[("provenance", "tables_version")].as_string()
    update = (
        sa.update(_quotes)
        .where(_quotes.c.id == sa.bindparam("quote_id"))
        .values(valid_until=sa.bindparam("valid"), tables_version=sa.bindparam("version"))
    )
    filled = 0
    while True:
        rows = connection.execute(
            sa.select(_quotes.c.id, valid_until, tables_version)
            .where(_quotes.c.valid_until.is_(None))
            .order_by(_quotes.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return filled
        for quote_id, _, version in rows:
            if not version:
                raise MigrationError(
                    f"quote {quote_id}: its stored quote has no provenance.tables_version; the "
                    "migration to 0002 cannot fill the tables_version column"
                )
        connection.execute(
            update,
            [
                {"quote_id": quote_id, "valid": _stored_utc(quote_id, valid), "version": version}
                for quote_id, valid, version in rows
            ],
        )
        filled += len(rows)


def upgrade() -> None:
    with op.batch_alter_table("quotes") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("valid_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("tables_version", sa.String(), nullable=True))
    _fill(op.get_bind())
    with op.batch_alter_table("quotes") as batch:
        batch.alter_column("valid_until", existing_type=sa.DateTime(), nullable=False)
        batch.alter_column("tables_version", existing_type=sa.String(), nullable=False)
        batch.create_foreign_key("quotes_parent_id_fkey", "quotes", ["parent_id"], ["id"])
        batch.create_index("ix_quotes_parent_id", ["parent_id"])
        batch.create_index("ix_quotes_valid_until", ["valid_until"])
    op.execute(sa.update(_schema_info).where(_schema_info.c.id == 1).values(version=2))


def downgrade() -> None:
    with op.batch_alter_table("quotes") as batch:
        batch.drop_index("ix_quotes_valid_until")
        batch.drop_index("ix_quotes_parent_id")
        batch.drop_constraint("quotes_parent_id_fkey", type_="foreignkey")
        batch.drop_column("tables_version")
        batch.drop_column("valid_until")
        batch.drop_column("parent_id")
    op.execute(sa.update(_schema_info).where(_schema_info.c.id == 1).values(version=1))
