"""Rating a submission with the tables: rates, severities and values as the tables say."""

from __future__ import annotations

import csv
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import underwriting as uw
from underwriting.rating import FACTORS

ROOT = Path(__file__).resolve().parents[2]
TABLES = ROOT / "rating_tables" / "2026.1"
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((ROOT / "examples" / name).read_text())


def _rate_by_hand(submission: uw.Submission, scenario: str, exposure_units: float) -> float:
    """Base rate x exposure x every matching frequency relativity, read straight from the CSVs."""
    with (TABLES / "base_frequencies.csv").open(encoding="utf-8") as handle:
        base = next(
            float(row["rate"])
            for row in csv.DictReader(handle)
            if row["scenario"] == scenario and row["lab_category"] == submission.lab_category
        )
    product = 1.0
    with (TABLES / "relativities.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["scenario"] not in (scenario, "*") or row["applies_to"] != "frequency":
                continue
            level = FACTORS[row["factor"]].level(submission)
            if isinstance(level, str):
                matches = level == row["level"]
            else:
                upper = float(row["upper"]) if row["upper"] else math.inf
                matches = float(row["lower"]) <= level < upper
            if matches:
                product *= float(row["relativity"])
    return base * exposure_units * product


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_rates_are_base_times_exposure_times_relativities(path: Path) -> None:
    request = _request(path.name)
    tables = uw.load_rating_tables("2026.1")
    profile = uw.RiskProfile.from_submission(request.submission, tables)
    assert profile.tables_version == "2026.1"
    assert profile.lab_id == request.submission.lab_id
    for scenario in profile.scenarios:
        exposure = next(s.exposure for s in tables.scenarios if s.id == scenario.id)
        units = uw.rating.EXPOSURES[exposure](request.submission)
        expected = _rate_by_hand(request.submission, scenario.id, units)
        assert scenario.frequency.mean == pytest.approx(expected, rel=1e-12), scenario.id
        names = [step.name for step in scenario.rating]
        assert names[:2] == ["base_rate", "exposure"]


def test_damage_ratios_apply_to_the_labs_values() -> None:
    request = _request("bsl3_biobank.json")
    values = request.submission.values
    profile = uw.RiskProfile.from_submission(request.submission, uw.load_rating_tables("2026.1"))
    assert profile.value_at_risk[uw.Section.PROPERTY] == values.property_value
    assert profile.value_at_risk[uw.Section.SPOILAGE] == values.specimens
    cold = profile.scenario("cold_storage_failure")
    spoilage = next(i for i in cold.impacts if i.section is uw.Section.SPOILAGE)
    units = (
        request.submission.cold_storage.ultra_low_freezers
        + request.submission.cold_storage.ln2_dewars
    )
    assert spoilage.value == pytest.approx(values.specimens / units)
    interruption = next(i for i in cold.impacts if i.section is uw.Section.RESEARCH_INTERRUPTION)
    assert interruption.value == pytest.approx(values.annual_research_spend / 365)


def test_a_lab_without_specimens_has_no_spoilage_exposure() -> None:
    request = _request("physics_low_hazard.json")
    submission = request.submission.model_copy(
        update={"values": request.submission.values.model_copy(update={"specimens": 0.0})}
    )
    profile = uw.RiskProfile.from_submission(submission, uw.load_rating_tables("2026.1"))
    for scenario in profile.scenarios:
        assert all(i.section is not uw.Section.SPOILAGE for i in scenario.impacts)


def test_sprinklers_never_make_a_fire_more_likely_or_worse() -> None:
    tables = uw.load_rating_tables("2026.1")
    request = _request("chemistry_high_hazard.json")
    submission = request.submission

    def with_sprinklers(flag: bool) -> uw.RiskProfile:
        protections = submission.protections.model_copy(update={"sprinklers": flag})
        changed = submission.model_copy(update={"protections": protections})
        return uw.RiskProfile.from_submission(changed, tables)

    without, with_ = with_sprinklers(False), with_sprinklers(True)
    for scenario_id in ("contained_fire", "major_fire"):
        assert (
            with_.scenario(scenario_id).frequency.mean
            <= without.scenario(scenario_id).frequency.mean
        )
        scale_with = with_.scenario(scenario_id).impacts[0].severity_scale
        scale_without = without.scenario(scenario_id).impacts[0].severity_scale
        assert scale_with <= scale_without
    assert (
        with_.scenario("major_fire").frequency.mean < without.scenario("major_fire").frequency.mean
    )


def test_the_example_labs_cost_what_a_market_would_recognise() -> None:
    # Calibration sanity (docs/sources.md#design-calibration): the whole policy within a few per
    # mille of the total insured value (docs/sources.md#research-1-1: the old tariff for research
    # institutes is 1.5-2.4 per mille for property alone). Expected insured loss, before any
    # loading, of each example lab.
    tables = uw.load_rating_tables("2026.1")
    for path in EXAMPLES:
        request = _request(path.name)
        profile = uw.RiskProfile.from_submission(request.submission, tables)
        result = uw.simulate(profile, request.terms, n_years=50_000, seed=11)
        per_mille = 1000 * result.mean / request.submission.values.total_insured_value
        assert 0.5 < per_mille < 15, (path.stem, per_mille)


def test_simulated_losses_stay_within_the_values_at_risk() -> None:
    request = _request("chemistry_high_hazard.json")
    profile = uw.RiskProfile.from_submission(request.submission, uw.load_rating_tables("2026.1"))
    result = uw.simulate(profile, request.terms, n_years=20_000, seed=3)
    events = result.event_losses()
    for section, cap in profile.value_at_risk.items():
        column = uw.SECTIONS.index(section)
        assert events.ground_up[:, column].max() <= cap + 1e-6
    assert np.all(events.downtime_days <= uw.load_rating_tables("2026.1").model.max_downtime_days)


def test_an_unrated_factor_level_is_a_profile_error(tmp_path: Path) -> None:
    tables = uw.load_rating_tables("2026.1")
    request = _request("physics_low_hazard.json")
    # A table whose only hazard_grade rows are removed for grade IV cannot rate a grade IV lab:
    # the loader refuses such a table, so build the mismatch directly on a loaded copy.
    broken_groups = {
        key: tuple(row for row in rows if not (row.factor == "hazard_grade" and row.level == "IV"))
        for key, rows in tables._groups.items()
    }
    broken = uw.RatingTables(**{**tables.__dict__, "_groups": broken_groups})
    with pytest.raises(uw.ProfileError, match="hazard_grade = 'IV' has no relativity row"):
        uw.RiskProfile.from_submission(request.submission, broken)


def _loadings_written(version: str) -> dict[tuple[str, str], tuple[str, float]]:
    """``(scenario, section) -> (key, number)``: each impact's squared factor loading as the
    version's scenarios.toml writes it."""
    text = (ROOT / "rating_tables" / version / "scenarios.toml").read_text(encoding="utf-8")
    written = {}
    for scenario in tomllib.loads(text)["scenarios"]:
        for impact in scenario["impacts"]:
            (key,) = {"correlation", "factor_loading_squared"} & impact.keys()
            written[(scenario["id"], impact["section"])] = (key, impact[key])
    return written


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_former_key_and_the_new_one_rate_the_same_loading(path: Path) -> None:
    """2026.1 writes the copula's squared factor loading as ``correlation``, 2026.3 as
    ``factor_loading_squared``: both land in ``SectionImpact.factor_loading_squared``, and the
    same number gives the same loading."""
    written = {version: _loadings_written(version) for version in ("2026.1", "2026.3")}
    assert {key for key, _ in written["2026.1"].values()} == {"correlation"}
    assert {key for key, _ in written["2026.3"].values()} == {"factor_loading_squared"}
    submission = _request(path.name).submission
    rated = {}
    for version in written:
        profile = uw.RiskProfile.from_submission(submission, uw.load_rating_tables(version))
        rated[version] = {
            (scenario.id, impact.section.value): impact.factor_loading_squared
            for scenario in profile.scenarios
            for impact in scenario.impacts
        }
        for item, loading in rated[version].items():
            assert loading == written[version][item][1], (version, item)
    same = [
        item
        for item in rated["2026.1"].keys() & rated["2026.3"].keys()
        if written["2026.1"][item][1] == written["2026.3"][item][1]
    ]
    assert len(same) >= 20
    for item in same:
        assert rated["2026.1"][item] == rated["2026.3"][item], item


def test_a_profile_impact_takes_the_former_name_and_refuses_both() -> None:
    """A profile sent by hand (or over HTTP) may still say ``correlation``: same meaning."""
    impact = {"section": "liability", "severity": {"family": "lognormal", "mu": 9, "sigma": 1}}
    former = uw.SectionImpact.model_validate({**impact, "correlation": 0.3})
    assert former == uw.SectionImpact.model_validate({**impact, "factor_loading_squared": 0.3})
    assert former.factor_loading_squared == 0.3
    assert uw.SectionImpact.model_validate(impact).factor_loading_squared == 1.0
    with pytest.raises(ValidationError, match="section 'liability' gives both"):
        uw.SectionImpact.model_validate(
            {**impact, "correlation": 0.3, "factor_loading_squared": 0.3}
        )


def test_a_short_form_given_as_null_is_not_given() -> None:
    """``"section": null, "severity": null`` (their defaults) built an impact of nulls, refused
    as ``impacts.0.section: Input should be 'property', ...``: a field never sent."""
    impacts = [{"section": "property", "severity": {"family": "lognormal", "mu": 9, "sigma": 1}}]
    scenario = uw.Scenario.model_validate(
        {
            "id": "s",
            "frequency": {"family": "poisson", "rate": 1},
            "impacts": impacts,
            "section": None,
            "severity": None,
        }
    )
    assert [impact.section for impact in scenario.impacts] == ["property"]
    with pytest.raises(ValidationError, match="the short form needs both severity and section"):
        uw.Scenario.model_validate(
            {
                "id": "s",
                "frequency": {"family": "poisson", "rate": 1},
                "section": "property",
                "severity": None,
            }
        )
