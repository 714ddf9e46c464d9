"""The ``underwriting`` command: quote, simulate, tables validate and diff; exit codes 0, 1, 2."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import underwriting as uw
from api.cli import app
from underwriting.rating import write_manifest_hashes

ROOT = Path(__file__).resolve().parents[2]
NEWEST = uw.available_versions()[-1]  # what the CLI quotes and simulates with by default
EXAMPLES = ROOT / "examples"
PHYSICS = str(EXAMPLES / "physics_low_hazard.json")
TABLES = ROOT / "rating_tables" / "2026.1"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Wide enough that rich tables never wrap a cell in these tests.
runner = CliRunner(env={"COLUMNS": "220"})


def _run(*args: str) -> tuple[int, str, str]:
    """Exit code, standard output, and everything a person would see (stdout and stderr)."""
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.output


# --------------------------------------------------------------------------- quote


def test_quote_prints_the_worksheet_premium_sections_and_decision() -> None:
    code, out, _ = _run("quote", PHYSICS, "--years", "20000")
    assert code == 0, out
    for text in (
        "Quote for PHY-OPT-201",
        f"tables {NEWEST}",
        "20,000 simulated years",
        "Worksheet",
        "expected insured loss",
        "risk load",
        "technical premium",
        "Premium by section",
        "equipment_breakdown",
        "Decision: ",
    ):
        assert text in out, text
    assert re.search(r"Premium [\d,]+ CNY \+ tax [\d,]+ = [\d,]+ CNY payable", out)


def test_quote_json_is_the_quote_with_its_options(tmp_path: Path) -> None:
    request = json.loads(Path(PHYSICS).read_text(encoding="utf-8"))
    higher = {**request["terms"], "aggregate_deductible": 50_000}
    option = tmp_path / "higher_deductible.json"
    option.write_text(json.dumps(higher), encoding="utf-8")
    code, out, _ = _run(
        "quote", PHYSICS, "--years", "20000", "--seed", "42", "--option", str(option), "--json"
    )
    assert code == 0, out
    quote = json.loads(out)
    assert quote["premium"]["total"] > 0
    assert quote["provenance"]["n_years"] == 20_000
    assert quote["provenance"]["seed"] == "42"
    (priced,) = quote["options"]
    assert priced["terms"]["aggregate_deductible"] == 50_000
    assert priced["premium"]["total"] <= quote["premium"]["total"]  # same events, more retained


def test_quote_shows_options_from_another_request_file() -> None:
    other = str(EXAMPLES / "chemistry_high_hazard.json")
    code, out, _ = _run("quote", PHYSICS, "--years", "20000", "--option", other)
    assert code == 0, out
    assert "Options (same simulated events)" in out
    assert "option 1" in out


def test_a_missing_file_is_bad_input() -> None:
    code, _, seen = _run("quote", "no_such_request.json")
    assert code == 2
    assert "no_such_request.json" in seen
    assert "does not exist" in seen


def test_an_invalid_request_lists_each_field_with_its_problem(tmp_path: Path) -> None:
    request = json.loads(Path(PHYSICS).read_text(encoding="utf-8"))
    request["submission"]["headcount"] = -3
    del request["submission"]["lab_category"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    code, out, seen = _run("quote", str(path), "--years", "20000")
    assert code == 2
    assert out == ""
    assert f"error: {path} is not valid (2 problem(s)):" in seen
    assert re.search(r"^  submission\.headcount: .*\(got -3\)$", seen, re.MULTILINE)
    assert re.search(r"^  submission\.lab_category: Field required$", seen, re.MULTILINE)


def test_a_file_that_is_not_json_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"submission": ', encoding="utf-8")
    code, _, seen = _run("quote", str(path))
    assert code == 2
    assert "(whole file): Invalid JSON" in seen


def test_a_seed_that_is_not_a_number_is_bad_input() -> None:
    code, _, seen = _run("quote", PHYSICS, "--seed", "forty-two")
    assert code == 2
    assert "--seed" in seen


def test_unknown_tables_are_a_domain_error() -> None:
    code, _, seen = _run("quote", PHYSICS, "--years", "20000", "--tables", "1999.9")
    assert code == 1
    assert "error: version '1999.9' not found; available: " in seen


# --------------------------------------------------------------------------- simulate


def test_simulate_prints_the_summary_and_writes_plots_and_year_losses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # the CSV fallback, whatever is installed
    out_dir = tmp_path / "sim"
    code, out, seen = _run(
        "simulate", PHYSICS, "--years", "5_000", "--seed", "7", "--out", str(out_dir)
    )
    assert code == 0, seen
    assert f"Simulated 5,000 years, seed 7, tables {NEWEST}" in out
    assert "TVaR 99.0%" in out
    assert "return period" in out
    assert "5000/5000 years" in seen  # the progress bar's final state
    for name in ("ep_curve.png", "histogram.png"):
        data = (out_dir / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 1_000, name
    assert "install the [parquet] extra for Parquet" in out
    with (out_dir / "annual_losses.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["year", "insured", "ground_up"]
    assert len(rows) == 5_001
    assert [int(row[0]) for row in rows[1:4]] == [0, 1, 2]
    assert all(float(row[1]) <= float(row[2]) for row in rows[1:])


def test_simulate_writes_parquet_when_pyarrow_is_installed(tmp_path: Path) -> None:
    parquet = pytest.importorskip("pyarrow.parquet")
    code, _, seen = _run("simulate", PHYSICS, "--years", "2000", "--out", str(tmp_path))
    assert code == 0, seen
    table = parquet.read_table(tmp_path / "annual_losses.parquet")
    assert table.column_names == ["year", "insured", "ground_up"]
    assert table.num_rows == 2_000


def test_simulate_needs_the_years() -> None:
    code, _, seen = _run("simulate", PHYSICS)
    assert code == 2
    assert "--years" in seen


def test_simulate_beyond_the_engines_cap_on_years_is_a_domain_error() -> None:
    # SimulationLimitError, an UnderwritingError like too many events: exit code 1, its message.
    code, _, seen = _run("simulate", PHYSICS, "--years", "1_000_000_001")
    assert code == 1
    assert "error: n_years must be an integer in [1, 1,000,000,000]" in seen


# --------------------------------------------------------------------------- tables


def _copy_tables(tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(TABLES, copy)
    return copy


def test_tables_validate_prints_ok_with_version_and_hashes() -> None:
    code, out, _ = _run("tables", "validate", str(TABLES))
    assert code == 0, out
    assert "OK rating tables 2026.1, effective 2026-01-01" in out
    manifest = (TABLES / "manifest.toml").read_text(encoding="utf-8")
    for digest in re.findall(r'= "([0-9a-f]{64})"', manifest):
        assert digest in out


def test_tables_validate_names_the_file_changed_after_release(tmp_path: Path) -> None:
    copy = _copy_tables(tmp_path, "2026.1")
    path = copy / "base_frequencies.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[1].split(",")
    cells[2] = "-0.02"
    lines[1] = ",".join(cells)
    path.write_text("".join(lines), encoding="utf-8")

    code, out, seen = _run("tables", "validate", str(copy))
    assert code == 1
    assert out == ""
    assert "base_frequencies.csv" in seen
    assert "sha256" in seen

    write_manifest_hashes(copy)  # now the hash matches: the row itself is refused
    code, _, seen = _run("tables", "validate", str(copy))
    assert code == 1
    assert "error: tables 2026.1, base_frequencies.csv, row 1, field 'rate'" in seen
    assert "at file base_frequencies.csv, row 1, field rate" in seen


@pytest.mark.parametrize("tables", ["2026.1", "rating_tables/2026.1"])
def test_tables_validate_takes_a_version_name_or_a_folder(
    tables: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = _run("tables", "validate", tables)
    assert code == 0, out
    assert "OK rating tables 2026.1, effective 2026-01-01" in out


def test_tables_validate_of_an_unknown_version_lists_the_versions() -> None:
    code, out, seen = _run("tables", "validate", "2099.9")
    assert code == 1
    assert out == ""
    assert "version '2099.9' not found; available: 2026.1" in seen


def test_tables_validate_of_a_missing_folder_is_bad_input(tmp_path: Path) -> None:
    code, _, seen = _run("tables", "validate", str(tmp_path / "nothing"))
    assert code == 2
    assert "does not exist" in seen


def _new_version_with_one_relativity_changed(tmp_path: Path) -> tuple[Path, str, str]:
    copy = _copy_tables(tmp_path, "2026.2")
    manifest = copy / "manifest.toml"
    text = manifest.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^version = ".*"$', 'version = "2026.2"', text)
    text = re.sub(r'(?m)^effective_date = ".*"$', 'effective_date = "2026-07-01"', text)
    manifest.write_text(text, encoding="utf-8")
    path = copy / "relativities.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    prefix = "hazard_grade,IV,,,contained_fire,frequency,"
    (index,) = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    cells = lines[index].split(",")
    old = cells[6]
    new = f"{float(old) * 0.5:g}"
    cells[6] = new
    lines[index] = ",".join(cells)
    path.write_text("".join(lines), encoding="utf-8")
    write_manifest_hashes(copy)
    return copy, f"{float(old):g}", new


def test_tables_diff_lists_the_change_and_the_example_premiums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy, old, new = _new_version_with_one_relativity_changed(tmp_path)
    monkeypatch.chdir(ROOT)  # examples/ next to the working directory
    code, out, seen = _run("tables", "diff", "2026.1", str(copy), "--years", "20000")
    assert code == 0, seen
    assert "new 2026.2, effective 2026-07-01" in out
    change = re.search(
        r"relativities\.csv\s*│ hazard_grade=IV / contained_fire / frequency\s*│\s*(\S+)\s*│"
        r"\s*(\S+)\s*│\s*(\S+)",
        out,
    )
    assert change is not None, out
    assert change.groups() == (old, new, "-50.0%")
    assert "1 number(s) changed" in out

    premiums = {
        lab: (int(was.replace(",", "")), int(now.replace(",", "")), pct)
        for lab, was, now, pct in re.findall(
            r"│ ([A-Z0-9-]+)\s*│\s*([\d,]+)\s*│\s*([\d,]+)\s*│\s*([+-]?[\d.]+%)", out
        )
    }
    assert set(premiums) == {"PHY-OPT-201", "CHEM-SYN-305", "BIO-BSL3-110"}
    was, now, pct = premiums["PHY-OPT-201"]  # hazard grade IV: its fire rate halved
    assert now < was
    assert pct.startswith("-")


def test_tables_diff_without_examples_skips_the_premiums(tmp_path: Path) -> None:
    empty = tmp_path / "no_examples"
    empty.mkdir()
    code, out, _ = _run("tables", "diff", "2026.1", str(TABLES), "--examples", str(empty))
    assert code == 0, out
    assert "No number changed." in out
    assert "premiums not compared" in out


def test_tables_diff_of_an_unknown_version_is_a_domain_error() -> None:
    code, _, seen = _run("tables", "diff", "2026.1", "2099.9")
    assert code == 1
    assert "version '2099.9' not found" in seen


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("command", "description"),
    [
        ((), "Laboratory all-risk underwriting engine."),
        (("quote",), "Quote a lab from a request file"),
        (("simulate",), "Simulate a lab's annual losses with a progress bar"),
        (("tables",), "Validate and compare rating-tables versions."),
        (("tables", "validate"), "Check a rating-tables folder"),
        (("tables", "diff"), "List every number that changed between two versions"),
        (("serve",), "Start the quoting API."),
        (("keys",), "Create, list and revoke API keys."),
        (("keys", "create"), "Create a key"),
        (("keys", "list"), "List keys"),
        (("keys", "revoke"), "Revoke a key by id."),
    ],
)
def test_every_command_has_help(command: tuple[str, ...], description: str) -> None:
    code, out, _ = _run(*command, "--help")
    assert code == 0
    assert "Usage:" in out
    assert description in " ".join(out.split())
