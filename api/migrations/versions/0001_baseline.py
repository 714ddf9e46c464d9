"""The schema the releases before the migrations created: keys, quotes, referral decisions.

It is written out here, not derived from the models, so that it stays what those releases made:
a database they created is stamped at this revision as it is (``api.migrations.upgrade``), and
one made by this revision is the same. ``schema_info`` gets version 1, as they wrote it.

Revision ID: 0001
Revises:
Create Date: 2026-07-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tables() -> sa.MetaData:
    """The tables as those releases declared them (without a naming convention)."""
    metadata = sa.MetaData()
    sa.Table(
        "schema_info",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    sa.Table(
        "api_keys",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True, index=True),
        sa.Column("principal", sa.String(100), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    sa.Table(
        "quotes",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("principal", sa.String(100), nullable=False, index=True),
        sa.Column("lab_id", sa.String(100), nullable=False, index=True),
        sa.Column("outcome", sa.String(16), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False, index=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("quote", sa.JSON(), nullable=False),
        sa.UniqueConstraint("principal", "idempotency_key", name="uq_quotes_idempotency"),
        sa.Index("ix_quotes_created_id", "created_at", "id"),
    )
    sa.Table(
        "referral_decisions",
        metadata,
        sa.Column("quote_id", sa.String(36), sa.ForeignKey("quotes.id"), primary_key=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
    )
    return metadata


def upgrade() -> None:
    # As those releases made it (``create_all``), so that the DDL is theirs to the letter.
    metadata = _tables()
    metadata.create_all(op.get_bind())
    op.execute(metadata.tables["schema_info"].insert().values(id=1, version=1))


def downgrade() -> None:
    _tables().drop_all(op.get_bind())
