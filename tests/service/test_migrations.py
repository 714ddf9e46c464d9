"""Schema migrations of the store, on SQLite and on a real PostgreSQL server.

A store made the way the releases before the migrations made it (their tables, written out here
and never imported from the live models, so that these tests keep checking the same thing as the
models change), with keys, quotes and a referral decision in it, is upgraded to the head without
losing a row or a value, and the service then serves it. The baseline revision creates that schema
to the letter; the head matches the models; downgrading and upgrading again works; a store of a
newer release, or one a migration cannot fill, is refused and left as it was. PostgreSQL comes as
in ``test_postgres.py`` and is skipped, with the reason, when no server can start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from servers import PostgresServer, PostgresUnavailable, bearer, postgres_server
from typer.testing import CliRunner

import underwriting as uw
from api import migrations
from api.cli import app as cli
from api.main import create_app
from api.settings import Settings
from api.store import SCHEMA_VERSION, Base, Store, StoreError, hash_key, new_key
from underwriting import workflow as wf

ROOT = Path(__file__).resolve().parents[2]
TABLES_VERSION = "2026.1"

# ----------------------------------------------------------------- the release before migrations

# Its tables as its models declared them; ``create_all`` and a ``schema_info`` row of version 1
# were its whole schema code.
RELEASED = sa.MetaData()
sa.Table(
    "schema_info",
    RELEASED,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
sa.Table(
    "api_keys",
    RELEASED,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True, index=True),
    sa.Column("principal", sa.String(100), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
)
sa.Table(
    "quotes",
    RELEASED,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("principal", sa.String(100), nullable=False, index=True),
    sa.Column("lab_id", sa.String(100), nullable=False, index=True),
    sa.Column("outcome", sa.String(16), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("quote", sa.JSON, nullable=False),
    sa.UniqueConstraint("principal", "idempotency_key", name="uq_quotes_idempotency"),
    sa.Index("ix_quotes_created_id", "created_at", "id"),
)
sa.Table(
    "referral_decisions",
    RELEASED,
    sa.Column("quote_id", sa.String(36), sa.ForeignKey("quotes.id"), primary_key=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("decided_by", sa.String(100), nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=False),
)
PRIMARY_KEYS = {
    "schema_info": "id",
    "api_keys": "id",
    "quotes": "id",
    "referral_decisions": "quote_id",
}


def make_released_store(url: str) -> None:
    """An empty store as the release before the migrations left it on its first start."""
    store = Store(url)
    try:
        with store.engine.begin() as connection:
            RELEASED.create_all(connection)
            connection.execute(RELEASED.tables["schema_info"].insert().values(id=1, version=1))
    finally:
        store.engine.dispose()


def _utc(moment: dt.datetime) -> dt.datetime:
    """A timestamp as that release stored it: UTC, without a zone."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _request_hash(body: uw.QuoteRequest) -> str:
    """That release's hash of a quote request (for its idempotency keys)."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _body(lab: str, seed: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "examples" / f"{lab}.json").read_text("utf-8"))
    body["target_relative_error"] = 0.2
    body["seed"] = seed
    return body


@dataclass
class Released:
    """What was put in the store of the release before the migrations."""

    keys: dict[str, str]  # principal -> key (the revoked one's included)
    quotes: dict[str, dict[str, Any]]  # name -> {"id", "body", "idempotency_key"}


def fill_released_store(url: str, tables: uw.RatingTables) -> Released:
    """Keys (one revoked), three quotes (one quoted with an idempotency key, two referred, one of
    them approved by a senior) written as that release wrote them."""
    created = dt.datetime(2026, 6, 1, 9, 30, tzinfo=dt.UTC)
    keys = {name: new_key() for name in ("under-1", "senior-1", "gone-1")}
    roles = {"under-1": "underwriter", "senior-1": "senior_underwriter", "gone-1": "underwriter"}
    quotes: dict[str, dict[str, Any]] = {}
    store = Store(url)
    try:
        with store.engine.begin() as connection:
            for name, key in keys.items():
                connection.execute(
                    RELEASED.tables["api_keys"]
                    .insert()
                    .values(
                        id=str(uuid.uuid4()),
                        key_hash=hash_key(key),
                        principal=name,
                        role=roles[name],
                        created_at=_utc(created),
                        revoked_at=_utc(created + dt.timedelta(days=1))
                        if name == "gone-1"
                        else None,
                    )
                )
            for n, (name, lab, idempotency_key) in enumerate(
                [
                    ("quoted", "physics_low_hazard", "retry-me"),
                    ("referred", "bsl3_biobank", None),
                    ("approved", "chemistry_high_hazard", None),
                ]
            ):
                body = _body(lab, seed=str(100 + n))
                request = uw.QuoteRequest.model_validate(body)
                quote = uw.quote_request(request, tables=tables, max_years=2000)
                quote_id = str(uuid.uuid4())
                quotes[name] = {"id": quote_id, "body": body, "outcome": quote.decision.outcome}
                connection.execute(
                    RELEASED.tables["quotes"]
                    .insert()
                    .values(
                        id=quote_id,
                        principal="under-1",
                        lab_id=request.submission.lab_id,
                        outcome=quote.decision.outcome,
                        status="approved" if name == "approved" else quote.decision.outcome,
                        created_at=_utc(quote.provenance.created_at),
                        idempotency_key=idempotency_key,
                        request_hash=_request_hash(request),
                        request=request.model_dump(mode="json"),
                        quote=quote.to_dict(),
                    )
                )
            connection.execute(
                RELEASED.tables["referral_decisions"]
                .insert()
                .values(
                    quote_id=quotes["approved"]["id"],
                    decision="approve",
                    note="within appetite: 批准 (approved)",
                    decided_by="senior-1",
                    decided_at=_utc(created + dt.timedelta(hours=2)),
                )
            )
    finally:
        store.engine.dispose()
    assert [quotes[n]["outcome"] for n in ("quoted", "referred", "approved")] == [
        "quoted",
        "referred",
        "referred",
    ]
    return Released(keys=keys, quotes=quotes)


def rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of the release's four tables, by table, in primary-key order, every column."""
    store = Store(url)
    try:
        with store.engine.connect() as connection:
            found = sa.MetaData()
            found.reflect(connection, only=list(PRIMARY_KEYS))
            return {
                name: [
                    dict(row._mapping)
                    for row in connection.execute(
                        sa.select(table).order_by(table.c[PRIMARY_KEYS[name]])
                    )
                ]
                for name, table in found.tables.items()
            }
    finally:
        store.engine.dispose()


