"""Rating tables load only when whole and consistent; errors name the file, row and field."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import underwriting as uw
from underwriting.model import LabCategory
from underwriting.rating import write_manifest_hashes

SOURCE = Path(__file__).resolve().parents[2] / "rating_tables" / "2026.2"


def test_the_released_version_loads_whole() -> None:
    tables = uw.load_rating_tables("2026.2")
    assert tables.currency == "CNY"
    assert str(tables.effective_date) == "2026-12-06"
    expected = {
        "contained_fire",
        "major_fire",
        "explosion",
        "researcher_injury",
        "cold_storage_failure",
        "natural_catastrophe",
        "instrument_breakdown",
        "chemical_release",
        "biosafety_exposure",
        "third_party_injury",
        "escape_of_water",
    }
    assert expected <= set(tables.scenario_ids)  # docs/sources.md#research-5: the 11 scenarios
    for scenario in tables.scenario_ids:
        for category in LabCategory:
            assert (scenario, category) in tables.base_rates
    assert set(tables.sha256) == {
        "scenarios.toml",
        "base_frequencies.csv",
        "relativities.csv",
        "pricing.toml",
        "rules.toml",
    }
    assert {"2026.1", "2026.2"} <= set(uw.available_versions())
    assert uw.load_rating_tables().version == uw.available_versions()[-1]


# The sha256 of every file of each released version, as released: a released version is
# immutable (a change is a new version folder), so that every quote made on it replays.
RELEASED = {
    "2026.1": {
        "scenarios.toml": "40d835291ea2abc9353891b9ef60d1f227508100a47972239112e5bb8857cb61",
        "base_frequencies.csv": "5219ce417acc370dea1aa1c2e6386e04b755a976199c2a22d6a580628942ffe7",
        "relativities.csv": "7293f42b7f7ebff781566215d841fa2624e3863d0eafae0e9e51beb9c402c5a7",
        "pricing.toml": "3756c650c33f113ea0be08f1307e80c4a7b0bd12fe5c9e21eac95f52b5f57d0a",
        "rules.toml": "7bfef72f3547852a2d3d614fe4cbe4d4cdf334789e03fcef55c8bd4b8adeeefb",
    },
    "2026.2": {
        "scenarios.toml": "40d835291ea2abc9353891b9ef60d1f227508100a47972239112e5bb8857cb61",
        "base_frequencies.csv": "5219ce417acc370dea1aa1c2e6386e04b755a976199c2a22d6a580628942ffe7",
        "relativities.csv": "7293f42b7f7ebff781566215d841fa2624e3863d0eafae0e9e51beb9c402c5a7",
        "pricing.toml": "3756c650c33f113ea0be08f1307e80c4a7b0bd12fe5c9e21eac95f52b5f57d0a",
        "rules.toml": "5a1e8c473591fdfbcdd69967cd206d49d0a1937e9eacee23159429b88c8c13bb",
    },
    "2026.3": {
        "scenarios.toml": "347024c1c53f979faa100537ddd8de4e5dc182d39cec9b577ca435f730ffe114",
        "base_frequencies.csv": "b8aea71a4bc70ef436b8873c9244938be357bc5713f93b0258b8168d7e03769d",
        "relativities.csv": "eb6fcac7372c86472bf5a952a8c21416f18abf3b8cd3f42f5fe1c84dc8ae78c0",
        "pricing.toml": "4209be94d51371551541a2f906f9b860101256b16fbad19690538275a4cbc5f9",
        "rules.toml": "b3ef20e6ca7f88eb3bba22d2b57668df74ba7d182c8ff2910ffc7f7d471c5a61",
    },
    "2026.4": {
        "scenarios.toml": "347024c1c53f979faa100537ddd8de4e5dc182d39cec9b577ca435f730ffe114",
        "base_frequencies.csv": "b8aea71a4bc70ef436b8873c9244938be357bc5713f93b0258b8168d7e03769d",
        "relativities.csv": "eb6fcac7372c86472bf5a952a8c21416f18abf3b8cd3f42f5fe1c84dc8ae78c0",
        "pricing.toml": "fbf2fb26895fcba242e1049a0c87f0520e1693e6f0a6c78e20f0189dc1b6363a",
        "rules.toml": "b3ef20e6ca7f88eb3bba22d2b57668df74ba7d182c8ff2910ffc7f7d471c5a61",
    },
    "2026.5": {
        "scenarios.toml": "347024c1c53f979faa100537ddd8de4e5dc182d39cec9b577ca435f730ffe114",
        "base_frequencies.csv": "b8aea71a4bc70ef436b8873c9244938be357bc5713f93b0258b8168d7e03769d",
        "relativities.csv": "eb6fcac7372c86472bf5a952a8c21416f18abf3b8cd3f42f5fe1c84dc8ae78c0",
        "pricing.toml": "24d2bfcb4dc4e44b6c29a1bccc679b29d201a3eabbdd3c07dab06533c69f19bb",
        "rules.toml": "b3ef20e6ca7f88eb3bba22d2b57668df74ba7d182c8ff2910ffc7f7d471c5a61",
    },
    "2026.6": {
        "scenarios.toml": "347024c1c53f979faa100537ddd8de4e5dc182d39cec9b577ca435f730ffe114",
        "base_frequencies.csv": "b8aea71a4bc70ef436b8873c9244938be357bc5713f93b0258b8168d7e03769d",
        "relativities.csv": "eb6fcac7372c86472bf5a952a8c21416f18abf3b8cd3f42f5fe1c84dc8ae78c0",
        "pricing.toml": "e87489144e9f8f7ff2bd204196bdfac26ade79d02a326c2c1ea1471e3336f44b",
        "rules.toml": "b3ef20e6ca7f88eb3bba22d2b57668df74ba7d182c8ff2910ffc7f7d471c5a61",
    },
}


@pytest.mark.parametrize("version", list(RELEASED))
def test_a_released_version_is_unchanged(version: str) -> None:
    assert dict(uw.load_rating_tables(version).sha256) == RELEASED[version]


def test_every_version_is_pinned_as_released_or_marked_a_draft() -> None:
    """A released version's hashes are pinned above; anything else must say it is a draft."""
    for version in uw.available_versions(drafts=True):
        if version not in RELEASED:
            assert uw.load_rating_tables(version).draft, f"{version}: pin it in RELEASED"
    assert set(RELEASED) == set(uw.available_versions())


