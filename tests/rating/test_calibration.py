"""The tables' serious-event rates against the public statistics (docs/pricing.md, "Calibration").

Reference figures: 110 publicly reported accidents in Chinese university labs in about 20 years
over 66,600 labs, 55,700 of them teaching labs (Bai et al. 2021 and the 2022 count,
docs/sources.md#s37), and at least one unreported event per reported one (Palluzi 2020,
docs/sources.md#s38). The expected counts are exact (rates times probabilities), so the checks
are on arithmetic, not on a sample.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from underwriting.portfolio import calibration_profiles, reconcile_serious_events
from underwriting.rating import load_rating_tables
from underwriting.rating._schemas import Calibration


def test_the_draft_tables_reconcile_with_the_public_count_within_the_stated_departure() -> None:
    result = reconcile_serious_events(load_rating_tables("2026.3"))
    assert result.public_per_year == 5.5
    assert result.under_reporting_factor == 2.0
    assert sum(row.count for row in result.rows) == 66_600
    assert result.within, (
        f"tables 2026.3 imply {result.implied:.1f} serious events a year against "
        f"{result.expected_actual:.1f}: departure {result.departure:.2f}x"
    )


def test_the_released_rates_depart_by_more_than_three_times() -> None:
    """2026.2's rates over the same national book: the departure the review found, which is why
    2026.3 changed the teaching and chemistry rates."""
    draft = load_rating_tables("2026.3")
    released = load_rating_tables("2026.2")
    with_book = dataclasses.replace(
        released,
        pricing=released.pricing.model_copy(update={"calibration": draft.pricing.calibration}),
    )
    result = reconcile_serious_events(with_book)
    assert result.departure > 5


def test_an_explosion_counts_when_it_injures_or_starts_a_major_fire() -> None:
    """The hand case for one lab: explosion rate x (1 - (1 - p_injury)(1 - p_cascade))."""
    tables = load_rating_tables("2026.3")
    result = reconcile_serious_events(tables)
    teaching = result.rows[0]
    assert teaching.lab_category == "teaching"
    calibration = tables.pricing.calibration
    assert calibration is not None
    # The teaching row's rated profile; the formula applied by hand.
    profile = calibration_profiles(tables)[0]
    explosion = profile.scenario("explosion")
    injury = next(i.probability for i in explosion.impacts if i.section == "employee_injury")
    cascade = next(
        c.probability
        for c in profile.cascades
        if (c.parent, c.child) == ("explosion", "major_fire")
    )
    assert (injury, cascade) == (0.5, 0.1)  # scenarios.toml: explosion injury, cascade
    expected = explosion.frequency.mean * (1 - (1 - injury) * (1 - cascade))
    assert teaching.per_lab["explosion"] == pytest.approx(expected, rel=1e-12)
    assert teaching.per_lab["major_fire"] == pytest.approx(
        profile.scenario("major_fire").frequency.mean, rel=1e-12
    )
    assert math.isclose(teaching.per_year, sum(teaching.per_lab.values()) * 55_700)


def test_a_calibration_without_labs_is_refused() -> None:
    with pytest.raises(ValueError, match="labs"):
        Calibration.model_validate(
            {
                "public_serious_events_per_year": 5.5,
                "under_reporting_factor": 2,
                "max_departure": 3,
                "always_reported": ["major_fire"],
                "labs": [],
            }
        )


def test_tables_without_a_calibration_say_so() -> None:
    with pytest.raises(ValueError, match=r"2026\.2 have no \[calibration\]"):
        reconcile_serious_events(load_rating_tables("2026.2"))