def assert_kept(
    before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]
) -> None:
    """Every row and every value the release stored is still there, unchanged, and nothing else
    was added; only ``schema_info`` says the new version."""
    assert after["schema_info"] == [{"id": 1, "version": SCHEMA_VERSION}]
    for name in ("api_keys", "quotes", "referral_decisions"):
        kept = [
            {column: row[column] for column in old}
            for row, old in zip(after[name], before[name], strict=True)
        ]
        assert kept == before[name], name


def differences(url: str, metadata: sa.MetaData) -> list[Any]:
    """What alembic's autogenerate finds between the database and ``metadata`` (types too)."""
    store = Store(url)
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        store.engine.dispose()


def state(url: str) -> migrations.SchemaState:
    store = Store(url)
    try:
        return migrations.current(store.engine)
    finally:
        store.engine.dispose()


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    store = Store(url)
    try:
        return migrations.upgrade(store.engine, revision)
    finally:
        store.engine.dispose()


def downgrade(url: str, revision: str) -> tuple[str | None, str | None]:
    store = Store(url)
    try:
        return migrations.downgrade(store.engine, revision)
    finally:
        store.engine.dispose()


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    try:
        with postgres_server() as server:
            yield server
    except PostgresUnavailable as reason:
        pytest.skip(f"PostgreSQL was skipped: {reason}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/uw.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.new_database()
    yield url
    server.drop_database(url)


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables(TABLES_VERSION)


# -------------------------------------------------------------------------------------- tests


def test_a_store_of_the_release_before_migrations_is_upgraded_without_loss(
    database_url: str, tables: uw.RatingTables
) -> None:
    make_released_store(database_url)
    released = fill_released_store(database_url, tables)
    before = rows(database_url)
    assert state(database_url).summary().startswith("made before the migrations")

    assert upgrade(database_url) == (None, migrations.head())

    after = rows(database_url)
    assert {name: len(found) for name, found in after.items()} == {
        "schema_info": 1,
        "api_keys": 3,
        "quotes": 3,
        "referral_decisions": 1,
    }
    assert_kept(before, after)
    for quote in after["quotes"]:
        # The new columns filled from the stored quote.
        valid_until = dt.datetime.fromisoformat(quote["quote"]["valid_until"])
        assert quote["valid_until"] == _utc(valid_until)
        assert quote["tables_version"] == TABLES_VERSION
        assert quote["parent_id"] is None
    assert differences(database_url, Base.metadata) == []
    assert state(database_url).summary() == f"at {migrations.head()} (head)"

    # The service serves what was stored, as that release did.
    settings = Settings(database_url=database_url, max_quote_years=2000)
    under, senior = bearer(released.keys["under-1"]), bearer(released.keys["senior-1"])
    with TestClient(create_app(settings, tables=tables)) as client:
        listed = client.get("/v1/quotes", headers=under).json()["items"]
        assert sorted(q["id"] for q in listed) == sorted(q["id"] for q in released.quotes.values())
        by_status = client.get("/v1/quotes", params={"status": "referred"}, headers=under).json()
        assert [q["id"] for q in by_status["items"]] == [released.quotes["referred"]["id"]]
        approved = client.get(f"/v1/quotes/{released.quotes['approved']['id']}", headers=under)
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        assert approved.json()["referral_decision"]["decided_by"] == "senior-1"
        assert approved.json()["referral_decision"]["note"] == "within appetite: 批准 (approved)"
        stored = next(q for q in after["quotes"] if q["id"] == released.quotes["approved"]["id"])
        assert approved.json()["premium"]["total"] == stored["quote"]["premium"]["total"]
        assert dt.datetime.fromisoformat(approved.json()["valid_until"]) == (
            dt.datetime.fromisoformat(stored["quote"]["valid_until"])
        )
        # The idempotency key and request hash still answer a retried post with the stored quote.
        retried = client.post(
            "/v1/quotes",
            json=released.quotes["quoted"]["body"],
            headers={**under, "Idempotency-Key": "retry-me"},
        )
        assert retried.status_code == 201, retried.text
        assert retried.headers["Idempotent-Replayed"] == "true"
        assert retried.json()["id"] == released.quotes["quoted"]["id"]
        replay = client.post(f"/v1/quotes/{released.quotes['quoted']['id']}/replay", headers=under)
        assert replay.json()["matches"] is True, replay.json()
        decided = client.post(
            f"/v1/quotes/{released.quotes['referred']['id']}/decision",
            json={"decision": "decline", "note": "outside appetite"},
            headers=senior,
        )
        assert decided.status_code == 200, decided.text
        assert client.get("/v1/quotes", headers=bearer(released.keys["gone-1"])).status_code == 401
        fresh = client.post("/v1/quotes", json=_body("physics_low_hazard", "9"), headers=under)
        assert fresh.status_code == 201, fresh.text

    # A new quote gets the columns from its own quote.
    new_row = next(q for q in rows(database_url)["quotes"] if q["id"] == fresh.json()["id"])
    assert new_row["valid_until"] == _utc(dt.datetime.fromisoformat(fresh.json()["valid_until"]))
    assert new_row["tables_version"] == TABLES_VERSION


def _events(url: str) -> list[dict[str, Any]]:
    store = Store(url)
    try:
        with store.engine.connect() as connection:
            table = sa.Table("quote_events", sa.MetaData(), autoload_with=connection)
            query = sa.select(table).order_by(table.c.quote_id, table.c.sequence)
            return [dict(row._mapping) for row in connection.execute(query)]
    finally:
        store.engine.dispose()


def test_a_store_at_0002_with_quotes_gets_their_records_and_history_without_loss(
    database_url: str, tables: uw.RatingTables
) -> None:
    make_released_store(database_url)
    released = fill_released_store(database_url, tables)
    assert upgrade(database_url, "0002") == (None, "0002")
    before = rows(database_url)

    assert upgrade(database_url) == ("0002", migrations.head())

    after = rows(database_url)
    assert_kept(before, after)
    assert differences(database_url, Base.metadata) == []
    approved_id = released.quotes["approved"]["id"]
    for row in after["quotes"]:
        record = wf.record_from_dict(row["record"])
        # Everything quoted is in the record, as stored.
        assert record.id == row["id"]
        assert record.status.value == row["status"]
        assert record.request == uw.QuoteRequest.model_validate(row["request"])
        assert record.premium.total == row["quote"]["premium"]["total"]
        assert record.decision.outcome == row["outcome"]
        assert record.valid_until == dt.datetime.fromisoformat(row["quote"]["valid_until"])
        assert record.currency == tables.currency
        create = record.history[0]
        assert (create.action, create.actor, create.role) == ("create", "under-1", "underwriter")
        assert create.at == row["created_at"].replace(tzinfo=dt.UTC)
        expected = ["create", "approve"] if row["id"] == approved_id else ["create"]
        assert [event.action for event in record.history] == expected
    approved = next(r for r in after["quotes"] if r["id"] == approved_id)
    decision = wf.record_from_dict(approved["record"]).history[1]
    assert (decision.actor, decision.role) == ("senior-1", "senior_underwriter")
    assert decision.details == {"note": "within appetite: 批准 (approved)"}
    # The history table holds the same events, numbered from 1 for each quote.
    events = _events(database_url)
    assert sorted((e["quote_id"], e["sequence"], e["action"]) for e in events) == sorted(
        [(q["id"], 1, "create") for q in released.quotes.values()] + [(approved_id, 2, "approve")]
    )
    # Downgrading to 0002 gives back the store as it was.
    assert downgrade(database_url, "0002") == (migrations.head(), "0002")
    assert rows(database_url) == before


def test_downgrading_a_filled_store_to_the_baseline_gives_back_the_release_store(
    database_url: str, tables: uw.RatingTables
) -> None:
    """Down to 0001 (what an operator going back to the release before runs) and up again."""
    make_released_store(database_url)
    fill_released_store(database_url, tables)
    before = rows(database_url)
    upgrade(database_url)
    assert downgrade(database_url, migrations.BASELINE) == (migrations.head(), "0001")
    assert rows(database_url) == before
    assert differences(database_url, RELEASED) == []
    upgrade(database_url)
    assert differences(database_url, Base.metadata) == []
    assert len(rows(database_url)["quotes"]) == 3


def test_the_baseline_is_the_schema_of_the_release_before_migrations(
    database_url: str, tmp_path: Path
) -> None:
    assert upgrade(database_url, migrations.BASELINE) == (None, "0001")
    assert differences(database_url, RELEASED) == []
    assert rows(database_url)["schema_info"] == [{"id": 1, "version": 1}]
    if database_url.startswith("sqlite"):
        # To the letter: the statements SQLite keeps are those of a store that release made.
        made = f"sqlite:///{tmp_path}/released.db"
        make_released_store(made)

        def ddl(url: str) -> list[tuple[str, str]]:
            engine = sa.create_engine(url)
            try:
                with engine.connect() as connection:
                    query = (
                        "SELECT name, sql FROM sqlite_master WHERE tbl_name != 'alembic_version'"
                    )
                    return sorted((r[0], r[1]) for r in connection.exec_driver_sql(query))
            finally:
                engine.dispose()

        assert ddl(database_url) == ddl(made)
    else:
        # The constraint names PostgreSQL gave that release's tables, which the models' naming
        # convention reproduces for the constraints added since.
        engine = sa.create_engine(database_url)
        try:
            with engine.connect() as connection:
                names = set(
                    connection.exec_driver_sql(
                        "SELECT conname FROM pg_constraint "
                        "WHERE connamespace = 'public'::regnamespace"
                    ).scalars()
                )
        finally:
            engine.dispose()
        assert names == {
            "alembic_version_pkc",
            "schema_info_pkey",
            "api_keys_pkey",
            "quotes_pkey",
            "uq_quotes_idempotency",
            "referral_decisions_pkey",
            "referral_decisions_quote_id_fkey",
        }


def test_an_empty_database_upgraded_to_the_head_matches_the_models(database_url: str) -> None:
    assert state(database_url).summary().startswith("empty")
    assert upgrade(database_url) == (None, migrations.head())
    assert differences(database_url, Base.metadata) == []
    assert rows(database_url)["schema_info"] == [{"id": 1, "version": SCHEMA_VERSION}]
    assert upgrade(database_url) == (migrations.head(), migrations.head())  # idempotent


def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    upgrade(database_url)
    assert downgrade(database_url, "base") == (migrations.head(), None)
    assert state(database_url).tables == ("alembic_version",)
    for revision, _ in migrations.history():  # up one revision at a time
        assert upgrade(database_url, revision)[1] == revision
    assert differences(database_url, Base.metadata) == []


def test_a_store_of_a_newer_release_is_refused_and_left_as_it_is(database_url: str) -> None:
    upgrade(database_url)
    store = Store(database_url)
    try:
        with store.engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0999'")
        with pytest.raises(StoreError, match="revision 0999, newer than this service's"):
            store.create_schema()
    finally:
        store.engine.dispose()
    assert state(database_url).revision == "0999"


def test_a_quote_the_migration_cannot_fill_stops_it_and_changes_nothing(
    database_url: str, tables: uw.RatingTables
) -> None:
    make_released_store(database_url)
    released = fill_released_store(database_url, tables)
    broken = released.quotes["referred"]["id"]
    store = Store(database_url)
    try:
        quotes = RELEASED.tables["quotes"]
        with store.engine.begin() as connection:
            stored = connection.execute(
                sa.select(quotes.c.quote).where(quotes.c.id == broken)
            ).scalar_one()
            stored["valid_until"] = "next Tuesday"
            connection.execute(quotes.update().where(quotes.c.id == broken).values(quote=stored))
        before = rows(database_url)
        with pytest.raises(migrations.MigrationError, match=f"quote {broken}.*'next Tuesday'"):
            store.create_schema()
    finally:
        store.engine.dispose()
    assert rows(database_url) == before
    assert state(database_url).revision is None
    assert "alembic_version" not in state(database_url).tables
    assert differences(database_url, RELEASED) == []


def test_tables_without_schema_info_or_revision_are_refused(database_url: str) -> None:
    store = Store(database_url)
    try:
        with store.engine.begin() as connection:
            RELEASED.tables["api_keys"].create(connection)
        with pytest.raises(
            StoreError, match="api_keys but neither alembic_version nor schema_info"
        ):
            store.create_schema()
    finally:
        store.engine.dispose()


def test_services_starting_together_on_a_store_of_the_release_before(
    database_url: str, tables: uw.RatingTables
) -> None:
    """Eight stores start at one instant on a filled store to upgrade: one upgrades, the others
    wait for it and find the head; every one starts and nothing is lost or done twice."""
    make_released_store(database_url)
    fill_released_store(database_url, tables)
    before = rows(database_url)
    opened = [Store(database_url) for _ in range(8)]
    barrier = threading.Barrier(len(opened))
    results: list[tuple[str | None, str | None]] = []

    def start(store: Store) -> None:
        barrier.wait()
        results.append(migrations.upgrade(store.engine))

    try:
        with ThreadPoolExecutor(max_workers=len(opened)) as pool:
            for future in [pool.submit(start, store) for store in opened]:
                future.result()
    finally:
        for store in opened:
            store.engine.dispose()
    head = migrations.head()
    assert sorted(results, key=str) == sorted([(None, head)] + [(head, head)] * 7, key=str)
    assert_kept(before, rows(database_url))
    assert differences(database_url, Base.metadata) == []


# ------------------------------------------------------------------------------ the commands

runner = CliRunner()


def test_db_current_and_upgrade_commands(tmp_path: Path, tables: uw.RatingTables) -> None:
    url = f"sqlite:///{tmp_path}/uw.db"
    make_released_store(url)
    fill_released_store(url, tables)
    current = runner.invoke(cli, ["db", "current", "--database-url", url])
    assert current.exit_code == 0, current.output
    assert "made before the migrations (schema_info version 1)" in current.output
    assert state(url).revision is None  # 'current' changes nothing

    upgraded = runner.invoke(cli, ["db", "upgrade", "--database-url", url])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from none to {migrations.head()} (head)" in upgraded.output
    again = runner.invoke(cli, ["db", "upgrade", "--database-url", url])
    assert f"already at {migrations.head()} (head)" in again.output
    current = runner.invoke(cli, ["db", "current", "--database-url", url])
    assert f"at {migrations.head()} (head)" in current.output

    history = runner.invoke(cli, ["db", "history"])
    assert history.exit_code == 0, history.output
    for revision, doc in migrations.history():
        assert f"{revision}  {doc}" in history.output

    store = Store(url)
    try:
        with store.engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0999'")
    finally:
        store.engine.dispose()
    refused = runner.invoke(cli, ["db", "upgrade", "--database-url", url])
    assert refused.exit_code == 1
    assert "newer than this service" in refused.output


def test_a_new_revision_is_drafted_after_the_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``db revision`` writes the next numbered file after the head; with the models at the head
    its upgrade and downgrade are empty, and it compiles."""
    scripts = tmp_path / "migrations"
    shutil.copytree(Path(migrations.__file__).parent, scripts)
    monkeypatch.setattr(migrations, "_HERE", scripts)
    head = migrations.head()
    url = f"sqlite:///{tmp_path}/scratch.db"

    drafted = runner.invoke(cli, ["db", "revision", "add workflow tables", "--database-url", url])

    assert drafted.exit_code == 0, drafted.output
    number = f"{int(head) + 1:04d}"
    written = scripts / "versions" / f"{number}_add_workflow_tables.py"
    assert written.is_file(), drafted.output
    assert str(written) in drafted.output.replace("\n", "")
    assert migrations.head() == number
    text = written.read_text("utf-8")
    assert f"down_revision: str | None = {head!r}" in text
    assert "op." not in text  # nothing to change
    compiled = subprocess.run([sys.executable, "-m", "py_compile", str(written)], check=False)
    assert compiled.returncode == 0
