"""Subjectivities and conditions in rules.toml: when each applies, and the faults the loader
refuses, naming the row."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

import underwriting as uw
from underwriting.rating import PolicyCondition, load_rating_tables, write_manifest_hashes
from underwriting.request import QuoteRequest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "rating_tables" / "2026.3"


def _submission(name: str) -> uw.Submission:
    path = ROOT / "examples" / f"{name}.json"
    return QuoteRequest.model_validate_json(path.read_text(encoding="utf-8")).submission


def _ids(conditions: tuple[PolicyCondition, ...]) -> list[str]:
    return [condition.id for condition in conditions]


def test_released_tables_have_no_conditions() -> None:
    for version in ("2026.1", "2026.2"):
        assert load_rating_tables(version).rules.conditions == ()


def test_the_spoilage_alarm_needs_spoilage_cover_and_cold_storage() -> None:
    rules = load_rating_tables("2026.3").rules
    biobank = _submission("bsl3_biobank")  # 24 freezers, 8 dewars
    physics = _submission("physics_low_hazard")  # no cold storage
    alarm = "C01_SPOILAGE_REMOTE_ALARM"
    assert alarm in _ids(rules.conditions_for(biobank, sections=["spoilage"], referred_by=[]))
    assert alarm not in _ids(rules.conditions_for(biobank, sections=["property"], referred_by=[]))
    assert alarm not in _ids(rules.conditions_for(physics, sections=["spoilage"], referred_by=[]))


def test_the_survey_follows_the_referral_that_asks_for_it() -> None:
    rules = load_rating_tables("2026.3").rules
    chemistry = _submission("chemistry_high_hazard")
    referred = rules.conditions_for(
        chemistry, sections=["property"], referred_by=["R05_HIGH_HAZARD_UNPROTECTED"]
    )
    quoted = rules.conditions_for(chemistry, sections=["property"], referred_by=[])
    assert "S02_RISK_SURVEY" in _ids(referred)
    assert "S02_RISK_SURVEY" not in _ids(quoted)
    assert "S01_SIGNED_SUBMISSION" in _ids(quoted)  # always


def test_conditions_come_in_table_order() -> None:
    rules = load_rating_tables("2026.3").rules
    applying = _ids(
        rules.conditions_for(
            _submission("chemistry_high_hazard"),
            sections=["spoilage", "property", "equipment_breakdown"],
            referred_by=["R05_HIGH_HAZARD_UNPROTECTED"],
        )
    )
    order = _ids(rules.conditions)
    assert applying == sorted(applying, key=order.index)


def test_a_condition_says_when_it_applies() -> None:
    with pytest.raises(ValidationError, match="give always = true, or one or more of"):
        PolicyCondition(id="C99", kind="condition", text="Something.")
    with pytest.raises(ValidationError, match="not both"):
        PolicyCondition(
            id="C99", kind="condition", text="Something.", always=True, sections=["spoilage"]
        )


# ----------------------------------------------------------------- broken rules.toml copies


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "2026.3"
    shutil.copytree(SOURCE, target)
    return target


def _broken(copy: Path, old: str, new: str) -> uw.RatingTableError:
    path = copy / "rules.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must appear once in rules.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    write_manifest_hashes(copy)
    with pytest.raises(uw.RatingTableError) as caught:
        load_rating_tables("2026.3", root=copy.parent)
    assert caught.value.file == "rules.toml"
    return caught.value


def test_an_unchanged_copy_loads(copy: Path) -> None:
    write_manifest_hashes(copy)
    assert load_rating_tables("2026.3", root=copy.parent).rules.conditions


def test_a_duplicate_condition_id_is_refused(copy: Path) -> None:
    error = _broken(copy, 'id = "S02_RISK_SURVEY"', 'id = "S01_SIGNED_SUBMISSION"')
    assert error.row == 2
    assert "S01_SIGNED_SUBMISSION appears twice" in str(error)


def test_a_condition_may_name_only_the_submissions_facts(copy: Path) -> None:
    error = _broken(
        copy,
        '{ fact = "submission.cryogenic_magnets", op = "gt", value = 0 }',
        '{ fact = "metrics.pml_250", op = "gt", value = 0 }',
    )
    assert error.row == 6
    assert error.field == "conditions.when.fact"
    assert "C03_MAGNET_QUENCH_RECORDS" in str(error)
    assert "'metrics.pml_250'" in str(error)


def test_referred_by_must_name_a_refer_rule(copy: Path) -> None:
    error = _broken(
        copy, 'referred_by = ["R05_HIGH_HAZARD_UNPROTECTED"]', 'referred_by = ["D01_BSL4"]'
    )
    assert error.row == 2
    assert "'D01_BSL4' is not a refer rule" in str(error)
    assert "R05_HIGH_HAZARD_UNPROTECTED" in str(error)


def test_an_unknown_section_names_the_row(copy: Path) -> None:
    error = _broken(copy, 'sections = ["spoilage"]', 'sections = ["boredom"]')
    assert error.row == 4
    assert "boredom" in str(error)


def test_a_condition_without_criteria_is_refused(copy: Path) -> None:
    error = _broken(copy, "always = true\n", "")
    assert error.row == 1
    assert "give always = true" in str(error)
