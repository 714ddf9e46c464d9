"""Policy terms: hand-worked cases for each step of the order of application, validation, and
property tests (insured within ground-up, monotonicity in deductibles and limits, additivity).

The order of application is the one in ``underwriting.terms``' module docstring:
1 time terms, 2 per-occurrence deductible, 3 per-occurrence limit, 4 section annual aggregate
limit, 5 policy annual aggregate deductible, 6 policy annual aggregate limit, 7 share.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydantic import ValidationError

import underwriting as uw
from underwriting.errors import TermsError
from underwriting.model import SECTION_INDEX, SECTIONS, Section
from underwriting.terms import (
    DAYS_PER_MONTH,
    EventLossTable,
    InsuredLosses,
    PolicyTerms,
    SectionTerms,
    annual_insured,
    apply_terms,
    cover_problems,
    occurrence_terms,
    section_aggregate,
    term_records,
    year_terms,
)

PROPERTY = SECTION_INDEX[Section.PROPERTY]
LIABILITY = SECTION_INDEX[Section.LIABILITY]
RI = SECTION_INDEX[Section.RESEARCH_INTERRUPTION]


# When a property test fails, Hypothesis's pytest plugin imports libcst to suggest a patch, and
def _one_section(
    terms: SectionTerms,
    ground_up: list[float],
    year: list[int] | None = None,
    n_years: int | None = None,
    section: Section = Section.PROPERTY,
) -> InsuredLosses:
    """Apply ``terms`` on one section to events that hit only that section.

    By default each event is alone in its own year, so ``annual`` is per event.
    """
    years = list(range(len(ground_up))) if year is None else year
    events = EventLossTable.from_section_losses(
        year=years,
        section=section,
        ground_up=ground_up,
        n_years=len(ground_up) if n_years is None else n_years,
    )
    return apply_terms(events, PolicyTerms(sections={section: terms}))


# --- step 2: per-occurrence deductible ---------------------------------------------------------


def test_straight_deductible() -> None:
    # max(loss - 1_000, 0): 500 -> 0; 1_000 -> 0; 2_500 -> 1_500; 40_000 -> 39_000
    insured = _one_section(SectionTerms(deductible=1_000), [500.0, 1_000.0, 2_500.0, 40_000.0])
    np.testing.assert_allclose(insured.annual, [0.0, 0.0, 1_500.0, 39_000.0])


def test_franchise_deductible_pays_the_whole_loss_once_exceeded() -> None:
    # franchise 1_000: 500 -> 0; 1_000 does not exceed 1_000 -> 0; 1_000.5 -> 1_000.5 (all of it);
    # 2_500 -> 2_500. A straight deductible would pay 0, 0, 0.5, 1_500.
    insured = _one_section(
        SectionTerms(deductible=1_000, franchise=True), [500.0, 1_000.0, 1_000.5, 2_500.0]
    )
    np.testing.assert_allclose(insured.annual, [0.0, 0.0, 1_000.5, 2_500.0])


def test_percent_of_loss_deductible_with_minimum_and_maximum() -> None:
    # deductible = clip(10% x loss, 1_000, 5_000):
    #   500     -> 10% = 50,     clipped up to 1_000 -> max(500 - 1_000, 0) = 0
    #   5_000   -> 10% = 500,    clipped up to 1_000 -> 5_000 - 1_000 = 4_000
    #   30_000  -> 10% = 3_000,  inside              -> 30_000 - 3_000 = 27_000
    #   100_000 -> 10% = 10_000, clipped down to 5_000 -> 100_000 - 5_000 = 95_000
    terms = SectionTerms(
        deductible_percent_of_loss=0.10, deductible_minimum=1_000, deductible_maximum=5_000
    )
    insured = _one_section(terms, [500.0, 5_000.0, 30_000.0, 100_000.0])
    np.testing.assert_allclose(insured.annual, [0.0, 4_000.0, 27_000.0, 95_000.0])


def test_percent_of_loss_deductible_alone() -> None:
    # 5% of each loss is retained: 20_000 -> 19_000; 0 -> 0
    insured = _one_section(SectionTerms(deductible_percent_of_loss=0.05), [20_000.0, 0.0])
    np.testing.assert_allclose(insured.annual, [19_000.0, 0.0])


# --- step 3: per-occurrence limit --------------------------------------------------------------


def test_per_occurrence_limit_applies_after_the_deductible() -> None:
    # deductible 1_000, limit 10_000:
    #   5_000  -> 5_000 - 1_000 = 4_000 (under the limit)
    #   50_000 -> 50_000 - 1_000 = 49_000 -> min(49_000, 10_000) = 10_000
    #   10_500 -> 9_500 (a limit applied before the deductible would give 10_000 - 1_000 = 9_000)
    terms = SectionTerms(deductible=1_000, limit=10_000)
    insured = _one_section(terms, [5_000.0, 50_000.0, 10_500.0])
    np.testing.assert_allclose(insured.annual, [4_000.0, 10_000.0, 9_500.0])


def test_franchise_with_limit() -> None:
    # franchise 1_000 then limit 2_000: 1_500 -> 1_500; 3_000 -> min(3_000, 2_000) = 2_000
    insured = _one_section(
        SectionTerms(deductible=1_000, franchise=True, limit=2_000), [1_500.0, 3_000.0]
    )
    np.testing.assert_allclose(insured.annual, [1_500.0, 2_000.0])


def test_limit_percent_of_loss() -> None:
    # deductible 1_000, limit 50% of the (ground-up) loss:
    #   10_000 -> 9_000 after deductible -> min(9_000, 50% x 10_000 = 5_000) = 5_000
    #   1_500  -> 500 after deductible   -> min(500, 750) = 500
    insured = _one_section(
        SectionTerms(deductible=1_000, limit_percent_of_loss=0.5), [10_000.0, 1_500.0]
    )
    np.testing.assert_allclose(insured.annual, [5_000.0, 500.0])


def test_limit_and_limit_percent_of_loss_both_apply() -> None:
    # min(paid, limit, 50% x loss): 10_000 -> min(9_000, 4_000, 5_000) = 4_000;
    # 6_000 -> min(5_000, 4_000, 3_000) = 3_000
    terms = SectionTerms(deductible=1_000, limit=4_000, limit_percent_of_loss=0.5)
    insured = _one_section(terms, [10_000.0, 6_000.0])
    np.testing.assert_allclose(insured.annual, [4_000.0, 3_000.0])


# --- step 4: section annual aggregate limit ----------------------------------------------------


def test_section_annual_aggregate_limit() -> None:
    # deductible 1_000 per occurrence, aggregate 10_000 a year:
    #   year 0: events 6_000 and 8_000 pay 5_000 + 7_000 = 12_000 -> capped at 10_000
    #   year 1: event 4_000 pays 3_000 (under the aggregate)
    # by_event, pro rata in year 0: 5_000 x 10/12 = 4_166.67, 7_000 x 10/12 = 5_833.33
    terms = SectionTerms(deductible=1_000, aggregate_limit=10_000)
    insured = _one_section(terms, [6_000.0, 8_000.0, 4_000.0], year=[0, 0, 1], n_years=2)
    np.testing.assert_allclose(insured.annual, [10_000.0, 3_000.0])
    np.testing.assert_allclose(insured.occurrence[:, PROPERTY], [5_000.0, 7_000.0, 3_000.0])
    np.testing.assert_allclose(
        insured.by_event[:, PROPERTY], [5_000.0 * 10 / 12, 7_000.0 * 10 / 12, 3_000.0]
    )


def test_section_aggregate_limit_applies_before_policy_aggregate_deductible() -> None:
    # property events 30_000 and 20_000 in year 0, section aggregate 40_000, policy aggregate
    # deductible 10_000: 50_000 -> 40_000 (section aggregate) -> 40_000 - 10_000 = 30_000.
    # The other way round: 50_000 - 10_000 = 40_000 -> min(40_000, 40_000) = 40_000.
    # by_event: section factor 40/50 = 0.8, policy factor 30/40 = 0.75 -> 0.6 of what each paid.
    events = EventLossTable.from_section_losses(
        year=[0, 0], section="property", ground_up=[30_000.0, 20_000.0], n_years=1
    )
    terms = PolicyTerms(
        sections={"property": SectionTerms(aggregate_limit=40_000)}, aggregate_deductible=10_000
    )
    insured = apply_terms(events, terms)
    np.testing.assert_allclose(insured.annual, [30_000.0])
    np.testing.assert_allclose(insured.by_event[:, PROPERTY], [18_000.0, 12_000.0])


# --- steps 5-7: policy aggregate deductible, aggregate limit, share ----------------------------


def test_policy_aggregate_deductible_then_aggregate_limit_then_share() -> None:
    # Year 0: property 30_000 and liability 20_000 (no section terms) -> 50_000.
    #   ours (5, 6, 7): 50_000 - 10_000 = 40_000 -> min(40_000, 20_000) = 20_000 -> x 0.5 = 10_000
    #   limit before deductible: min(50_000, 20_000) - 10_000 = 10_000 -> x 0.5 = 5_000
    #   share first: 0.5 x 50_000 = 25_000 - 10_000 = 15_000 -> min(15_000, 20_000) = 15_000
    # Year 1: property 15_000 -> 15_000 - 10_000 = 5_000 -> under 20_000 -> x 0.5 = 2_500.
    # Allocation, year 0: factor 10_000 / 50_000 = 0.2 -> property 6_000, liability 4_000;
    # year 1: factor 2_500 / 15_000 -> property 2_500.
    ground_up = np.zeros((3, len(SECTIONS)))
    ground_up[0, PROPERTY] = 30_000.0
    ground_up[1, LIABILITY] = 20_000.0
    ground_up[2, PROPERTY] = 15_000.0
    events = EventLossTable(year=np.array([0, 0, 1]), ground_up=ground_up, n_years=2)
    terms = PolicyTerms(
        sections={"property": SectionTerms(), "liability": SectionTerms()},
        aggregate_deductible=10_000,
        aggregate_limit=20_000,
        share=0.5,
    )
    insured = apply_terms(events, terms)
    np.testing.assert_allclose(insured.annual, [10_000.0, 2_500.0])
    np.testing.assert_allclose(insured.annual_by_section[:, PROPERTY], [6_000.0, 2_500.0])
    np.testing.assert_allclose(insured.annual_by_section[:, LIABILITY], [4_000.0, 0.0])
    np.testing.assert_allclose(insured.by_event[:, PROPERTY], [6_000.0, 0.0, 2_500.0])
    np.testing.assert_allclose(insured.by_event[:, LIABILITY], [0.0, 4_000.0, 0.0])
    # the per-occurrence figures are before any annual term
    np.testing.assert_allclose(insured.occurrence, ground_up)


def test_policy_aggregate_deductible_is_annual_not_per_event() -> None:
    # Two events of 6_000 in one year against an annual aggregate deductible of 10_000:
    # 12_000 - 10_000 = 2_000 (a per-occurrence deductible of 10_000 would pay 0).
    events = EventLossTable.from_section_losses(
        year=[0, 0], section="spoilage", ground_up=[6_000.0, 6_000.0], n_years=1
    )
    terms = PolicyTerms(sections={"spoilage": SectionTerms()}, aggregate_deductible=10_000)
    np.testing.assert_allclose(apply_terms(events, terms).annual, [2_000.0])


def test_year_without_events_pays_nothing() -> None:
    # n_years = 3 with events only in year 1: years 0 and 2 are zero.
    insured = _one_section(SectionTerms(deductible=100), [1_100.0], year=[1], n_years=3)
    np.testing.assert_allclose(insured.annual, [0.0, 1_000.0, 0.0])


# --- step 1: research interruption time terms --------------------------------------------------


def _interruption_events(downtime: list[float], daily_cost: list[float]) -> EventLossTable:
    """One event a year, research interruption ground-up = downtime x daily cost."""
    downtime_days = np.array(downtime)
    cost = np.array(daily_cost)
    ground_up = np.zeros((len(downtime), len(SECTIONS)))
    ground_up[:, RI] = downtime_days * cost
    return EventLossTable(
        year=np.arange(len(downtime)),
        ground_up=ground_up,
        n_years=len(downtime),
        downtime_days=downtime_days,
        daily_cost=cost,
    )


def test_waiting_period_and_indemnity_period_then_deductible() -> None:
    # waiting 5 days, indemnity 1 month = 365 / 12 = 30.4167 days, then a 1_000 deductible:
    #   3 days x 1_000/day:  min(3, 30.42) - 5 < 0 -> 0 days -> 0
    #   10 days x 1_000/day: 10 - 5 = 5 days -> 5_000 -> 5_000 - 1_000 = 4_000
    #   40 days x 2_000/day: min(40, 30.4167) - 5 = 25.4167 days -> 50_833.33 -> 49_833.33
    #   20 days x 500/day:   20 - 5 = 15 days -> 7_500 -> 6_500
    events = _interruption_events([3.0, 10.0, 40.0, 20.0], [1_000.0, 1_000.0, 2_000.0, 500.0])
    terms = PolicyTerms(
        sections={
            "research_interruption": SectionTerms(
                waiting_period_days=5, indemnity_period_months=1, deductible=1_000
            )
        }
    )
    insured = apply_terms(events, terms)
    expected = [0.0, 4_000.0, (365 / 12 - 5) * 2_000 - 1_000, 6_500.0]
    np.testing.assert_allclose(insured.annual, expected)
    np.testing.assert_allclose(insured.annual[2], 49_833.333, rtol=1e-7)
    np.testing.assert_allclose(DAYS_PER_MONTH, 365 / 12)


def test_indemnity_period_of_twelve_months_is_365_days() -> None:
    # 400 days down at 100/day, no waiting period, 12 months = 365 days -> 36_500
    events = _interruption_events([400.0], [100.0])
    terms = PolicyTerms(
        sections={"research_interruption": SectionTerms(indemnity_period_months=12)}
    )
    np.testing.assert_allclose(apply_terms(events, terms).annual, [36_500.0])


def test_waiting_period_without_indemnity_period_is_unbounded() -> None:
    # 400 days down at 100/day, 30 waiting days, no indemnity period -> 370 x 100 = 37_000
    events = _interruption_events([400.0], [100.0])
    terms = PolicyTerms(sections={"research_interruption": SectionTerms(waiting_period_days=30)})
    np.testing.assert_allclose(apply_terms(events, terms).annual, [37_000.0])


def test_time_terms_need_downtime_and_daily_cost() -> None:
    terms = PolicyTerms(sections={"research_interruption": SectionTerms(waiting_period_days=5)})
    no_columns = EventLossTable.from_section_losses(
        year=[0], section="research_interruption", ground_up=[10_000.0], n_years=1
    )
    with pytest.raises(TermsError, match="downtime_days and daily_cost"):
        apply_terms(no_columns, terms)
    only_downtime = EventLossTable(
        year=np.array([0]),
        ground_up=no_columns.ground_up,
        n_years=1,
        downtime_days=np.array([10.0]),
    )
    with pytest.raises(TermsError, match="daily_cost"):
        apply_terms(only_downtime, terms)


def test_interruption_without_time_terms_uses_its_ground_up_column() -> None:
    # no waiting or indemnity period: the ground-up column is the loss, no downtime needed:
    # 5_000 - 1_000 = 4_000
    insured = _one_section(
        SectionTerms(deductible=1_000), [5_000.0], section=Section.RESEARCH_INTERRUPTION
    )
    np.testing.assert_allclose(insured.annual, [4_000.0])


# --- coverage ----------------------------------------------------------------------------------


def test_uncovered_section_pays_nothing() -> None:
    # property 10_000 (covered, deductible 1_000 -> 9_000) and liability 50_000 (not covered -> 0)
    ground_up = np.zeros((1, len(SECTIONS)))
    ground_up[0, PROPERTY] = 10_000.0
    ground_up[0, LIABILITY] = 50_000.0
    events = EventLossTable(year=np.array([0]), ground_up=ground_up, n_years=1)
    insured = apply_terms(
        events, PolicyTerms(sections={"property": SectionTerms(deductible=1_000)})
    )
    np.testing.assert_allclose(insured.annual, [9_000.0])
    for figures in (insured.by_event, insured.occurrence, insured.annual_by_section):
        assert figures[0, LIABILITY] == 0.0
        np.testing.assert_allclose(figures[0, PROPERTY], 9_000.0)


def test_no_covered_section_pays_nothing() -> None:
    events = EventLossTable.from_section_losses(
        year=[0], section="pollution", ground_up=[1e6], n_years=1
    )
    insured = apply_terms(events, PolicyTerms(sections={}))
    assert insured.annual.tolist() == [0.0]
    assert not insured.by_event.any()


def test_empty_event_table() -> None:
    events = EventLossTable(
        year=np.zeros(0, dtype=np.int64), ground_up=np.zeros((0, len(SECTIONS))), n_years=2
    )
    insured = apply_terms(events, PolicyTerms(sections={"property": SectionTerms(deductible=1)}))
    assert insured.annual.tolist() == [0.0, 0.0]
    assert insured.by_event.shape == (0, len(SECTIONS))


# --- additivity --------------------------------------------------------------------------------


def _assert_additive(events: EventLossTable, insured: InsuredLosses) -> None:
    """by_event summed over each year's events = annual_by_section; its rows sum to annual."""
    by_year = np.zeros((events.n_years, len(SECTIONS)))
    np.add.at(by_year, events.year, insured.by_event)
    scale = max(1.0, float(np.abs(events.ground_up).sum()))
    np.testing.assert_allclose(by_year, insured.annual_by_section, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(
        insured.annual_by_section.sum(axis=1), insured.annual, rtol=1e-9, atol=1e-9 * scale
    )


def test_event_section_and_year_figures_add_up() -> None:
    rng = np.random.default_rng(20240611)
    n_events, n_years = 200, 20
    ground_up = rng.lognormal(10.0, 1.5, size=(n_events, len(SECTIONS)))
    ground_up[rng.random((n_events, len(SECTIONS))) < 0.6] = 0.0
    downtime = rng.uniform(0.0, 200.0, n_events)
    daily_cost = rng.uniform(100.0, 5_000.0, n_events)
    ground_up[:, RI] = downtime * daily_cost
    events = EventLossTable(
        year=rng.integers(0, n_years, n_events),
        ground_up=ground_up,
        n_years=n_years,
        downtime_days=downtime,
        daily_cost=daily_cost,
    )
    terms = PolicyTerms(
        sections={
            "property": SectionTerms(deductible=10_000, limit=500_000, aggregate_limit=1e6),
            "equipment_breakdown": SectionTerms(deductible=5_000, franchise=True),
            "spoilage": SectionTerms(
                deductible_percent_of_loss=0.1, deductible_minimum=2_000, deductible_maximum=20_000
            ),
            "research_interruption": SectionTerms(
                waiting_period_days=7, indemnity_period_months=3, aggregate_limit=300_000
            ),
            "liability": SectionTerms(limit_percent_of_loss=0.8),
        },
        aggregate_deductible=25_000,
        aggregate_limit=1.5e6,
        share=0.6,
    )
    insured = apply_terms(events, terms)
    assert insured.annual.sum() > 0
    assert np.any(np.isclose(insured.annual, 0.6 * 1.5e6))  # the policy aggregate limit binds
    assert np.any((insured.annual > 0) & (insured.annual < 0.6 * 1.5e6))  # and some years not
    _assert_additive(events, insured)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param(
            {"deductible": 1_000, "deductible_percent_of_loss": 0.1},
            "deductible_percent_of_loss",
            id="amount-and-percent",
        ),
        pytest.param({"deductible_minimum": 1_000}, "deductible_minimum", id="minimum-alone"),
        pytest.param({"deductible_maximum": 1_000}, "deductible_maximum", id="maximum-alone"),
        pytest.param(
            {"deductible": 1_000, "deductible_maximum": 5_000},
            "deductible_maximum",
            id="maximum-with-amount",
        ),
        pytest.param(
            {
                "deductible_percent_of_loss": 0.1,
                "deductible_minimum": 5_000,
                "deductible_maximum": 1_000,
            },
            "deductible_maximum",
            id="maximum-below-minimum",
        ),
        pytest.param({"deductible": -1.0}, "deductible", id="negative-deductible"),
        pytest.param({"limit": -1.0}, "limit", id="negative-limit"),
        pytest.param({"limit": float("inf")}, "limit", id="infinite-limit"),
        pytest.param({"deductible_percent_of_loss": 1.5}, "deductible_percent_of_loss", id="pct>1"),
        pytest.param({"limit_percent_of_loss": -0.1}, "limit_percent_of_loss", id="pct<0"),
        pytest.param({"indemnity_period_months": 0}, "indemnity_period_months", id="indemnity-0"),
        pytest.param({"waiting_period_days": -1}, "waiting_period_days", id="negative-waiting"),
        pytest.param({"deductibel": 1_000}, "deductibel", id="unknown-field"),
    ],
)
def test_invalid_section_terms(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        SectionTerms(**kwargs)


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5], ids=["zero", "negative", "over-one"])
def test_share_must_be_in_zero_one(share: float) -> None:
    with pytest.raises(ValidationError, match="share") as excinfo:
        PolicyTerms(sections={}, share=share)
    assert excinfo.value.errors()[0]["loc"] == ("share",)


