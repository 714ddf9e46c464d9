"""The memo of a quote's seed-free work: the integrals of the exact control means and the plan's
impact records. What it gives back must be what a cold process works out, to the last bit, and
a change to anything the work reads must miss it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import underwriting as uw
from underwriting.engine import (
    clear_memos,
    event_power_means,
    rare_strata,
    stratum_control_means,
)
from underwriting.engine._memo import Memo, Tokens
from underwriting.engine._plan import make_plan
from underwriting.engine._simulation import stream_keys
from underwriting.rating import rate_with_experience

ROOT = Path(__file__).resolve().parents[2]
LABS = ("physics_low_hazard", "chemistry_high_hazard", "bsl3_biobank")


@pytest.fixture(autouse=True)
def _cold() -> Iterator[None]:
    clear_memos()
    yield
    clear_memos()


def _lab(name: str) -> tuple[uw.RiskProfile, uw.PolicyTerms]:
    request = uw.QuoteRequest.model_validate_json(
        (ROOT / "examples" / f"{name}.json").read_text(encoding="utf-8")
    )
    profile, _ = rate_with_experience(request.submission, uw.load_rating_tables("2026.6"))
    return profile, request.terms


def _means(profile: uw.RiskProfile, terms: uw.PolicyTerms) -> tuple[object, object]:
    """A quote's integrals: every stratum's control means (the rare ones c1 alone) and the
    stratum of no rare event's cube."""
    strata = [s.profile for s in rare_strata(profile, 0.02)] or [profile]
    first_only = [h > 0 for h in range(len(strata))]
    means = stratum_control_means(profile, terms, strata, first_only)
    cube = event_power_means(profile, terms, strata[:1], highest=3)
    return means, cube


def _cold_means(profile: uw.RiskProfile, terms: uw.PolicyTerms) -> tuple[object, object]:
    clear_memos()
    return _means(profile, terms)


def test_a_memo_keeps_the_most_recently_used_values_within_its_weight() -> None:
    memo = Memo(3)
    computed: list[str] = []

    def compute(key: str) -> str:
        computed.append(key)
        return key.upper()

    assert memo.get("a", lambda: compute("a")) == "A"
    assert memo.get("b", lambda: compute("b")) == "B"
    assert memo.get("a", lambda: compute("a")) == "A"  # found: "a" is now the most recent
    assert memo.get("c", lambda: compute("c"), weight=2) == "C"  # "b" goes: 1 + 2 fill it
    assert memo.get("a", lambda: compute("a")) == "A"
    assert memo.get("b", lambda: compute("b")) == "B"  # "c", the least recently used, goes
    assert computed == ["a", "b", "c", "b"]
    assert (len(memo), memo.weight) == (2, 2)
    assert memo.get("d", lambda: compute("d"), weight=4) == "D"  # heavier than the bound
    assert (len(memo), memo.weight) == (2, 2)  # returned, not kept: the others stay
    with pytest.raises(ValueError, match="weight must be at least 1, got 0"):
        Memo(0)


class _Counted:
    """A value that counts how often it is hashed and compared."""

    hashed = compared = 0

    def __init__(self, value: int) -> None:
        self.value = value

    def __hash__(self) -> int:
        _Counted.hashed += 1
        return hash(self.value)

    def __eq__(self, other: object) -> bool:
        _Counted.compared += 1
        return isinstance(other, _Counted) and other.value == self.value


def test_equal_values_share_a_token_and_the_same_tuple_is_found_without_hashing() -> None:
    tokens = Tokens(16)
    first = (_Counted(1), _Counted(2))
    token = tokens.token(first)
    assert tokens.token(first) is token
    assert tokens.token((_Counted(1), _Counted(2))) is token  # equal, found by value
    assert tokens.token([_Counted(1), _Counted(2)]) is token  # a list: copied, found by value
    assert tokens.token((_Counted(1), _Counted(3))) is not token
    assert token != tokens.token((_Counted(2),))
    _Counted.hashed = _Counted.compared = 0
    assert tokens.token(first) is token
    assert (_Counted.hashed, _Counted.compared) == (0, 0)  # by identity, as a quote's strata


