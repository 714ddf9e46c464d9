"""Conformance of ``underwriting.terms`` with the Oasis ktools financial-module kernel cases.

The cases are the ktest "ftest" worked examples, kept as data in ``tests/data/oasis_ktest_ftest/``
(origin and BSD-3-Clause licence in that folder's README.md), so the test runs in every clone.

Each Oasis case gives ground-up losses per (event_id, item_id, sidx), a programme that sums items
into aggregation ids level by level, a profile (calcrule and its terms) for each aggregation id,
and the expected insured loss per (event_id, output_id, sidx) without back-allocation
(``expected/fmN_a0.csv``; ``fmN.csv`` for fm32/fm33). This module translates a case into our
objects and compares:

* every (event_id, sidx) pair, including the sidx -1 (mean) and -3 (maximum) rows, is one
  occurrence in a simulated year of its own;
* level 1: the items of each level-1 agg_id are summed into one section, distinct agg_ids into
  distinct sections (in ``SECTIONS`` order), and the agg_id's calcrule becomes that section's
  ``SectionTerms``;
* a top level with a single agg_id over the whole programme (a level-2 blanket policy, or the
  attachment/limit/share part of calcrules 2 and 17) becomes the ``PolicyTerms`` annual aggregate
  deductible, aggregate limit and share. Because every occurrence is alone in its year, the
  annual aggregate terms act on that one occurrence exactly as Oasis's per-occurrence
  policy/layer terms do (calcrule 2: ``min(max(x - ded - attachment, 0), limit) * share``);
* output ids on level-1 agg_ids are compared with ``annual_by_section`` of their section, output
  ids on a policy-level agg_id with ``annual``; a missing expected row means 0. Tolerance: rtol
  1e-3 (what Oasis uses, its outputs are float32) with atol 0.01 near zero.

Calcrules translated: 1 deductible + limit; 2 deductible, attachment, limit, share; 3 franchise
deductible + limit; 5 deductible and limit as % of loss; 9 deductible as % of limit
(amount = deductible1 * limit1) + limit; 12 deductible only; 14 limit only; 15 limit as % of loss;
16 deductible as % of loss; 17 % of loss deductible, attachment, limit, share; 19 % of loss
deductible with minimum deductible2 and maximum deductible3 (0 = none).

Cases that run: fm3, fm4, fm5, fm6, fm10, fm11, fm13, fm14, fm15, fm16, fm17, fm32, fm33.
fm13 has two levels (a 50k deductible on the summed items, then calcrule 2 on the single
policy agg_id: deductible 3M, limit 5M, share 5%); fm32 and fm33 have one level with calcrule 2
(50k deductible, attachment 3M, limit 5M, share 5%) and 17 (the same with a 5% of loss
deductible). Each has a single layer, so that layer is the policy terms above: these three cases
check steps 5-7 (policy aggregate deductible, aggregate limit, share) against Oasis.

Out of scope (checked against each case's files; ``test_out_of_scope_case_is_refused`` checks
that the translator refuses them):

* fm7: blanket policy deductible + limit over 8 coverage-level deductibles. The level-2 terms
  would map to the policy aggregate terms, but 8 distinct coverage terms need 8 sections and we
  have 7.
* fm8, fm9, fm21: three levels (location deductibles, policy maximum/minimum deductible with
  calcrules 10/11, policy limit). Min/max deductibles that depend on the deductibles already
  taken at a lower level have no counterpart in our terms.
* fm35: a % of loss deductible with min/max (calcrule 19) at the second level, over 8
  coverage-level deductibles: our policy level has only an amount deductible, and 8 > 7 sections.
* fm36: reverse franchise (calcrule 20, pays only losses up to deductible1): no counterpart.
* fm47, fm48: policy minimum/maximum deductible (calcrules 8/7) over site limits, which needs
  Oasis's over-limit/under-limit bookkeeping from the prior level: no counterpart.

Source of the data: OasisLMF/ktest, ``ftest/fmN`` and ``ftest/ctrl/fmN_a0.csv`` at commit
ef0aae1d60acaa70f8a052ebd27d68908845c94d (BSD-3-Clause), copied as data only.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from underwriting.model import SECTION_INDEX, SECTIONS, Section
from underwriting.terms import EventLossTable, PolicyTerms, SectionTerms, apply_terms

# Oasis ktest "ftest" kernel cases: OasisLMF/ktest, folder ftest/, commit
# ef0aae1d60acaa70f8a052ebd27d68908845c94d; origin and licence in the folder's README.md.
CASES_DIR = Path(__file__).resolve().parents[1] / "data" / "oasis_ktest_ftest"

RTOL = 1e-3
ATOL = 0.01

RUN = (
    "fm3",
    "fm4",
    "fm5",
    "fm6",
    "fm10",
    "fm11",
    "fm13",
    "fm14",
    "fm15",
    "fm16",
    "fm17",
    "fm32",
    "fm33",
)

OUT_OF_SCOPE: dict[str, str] = {
    "fm7": "8 coverage-level terms under a blanket policy: needs 8 sections, we have 7",
    "fm8": "3 levels; policy maximum deductible (calcrule 10) carries lower-level deductibles",
    "fm9": "3 levels; policy minimum deductible (calcrule 11) carries lower-level deductibles",
    "fm21": "3 levels; maximum deductible (calcrule 10) carried through the hierarchy",
    "fm35": "% of loss deductible with min/max at the policy level (calcrule 19 on level 2)",
    "fm36": "reverse franchise (calcrule 20) has no counterpart in our terms",
    "fm47": "policy minimum deductible (calcrule 8) needs Oasis under-limit bookkeeping",
    "fm48": "policy maximum deductible (calcrule 7) needs Oasis over-limit bookkeeping",
}


class UnsupportedCaseError(Exception):
    """The case needs terms that ``underwriting.terms`` cannot express."""


@dataclass(frozen=True)
class Profile:
    calcrule: int
    deductible1: float
    deductible2: float
    deductible3: float
    attachment1: float
    limit1: float
    share1: float


@dataclass(frozen=True)
class PolicyPart:
    """Terms of a single agg_id over the whole programme, as policy annual aggregate terms."""

    aggregate_deductible: float = 0.0
    aggregate_limit: float | None = None
    share: float = 1.0


@dataclass(frozen=True)
class TranslatedCase:
    events: EventLossTable
    terms: PolicyTerms
    occurrences: list[tuple[int, int]]
    """(event_id, sidx) of each occurrence; occurrence i is year i."""
    outputs: dict[int, Section | None]
    """Section of each output_id, or None for an output on the policy-level agg_id."""


def _rows(path: Path) -> list[dict[str, str]]:
    """A CSV file's rows; tolerates CRLF line endings and spaces after the commas."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = [name.strip() for name in next(reader)]
        return [
            dict(zip(header, (value.strip() for value in row), strict=True))
            for row in reader
            if row and any(value.strip() for value in row)
        ]


