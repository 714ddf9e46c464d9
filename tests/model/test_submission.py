"""The lab submission refuses impossible values, naming the field and what is allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import underwriting as uw

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example() -> dict[str, Any]:
    data = json.loads((EXAMPLES / "physics_low_hazard.json").read_text())
    submission: dict[str, Any] = data["submission"]
    return submission


def _with(path: str, value: object) -> dict[str, Any]:
    data = _example()
    node = data
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("values.contents", -1.0, "greater than or equal to 0"),
        ("values.equipment", float("nan"), "finite number"),
        ("student_share", 1.2, "less than or equal to 1"),
        ("biosafety_level", 5, "1, 2, 3 or 4"),
        ("hazard_grade", "V", "'I', 'II', 'III' or 'IV'"),
        ("lab_category", "alchemy", "chemical_synthesis"),
        ("headcount", 0, "greater than 0"),
        ("chemicals.flammable_liquids_litres", -5, "greater than or equal to 0"),
        ("cold_storage.ultra_low_freezers", -1, "greater than or equal to 0"),
        ("protections.inspection_regime", "sometimes", "'none', 'annual', 'quarterly'"),
        ("area_m2", 0, "greater than 0"),
        ("unknown_field", 1, "Extra inputs are not permitted"),
    ],
)
def test_impossible_values_name_the_field_and_the_allowed_values(
    path: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        uw.Submission.model_validate(_with(path, value))
    text = str(caught.value)
    assert path.split(".")[-1] in text
    assert message in text


def test_equipment_schedule_cannot_exceed_the_equipment_value() -> None:
    data = _example()
    data["equipment_schedule"] = [{"type": "laser", "value": 1e12, "age_years": 1}]
    with pytest.raises(ValidationError, match="equipment_schedule totals"):
        uw.Submission.model_validate(data)


def test_equipment_schedule_message_shows_the_amounts_as_sent() -> None:
    """Small amounts were rounded to whole units: '0.33 but 0' read '0 but 0'."""
    data = _example()
    data["values"]["equipment"] = 0.0
    data["equipment_schedule"] = [{"type": "pipette", "value": 0.33, "age_years": 1}]
    with pytest.raises(ValidationError) as caught:
        uw.Submission.model_validate(data)
    assert "equipment_schedule totals 0.33 but values.equipment is 0.0" in str(caught.value)
    data["values"]["equipment"] = 1_000_000.0
    data["equipment_schedule"] = [{"type": "laser", "value": 1_000_000.25, "age_years": 1}]
    with pytest.raises(ValidationError) as caught:
        uw.Submission.model_validate(data)
    assert "totals 1,000,000.25 but values.equipment is 1,000,000.0" in str(caught.value)


def test_claims_need_years_observed() -> None:
    data = _example()
    data["claims_history"] = {
        "years_observed": 0,
        "claims": [{"scenario": "contained_fire", "date": "2024-03-01", "amount": 1000}],
    }
    with pytest.raises(ValidationError, match="years_observed"):
        uw.Submission.model_validate(data)


def test_a_submission_is_frozen() -> None:
    submission = uw.Submission.model_validate(_example())
    with pytest.raises(ValidationError, match="frozen"):
        submission.headcount = 3  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_the_examples_are_valid_quote_requests(name: str) -> None:
    request = uw.QuoteRequest.model_validate_json((EXAMPLES / name).read_text())
    assert request.submission.values.total_insured_value > 0
    assert request.terms.sections


def test_the_three_examples_contrast_as_promised() -> None:
    def load(name: str) -> uw.Submission:
        text = (EXAMPLES / name).read_text()
        return uw.QuoteRequest.model_validate_json(text).submission

    physics = load("physics_low_hazard.json")
    chemistry = load("chemistry_high_hazard.json")
    biobank = load("bsl3_biobank.json")
    assert physics.hazard_grade == "IV"
    assert chemistry.hazard_grade in ("I", "II")
    assert chemistry.chemicals.gas_cylinders.flammable > 0
    assert biobank.biosafety_level == 3
    assert biobank.values.specimens > max(physics.values.specimens, chemistry.values.specimens)
