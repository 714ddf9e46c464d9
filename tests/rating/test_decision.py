"""Underwriting decisions: every rule of ``rules.toml`` fires where it should and only there,
declines beat referrals, referrals go to the highest authority needed, messages carry the
figures, and broken rule tables are refused naming the file and the rule."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import underwriting as uw
from underwriting.rating import (
    Fact,
    Leaf,
    Rule,
    RulesTable,
    Scalar,
    known_facts,
    write_manifest_hashes,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "rating_tables" / "2026.2"
EXAMPLES = ROOT / "examples"

TIV = "submission.values.total_insured_value"
GRADE = "submission.hazard_grade"
SPRINKLERS = "submission.protections.sprinklers"
GAS = "submission.protections.gas_detection"


@pytest.fixture(scope="module")
def rules() -> RulesTable:
    return uw.load_rating_tables("2026.2").rules


def _rule(rules: RulesTable, code: str) -> Rule:
    return next(rule for rule in rules.rules if rule.code == code)


def _alone(rules: RulesTable, code: str) -> RulesTable:
    """The rules table with only ``code``: its firing is not hidden by a decline elsewhere."""
    return RulesTable(authority_levels=rules.authority_levels, rules=(_rule(rules, code),))


def _codes(decision: uw.Decision) -> list[str]:
    return [reason.code for reason in decision.reasons]


# ----------------------------------------------------------------- every rule, at its threshold


@dataclass(frozen=True)
class Case:
    """Facts that meet a rule, facts just short of it, and what the message must show."""

    fires: dict[str, Fact]
    quiet: tuple[dict[str, Fact], ...]
    shown: tuple[str, ...]
    figures: dict[str, Fact]


CASES: dict[str, Case] = {
    "D01_BSL4": Case(
        fires={"submission.biosafety_level": 4},
        quiet=({"submission.biosafety_level": 3}, {"submission.biosafety_level": None}),
        shown=("Biosafety level 4",),
        figures={"biosafety_level": 4, "biosafety_level_threshold": 4},
    ),
    "D02_EXPLOSIVES_MANUFACTURING": Case(
        fires={"submission.chemicals.explosives_manufacturing": True},
        quiet=({"submission.chemicals.explosives_manufacturing": False},),
        shown=("manufactures explosives",),
        figures={"explosives_manufacturing": True, "explosives_manufacturing_threshold": True},
    ),
    "R01_TIV_ABOVE_AUTHORITY": Case(
        fires={TIV: 30_000_001.0},
        quiet=({TIV: 30_000_000.0}, {TIV: 29_999_999.0}),
        shown=("30,000,001", "30,000,000"),
        figures={"total_insured_value": 30_000_001.0, "total_insured_value_threshold": 30e6},
    ),
    "R02_TIV_ABOVE_SENIOR_AUTHORITY": Case(
        fires={TIV: 100_000_001.0},
        quiet=({TIV: 100_000_000.0}, {TIV: 99_999_999.0}),
        shown=("100,000,001", "100,000,000"),
        figures={"total_insured_value": 100_000_001.0, "total_insured_value_threshold": 100e6},
    ),
    "R03_PML_ABOVE_LINE": Case(
        fires={"metrics.pml_250": 12_345_678.0},
        quiet=({"metrics.pml_250": 10_000_000.0}, {"metrics.pml_250": 9_999_999.0}),
        shown=("12,345,678", "10,000,000"),
        figures={"pml_250": 12_345_678.0, "pml_250_threshold": 10e6},
    ),
    "R04_AGGREGATE_LIKELY_EXHAUSTED": Case(
        fires={"metrics.probability_aggregate_exhausted": 0.0075},
        quiet=(
            {"metrics.probability_aggregate_exhausted": 0.005},
            {"metrics.probability_aggregate_exhausted": 0.0049},
        ),
        shown=("0.75%", "0.50%"),
        figures={
            "probability_aggregate_exhausted": 0.0075,
            "probability_aggregate_exhausted_threshold": 0.005,
        },
    ),
    "R05_HIGH_HAZARD_UNPROTECTED": Case(
        fires={GRADE: "I", SPRINKLERS: False, GAS: True},
        quiet=(
            {GRADE: "III", SPRINKLERS: False, GAS: False},
            {GRADE: "I", SPRINKLERS: True, GAS: True},
        ),
        shown=("grade I ",),
        figures={
            "hazard_grade": "I",
            "sprinklers": False,
            "sprinklers_threshold": False,
            "gas_detection": True,
            "gas_detection_threshold": False,
        },
    ),
    "R06_ADVERSE_CLAIMS_HISTORY": Case(
        fires={
            "experience.claims_count": 2,
            "experience.actual_to_expected": 2.5,
            "experience.expected_claims": 0.8,
        },
        quiet=(
            # one claim is never adverse, however few were expected
            {
                "experience.claims_count": 1,
                "experience.actual_to_expected": 5.0,
                "experience.expected_claims": 0.2,
            },
            # exactly twice the expected is not above it
            {
                "experience.claims_count": 2,
                "experience.actual_to_expected": 2.0,
                "experience.expected_claims": 1.0,
            },
        ),
        shown=("2 claims against 0.80 expected (2.5 times)",),
        figures={
            "claims_count": 2,
            "claims_count_threshold": 2,
            "actual_to_expected": 2.5,
            "actual_to_expected_threshold": 2.0,
            "expected_claims": 0.8,
        },
    ),
    "R07_FAR_BELOW_MINIMUM_PREMIUM": Case(
        fires={
            "premium.technical_to_minimum": 0.4,
            "premium.technical": 4_000.0,
            "premium.minimum": 10_000.0,
        },
        quiet=(
            {
                "premium.technical_to_minimum": 0.5,
                "premium.technical": 5_000.0,
                "premium.minimum": 10_000.0,
            },
            {
                "premium.technical_to_minimum": 0.51,
                "premium.technical": 5_100.0,
                "premium.minimum": 10_000.0,
            },
        ),
        shown=("4,000", "10,000"),
        figures={
            "technical_to_minimum": 0.4,
            "technical_to_minimum_threshold": 0.5,
            "technical": 4_000.0,
            "minimum": 10_000.0,
        },
    ),
    "R08_IMPLAUSIBLE_EXPOSURE": Case(
        fires={"submission.implausible_fields": 2},
        quiet=({"submission.implausible_fields": 0},),
        shown=("2 exposure(s)", "IMPLAUSIBLE_EXPOSURE"),
        figures={"implausible_fields": 2, "implausible_fields_threshold": 0},
    ),
}


def test_every_rule_of_the_tables_has_a_case(rules: RulesTable) -> None:
    assert {rule.code for rule in rules.rules} == set(CASES)


def test_the_cases_use_only_facts_the_engine_knows() -> None:
    facts = known_facts()
    for case in CASES.values():
        for dictionary in (case.fires, *case.quiet):
            assert set(dictionary) <= facts


@pytest.mark.parametrize("code", sorted(CASES))
def test_a_rule_fires_when_met_with_its_figures_in_the_message(
    rules: RulesTable, code: str
) -> None:
    case = CASES[code]
    rule = _rule(rules, code)
    decision = uw.decide(case.fires, _alone(rules, code))
    assert _codes(decision) == [code]
    reason = decision.reasons[0]
    assert reason.outcome == rule.outcome
    assert reason.authority == rule.authority
    assert decision.outcome == ("declined" if rule.outcome == "decline" else "referred")
    for text in case.shown:
        assert text in reason.message
    assert "{" not in reason.message, "the message was not formatted"
    assert dict(reason.figures) == case.figures


@pytest.mark.parametrize(
    ("code", "index"),
    [(code, index) for code in sorted(CASES) for index in range(len(CASES[code].quiet))],
)
def test_a_rule_is_quiet_just_short_of_its_threshold(
    rules: RulesTable, code: str, index: int
) -> None:
    decision = uw.decide(CASES[code].quiet[index], _alone(rules, code))
    assert decision.outcome == "quoted"
    assert decision.reasons == ()


@pytest.mark.parametrize("code", sorted(CASES))
def test_a_rule_met_in_the_full_table_is_among_the_reasons(rules: RulesTable, code: str) -> None:
    decision = uw.decide(CASES[code].fires, rules)
    assert code in _codes(decision)
    assert decision.rules_evaluated == tuple(rule.code for rule in rules.rules)


def test_the_tiv_message_reads_as_an_underwriter_writes_amounts(rules: RulesTable) -> None:
    decision = uw.decide({TIV: 40_000_000.0}, rules)
    (reason,) = decision.reasons
    assert reason.message == (
        "Total insured value 40,000,000 is above the underwriter's authority of 30,000,000."
    )
    assert reason.figures["total_insured_value"] == 40_000_000.0
    assert reason.figures["total_insured_value_threshold"] == 30_000_000.0


# ----------------------------------------------------------------- precedence and authority


def test_a_decline_wins_and_keeps_only_the_decline_reasons(rules: RulesTable) -> None:
    facts: dict[str, Fact] = {
        "submission.biosafety_level": 4,
        "submission.chemicals.explosives_manufacturing": True,
        TIV: 150_000_000.0,
        GRADE: "I",
        SPRINKLERS: False,
        GAS: False,
    }
    decision = uw.decide(facts, rules)
    assert decision.outcome == "declined"
    assert _codes(decision) == ["D01_BSL4", "D02_EXPLOSIVES_MANUFACTURING"]
    assert all(reason.outcome == "decline" for reason in decision.reasons)
    assert decision.authority_required is None


def test_one_decline_alone_declines(rules: RulesTable) -> None:
    decision = uw.decide({"submission.biosafety_level": 4, TIV: 40_000_000.0}, rules)
    assert decision.outcome == "declined"
    assert _codes(decision) == ["D01_BSL4"]


def test_tiv_above_100m_needs_the_chief_underwriter(rules: RulesTable) -> None:
    decision = uw.decide({TIV: 150_000_000.0}, rules)
    assert decision.outcome == "referred"
    assert _codes(decision) == ["R01_TIV_ABOVE_AUTHORITY", "R02_TIV_ABOVE_SENIOR_AUTHORITY"]
    assert decision.authority_required == "chief_underwriter"


def test_tiv_between_30m_and_100m_needs_a_senior_underwriter(rules: RulesTable) -> None:
    decision = uw.decide({TIV: 40_000_000.0, GRADE: "II", SPRINKLERS: False}, rules)
    assert decision.outcome == "referred"
    assert _codes(decision) == ["R01_TIV_ABOVE_AUTHORITY", "R05_HIGH_HAZARD_UNPROTECTED"]
    assert decision.authority_required == "senior_underwriter"


def test_the_authority_is_the_highest_level_whatever_the_rule_order(rules: RulesTable) -> None:
    # The chief's rule first, the senior's after: neither "last firing" nor alphabetical order
    # (senior > chief) gives the right answer; only the order of authority_levels does.
    reordered = RulesTable(
        authority_levels=rules.authority_levels,
        rules=(
            _rule(rules, "R02_TIV_ABOVE_SENIOR_AUTHORITY"),
            _rule(rules, "R05_HIGH_HAZARD_UNPROTECTED"),
            _rule(rules, "R01_TIV_ABOVE_AUTHORITY"),
        ),
    )
    facts: dict[str, Fact] = {TIV: 150_000_000.0, GRADE: "I", SPRINKLERS: False}
    assert uw.decide(facts, reordered).authority_required == "chief_underwriter"


def test_the_authority_follows_the_tables_levels_not_their_names() -> None:
    def refer(code: str, authority: str, threshold: float) -> Rule:
        return Rule(
            code=code,
            outcome="refer",
            authority=authority,
            message=code,
            when=Leaf(fact="submission.area_m2", op="gt", value=threshold),
        )

    table = RulesTable(
        authority_levels=("desk", "board", "committee"),
        rules=(refer("BIG", "committee", 100.0), refer("HUGE", "board", 1_000.0)),
    )
    assert uw.decide({"submission.area_m2": 500.0}, table).authority_required == "committee"
    assert uw.decide({"submission.area_m2": 5_000.0}, table).authority_required == "committee"


def test_nothing_firing_is_quoted_without_reasons(rules: RulesTable) -> None:
    facts: dict[str, Fact] = {
        "submission.biosafety_level": 2,
        "submission.chemicals.explosives_manufacturing": False,
        TIV: 10_000_000.0,
        "metrics.pml_250": 2_000_000.0,
        "metrics.probability_aggregate_exhausted": 0.0,
        GRADE: "II",
        SPRINKLERS: True,
        GAS: True,
        "experience.claims_count": 0,
        "experience.actual_to_expected": 0.0,
        "premium.technical_to_minimum": 3.0,
    }
    decision = uw.decide(facts, rules)
    assert decision.outcome == "quoted"
    assert decision.reasons == ()
    assert decision.authority_required is None
    assert uw.decide({}, rules).outcome == "quoted"


# ----------------------------------------------------------------- nested conditions


@pytest.mark.parametrize("grade", ["I", "II", "III", "IV"])
@pytest.mark.parametrize("sprinklers", [True, False])
@pytest.mark.parametrize("gas_detection", [True, False])
def test_r05_truth_table(
    rules: RulesTable, grade: str, sprinklers: bool, gas_detection: bool
) -> None:
    facts: dict[str, Fact] = {GRADE: grade, SPRINKLERS: sprinklers, GAS: gas_detection}
    expected = grade in ("I", "II") and (not sprinklers or not gas_detection)
    decision = uw.decide(facts, _alone(rules, "R05_HIGH_HAZARD_UNPROTECTED"))
    assert (decision.outcome == "referred") is expected
    if expected:
        assert f"grade {grade} (high-hazard)" in decision.reasons[0].message


def test_r05_needs_the_grade_to_fire(rules: RulesTable) -> None:
    table = _alone(rules, "R05_HIGH_HAZARD_UNPROTECTED")
    assert uw.decide({SPRINKLERS: False, GAS: False}, table).outcome == "quoted"
    assert uw.decide({GRADE: None, SPRINKLERS: False, GAS: False}, table).outcome == "quoted"


# ----------------------------------------------------------------- missing facts and types


def _one_leaf(fact: str, op: str, value: Scalar | tuple[Scalar, ...]) -> RulesTable:
    return RulesTable(
        authority_levels=("underwriter",),
        rules=(
            Rule.model_validate(
                {
                    "code": "T01",
                    "outcome": "refer",
                    "authority": "underwriter",
                    "message": "fired",
                    "when": {"fact": fact, "op": op, "value": value},
                }
            ),
        ),
    )


def _fires(facts: dict[str, Fact], table: RulesTable) -> bool:
    return uw.decide(facts, table).outcome != "quoted"


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le"])
def test_a_missing_fact_never_fires_an_order_comparison(op: str) -> None:
    for threshold in (-1e300, 0.0, 1e300):
        table = _one_leaf("metrics.pml_250", op, threshold)
        assert not _fires({"metrics.pml_250": None}, table)
        assert not _fires({}, table)


@pytest.mark.parametrize(
    "code", ["R01_TIV_ABOVE_AUTHORITY", "R03_PML_ABOVE_LINE", "R07_FAR_BELOW_MINIMUM_PREMIUM"]
)
def test_a_missing_figure_does_not_fire_the_tables_rules(rules: RulesTable, code: str) -> None:
    facts: dict[str, Fact] = {name: None for name in CASES[code].fires}
    assert uw.decide(facts, _alone(rules, code)).outcome == "quoted"


def test_a_missing_fact_is_not_equal_to_anything() -> None:
    assert not _fires({}, _one_leaf("submission.biosafety_level", "eq", 4))
    assert not _fires({}, _one_leaf("submission.hazard_grade", "in", ("I", "II")))


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le"])
def test_a_string_fact_never_compares_with_a_number(op: str) -> None:
    for threshold in (-1e300, 0, 1e300):
        assert not _fires({"submission.hazard_grade": "II"}, _one_leaf(GRADE, op, threshold))
        assert not _fires({"submission.area_m2": 100.0}, _one_leaf("submission.area_m2", op, "z"))


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le"])
def test_a_yes_no_fact_never_compares_as_a_number(op: str) -> None:
    # In Python True > 0 and False < 1: a rule must not read a yes/no answer as a figure.
    for threshold in (-1.0, 0.5, 2.0):
        assert not _fires({SPRINKLERS: True}, _one_leaf(SPRINKLERS, op, threshold))
        assert not _fires({SPRINKLERS: False}, _one_leaf(SPRINKLERS, op, threshold))


def test_a_level_given_as_text_is_not_the_number(rules: RulesTable) -> None:
    assert uw.decide({"submission.biosafety_level": "4"}, rules).outcome == "quoted"


# ----------------------------------------------------------------- messages are not code


@pytest.mark.parametrize(
    "message",
    [
        "{total_insured_value.__class__}",
        "{total_insured_value.__class__.__init__.__globals__}",
        "{total_insured_value.real}",
        "{total_insured_value[0]}",
        "{0}",
        "{total_insured_value_threshold:{total_insured_value.__class__}}",
        "TIV {unknown_figure:,.0f}",
    ],
)
def test_a_message_reaching_beyond_plain_names_comes_back_raw(message: str) -> None:
    table = RulesTable(
        authority_levels=("underwriter",),
        rules=(
            Rule(
                code="T01",
                outcome="refer",
                authority="underwriter",
                message=message,
                when=Leaf(fact=TIV, op="gt", value=1.0),
            ),
        ),
    )
    (reason,) = uw.decide({TIV: 2_000_000.0}, table).reasons
    assert reason.message == message


def test_a_figure_of_the_wrong_type_keeps_the_raw_message() -> None:
    message = "{hazard_grade:,.0f} is not a number"
    table = RulesTable(
        authority_levels=("underwriter",),
        rules=(
            Rule(
                code="T01",
                outcome="refer",
                authority="underwriter",
                message=message,
                when=Leaf(fact=GRADE, op="eq", value="I"),
            ),
        ),
    )
    assert uw.decide({GRADE: "I"}, table).reasons[0].message == message


# ----------------------------------------------------------------- broken rules.toml copies


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "2026.2"
    shutil.copytree(SOURCE, target)
    return target


def _broken(copy: Path, old: str, new: str) -> uw.RatingTableError:
    path = copy / "rules.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must appear once in rules.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    write_manifest_hashes(copy)
    with pytest.raises(uw.RatingTableError) as caught:
        uw.load_rating_tables("2026.2", root=copy.parent)
    assert caught.value.file == "rules.toml"
    assert "rules.toml" in str(caught.value)
    return caught.value


def test_an_unchanged_rules_copy_loads(copy: Path) -> None:
    write_manifest_hashes(copy)
    assert len(uw.load_rating_tables("2026.2", root=copy.parent).rules.rules) == len(CASES)


def test_an_unknown_fact_names_the_rule_row(copy: Path) -> None:
    error = _broken(copy, '"submission.biosafety_level"', '"submission.moon_phase"')
    assert error.row == 1
    assert "D01_BSL4" in str(error)
    assert "'submission.moon_phase'" in str(error)
    assert "row 1" in str(error)


def test_an_unknown_fact_deep_in_a_condition_names_the_rule_row(copy: Path) -> None:
    error = _broken(copy, f'"{GAS}"', '"submission.protections.moat"')
    assert error.row == 7
    assert "R05_HIGH_HAZARD_UNPROTECTED" in str(error)
    assert "submission.protections.moat" in str(error)


def test_an_unknown_shown_fact_is_refused(copy: Path) -> None:
    error = _broken(copy, '"experience.expected_claims"]', '"experience.luck"]')
    assert error.row == 8
    assert "R06_ADVERSE_CLAIMS_HISTORY" in str(error)
    assert "experience.luck" in str(error)


def test_a_referral_without_authority_is_refused(copy: Path) -> None:
    error = _broken(copy, 'authority = "chief_underwriter"\n', "")
    assert error.row == 4
    assert "refer rule needs an authority" in str(error)


def test_an_authority_outside_the_levels_is_refused(copy: Path) -> None:
    error = _broken(copy, 'authority = "chief_underwriter"', 'authority = "dean"')
    assert "R02_TIV_ABOVE_SENIOR_AUTHORITY" in str(error)
    assert "'dean'" in str(error)
    assert "underwriter, senior_underwriter, chief_underwriter" in str(error)


def test_duplicate_rule_codes_are_refused(copy: Path) -> None:
    error = _broken(
        copy, 'code = "R02_TIV_ABOVE_SENIOR_AUTHORITY"', 'code = "R01_TIV_ABOVE_AUTHORITY"'
    )
    assert "R01_TIV_ABOVE_AUTHORITY appears twice" in str(error)


@pytest.mark.parametrize(
    ("old", "new", "row"),
    [
        ('authority = "chief_underwriter"', 'authority = "dean"', 4),
        ('code = "R02_TIV_ABOVE_SENIOR_AUTHORITY"', 'code = "R01_TIV_ABOVE_AUTHORITY"', 4),
    ],
)
def test_table_wide_rule_errors_name_the_row(copy: Path, old: str, new: str, row: int) -> None:
    assert _broken(copy, old, new).row == row


def test_in_with_a_single_value_is_refused(copy: Path) -> None:
    error = _broken(copy, 'op = "eq", value = 4', 'op = "in", value = 4')
    assert error.row == 1
    assert "op 'in' needs a list" in str(error)


def test_in_with_a_single_value_inside_a_condition_names_the_rule_row(copy: Path) -> None:
    error = _broken(copy, 'op = "in", value = ["I", "II"]', 'op = "in", value = "I"')
    assert error.row == 7


def test_in_with_a_single_value_inside_a_condition_says_why(copy: Path) -> None:
    error = _broken(copy, 'op = "in", value = ["I", "II"]', 'op = "in", value = "I"')
    assert "needs a list" in str(error)


# ----------------------------------------------------------------- end to end


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _quote(data: dict[str, Any]) -> uw.Quote:
    request = uw.QuoteRequest.model_validate(data)
    return uw.quote(request.submission, request.terms, n_years=20_000)


def test_the_bsl3_biobank_is_referred_for_its_tiv() -> None:
    request = uw.QuoteRequest.model_validate_json(
        (EXAMPLES / "bsl3_biobank.json").read_text(encoding="utf-8")
    )
    assert request.submission.values.total_insured_value == 40_000_000
    decision = uw.quote(request.submission, request.terms, n_years=20_000).decision
    assert decision.outcome == "referred"
    assert decision.authority_required == "senior_underwriter"
    codes = _codes(decision)
    assert "R01_TIV_ABOVE_AUTHORITY" in codes
    assert "R02_TIV_ABOVE_SENIOR_AUTHORITY" not in codes
    reason = decision.reasons[codes.index("R01_TIV_ABOVE_AUTHORITY")]
    assert "40,000,000" in reason.message
    assert "30,000,000" in reason.message
    assert reason.figures["total_insured_value"] == 40_000_000


def test_a_bsl4_lab_is_declined() -> None:
    data = _example("bsl3_biobank")
    data["submission"]["biosafety_level"] = 4
    decision = _quote(data).decision
    assert decision.outcome == "declined"
    assert _codes(decision) == ["D01_BSL4"]
    assert decision.authority_required is None


def test_a_protected_chemistry_lab_is_not_referred_for_a_survey() -> None:
    unprotected = _quote(_example("chemistry_high_hazard")).decision
    assert "R05_HIGH_HAZARD_UNPROTECTED" in _codes(unprotected)
    data = _example("chemistry_high_hazard")
    data["submission"]["protections"].update(sprinklers=True, gas_detection=True)
    protected = _quote(data).decision
    assert "R05_HIGH_HAZARD_UNPROTECTED" not in _codes(protected)
    assert protected.outcome in ("quoted", "referred")