def _profiles(case: Path) -> dict[int, Profile]:
    return {
        int(row["profile_id"]): Profile(
            calcrule=int(row["calcrule_id"]),
            deductible1=float(row["deductible1"]),
            deductible2=float(row["deductible2"]),
            deductible3=float(row["deductible3"]),
            attachment1=float(row["attachment1"]),
            limit1=float(row["limit1"]),
            share1=float(row["share1"]),
        )
        for row in _rows(case / "input" / "fm_profile.csv")
    }


def _section_terms(profile: Profile) -> SectionTerms:
    """The per-occurrence part of a profile (steps 2-3 of the order of application)."""
    d1, d2, d3, l1 = profile.deductible1, profile.deductible2, profile.deductible3, profile.limit1
    match profile.calcrule:
        case 1:
            return SectionTerms(deductible=d1, limit=l1)
        case 2:  # the attachment, limit and share go to the policy part
            return SectionTerms(deductible=d1)
        case 3:
            return SectionTerms(deductible=d1, franchise=True, limit=l1)
        case 5:
            return SectionTerms(deductible_percent_of_loss=d1, limit_percent_of_loss=l1)
        case 9:
            return SectionTerms(deductible=d1 * l1, limit=l1)
        case 12:
            return SectionTerms(deductible=d1)
        case 14:
            return SectionTerms(limit=l1)
        case 15:
            return SectionTerms(limit_percent_of_loss=l1)
        case 16 | 17:  # 17: the attachment, limit and share go to the policy part
            return SectionTerms(deductible_percent_of_loss=d1)
        case 19:
            return SectionTerms(
                deductible_percent_of_loss=d1,
                deductible_minimum=d2,
                deductible_maximum=d3 if d3 > 0 else None,
            )
        case _:
            raise UnsupportedCaseError(f"calcrule {profile.calcrule} on a section")


