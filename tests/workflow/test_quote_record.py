"""The quote record: what it keeps, its JSON form with a currency on every amount, its history."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from quote_records import (
    ACTUARY,
    SENIOR,
    UNDERWRITER,
    WHEN,
    YEARS,
    example_quote,
    example_request,
    new_record,
    tables,
)

import underwriting as uw
from underwriting.workflow import (
    Status,
    approve,
    bind,
    offer,
    record_from_dict,
    record_quote,
    supersede,
)

LATER = WHEN + dt.timedelta(hours=2)
MONEY_KEYS = {
    "technical_premium",
    "offered_premium",
    "offered_tax",
    "difference",
    "difference_standard_error",
    "premium",
    "tax",
}


def _amounts_without_currency(node: Any, path: str = "") -> list[str]:
    """Paths of money amounts (by their key) that carry no currency, neither their own nor
    that of the object holding them (a premium's build-up)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            held = "currency" in node and not isinstance(value, dict)
            if (
                key in MONEY_KEYS
                and not held
                and not (isinstance(value, dict) and "currency" in value)
            ):
                found.append(where)
            found += _amounts_without_currency(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _amounts_without_currency(value, f"{path}[{index}]")
    return found


def test_a_new_record_keeps_everything_quoted() -> None:
    record = new_record("bsl3_biobank")
    q = example_quote("bsl3_biobank")
    assert record.status == Status.REFERRED
    assert record.referral is not None
    assert record.referral.authority == "senior_underwriter"
    assert record.referral.reasons == q.decision.reasons
    assert record.request == example_request("bsl3_biobank")
    assert record.premium == q.premium
    assert record.valid_until == q.valid_until
    assert record.provenance == q.provenance
    assert record.warnings == q.warnings
    assert record.currency == tables().currency == "CNY"
    assert record.technical_premium == uw.workflow.Money(q.premium.technical, "CNY")
    assert record.offered_premium.amount == q.premium.total
    assert record.adequacy_ratio == q.premium.total / q.premium.technical
    (event,) = record.history
    assert (event.action, event.from_status, event.to_status) == ("create", None, "referred")
    assert event.at == WHEN
    assert "referred" in record.summary()


def test_the_record_reads_back_from_json_after_every_kind_of_event() -> None:
    record = new_record("bsl3_biobank")
    offered = offer(
        record,
        {"survey_excellent_housekeeping": -0.05},
        actor=UNDERWRITER,
        at=LATER,
        tables=tables(),
        note="survey 2026-12",
    )
    approved = approve(offered, actor=SENIOR, at=LATER, tables=tables())
    bound = bind(approved, actor=UNDERWRITER, at=LATER, tables=tables())
    for state in (record, offered, approved, bound):
        text = json.dumps(state.to_dict(), allow_nan=False)
        again = record_from_dict(json.loads(text))
        assert again == state
        assert again.to_dict() == state.to_dict()
    assert [e.action for e in bound.history] == ["create", "offer", "approve", "bind"]
    assert bound.history[-1].details["premium"] == bound.offered_premium.to_dict()


def test_every_money_amount_carries_its_currency() -> None:
    request = example_request("physics_low_hazard")
    option = request.terms.model_copy(update={"aggregate_limit": 2_000_000.0})
    labelled = request.model_copy(update={"options": (option,), "option_labels": ("2M cap",)})
    q = uw.quote(
        labelled.submission,
        labelled.terms,
        tables=tables(),
        options=labelled.options,
        labels=labelled.option_labels,
        n_years=YEARS,
        created_at=WHEN,
    )
    record = record_quote(q, labelled, id="q9", actor=UNDERWRITER, tables=tables())
    record = offer(
        record, {"management_change": 0.05}, actor=UNDERWRITER, at=q.valid_until, tables=tables()
    )
    data = record.to_dict()
    assert not _amounts_without_currency(data), _amounts_without_currency(data)
    assert data["premium"]["currency"] == "CNY"
    assert data["options"][0]["label"] == "2M cap"
    assert data["options"][0]["premium"]["currency"] == "CNY"
    assert data["request"]["option_labels"] == ["2M cap"]
    assert record.offer is not None
    assert data["offer"]["premium"] == {"amount": record.offer.premium, "currency": "CNY"}


def test_a_record_refuses_a_request_that_is_not_the_quotes() -> None:
    q = example_quote("physics_low_hazard")
    with pytest.raises(uw.UnderwritingError, match="not the quote's"):
        record_quote(q, example_request("bsl3_biobank"), id="x", actor=UNDERWRITER, tables=tables())
    with pytest.raises(uw.UnderwritingError, match=r"made with rating tables 2026\.3, not 2026\.2"):
        record_quote(
            q,
            example_request("physics_low_hazard"),
            id="x",
            actor=UNDERWRITER,
            tables=tables("2026.2"),
        )
    with pytest.raises(uw.AuthorityError, match="role 'actuary' may not make quotes"):
        record_quote(
            q, example_request("physics_low_hazard"), id="x", actor=ACTUARY, tables=tables()
        )


def test_actions_need_the_quotes_own_tables_version() -> None:
    record = new_record("physics_low_hazard")
    with pytest.raises(uw.UnderwritingError, match=r"with those tables, not 2026\.2"):
        bind(record, actor=UNDERWRITER, at=LATER, tables=tables("2026.2"))


def test_a_record_missing_a_field_names_it() -> None:
    data = new_record().to_dict()
    del data["valid_until"]
    with pytest.raises(uw.UnderwritingError, match="lacks the field 'valid_until'"):
        record_from_dict(data)


def test_a_superseded_record_names_its_revision() -> None:
    record = supersede(new_record(), by="q2", actor=UNDERWRITER, at=LATER, tables=tables())
    assert record.status == Status.SUPERSEDED
    assert record.superseded_by == "q2"
    assert new_record().superseded_by is None
