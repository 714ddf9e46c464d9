"""Two requests priced on common random numbers: the difference and its paired error."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

import underwriting as uw
from underwriting.workflow import paired_difference, price_pair

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
YEARS = 20_000
WHEN = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _request(name: str = "physics_low_hazard") -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((EXAMPLES / f"{name}.json").read_text())


def _changed(request: uw.QuoteRequest, path: str, value: Any) -> uw.QuoteRequest:
    data = request.model_dump(mode="json")
    node = data
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    return uw.QuoteRequest.model_validate(data)


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.2")


@pytest.fixture(scope="module")
def draft() -> uw.RatingTables:
    return uw.load_rating_tables("2026.3")


@pytest.mark.parametrize("lab", ["physics_low_hazard", "chemistry_high_hazard"])
def test_identical_requests_differ_by_exactly_nothing(lab: str, tables: uw.RatingTables) -> None:
    # The same request twice on the same seed and years: every event is common, so the
    # difference and its paired error are exactly 0, not merely small.
    request = _request(lab)
    pair = price_pair(request, request, first_tables=tables, n_years=YEARS, created_at=WHEN)
    assert pair.first.premium.technical == pair.second.premium.technical
    assert pair.difference.technical.value == 0.0
    assert pair.difference.technical.standard_error == 0.0
    assert pair.difference.expected_loss.value == 0.0
    assert pair.difference.expected_loss.standard_error == 0.0
    assert pair.first.premium.standard_error > 0


def test_a_higher_deductible_costs_less_with_a_paired_error_far_below_each_premiums(
    tables: uw.RatingTables,
) -> None:
    base = _request()
    higher = _changed(base, "terms.sections.property.deductible", 50_000)
    pair = price_pair(base, higher, first_tables=tables, n_years=YEARS, created_at=WHEN)
    change = pair.difference.technical
    assert change.value < 0
    assert pair.difference.expected_loss.value < 0
    own = min(pair.first.premium.standard_error, pair.second.premium.standard_error)
    assert 0 < change.standard_error < 0.3 * own
    # Common events cancel: the paired error is far below the error of two independent runs.
    independent = math.hypot(pair.first.premium.standard_error, pair.second.premium.standard_error)
    assert change.standard_error < 0.1 * independent
    assert pair.difference.expected_loss.standard_error < 0.3 * pair.first.metrics[0].standard_error


def test_two_tables_versions_are_priced_on_one_seed_and_the_same_years(
    tables: uw.RatingTables, draft: uw.RatingTables
) -> None:
    request = _request()
    pair = price_pair(
        request, request, first_tables=tables, second_tables=draft, n_years=YEARS, created_at=WHEN
    )
    assert pair.first.provenance.tables_version == "2026.2"
    assert pair.second.provenance.tables_version == "2026.3"
    assert pair.first.provenance.seed == pair.second.provenance.seed == pair.seed
    assert pair.seed == str(tables.pricing.precision.default_seed)
    # The difference is the one of the two quotes as each is quoted alone on that seed.
    alone = uw.quote(
        request.submission,
        request.terms,
        tables=draft,
        seed=pair.seed,
        n_years=YEARS,
        created_at=WHEN,
    )
    assert pair.difference.technical.value == pytest.approx(
        alone.premium.technical - pair.first.premium.technical, rel=1e-12
    )
    independent = math.hypot(pair.first.premium.standard_error, pair.second.premium.standard_error)
    assert 0 < pair.difference.technical.standard_error < independent


def test_without_years_the_first_chooses_them_and_the_second_follows(
    tables: uw.RatingTables,
) -> None:
    loose = uw.QuoteRequest.model_validate(
        {**_request().model_dump(mode="json"), "target_relative_error": 0.2}
    )
    other = _changed(loose, "submission.values.equipment", 13_200_000)
    pair = price_pair(loose, other, first_tables=tables, created_at=WHEN)
    assert pair.n_years == pair.first.provenance.n_years == pair.second.provenance.n_years
    assert pair.n_years == tables.pricing.precision.pilot_years


def test_the_requests_seed_is_used_and_two_different_ones_are_refused(
    tables: uw.RatingTables,
) -> None:
    seeded = _changed(_request(), "seed", "17")
    pair = price_pair(seeded, _request(), first_tables=tables, n_years=2_000, created_at=WHEN)
    assert pair.seed == "17"
    with pytest.raises(uw.UnderwritingError, match=r"different seeds \(17 and 18\)"):
        price_pair(seeded, _changed(_request(), "seed", "18"), first_tables=tables, n_years=2_000)
    explicit = price_pair(
        seeded, _request(), first_tables=tables, seed=5, n_years=2_000, created_at=WHEN
    )
    assert explicit.seed == "5"


def test_quotes_of_other_seeds_or_years_or_tables_are_not_paired(
    tables: uw.RatingTables, draft: uw.RatingTables
) -> None:
    request = _request()

    def priced(seed: int, years: int) -> uw.Quote:
        return uw.quote(
            request.submission,
            request.terms,
            tables=tables,
            seed=seed,
            n_years=years,
            created_at=WHEN,
        )

    base = priced(1, 2_000)
    with pytest.raises(uw.UnderwritingError, match=r"different seeds \(1 and 2\)"):
        paired_difference(base, priced(2, 2_000), first_tables=tables, second_tables=tables)
    with pytest.raises(uw.UnderwritingError, match="different numbers of years"):
        paired_difference(base, priced(1, 3_000), first_tables=tables, second_tables=tables)
    with pytest.raises(uw.UnderwritingError, match=r"second_tables are version 2026.3"):
        paired_difference(base, base, first_tables=tables, second_tables=draft)