def _layer_part(profile: Profile) -> PolicyPart | None:
    """The attachment/limit/share part of calcrules 2 and 17, if any."""
    if profile.calcrule not in (2, 17):
        return None
    return PolicyPart(
        aggregate_deductible=profile.attachment1,
        aggregate_limit=profile.limit1,
        share=profile.share1,
    )


def _policy_part(profile: Profile) -> PolicyPart:
    """A blanket policy-level profile as annual aggregate terms (one occurrence per year)."""
    d1, l1 = profile.deductible1, profile.limit1
    match profile.calcrule:
        case 1:
            return PolicyPart(aggregate_deductible=d1, aggregate_limit=l1)
        case 2:
            return PolicyPart(
                aggregate_deductible=d1 + profile.attachment1,
                aggregate_limit=l1,
                share=profile.share1,
            )
        case 12:
            return PolicyPart(aggregate_deductible=d1)
        case 14:
            return PolicyPart(aggregate_limit=l1)
        case _:
            raise UnsupportedCaseError(f"calcrule {profile.calcrule} at the policy level")


def translate(case: Path) -> TranslatedCase:
    """Our event table and terms for an Oasis case, or UnsupportedCaseError."""
    programme = _rows(case / "input" / "fm_programme.csv")
    policytc = _rows(case / "input" / "fm_policytc.csv")
    profiles = _profiles(case)
    levels = sorted({int(row["level_id"]) for row in programme})
    if levels not in ([1], [1, 2]):
        raise UnsupportedCaseError(f"{len(levels)} levels")
    if {int(row["layer_id"]) for row in policytc} != {1}:
        raise UnsupportedCaseError("several layers")
    profile_of = {
        (int(row["level_id"]), int(row["agg_id"])): profiles[int(row["profile_id"])]
        for row in policytc
    }

    agg_of_item = {
        int(row["from_agg_id"]): int(row["to_agg_id"])
        for row in programme
        if int(row["level_id"]) == 1
    }
    level1_aggs = sorted(set(agg_of_item.values()))
    if len(level1_aggs) > len(SECTIONS):
        raise UnsupportedCaseError(
            f"{len(level1_aggs)} level-1 terms need {len(level1_aggs)} sections, "
            f"we have {len(SECTIONS)}"
        )
    section_of_agg = dict(zip(level1_aggs, SECTIONS, strict=False))
    section_terms = {section_of_agg[agg]: _section_terms(profile_of[1, agg]) for agg in level1_aggs}

    policy: PolicyPart | None = None
    top_aggs = set(level1_aggs)
    if levels == [1, 2]:
        top_aggs = {int(row["to_agg_id"]) for row in programme if int(row["level_id"]) == 2}
        members = {int(row["from_agg_id"]) for row in programme if int(row["level_id"]) == 2}
        if len(top_aggs) != 1 or members != set(level1_aggs):
            raise UnsupportedCaseError("level 2 is not a single policy over all of level 1")
        policy = _policy_part(profile_of[2, next(iter(top_aggs))])
        layered = [agg for agg in level1_aggs if _layer_part(profile_of[1, agg]) is not None]
        if layered:
            raise UnsupportedCaseError("a layer below the policy level")
    else:
        layers = [_layer_part(profile_of[1, agg]) for agg in level1_aggs]
        if any(layer is not None for layer in layers):
            if len(level1_aggs) != 1:
                raise UnsupportedCaseError("a layer on one of several level-1 agg_ids")
            policy = layers[0]

    outputs: dict[int, Section | None] = {}
    for row in _rows(case / "input" / "fm_xref.csv"):
        agg = int(row["agg_id"])
        if agg not in top_aggs:
            raise UnsupportedCaseError(f"output on agg_id {agg} below the top level")
        outputs[int(row["output_id"])] = None if policy is not None else section_of_agg[agg]

    gul = _rows(case / "stream" / "gulitem2.csv")
    occurrences = sorted({(int(row["event_id"]), int(row["sidx"])) for row in gul})
    year_of = {occurrence: year for year, occurrence in enumerate(occurrences)}
    ground_up = np.zeros((len(occurrences), len(SECTIONS)))
    for row in gul:
        year = year_of[int(row["event_id"]), int(row["sidx"])]
        section = section_of_agg[agg_of_item[int(row["item_id"])]]
        ground_up[year, SECTION_INDEX[section]] += float(row["loss"])
    events = EventLossTable(
        year=np.arange(len(occurrences), dtype=np.int64),
        ground_up=ground_up,
        n_years=len(occurrences),
    )
    if policy is None:
        terms = PolicyTerms(sections=section_terms)
    else:
        terms = PolicyTerms(
            sections=section_terms,
            aggregate_deductible=policy.aggregate_deductible,
            aggregate_limit=policy.aggregate_limit,
            share=policy.share,
        )
    return TranslatedCase(events=events, terms=terms, occurrences=occurrences, outputs=outputs)


