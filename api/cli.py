"""The ``underwriting`` command: quotes, simulations and rating tables; the API and its keys.

Exit codes: 0 done; 1 the engine refused (rating tables invalid or missing, a lab the tables
cannot rate: the message says what and where); 2 bad input (a file missing or unreadable, a request
that does not validate: one ``field: message`` line per problem).
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

import underwriting as uw
from api import migrations
from api.settings import Settings
from api.store import ROLES, Store, StoreError, hash_key
from api.workers import serve_workers, spreads_connections
from underwriting import report
from underwriting.model import SEED_RANGE, check_seed
from underwriting.rating import Flat, rating_tables_at

app = typer.Typer(help="Laboratory all-risk underwriting engine.", no_args_is_help=True)
keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys, name="keys")
tables_app = typer.Typer(help="Validate and compare rating-tables versions.", no_args_is_help=True)
app.add_typer(tables_app, name="tables")
db_app = typer.Typer(
    help="The store's schema: its revision, and upgrading it.", no_args_is_help=True
)
app.add_typer(db_app, name="db")

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (default: settings / DATABASE_URL)"),
]


def _open_store(database_url: str | None) -> Store:
    settings = Settings() if database_url is None else Settings(database_url=database_url)
    return Store(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


def _store(database_url: str | None) -> Store:
    store = _open_store(database_url)
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


# --------------------------------------------------------------------------- db


@db_app.command("current")
def db_current(database_url: DatabaseUrl = None) -> None:
    """Say which schema revision the store is at (changes nothing)."""
    store = _open_store(database_url)
    try:
        state = migrations.current(store.engine)
    finally:
        store.engine.dispose()
    typer.echo(f"{store.engine.url.render_as_string(hide_password=True)}: {state.summary()}")


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Upgrade the store's schema to this release's, keeping every row.

    'serve' does it when it starts; run it first to upgrade at a time of your choosing.
    """
    store = _open_store(database_url)
    try:
        before, after = migrations.upgrade(store.engine)
    except StoreError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    finally:
        store.engine.dispose()
    if before == after:
        typer.echo(f"already at {after} (head)")
    else:
        typer.echo(f"upgraded from {before or 'none'} to {after} (head)")


@db_app.command("history")
def db_history() -> None:
    """List this release's schema revisions, oldest first."""
    for revision, doc in migrations.history():
        typer.echo(f"{revision}  {doc}")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Argument(help="what the revision changes")],
    database_url: DatabaseUrl = None,
) -> None:
    """Draft the next schema revision (for developers).

    What the models add over a scratch database upgraded to the head; read and complete the
    file it writes.
    """
    store = _open_store(database_url)
    try:
        written = migrations.new_revision(store.engine, message)
    finally:
        store.engine.dispose()
    typer.echo(f"wrote {written}")


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
    typer.echo(
        f"serving on http://{host}:{port}: the workbench at /, the API docs at /docs; "
        f"store {settings.database_url}"
    )
    if workers > 1 and spreads_connections(port):
        serve_workers(host, port, workers)  # a socket each: the kernel spreads connections
        return
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


# --------------------------------------------------------------------------- output and errors


def _console() -> Console:
    """Standard output (made per call: tests and pipes swap ``sys.stdout``)."""
    return Console(highlight=False)


def _error_console() -> Console:
    return Console(stderr=True, highlight=False)


class _BadInputError(Exception):
    """Input a person must fix (exit 2); the lines say what is wrong."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@contextmanager
def _exit_codes() -> Iterator[None]:
    """Turn the engine's and the input's errors into a message and exit code 1 or 2."""
    console = _error_console()
    try:
        yield
    except _BadInputError as error:
        for line in error.lines:
            console.print(line, markup=False)
        raise typer.Exit(2) from None
    except uw.RatingTableError as error:
        console.print(f"error: {error}", markup=False)
        where = {"file": error.file, "row": error.row, "field": error.field}
        shown = ", ".join(f"{name} {value}" for name, value in where.items() if value is not None)
        if shown:
            console.print(f"  at {shown}", markup=False)
        raise typer.Exit(1) from None
    except uw.UnderwritingError as error:
        console.print(f"error: {error}", markup=False)
        raise typer.Exit(1) from None
    except OSError as error:
        target = f": {error.filename}" if error.filename else ""
        console.print(f"error: {error.strerror or error}{target}", markup=False)
        raise typer.Exit(2) from None


def _validation_lines(error: ValidationError, source: str) -> list[str]:
    """``field: message`` lines of a pydantic error, the field as a dotted path."""
    lines = [f"error: {source} is not valid ({error.error_count()} problem(s)):"]
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "(whole file)"
        value = problem.get("input")
        quiet = isinstance(value, dict | list) or problem["type"] in ("missing", "json_invalid")
        got = "" if quiet else f" (got {_shorten(repr(value))})"
        lines.append(f"  {where}: {problem['msg']}{got}")
    return lines


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


Model = TypeVar("Model", bound=BaseModel)


def _read_model(path: Path, model: type[Model]) -> Model:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _BadInputError(f"error: cannot read {path}: {error}") from error
    try:
        return model.model_validate_json(text)
    except ValidationError as error:
        raise _BadInputError(*_validation_lines(error, str(path))) from error


def _read_request(path: Path) -> uw.QuoteRequest:
    return _read_model(path, uw.QuoteRequest)


def _read_terms(path: Path) -> uw.PolicyTerms:
    """The terms of a request file, or a file of terms alone."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise _BadInputError(f"error: cannot read {path}: {error}") from error
    except json.JSONDecodeError as error:
        raise _BadInputError(f"error: {path} is not valid JSON: {error}") from error
    if isinstance(data, dict) and "submission" in data:
        return _read_request(path).terms
    return _read_model(path, uw.PolicyTerms)


