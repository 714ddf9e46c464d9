"""Experience rating: the lab's own claims move its attritional rates by Buhlmann-Straub
credibility, never its large-loss rates, and a lab without history keeps the tables' rates."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import underwriting as uw
from underwriting.rating import ExperienceSettings, RatingTables

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LARGE_LOSS = ("explosion", "major_fire", "natural_catastrophe")
WHEN = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
"""A fixed quote date: the examples' claims histories are as of late 2026."""


@pytest.fixture(scope="module")
def tables() -> RatingTables:
    return uw.load_rating_tables("2026.1")


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _submission(
    name: str = "chemistry_high_hazard",
    *,
    years: float | None = None,
    claims: list[str] | None = None,
) -> uw.Submission:
    data = _example(name)["submission"]
    history = data["claims_history"]
    if years is not None:
        history["years_observed"] = years
    if claims is not None:
        history["claims"] = [
            {"scenario": scenario, "date": "2024-01-01", "amount": 10_000.0} for scenario in claims
        ]
    return uw.Submission.model_validate(data)


def _rates(profile: uw.RiskProfile) -> dict[str, float]:
    return {scenario.id: scenario.frequency.mean for scenario in profile.scenarios}


def _credibility(years: float, experience: ExperienceSettings) -> float:
    # docs/sources.md#research-4-4: Buhlmann-Straub Z = w / (w + k), k = EPV / VHM; capped
    assert experience.credibility_k is not None
    return min(years / (years + experience.credibility_k), experience.max_credibility)


# ----------------------------------------------------------------- no history


def test_a_lab_without_history_keeps_the_tables_rates(tables: RatingTables) -> None:
    submission = _submission("physics_low_hazard", years=0, claims=[])
    profile = uw.RiskProfile.from_submission(submission, tables)
    rating = uw.rate_experience(submission, profile, tables.pricing.experience)
    assert rating.credibility == 0
    assert rating.years_observed == 0
    assert rating.claims_count == 0
    assert rating.actual_to_expected == 0.0
    assert "No claims history" in rating.explanation
    assert "Z = 0" in rating.explanation
    applied = rating.apply(profile)
    assert _rates(applied) == _rates(profile)
    assert applied == profile
    assert all(row.adjusted_rate == row.table_rate for row in rating.scenarios)


# ----------------------------------------------------------------- with history


def test_the_rates_are_the_credibility_weighted_mix(tables: RatingTables) -> None:
    experience = tables.pricing.experience
    claims = ["contained_fire", "contained_fire", "researcher_injury", "explosion", "major_fire"]
    submission = _submission(years=5, claims=claims)
    profile = uw.RiskProfile.from_submission(submission, tables)
    rating = uw.rate_experience(submission, profile, experience)

    years = 5.0
    z = _credibility(years, experience)
    assert experience.credibility_k == 10.0  # the worked figures below assume the 2026.1 tables
    assert z == pytest.approx(1 / 3)
    assert rating.credibility == pytest.approx(z, rel=1e-15)
    assert f"Z = min(5 / (5 + 10), 0.4) = {z:.3f}" in rating.explanation

    table_rates = _rates(profile)
    applied = _rates(rating.apply(profile))
    rows = {row.scenario: row for row in rating.scenarios}
    counts = {scenario: claims.count(scenario) for scenario in set(claims)}
    for scenario in experience.scenarios:
        own = counts.get(scenario, 0)
        expected = z * own / years + (1 - z) * table_rates[scenario]
        row = rows[scenario]
        assert row.rated
        assert row.claims == own
        assert row.table_rate == table_rates[scenario]
        assert row.expected_claims == pytest.approx(table_rates[scenario] * years, rel=1e-12)
        assert row.adjusted_rate == pytest.approx(expected, rel=1e-12)
        assert applied[scenario] == pytest.approx(expected, rel=1e-12)
    # two fires in five years push the fire rate up; a clean record pulls the others down
    assert applied["contained_fire"] > table_rates["contained_fire"]
    assert applied["escape_of_water"] < table_rates["escape_of_water"]

    rated_claims = sum(counts.get(s, 0) for s in experience.scenarios)
    assert rating.claims_count == rated_claims == 3
    assert rating.expected_claims == pytest.approx(
        sum(table_rates[s] * years for s in experience.scenarios), rel=1e-12
    )
    assert rating.actual_to_expected == pytest.approx(3 / rating.expected_claims, rel=1e-12)


