"""Schema migrations of the service's store: Alembic, run from code (no ``alembic.ini``).

The revisions are in ``api/migrations/versions``: ``0001`` creates the schema as the releases
before the migrations created it, and each later one changes it. :func:`upgrade` brings a
database to the head:

- an empty database gets every table;
- a database made before the migrations (their tables and ``schema_info`` version 1, no
  ``alembic_version``) is stamped at ``0001`` and upgraded from there, keeping its rows;
- a database at a revision this release does not know, or whose ``schema_info`` version is
  above :data:`~api.store.SCHEMA_VERSION`, was written by a newer release and is refused with
  :class:`~api.store.StoreError`, unchanged.

Everything runs in one transaction under a lock: ``pg_advisory_xact_lock`` on PostgreSQL; on
SQLite the write lock that the store's ``BEGIN IMMEDIATE`` takes. Services starting together take
turns: the first upgrades, the others find the head and change nothing, and a migration that fails
leaves the database as it was. On SQLite, foreign keys are off while the migrations run (Alembic's
batch mode rebuilds a table by copying, dropping and renaming it, which a foreign key pointing at
it would forbid) and ``PRAGMA foreign_key_check`` must find nothing before the commit.

A new revision: ``underwriting db revision "what it changes"`` writes the next numbered file with
what the models add over a database at the head; read and complete it (a data migration is
written by hand), and ``tests/service/test_migrations.py`` checks the head against the models.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from api.store import SCHEMA_VERSION, StoreError

__all__ = [
    "BASELINE",
    "MigrationError",
    "SchemaState",
    "current",
    "downgrade",
    "head",
    "history",
    "new_revision",
    "upgrade",
]

BASELINE = "0001"
# The tables of the releases before the migrations, which revision 0001 creates.
BASELINE_TABLES = frozenset({"schema_info", "api_keys", "quotes", "referral_decisions"})
# The PostgreSQL advisory lock held while the schema changes (any fixed 64-bit number; the same
# as the releases before the migrations took, so that one of them starting at the same moment
# waits too).
_SCHEMA_LOCK = 7_020_260_701
_HERE = Path(__file__).resolve().parent


class MigrationError(StoreError):
    """A migration cannot run on this database (the message names the row and what is wrong)."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands.

    Attributes
    ----------
    revision
        The migration revision recorded in ``alembic_version``; None when there is none.
    head
        This release's newest revision.
    schema_version
        ``schema_info``'s version; None without the table.
    tables
        The tables in the database, sorted.
    """

    revision: str | None
    head: str
    schema_version: int | None
    tables: tuple[str, ...]

    def summary(self) -> str:
        """One line a person can read."""
        if self.revision == self.head:
            return f"at {self.revision} (head)"
        if self.revision is not None:
            known = {revision for revision, _ in history()}
            if self.revision not in known:
                return f"at {self.revision}, unknown to this release (head {self.head})"
            return f"at {self.revision}; 'db upgrade' brings it to {self.head} (head)"
        if self.schema_version is not None:
            return (
                f"made before the migrations (schema_info version {self.schema_version}); "
                f"'db upgrade' stamps it at {BASELINE} and brings it to {self.head} (head)"
            )
        return f"empty; 'db upgrade' creates the schema at {self.head} (head)"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    # The option is read through configparser: a '%' in the path must be doubled.
    config.set_main_option("script_location", str(_HERE).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


@functools.cache
def _script_at(location: Path) -> ScriptDirectory:
    # Loaded once per folder: reading the revisions compiles every file, and each start asks.
    return ScriptDirectory(str(location))


def _script() -> ScriptDirectory:
    return _script_at(_HERE)


def head() -> str:
    """This release's newest revision."""
    heads = _script().get_heads()
    if len(heads) != 1:  # two revisions made from the same parent: one must follow the other
        raise MigrationError(f"the migrations have {len(heads)} heads ({', '.join(heads)}), not 1")
    return heads[0]


def history() -> list[tuple[str, str]]:
    """Every revision, oldest first: its id and what it does (its docstring's first line)."""
    revisions = reversed(list(_script().walk_revisions()))
    return [(script.revision, next(iter(script.doc.splitlines()), "")) for script in revisions]


def _state(connection: Connection) -> SchemaState:
    tables = tuple(sorted(inspect(connection).get_table_names()))
    schema_version = None
    if "schema_info" in tables:
        schema_version = connection.execute(
            text("SELECT version FROM schema_info WHERE id = 1")
        ).scalar_one_or_none()
    return SchemaState(
        revision=MigrationContext.configure(connection).get_current_revision(),
        head=head(),
        schema_version=schema_version,
        tables=tables,
    )