def test_a_value_forgotten_gets_a_new_token_and_never_another_value_s() -> None:
    tokens = Tokens(4)
    kept = tokens.token((1, 2))
    tokens.token((3, 4))
    tokens.token((5, 6))  # past the bound of 4 items: (1, 2), the least recently used, goes
    assert len(tokens) == 2
    again = tokens.token((1, 2))
    assert again is not kept  # a memo's entries under the old token are missed, not wrong
    assert tokens.token((1, 2)) is again
    with pytest.raises(ValueError, match="weight must be at least 1, got 0"):
        Tokens(0)


@pytest.mark.parametrize("name", LABS)
def test_integrals_found_in_the_memo_are_those_of_a_cold_process(name: str) -> None:
    profile, terms = _lab(name)
    cold = _means(profile, terms)
    for _ in range(2):
        assert _means(profile, terms) == cold  # floats compared exactly


@pytest.mark.parametrize("name", LABS)
def test_a_change_to_what_the_integrals_read_misses_the_memo(name: str) -> None:
    profile, terms = _lab(name)
    base = _means(profile, terms)
    section, section_terms = next(iter(terms.sections.items()))
    lower = terms.model_copy(
        update={
            "sections": {
                **terms.sections,
                section: section_terms.model_copy(update={"limit": 1_000_000.0}),
            }
        }
    )
    shared = terms.model_copy(update={"share": 0.5})
    first = profile.scenarios[0]
    impact = first.impacts[0]
    heavier = profile.model_copy(
        update={
            "scenarios": (
                first.model_copy(
                    update={
                        "impacts": (
                            impact.model_copy(update={"severity_scale": 2 * impact.severity_scale}),
                            *first.impacts[1:],
                        )
                    }
                ),
                *profile.scenarios[1:],
            )
        }
    )
    capped = profile.model_copy(
        update={"value_at_risk": {k: v / 10 for k, v in profile.value_at_risk.items()}}
    )
    for changed_profile, changed_terms in (
        (profile, lower),
        (profile, shared),
        (heavier, terms),
        (capped, terms),
    ):
        warm = _means(changed_profile, changed_terms)  # after base: a stale key would hit
        assert warm != base
        assert warm == _cold_means(changed_profile, changed_terms)
        _means(profile, terms)  # the base back in the memo for the next one


