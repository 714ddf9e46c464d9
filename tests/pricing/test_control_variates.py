"""Control variates on the premium (tables 2026.4 on): unbiased, with the errors they report,
monotone across a quote's terms, options and worksheet variants, and left out where the tables
use none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import underwriting as uw
from underwriting.engine import control_means

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("physics_low_hazard", "chemistry_high_hazard", "bsl3_biobank")


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((ROOT / "examples" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.4")


def test_only_tables_that_ask_for_control_variates_use_them(tables: uw.RatingTables) -> None:
    assert tables.pricing.precision.control_variates
    for version in ("2026.1", "2026.2", "2026.3"):
        assert not uw.load_rating_tables(version).pricing.precision.control_variates
    example = _request("physics_low_hazard")
    old = uw.quote(example.submission, example.terms, tables=uw.load_rating_tables("2026.3"),
                   n_years=50_000)  # fmt: skip
    assert old.premium.variance_reduction == 1.0
    assert "variance_reduction" not in old.to_dict()["premium"]  # stored quotes replay unchanged


def test_runs_shorter_than_the_pilot_use_the_sample_means(tables: uw.RatingTables) -> None:
    """Below the pilot's 50,000 years (a service's latency cap, a few years given) the exact
    means would cost more than the simulation: such quotes price with the sample means, as
    2026.3 does, whether the years are given or capped, and replay the same way."""
    example = _request("physics_low_hazard")
    given = uw.quote(example.submission, example.terms, tables=tables, n_years=20_000)
    assert given.controls is None
    assert given.premium.variance_reduction == 1.0
    capped = uw.quote(example.submission, example.terms, tables=tables, max_years=10_000)
    assert capped.controls is None
    assert capped.provenance.n_years <= 10_000
    assert uw.replay(capped.provenance, example) == capped
    full = uw.quote(example.submission, example.terms, tables=tables, n_years=50_000)
    assert full.controls is not None


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_controls_average_to_their_exact_means(name: str, tables: uw.RatingTables) -> None:
    """The simulated controls' means agree with ``control_means`` within 4 standard errors:
    what makes the estimator unbiased."""
    example = _request(name)
    q = uw.quote(example.submission, example.terms, tables=tables, n_years=50_000)
    assert q.result is not None
    profile = q.result.profile
    result = uw.simulate_many(profile, [example.terms], n_years=400_000, seed=99, controls=True,
                              year_loss_tables=False)[0]  # fmt: skip
    assert result.controls is not None
    exact = control_means(profile, example.terms)
    for k in (0, 1):
        sample = result.controls[k]
        error = sample.std() / np.sqrt(sample.size)
        assert abs(sample.mean() - exact[k]) < 4 * error, (k, sample.mean(), exact[k], error)


@pytest.mark.parametrize("name", EXAMPLES)
def test_control_variates_price_the_same_premium_with_a_smaller_error(
    name: str, tables: uw.RatingTables
) -> None:
    """2026.4 (control variates) against 2026.3 (sample means): the same rates, so the same
    premium within the errors; the error on the same years shrinks by the reported factor."""
    example = _request(name)
    old_tables = uw.load_rating_tables("2026.3")
    years = 200_000
    new = uw.quote(example.submission, example.terms, tables=tables, n_years=years)
    old = uw.quote(example.submission, example.terms, tables=old_tables, n_years=years, seed=7)
    same_years = uw.quote(example.submission, example.terms, tables=old_tables, n_years=years)
    difference = new.premium.technical - old.premium.technical
    error = np.hypot(new.premium.standard_error, old.premium.standard_error)
    assert abs(difference) < 4 * error, (difference, error)
    # The reported reduction (the years' own variance without and with the controls) agrees with
    # the ratio of the 2026.3 quote's error (batch means) to this one on the same years, within
    # the error estimates' own spread.
    reduction = (same_years.premium.standard_error / new.premium.standard_error) ** 2
    assert 1 / 3 < new.premium.variance_reduction / reduction < 3
    assert new.premium.variance_reduction > 3
    # The distribution a quote shows is the sample's: only the premium is estimated otherwise.
    assert new.metrics == same_years.metrics


def test_options_and_variants_stay_monotone_under_control_variates(
    tables: uw.RatingTables,
) -> None:
    """Every set of terms of one quote is shifted by the same amount: a higher limit never
    prices lower, a higher deductible never higher, and the worksheet's differences are the
    sample means' (the same as without control variates)."""
    example = _request("chemistry_high_hazard")
    terms = example.terms
    options = []
    for limit in (1e6, 2e6, 5e6, 2e7):
        sections = dict(terms.sections)
        sections[uw.Section.PROPERTY] = sections[uw.Section.PROPERTY].model_copy(
            update={"limit": limit}
        )
        options.append(terms.model_copy(update={"sections": sections}))
    q = uw.quote(example.submission, terms, tables=tables, n_years=50_000, options=options)
    premiums = [o.premium.technical for o in q.options]
    assert premiums == sorted(premiums)
    old = uw.quote(example.submission, terms, tables=uw.load_rating_tables("2026.3"),
                   n_years=50_000, options=options)  # fmt: skip
    for new_option, old_option in zip(q.options, old.options, strict=True):
        assert new_option.difference_standard_error == pytest.approx(
            old_option.difference_standard_error, rel=1e-9
        )
    rows = {row.name: row.value for row in q.worksheet}
    old_rows = {row.name: row.value for row in old.worksheet}
    for name in rows:
        if name.startswith("value of") or name == "interaction of terms":
            assert rows[name] == pytest.approx(old_rows[name], abs=1.0)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "years", "seeds"),
    [("chemistry_high_hazard", 50_000, 40), ("physics_low_hazard", 50_000, 100)],
)
def test_the_reported_error_matches_the_spread_over_seeds(
    name: str, years: int, seeds: int, tables: uw.RatingTables
) -> None:
    """Over many seeds, the technical premiums' spread agrees with the mean reported standard
    error (the control variates' residuals, leverage-corrected), and their mean with a long
    sample-mean run: no bias from the fitted coefficients. The physics lab at the pilot's
    50,000 years is the hard case: a few explosion years carry most of the residual (before the
    leverage correction its reported error was a third too small)."""
    example = _request(name)
    premiums, errors = [], []
    for seed in range(seeds):
        q = uw.quote(example.submission, example.terms, tables=tables, n_years=years,
                     seed=1_000 + seed)  # fmt: skip
        premiums.append(q.premium.technical)
        errors.append(q.premium.standard_error)
    spread = float(np.std(premiums, ddof=1))
    reported = float(np.mean(errors))
    # The sample standard deviation of 40 draws is within about 25% of the truth (chi-squared
    # with 39 degrees of freedom: 0.78 to 1.22 at 95%), more for heavy tails; the bounds leave
    # room for that and for the error estimates' own spread.
    assert 0.75 < spread / reported < 1.33, (spread, reported)
    long = uw.quote(example.submission, example.terms, tables=uw.load_rating_tables("2026.3"),
                    n_years=2_000_000, seed=5)  # fmt: skip
    mean = float(np.mean(premiums))
    error = np.hypot(spread / np.sqrt(len(premiums)), long.premium.standard_error)
    assert abs(mean - long.premium.technical) < 4 * error, (mean, long.premium.technical, error)