def test_large_losses_are_listed_but_not_rated(tables: RatingTables) -> None:
    experience = tables.pricing.experience
    assert not set(LARGE_LOSS) & set(experience.scenarios)
    claims = ["explosion", "explosion", "major_fire", "instrument_breakdown"]
    submission = _submission(years=4, claims=claims)
    profile = uw.RiskProfile.from_submission(submission, tables)
    rating = uw.rate_experience(submission, profile, experience)
    assert rating.credibility > 0
    rows = {row.scenario: row for row in rating.scenarios}
    table_rates = _rates(profile)
    applied = _rates(rating.apply(profile))
    for scenario, own in (("explosion", 2), ("major_fire", 1)):
        row = rows[scenario]
        assert not row.rated
        assert row.claims == own
        assert row.adjusted_rate == row.table_rate == table_rates[scenario]
        assert applied[scenario] == table_rates[scenario]
        step_names = [step.name for step in rating.apply(profile).scenario(scenario).rating]
        assert "experience" not in step_names
    assert "natural_catastrophe" not in rows  # no claims and not rated: not listed
    assert applied["natural_catastrophe"] == table_rates["natural_catastrophe"]
    assert rating.claims_count == 1
    assert "3 large-loss claims listed but not rated on" in rating.explanation


def test_the_cap_binds_for_a_long_history(tables: RatingTables) -> None:
    experience = tables.pricing.experience
    submission = _submission(years=100, claims=["contained_fire"] * 3)
    profile = uw.RiskProfile.from_submission(submission, tables)
    rating = uw.rate_experience(submission, profile, experience)
    assert experience.credibility_k is not None
    assert 100 / (100 + experience.credibility_k) > experience.max_credibility
    assert rating.credibility == experience.max_credibility == 0.4
    assert "= 0.400" in rating.explanation
    rate = _rates(profile)["contained_fire"]
    fire = next(row for row in rating.scenarios if row.scenario == "contained_fire")
    assert fire.adjusted_rate == pytest.approx(0.4 * 3 / 100 + 0.6 * rate, rel=1e-12)


@pytest.mark.parametrize("years", [0.5, 1, 5, 10, 15, 20, 60])
def test_the_credibility_follows_buhlmann_straub(tables: RatingTables, years: float) -> None:
    experience = tables.pricing.experience
    submission = _submission(years=years, claims=[])
    profile = uw.RiskProfile.from_submission(submission, tables)
    rating = uw.rate_experience(submission, profile, experience)
    assert rating.credibility == pytest.approx(_credibility(years, experience), rel=1e-15)
    assert 0 < rating.credibility <= experience.max_credibility


def test_a_claim_in_an_unknown_scenario_is_refused(tables: RatingTables) -> None:
    submission = _submission(years=5, claims=["alien_invasion", "contained_fire"])
    profile = uw.RiskProfile.from_submission(submission, tables)
    with pytest.raises(uw.ProfileError) as caught:
        uw.rate_experience(submission, profile, tables.pricing.experience)
    message = str(caught.value)
    assert "claims_history.claims[0].scenario" in message
    assert "'alien_invasion'" in message
    assert ", ".join(sorted(tables.scenario_ids)) in message


# ----------------------------------------------------------------- claim dates


def _dated(years: float, dates: list[str], scenario: str = "contained_fire") -> uw.Submission:
    data = _example("physics_low_hazard")["submission"]
    data["claims_history"] = {
        "years_observed": years,
        "claims": [{"scenario": scenario, "date": date, "amount": 50_000.0} for date in dates],
    }
    return uw.Submission.model_validate(data)