def _load_tables(spec: str | None) -> uw.RatingTables:
    """Rating tables by version name (the packaged ones) or by version folder."""
    if spec is None:
        return uw.load_rating_tables()
    is_path = os.sep in spec or (os.altsep is not None and os.altsep in spec)
    if is_path and not Path(spec).is_dir():
        what = "is not a rating-tables folder" if Path(spec).exists() else "does not exist"
        raise _BadInputError(f"error: {spec} {what}")
    try:
        return rating_tables_at(spec)
    except tomllib.TOMLDecodeError as error:
        raise uw.RatingTableError(
            f"a manifest.toml beside {spec} is not valid TOML: {error}"
        ) from error


def _money(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _one_step_a_line(text: str) -> str:
    """``a; b (x; y); c`` as one line per step: split at ``; `` outside parentheses."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith("; ", index):
            parts.append(text[start : index + 1])
            start = index + 2
    return "\n".join([*parts, text[start:]])


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _change(old: float, new: float) -> str:
    if old == new:
        return "0.0%"
    return f"{(new - old) / old:+.1%}" if old else "n/a"


FileArgument = Annotated[
    Path,
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="a quote request (JSON), as in examples/"
    ),
]
TablesOption = Annotated[
    str | None,
    typer.Option("--tables", help="rating-tables version or folder (default: the newest)"),
]
SeedOption = Annotated[
    str | None,
    typer.Option(help="random seed, an integer in [0, 2**128) (default: the tables' seed)"),
]


def _seed(value: str | None) -> int | None:
    """The ``--seed`` option as an integer in ``[0, 2**128)``."""
    if value is None:
        return None
    digits = value.replace("_", "")
    if digits.isdigit():
        with suppress(ValueError):  # out of range
            return check_seed(int(digits))
    raise typer.BadParameter(
        f"must be an integer in {SEED_RANGE}, got {value!r}", param_hint="'--seed'"
    )


# --------------------------------------------------------------------------- quote


def _print_quote(quote: uw.Quote, currency: str, years: int) -> None:
    console = _console()
    premium = quote.premium
    submission = quote.submission
    console.print(
        f"[bold]Quote for {escape(submission.lab_id)}[/bold] {escape(submission.lab_name)}".rstrip()
    )
    provenance = quote.provenance
    strata = sum(provenance.strata_years.values())
    simulated = f"{years:,} simulated years" + (
        f" and {strata:,} in strata by rare scenario" if strata else ""
    )
    console.print(
        f"tables {provenance.tables_version}, seed {provenance.seed}, {simulated}, "
        f"valid until {quote.valid_until:%Y-%m-%d}",
        markup=False,
    )
    worksheet = Table(title="Worksheet", title_justify="left", show_lines=False)
    worksheet.add_column("step")
    worksheet.add_column("value", justify="right", no_wrap=True)
    worksheet.add_column("explanation")
    for row in quote.worksheet:
        worksheet.add_row(
            Text(row.name), _number(row.value), Text(_one_step_a_line(row.explanation))
        )
    console.print(worksheet)
    console.print(
        f"[bold]Premium {_money(premium.total)} {currency}[/bold] + tax {_money(premium.tax)} = "
        f"{_money(premium.total_with_tax)} {currency} payable "
        f"(technical {_money(premium.technical)}, relative standard error "
        f"{premium.relative_error:.2%})"
    )
    sections = Table(title="Premium by section", title_justify="left")
    sections.add_column("section")
    sections.add_column(f"premium ({currency})", justify="right")
    sections.add_column("share", justify="right")
    for section, amount in premium.by_section.items():
        share = amount / premium.total if premium.total else 0.0
        sections.add_row(Text(section), _money(amount), f"{share:.1%}")
    console.print(sections)
    if quote.options:
        options = Table(title="Options (same simulated events)", title_justify="left")
        for column in ("option", f"premium ({currency})", "vs terms asked", "expected loss"):
            options.add_column(column, justify="left" if column == "option" else "right")
        for option in quote.options:
            options.add_row(
                Text(option.label),
                _money(option.premium.total),
                _change(premium.total, option.premium.total),
                _money(option.premium.expected_loss),
            )
        console.print(options)
    decision = quote.decision
    colour = {"quoted": "green", "referred": "yellow", "declined": "red"}[decision.outcome]
    authority = f" to {decision.authority_required}" if decision.authority_required else ""
    console.print(f"Decision: [bold {colour}]{decision.outcome}{authority}[/]")
    for reason in decision.reasons:
        console.print(f"  {reason.code}: {reason.message}", markup=False)


@app.command()
def quote(
    file: FileArgument,
    option: Annotated[
        list[Path] | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="alternative terms: a request file (its terms) or a terms file; repeatable",
        ),
    ] = None,
    seed: SeedOption = None,
    years: Annotated[
        int | None,
        typer.Option(min=1_000, help="simulated years (default: enough for the target precision)"),
    ] = None,
    tables: TablesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the quote as JSON")] = False,
) -> None:
    """Quote a lab from a request file: worksheet, premium by section, decision."""
    chosen_seed = _seed(seed)
    with _exit_codes():
        request = _read_request(file)
        extra = [_read_terms(path) for path in option or ()]
        rating = _load_tables(tables)
        result = uw.quote(
            request.submission,
            request.terms,
            tables=rating,
            seed=request.seed if chosen_seed is None else chosen_seed,
            options=[*request.options, *extra],
            target_relative_error=request.target_relative_error,
            n_years=years,
        )
    if as_json:
        typer.echo(result.to_json())
    else:
        _print_quote(result, rating.currency, result.provenance.n_years)


# --------------------------------------------------------------------------- simulate


def _write_year_losses(result: uw.SimulationResult, out: Path) -> tuple[Path, str | None]:
    """The annual losses as Parquet (pyarrow) or, without pyarrow, CSV; and a note."""
    n = result.n_years
    columns = {"insured": result.annual_loss}
    if result.annual_ground_up is not None:
        columns["ground_up"] = result.annual_ground_up
    try:
        pa: Any = importlib.import_module("pyarrow")
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError:
        path = out / "annual_losses.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("year", *columns))
            writer.writerows(
                zip(range(n), *(values.tolist() for values in columns.values()), strict=True)
            )
        return path, "pyarrow is not installed: wrote CSV (install the [parquet] extra for Parquet)"
    path = out / "annual_losses.parquet"
    table = pa.table(
        {
            "year": pa.array(range(n), type=pa.int64()),
            **{name: pa.array(values) for name, values in columns.items()},
        }
    )
    parquet.write_table(table, path)
    return path, None


def _progress_bar(unit: str) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=_error_console(),
    )


@app.command()
def simulate(
    file: FileArgument,
    years: Annotated[int, typer.Option(min=1, help="simulated years, e.g. 10_000_000")],
    seed: Annotated[
        str | None,
        typer.Option(help="random seed, an integer in [0, 2**128) (default: the tables' seed)"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="folder for ep_curve.png, histogram.png and the annual losses table",
        ),
    ] = None,
    tables: TablesOption = None,
) -> None:
    """Simulate a lab's annual losses with a progress bar; print every metric and the EP curve."""
    chosen_seed = _seed(seed)
    with _exit_codes():
        request = _read_request(file)
        rating = _load_tables(tables)
        with _progress_bar("years") as bar:
            task = bar.add_task("simulating", total=years)

            def advance(done: int) -> None:
                bar.advance(task, done)

            # Too many years is a SimulationLimitError, an UnderwritingError: exit code 1.
            result = uw.simulate_request(
                request, n_years=years, seed=chosen_seed, tables=rating, progress=advance
            )
        typer.echo(result.summary())
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            console = _console()
            table_path, note = _write_year_losses(result, out)
            console.print(f"wrote {table_path}", markup=False)
            if note:
                console.print(f"note: {note}", markup=False)
            try:
                for name, draw in (
                    ("ep_curve.png", report.plot_ep_curve),
                    ("histogram.png", report.plot_histogram),
                ):
                    draw(result, out / name)
                    console.print(f"wrote {out / name}", markup=False)
            except ImportError as error:
                _error_console().print(f"error: {error}", markup=False)
                raise typer.Exit(1) from None


# --------------------------------------------------------------------------- tables


@tables_app.command("validate")
def validate_tables(
    tables: Annotated[
        str,
        typer.Argument(
            help="a version name (2026.1) or a version folder (manifest.toml, scenarios.toml, "
            "...), e.g. rating_tables/2026.1",
        ),
    ],
) -> None:
    """Check a rating-tables folder or packaged version: hashes, every row and every cross
    reference."""
    with _exit_codes():
        rating = _load_tables(tables)
    console = _console()
    console.print(
        f"[bold green]OK[/] rating tables {rating.version}, effective {rating.effective_date}, "
        f"amounts in {rating.currency}"
    )
    console.print(
        f"{len(rating.scenarios)} scenarios, {len(rating.cascades)} cascades, "
        f"{len(rating.base_rates)} base rates, {len(rating.relativities)} relativities, "
        f"{len(rating.rules.rules)} rules",
        markup=False,
    )
    hashes = Table("file", "sha256 (verified)")
    hashes.columns[1].overflow = "fold"
    for name, digest in rating.sha256.items():
        hashes.add_row(name, digest)
    console.print(hashes)


def _show(value: Flat) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1_000:
        return f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else f"{value:.6g}"


def _change_label(change: uw.TableChange) -> str:
    """``added``, ``removed``, a number's relative change, or nothing (a setting changed)."""
    if change.status != "changed":
        return change.status
    if not change.numeric:
        return ""
    relative = change.relative_change
    return "n/a" if relative is None else f"{relative:+.1%}"


def _premium_or_error(quote: uw.Quote | None, error: str | None) -> Text:
    return Text(_money(quote.premium.total) if quote is not None else f"error: {error}")


@tables_app.command("diff")
def diff_tables(
    old: Annotated[str, typer.Argument(help="the earlier version: a name (2026.1) or a folder")],
    new: Annotated[str, typer.Argument(help="the later version: a name or a folder")],
    years: Annotated[
        int, typer.Option(min=1_000, help="simulated years per example quote")
    ] = 50_000,
    seed: Annotated[
        str | None,
        typer.Option(help="seed of every quote, both versions (default: OLD's default seed)"),
    ] = None,
    examples: Annotated[
        Path, typer.Option(help="folder of example requests, quoted under both versions")
    ] = Path("examples"),
) -> None:
    """List every number that changed between two versions and the example labs' premiums."""
    given = _seed(seed)
    with _exit_codes():
        before, after = _load_tables(old), _load_tables(new)
        console = _console()
        for label, rating in (("old", before), ("new", after)):
            console.print(
                f"{label} [bold]{escape(rating.version)}[/], effective {rating.effective_date}, "
                f"{escape(str(rating.directory))}"
            )
        found_changes = uw.compare_tables(before, after)
        changes = Table(title="What changed", title_justify="left")
        changes.add_column("file")
        changes.add_column("item")
        for column in (before.version, after.version, "change"):
            changes.add_column(column, justify="right")
        for change in found_changes:
            changes.add_row(
                change.file,
                Text(change.item),
                Text(_show(change.old)),
                Text(_show(change.new)),
                _change_label(change),
            )
        count = len(found_changes)
        if count:
            console.print(changes)
            console.print(f"{count} number(s) changed")
        else:
            console.print("No number changed.")

        found = sorted(examples.glob("*.json")) if examples.is_dir() else []
        if not found:
            console.print(
                f"No example labs in {examples}/ (run from the repository root or pass "
                "--examples DIR): premiums not compared.",
                markup=False,
            )
            return
        requests = [_read_request(path) for path in found]
        with _progress_bar("quotes") as bar:
            task = bar.add_task("quoting", total=2 * len(found))
            repricing = uw.reprice(
                requests,
                before,
                after,
                seed=given,
                n_years=years,
                progress=lambda: bar.advance(task),
            )
        premiums = Table(
            title=f"Premiums of the example labs (seed {repricing.seed}, {years:,} years, the "
            "same events under both versions)",
            title_justify="left",
        )
        premiums.add_column("lab")
        for column in (f"premium {before.version}", f"premium {after.version}", "change"):
            premiums.add_column(column, justify="right")
        premiums.add_column("decision")
        for lab in repricing.labs:
            was, now = lab.old, lab.new
            if was is None or now is None:
                premiums.add_row(
                    Text(lab.lab_id),
                    _premium_or_error(was, lab.old_error),
                    _premium_or_error(now, lab.new_error),
                )
                continue
            was_outcome, now_outcome = was.decision.outcome, now.decision.outcome
            premiums.add_row(
                Text(lab.lab_id),
                _money(was.premium.total),
                _money(now.premium.total),
                _change(was.premium.total, now.premium.total),
                was_outcome if was_outcome == now_outcome else f"{was_outcome} -> {now_outcome}",
            )
        console.print(premiums)


def main() -> None:
    app()
