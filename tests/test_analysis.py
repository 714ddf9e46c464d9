"""Sensitivities and stress tests on common random numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import underwriting as uw

ROOT = Path(__file__).resolve().parents[1]


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((ROOT / "examples" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.1")


def test_a_deductible_sensitivity_is_monotone(tables: uw.RatingTables) -> None:
    request = _request("chemistry_high_hazard")
    values = [0, 10_000, 50_000, 200_000, 1_000_000]
    points = uw.sensitivity(
        request, "terms.aggregate_deductible", values, tables=tables, n_years=20_000
    )
    assert [p.value for p in points] == values
    premiums = [p.technical_premium for p in points]
    assert premiums == sorted(premiums, reverse=True)
    losses = [p.expected_loss.value for p in points]
    assert losses == sorted(losses, reverse=True)


def test_a_rating_factor_sensitivity_reprices_the_lab(tables: uw.RatingTables) -> None:
    request = _request("chemistry_high_hazard")
    points = uw.sensitivity(
        request, "submission.protections.sprinklers", [False, True], tables=tables, n_years=20_000
    )
    without, with_ = points
    assert with_.premium < without.premium


def test_a_bad_factor_or_value_names_the_field(tables: uw.RatingTables) -> None:
    request = _request("physics_low_hazard")
    with pytest.raises(uw.UnderwritingError, match="not a field"):
        uw.sensitivity(request, "terms.sections.moon.deductible", [1], tables=tables)
    with pytest.raises(ValidationError, match="deductible"):
        uw.sensitivity(request, "terms.sections.property.deductible", [-5], tables=tables)


def test_a_forced_event_only_adds_to_each_year(tables: uw.RatingTables) -> None:
    request = _request("chemistry_high_hazard")
    result = uw.stress(request, "explosion", tables=tables, n_years=10_000, seed=2)
    assert result.scenario == "explosion"
    assert result.stressed.value > result.baseline.value
    assert result.added.value == pytest.approx(
        result.stressed.value - result.baseline.value, rel=1e-9
    )
    assert result.added_percentiles["p50"] >= 0
    assert result.added_percentiles["p99"] >= result.added_percentiles["p50"]


def test_the_forced_event_matches_the_scenarios_own_severity(tables: uw.RatingTables) -> None:
    # With terms that pay everything, the average added loss of a forced event is the mean
    # ground-up loss of one event of the scenario (cascades included), which the plain simulation
    # estimates as the scenario's expected annual ground-up loss over its rate.
    request = _request("physics_low_hazard")
    generous = uw.PolicyTerms(sections={s: uw.SectionTerms() for s in uw.SECTIONS})
    request = request.model_copy(update={"terms": generous})
    result = uw.stress(request, "escape_of_water", tables=tables, n_years=40_000, seed=3)
    profile = uw.RiskProfile.from_submission(request.submission, tables)
    rate = profile.scenario("escape_of_water").frequency.mean
    plain = uw.simulate(profile, generous, n_years=400_000, seed=4).by_scenario()
    per_event = plain["escape_of_water"].mean_ground_up / rate
    error = np.hypot(result.added.standard_error, plain["escape_of_water"].standard_error / rate)
    assert abs(result.added.value - per_event) < 4 * error


def test_an_unknown_scenario_is_refused_with_the_allowed_ids(tables: uw.RatingTables) -> None:
    with pytest.raises(uw.UnderwritingError, match="allowed: contained_fire"):
        uw.stress(_request("physics_low_hazard"), "meteor", tables=tables)


def _raised_fire_rate(tmp_path: Path, factor: float) -> uw.RatingTables:
    """2026.1 with the hazard-grade IV contained-fire frequency relativity times ``factor``."""
    import csv
    import shutil

    from underwriting.rating import write_manifest_hashes

    copy = tmp_path / "2026.1"
    shutil.copytree(ROOT / "rating_tables" / "2026.1", copy)
    path = copy / "relativities.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        if (row["factor"], row["level"], row["scenario"]) == (
            "hazard_grade",
            "IV",
            "contained_fire",
        ):
            row["relativity"] = f"{float(row['relativity']) * factor:g}"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_manifest_hashes(copy)
    return uw.load_rating_tables("2026.1", root=tmp_path)


def test_a_raised_rate_raises_the_premium_of_the_labs_it_applies_to(
    tables: uw.RatingTables, tmp_path: Path
) -> None:
    raised = _raised_fire_rate(tmp_path, 3.0)
    requests = [_request("physics_low_hazard"), _request("chemistry_high_hazard")]
    calls: list[None] = []
    repricing = uw.reprice(
        requests, tables, raised, n_years=20_000, progress=lambda: calls.append(None)
    )
    assert len(calls) == 4  # one per quote
    assert repricing.seed == tables.pricing.precision.default_seed
    assert (repricing.old_version, repricing.new_version, repricing.n_years) == (
        "2026.1",
        "2026.1",
        20_000,
    )
    physics, chemistry = repricing.labs
    assert physics.lab_id == requests[0].submission.lab_id
    # Hazard grade IV (the physics lab): its fire rate tripled, its premium rises.
    assert physics.old is not None
    assert physics.new is not None
    assert physics.premium_change is not None
    assert physics.premium_change > 0
    # The same events under both versions: the change is measured far more precisely than
    # either premium.
    assert physics.difference_standard_error is not None
    assert 0 < physics.difference_standard_error < physics.old.premium.standard_error
    # Not hazard grade IV: nothing it is rated on changed, so neither did its premium.
    assert chemistry.premium_change == 0
    assert chemistry.difference_standard_error == 0
    assert chemistry.old_error is None
    assert chemistry.new_error is None


def test_repricing_under_the_same_tables_changes_nothing(tables: uw.RatingTables) -> None:
    repricing = uw.reprice([_request("bsl3_biobank")], tables, tables, seed=7, n_years=5_000)
    (lab,) = repricing.labs
    assert repricing.seed == 7
    assert lab.premium_change == 0
    assert lab.old is not None
    assert lab.new is not None
    assert lab.old.premium == lab.new.premium
