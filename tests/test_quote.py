"""``uw.quote``: options on common random numbers, precision, provenance, replay, golden quotes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import underwriting as uw
from underwriting.rating import RelativityRow

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = ("physics_low_hazard", "chemistry_high_hazard", "bsl3_biobank")
WHEN = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
YEARS = 20_000
FAST = settings(max_examples=15, deadline=None, derandomize=True)
# The module, not the function ``uw.quote`` that shares its name.
quote_module = importlib.import_module("underwriting.quote")


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((ROOT / "examples" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.2")


def _with_property(terms: uw.PolicyTerms, **changes: Any) -> uw.PolicyTerms:
    section = terms.sections[uw.Section.PROPERTY]
    updated = uw.SectionTerms.model_validate({**section.model_dump(), **changes})
    return terms.model_copy(update={"sections": {**terms.sections, uw.Section.PROPERTY: updated}})


# ----------------------------------------------------------------- options, one call


def test_an_option_equal_to_the_terms_prices_identically(tables: uw.RatingTables) -> None:
    request = _request("physics_low_hazard")
    q = uw.quote(
        request.submission, request.terms, tables=tables, options=[request.terms], n_years=YEARS
    )
    assert q.options[0].premium == q.premium
    assert q.options[0].label == "option 1"
    assert q.options[0].decision == q.decision
    assert q.options[0].difference == 0
    assert q.options[0].difference_standard_error == 0


def test_each_option_is_decided_by_the_rules_and_compared_on_the_same_events(
    tables: uw.RatingTables,
) -> None:
    request = _request("physics_low_hazard")
    breakdown = request.terms.sections[uw.Section.EQUIPMENT_BREAKDOWN]
    higher = breakdown.model_copy(update={"deductible": 200_000.0})
    options = [
        request.terms.model_copy(
            update={"sections": {**request.terms.sections, uw.Section.EQUIPMENT_BREAKDOWN: higher}}
        ),
        # An aggregate limit a bad year uses up: R04 refers this option, not the terms asked.
        request.terms.model_copy(update={"aggregate_limit": 50_000.0}),
    ]
    labelled = request.model_copy(
        update={"options": tuple(options), "option_labels": ("EB deductible 200k",)}
    )
    q = uw.quote(
        request.submission,
        request.terms,
        tables=tables,
        options=labelled.options,
        labels=labelled.option_labels,
        n_years=YEARS,
    )
    deductible, capped = q.options
    assert (deductible.label, capped.label) == ("EB deductible 200k", "option 2")
    assert q.decision.outcome == "quoted"
    assert deductible.decision.outcome == "quoted"
    assert capped.decision.outcome == "referred"
    assert [r.code for r in capped.decision.reasons] == ["R04_AGGREGATE_LIKELY_EXHAUSTED"]
    # The difference is the options' technical premiums apart; on the same events its error is
    # a small part of either premium's own.
    assert deductible.difference == deductible.premium.technical - q.premium.technical
    assert deductible.difference < -3 * deductible.difference_standard_error
    assert deductible.difference_standard_error < 0.2 * q.premium.standard_error
    assert capped.difference < 0


@pytest.mark.parametrize("version", ["2026.2", "2026.6"])
def test_options_priced_the_same_whatever_the_passes(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Options are simulated in passes of bounded memory: one option a pass or all in one give
    # the same quote, option by option, and (on one sample, 2026.2) each option the premium of
    # its own quote. With stratified years (2026.6) the first pass runs early, in the own run's
    # thread beside the strata, and the later passes after: the same quote either way.
    tables = uw.load_rating_tables(version)
    stratified = tables.pricing.precision.stratify_below is not None
    request = _request("chemistry_high_hazard")
    options = [
        request.terms.model_copy(update={"aggregate_limit": limit})
        for limit in (5_000_000.0, 20_000_000.0, None)
    ]

    def priced(budget: int) -> dict[str, Any]:
        monkeypatch.setattr(quote_module, "OPTION_PASS_BYTES", budget)
        q = uw.quote(
            request.submission,
            request.terms,
            tables=tables,
            options=options,
            n_years=None if stratified else YEARS,
            created_at=WHEN,
        )
        assert (q.stratified is not None) == stratified
        return q.to_dict()

    one_a_pass, all_at_once = priced(1), priced(2**40)
    assert one_a_pass == all_at_once
    if stratified:
        return  # each option is priced with the terms' control variates, not its own
    alone = uw.quote(request.submission, options[1], tables=tables, n_years=YEARS, created_at=WHEN)
    assert one_a_pass["options"][1]["premium"] == alone.to_dict()["premium"]


def test_a_quote_of_many_passes_holds_one_pass_of_options_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The options' first pass of a stratified quote runs early, beside the strata; its arrays
    # must still go once its options are priced, as every later pass's do, so that a quote's
    # memory stays bounded whatever its number of options.
    import weakref

    request = _request("physics_low_hazard")
    options = [
        request.terms.model_copy(update={"aggregate_limit": 1e6 * (k + 2)}) for k in range(4)
    ]
    monkeypatch.setattr(quote_module, "OPTION_PASS_BYTES", 1)  # one option a pass
    early: list[weakref.ref[Any]] = []
    held_later: list[bool] = []
    first_pass, later_pass = quote_module._first_option_pass, quote_module._option_pass

    def first(*args: Any) -> Any:
        results = first_pass(*args)
        early.append(weakref.ref(results[0]))
        return results

    def later(*args: Any) -> Any:
        if early:
            held_later.append(early[0]() is not None)
        return later_pass(*args)

    monkeypatch.setattr(quote_module, "_first_option_pass", first)
    monkeypatch.setattr(quote_module, "_option_pass", later)
    q = uw.quote(request.submission, request.terms, options=options, created_at=WHEN)
    assert q.stratified is not None
    assert early
    assert held_later == [False, False, False]


def test_option_labels_name_options_only(tables: uw.RatingTables) -> None:
    data = _request("physics_low_hazard").model_dump(mode="json")
    assert "option_labels" not in data  # a request without labels reads as before they existed
    data["options"] = [data["terms"], data["terms"]]
    for labels, message in (
        (["a", "b", "c"], "3 labels for 2 options"),
        (["same", "same"], "each option needs its own label"),
        (["option 2"], "each option needs its own label"),
        ([" "], "option_labels.0"),
    ):
        with pytest.raises(ValidationError, match=message):
            uw.QuoteRequest.model_validate({**data, "option_labels": labels})
    labelled = uw.QuoteRequest.model_validate({**data, "option_labels": ["dearer"]})
    assert labelled.model_dump(mode="json")["option_labels"] == ["dearer"]


@FAST
@given(low=st.floats(0, 2e6), high=st.floats(0, 2e6))
def test_options_never_cost_more_with_a_higher_deductible(low: float, high: float) -> None:
    low, high = sorted((low, high))
    request = _request("physics_low_hazard")
    base = request.terms.model_copy(
        update={
            "sections": {
                **request.terms.sections,
                uw.Section.PROPERTY: uw.SectionTerms(deductible=0, limit=5e6),
            }
        }
    )
    q = uw.quote(
        request.submission,
        base,
        options=[_with_property(base, deductible=low), _with_property(base, deductible=high)],
        n_years=YEARS,
    )
    cheap, dear = q.options[1].premium, q.options[0].premium
    assert cheap.total <= dear.total
    assert cheap.technical <= dear.technical
    assert dear.total <= q.premium.total


@FAST
@given(low=st.floats(2e4, 2e7), high=st.floats(2e4, 2e7), name=st.sampled_from(["limit", "agg"]))
def test_options_never_cost_less_with_a_higher_limit(low: float, high: float, name: str) -> None:
    # from 20,000: the chemistry lab's property deductible minimum (a limit below it is refused)
    low, high = sorted((low, high))
    request = _request("chemistry_high_hazard")
    if name == "limit":
        options = [_with_property(request.terms, limit=v) for v in (low, high)]
    else:
        options = [request.terms.model_copy(update={"aggregate_limit": v}) for v in (low, high)]
    q = uw.quote(request.submission, request.terms, options=options, n_years=YEARS)
    assert q.options[0].premium.technical <= q.options[1].premium.technical
    assert q.options[0].premium.total <= q.options[1].premium.total


# ----------------------------------------------------------------- hazard relativities


def _scaled_relativity(tables: uw.RatingTables, index: int, factor: float) -> uw.RatingTables:
    """A copy of the tables with one relativity row multiplied by ``factor``."""
    target = tables.relativities[index]
    scaled = RelativityRow.model_validate(
        {**target.model_dump(), "relativity": target.relativity * factor}
    )
    groups = {
        key: tuple(scaled if row is target else row for row in rows)
        for key, rows in tables._groups.items()
    }
    relativities = tuple(scaled if row is target else row for row in tables.relativities)
    return dataclasses.replace(tables, relativities=relativities, _groups=groups)


@FAST
@given(data=st.data())
def test_the_premium_never_falls_when_a_hazard_relativity_rises(data: st.DataObject) -> None:
    tables = uw.load_rating_tables("2026.2")
    name = data.draw(st.sampled_from(EXAMPLES))
    request = _request(name)
    index = data.draw(st.integers(0, len(tables.relativities) - 1))
    factor = data.draw(st.floats(1.0, 5.0))
    before = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS)
    raised = _scaled_relativity(tables, index, factor)
    after = uw.quote(request.submission, request.terms, tables=raised, n_years=YEARS)
    assert before.premium.technical <= after.premium.technical
    assert before.premium.total <= after.premium.total


# ----------------------------------------------------------------- precision and provenance


def test_the_quote_meets_the_target_precision_or_the_cap(tables: uw.RatingTables) -> None:
    request = _request("physics_low_hazard")
    q = uw.quote(request.submission, request.terms, tables=tables, target_relative_error=0.03)
    precision = tables.pricing.precision
    assert precision.pilot_years <= q.provenance.n_years <= precision.max_years
    assert q.provenance.target_relative_error == 0.03
    # Batch-means errors are themselves estimates: allow their own noise (25 batches: ~15%).
    assert q.premium.relative_error <= 0.03 * 1.5 or q.provenance.n_years == precision.max_years
    assert any("standard error" in row.explanation for row in q.worksheet)


def _capped(tables: uw.RatingTables, max_years: int) -> uw.RatingTables:
    precision = tables.pricing.precision.model_copy(
        update={"max_years": max_years, "pilot_years": min(max_years, 20_000)}
    )
    pricing = tables.pricing.model_copy(update={"precision": precision})
    return dataclasses.replace(tables, pricing=pricing)


def test_a_quote_short_of_its_target_precision_says_so(tables: uw.RatingTables) -> None:
    request = _request("bsl3_biobank")
    capped = _capped(tables, 40_000)
    q = uw.quote(request.submission, request.terms, tables=capped, created_at=WHEN)
    assert q.provenance.n_years == 40_000
    achieved, target = q.premium.relative_error, q.provenance.target_relative_error
    assert target == 0.005 < achieved
    (warning,) = [w for w in q.warnings if w.code == "PRECISION_NOT_REACHED"]
    assert warning.field == "target_relative_error"
    assert warning.value == 0.005
    assert f"{achieved:.2%}, above the target of 0.50%" in warning.message
    assert "at the tables' cap of 40,000 simulated years" in warning.message
    assert q.to_dict()["warnings"][-1]["code"] == "PRECISION_NOT_REACHED"
    # a replay (years given, the recorded target) gives the same warning
    again = uw.replay(q.provenance, request, tables=capped)
    assert again.warnings == q.warnings
    # a service's latency cap below the tables' cap is named as such
    short = uw.quote(
        request.submission, request.terms, tables=tables, max_years=20_000, created_at=WHEN
    )
    (warning,) = [w for w in short.warnings if w.code == "PRECISION_NOT_REACHED"]
    assert "after 20,000 simulated years (the tables' cap is 2,000,000)" in warning.message


def test_a_quote_that_meets_its_target_has_no_precision_warning(tables: uw.RatingTables) -> None:
    request = _request("physics_low_hazard")
    q = uw.quote(request.submission, request.terms, tables=tables, target_relative_error=0.2)
    assert q.premium.relative_error <= 0.2
    assert not [w for w in q.warnings if w.code == "PRECISION_NOT_REACHED"]
    fixed = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS)
    assert fixed.provenance.target_relative_error is None
    assert fixed.warnings == ()  # years given without a target: nothing to fall short of


# ----------------------------------------------------------------- plausibility of exposures


def _above(submission: dict[str, Any], quantity: str, amount: float) -> None:
    if quantity == "chemicals.gas_cylinders":
        submission["chemicals"]["gas_cylinders"] = {"inert": math.ceil(amount)}
    elif quantity == "values.total_insured_value":
        submission["values"]["contents"] += amount - sum(
            v for k, v in submission["values"].items() if k != "annual_research_spend"
        )
    elif quantity == "headcount":
        submission["headcount"] = math.ceil(amount)
    else:
        group, name = quantity.split(".")
        submission[group][name] = math.ceil(amount) if "litres" not in name else amount


def test_an_implausible_exposure_is_priced_with_a_warning_and_referred(
    tables: uw.RatingTables,
) -> None:
    document = json.loads((ROOT / "examples" / "physics_low_hazard.json").read_text())
    document["submission"]["chemicals"]["flammable_liquids_litres"] = 1e9
    request = uw.QuoteRequest.model_validate(document)
    q = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS)
    (warning,) = q.warnings
    assert warning.code == "IMPLAUSIBLE_EXPOSURE"
    assert warning.field == "submission.chemicals.flammable_liquids_litres"
    assert warning.value == 1e9
    assert "1,000,000,000 litres of flammable liquids in 240 m²" in warning.message
    assert "above the 400 per m²" in warning.message
    assert q.decision.outcome == "referred"
    assert [reason.code for reason in q.decision.reasons] == ["R08_IMPLAUSIBLE_EXPOSURE"]
    assert q.decision.reasons[0].figures["implausible_fields"] == 1


@pytest.mark.parametrize(
    "quantity",
    [
        "chemicals.flammable_liquids_litres",
        "chemicals.gas_cylinders",
        "cold_storage.ultra_low_freezers",
        "cold_storage.ln2_dewars",
        "values.total_insured_value",
        "headcount",
    ],
)
def test_each_plausibility_bound_warns_just_above_it(
    quantity: str, tables: uw.RatingTables
) -> None:
    (bound,) = [b for b in tables.rules.plausibility if b.quantity == quantity]
    document = json.loads((ROOT / "examples" / "physics_low_hazard.json").read_text())
    submission = document["submission"]
    submission["area_m2"] = 10.0
    at = bound.max_per_m2 * 10.0
    _above(submission, quantity, at)
    request = uw.QuoteRequest.model_validate(document)
    assert not uw.quote(request.submission, request.terms, tables=tables, n_years=1_000).warnings
    _above(submission, quantity, at * 1.01 + 1)
    request = uw.QuoteRequest.model_validate(document)
    q = uw.quote(request.submission, request.terms, tables=tables, n_years=1_000)
    assert [(w.code, w.field) for w in q.warnings] == [
        ("IMPLAUSIBLE_EXPOSURE", f"submission.{quantity}")
    ]
    assert "R08_IMPLAUSIBLE_EXPOSURE" in [reason.code for reason in q.decision.reasons]


def test_the_examples_are_plausible(tables: uw.RatingTables) -> None:
    for name in EXAMPLES:
        request = _request(name)
        q = uw.quote(request.submission, request.terms, tables=tables, n_years=1_000)
        assert q.warnings == ()
        assert "R08_IMPLAUSIBLE_EXPOSURE" not in [r.code for r in q.decision.reasons]


def test_provenance_records_what_replays_the_quote(tables: uw.RatingTables) -> None:
    request = _request("chemistry_high_hazard")
    q = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS, created_at=WHEN)
    p = q.provenance
    assert p.seed == str(tables.pricing.precision.default_seed)
    assert p.tables_version == "2026.2"
    assert dict(p.tables_sha256) == dict(tables.sha256)
    assert p.package_version == uw.__version__
    assert p.n_years == YEARS
    assert q.valid_until - p.created_at == dt.timedelta(days=30)


def test_replay_reproduces_the_quote_bit_for_bit(tables: uw.RatingTables) -> None:
    request = _request("bsl3_biobank").model_copy(
        update={"seed": "340282366920938463463374607431768211455"}  # 2**128 - 1
    )
    first = uw.quote(
        request.submission,
        request.terms,
        tables=tables,
        seed=request.seed,
        options=[request.terms.model_copy(update={"aggregate_limit": 5e6})],
        n_years=YEARS,
    )
    again = uw.replay(
        first.provenance, request.model_copy(update={"options": (first.options[0].terms,)})
    )
    assert again == first
    assert again.to_json() == first.to_json()
    assert again.provenance.seed == "340282366920938463463374607431768211455"


@pytest.mark.parametrize("lab", ["bsl3_biobank", "chemistry_high_hazard"])
@pytest.mark.parametrize("threads", [2, 4])
def test_a_quote_does_not_depend_on_the_threads_blas_runs(lab: str, threads: int) -> None:
    """A quote replays bit for bit on a machine with another number of cores. The control
    variates' fits and standard errors were BLAS products, which OpenBLAS shares among as many
    threads as there are cores, adding their partial sums: their last bits moved with the
    threads until they were summed by NumPy's own loops (``pricing._products``)."""
    from threadpoolctl import threadpool_limits

    request = _request(lab)
    request = request.model_copy(update={"options": (request.terms,)})
    tables = uw.load_rating_tables("2026.5")  # stratified years, control variates in each
    with threadpool_limits(limits=1, user_api="blas"):
        one = uw.quote(request, tables=tables, created_at=WHEN).to_dict()
    with threadpool_limits(limits=threads, user_api="blas"):
        many = uw.quote(request, tables=tables, created_at=WHEN).to_dict()
    assert many == one