def current(engine: Engine) -> SchemaState:
    """Where the schema of the database behind ``engine`` stands (nothing is changed)."""
    with engine.connect() as connection:
        return _state(connection)


def _outside_transaction(connection: Connection, statement: str) -> None:
    """Run ``statement`` on the DBAPI connection, outside any transaction: SQLite ignores a
    ``foreign_keys`` pragma inside one, and the store's engine begins one for every statement."""
    dbapi = connection.connection.dbapi_connection
    if dbapi is None:  # pragma: no cover - only for a connection already closed
        raise MigrationError("the connection to the store is closed")
    cursor = dbapi.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the schema lock, committed on success."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _outside_transaction(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _SCHEMA_LOCK}
                    )
                # (SQLite: the store's engine began with BEGIN IMMEDIATE, the write lock.)
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        orphans = [tuple(row[:3]) for row in broken[:5]]
                        raise MigrationError(
                            "the migrations left rows whose foreign key points nowhere "
                            f"(table, rowid, referenced table): {orphans}"
                        )
        finally:
            if sqlite:
                _outside_transaction(connection, "PRAGMA foreign_keys=ON")


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _adopt(connection: Connection, config: Config, engine: Engine) -> SchemaState:
    """Stamp a database made before the migrations at the baseline; refuse a newer one."""
    state = _state(connection)
    if state.revision is None and state.schema_version is not None:
        missing = sorted(BASELINE_TABLES - set(state.tables))
        if state.schema_version != 1 or missing:
            raise StoreError(
                f"the store at {_where(engine)} has schema_info version {state.schema_version} "
                f"and no migration revision"
                + (f", and lacks the tables {', '.join(missing)}" if missing else "")
                + "; the releases before the migrations made version 1 with every table, so "
                "this store was made otherwise and is left as it is"
            )
        command.stamp(config, BASELINE)
    elif state.revision is None and set(state.tables) & BASELINE_TABLES:
        raise StoreError(
            f"the store at {_where(engine)} has the tables "
            f"{', '.join(sorted(set(state.tables) & BASELINE_TABLES))} but neither "
            "alembic_version nor schema_info: it was not made by this service; it is left as it is"
        )
    elif state.revision is not None:
        known = {revision for revision, _ in history()}
        if state.revision not in known:
            raise StoreError(
                f"the store at {_where(engine)} is at schema revision {state.revision}, newer "
                f"than this service's {state.head}; upgrade the service instead of using an "
                "older one"
            )
    return state


def _refuse_newer(connection: Connection, engine: Engine) -> None:
    version = _state(connection).schema_version
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(
            f"the store at {_where(engine)} has schema version {version}, newer than this "
            f"service's {SCHEMA_VERSION}; upgrade the service instead of using an older one"
        )


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the database behind ``engine`` to ``revision`` (the head by default).

    ``engine`` is a :class:`~api.store.Store`'s (on SQLite its transactions begin with
    ``BEGIN IMMEDIATE``, which makes concurrent upgrades take turns). Returns the revision before
    and after. Raises :class:`~api.store.StoreError` for a database written by a newer release
    or not made by this service, and :class:`MigrationError` when a migration cannot run; the
    database is then unchanged.
    """
    with _migrating(engine) as connection:
        config = _config(connection)
        state = _adopt(connection, config, engine)
        if not (revision == "head" and state.revision == state.head):  # else nothing to do
            command.upgrade(config, revision)
        _refuse_newer(connection, engine)
        return state.revision, MigrationContext.configure(connection).get_current_revision()


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    """Downgrade the database behind ``engine`` to ``revision`` (``base``: no tables).

    What the later revisions added is dropped (a downgrade past 0002 loses the links from
    revisions to their parent quotes). Returns the revision before and after.
    """
    with _migrating(engine) as connection:
        config = _config(connection)
        before = _adopt(connection, config, engine).revision
        command.downgrade(config, revision)
        return before, MigrationContext.configure(connection).get_current_revision()


def new_revision(engine: Engine, message: str) -> Path:
    """Write the next numbered revision: what the models add over a database at the head.

    For the developer adding a table or a column; ``engine`` is a scratch database, upgraded to
    the head first. The file is a draft to read and complete (a data migration, a name).
    """
    upgrade(engine)
    number = f"{int(head()) + 1:04d}"
    with engine.connect() as connection:
        written = command.revision(_config(connection), message, autogenerate=True, rev_id=number)
        connection.rollback()
    _script_at.cache_clear()
    script = written[0] if isinstance(written, list) else written
    if script is None:  # pragma: no cover - alembic writes one file for one head
        raise MigrationError("alembic wrote no revision file")
    return Path(script.path)