def test_a_draft_is_never_the_newest_and_loads_only_when_named(draft_root: Path) -> None:
    assert "2099.1" in uw.available_versions(draft_root, drafts=True)
    assert "2099.1" not in uw.available_versions(draft_root)
    newest = uw.load_rating_tables(root=draft_root)
    assert not newest.draft
    assert newest.version == uw.available_versions()[-1]
    assert uw.load_rating_tables("2099.1", root=draft_root).draft


def test_a_quote_on_draft_tables_says_so(draft_root: Path) -> None:
    request = uw.QuoteRequest.model_validate_json(
        (Path(__file__).resolve().parents[2] / "examples" / "physics_low_hazard.json").read_text()
    )
    tables = uw.load_rating_tables("2099.1", root=draft_root)
    quoted = uw.quote(request.submission, request.terms, tables=tables, n_years=10_000)
    assert [w.code for w in quoted.warnings][:1] == ["DRAFT_TABLES"]
    released = uw.quote(request.submission, request.terms, n_years=10_000)
    assert "DRAFT_TABLES" not in [w.code for w in released.warnings]


def test_the_first_release_has_no_plausibility_bounds() -> None:
    """2026.1 quotes as it did when released: the bounds and R08 arrived with 2026.2."""
    rules = uw.load_rating_tables("2026.1").rules
    assert rules.plausibility == ()
    assert "R08_IMPLAUSIBLE_EXPOSURE" not in {rule.code for rule in rules.rules}


def test_every_number_has_a_source() -> None:
    tables = uw.load_rating_tables("2026.2")
    assert all(source for _, source in tables.base_rates.values())
    assert all(row.source for row in tables.relativities)
    readme = (SOURCE / "README.md").read_text(encoding="utf-8")
    for scenario in tables.scenario_ids:
        assert scenario in readme, f"{scenario} is not documented in the tables README"


def test_an_unknown_version_lists_the_available_ones() -> None:
    with pytest.raises(uw.RatingTableError, match=r"'1999.9' not found; available: .*2026\.1"):
        uw.load_rating_tables("1999.9")


# ----------------------------------------------------------------- broken copies


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "2026.2"
    shutil.copytree(SOURCE, target)
    return target