def test_a_claim_dated_after_the_quote_date_is_refused_naming_it(tables: RatingTables) -> None:
    submission = _dated(5, ["2024-03-01", "2026-11-30"])
    profile = uw.RiskProfile.from_submission(submission, tables)
    with pytest.raises(uw.ProfileError) as caught:
        uw.rate_experience(
            submission, profile, tables.pricing.experience, as_of=dt.date(2026, 11, 29)
        )
    message = str(caught.value)
    assert "submission.claims_history.claims[1].date = 2026-11-30" in message
    assert "after the quote date 2026-11-29" in message
    assert "on or before 2026-11-29" in message


def test_a_claim_before_the_observed_window_is_listed_not_counted(tables: RatingTables) -> None:
    as_of = dt.date(2026, 11, 29)
    experience = tables.pricing.experience
    # five years before 2026-11-29 is 2021-11-29: that day and the quote's date are inside
    inside = _dated(5, ["2021-11-29", "2026-11-29"])
    with_old = _dated(5, ["2021-11-29", "2021-11-28", "2026-11-29"])
    profile = uw.RiskProfile.from_submission(inside, tables)
    counted = uw.rate_experience(inside, profile, experience, as_of=as_of)
    rating = uw.rate_experience(with_old, profile, experience, as_of=as_of)
    assert counted.claims_count == rating.claims_count == 2
    assert rating.claims_outside_window == (1,)
    assert rating.observed_from == dt.date(2021, 11, 29)
    assert _rates(rating.apply(profile)) == _rates(counted.apply(profile))
    assert "1 claim(s) dated before the observed window (from 2021-11-29) not counted" in (
        rating.explanation
    )
    (warning,) = rating.warnings
    assert warning.code == "CLAIM_OUTSIDE_WINDOW"
    assert warning.field == "submission.claims_history.claims[1].date"
    assert warning.value == "2021-11-28"
    assert "not counted" in warning.message
    assert counted.warnings == ()
    assert counted.claims_outside_window == ()


def test_without_a_date_every_claim_counts(tables: RatingTables) -> None:
    submission = _dated(1, ["1990-01-01", "2999-01-01"])
    profile = uw.RiskProfile.from_submission(submission, tables)
    rating = uw.rate_experience(submission, profile, tables.pricing.experience)
    assert rating.claims_count == 2
    assert rating.observed_from is None
    assert rating.warnings == ()


def test_a_quote_refuses_a_future_claim_and_warns_of_an_old_one(tables: RatingTables) -> None:
    request = uw.QuoteRequest.model_validate(_example("physics_low_hazard"))
    terms = request.terms
    baseline = uw.quote(_dated(5, []), terms, tables=tables, n_years=20_000, created_at=WHEN)
    with pytest.raises(uw.ProfileError, match=r"claims\[0\]\.date = 2027-03-01"):
        uw.quote(_dated(5, ["2027-03-01"]), terms, tables=tables, n_years=20_000, created_at=WHEN)
    old = uw.quote(_dated(5, ["2012-03-01"]), terms, tables=tables, n_years=20_000, created_at=WHEN)
    assert old.premium == baseline.premium  # the old claim moves nothing
    assert [w.code for w in old.warnings] == ["CLAIM_OUTSIDE_WINDOW"]
    assert old.to_dict()["warnings"][0]["field"] == "submission.claims_history.claims[0].date"
    assert old.experience.claims_outside_window == (0,)


def test_replay_rates_the_claims_as_of_the_quote_date_not_today(tables: RatingTables) -> None:
    request = uw.QuoteRequest.model_validate(_example("physics_low_hazard"))
    # inside the five years before WHEN (2021-11-29), outside the five years before today
    submission = _dated(5, ["2021-11-30"])
    request = request.model_copy(update={"submission": submission})
    first = uw.quote(submission, request.terms, tables=tables, n_years=20_000, created_at=WHEN)
    assert first.experience.claims_count == 1
    assert first.warnings == ()
    again = uw.replay(first.provenance, request, tables=tables)
    assert again.to_dict() == first.to_dict()


# ----------------------------------------------------------------- monotonicity


def _one_scenario(rate: float) -> uw.RiskProfile:
    return uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="contained_fire",
                frequency=uw.Poisson(rate=rate),
                severity=uw.LogNormal(mu=10.0, sigma=1.0),
                section="property",
            )
        ]
    )


