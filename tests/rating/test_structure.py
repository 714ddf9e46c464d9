"""The rating structure of 2026.3 (issue 15, requirement 4): each defect of 2026.2, fixed.

Each test runs on 2026.3 and asserts the fixed behaviour; its ``_released`` twin pins
the 2026.2 behaviour that the fix departs from (released tables never change), so each test is
shown to fail on 2026.2's structure.

Premium ordering is checked on the risk profiles: the premium never falls when a rate, a severity
scale or a value at risk rises with everything else fixed (``underwriting.pricing``), so a profile
that dominates another scenario by scenario and impact by impact never prices below it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import underwriting as uw
from underwriting.model import Section

ROOT = Path(__file__).resolve().parents[2]
DRAFT, RELEASED = "2026.3", "2026.2"


def _submission(name: str = "physics_low_hazard") -> uw.Submission:
    request = uw.QuoteRequest.model_validate_json((ROOT / "examples" / f"{name}.json").read_text())
    return request.submission


def _profile(submission: uw.Submission, version: str) -> uw.RiskProfile:
    return uw.RiskProfile.from_submission(submission, uw.load_rating_tables(version))


def _dominates(high: uw.RiskProfile, low: uw.RiskProfile) -> bool:
    """Every scenario of ``low`` is in ``high`` with a rate, severity scales and values at least
    as large (so ``high``'s loss is stochastically larger, its premium at least as large)."""
    for scenario in low.scenarios:
        try:
            other = high.scenario(scenario.id)
        except KeyError:
            return False
        if other.frequency.mean < scenario.frequency.mean * (1 - 1e-12):
            return False
        impacts = {impact.section: impact for impact in other.impacts}
        for impact in scenario.impacts:
            mine = impacts.get(impact.section)
            if mine is None or mine.severity_scale < impact.severity_scale * (1 - 1e-12):
                return False
            if (mine.value or 0.0) < (impact.value or 0.0) * (1 - 1e-12):
                return False
    return True


# --------------------------------------------------------------------------- equipment schedule


def _schedules(total: float) -> list[tuple[dict[str, object], ...]]:
    """Schedules of the same total value: young or old, with or without magnets, one or many."""
    out: list[tuple[dict[str, object], ...]] = []
    for age in (0.0, 4.0, 12.0, 40.0):
        for magnets in (0, 1, 3, 5):
            count = max(magnets, 1)
            out.append(
                tuple(
                    {
                        "type": f"instrument {i}",
                        "value": total / count,
                        "age_years": age,
                        "cryogenic_magnet": i < magnets,
                    }
                    for i in range(count)
                )
            )
    return out


def _with_schedule(
    submission: uw.Submission, schedule: tuple[dict[str, object], ...]
) -> uw.Submission:
    data = submission.model_dump(mode="json")
    data["equipment_schedule"] = list(schedule)
    return uw.Submission.model_validate(data)


def test_no_schedule_never_prices_below_any_schedule_of_the_same_value() -> None:
    base = _submission()
    without = _profile(_with_schedule(base, ()), DRAFT)
    for schedule in _schedules(base.values.equipment):
        scheduled = _profile(_with_schedule(base, schedule), DRAFT)
        assert _dominates(without, scheduled), schedule


def test_no_schedule_earned_a_discount_in_released_tables() -> None:
    base = _submission()
    without = _profile(_with_schedule(base, ()), RELEASED)
    old = _profile(_with_schedule(base, _schedules(base.values.equipment)[-1]), RELEASED)
    assert not _dominates(without, old)


# --------------------------------------------------------------------------- floor area


def _with_area(submission: uw.Submission, area: float) -> uw.Submission:
    return submission.model_copy(update={"area_m2": area})


@pytest.mark.parametrize("name", ["physics_low_hazard", "chemistry_high_hazard", "bsl3_biobank"])
def test_premium_never_falls_as_floor_area_grows(name: str) -> None:
    base = _submission(name)
    areas = [base.area_m2 * k for k in (0.25, 0.5, 1.0, 2.0, 3.0, 10.0)]
    profiles = [_profile(_with_area(base, area), DRAFT) for area in areas]
    for smaller, larger in itertools.pairwise(profiles):
        assert _dominates(larger, smaller)


def test_tripling_the_area_lowered_the_fire_rate_in_released_tables() -> None:
    base = _submission("chemistry_high_hazard")
    small = _profile(base, RELEASED)
    large = _profile(_with_area(base, 3 * base.area_m2), RELEASED)
    assert not _dominates(large, small)


# --------------------------------------------------------------------------- biosafety level


def _severity_relativity(version: str, level: str) -> float:
    tables = uw.load_rating_tables(version)
    rows = [
        row
        for row in tables.relativities
        if row.factor == "biosafety_level" and row.applies_to == "severity" and row.level == level
    ]
    assert rows
    return max(row.relativity for row in rows)


def test_no_biosafety_level_is_no_more_severe_than_bsl1() -> None:
    assert _severity_relativity(DRAFT, "none") <= _severity_relativity(DRAFT, "1")
    ordered = [_severity_relativity(DRAFT, level) for level in ("none", "1", "2", "3", "4")]
    assert ordered == sorted(ordered)
    assert _severity_relativity(RELEASED, "none") > _severity_relativity(RELEASED, "1")


# --------------------------------------------------------------------------- explosion double count


def test_hazard_grade_is_not_stacked_on_the_inventory_for_explosion() -> None:
    steps = {
        step.name
        for step in _profile(_submission("chemistry_high_hazard"), DRAFT)
        .scenario("explosion")
        .rating
    }
    assert "frequency:flammable_gas_cylinders" in steps
    assert "frequency:hazard_grade" not in steps
    released = {
        step.name
        for step in _profile(_submission("chemistry_high_hazard"), RELEASED)
        .scenario("explosion")
        .rating
    }
    assert "frequency:hazard_grade" in released


def test_explosion_rate_does_not_depend_on_grade_given_the_inventory() -> None:
    base = _submission("chemistry_high_hazard")
    rates = {
        grade: _profile(base.model_copy(update={"hazard_grade": grade}), DRAFT)
        .scenario("explosion")
        .frequency.mean
        for grade in ("I", "II", "III", "IV")
    }
    assert len(set(rates.values())) == 1
    old = {
        grade: _profile(base.model_copy(update={"hazard_grade": grade}), RELEASED)
        .scenario("explosion")
        .frequency.mean
        for grade in ("I", "IV")
    }
    assert old["I"] > old["IV"]


# --------------------------------------------------------------------------- relativities by impact


def _scales(submission: uw.Submission, version: str, scenario: str) -> dict[Section, float]:
    found = _profile(submission, version).scenario(scenario)
    return {impact.section: impact.severity_scale for impact in found.impacts}


def test_sprinklers_do_not_scale_injury_amounts() -> None:
    base = _submission("chemistry_high_hazard")
    on = base.model_copy(
        update={"protections": base.protections.model_copy(update={"sprinklers": True})}
    )
    off = base.model_copy(
        update={"protections": base.protections.model_copy(update={"sprinklers": False})}
    )
    for scenario in ("contained_fire", "major_fire"):
        with_, without = _scales(on, DRAFT, scenario), _scales(off, DRAFT, scenario)
        assert with_[Section.PROPERTY] < without[Section.PROPERTY]
        assert with_[Section.EMPLOYEE_INJURY] == without[Section.EMPLOYEE_INJURY]
        old_with, old_without = _scales(on, RELEASED, scenario), _scales(off, RELEASED, scenario)
        assert old_with[Section.EMPLOYEE_INJURY] < old_without[Section.EMPLOYEE_INJURY]


def test_backup_freezer_scales_spoilage_not_compressor_repairs() -> None:
    base = _submission("bsl3_biobank")
    cold = base.cold_storage
    on = base.model_copy(update={"cold_storage": cold.model_copy(update={"backup_freezer": True})})
    off = base.model_copy(
        update={"cold_storage": cold.model_copy(update={"backup_freezer": False})}
    )
    with_, without = (
        _scales(on, DRAFT, "cold_storage_failure"),
        _scales(off, DRAFT, "cold_storage_failure"),
    )
    assert with_[Section.SPOILAGE] < without[Section.SPOILAGE]
    assert with_[Section.EQUIPMENT_BREAKDOWN] == without[Section.EQUIPMENT_BREAKDOWN]
    old_with = _scales(on, RELEASED, "cold_storage_failure")
    old_without = _scales(off, RELEASED, "cold_storage_failure")
    assert old_with[Section.EQUIPMENT_BREAKDOWN] < old_without[Section.EQUIPMENT_BREAKDOWN]


def test_a_section_column_is_optional_and_checked() -> None:
    draft = uw.load_rating_tables(DRAFT)
    assert any(row.section is not None for row in draft.relativities)
    released = uw.load_rating_tables(RELEASED)
    assert all(row.section is None for row in released.relativities)
    with pytest.raises(ValueError, match="section applies only to severity"):
        type(draft.relativities[0]).model_validate(
            {
                "factor": "sprinklers",
                "level": "yes",
                "scenario": "major_fire",
                "applies_to": "frequency",
                "relativity": 0.5,
                "source": "test",
                "section": "property",
            }
        )


# --------------------------------------------------------------------------- research interruption


def test_instrument_downtime_is_charged_at_its_share_of_the_research_spend() -> None:
    base = _submission("physics_low_hazard")
    daily = base.values.annual_research_spend / 365.0
    draft = _profile(base, DRAFT).scenario("instrument_breakdown")
    interruption = next(i for i in draft.impacts if i.section is Section.RESEARCH_INTERRUPTION)
    assert interruption.value is not None
    assert interruption.value < daily
    share = next(
        impact.interruption_share
        for s in uw.load_rating_tables(DRAFT).scenarios
        if s.id == "instrument_breakdown"
        for impact in s.impacts
        if impact.section is Section.RESEARCH_INTERRUPTION
    )
    assert interruption.value == pytest.approx(daily * share)
    released = _profile(base, RELEASED).scenario("instrument_breakdown")
    old = next(i for i in released.impacts if i.section is Section.RESEARCH_INTERRUPTION)
    assert old.value == pytest.approx(daily)
    # a whole-lab event (a major fire) still stops all of the research
    fire = _profile(base, DRAFT).scenario("major_fire")
    assert next(i for i in fire.impacts if i.section is Section.RESEARCH_INTERRUPTION).value == (
        pytest.approx(daily)
    )


def test_one_failed_freezer_stops_its_share_of_the_research_not_all_of_it() -> None:
    """A cold-storage failure thaws one unit's share of the specimens (spoilage) and stops the
    research that share serves: a day costs the daily research spend / units, so the expected
    downtime cost does not grow with the number of units (rate per unit x units x cost / units).
    """
    base = _submission("bsl3_biobank")
    units = base.cold_storage.ultra_low_freezers + base.cold_storage.ln2_dewars
    daily = base.values.annual_research_spend / 365.0

    def downtime(submission: uw.Submission, version: str) -> tuple[float, float]:
        scenario = _profile(submission, version).scenario("cold_storage_failure")
        impact = next(i for i in scenario.impacts if i.section is Section.RESEARCH_INTERRUPTION)
        assert impact.value is not None
        return impact.value, scenario.frequency.mean * impact.value

    value, cost = downtime(base, DRAFT)
    assert value == pytest.approx(daily / units)
    assert downtime(base, RELEASED)[0] == pytest.approx(daily)  # 2026.2: the whole lab
    doubled = base.model_copy(
        update={
            "cold_storage": base.cold_storage.model_copy(
                update={
                    "ultra_low_freezers": 2 * base.cold_storage.ultra_low_freezers,
                    "ln2_dewars": 2 * base.cold_storage.ln2_dewars,
                }
            )
        }
    )
    assert downtime(doubled, DRAFT)[1] == pytest.approx(cost, rel=1e-9)