def _edit_csv(path: Path, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = change(list(reader))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _load(copy: Path, *, rehash: bool = True) -> uw.RatingTables:
    if rehash:
        write_manifest_hashes(copy)
    return uw.load_rating_tables("2026.2", root=copy.parent)


def test_an_unchanged_copy_loads(copy: Path) -> None:
    assert _load(copy, rehash=False).version == "2026.2"


def test_a_file_changed_after_release_is_refused(copy: Path) -> None:
    path = copy / "relativities.csv"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with pytest.raises(uw.RatingTableError) as caught:
        _load(copy, rehash=False)
    assert caught.value.file == "relativities.csv"
    assert caught.value.field == "sha256"
    assert "the manifest says" in str(caught.value)


def test_tables_are_parsed_once_and_checked_again_when_a_file_changes(copy: Path) -> None:
    """Loading parses and checks the files once for each content (about 10 ms, a fifth of a
    quote that is not given its tables); a file changed on disk is read and checked again."""
    first = _load(copy, rehash=False)
    assert _load(copy, rehash=False) is first
    path = copy / "pricing.toml"
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace("profit_margin = 0.05 ", "profit_margin = 0.07 "), "utf-8")
    with pytest.raises(uw.RatingTableError) as caught:  # changed, hash not: still refused
        _load(copy, rehash=False)
    assert caught.value.file == "pricing.toml"
    assert caught.value.field == "sha256"
    changed = _load(copy)  # hashes rewritten: the new margin
    assert changed.pricing.premium.profit_margin == 0.07
    assert first.pricing.premium.profit_margin == 0.05
    path.write_text(original, "utf-8")
    assert _load(copy) is first  # the same bytes again: the tables loaded from them