_RATES = st.floats(min_value=0.0, max_value=50.0, allow_nan=False, allow_infinity=False)


@settings(deadline=None, max_examples=300)
@given(
    rates=st.tuples(_RATES, _RATES).map(sorted),
    claims=st.integers(min_value=0, max_value=40),
    years=st.floats(min_value=0.01, max_value=100.0, allow_nan=False),
    k=st.floats(min_value=0.01, max_value=1_000.0, allow_nan=False),
    cap=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
)
def test_a_higher_table_rate_never_lowers_the_adjusted_rate(
    rates: list[float], claims: int, years: float, k: float, cap: float
) -> None:
    low, high = rates
    experience = ExperienceSettings(
        credibility_k=k, max_credibility=cap, scenarios=("contained_fire",)
    )
    submission = _submission(years=years, claims=["contained_fire"] * claims)
    adjusted = []
    for rate in (low, high):
        rating = uw.rate_experience(submission, _one_scenario(rate), experience)
        (row,) = rating.scenarios
        assert row.claims == claims
        adjusted.append(row.adjusted_rate)
        assert math.isfinite(row.adjusted_rate)
        assert row.adjusted_rate >= 0
    assert adjusted[0] <= adjusted[1]


def test_the_simulated_rate_is_the_adjusted_rate_exactly(tables: RatingTables) -> None:
    low = 0.058178671070978405
    high = math.nextafter(low, 1.0)
    submission = _submission(years=5, claims=["contained_fire"] * 3)
    simulated = []
    for rate in (low, high):
        profile = _one_scenario(rate)
        rating = uw.rate_experience(submission, profile, tables.pricing.experience)
        applied = rating.apply(profile).scenarios[0].frequency.mean
        assert applied == rating.scenarios[0].adjusted_rate
        simulated.append(applied)
    assert simulated[0] <= simulated[1]


def test_the_profile_uses_the_reported_adjusted_rates(tables: RatingTables) -> None:
    # The physics lab has no freezers: its cold storage rate in the tables is zero.
    submission = _submission("physics_low_hazard", years=5, claims=["cold_storage_failure"] * 2)
    profile = uw.RiskProfile.from_submission(submission, tables)
    assert _rates(profile)["cold_storage_failure"] == 0
    rating = uw.rate_experience(submission, profile, tables.pricing.experience)
    applied = _rates(rating.apply(profile))
    for row in rating.scenarios:
        assert applied[row.scenario] == pytest.approx(row.adjusted_rate, rel=1e-12, abs=0)


# ----------------------------------------------------------------- worksheet and rating steps


def test_the_quote_shows_the_experience_on_its_worksheet(tables: RatingTables) -> None:
    request = uw.QuoteRequest.model_validate_json(
        (EXAMPLES / "chemistry_high_hazard.json").read_text(encoding="utf-8")
    )
    submission = request.submission
    quote = uw.quote(submission, request.terms, tables=tables, n_years=20_000, created_at=WHEN)
    experience = tables.pricing.experience
    z = _credibility(5, experience)
    assert quote.experience.credibility == pytest.approx(z, rel=1e-15)

    rows = {row.name: row for row in quote.worksheet if row.name.startswith("experience")}
    assert {"experience: claims", "experience: credibility Z"} <= set(rows)
    assert rows["experience: claims"].value == 3
    assert rows["experience: claims"].explanation == quote.experience.explanation
    assert rows["experience: credibility Z"].value == pytest.approx(z, rel=1e-15)
    assert "Buhlmann-Straub" in rows["experience: credibility Z"].explanation

    profile = quote.experience.apply(uw.RiskProfile.from_submission(submission, tables))
    rates = {row.name: row for row in quote.worksheet if row.name.startswith("rate: ")}
    for scenario in profile.scenarios:
        steps = [step for step in scenario.rating if step.name == "experience"]
        worksheet = rates[f"rate: {scenario.id}"]
        assert worksheet.value == scenario.frequency.mean
        if scenario.id in experience.scenarios and scenario.frequency.mean > 0:
            (step,) = steps
            assert f"Z = {z:.3f}" in step.explanation
            assert step.value > 0
            assert f"experience {step.value:g}" in worksheet.explanation
        else:
            assert steps == []
            assert "experience" not in worksheet.explanation
    fire = next(s for s in profile.scenarios if s.id == "contained_fire")
    assert fire.rating[-1].name == "experience"
    assert fire.rating[-1].explanation.startswith("1 claims in 5 years")