def test_two_quotes_of_one_lab_differ_only_by_what_changed(tables: uw.RatingTables) -> None:
    request = _request("physics_low_hazard")
    one = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS)
    two = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS)
    assert one.premium == two.premium
    other = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS, seed=7)
    assert other.premium.total != one.premium.total


def test_the_worksheet_reconciles(tables: uw.RatingTables) -> None:
    request = _request("chemistry_high_hazard")
    q = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS)
    rows = {row.name: row.value for row in q.worksheet}
    terms_taken = sum(
        value or 0.0
        for name, value in rows.items()
        if name.startswith("value of") or name == "interaction of terms"
    )
    before = rows["expected loss before terms"]
    assert before is not None
    assert before + terms_taken == pytest.approx(q.premium.expected_loss, rel=1e-9)
    deductibles = rows["value of deductibles"]
    assert deductibles is not None
    assert deductibles < 0
    assert rows["premium"] == q.premium.total
    assert rows["total payable"] == q.premium.total_with_tax
    assert any(name.startswith("rate: ") for name in rows)


def test_a_bad_seed_is_refused_with_the_allowed_range(tables: uw.RatingTables) -> None:
    request = _request("physics_low_hazard")
    with pytest.raises(uw.UnderwritingError, match=r"seed must be in \[0, 2\*\*128\)"):
        uw.quote(request.submission, request.terms, tables=tables, seed=str(2**128), n_years=YEARS)