def test_a_negative_rate_names_the_row_and_field(copy: Path) -> None:
    def negative(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        rows[2]["rate"] = "-0.5"
        return rows

    _edit_csv(copy / "base_frequencies.csv", negative)
    with pytest.raises(uw.RatingTableError) as caught:
        _load(copy)
    assert (caught.value.file, caught.value.row, caught.value.field) == (
        "base_frequencies.csv",
        3,
        "rate",
    )
    assert "greater than or equal to 0" in str(caught.value)


def test_a_missing_base_rate_is_named(copy: Path) -> None:
    _edit_csv(copy / "base_frequencies.csv", lambda rows: rows[1:])
    with pytest.raises(uw.RatingTableError, match="no base rate for scenario"):
        _load(copy)


def test_an_unknown_factor_names_the_row(copy: Path) -> None:
    def unknown(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        rows[4]["factor"] = "moon_phase"
        return rows

    _edit_csv(copy / "relativities.csv", unknown)
    with pytest.raises(uw.RatingTableError) as caught:
        _load(copy)
    assert (caught.value.file, caught.value.row) == ("relativities.csv", 5)
    assert "moon_phase" in str(caught.value)


def test_a_missing_categorical_level_is_refused(copy: Path) -> None:
    def drop_grade_iv(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        index = next(
            i for i, r in enumerate(rows) if r["factor"] == "hazard_grade" and r["level"] == "IV"
        )
        return rows[:index] + rows[index + 1 :]

    _edit_csv(copy / "relativities.csv", drop_grade_iv)
    with pytest.raises(uw.RatingTableError, match="no row for level"):
        _load(copy)


def test_a_gap_between_numeric_bands_is_refused(copy: Path) -> None:
    def gap(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        band = next(r for r in rows if r["upper"] and r["lower"] and float(r["lower"]) > 0)
        band["lower"] = str((float(band["lower"]) + float(band["upper"])) / 2)
        return rows

    _edit_csv(copy / "relativities.csv", gap)
    with pytest.raises(uw.RatingTableError, match="not contiguous"):
        _load(copy)


def test_an_unknown_scenario_in_a_relativity_is_refused(copy: Path) -> None:
    def unknown(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        for row in rows:
            if row["scenario"] == rows[0]["scenario"]:
                row["scenario"] = "alien_invasion"
        return rows

    _edit_csv(copy / "relativities.csv", unknown)
    with pytest.raises(uw.RatingTableError, match="alien_invasion"):
        _load(copy)


def test_a_bad_impact_names_the_scenario_and_field(copy: Path) -> None:
    path = copy / "scenarios.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('basis = "downtime_days"', 'basis = "amount"', 1), "utf-8")
    with pytest.raises(uw.RatingTableError) as caught:
        _load(copy)
    assert caught.value.file == "scenarios.toml"
    assert caught.value.row is not None
    assert "downtime_days" in str(caught.value)


MAJOR_FIRE_PROPERTY = (
    'section = "property"\nbasis = "damage_ratio"\nprobability = 1.0\ncorrelation = 0.9\n'
)


@pytest.mark.parametrize(
    ("edit", "gives"),
    [
        ("factor_loading_squared = 0.9\ncorrelation = 0.9\n", "gives both"),
        ("", "gives neither"),
    ],
)
def test_an_impact_gives_its_factor_loading_under_exactly_one_name(
    copy: Path, edit: str, gives: str
) -> None:
    path = copy / "scenarios.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count(MAJOR_FIRE_PROPERTY) == 1
    path.write_text(
        text.replace(MAJOR_FIRE_PROPERTY, MAJOR_FIRE_PROPERTY.replace("correlation = 0.9\n", edit)),
        encoding="utf-8",
    )
    with pytest.raises(uw.RatingTableError) as caught:
        _load(copy)
    assert caught.value.file == "scenarios.toml"
    assert caught.value.field == "scenarios[major_fire].impacts.0"
    message = str(caught.value)
    assert f"the impact on section 'property' {gives} 'factor_loading_squared'" in message
    assert "give exactly one, 'factor_loading_squared'" in message
    assert "'correlation' is its former name" in message


def test_a_cascade_to_an_unknown_scenario_is_refused(copy: Path) -> None:
    path = copy / "scenarios.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('child = "contained_fire"', 'child = "meteor"', 1), "utf-8")
    with pytest.raises(uw.RatingTableError, match="'meteor' is not a scenario id"):
        _load(copy)


def test_broken_toml_is_refused(copy: Path) -> None:
    (copy / "scenarios.toml").write_text("[model\nmax_downtime_days = ", encoding="utf-8")
    with pytest.raises(uw.RatingTableError, match=r"scenarios\.toml: not valid TOML"):
        _load(copy)


def test_a_manifest_for_another_folder_is_refused(copy: Path) -> None:
    manifest = copy / "manifest.toml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace('version = "2026.2"', 'version = "2027.1"'),
        encoding="utf-8",
    )
    with pytest.raises(uw.RatingTableError, match="does not match its folder"):
        _load(copy, rehash=False)


def test_wrong_columns_are_refused(copy: Path) -> None:
    path = copy / "base_frequencies.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("rate,source", "frequency,source", 1), encoding="utf-8")
    with pytest.raises(uw.RatingTableError, match="expected exactly scenario, lab_category"):
        _load(copy)


# ----------------------------------------------------------------- plausibility bounds


def test_the_plausibility_bounds_load_with_a_reason_each() -> None:
    tables = uw.load_rating_tables("2026.2")
    bounds = {bound.quantity: bound.max_per_m2 for bound in tables.rules.plausibility}
    assert bounds == {
        "chemicals.flammable_liquids_litres": 400.0,
        "chemicals.gas_cylinders": 5.0,
        "cold_storage.ultra_low_freezers": 1.0,
        "cold_storage.ln2_dewars": 2.0,
        "values.total_insured_value": 10_000_000.0,
        "headcount": 3.0,
    }
    readme = (SOURCE / "README.md").read_text(encoding="utf-8")
    section = readme.split("### `[[plausibility]]`")[1].split("\n## ")[0]
    for quantity in bounds:
        assert f"| `{quantity}`" in section, f"{quantity} has no reason in the tables README"
    assert "R08_IMPLAUSIBLE_EXPOSURE" in {rule.code for rule in tables.rules.rules}


def _edit_rules(copy: Path, old: str, new: str) -> None:
    path = copy / "rules.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_bad_plausibility_bound_names_the_file_row_and_field(copy: Path) -> None:
    _edit_rules(copy, "max_per_m2 = 5.0", "max_per_m2 = -5.0")
    with pytest.raises(uw.RatingTableError) as caught:
        _load(copy)
    assert (caught.value.file, caught.value.row, caught.value.field) == (
        "rules.toml",
        2,
        "plausibility.1.max_per_m2",
    )
    assert "greater than 0" in str(caught.value)


def test_an_unknown_plausibility_quantity_is_refused_naming_the_allowed(copy: Path) -> None:
    _edit_rules(copy, 'quantity = "headcount"', 'quantity = "cats"')
    with pytest.raises(uw.RatingTableError) as caught:
        _load(copy)
    assert (caught.value.file, caught.value.row) == ("rules.toml", 6)
    assert "quantity 'cats' is not one of" in str(caught.value)
    assert "chemicals.flammable_liquids_litres" in str(caught.value)


def test_a_quantity_bounded_twice_is_refused(copy: Path) -> None:
    _edit_rules(copy, 'quantity = "headcount"', 'quantity = "cold_storage.ln2_dewars"')
    with pytest.raises(uw.RatingTableError) as caught:
        _load(copy)
    assert (caught.value.file, caught.value.row, caught.value.field) == (
        "rules.toml",
        6,
        "plausibility.quantity",
    )