def test_a_quote_without_history_says_z_is_zero(tables: RatingTables) -> None:
    data = _example("physics_low_hazard")
    data["submission"]["claims_history"] = {"years_observed": 0, "claims": []}
    request = uw.QuoteRequest.model_validate(data)
    quote = uw.quote(request.submission, request.terms, tables=tables, n_years=20_000)
    assert quote.experience.credibility == 0
    (credibility,) = [row for row in quote.worksheet if row.name == "experience: credibility Z"]
    assert credibility.value == 0
    assert "no claims history" in credibility.explanation
    assert not any(
        "experience" in row.explanation for row in quote.worksheet if row.name.startswith("rate: ")
    )


# ----------------------------------------------------------------- poisson-gamma (2026.3 on)


@pytest.fixture(scope="module")
def draft() -> RatingTables:
    return uw.load_rating_tables("2026.3")


def test_the_poisson_gamma_hand_case() -> None:
    # lam = 0.05, rate CV 0.5: alpha = 4, beta = 80 = k; 2 claims in 4 years
    from underwriting.rating._experience import poisson_gamma

    k, z, posterior = poisson_gamma(0.05, 0.5, 2, 4)
    assert k == pytest.approx(80.0)
    assert z == pytest.approx(4 / 84)
    assert round(z, 3) == 0.048
    assert posterior == pytest.approx((4 + 2) / (80 + 4))
    assert round(posterior, 4) == 0.0714
    # the same as Buhlmann-Straub's mix of the lab's rate and the prior
    assert posterior == pytest.approx(z * 2 / 4 + (1 - z) * 0.05)


def test_the_draft_selects_poisson_gamma_and_released_versions_keep_fixed_k() -> None:
    assert uw.load_rating_tables("2026.3").pricing.experience.method == "poisson_gamma"
    for version in ("2026.1", "2026.2"):
        settings = uw.load_rating_tables(version).pricing.experience
        assert settings.method == "fixed_k"
        assert settings.credibility_k == 10.0
        assert settings.reporting_threshold == 0.0


def _rate(draft: RatingTables, submission: uw.Submission) -> uw.ExperienceRating:
    return uw.rate_experience(
        submission,
        uw.RiskProfile.from_submission(submission, draft),
        draft.pricing.experience,
        as_of=WHEN.date(),
    )


def test_each_scenario_takes_k_from_its_own_rate_uncertainty(draft: RatingTables) -> None:
    submission = _submission("chemistry_high_hazard")
    experience = _rate(draft, submission)
    profile = uw.RiskProfile.from_submission(submission, draft)
    frequencies = {s.id: s.frequency for s in profile.scenarios}
    credible = 0
    for row in experience.scenarios:
        frequency = frequencies[row.scenario]
        if isinstance(frequency, uw.NegativeBinomial) and row.rated:
            credible += 1
            above = row.table_rate * row.threshold_survival
            k = 1 / (frequency.rate_cv**2 * above)
            assert row.credibility_k == pytest.approx(k)
            assert row.credibility == pytest.approx(5 / (5 + k))
            alpha = 1 / frequency.rate_cv**2
            posterior = (alpha + row.claims) / (alpha / above + 5)
            assert row.adjusted_rate == pytest.approx(row.table_rate - above + posterior)
        else:  # Poisson: the tables state no rate uncertainty, so no credibility
            assert row.credibility == 0.0
            assert row.adjusted_rate == row.table_rate
    assert credible >= 2
    assert experience.credibility == max(row.credibility for row in experience.scenarios)


