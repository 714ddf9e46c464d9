"""The compiled kernel against the NumPy engine, its reference.

Both engines draw the same uniforms, so counts, hits and triggers are identical and amounts agree
to rounding: the kernel's normal quantile is AS241 and its ``ndtr`` is libm's ``erfc``, where the
NumPy engine uses scipy's Cephes routines. Agreement is required to 1e-9 relative. The
simulation's properties (reproducible, independent of the block size, stable streams, monotone
terms) are checked on the compiled engine itself.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from conftest import reference_profile, reference_terms, rich_terms
from hypothesis import given, settings
from hypothesis import strategies as st

import underwriting as uw
from underwriting.engine import (
    StreamKey,
    _compiled,
    _plan,
    _threads,
    choose_engine,
    event_loss_table,
    simulate_block_events,
    stream_keys,
)
from underwriting.rating import rate_experience
from underwriting.request import QuoteRequest
from underwriting.terms import annual_insured

pytestmark = pytest.mark.skipif(not _compiled.switched_on(), reason="numba is not installed here")

ROOT = pathlib.Path(__file__).resolve().parents[2]
YEARS = 4_000
FAST = settings(max_examples=15, deadline=None, derandomize=True)


def compiled_profile(frequency_multiplier: float = 1.0) -> uw.RiskProfile:
    """Every feature the kernel evaluates: negative binomial and fixed counts, damage ratios,
    downtime, partial hits, partial and zero correlation, lognormal, lognormal-GPD (with xi 0 and
    above) and Pareto severities, a cascade with a downtime child, and value-at-risk caps."""
    m = frequency_multiplier
    fire = uw.Scenario(
        id="fire",
        frequency=uw.NegativeBinomial(rate=0.8 * m, rate_cv=0.5),
        impacts=[
            uw.SectionImpact(
                section="property",
                basis="damage_ratio",
                value=5e6,
                severity=uw.LogNormal.from_median_p95(0.02, 0.4),
            ),
            uw.SectionImpact(
                section="research_interruption",
                basis="downtime_days",
                value=3_000.0,
                max_days=365,
                severity=uw.LogNormal.from_median_p95(20, 200),
                probability=0.7,
                factor_loading_squared=0.6,
            ),
            uw.SectionImpact(
                section="spoilage",
                basis="damage_ratio",
                value=1e6,
                severity=uw.LogNormalGPD.from_median_p95(0.05, 0.6, threshold=0.5, xi=0.0),
                probability=0.3,
                factor_loading_squared=0.0,
            ),
        ],
    )
    explosion = uw.Scenario(
        id="explosion",
        frequency=uw.Poisson(rate=0.3 * m),
        impacts=[
            uw.SectionImpact(
                section="property",
                severity=uw.LogNormalGPD.from_median_p95(3e5, 5e6, threshold=2e6, xi=0.5),
            ),
            uw.SectionImpact(
                section="employee_injury",
                severity=uw.Pareto(alpha=1.8, scale=50_000),
                probability=0.5,
                factor_loading_squared=0.5,
            ),
            uw.SectionImpact(
                section="liability",
                severity=uw.LogNormal.from_median_p95(1e5, 2e6),
                probability=0.2,
                factor_loading_squared=0.3,
                severity_scale=1.5,
            ),
        ],
    )
    injury = uw.Scenario(
        id="injury",
        frequency=uw.Poisson(rate=1.0 * m),
        impacts=[
            uw.SectionImpact(
                section="employee_injury", severity=uw.LogNormal.from_median_p95(8_000, 60_000)
            )
        ],
    )
    forced = uw.Scenario(
        id="forced",
        frequency=uw.Fixed(count=1),
        impacts=[
            uw.SectionImpact(
                section="equipment_breakdown", severity=uw.LogNormal(mu=8.0, sigma=1.0)
            )
        ],
    )
    return uw.RiskProfile(
        scenarios=[fire, explosion, injury, forced],
        cascades=[uw.Cascade(parent="explosion", child="fire", probability=0.4)],
        value_at_risk={"property": 5e6, "spoilage": 1e6, "research_interruption": 3_000.0 * 365},
    )


def term_variants() -> list[uw.PolicyTerms]:
    """Every step of the terms: amounts, franchises, percentages with bounds, limits as amounts
    and as shares of the loss, section and policy aggregates, time terms and the share."""
    return [
        rich_terms(),
        rich_terms(share=1.0, aggregate_limit=2e6, property_aggregate_limit=1e6),
        uw.PolicyTerms(
            sections={
                "property": uw.SectionTerms(deductible=50_000, franchise=True),
                "equipment_breakdown": uw.SectionTerms(
                    deductible_percent_of_loss=0.2, deductible_minimum=500
                ),
                "employee_injury": uw.SectionTerms(limit_percent_of_loss=0.5, limit=2e5),
                "research_interruption": uw.SectionTerms(waiting_period_days=10),
                "liability": uw.SectionTerms(aggregate_limit=3e5),
            },
            aggregate_deductible=20_000,
        ),
        uw.PolicyTerms(sections={"spoilage": uw.SectionTerms()}),
    ]


def _example_profile(name: str) -> tuple[uw.RiskProfile, uw.PolicyTerms]:
    request = QuoteRequest.model_validate_json((ROOT / "examples" / f"{name}.json").read_text())
    tables = uw.load_rating_tables()
    base = uw.RiskProfile.from_submission(request.submission, tables)
    experience = rate_experience(request.submission, base, tables.pricing.experience)
    return experience.apply(base), request.terms


def _sorted_table(
    result: uw.SimulationResult,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    table = result.year_loss_table
    assert table is not None
    order = np.lexsort((table.section, table.scenario, table.year))
    return np.column_stack([table.year[order], table.scenario[order], table.section[order]]).astype(
        np.int64
    ), np.column_stack([table.ground_up[order], table.insured[order]])


def assert_engines_agree(
    profile: uw.RiskProfile, terms: list[uw.PolicyTerms], n_years: int = YEARS, seed: int = 7
) -> None:
    keep = [index % 2 == 0 for index in range(len(terms))]
    options: dict[str, Any] = {
        "n_years": n_years,
        "seed": seed,
        "year_loss_tables": keep,
        "controls": True,
    }
    numpy = uw.simulate_many(profile, terms, engine="numpy", **options)
    compiled = uw.simulate_many(profile, terms, engine="compiled", **options)
    # The control variates' controls (the first terms' per-occurrence payments, impact by
    # impact) are the same in both engines; the other results keep none.
    assert numpy[0].controls is not None
    assert compiled[0].controls is not None
    np.testing.assert_allclose(compiled[0].controls, numpy[0].controls, rtol=1e-9, atol=1e-6)
    assert numpy[0].controls[0].sum() > 0
    assert all(r.controls is None for r in (*numpy[1:], *compiled[1:]))
    for a, b, kept in zip(numpy, compiled, keep, strict=True):
        np.testing.assert_allclose(b.annual_loss, a.annual_loss, rtol=1e-9, atol=1e-6)
        assert a.annual_ground_up is not None
        assert b.annual_ground_up is not None
        np.testing.assert_allclose(b.annual_ground_up, a.annual_ground_up, rtol=1e-9, atol=1e-6)
        assert a.annual_max_occurrence is not None
        assert b.annual_max_occurrence is not None
        np.testing.assert_allclose(
            b.annual_max_occurrence, a.annual_max_occurrence, rtol=1e-9, atol=1e-6
        )
        if kept:
            rows_a, amounts_a = _sorted_table(a)
            rows_b, amounts_b = _sorted_table(b)
            np.testing.assert_array_equal(rows_b, rows_a)  # the same rows: the same events
            np.testing.assert_allclose(amounts_b, amounts_a, rtol=1e-9, atol=1e-6)


def test_the_engines_agree_on_every_feature_and_term() -> None:
    assert_engines_agree(compiled_profile(), term_variants())


@pytest.mark.parametrize("lab", ["physics_low_hazard", "chemistry_high_hazard", "bsl3_biobank"])
def test_the_engines_agree_on_the_example_labs(lab: str) -> None:
    profile, terms = _example_profile(lab)
    assert_engines_agree(profile, [terms, rich_terms()], n_years=20_000, seed=2026)


@pytest.mark.parametrize("dense", [False, True], ids=["mostly-quiet-years", "busy-years"])
def test_the_engines_agree_past_the_64_scenarios_of_the_first_pass(dense: bool) -> None:
    # The kernel's first pass keeps one bit per scenario and folds scenarios 64 and up into bit
    # 63; where most years have events it skips the pass. Either way no event may be lost.
    # In all, 0.59 events a year (55% of years quiet: the first pass runs) or 3.5 (3%: skipped).
    rates = [0.005 + 0.0001 * n for n in range(70)] if not dense else [0.05] * 70
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id=f"peril_{n}",
                frequency=uw.Poisson(rate=rate),
                severity=uw.LogNormal(mu=9.0 + n % 3, sigma=1.0),
                section="property",
            )
            for n, rate in enumerate(rates)
        ]
    )
    assert_engines_agree(profile, [reference_terms()], n_years=3_000)
    compiled = uw.simulate(profile, reference_terms(), n_years=3_000, seed=7, engine="compiled")
    assert compiled.year_loss_table is not None
    assert set(compiled.year_loss_table.scenario.tolist()) >= {63, 64, 69}


def test_the_engines_agree_on_a_portfolio_with_shared_site_events() -> None:
    requests = [
        QuoteRequest.model_validate_json(p.read_text())
        for p in sorted((ROOT / "examples").glob("*.json"))
    ]
    portfolio = uw.Portfolio(requests).on_one_site("SITE-1")
    keys: dict[str, StreamKey] = {}
    for lab in portfolio.labs:
        keys.update(stream_keys(lab.profile, 5))
    thinned = [s for lab in portfolio.labs for s in lab.profile.scenarios if s.occurrence]
    assert any(s.frequency.mean < s.occurrence.rate for s in thinned if s.occurrence)
    for lab in portfolio.labs:
        compiled = choose_engine(lab.profile, keys, [lab.terms], "auto").annual(1_000, 5_000)
        assert_engines_agree(lab.profile, [lab.terms], n_years=3_000, seed=5)
        events = simulate_block_events(lab.profile, keys, 1_000, 5_000)
        numpy, _ = annual_insured(event_loss_table(events, 5_000), lab.terms)
        np.testing.assert_allclose(compiled, numpy, rtol=1e-9, atol=1e-6)


@FAST
@given(
    deductible=st.floats(0, 1e6),
    limit=st.floats(0, 1e7),
    percent=st.floats(0, 1),
    franchise=st.booleans(),
    waiting=st.floats(0, 400),
    months=st.floats(0.5, 36),
    aggregate=st.floats(0, 2e7),
    share=st.floats(0.01, 1),
)
def test_the_engines_agree_on_any_terms(
    deductible: float,
    limit: float,
    percent: float,
    franchise: bool,
    waiting: float,
    months: float,
    aggregate: float,
    share: float,
) -> None:
    terms = uw.PolicyTerms(
        sections={
            "property": uw.SectionTerms(deductible=deductible, limit=limit, franchise=franchise),
            "research_interruption": uw.SectionTerms(
                waiting_period_days=waiting, indemnity_period_months=months
            ),
            "spoilage": uw.SectionTerms(
                deductible_percent_of_loss=percent, limit_percent_of_loss=1 - percent / 2
            ),
            "employee_injury": uw.SectionTerms(aggregate_limit=aggregate),
            "liability": uw.SectionTerms(),
            "equipment_breakdown": uw.SectionTerms(deductible=deductible / 10),
        },
        aggregate_limit=aggregate,
        share=share,
    )
    assert_engines_agree(compiled_profile(), [terms], n_years=1_500)


# ------------------------------------------------------------ the properties of a simulation


def _run(**kwargs: Any) -> uw.SimulationResult:
    options: dict[str, Any] = {"n_years": YEARS, "seed": 2026, "engine": "compiled", **kwargs}
    profile = options.pop("profile", compiled_profile())
    return uw.simulate_many(profile, [rich_terms()], controls=True, **options)[0]


@FAST
@given(block_size=st.integers(min_value=1, max_value=YEARS + 10))
def test_compiled_results_do_not_depend_on_the_block_size(block_size: int) -> None:
    reference = _run()
    cut = _run(block_size=block_size)
    np.testing.assert_array_equal(reference.annual_loss, cut.annual_loss)
    np.testing.assert_array_equal(reference.controls, cut.controls)
    np.testing.assert_array_equal(reference.annual_ground_up, cut.annual_ground_up)
    np.testing.assert_array_equal(reference.annual_max_occurrence, cut.annual_max_occurrence)
    a, b = reference.year_loss_table, cut.year_loss_table
    assert a is not None
    assert b is not None
    for column in ("year", "scenario", "section", "ground_up", "insured"):
        np.testing.assert_array_equal(getattr(a, column), getattr(b, column))


@pytest.mark.parametrize("count", ["2", "3"])
def test_compiled_results_do_not_depend_on_the_threads(
    count: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UW_THREADS", "1")
    one = _run(n_years=30_000)
    monkeypatch.setenv("UW_THREADS", count)
    assert _threads.threads() == int(count)
    many = _run(n_years=30_000)
    np.testing.assert_array_equal(one.annual_loss, many.annual_loss)
    np.testing.assert_array_equal(one.controls, many.controls)
    np.testing.assert_array_equal(one.annual_max_occurrence, many.annual_max_occurrence)
    a, b = one.year_loss_table, many.year_loss_table
    assert a is not None
    assert b is not None
    for column in ("year", "scenario", "section", "ground_up", "insured"):
        np.testing.assert_array_equal(getattr(a, column), getattr(b, column))


def test_a_bad_thread_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UW_THREADS", "zero")
    with pytest.raises(ValueError, match="UW_THREADS must be a positive integer, got 'zero'"):
        _threads.threads()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    p_any=st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 2.0**-54, 2.0**-53, 0.5, 1.0])),
    offset=st.integers(-3, 3),
)
def test_the_integer_count_test_is_the_uniform_test(p_any: float, offset: int) -> None:
    # The kernel decides "no event this year" on the count uniform's 53-bit hash word; it must
    # say so for exactly the words whose uniform (randomness.uniforms_from_states) is above
    # P(N > 0), including the words either side of the threshold.
    threshold = _plan.count_threshold(p_any)
    word = min(max(threshold + offset, 0), 2**53 - 1)
    uniform = (np.float64(word) + 0.5) * 2.0**-53  # randomness.uniforms_from_states
    assert (word <= threshold) == (uniform <= p_any)


def test_compiled_results_are_reproducible_and_keep_stable_streams() -> None:
    np.testing.assert_array_equal(_run().annual_loss, _run().annual_loss)
    base = compiled_profile()
    extra = uw.Scenario(
        id="flood",
        frequency=uw.Poisson(rate=0.5),
        severity=uw.LogNormal(mu=9, sigma=1),
        section="property",
    )
    grown = base.model_copy(update={"scenarios": (extra, *base.scenarios)})
    before, after = _run(profile=base), _run(profile=grown)
    for name in ("fire", "explosion", "injury", "forced"):
        # Ground-up losses come from the scenario's own stream only (insured ones also depend on
        # the other scenarios through the annual aggregates).
        assert before.by_scenario()[name].mean_ground_up == after.by_scenario()[name].mean_ground_up
        a, b = before.year_loss_table, after.year_loss_table
        assert a is not None
        assert b is not None
        mine_a = a.scenario == [s.id for s in base.scenarios].index(name)
        mine_b = b.scenario == [s.id for s in grown.scenarios].index(name)
        np.testing.assert_array_equal(a.year[mine_a], b.year[mine_b])
        np.testing.assert_array_equal(a.ground_up[mine_a], b.ground_up[mine_b])
    assert after.by_scenario()["flood"].mean_ground_up > 0


@FAST
@given(low=st.floats(0, 2e5), high=st.floats(0, 2e5))
def test_compiled_insured_loss_never_rises_with_a_deductible(low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    a, b = uw.simulate_many(
        compiled_profile(),
        [rich_terms(property_deductible=low), rich_terms(property_deductible=high)],
        n_years=2_000,
        seed=3,
        engine="compiled",
    )
    assert np.all(b.annual_loss <= a.annual_loss)


@FAST
@given(low=st.floats(0.5, 2.0), high=st.floats(0.5, 2.0))
def test_compiled_insured_loss_never_falls_with_the_frequency(low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    a = uw.simulate(compiled_profile(low), rich_terms(), n_years=2_000, seed=3, engine="compiled")
    b = uw.simulate(compiled_profile(high), rich_terms(), n_years=2_000, seed=3, engine="compiled")
    assert np.all(b.annual_loss >= a.annual_loss)


# ----------------------------------------------------------------- where the kernel cannot run


def test_a_gamma_severity_runs_on_the_numpy_engine() -> None:
    gamma = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="injury",
                frequency=uw.Poisson(rate=1.0),
                severity=uw.Gamma(shape=0.8, scale=20_000),
                section="employee_injury",
            )
        ]
    )
    terms = uw.PolicyTerms(sections={"employee_injury": uw.SectionTerms(deductible=1_000)})
    auto = uw.simulate(gamma, terms, n_years=1_000, seed=1)
    numpy = uw.simulate(gamma, terms, n_years=1_000, seed=1, engine="numpy")
    np.testing.assert_array_equal(auto.annual_loss, numpy.annual_loss)
    with pytest.raises(ValueError, match="closed-form quantiles"):
        uw.simulate(gamma, terms, n_years=1_000, seed=1, engine="compiled")
    with pytest.raises(ValueError, match="engine must be 'auto', 'compiled' or 'numpy'"):
        uw.simulate(gamma, terms, n_years=10, seed=1, engine="fast")  # type: ignore[arg-type]


def test_uw_engine_numpy_switches_the_kernel_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UW_ENGINE", "numpy")
    assert not _compiled.switched_on()
    with pytest.raises(ValueError, match="UW_ENGINE=numpy"):
        uw.simulate(reference_profile(), reference_terms(), n_years=10, seed=1, engine="compiled")


def test_the_package_works_without_numba(tmp_path: pathlib.Path) -> None:
    # numba made unimportable in a fresh interpreter: the NumPy engine runs, same results.
    script = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np, underwriting as uw\n"
        "sys.path.insert(0, 'tests')\n"
        "from conftest import reference_profile, reference_terms\n"
        "from underwriting.engine import _compiled\n"
        "assert not _compiled.switched_on()\n"
        "r = uw.simulate(reference_profile(), reference_terms(), n_years=5_000, seed=9)\n"
        "np.save(sys.argv[1], r.annual_loss)\n"
    )
    path = tmp_path / "annual.npy"
    subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, check=True)
    without = np.load(path)
    compiled = uw.simulate(
        reference_profile(), reference_terms(), n_years=5_000, seed=9, engine="compiled"
    )
    np.testing.assert_allclose(compiled.annual_loss, without, rtol=1e-9, atol=1e-6)


def test_threads_asking_for_the_kernel_at_once_all_get_it() -> None:
    # A server's worker threads may run the first simulations together: one compiles (or loads
    # the cached kernel), the others wait, and every run succeeds with the same numbers.
    script = (
        "import sys, threading, numpy as np, underwriting as uw\n"
        "sys.path.insert(0, 'tests')\n"
        "from conftest import reference_profile, reference_terms\n"
        "results, errors = [], []\n"
        "def run():\n"
        "    try:\n"
        "        result = uw.simulate(reference_profile(), reference_terms(),\n"
        "                             n_years=2_000, seed=4, engine='compiled')\n"
        "        results.append(result.annual_loss)\n"
        "    except Exception as error:\n"
        "        errors.append(repr(error))\n"
        "threads = [threading.Thread(target=run) for _ in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "assert not errors, errors\n"
        "assert len(results) == 4 and all(np.array_equal(r, results[0]) for r in results)\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)


def test_cascades_are_limited_to_what_their_draw_dimensions_allow() -> None:
    # Each cascade keys its child's draws at 1000 * (number + 1) + 2 * section + 2 < 2**16.
    top = uw.rating.MAX_CASCADES - 1
    assert 1_000 * (top + 1) + 2 * (len(uw.SECTIONS) - 1) + 2 < 2**16 <= 1_000 * (top + 2)
    parent = uw.Scenario(
        id="parent",
        frequency=uw.Poisson(rate=0.5),
        severity=uw.LogNormal(mu=9, sigma=1),
        section="property",
    )
    child = uw.Scenario(
        id="child",
        frequency=uw.Poisson(rate=0.1),
        severity=uw.LogNormal(mu=8, sigma=1),
        section="liability",
    )
    cascade = uw.Cascade(parent="parent", child="child", probability=0.5)
    uw.RiskProfile(scenarios=[parent, child], cascades=[cascade] * uw.rating.MAX_CASCADES)
    with pytest.raises(ValueError, match="cascades"):
        uw.RiskProfile(scenarios=[parent, child], cascades=[cascade] * (uw.rating.MAX_CASCADES + 1))


def test_a_fixed_count_cannot_share_occurrences_at_another_rate() -> None:
    with pytest.raises(ValueError, match="fixed count of 1 events cannot share occurrences"):
        uw.Scenario(
            id="forced",
            frequency=uw.Fixed(count=1),
            severity=uw.LogNormal(mu=8, sigma=1),
            section="property",
            occurrence=uw.SharedOccurrence(stream="site", rate=2.0),
        )


def test_a_portfolio_takes_the_engine_it_is_given() -> None:
    requests = [
        QuoteRequest.model_validate_json(p.read_text())
        for p in sorted((ROOT / "examples").glob("*.json"))
    ]
    portfolio = uw.Portfolio(requests)
    compiled = uw.simulate_portfolio(portfolio, n_years=3_000, seed=8, engine="compiled")
    numpy = uw.simulate_portfolio(portfolio, n_years=3_000, seed=8, engine="numpy")
    assert not np.array_equal(compiled.annual_loss, numpy.annual_loss)  # two engines ran
    np.testing.assert_allclose(compiled.annual_loss, numpy.annual_loss, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(compiled.lab_tail_means, numpy.lab_tail_means, rtol=1e-9)


def test_warm_up_leaves_nothing_for_the_first_run_to_compile() -> None:
    # A server calls uw.warm_up() at start-up so that no quote waits for the compiler (10-25 s
    # without numba's cache): afterwards a run, and a quote's book weights, add no compiled
    # signature. A fresh interpreter, since this session has run the kernel already.
    script = (
        "import sys, underwriting as uw\n"
        "sys.path.insert(0, 'tests')\n"
        "from conftest import reference_profile, reference_terms\n"
        "from underwriting.engine import _year_loop\n"
        "assert uw.warm_up()\n"
        "ready = len(_year_loop.compiled().signatures)\n"
        "uw.simulate(reference_profile(), reference_terms(), n_years=100, seed=1,\n"
        "            engine='compiled')\n"
        "uw.simulate_many(reference_profile(), [reference_terms()] * 3, n_years=100, seed=1,\n"
        "                 year_loss_tables=[True, False, True], engine='compiled')\n"
        "loop = _year_loop.compiled()\n"
        "assert ready == 1 == len(loop.signatures), loop.signatures\n"
        "from underwriting.pricing import _weights\n"
        "weighed = len(_weights.compiled_weigh().signatures)\n"
        "uw.quote(uw.QuoteRequest.model_validate_json(\n"
        "    open('examples/physics_low_hazard.json').read()))\n"
        "assert weighed == 2 == len(_weights.compiled_weigh().signatures)\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)


def test_the_year_loop_records_the_sources_it_inlines() -> None:
    """numba's cache of the loop watches only its own file: when a function or constant it
    takes in from another file changes, the digest in ``_year_loop`` must be updated too (which
    changes that file, so the loop is compiled afresh instead of running stale cached code)."""
    import hashlib

    from underwriting.engine import _year_loop

    package = pathlib.Path(uw.__file__).resolve().parent
    sources = b"".join((package / name).read_bytes() for name in _year_loop.INLINED_SOURCES)
    assert hashlib.sha256(sources).hexdigest() == _year_loop.INLINED_SOURCES_SHA256, (
        "a source the compiled year loop inlines has changed: set INLINED_SOURCES_SHA256 in "
        "underwriting/engine/_year_loop.py to the new digest"
    )
