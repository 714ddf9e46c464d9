"""What changed between two rating-tables versions: the numbers a reviewer must see, no more."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

import underwriting as uw
from underwriting.rating import flatten, table_numbers, write_manifest_hashes

SOURCE = Path(__file__).resolve().parents[2] / "rating_tables" / "2026.1"
ITEM = "hazard_grade=IV / contained_fire / frequency"


def _with_relativity(tmp_path: Path, factor: float) -> uw.RatingTables:
    """2026.1 with the hazard-grade IV contained-fire frequency relativity multiplied by factor."""
    copy = tmp_path / "2026.1"
    shutil.copytree(SOURCE, copy)
    path = copy / "relativities.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    (row,) = [
        r
        for r in rows
        if (r["factor"], r["level"], r["scenario"], r["applies_to"])
        == ("hazard_grade", "IV", "contained_fire", "frequency")
    ]
    row["relativity"] = f"{float(row['relativity']) * factor:g}"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_manifest_hashes(copy)
    return uw.load_rating_tables("2026.1", root=tmp_path)


def test_a_version_compared_with_itself_changed_nothing() -> None:
    tables = uw.load_rating_tables("2026.1")
    assert uw.compare_tables(tables, tables) == ()


def test_one_relativity_changed_is_the_one_change_listed(tmp_path: Path) -> None:
    old = uw.load_rating_tables("2026.1")
    new = _with_relativity(tmp_path, 0.5)
    (change,) = uw.compare_tables(old, new)
    assert (change.file, change.item, change.status) == ("relativities.csv", ITEM, "changed")
    assert (change.old, change.new) == (0.8, 0.4)
    assert change.numeric
    assert change.relative_change == pytest.approx(-0.5)


def test_a_rule_added_by_the_next_release_is_listed_as_added() -> None:
    changes = uw.compare_tables(uw.load_rating_tables("2026.1"), uw.load_rating_tables("2026.2"))
    added = {c.item: c.new for c in changes if c.status == "added"}
    assert added["R08_IMPLAUSIBLE_EXPOSURE: outcome"] == "refer (senior_underwriter)"
    assert all(c.file == "rules.toml" for c in changes)
    assert all(c.old is None and c.relative_change is None for c in changes)
    # Reversed, the same rule is removed.
    back = uw.compare_tables(uw.load_rating_tables("2026.2"), uw.load_rating_tables("2026.1"))
    assert {c.item for c in back if c.status == "removed"} == set(added)


def test_every_number_is_listed_but_no_prose() -> None:
    numbers = table_numbers(uw.load_rating_tables("2026.1"))
    assert numbers[("manifest.toml", "currency")] == "CNY"
    assert numbers[("relativities.csv", ITEM)] == 0.8
    assert not any(item.endswith((".description", ".source", ".name")) for _, item in numbers)


def test_flattening_keeps_or_drops_lists_as_asked() -> None:
    data = {
        "a": {"b": 1, "when": "2026-01-01", "description": "prose"},
        "tags": ["x", "y"],
        "rows": [{"v": 1.5}, {"v": None}],
        "flag": True,
    }
    assert flatten(data, "s", lists="drop") == {
        "s.a.b": 1,
        "s.a.when": "2026-01-01",
        "s.a.description": "prose",
        "s.flag": True,
    }
    assert flatten(data, lists="expand", skip=frozenset({"description"})) == {
        "a.b": 1,
        "a.when": "2026-01-01",
        "tags": "x, y",
        "rows[1].v": 1.5,
        "rows[2].v": None,
        "flag": True,
    }


def test_a_quotes_facts_are_the_submissions_scalars() -> None:
    request = uw.QuoteRequest.model_validate_json(
        (
            Path(__file__).resolve().parents[2] / "examples" / "chemistry_high_hazard.json"
        ).read_text()
    )
    facts = flatten(request.submission.model_dump(mode="json"), "submission", lists="drop")
    assert facts["submission.lab_id"] == request.submission.lab_id
    assert not any("[" in name for name in facts)  # lists (equipment, claims) are not facts