def test_poisson_scenarios_get_zero_credibility_whatever_the_claims(draft: RatingTables) -> None:
    submission = _submission(years=5, claims=["researcher_injury"] * 6)
    experience = _rate(draft, submission)
    row = next(r for r in experience.scenarios if r.scenario == "researcher_injury")
    assert row.claims == 6
    assert row.credibility == 0.0
    assert row.adjusted_rate == row.table_rate


def test_only_claims_at_or_above_the_reporting_threshold_count(draft: RatingTables) -> None:
    threshold = draft.pricing.experience.reporting_threshold
    assert threshold == 10_000.0
    data = _example("chemistry_high_hazard")["submission"]
    data["claims_history"] = {
        "years_observed": 5,
        "claims": [
            {"scenario": "contained_fire", "date": "2024-01-01", "amount": 1.0},
            {"scenario": "contained_fire", "date": "2024-02-01", "amount": threshold - 1},
            {"scenario": "contained_fire", "date": "2024-03-01", "amount": threshold},
        ],
    }
    experience = _rate(draft, uw.Submission.model_validate(data))
    row = next(r for r in experience.scenarios if r.scenario == "contained_fire")
    assert row.claims == 1
    assert "2 claim(s) below the reporting threshold not counted" in experience.explanation
    # compared with the rate of events at or above the threshold, not the ground-up rate
    assert 0 < row.threshold_survival < 1
    assert row.expected_claims == pytest.approx(row.table_rate * row.threshold_survival * 5)


def test_the_threshold_survival_is_the_events_share_above_it(draft: RatingTables) -> None:
    from underwriting.rating._experience import event_survival

    profile = uw.RiskProfile.from_submission(_submission(), draft)
    fire = next(s for s in profile.scenarios if s.id == "contained_fire")
    assert event_survival(fire, 0.0) == 1.0
    low, mid, high = (event_survival(fire, t) for t in (1e3, 1e5, 1e7))
    assert 1.0 >= low >= mid >= high >= 0.0
    assert mid < low


def test_a_large_claim_counts_once_and_refers_the_lab(draft: RatingTables) -> None:
    data = _example("chemistry_high_hazard")["submission"]
    small = {"scenario": "contained_fire", "date": "2025-01-01", "amount": 50_000.0}
    large = {**small, "amount": 9_000_000.0}
    rows = []
    for claim in (small, large):
        data["claims_history"] = {"years_observed": 5, "claims": [claim]}
        experience = _rate(draft, uw.Submission.model_validate(data))
        rows.append(next(r for r in experience.scenarios if r.scenario == "contained_fire"))
    assert rows[0].adjusted_rate == rows[1].adjusted_rate  # counted, not summed
    assert experience.largest_claim == 9_000_000.0
    rule = [r for r in draft.rules.rules if r.code == "R09_LARGE_RECENT_CLAIM"]
    assert rule
    fired = uw.decide({"experience.largest_recent_claim": 9_000_000.0}, draft.rules)
    assert "R09_LARGE_RECENT_CLAIM" in [reason.code for reason in fired.reasons]
    quiet = uw.decide({"experience.largest_recent_claim": 999_999.0}, draft.rules)
    assert "R09_LARGE_RECENT_CLAIM" not in [reason.code for reason in quiet.reasons]


def test_a_claim_before_the_window_is_not_the_largest_recent(draft: RatingTables) -> None:
    data = _example("chemistry_high_hazard")["submission"]
    data["claims_history"] = {
        "years_observed": 5,
        "claims": [{"scenario": "major_fire", "date": "2019-01-01", "amount": 9_000_000.0}],
    }
    assert _rate(draft, uw.Submission.model_validate(data)).largest_claim == 0.0


def test_released_versions_rate_the_examples_as_before() -> None:
    # 2026.1 and 2026.2 keep one k = 10 for every attritional scenario and count every claim
    for version in ("2026.1", "2026.2"):
        tables = uw.load_rating_tables(version)
        experience = _rate(tables, _submission("chemistry_high_hazard"))
        assert experience.credibility == pytest.approx(5 / 15)
        assert experience.claims_count == 3
        for row in experience.scenarios:
            if row.rated:
                z = 5 / 15
                assert row.adjusted_rate == pytest.approx(
                    z * row.claims / 5 + (1 - z) * row.table_rate
                )
