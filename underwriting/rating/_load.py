"""Rating tables: versioned, hashed, validated data with every number an actuary may change.

A version lives in ``rating_tables/<version>/`` (shipped inside the package as
``underwriting.rating_tables``) and holds:

- ``manifest.toml``: ``version``, ``effective_date``, ``currency`` and ``[files]``, the sha256 of
  each data file;
- ``scenarios.toml``: the model settings, the scenarios with their section impacts, and cascades;
- ``base_frequencies.csv``: the base annual rate of every scenario for every lab category;
- ``relativities.csv``: frequency and severity relativities by rating factor;
- ``pricing.toml``: premium loadings, precision of a quote, experience-rating credibility;
- ``rules.toml``: the underwriting rules (declines and referrals), the plausibility bounds
  of a submission's exposures (``[[plausibility]]``) and, optionally, the subjectivities and
  conditions a quote states (``[[conditions]]``);
- ``README.md``: the source of every number.

:func:`load_rating_tables` checks every hash, validates every row and cross-checks the tables;
anything wrong raises :class:`~underwriting.errors.RatingTableError` naming the file, the row and
the field. A half-loaded table is never returned.

Example
-------
>>> tables = load_rating_tables("2026.1")
>>> tables.version, tables.currency
('2026.1', 'CNY')
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from underwriting.errors import RatingTableError
from underwriting.model import LabCategory
from underwriting.rating._checks import cross_check
from underwriting.rating._rules import RulesTable
from underwriting.rating._schemas import (
    BaseFrequencyRow,
    CascadeDefinition,
    Manifest,
    ModelSettings,
    PricingTables,
    RelativityRow,
    ScenarioDefinition,
    ScenariosFile,
    TableModel,
)

DATA_FILES = (
    "scenarios.toml",
    "base_frequencies.csv",
    "relativities.csv",
    "pricing.toml",
    "rules.toml",
)
"""The files a manifest must list, each with its sha256."""


@dataclass(frozen=True)
class RatingTables:
    """A loaded, validated version of the rating tables.

    Attributes
    ----------
    version, effective_date, currency
        From the manifest.
    draft
        Whether the manifest marks the version a draft (being prepared: loaded only when named,
        never the newest, never served).
    sha256
        The verified hash of each data file.
    directory
        Where the files were read from.
    model
        Model settings (``max_downtime_days``).
    scenarios
        The scenario catalogue, in file order.
    cascades
        Which scenarios trigger which, and how often.
    base_rates
        ``(scenario id, lab category) -> (rate per exposure unit per year, source)``.
    relativities
        Every relativity row, in file order.
    pricing
        Premium loadings, the precision of a quote and experience-rating credibility.
    rules
        The underwriting rules, the authority levels and the plausibility bounds.
    """

    version: str
    effective_date: dt.date
    currency: str
    sha256: Mapping[str, str]
    directory: Path
    model: ModelSettings
    scenarios: tuple[ScenarioDefinition, ...]
    cascades: tuple[CascadeDefinition, ...]
    base_rates: Mapping[tuple[str, LabCategory], tuple[float, str]]
    relativities: tuple[RelativityRow, ...]
    pricing: PricingTables
    rules: RulesTable
    draft: bool
    _groups: Mapping[tuple[str, str, str], tuple[RelativityRow, ...]] = field(repr=False)

    @property
    def scenario_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.scenarios)

    def relativity_groups(
        self, scenario: str, applies_to: Literal["frequency", "severity"]
    ) -> Iterator[tuple[str, tuple[RelativityRow, ...]]]:
        """``(factor, rows)`` for every factor that rates ``scenario`` on ``applies_to``."""
        for (factor, group_scenario, group_applies), rows in self._groups.items():
            if group_applies == applies_to and group_scenario in ("*", scenario):
                yield factor, rows


def _tables_root() -> Path:
    return Path(str(resources.files("underwriting.rating_tables")))


def available_versions(root: Path | None = None, *, drafts: bool = False) -> tuple[str, ...]:
    """Released versions found under ``root`` (the packaged tables by default), oldest first;
    with ``drafts=True`` the drafts too (manifest ``status = "draft"``)."""
    base = root or _tables_root()
    found = []
    for manifest in sorted(base.glob("*/manifest.toml")):
        status, effective = _listed(manifest.read_bytes(), manifest.parent.name)
        if status == "draft" and not drafts:
            continue
        found.append((effective, manifest.parent.name))
    return tuple(name for _, name in sorted(found))


@functools.lru_cache(maxsize=64)
def _listed(manifest: bytes, version: str) -> tuple[str | None, str]:
    """A manifest's ``status`` and ``effective_date`` (as text), parsed once per content."""
    data = _parsed_toml(manifest, Path("manifest.toml"), version)
    status = data.get("status")
    return (status if isinstance(status, str) else None), str(data.get("effective_date", ""))


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _where(loc: Sequence[int | str]) -> str | None:
    """A pydantic error location as a dotted field path; None for a whole-row check."""
    return ".".join(str(part) for part in loc) or None


