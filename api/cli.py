"""The ``underwriting`` command: serve the API and manage API keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from api.settings import Settings
from api.store import ROLES, Store, hash_key

app = typer.Typer(help="Laboratory all-risk underwriting engine.", no_args_is_help=True)
keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys, name="keys")

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (default: settings / DATABASE_URL)"),
]


def _store(database_url: str | None) -> Store:
    settings = Settings() if database_url is None else Settings(database_url=database_url)
    store = Store(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    store.create_schema()
    return store


@keys.command("create")
def create_key(
    principal: Annotated[str, typer.Option(help="who the key belongs to")],
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")],
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    if role not in ROLES:
        typer.echo(f"error: role must be one of {', '.join(ROLES)}, got {role!r}", err=True)
        raise typer.Exit(2)
    key, record = _store(database_url).create_key(principal, role)
    typer.echo(f"id {record.id}  principal {principal}  role {role}")
    typer.echo(key)


@keys.command("list")
def list_keys(database_url: DatabaseUrl = None) -> None:
    """List keys (ids, principals, roles, state); never the keys themselves."""
    for record in _store(database_url).list_keys():
        state = "revoked" if record.revoked_at else "active"
        typer.echo(f"{record.id}  {record.principal:<24}{record.role:<20}{state}")


@keys.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="the key's id, from 'keys list'")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key by id."""
    if not _store(database_url).revoke_key(key_id):
        typer.echo(f"error: no active key with id {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


def _development_key(store: Store, path: Path) -> str:
    """The development key in ``path``, created (role underwriter) if missing or unknown."""
    if path.is_file():
        key = path.read_text(encoding="utf-8").strip()
        record = store.key_by_hash(hash_key(key))
        if record is not None and record.revoked_at is None:
            return key
    key, _ = store.create_key("developer", "underwriter")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(0o600)
    return key


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    database_url: DatabaseUrl = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    dev_key: Annotated[
        bool, typer.Option("--dev-key", help="create and print a development API key")
    ] = False,
) -> None:
    """Start the quoting API."""
    import uvicorn

    if database_url is not None:
        os.environ["UW_DATABASE_URL"] = database_url
    settings = Settings()
    store = _store(settings.database_url)
    if dev_key:
        key = _development_key(store, Path("var/dev-api-key"))
        typer.echo(f"development API key (role underwriter), also in var/dev-api-key:\n{key}")
    store.engine.dispose()
    typer.echo(f"serving on http://{host}:{port} (docs at /docs), store {settings.database_url}")
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


def main() -> None:
    app()
