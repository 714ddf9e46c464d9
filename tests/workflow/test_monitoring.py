"""Rate monitoring: RARC and adequacy of a small book, computed by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import underwriting as uw
from underwriting.workflow import RateRecord, monitor_rates, renew

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _renewal(month: str, category: str, who: str, p1: float, t4: float, p0: float, t0: float,
             t3: float) -> dict[str, Any]:  # fmt: skip
    return {
        "month": month,
        "lab_category": category,
        "underwriter": who,
        "premium": p1,
        "technical": t4,
        "expiring_premium": p0,
        "expiring_technical": t0,
        "like_for_like_technical": t3,
    }


# Four policies. Risk-adjusted expiring premium P0 T3 / T0 and RARC of each renewal:
#   1: 100 * 88 / 80 = 110, 110 / 110 - 1 = 0       (10 % more risk priced at the same rate)
#   2: 200 * 200 / 200 = 200, 240 / 200 - 1 = +20 %
#   3: new business, adequacy 90 / 100
#   4: 60 * 50 / 60 = 50, 50 / 50 - 1 = 0            (less cover, price down with it)
BOOK = [
    _renewal("2027-01", "teaching", "li", 110.0, 100.0, 100.0, 80.0, 88.0),
    _renewal("2027-01", "biological", "wang", 240.0, 200.0, 200.0, 200.0, 200.0),
    {
        "month": "2027-02",
        "lab_category": "biological",
        "underwriter": "li",
        "premium": 90.0,
        "technical": 100.0,
    },
    _renewal("2027-02", "teaching", "wang", 50.0, 50.0, 60.0, 60.0, 50.0),
]


def test_the_book_in_all() -> None:
    book = monitor_rates(BOOK).book
    assert (book.renewals, book.new_business, book.count) == (3, 1, 4)
    assert book.renewal_premium == 400.0
    assert book.expiring_premium == 360.0
    assert book.risk_adjusted_expiring_premium == pytest.approx(360.0)
    assert book.rate_change == pytest.approx(400 / 360 - 1)
    assert book.adequacy == pytest.approx(490 / 450)
    assert book.renewal_adequacy == pytest.approx(400 / 350)
    assert book.new_business_adequacy == pytest.approx(0.9)


def test_by_month_lab_category_and_underwriter() -> None:
    view = monitor_rates(BOOK)
    months = {g.key: g for g in view.by_month}
    assert [g.key for g in view.by_month] == ["2027-01", "2027-02"]
    assert months["2027-01"].rate_change == pytest.approx(350 / 310 - 1)
    assert months["2027-01"].adequacy == pytest.approx(350 / 300)
    assert months["2027-02"].rate_change == pytest.approx(0.0)
    assert months["2027-02"].adequacy == pytest.approx(140 / 150)
    assert (months["2027-02"].renewals, months["2027-02"].new_business) == (1, 1)
    categories = {g.key: g for g in view.by_lab_category}
    assert categories["biological"].rate_change == pytest.approx(0.2)
    assert categories["biological"].adequacy == pytest.approx(330 / 300)
    assert categories["teaching"].rate_change == pytest.approx(0.0)
    assert categories["teaching"].adequacy == pytest.approx(160 / 150)
    underwriters = {g.key: g for g in view.by_underwriter}
    assert underwriters["li"].rate_change == pytest.approx(0.0)
    assert underwriters["li"].adequacy == pytest.approx(1.0)
    # Premium-weighted: wang's +20 % on 200 and 0 % on 50 is +16 %, not the plain mean of +10 %.
    assert underwriters["wang"].rate_change == pytest.approx(290 / 250 - 1)
    assert underwriters["wang"].rate_change == pytest.approx(0.16)
    assert "RARC  +11.1%" in view.summary()


def test_a_group_of_new_business_only_has_no_rate_change() -> None:
    view = monitor_rates([BOOK[2]])
    assert view.book.rate_change is None
    assert view.book.renewal_adequacy is None
    assert view.book.new_business_adequacy == pytest.approx(0.9)
    assert "RARC       -" in view.summary()


def test_records_agree_with_their_own_rarc() -> None:
    records = [RateRecord.from_mapping(r) for r in BOOK]
    assert [r.kind for r in records] == ["renewal", "renewal", "new_business", "renewal"]
    assert records[1].rate_change == pytest.approx(0.2)
    assert records[2].rate_change is None
    assert monitor_rates(records) == monitor_rates(BOOK)


def test_a_priced_renewal_becomes_a_record() -> None:
    request = uw.QuoteRequest.model_validate_json(
        (EXAMPLES / "physics_low_hazard.json").read_text()
    )
    tables = uw.load_rating_tables("2026.2")
    when = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    renewal = renew(
        request,
        expiring_tables=tables,
        seed=1,
        n_years=5_000,
        expiring_date=when,
        expiring_premium=50_000.0,
        tables=uw.load_rating_tables("2026.3"),
        renewal_date=when.replace(year=2027),
    )
    record = RateRecord.from_renewal(renewal, month="2027-03", underwriter="li")
    assert record.lab_category == "physics_engineering"
    assert record.rate_change == pytest.approx(renewal.rate_change.value, rel=1e-12)
    assert record.adequacy == pytest.approx(renewal.renewal_adequacy.value, rel=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"month": "2027-13"}, r"records\[0\]: month is '2027-13'; it must be a month"),
        ({"premium": -3.0}, r"records\[0\]: premium is -3.0; it must be a positive"),
        ({"technical": 0}, r"technical is 0"),
        ({"underwriter": ""}, r"underwriter is ''"),
        ({"expiring_technical": None}, r"expiring_technical missing"),
        ({"broker": "x"}, r"unknown field\(s\) 'broker'"),
    ],
)
def test_malformed_records_are_refused_naming_the_field(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(uw.UnderwritingError, match=message):
        monitor_rates([{**BOOK[0], **change}])


def test_an_empty_book_is_refused() -> None:
    with pytest.raises(uw.UnderwritingError, match="no records"):
        monitor_rates([])
