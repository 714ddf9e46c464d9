"""Alembic's environment: runs the revisions on the connection :mod:`api.migrations` passes in.

There is no ``alembic.ini`` and no URL here: ``underwriting db upgrade`` (or the service, at
start) opens the store, takes the schema lock and hands its connection over.
"""

from alembic import context
from sqlalchemy.engine import Connection

from api.store import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "the migrations run through api.migrations (the service at start, or 'underwriting db "
        "upgrade'), which passes them a connection; there is no alembic.ini to run them from"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite alters little in place: batch operations rebuild the table by copying it.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
