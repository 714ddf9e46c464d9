"""Revisions: JSON merge patch (RFC 7396), the changed paths, and a revision priced on the
parent's simulated years."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError
from quote_records import UNDERWRITER, WHEN, new_record, tables

import underwriting as uw
from underwriting.pricing import paired_standard_error
from underwriting.workflow import (
    Status,
    bind,
    changed_paths,
    merge_patch,
    price_revision,
    record_quote,
    revise,
    revision_difference,
    supersede,
)

AT = WHEN + dt.timedelta(days=1)

# RFC 7396, Appendix A: every example, as (target, patch, result).
RFC_7396_APPENDIX_A: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7396_APPENDIX_A)
def test_merge_patch_gives_the_rfcs_results(target: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == result
    assert target == before  # the target is not changed


def test_merge_patch_gives_the_rfcs_worked_example() -> None:
    # RFC 7396, section 3.
    target = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    }
    assert merge_patch(target, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }
    assert changed_paths(target, merge_patch(target, patch)) == (
        "/author/familyName",
        "/phoneNumber",
        "/tags",
        "/title",
    )


def test_changed_paths_are_json_pointers() -> None:
    # RFC 6901: "~" is written "~0" and "/" "~1".
    assert changed_paths({"a/b": 1, "m~n": 1}, {"a/b": 2, "m~n": 2}) == ("/a~1b", "/m~0n")
    assert changed_paths({"x": [1, 2, 3]}, {"x": [1, 5, 3]}) == ("/x/1",)
    assert changed_paths({"x": 2}, {"x": 2.0}) == ()
    assert changed_paths({"x": 1}, {"x": True}) == ("/x",)
    assert changed_paths({"x": {"y": 1}}, {"x": {"y": 1}}) == ()


def _deductible_patch(amount: float) -> dict[str, Any]:
    return {"terms": {"sections": {"equipment_breakdown": {"deductible": amount}}}}


def test_a_revision_is_priced_on_its_parents_years() -> None:
    parent = new_record("physics_low_hazard")
    revision = revise(parent, _deductible_patch(100_000))
    assert revision.changed == ("/terms/sections/equipment_breakdown/deductible",)
    sections = revision.request.terms.sections
    assert sections[uw.Section.EQUIPMENT_BREAKDOWN].deductible == 100_000
    assert revision.parent_id == parent.id
    child_quote = price_revision(revision, tables=tables(), created_at=AT)
    provenance = child_quote.provenance
    assert (provenance.seed, provenance.n_years, provenance.tables_version) == (
        parent.provenance.seed,
        parent.provenance.n_years,
        parent.tables_version,
    )
    # A higher deductible on the same events: a lower premium, known far better than either.
    change = revision_difference(parent, child_quote, tables=tables()).technical
    assert change.value == child_quote.premium.technical - parent.premium.technical
    assert change.value < -3 * change.standard_error
    assert change.standard_error < 0.2 * min(
        parent.premium.standard_error, child_quote.premium.standard_error
    )
    # It is the paired error of the parent's own years, replayed.
    parent_quote = uw.replay(parent.provenance, parent.request, tables=tables())
    assert parent_quote.premium == parent.premium
    assert parent_quote.result is not None
    assert child_quote.result is not None
    settings = tables().pricing.premium
    assert change.standard_error == paired_standard_error(
        parent_quote.result.annual_loss,
        settings,
        child_quote.result.annual_loss,
        settings,
        tables().pricing.precision.batches,
    )

    child = record_quote(
        child_quote,
        revision.request,
        id="q2",
        actor=UNDERWRITER,
        tables=tables(),
        parent_id=parent.id,
    )
    superseded = supersede(parent, by=child.id, actor=UNDERWRITER, at=AT, tables=tables())
    assert child.parent_id == parent.id
    assert child.history[0].details["revises"] == parent.id
    assert superseded.status == Status.SUPERSEDED
    assert superseded.superseded_by == "q2"


def test_an_empty_revision_reproduces_its_parent() -> None:
    parent = new_record("bsl3_biobank")
    revision = revise(parent, {})
    assert revision.changed == ()
    again = price_revision(revision, tables=tables(), created_at=parent.provenance.created_at)
    assert again.premium == parent.premium
    assert again.decision == parent.decision


def test_a_revision_may_add_labelled_options() -> None:
    parent = new_record("physics_low_hazard")
    option = parent.request.terms.model_dump(mode="json")
    option["aggregate_limit"] = 5_000_000
    revision = revise(parent, {"options": [option], "option_labels": ["5M aggregate"]})
    assert revision.changed == ("/option_labels", "/options")
    priced = price_revision(revision, tables=tables(), created_at=AT)
    (labelled,) = priced.options
    assert labelled.label == "5M aggregate"
    assert labelled.difference <= 0
    assert labelled.decision.outcome in ("quoted", "referred", "declined")


def test_a_revision_that_breaks_the_request_names_the_field() -> None:
    parent = new_record("physics_low_hazard")
    with pytest.raises(ValidationError, match=r"terms\.sections\.equipment_breakdown\.deductible"):
        revise(parent, _deductible_patch(-1))


def test_a_revision_keeps_the_parents_seed() -> None:
    parent = new_record("physics_low_hazard")
    with pytest.raises(uw.RevisionError, match="leave the seed out of the patch"):
        revise(parent, {"seed": "7"})
    assert revise(parent, {"seed": parent.provenance.seed}).seed == parent.provenance.seed


def test_a_bound_quote_cannot_be_revised() -> None:
    bound = bind(new_record(), actor=UNDERWRITER, at=AT, tables=tables())
    with pytest.raises(uw.TransitionError, match="cannot supersede a quote that is bound"):
        revise(bound, _deductible_patch(100_000))


def test_a_revision_is_priced_with_its_parents_tables_only() -> None:
    revision = revise(new_record(), _deductible_patch(100_000))
    with pytest.raises(uw.UnderwritingError, match=r"with its rating tables, 2026\.3, not 2026\.2"):
        price_revision(revision, tables=tables("2026.2"))
    edited = dataclasses.replace(tables(), sha256={"rules.toml": "0" * 64})
    with pytest.raises(uw.UnderwritingError, match="have changed since quote q1 was made"):
        price_revision(revision, tables=edited)


def test_a_revision_not_priced_on_its_parents_years_has_no_paired_difference() -> None:
    parent = new_record("physics_low_hazard")
    request = revise(parent, _deductible_patch(100_000)).request
    elsewhere = uw.quote(request.submission, request.terms, tables=tables(), seed=7, n_years=10_000)
    with pytest.raises(uw.UnderwritingError, match="different seeds"):
        revision_difference(parent, elsewhere, tables=tables())