@pytest.mark.parametrize("name", LABS)
def test_a_revision_of_one_section_works_out_that_section_s_impacts_alone(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An impact's own moments and a scenario's powers are kept by the terms of its sections:
    a revision of one section's deductible integrates again only what that section's terms
    reach, and its means are still a cold process's."""
    from underwriting.engine import _control

    profile, terms = _lab(name)
    _means(profile, terms)
    section = next(n for n, st in terms.sections.items() if st.deductible_percent_of_loss is None)
    changed = terms.sections[section]
    revised = terms.model_copy(
        update={
            "sections": {
                **terms.sections,
                section: changed.model_copy(update={"deductible": 2 * changed.deductible + 1}),
            }
        }
    )
    integrated: list[str] = []
    powers: list[str] = []
    moments, scenario_powers = _control._moments, _control._scenario_powers

    def counted_moments(impact: Any, *arguments: Any) -> tuple[float, float]:
        integrated.append(impact.section)
        return moments(impact, *arguments)

    def counted_powers(scenario: Any, *arguments: Any) -> tuple[float, ...]:
        powers.append(scenario.id)
        return scenario_powers(scenario, *arguments)

    monkeypatch.setattr(_control, "_moments", counted_moments)
    monkeypatch.setattr(_control, "_scenario_powers", counted_powers)
    warm = _means(profile, revised)
    assert integrated
    assert set(integrated) == {section}
    reaching = {s.id for s in profile.scenarios if any(i.section == section for i in s.impacts)}
    assert set(powers) <= reaching
    monkeypatch.undo()
    assert warm == _cold_means(profile, revised)


def test_other_counts_share_the_integrals_and_still_change_the_means() -> None:
    # A stress of the frequencies reads the same impacts: the integrals are found, the counts
    # are new, and the means are what a cold process gives for the stressed profile.
    profile, terms = _lab("chemistry_high_hazard")
    _means(profile, terms)
    stressed = profile.model_copy(
        update={
            "scenarios": tuple(
                s.model_copy(update={"frequency": s.frequency.with_rate(2 * s.frequency.mean)})
                for s in profile.scenarios
            )
        }
    )
    warm = stratum_control_means(stressed, terms, [stressed])
    clear_memos()
    cold = stratum_control_means(stressed, terms, [stressed])
    assert warm == cold
    assert warm != stratum_control_means(profile, terms, [profile])


def _records(profile: uw.RiskProfile, terms: uw.PolicyTerms) -> np.ndarray:
    """The impact records of a plan of ``profile``."""
    plan = make_plan(profile, stream_keys(profile, 7), [terms])
    assert plan is not None
    return plan.impacts


@pytest.mark.parametrize("name", LABS)
def test_a_plan_s_impact_records_are_a_copy_of_the_memo_s(name: str) -> None:
    profile, terms = _lab(name)
    cold = _records(profile, terms)
    warm = _records(profile, terms)
    assert cold.tobytes() == warm.tobytes()
    warm["probability"] = math.nan  # a plan is its own: the memo's stay as they were
    again = _records(profile, terms)
    assert again.tobytes() == cold.tobytes()
    assert not np.isnan(again["probability"]).any()


@pytest.mark.parametrize("name", LABS)
def test_every_stratum_pattern_and_power_is_that_of_a_cold_process(name: str) -> None:
    # The labs' two cascades, the strata as main profiles, every first_only pattern of the
    # quote's and the cube and fourth power: each call after all the others (the memo full of
    # neighbours) against the same call in a cold process.
    profile, terms = _lab(name)
    strata = [s.profile for s in rare_strata(profile, 0.02)]
    calls = [
        ("means", profile, strata, tuple(h > 0 for h in range(len(strata)))),
        ("means", profile, strata, tuple(h == 0 for h in range(len(strata)))),
        ("means", profile, strata[:1], ()),
        ("means", strata[1], [strata[1]], ()),
        ("powers", profile, strata[:1], 3),
        ("powers", profile, strata[:1], 4),
        ("powers", profile, strata, 4),
    ]

    def call(
        kind: str, main: uw.RiskProfile, counted: list[uw.RiskProfile], extra: object
    ) -> object:
        if kind == "means":
            assert isinstance(extra, tuple)
            return stratum_control_means(main, terms, counted, extra)
        assert isinstance(extra, int)
        return event_power_means(main, terms, counted, highest=extra)

    cold = []
    for arguments in calls:
        clear_memos()
        cold.append(call(*arguments))
    for _ in range(2):
        for arguments, expected in zip(calls, cold, strict=True):
            assert call(*arguments) == expected


def test_profiles_built_without_validation_still_find_their_integrals() -> None:
    # A profile copied with ``model_copy(update=...)`` keeps lists where validation would make
    # tuples (the strata's scenarios, or a caller's cascades and impacts): the keys must still
    # hash, and give the validated profile's integrals (an unhashable list raised TypeError).
    profile, terms = _lab("chemistry_high_hazard")
    listed = profile.model_copy(
        update={
            "cascades": list(profile.cascades),
            "scenarios": [
                s.model_copy(update={"impacts": list(s.impacts)}) for s in profile.scenarios
            ],
        }
    )
    assert isinstance(listed.cascades, list)
    expected = _cold_means(profile, terms)
    assert _cold_means(listed, terms) == expected
    assert _means(profile, terms) == expected  # the listed profile's entries serve it too
    assert _records(listed, terms).tobytes() == _records(profile, terms).tobytes()


def test_a_submission_is_rated_once_for_its_tables_and_day() -> None:
    """A quote's rated profile is kept (``quote._rated``) for the same submission, tables and
    day: what a revision of the terms or a replay finds. Anything else rates it afresh."""
    import datetime as dt
    import importlib

    quoting = importlib.import_module("underwriting.quote")  # uw.quote is the function

    request = uw.QuoteRequest.model_validate_json(
        (ROOT / "examples" / "chemistry_high_hazard.json").read_text(encoding="utf-8")
    )
    tables = uw.load_rating_tables("2026.6")
    day = dt.date(2026, 12, 7)
    first = quoting._rated(request.submission, tables, day)
    assert first == rate_with_experience(request.submission, tables, as_of=day)
    again = uw.QuoteRequest.model_validate_json(request.model_dump_json()).submission
    assert quoting._rated(again, tables, day) is first  # an equal submission, parsed afresh
    renamed = request.submission.model_copy(update={"lab_name": "Another name"})
    assert quoting._rated(renamed, tables, day) is not first
    assert quoting._rated(request.submission, tables, day + dt.timedelta(days=1)) is not first
    older = uw.load_rating_tables("2026.5")
    assert quoting._rated(request.submission, older, day)[0] != first[0]