def test_share_of_one_is_allowed() -> None:
    assert PolicyTerms(sections={}, share=1.0).share == 1.0


@pytest.mark.parametrize("field", ["waiting_period_days", "indemnity_period_months"])
def test_time_terms_only_on_research_interruption(field: str) -> None:
    with pytest.raises(ValidationError, match=rf"sections\.property: .*{field}"):
        PolicyTerms(sections={"property": SectionTerms(**{field: 3})})
    PolicyTerms(sections={"research_interruption": SectionTerms(**{field: 3})})


def test_unknown_section_name() -> None:
    with pytest.raises(ValidationError, match=r"sections\.flood") as excinfo:
        PolicyTerms(sections={"flood": SectionTerms()})
    assert excinfo.value.errors()[0]["loc"][:2] == ("sections", "flood")


def test_negative_policy_aggregate_deductible() -> None:
    with pytest.raises(ValidationError, match="aggregate_deductible"):
        PolicyTerms(sections={}, aggregate_deductible=-1.0)


def test_terms_are_frozen() -> None:
    terms = SectionTerms(deductible=1_000)
    with pytest.raises(ValidationError, match="frozen"):
        terms.deductible = 0.0  # type: ignore[misc]


def test_event_table_validation() -> None:
    with pytest.raises(TermsError, match="ground_up must have shape"):
        EventLossTable(year=np.array([0]), ground_up=np.zeros((1, 3)), n_years=1)
    with pytest.raises(TermsError, match="year must lie"):
        EventLossTable.from_section_losses(year=[2], section="property", ground_up=[1.0], n_years=2)
    with pytest.raises(TermsError, match="non-negative"):
        EventLossTable.from_section_losses(
            year=[0], section="property", ground_up=[-1.0], n_years=1
        )
    with pytest.raises(TermsError, match="downtime_days must have shape"):
        EventLossTable(
            year=np.array([0]),
            ground_up=np.zeros((1, len(SECTIONS))),
            n_years=1,
            downtime_days=np.zeros(2),
        )