def _expected(case: Path) -> dict[tuple[int, int, int], float]:
    """Expected loss per (event_id, output_id, sidx), without back-allocation."""
    name = case.name
    path = case / "expected" / f"{name}_a0.csv"
    if not path.exists():
        path = case / "expected" / f"{name}.csv"
    expected: dict[tuple[int, int, int], float] = defaultdict(float)
    for row in _rows(path):
        key = (int(row["event_id"]), int(row["output_id"]), int(row["sidx"]))
        expected[key] += float(row["loss"])
    return expected


def _case_dir(name: str) -> Path:
    case = CASES_DIR / name
    assert case.is_dir(), f"Oasis ktest case {name} is missing from {CASES_DIR}"
    return case


ALL_CASES = [
    *(pytest.param(name, id=name) for name in RUN),
    *(
        pytest.param(name, id=name, marks=pytest.mark.skip(reason=f"{name} out of scope: {why}"))
        for name, why in OUT_OF_SCOPE.items()
    ),
]


@pytest.mark.parametrize("name", ALL_CASES)
def test_oasis_case(name: str) -> None:
    case = _case_dir(name)
    translated = translate(case)
    expected = _expected(case)
    insured = apply_terms(translated.events, translated.terms)

    keys: list[tuple[int, int, int]] = []
    actual: list[float] = []
    for year, (event_id, sidx) in enumerate(translated.occurrences):
        for output_id, section in sorted(translated.outputs.items()):
            keys.append((event_id, output_id, sidx))
            if section is None:
                actual.append(float(insured.annual[year]))
            else:
                actual.append(float(insured.annual_by_section[year, SECTION_INDEX[section]]))
    unexplained = sorted(set(expected) - set(keys))
    assert not unexplained, f"expected rows for occurrences/outputs not in the input: {unexplained}"
    wanted = [expected.get(key, 0.0) for key in keys]
    rows = "\n".join(
        f"  event {e} output {o} sidx {s}: ours {a:.2f}, Oasis {w:.2f}"
        for (e, o, s), a, w in zip(keys, actual, wanted, strict=True)
    )
    np.testing.assert_allclose(
        actual, wanted, rtol=RTOL, atol=ATOL, err_msg=f"{name} differs from Oasis:\n{rows}"
    )


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in OUT_OF_SCOPE])
def test_out_of_scope_case_is_refused(name: str) -> None:
    """The cases the module docstring calls out of scope are ones the translator refuses."""
    with pytest.raises(UnsupportedCaseError):
        translate(_case_dir(name))


def test_every_case_on_disk_is_classified() -> None:
    on_disk = {path.name for path in CASES_DIR.iterdir() if path.is_dir()}
    assert on_disk <= set(RUN) | set(OUT_OF_SCOPE), sorted(on_disk - set(RUN) - set(OUT_OF_SCOPE))