def _validation_error(
    error: ValidationError, *, file: str, version: str, row: int | None, loc_prefix: str = ""
) -> RatingTableError:
    first = error.errors()[0]
    field_path = _where(first["loc"])
    value = first.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return RatingTableError(
        f"{first['msg']}{shown}",
        file=file,
        row=row,
        field=f"{loc_prefix}{field_path}" if field_path else (loc_prefix.rstrip(".") or None),
        version=version,
    )


def _read_text(path: Path, version: str | None) -> str:
    """The file as UTF-8 text; a corrupt byte is a ``RatingTableError`` naming its line."""
    return _decoded(path.read_bytes(), path, version)


def _decoded(data: bytes, path: Path, version: str | None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RatingTableError(
            f"not valid UTF-8 at line {line} (byte {error.start}: {error.reason}); the file is "
            "corrupt",
            file=path.name,
            version=version,
        ) from error


def _read_toml(path: Path, version: str | None) -> dict[str, Any]:
    """The file as TOML; corrupt bytes or syntax are a ``RatingTableError`` naming the file."""
    return _parsed_toml(path.read_bytes(), path, version)


def _parsed_toml(data: bytes, path: Path, version: str | None) -> dict[str, Any]:
    text = _decoded(data, path, version)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RatingTableError(
            f"not valid TOML: {error}", file=path.name, version=version
        ) from error


def _read_csv(
    path: Path, columns: tuple[str, ...], version: str, optional: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    """Rows of a CSV whose header is exactly ``columns``, or ``columns`` without the
    ``optional`` ones (a column added later, absent from older versions)."""
    text = _read_text(path, version)
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    required = tuple(column for column in columns if column not in optional)
    if header == required:
        columns = required
    if header != columns:
        raise RatingTableError(
            f"columns are {', '.join(header)}; expected exactly {', '.join(columns)}",
            file=path.name,
            row=0,
            version=version,
        )
    rows = []
    for number, raw in enumerate(reader, start=1):
        if None in raw or any(value is None for value in raw.values()):
            raise RatingTableError(
                f"row has {len(raw.get(None) or []) + len(columns)} cells, expected {len(columns)}",
                file=path.name,
                row=number,
                version=version,
            )
        rows.append({key: value.strip() for key, value in raw.items()})
    return rows


def _load_manifest(directory: Path) -> tuple[str, dt.date, str, dict[str, str], bool]:
    manifest_path = directory / "manifest.toml"
    if not manifest_path.is_file():
        raise RatingTableError("manifest.toml is missing", file=str(manifest_path))
    manifest = _read_toml(manifest_path, directory.name)

    try:
        parsed = Manifest.model_validate(manifest)
    except ValidationError as error:
        raise _validation_error(
            error, file="manifest.toml", version=directory.name, row=None
        ) from error
    version = parsed.version
    if version != directory.name:
        raise RatingTableError(
            f"version {version!r} does not match its folder {directory.name!r}",
            file="manifest.toml",
            field="version",
            version=version,
        )
    if set(parsed.files) != set(DATA_FILES):
        raise RatingTableError(
            f"[files] lists {', '.join(sorted(parsed.files))}; it must list exactly "
            f"{', '.join(DATA_FILES)}",
            file="manifest.toml",
            field="files",
            version=version,
        )
    for name in DATA_FILES:
        path = directory / name
        if not path.is_file():
            raise RatingTableError(
                "file listed in the manifest is missing", file=name, version=version
            )
        actual = sha256_of(path)
        if actual != parsed.files[name]:
            raise RatingTableError(
                f"sha256 is {actual} but the manifest says {parsed.files[name]}; the file was "
                "changed after release (a released version is immutable: make a new version)",
                file=name,
                field="sha256",
                version=version,
            )
    return (
        version,
        parsed.effective_date,
        parsed.currency,
        dict(parsed.files),
        parsed.status == "draft",
    )


def _load_scenarios(directory: Path, version: str) -> ScenariosFile:
    name = "scenarios.toml"
    raw = _read_toml(directory / name, version)
    for index, scenario in enumerate(raw.get("scenarios", []) or [], start=1):
        try:
            ScenarioDefinition.model_validate(scenario)
        except ValidationError as error:
            ident = scenario.get("id", "?") if isinstance(scenario, dict) else "?"
            raise _validation_error(
                error, file=name, version=version, row=index, loc_prefix=f"scenarios[{ident}]."
            ) from error
    try:
        return ScenariosFile.model_validate(raw)
    except ValidationError as error:
        raise _validation_error(error, file=name, version=version, row=None) from error


def _load_toml_model(directory: Path, name: str, model: type[TableModel], version: str) -> Any:
    raw = _read_toml(directory / name, version)
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        loc = error.errors()[0]["loc"]
        row = (
            int(loc[1]) + 1
            if len(loc) > 1
            and loc[0] in ("rules", "plausibility", "conditions", "schedule_credits", "offer_bands")
            and isinstance(loc[1], int)
            else None
        )
        raise _validation_error(error, file=name, version=version, row=row) from error


def _validate_rows(
    rows: list[dict[str, str]], model: type[TableModel], file: str, version: str
) -> list[Any]:
    parsed = []
    for number, row in enumerate(rows, start=1):
        try:
            parsed.append(model.model_validate(row))
        except ValidationError as error:
            raise _validation_error(error, file=file, version=version, row=number) from error
    return parsed


def rating_tables_at(spec: str | os.PathLike[str] | None) -> RatingTables:
    """Rating tables by version name (the packaged ones) or by version folder.

    What every command that takes tables accepts: ``"2026.1"``, ``"rating_tables/2026.1"`` or
    any folder holding a ``manifest.toml``; the newest released version when ``None``.

    Raises
    ------
    RatingTableError
        If the name is no packaged version and no folder (the message lists the versions), or
        the folder's tables are invalid.

    Example
    -------
    >>> rating_tables_at("2026.1").version == rating_tables_at("rating_tables/2026.1").version
    True
    """
    if spec is None:
        return load_rating_tables()
    path = Path(spec)
    if path.is_dir():
        folder = path.resolve()
        try:
            return load_rating_tables(folder.name, root=folder.parent)
        except tomllib.TOMLDecodeError as error:
            raise RatingTableError(
                f"a manifest.toml beside {folder} is not valid TOML: {error}"
            ) from error
    text = os.fspath(spec)
    if os.sep in text or (os.altsep is not None and os.altsep in text):
        raise RatingTableError(
            f"{text} is not a rating-tables folder; give a folder holding manifest.toml or a "
            f"version name ({', '.join(available_versions(drafts=True))})"
        )
    return load_rating_tables(text)


def load_rating_tables(version: str | None = None, *, root: Path | None = None) -> RatingTables:
    """Load and validate a version of the rating tables.

    Parameters
    ----------
    version
        A version such as ``"2026.1"``; the newest (latest effective date) when ``None``.
    root
        A folder holding version folders; the tables shipped with the package by default.

    Raises
    ------
    RatingTableError
        If the version does not exist, a hash does not match the manifest, or any row or cross
        reference is invalid. The message names the file, the row and the field.

    Example
    -------
    >>> tables = load_rating_tables()
    >>> "contained_fire" in tables.scenario_ids
    True
    """
    base = root or _tables_root()
    versions = available_versions(base, drafts=True)
    if version is None:
        released = available_versions(base)
        if not released:
            raise RatingTableError(f"no released rating tables found under {base}")
        version = released[-1]
    elif version not in versions:
        raise RatingTableError(
            f"version {version!r} not found; available: {', '.join(versions) or 'none'}"
        )
    directory = base / version
    contents = _contents(directory)
    if contents is None:  # a file is missing or unreadable: the load says which
        return _load_version(directory)
    return _validated(directory, contents)


def _contents(directory: Path) -> str | None:
    """A digest of the bytes of the version's manifest and data files; ``None`` if one cannot
    be read."""
    digest = hashlib.sha256()
    try:
        for name in ("manifest.toml", *DATA_FILES):
            data = (directory / name).read_bytes()
            digest.update(f"{name}\x00{len(data)}\x00".encode())
            digest.update(data)
    except OSError:
        return None
    return digest.hexdigest()


@functools.lru_cache(maxsize=16)
def _validated(directory: Path, contents: str) -> RatingTables:
    """The tables in ``directory``, loaded once for each ``contents`` (the digest of its
    files): parsing and checking them takes about 10 ms, a fifth of a quote, and the same bytes
    give the same tables, which are frozen and shared by every caller. A load that fails is not
    kept, so a changed file is checked again. A file that changes between the digest and the
    load is read as it is then, and read again at the next call, whose digest differs."""
    return _load_version(directory)


def _load_version(directory: Path) -> RatingTables:
    version, effective_date, currency, hashes, draft = _load_manifest(directory)
    scenarios_file = _load_scenarios(directory, version)
    base_rows: list[BaseFrequencyRow] = _validate_rows(
        _read_csv(
            directory / "base_frequencies.csv", tuple(BaseFrequencyRow.model_fields), version
        ),
        BaseFrequencyRow,
        "base_frequencies.csv",
        version,
    )
    relativity_rows: tuple[RelativityRow, ...] = tuple(
        _validate_rows(
            _read_csv(
                directory / "relativities.csv",
                tuple(RelativityRow.model_fields),
                version,
                optional=("section",),
            ),
            RelativityRow,
            "relativities.csv",
            version,
        )
    )
    pricing: PricingTables = _load_toml_model(directory, "pricing.toml", PricingTables, version)
    rules: RulesTable = _load_toml_model(directory, "rules.toml", RulesTable, version)
    checked = cross_check(
        scenarios=scenarios_file,
        base_rows=base_rows,
        relativities=relativity_rows,
        pricing=pricing,
        rules=rules,
        version=version,
    )
    return RatingTables(
        version=version,
        effective_date=effective_date,
        currency=currency,
        sha256=hashes,
        directory=directory,
        model=scenarios_file.model,
        scenarios=scenarios_file.scenarios,
        cascades=scenarios_file.cascades,
        base_rates=checked.base_rates,
        relativities=relativity_rows,
        pricing=pricing,
        rules=rules,
        draft=draft,
        _groups=checked.relativity_groups,
    )


def write_manifest_hashes(directory: Path) -> dict[str, str]:
    """Rewrite the ``[files]`` hashes of ``directory/manifest.toml`` from the files on disk.

    For a table author preparing a *new* version; a released version must not change.
    """
    manifest_path = directory / "manifest.toml"
    text = manifest_path.read_text(encoding="utf-8")
    hashes = {name: sha256_of(directory / name) for name in DATA_FILES}
    head = re.split(r"(?m)^\[files\]\s*$", text)[0].rstrip()
    body = "\n".join(f'"{name}" = "{digest}"' for name, digest in hashes.items())
    manifest_path.write_text(f"{head}\n\n[files]\n{body}\n", encoding="utf-8")
    return hashes