# --- properties --------------------------------------------------------------------------------

AMOUNTS = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
LOSSES = st.one_of(st.just(0.0), AMOUNTS)
FRACTIONS = st.floats(min_value=0.0, max_value=1.0)
SHARES = st.floats(min_value=0.0, max_value=1.0, exclude_min=True)
WAITING_DAYS = st.floats(min_value=0.0, max_value=90.0)
MONTHS = st.floats(min_value=0.1, max_value=24.0)


@st.composite
def event_tables(draw: st.DrawFn) -> EventLossTable:
    """Random events over a few years; research interruption = downtime x daily cost."""
    n_years = draw(st.integers(min_value=1, max_value=4))
    n_events = draw(st.integers(min_value=0, max_value=10))
    year = np.array(
        draw(st.lists(st.integers(0, n_years - 1), min_size=n_events, max_size=n_events)),
        dtype=np.int64,
    )
    ground_up = draw(arrays(np.float64, (n_events, len(SECTIONS)), elements=LOSSES))
    downtime = draw(arrays(np.float64, n_events, elements=st.floats(0.0, 400.0)))
    daily_cost = draw(arrays(np.float64, n_events, elements=st.floats(0.0, 1e4)))
    ground_up[:, RI] = downtime * daily_cost
    return EventLossTable(
        year=year,
        ground_up=ground_up,
        n_years=n_years,
        downtime_days=downtime,
        daily_cost=daily_cost,
    )