@pytest.mark.parametrize("name", ["physics_low_hazard", "chemistry_high_hazard"])
def test_a_quote_whose_years_were_chosen_in_stages_replays_bit_for_bit(
    name: str, tables: uw.RatingTables
) -> None:
    """The years chosen on the quote's own run (stages) are recorded; replaying them runs the
    same years with the worksheet's variants on the same first years, so the quote comes back
    the same to the last digit."""
    example = _request(name)
    option = example.terms.model_copy(update={"aggregate_deductible": 100_000.0})
    first = uw.quote(example.submission, example.terms, tables=tables, options=[option])
    assert first.provenance.n_years >= tables.pricing.precision.pilot_years
    assert first.premium.relative_error <= tables.pricing.precision.target_relative_error
    again = uw.replay(first.provenance, example.model_copy(update={"options": (option,)}))
    assert again == first
    assert again.to_json() == first.to_json()


def test_a_rating_factor_sensitivity_stays_exactly_monotone(tables: uw.RatingTables) -> None:
    """``uw.sensitivity`` of a rating factor prices each value with the sample means (each
    value's own controls would shift its premium by their own amount), so more equipment value
    never prices lower, year by year and in total; the points are those of sample-mean quotes."""
    example = _request("chemistry_high_hazard")
    values = [1.5e7, 1.8e7, 2.4e7, 3.6e7]
    points = uw.sensitivity(
        example, "submission.values.equipment", values, tables=tables, n_years=50_000
    )
    premiums = [p.technical_premium for p in points]
    assert premiums == sorted(premiums)
    data = example.model_dump(mode="json")
    data["submission"]["values"]["equipment"] = values[1]
    one = uw.QuoteRequest.model_validate(data)
    q = uw.quote(one.submission, one.terms, tables=tables, n_years=50_000, sample_means=True)
    assert uw.quote(one.submission, one.terms, tables=tables, n_years=50_000).controls is not None
    assert q.premium.technical == points[1].technical_premium
    assert q.premium.variance_reduction == 1.0
    assert q.provenance.sample_means
    assert uw.replay(q.provenance, one) == q  # recorded, so the replay prices the same way
    assert q.to_dict()["provenance"]["sample_means"] is True