# ----------------------------------------------------------------- golden quotes


def _close(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Differences between two JSON trees; floats compared to 1e-9 relative."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = (
            [f"{path}: keys {sorted(set(actual) ^ set(expected))}"]
            if set(actual) != set(expected)
            else []
        )
        for key in expected.keys() & actual.keys():
            problems += _close(actual[key], expected[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return [f"{path}: length {len(actual)} != {len(expected)}"]
        return [
            p
            for i, (a, e) in enumerate(zip(actual, expected, strict=True))
            for p in _close(a, e, f"{path}[{i}]")
        ]
    if isinstance(expected, float) or isinstance(actual, float):
        numbers = isinstance(expected, int | float) and isinstance(actual, int | float)
        if numbers and math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-6):
            return []
        return [f"{path}: {actual!r} != {expected!r}"]
    return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]


@pytest.mark.parametrize("version", ["2026.2", "2026.3", "2026.4", "2026.5", "2026.6"])
@pytest.mark.parametrize("name", EXAMPLES)
def test_golden_quotes(name: str, version: str, request: pytest.FixtureRequest) -> None:
    """The example labs' quotes on each served version, pinned: 2026.2's in ``golden/``, later
    versions' in ``golden/<version>/``. Rewrite only with ``pytest --update-golden``."""
    example = _request(name)
    tables = uw.load_rating_tables(version)
    q = uw.quote(example.submission, example.terms, tables=tables, n_years=50_000, created_at=WHEN)
    actual = q.to_dict()
    actual["provenance"]["package_version"] = "pinned"
    path = GOLDEN / f"{name}.json" if version == "2026.2" else GOLDEN / version / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    if request.config.getoption("--update-golden"):
        path.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    problems = _close(actual, expected)
    assert not problems, "\n".join(problems[:20])
