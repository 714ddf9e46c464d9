"""A quote read back from its stored dictionary, and the quote as offered for the document."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest

import underwriting as uw
from underwriting.workflow import (
    Actor,
    offer,
    quote_as_offered,
    quote_from_dict,
    record_quote,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WHEN = dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.3")


def _quote(request: uw.QuoteRequest, tables: uw.RatingTables) -> uw.Quote:
    return uw.quote(
        request.submission,
        request.terms,
        tables=tables,
        options=request.options,
        labels=request.option_labels,
        n_years=5_000,
        seed=7,
        created_at=WHEN,
    )


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((EXAMPLES / f"{name}.json").read_text("utf-8"))


def test_a_stored_quote_reads_back_equal_with_options_and_through_json(
    tables: uw.RatingTables,
) -> None:
    request = _request("physics_low_hazard")
    data = request.model_dump(mode="json")
    data["options"] = [data["terms"]]
    data["option_labels"] = ["same terms"]
    request = uw.QuoteRequest.model_validate(data)
    quote = _quote(request, tables)
    assert [option.label for option in quote.options] == ["same terms"]

    again = quote_from_dict(json.loads(json.dumps(quote.to_dict())))

    assert again == quote
    assert again.result is None
    assert again.options[0].difference == quote.options[0].difference


def test_a_stored_quote_missing_a_field_is_an_error_naming_it(tables: uw.RatingTables) -> None:
    quote = _quote(_request("physics_low_hazard"), tables)
    data = quote.to_dict()
    del data["experience"]
    with pytest.raises(uw.UnderwritingError, match="lacks the field 'experience'"):
        quote_from_dict(data)


def test_the_quote_as_offered_carries_the_offered_premium_split_to_add_up(
    tables: uw.RatingTables,
) -> None:
    request = _request("physics_low_hazard")
    quote = _quote(request, tables)
    record = record_quote(
        quote, request, id="q1", actor=Actor("wang", "underwriter"), tables=tables
    )
    assert quote_as_offered(quote, record) is quote  # no offer: the quote as it is

    offered = offer(
        record,
        {"survey_excellent_housekeeping": -0.05},
        actor=Actor("wang", "underwriter"),
        at=WHEN,
        tables=tables,
    )
    shown = quote_as_offered(quote_from_dict(quote.to_dict()), offered)

    assert offered.offer is not None
    assert shown.premium.total == offered.offer.premium < quote.premium.total
    assert shown.premium.tax == offered.offer.tax
    assert shown.premium.total_with_tax == offered.offer.premium + offered.offer.tax
    assert math.isclose(sum(shown.premium.by_section.values()), shown.premium.total)
    assert math.isclose(sum(shown.premium.by_scenario.values()), shown.premium.total)
    assert shown.premium.technical == quote.premium.technical
    other = _quote(_request("bsl3_biobank"), tables)
    with pytest.raises(uw.UnderwritingError, match="not the one of record q1"):
        quote_as_offered(other, offered)
