"""The properties that make a simulation trustworthy (docs/sources.md#design-randomness)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import reference_profile, reference_terms, rich_profile, rich_terms
from hypothesis import given, settings
from hypothesis import strategies as st

import underwriting as uw
from underwriting.results import YearLossTableBuilder

YEARS = 3_000
FAST = settings(max_examples=20, deadline=None, derandomize=True)


def _run(profile: uw.RiskProfile, terms: uw.PolicyTerms, **kwargs: Any) -> uw.SimulationResult:
    options = {"n_years": YEARS, "seed": 2026, **kwargs}
    return uw.simulate(profile, terms, **options)


# ----------------------------------------------------------------- 1. reproducible, any block size


def test_same_seed_gives_bit_identical_results() -> None:
    first = _run(rich_profile(), rich_terms())
    second = _run(rich_profile(), rich_terms())
    np.testing.assert_array_equal(first.annual_loss, second.annual_loss)
    assert first.year_loss_table is not None
    assert second.year_loss_table is not None
    np.testing.assert_array_equal(first.year_loss_table.insured, second.year_loss_table.insured)
    np.testing.assert_array_equal(first.annual_max_occurrence, second.annual_max_occurrence)


def test_another_seed_gives_other_results() -> None:
    first = _run(rich_profile(), rich_terms(), seed=1)
    second = _run(rich_profile(), rich_terms(), seed=2)
    assert not np.array_equal(first.annual_loss, second.annual_loss)


@FAST
@given(block_size=st.integers(min_value=1, max_value=YEARS + 10))
def test_block_size_does_not_change_results(block_size: int) -> None:
    reference = _run(rich_profile(), rich_terms())
    cut = _run(rich_profile(), rich_terms(), block_size=block_size)
    np.testing.assert_array_equal(reference.annual_loss, cut.annual_loss)
    np.testing.assert_array_equal(reference.annual_ground_up, cut.annual_ground_up)
    np.testing.assert_array_equal(reference.annual_max_occurrence, cut.annual_max_occurrence)
    for name in ("fire", "explosion", "injury"):
        assert reference.by_scenario()[name] == cut.by_scenario()[name]


def test_first_years_do_not_depend_on_how_many_years_run() -> None:
    short = _run(rich_profile(), rich_terms(), n_years=500)
    long = _run(rich_profile(), rich_terms(), n_years=YEARS)
    np.testing.assert_array_equal(short.annual_loss, long.annual_loss[:500])


def test_event_table_regenerates_the_run() -> None:
    result = _run(rich_profile(), rich_terms(), block_size=700)
    events = result.event_losses()
    per_year = np.bincount(events.year, weights=events.insured.sum(axis=1), minlength=YEARS)
    np.testing.assert_allclose(per_year, result.annual_loss, rtol=1e-9, atol=1e-6)
    window = result.event_losses(first_year=1_234, n_years=100)
    inside = (events.year >= 1_234) & (events.year < 1_334)
    np.testing.assert_array_equal(window.ground_up, events.ground_up[inside])


# ----------------------------------------------------------------- 2. stable streams


def test_adding_a_scenario_leaves_the_others_draws_alone() -> None:
    base = rich_profile()
    extra = uw.Scenario(
        id="escape_of_water",
        frequency=uw.Poisson(rate=0.5),
        severity=uw.LogNormal(mu=10, sigma=1),
        section="property",
    )
    extended = base.model_copy(update={"scenarios": (extra, *base.scenarios)})
    before = _run(base, rich_terms()).event_losses()
    after = _run(extended, rich_terms()).event_losses()
    for scenario_id in ("fire", "explosion", "injury"):
        np.testing.assert_array_equal(
            before.ground_up[before.scenario == scenario_id],
            after.ground_up[after.scenario == scenario_id],
        )
        np.testing.assert_array_equal(
            before.year[before.scenario == scenario_id], after.year[after.scenario == scenario_id]
        )
    assert np.count_nonzero(after.scenario == "escape_of_water") > 0


# ----------------------------------------------------------------- 3. common random numbers


def _assert_not_above(smaller: uw.SimulationResult, larger: uw.SimulationResult) -> None:
    """Year by year, exactly: ``smaller.annual_loss <= larger.annual_loss``."""
    assert np.all(smaller.annual_loss <= larger.annual_loss), (
        "a year's insured loss moved the wrong way: "
        f"{np.flatnonzero(smaller.annual_loss > larger.annual_loss)[:5]}"
    )


amounts = st.floats(min_value=0, max_value=2e6, allow_nan=False, allow_infinity=False)


@FAST
@given(low=amounts, high=amounts)
def test_insured_loss_never_rises_with_a_deductible(low: float, high: float) -> None:
    low, high = sorted((low, high))
    _assert_not_above(
        _run(rich_profile(), rich_terms(property_deductible=high)),
        _run(rich_profile(), rich_terms(property_deductible=low)),
    )


@FAST
@given(low=st.floats(0, 60), high=st.floats(0, 60))
def test_insured_loss_never_rises_with_the_waiting_period(low: float, high: float) -> None:
    low, high = sorted((low, high))
    _assert_not_above(
        _run(rich_profile(), rich_terms(waiting_period_days=high)),
        _run(rich_profile(), rich_terms(waiting_period_days=low)),
    )


@FAST
@given(low=st.floats(0, 1), high=st.floats(0, 1))
def test_insured_loss_never_rises_with_a_percentage_deductible(low: float, high: float) -> None:
    low, high = sorted((low, high))
    _assert_not_above(
        _run(rich_profile(), rich_terms(spoilage_percent=high)),
        _run(rich_profile(), rich_terms(spoilage_percent=low)),
    )


@FAST
@given(
    name=st.sampled_from(
        ["property_limit", "property_aggregate_limit", "injury_limit", "aggregate_limit"]
    ),
    low=st.floats(1.0, 1e7),
    high=st.floats(1.0, 1e7),
)
def test_insured_loss_never_falls_with_a_limit(name: str, low: float, high: float) -> None:
    low, high = sorted((low, high))
    _assert_not_above(
        _run(rich_profile(), rich_terms(**{name: low})),
        _run(rich_profile(), rich_terms(**{name: high})),
    )


@FAST
@given(low=st.floats(0.5, 36), high=st.floats(0.5, 36))
def test_insured_loss_never_falls_with_the_indemnity_period(low: float, high: float) -> None:
    low, high = sorted((low, high))
    _assert_not_above(
        _run(rich_profile(), rich_terms(indemnity_period_months=low)),
        _run(rich_profile(), rich_terms(indemnity_period_months=high)),
    )


relativities = st.floats(min_value=0.05, max_value=20, allow_nan=False)


@FAST
@given(low=relativities, high=relativities)
def test_insured_loss_never_falls_with_a_frequency_relativity(low: float, high: float) -> None:
    low, high = sorted((low, high))
    _assert_not_above(
        _run(rich_profile(frequency_multiplier=low), rich_terms()),
        _run(rich_profile(frequency_multiplier=high), rich_terms()),
    )


@FAST
@given(low=relativities, high=relativities)
def test_insured_loss_never_falls_with_a_severity_relativity(low: float, high: float) -> None:
    low, high = sorted((low, high))
    _assert_not_above(
        _run(rich_profile(severity_scale=low), rich_terms()),
        _run(rich_profile(severity_scale=high), rich_terms()),
    )


# ----------------------------------------------------------------- physical bounds


@pytest.mark.parametrize(
    ("profile", "terms", "engine"),
    [(rich_profile, rich_terms, "numpy"), (reference_profile, reference_terms, "compiled")],
    ids=["numpy", "compiled"],
)
def test_annual_detail_keeps_the_same_annual_losses_and_says_what_it_dropped(
    profile: Any, terms: Any, engine: str
) -> None:
    # detail="annual" is the memory-lean run for very many years (docs/performance.md): the
    # distribution and its metrics are those of the full run, bit for bit.
    full = _run(profile(), terms(), engine=engine)
    lean = _run(profile(), terms(), engine=engine, detail="annual")
    np.testing.assert_array_equal(lean.annual_loss, full.annual_loss)
    assert lean.var_metric(0.995) == full.var_metric(0.995)
    assert lean.annual_ground_up is None
    assert lean.annual_max_occurrence is None
    assert lean.year_loss_table is None
    with pytest.raises(ValueError, match="detail='full'"):
        lean.by_section()
    assert all(point.oep is None for point in lean.ep_curve())
    assert [p.aep for p in lean.ep_curve()] == [p.aep for p in full.ep_curve()]
    assert "no year loss table was kept" in lean.summary()
    assert "OEP" not in lean.summary()
    np.testing.assert_array_equal(
        lean.event_losses(0, 50).insured, full.event_losses(0, 50).insured
    )


def test_annual_detail_refuses_a_year_loss_table() -> None:
    with pytest.raises(ValueError, match="detail='annual' keeps the annual losses only"):
        uw.simulate_many(
            reference_profile(),
            [reference_terms()],
            n_years=10,
            seed=1,
            detail="annual",
            year_loss_tables=True,
        )
    with pytest.raises(ValueError, match="detail must be 'full' or 'annual', got 'all'"):
        _run(reference_profile(), reference_terms(), detail="all")


def test_losses_never_exceed_the_value_at_risk_or_the_ground_up_loss() -> None:
    result = _run(rich_profile(severity_scale=50.0), rich_terms())
    events = result.event_losses()
    caps = rich_profile().value_at_risk
    for section, cap in caps.items():
        column = uw.SECTIONS.index(section)
        assert events.ground_up[:, column].max() <= cap
    assert np.all(events.insured <= events.ground_up + 1e-9)
    assert np.all(events.insured >= 0)
    assert result.annual_ground_up is not None
    assert np.all(result.annual_loss <= result.annual_ground_up + 1e-6)
    assert np.all(events.downtime_days <= 365)


def test_cascades_add_the_child_impacts_to_the_parent_occurrence() -> None:
    with_cascade = _run(rich_profile(), rich_terms()).event_losses()
    profile = rich_profile().model_copy(update={"cascades": ()})
    without = _run(profile, rich_terms()).event_losses()
    explosions = with_cascade.scenario == "explosion"
    spoilage = uw.SECTIONS.index(uw.Section.SPOILAGE)
    # Explosions hit no spoilage on their own: any spoilage there came from a fire they set off.
    assert np.all(without.ground_up[without.scenario == "explosion", spoilage] == 0)
    triggered = np.count_nonzero(with_cascade.downtime_days[explosions] > 0)
    share = triggered / np.count_nonzero(explosions)
    # 40% of explosions set off a fire, of which 70% stop research: about 28% (binomial s.e. ~1.5%).
    assert 0.2 < share < 0.36


def test_the_copula_correlates_two_impacts_by_the_root_of_their_squared_loadings() -> None:
    """The copula gives impact i the normal score sqrt(rho_i) Z + sqrt(1 - rho_i) e_i, so two
    impacts of one event correlate by sqrt(rho_i rho_j), not by either rho."""
    loadings = {"property": 0.9, "liability": 0.8, "pollution": 0.3}
    # LogNormal(0, 1) with no cap: the log of a loss is the impact's normal score itself.
    scenario = uw.Scenario(
        id="copula",
        frequency=uw.Fixed(count=1),
        impacts=[
            uw.SectionImpact(
                section=section,
                severity=uw.LogNormal(mu=0.0, sigma=1.0),
                factor_loading_squared=rho,
            )
            for section, rho in loadings.items()
        ],
    )
    n = 1 << 17
    result = _run(uw.RiskProfile(scenarios=[scenario]), reference_terms(), n_years=n)
    losses = result.event_losses().ground_up
    assert losses.shape[0] == n  # one event a year
    scores = {s: np.log(losses[:, uw.SECTIONS.index(uw.Section(s))]) for s in loadings}
    for first, second in (
        ("property", "liability"),
        ("property", "pollution"),
        ("liability", "pollution"),
    ):
        expected = np.sqrt(loadings[first] * loadings[second])
        # Standard error of a sample correlation of normal pairs: (1 - r^2) / sqrt(n).
        standard_error = (1 - expected**2) / np.sqrt(n)
        sampled = np.corrcoef(scores[first], scores[second])[0, 1]
        assert abs(sampled - expected) < 4 * standard_error, (first, second, sampled, expected)
        # Reading either loading as the pair's correlation would be off by many errors.
        for rho in (loadings[first], loadings[second]):
            assert abs(sampled - rho) > 20 * standard_error, (first, second, sampled, rho)


def test_bad_arguments_are_refused_with_the_allowed_range() -> None:
    with pytest.raises(ValueError, match="n_years must be an integer"):
        uw.simulate(reference_profile(), reference_terms(), n_years=0, seed=1)
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*128\)"):
        uw.simulate(reference_profile(), reference_terms(), n_years=10, seed=-1)
    with pytest.raises(ValueError, match="block_size"):
        uw.simulate(reference_profile(), reference_terms(), n_years=10, seed=1, block_size=0)


def test_years_above_the_cap_are_a_simulation_limit_like_too_many_events() -> None:
    max_years = 1_000_000_000  # the engine's cap
    profile, terms = reference_profile(), reference_terms()
    with pytest.raises(uw.SimulationLimitError, match=r"\[1, 1,000,000,000\]"):
        uw.simulate(profile, terms, n_years=max_years + 1, seed=1)
    with pytest.raises(uw.SimulationLimitError, match="events"):
        uw.simulate(profile, terms, n_years=1_000, seed=1, max_events=10)
    with pytest.raises(uw.SimulationLimitError, match="n_years"):
        uw.simulate_many(profile, [terms], n_years=max_years + 1, seed=1)
    # Not a number of years at all: still a ValueError.
    with pytest.raises(ValueError, match="n_years must be an integer") as raised:
        uw.simulate(profile, terms, n_years=0, seed=1)
    assert not isinstance(raised.value, uw.UnderwritingError)


def test_without_a_seed_the_entropy_is_recorded_and_replays() -> None:
    first = uw.simulate(reference_profile(), reference_terms(), n_years=1_000)
    again = uw.simulate(reference_profile(), reference_terms(), n_years=1_000, seed=first.seed)
    np.testing.assert_array_equal(first.annual_loss, again.annual_loss)


@FAST
@given(rows=st.lists(st.integers(0, 300), min_size=1, max_size=12))
def test_the_year_loss_table_is_filled_block_by_block_as_if_joined(rows: list[int]) -> None:
    # Blocks with any number of rows, the first possibly empty or much smaller than the others
    # (the builder then grows): the table is the blocks' rows in order, as a join would give.
    generator = np.random.default_rng(len(rows))
    blocks = [
        uw.YearLossTable(
            year=generator.integers(0, 10**6, n).astype(np.int32),
            scenario=generator.integers(0, 50, n).astype(np.int16),
            section=generator.integers(0, 7, n).astype(np.int8),
            ground_up=generator.random(n),
            insured=generator.random(n),
        )
        for n in rows
    ]
    builder = YearLossTableBuilder(n_years=100 * len(rows))
    for block in blocks:
        builder.append(block, 100)
    built, joined = builder.build(), uw.YearLossTable.concatenate(blocks)
    for name in ("year", "scenario", "section", "ground_up", "insured"):
        np.testing.assert_array_equal(getattr(built, name), getattr(joined, name))
        assert getattr(built, name).dtype == getattr(joined, name).dtype


def test_largest_occurrence_kept_only_where_asked() -> None:
    profile, terms = reference_profile(), reference_terms()
    low = terms.model_copy(update={"aggregate_limit": 200_000.0})
    kept, dropped = uw.simulate_many(
        profile, [terms, low], n_years=3_000, seed=4, max_occurrence=[True, False]
    )
    both = uw.simulate_many(profile, [terms, low], n_years=3_000, seed=4)
    assert dropped.annual_max_occurrence is None
    assert kept.annual_max_occurrence is not None
    assert both[0].annual_max_occurrence is not None
    assert np.array_equal(kept.annual_max_occurrence, both[0].annual_max_occurrence)
    assert np.array_equal(dropped.annual_loss, both[1].annual_loss)
    assert dropped.ep_curve()[0].oep is None
    with pytest.raises(ValueError, match="max_occurrence has 1 entries for 2 term sets"):
        uw.simulate_many(profile, [terms, low], n_years=10, seed=4, max_occurrence=[True])
    with pytest.raises(ValueError, match=r"detail='annual'.*no largest occurrence"):
        uw.simulate_many(profile, [terms], n_years=10, seed=4, detail="annual", max_occurrence=True)


def test_a_run_in_stages_is_the_run_of_its_final_years() -> None:
    """``simulate_many_until`` extends a run stage by stage (years follow years, nothing drawn
    twice): every result equals ``simulate_many``'s with the final years, bit for bit, and the
    term sets not carried past the first stage equal a run of the first stage's years."""
    profile, terms = reference_profile(), reference_terms()
    other = terms.model_copy(update={"aggregate_limit": 400_000.0})
    asked: list[int] = []

    def needed(annual: np.ndarray, controls: np.ndarray | None) -> int:
        asked.append(annual.size)
        assert controls is not None
        assert controls.shape == (3, annual.size)
        return {3_000: 7_500, 7_500: 9_000}[annual.size]

    staged = uw.engine.simulate_many_until(
        profile, [terms, other], first_years=3_000, max_years=20_000, needed=needed, seed=11,
        controls=True, carried=1,
    )  # fmt: skip
    assert asked == [3_000, 7_500]  # at most three stages: the third's years are not re-checked
    whole = uw.simulate_many(profile, [terms, other], n_years=9_000, seed=11, controls=True)
    first = uw.simulate_many(profile, [terms, other], n_years=3_000, seed=11)
    assert staged[0].n_years == 9_000
    assert staged[1].n_years == 3_000
    np.testing.assert_array_equal(staged[0].annual_loss, whole[0].annual_loss)
    np.testing.assert_array_equal(staged[0].controls, whole[0].controls)
    np.testing.assert_array_equal(staged[0].annual_max_occurrence, whole[0].annual_max_occurrence)
    np.testing.assert_array_equal(staged[1].annual_loss, first[1].annual_loss)
    a, b = staged[0].year_loss_table, whole[0].year_loss_table
    assert a is not None
    assert b is not None
    for column in ("year", "scenario", "section", "ground_up", "insured"):
        np.testing.assert_array_equal(getattr(a, column), getattr(b, column))


def test_a_run_in_stages_stops_at_its_cap_and_when_satisfied() -> None:
    profile, terms = reference_profile(), reference_terms()
    capped = uw.engine.simulate_many_until(
        profile, [terms], first_years=2_000, max_years=5_000, needed=lambda a, c: 10**9, seed=1
    )
    assert capped[0].n_years == 5_000
    done = uw.engine.simulate_many_until(
        profile, [terms], first_years=2_000, max_years=5_000, needed=lambda a, c: 100, seed=1
    )
    assert done[0].n_years == 2_000