@st.composite
def section_kwargs(draw: st.DrawFn, section: Section) -> dict[str, Any]:
    """Keyword arguments of a valid ``SectionTerms`` for ``section``."""
    kwargs: dict[str, Any] = {}
    if draw(st.booleans()):
        kwargs["deductible_percent_of_loss"] = draw(FRACTIONS)
        kwargs["deductible_minimum"] = draw(AMOUNTS)
        if draw(st.booleans()):
            kwargs["deductible_maximum"] = kwargs["deductible_minimum"] + draw(AMOUNTS)
    else:
        kwargs["deductible"] = draw(AMOUNTS)
    kwargs["franchise"] = draw(st.booleans())
    kwargs["limit"] = draw(st.none() | AMOUNTS)
    kwargs["limit_percent_of_loss"] = draw(st.none() | FRACTIONS)
    kwargs["aggregate_limit"] = draw(st.none() | AMOUNTS)
    if section is Section.RESEARCH_INTERRUPTION:
        kwargs["waiting_period_days"] = draw(WAITING_DAYS)
        kwargs["indemnity_period_months"] = draw(st.none() | MONTHS)
    return kwargs


@st.composite
def policy_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments of a valid ``PolicyTerms``; ``sections`` maps to section kwargs."""
    covered = draw(st.sets(st.sampled_from(SECTIONS)))
    return {
        "sections": {section: draw(section_kwargs(section)) for section in covered},
        "aggregate_deductible": draw(AMOUNTS),
        "aggregate_limit": draw(st.none() | AMOUNTS),
        "share": draw(SHARES),
    }


def _policy(kwargs: dict[str, Any]) -> PolicyTerms:
    sections = {section: SectionTerms(**terms) for section, terms in kwargs["sections"].items()}
    return PolicyTerms(**{**kwargs, "sections": sections})


@settings(deadline=None, max_examples=200)
@given(events=event_tables(), kwargs=policy_kwargs())
def test_insured_is_between_zero_and_ground_up(
    events: EventLossTable, kwargs: dict[str, Any]
) -> None:
    insured = apply_terms(events, _policy(kwargs))
    assert np.all(insured.by_event >= 0.0)
    assert np.all(insured.by_event <= events.ground_up)
    assert np.all(insured.occurrence <= events.ground_up)
    assert np.all(insured.annual >= 0.0)
    _assert_additive(events, insured)


SECTION_DEDUCTIBLE_KNOBS = (
    "deductible",
    "deductible_percent_of_loss",
    "deductible_minimum",
    "deductible_maximum",
    "waiting_period_days",
)
SECTION_LIMIT_KNOBS = (
    "limit",
    "limit_percent_of_loss",
    "aggregate_limit",
    "indemnity_period_months",
)
POLICY_DEDUCTIBLE_KNOBS = ("aggregate_deductible",)
POLICY_LIMIT_KNOBS = ("aggregate_limit", "share")

Variants = tuple[EventLossTable, PolicyTerms, PolicyTerms]


@st.composite
def knob_variants(draw: st.DrawFn, knob: str, level: str) -> Variants:
    """Events and two policies equal but for ``knob``, smaller in the first.

    ``level`` is "section" or "policy". A value of None (no maximum deductible, no limit, no
    indemnity period) counts as larger than any number.
    """
    events = draw(event_tables())
    kwargs = draw(policy_kwargs())
    if level == "policy":
        policy_values = SHARES if knob == "share" else AMOUNTS
        lo, hi = sorted((draw(policy_values), draw(policy_values)))
        unbounded = knob == "aggregate_limit" and draw(st.booleans())
        small_kwargs = {**kwargs, knob: lo}
        large_kwargs = {**kwargs, knob: None if unbounded else hi}
        return events, _policy(small_kwargs), _policy(large_kwargs)

    interruption_only = knob in ("waiting_period_days", "indemnity_period_months")
    section = (
        Section.RESEARCH_INTERRUPTION if interruption_only else draw(st.sampled_from(SECTIONS))
    )
    base = dict(draw(section_kwargs(section)))
    percent_mode = knob.startswith("deductible_")
    if percent_mode and "deductible_percent_of_loss" not in base:
        base.pop("deductible", None)
        base["deductible_percent_of_loss"] = draw(FRACTIONS)
    if knob == "deductible":
        for key in ("deductible_percent_of_loss", "deductible_minimum", "deductible_maximum"):
            base.pop(key, None)

    values: st.SearchStrategy[float] = {
        "deductible_percent_of_loss": FRACTIONS,
        "limit_percent_of_loss": FRACTIONS,
        "waiting_period_days": WAITING_DAYS,
        "indemnity_period_months": MONTHS,
    }.get(knob, AMOUNTS)
    lo, hi = sorted((draw(values), draw(values)))
    large_value: float | None = hi
    if knob == "deductible_minimum" and base.get("deductible_maximum") is not None:
        base["deductible_maximum"] = max(base["deductible_maximum"], hi)
    if knob == "deductible_maximum":
        lo = max(lo, base.get("deductible_minimum", 0.0))
        hi = max(hi, lo)
        large_value = hi
    if knob in ("deductible_maximum", *SECTION_LIMIT_KNOBS) and draw(st.booleans()):
        large_value = None  # unbounded

    small_sections = {**kwargs["sections"], section: {**base, knob: lo}}
    large_sections = {**kwargs["sections"], section: {**base, knob: large_value}}
    return (
        events,
        _policy({**kwargs, "sections": small_sections}),
        _policy({**kwargs, "sections": large_sections}),
    )


@pytest.mark.parametrize(
    ("knob", "level"),
    [(knob, "section") for knob in SECTION_DEDUCTIBLE_KNOBS]
    + [(knob, "policy") for knob in POLICY_DEDUCTIBLE_KNOBS],
)
@settings(deadline=None, max_examples=100)
@given(data=st.data())
def test_annual_loss_non_increasing_in_deductibles(
    knob: str, level: str, data: st.DataObject
) -> None:
    events, small, large = data.draw(knob_variants(knob, level))
    less_retained = apply_terms(events, small).annual
    more_retained = apply_terms(events, large).annual
    assert np.all(more_retained <= less_retained), (less_retained, more_retained)


@pytest.mark.parametrize(
    ("knob", "level"),
    [(knob, "section") for knob in SECTION_LIMIT_KNOBS]
    + [(knob, "policy") for knob in POLICY_LIMIT_KNOBS],
)
@settings(deadline=None, max_examples=100)
@given(data=st.data())
def test_annual_loss_non_decreasing_in_limits(knob: str, level: str, data: st.DataObject) -> None:
    events, small, large = data.draw(knob_variants(knob, level))
    tighter = apply_terms(events, small).annual
    wider = apply_terms(events, large).annual
    assert np.all(tighter <= wider), (tighter, wider)


def test_time_terms_never_pay_more_than_the_ground_up_loss() -> None:
    ground_up = np.zeros((1, len(SECTIONS)))
    events = EventLossTable(
        year=np.array([0]),
        ground_up=ground_up,
        n_years=1,
        downtime_days=np.array([10.0]),
        daily_cost=np.array([100.0]),
    )
    terms = PolicyTerms(sections={"research_interruption": SectionTerms(waiting_period_days=1)})
    assert apply_terms(events, terms).annual[0] == 0.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"downtime_days": np.array([np.nan])}, "downtime_days must be finite"),
        ({"daily_cost": np.array([-1.0])}, "daily_cost must be finite and non-negative"),
        ({"year": np.array([0.0])}, "year must be a 1-d array of integers"),
    ],
)
def test_bad_event_tables_are_terms_errors(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "year": np.array([0]),
        "ground_up": np.zeros((1, len(SECTIONS))),
        "n_years": 1,
        "downtime_days": np.array([1.0]),
        "daily_cost": np.array([1.0]),
        **changes,
    }
    with pytest.raises(TermsError, match=message):
        EventLossTable(**fields)


@settings(deadline=None, max_examples=50)
@given(data=st.data())
def test_the_fast_path_gives_the_same_annual_losses(data: st.DataObject) -> None:
    # annual_insured skips the pro-rata allocation; the year totals must be the same numbers.
    from conftest import rich_terms

    n_years = data.draw(st.integers(1, 20))
    n_events = data.draw(st.integers(0, 60))
    year = np.array(
        data.draw(st.lists(st.integers(0, n_years - 1), min_size=n_events, max_size=n_events)),
        dtype=np.int64,
    )
    ground_up = data.draw(arrays(np.float64, (n_events, len(SECTIONS)), elements=st.floats(0, 5e6)))
    events = EventLossTable(
        year=year,
        ground_up=ground_up,
        n_years=n_years,
        downtime_days=ground_up[:, SECTION_INDEX[Section.RESEARCH_INTERRUPTION]] / 3_000,
        daily_cost=np.full(n_events, 3_000.0),
    )
    terms = rich_terms()
    annual, occurrence = annual_insured(events, terms)
    full = apply_terms(events, terms)
    np.testing.assert_array_equal(annual, full.annual)
    np.testing.assert_array_equal(occurrence, full.occurrence)


@settings(deadline=None, max_examples=200)
@given(events=event_tables(), kwargs=policy_kwargs())
def test_the_scalar_form_is_the_numpy_form(events: EventLossTable, kwargs: dict[str, Any]) -> None:
    # The scalar terms (what the compiled engine inlines), run here as plain Python one event at
    # a time on the term records, pay exactly what the NumPy form pays, event by event and year
    # by year: the same steps in the same order, the sums taken in the same order.
    terms = _policy(kwargs)
    annual, occurrence = annual_insured(events, terms)
    sections, policy = term_records([terms])
    assert events.downtime_days is not None
    assert events.daily_cost is not None
    before = np.zeros((events.n_years, len(SECTIONS)))
    for event in range(events.year.shape[0]):
        for column in range(len(SECTIONS)):
            record = sections[0, column]
            paid = 0.0
            if record["covered"]:
                paid = occurrence_terms(
                    float(events.ground_up[event, column]),
                    float(events.downtime_days[event]),
                    float(events.daily_cost[event]),
                    record,
                )
            assert paid == occurrence[event, column]
            before[events.year[event], column] += paid
    for year in range(events.n_years):
        total = 0.0
        for column in range(len(SECTIONS)):
            total += section_aggregate(float(before[year, column]), sections[0, column])
        assert year_terms(total, policy[0]) == annual[year]


# --- cover a quote can be given -----------------------------------------------------------------


def _quote_document(**terms: Any) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    document: dict[str, Any] = json.loads(
        (root / "examples" / "physics_low_hazard.json").read_text(encoding="utf-8")
    )
    document["terms"] = {"sections": {"property": {"deductible": 10_000}}, **terms}
    return document


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        pytest.param(
            {"sections": {"property": {"deductible": 2_000_000, "limit": 1_000_000}}},
            "sections.property: deductible 2,000,000 is above limit 1,000,000",
            id="deductible-above-limit",
        ),
        pytest.param(
            {"sections": {"liability": {"deductible": 60_000.5, "aggregate_limit": 50_000}}},
            "sections.liability: deductible 60,000.5 is above aggregate_limit 50,000",
            id="deductible-above-aggregate-limit",
        ),
        pytest.param(
            {
                "sections": {
                    "spoilage": {
                        "deductible_percent_of_loss": 0.1,
                        "deductible_minimum": 300_000,
                        "limit": 100_000,
                    }
                }
            },
            "sections.spoilage: deductible_minimum 300,000 is above limit 100,000",
            id="percent-deductible-minimum-above-limit",
        ),
        pytest.param(
            {
                "sections": {
                    "research_interruption": {
                        "waiting_period_days": 400,
                        "indemnity_period_months": 12,
                    }
                }
            },
            "sections.research_interruption: waiting_period_days 400 is not shorter than "
            "indemnity_period_months 12 (365.0 days)",
            id="waiting-longer-than-indemnity",
        ),
        pytest.param({"sections": {}}, "sections is empty", id="no-section"),
        pytest.param(
            {"sections": {"property": {}}, "aggregate_limit": 0},
            "aggregate_limit is 0",
            id="aggregate-limit-0",
        ),
        pytest.param(
            {"sections": {"property": {"limit": 0}}}, "sections.property.limit is 0", id="limit-0"
        ),
        pytest.param(
            {"sections": {"property": {"deductible_percent_of_loss": 1}}},
            "sections.property.deductible_percent_of_loss is 1",
            id="whole-loss-deductible",
        ),
        pytest.param(
            {"sections": {"property": {}}, "aggregate_deductible": 5e6, "aggregate_limit": 1e6},
            "aggregate_deductible 5,000,000 is above aggregate_limit 1,000,000",
            id="aggregate-deductible-above-aggregate-limit",
        ),
    ],
)
def test_terms_without_cover_are_refused_for_a_quote(terms: dict[str, Any], expected: str) -> None:
    # The terms themselves are valid (apply_terms applies them as written, e.g. as a layer) ...
    policy = PolicyTerms.model_validate(terms)
    (problem,) = cover_problems(policy)
    assert problem.startswith(expected)
    assert "allowed: " in problem
    # ... but a quote request refuses them, for the terms and for every option, naming the field
    for document in (
        {**_quote_document(), "terms": terms},
        {**_quote_document(), "options": [_quote_document()["terms"], terms]},
    ):
        with pytest.raises(ValidationError) as raised:
            uw.QuoteRequest.model_validate(document)
        (error,) = raised.value.errors()
        assert error["loc"] in (("terms",), ("options", 1))
        assert expected in error["msg"]
    # ... and so does uw.quote in Python, before anything is simulated
    request = uw.QuoteRequest.model_validate(_quote_document())
    with pytest.raises(TermsError, match=r"options\[0\]\." + re.escape(expected)):
        uw.quote(request.submission, request.terms, options=[policy], n_years=1_000)


def test_terms_with_cover_have_no_problem() -> None:
    root = Path(__file__).resolve().parents[2]
    for name in ("physics_low_hazard", "chemistry_high_hazard", "bsl3_biobank"):
        request = uw.QuoteRequest.model_validate_json(
            (root / "examples" / f"{name}.json").read_text(encoding="utf-8")
        )
        assert cover_problems(request.terms) == []
    edge = PolicyTerms.model_validate(
        {
            "sections": {
                "property": {"deductible": 50_000, "limit": 50_000},
                "research_interruption": {
                    "waiting_period_days": 30,
                    "indemnity_period_months": 1.1,
                },
            },
            "aggregate_deductible": 1e6,
            "aggregate_limit": 1e6,
        }
    )
    assert cover_problems(edge) == []
