"""Bad rating tables stop the service before it serves; good ones are served whole, unchanged.

The service loads every version under ``UW_TABLES_DIR`` (``Settings.tables_dir``) and validates
it completely in its start-up (lifespan), before the first request; a broken one stops the start
with a ``RatingTableError`` naming the file, the row and the field. Once started, the service
reads only what it loaded: a file changed on disk afterwards changes nothing it serves.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import underwriting as uw
from api.main import create_app
from api.settings import Settings
from underwriting.rating import write_manifest_hashes

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "rating_tables" / "2026.1"
VERSION = "2026.1"


def settings_for(tables_dir: Path, database: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{database}/uw.db", tables_dir=tables_dir, max_quote_years=2_000
    )


def copy_of_tables(root: Path) -> Path:
    shutil.copytree(SOURCE, root / VERSION)
    return root / VERSION


def edit(path: Path, change: Callable[[str], str]) -> None:
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


def corrupt_bytes(tables: Path) -> None:
    path = tables / "relativities.csv"
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4][:10] + b"\xff\xfe\x00" + lines[4][10:]
    path.write_bytes(b"\n".join(lines))
    write_manifest_hashes(tables)


def truncated_row(tables: Path) -> None:
    edit(tables / "base_frequencies.csv", lambda text: text.rstrip("\n").rsplit(",", 2)[0] + "\n")
    write_manifest_hashes(tables)


def wrong_hash(tables: Path) -> None:
    edit(tables / "pricing.toml", lambda text: text.replace("0.", "0.0", 1))  # not rehashed


def missing_scenario(tables: Path) -> None:
    def drop_escape_of_water(text: str) -> str:
        blocks = re.split(r"(?m)^(?=\[\[scenarios\]\]\n)", text)
        return "".join(b for b in blocks if 'id = "escape_of_water"' not in b)

    edit(tables / "scenarios.toml", drop_escape_of_water)
    write_manifest_hashes(tables)


def negative_rate(tables: Path) -> None:
    lines = (tables / "base_frequencies.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[2] = "-0.02"
    lines[3] = ",".join(cells)
    (tables / "base_frequencies.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_manifest_hashes(tables)


def negative_severity(tables: Path) -> None:
    edit(tables / "scenarios.toml", lambda text: re.sub(r"median = [0-9.e]+", "median = -1", text))
    write_manifest_hashes(tables)


# (defect, file, row, field, words in the message)
DEFECTS: dict[str, tuple[Callable[[Path], None], str, int | None, str | None, str]] = {
    "corrupt bytes": (corrupt_bytes, "relativities.csv", None, None, "not valid UTF-8 at line 5"),
    "truncated row": (truncated_row, "base_frequencies.csv", 66, None, "cells"),
    "wrong hash": (wrong_hash, "pricing.toml", None, "sha256", "the manifest says"),
    "missing scenario": (
        missing_scenario,
        "base_frequencies.csv",
        61,
        "scenario",
        "'escape_of_water' is not in scenarios.toml",
    ),
    "negative rate": (negative_rate, "base_frequencies.csv", 3, "rate", "-0.02"),
    "negative severity": (
        negative_severity,
        "scenarios.toml",
        1,
        "scenarios[contained_fire].impacts.0.severity.lognormal.median",
        "greater than 0",
    ),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_a_bad_table_stops_the_start_naming_file_row_and_field(tmp_path: Path, defect: str) -> None:
    damage, file, row, field, words = DEFECTS[defect]
    damage(copy_of_tables(tmp_path / "tables"))
    app = create_app(settings_for(tmp_path / "tables", tmp_path))

    with pytest.raises(uw.RatingTableError) as raised, TestClient(app):
        pass  # pragma: no cover - the start fails

    error = raised.value
    assert (error.file, error.row, error.field, error.version) == (file, row, field, VERSION)
    assert words in str(error)
    assert file in str(error)
    assert getattr(app.state, "tables", None) is None, "nothing half-loaded is left to serve"
    assert getattr(app.state, "catalogue", None) is None


def test_a_broken_older_version_also_stops_the_start(tmp_path: Path) -> None:
    """Every version the service lists must be whole, not only the one it quotes with."""
    root = tmp_path / "tables"
    copy_of_tables(root)
    older = root / "2025.1"
    shutil.copytree(SOURCE, older)
    edit(
        older / "manifest.toml",
        lambda t: t.replace('version = "2026.1"', 'version = "2025.1"').replace(
            "2026-01-01", "2025-01-01"
        ),
    )
    negative_rate(older)
    app = create_app(settings_for(root, tmp_path))
    with pytest.raises(uw.RatingTableError) as raised, TestClient(app):
        pass  # pragma: no cover - the start fails
    assert (raised.value.version, raised.value.file, raised.value.row) == (
        "2025.1",
        "base_frequencies.csv",
        3,
    )


def test_an_unreadable_manifest_is_named_not_a_crash(tmp_path: Path) -> None:
    tables = copy_of_tables(tmp_path)
    (tables / "manifest.toml").write_bytes(b'version = "2026.1"\n\xff\n')
    with pytest.raises(uw.RatingTableError, match=r"manifest\.toml: not valid UTF-8 at line 2"):
        uw.available_versions(tmp_path)
    (tables / "manifest.toml").write_text("version = [", encoding="utf-8")
    with pytest.raises(uw.RatingTableError, match=r"manifest\.toml: not valid TOML"):
        uw.available_versions(tmp_path)


def test_a_requested_version_that_is_not_there_stops_the_start(tmp_path: Path) -> None:
    copy_of_tables(tmp_path / "tables")
    settings = settings_for(tmp_path / "tables", tmp_path).model_copy(
        update={"tables_version": "1999.9"}
    )
    app = create_app(settings)
    with (
        pytest.raises(uw.RatingTableError, match=r"'1999\.9' not found; available: 2026\.1"),
        TestClient(app),
    ):
        pass  # pragma: no cover - the start fails


def test_the_served_tables_do_not_change_when_the_files_do(tmp_path: Path) -> None:
    tables_dir = copy_of_tables(tmp_path / "tables")
    app = create_app(settings_for(tmp_path / "tables", tmp_path))
    request: dict[str, Any] = json.loads(
        (ROOT / "examples" / "physics_low_hazard.json").read_text()
    )
    request["target_relative_error"] = 0.2
    with TestClient(app) as client:
        key, _ = app.state.store.create_key("alice", "underwriter")
        headers = {"Authorization": f"Bearer {key}"}
        listed_before = client.get("/v1/rating-tables", headers=headers).json()
        first = client.post("/v1/quotes", json=request, headers=headers)
        assert first.status_code == 201, first.text

        negative_rate(tables_dir)  # the files change under the running service, rehashed
        shutil.rmtree(tables_dir / ".." / VERSION)  # and then disappear altogether

        assert client.get("/v1/rating-tables", headers=headers).json() == listed_before
        detail = client.get(f"/v1/rating-tables/{VERSION}", headers=headers)
        assert detail.status_code == 200
        assert detail.json()["sha256"] == listed_before[0]["sha256"]
        again = client.post("/v1/quotes", json=request, headers=headers)
        assert again.status_code == 201, again.text
        assert again.json()["premium"] == first.json()["premium"]
        replayed = client.post(f"/v1/quotes/{first.json()['id']}/replay", headers=headers)
        assert replayed.json()["matches"] is True

        served: uw.RatingTables = app.state.tables
        with pytest.raises(dataclasses.FrozenInstanceError):
            served.version = "2027.1"  # type: ignore[misc]
        with pytest.raises(TypeError):
            app.state.catalogue["2027.1"] = served


def test_underwriting_serve_refuses_to_start_on_a_bad_table(tmp_path: Path) -> None:
    """The operator's command: exits with an error naming the file, row and field."""
    negative_rate(copy_of_tables(tmp_path / "tables"))
    environment = {
        **os.environ,
        "UW_TABLES_DIR": str(tmp_path / "tables"),
        "UW_DATABASE_URL": f"sqlite:///{tmp_path}/uw.db",
    }
    command = [sys.executable, "-m", "api", "serve", "--port", "0"]
    finished = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert finished.returncode != 0
    output = finished.stdout + finished.stderr
    assert "base_frequencies.csv, row 3, field 'rate'" in output, output
    assert "Application startup failed" in output
