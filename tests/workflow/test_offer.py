"""The offered premium: schedule credits from the tables, bands per authority, referral beyond
the band, and tables without schedule credits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError
from quote_records import ADMIN, CHIEF, SENIOR, UNDERWRITER, WHEN, new_record, tables

import underwriting as uw
from underwriting.rating import RulesTable
from underwriting.workflow import OFFER_BEYOND_BAND, Status, approve, offer

AT = WHEN + dt.timedelta(hours=3)


def test_an_offer_within_the_band_stays_quoted_at_the_technical_premium_moved() -> None:
    record = new_record("physics_low_hazard")
    technical = record.premium.technical
    offered = offer(
        record,
        {"survey_excellent_housekeeping": -0.05, "safety_management_audited": -0.025},
        actor=UNDERWRITER,
        at=AT,
        tables=tables(),
    )
    assert offered.status == Status.QUOTED
    assert offered.referral is None
    assert offered.offer is not None
    assert offered.offer.total_adjustment == pytest.approx(-0.075)
    # 61,824 x 0.925 rounded to the tables' unit (1), tax at their rate: figures by hand.
    settings = tables().pricing.premium
    assert offered.offered_premium.amount == round(technical * 0.925 / settings.rounding_unit)
    assert offered.offered_tax.amount == round(
        offered.offered_premium.amount * settings.premium_tax_rate
    )
    assert offered.adequacy_ratio == pytest.approx(0.925, abs=1 / technical)
    assert offered.technical_premium.amount == technical
    assert [c.reason for c in offered.offer.credits] == [
        "survey_excellent_housekeeping",
        "safety_management_audited",
    ]
    event = offered.history[-1]
    assert event.details["offered_premium"] == offered.offered_premium.to_dict()
    assert event.details["total_adjustment"] == pytest.approx(-0.075)


def test_beyond_the_underwriters_band_the_quote_goes_to_the_senior() -> None:
    record = new_record("physics_low_hazard")
    debits = {"survey_poor_housekeeping": 0.15, "values_concentrated": 0.15}  # +30 %
    referred = offer(record, debits, actor=UNDERWRITER, at=AT, tables=tables())
    assert referred.status == Status.REFERRED
    assert referred.referral is not None
    assert referred.referral.authority == "senior_underwriter"
    (reason,) = referred.referral.reasons
    assert reason.code == OFFER_BEYOND_BAND
    assert "+30.0%" in reason.message
    assert "underwriter -10.0% to +25.0%" in reason.message
    assert "senior_underwriter -20.0% to +50.0%" in reason.message
    assert approve(referred, actor=SENIOR, at=AT, tables=tables()).status == Status.APPROVED
    # The senior may offer the same on their own authority.
    by_senior = offer(record, debits, actor=SENIOR, at=AT, tables=tables())
    assert by_senior.status == Status.QUOTED
    assert by_senior.offer is not None
    assert by_senior.offer.authority_required == "senior_underwriter"


def test_a_credit_beyond_the_seniors_band_needs_the_chief() -> None:
    record = new_record("physics_low_hazard")
    credits = {
        "survey_excellent_housekeeping": -0.05,
        "survey_protection_beyond_declared": -0.10,
        "safety_management_audited": -0.075,
    }  # -22.5 %
    referred = offer(record, credits, actor=SENIOR, at=AT, tables=tables())
    assert referred.referral is not None
    assert referred.referral.authority == "chief_underwriter"
    with pytest.raises(uw.AuthorityError, match="'chief_underwriter'"):
        approve(referred, actor=SENIOR, at=AT, tables=tables())
    assert approve(referred, actor=CHIEF, at=AT, tables=tables()).status == Status.APPROVED
    # The widest band is an admin's too.
    assert offer(record, credits, actor=ADMIN, at=AT, tables=tables()).status == Status.QUOTED


def test_a_new_offer_within_the_band_replaces_the_referral_of_the_last() -> None:
    record = new_record("physics_low_hazard")
    referred = offer(
        record,
        {"survey_poor_housekeeping": 0.15, "values_concentrated": 0.15},
        actor=UNDERWRITER,
        at=AT,
        tables=tables(),
    )
    again = offer(
        referred, {"values_concentrated": 0.10}, actor=UNDERWRITER, at=AT, tables=tables()
    )
    assert again.status == Status.QUOTED
    assert again.referral is None
    assert [e.to_status for e in again.history] == ["quoted", "referred", "quoted"]


def test_an_offer_keeps_the_rules_referral() -> None:
    record = new_record("bsl3_biobank")  # referred to a senior by R01 and R05
    assert record.referral is not None
    offered = offer(
        record, {"survey_excellent_housekeeping": -0.05}, actor=UNDERWRITER, at=AT, tables=tables()
    )
    assert offered.status == Status.REFERRED
    assert offered.referral == record.referral
    beyond = offer(
        record,
        {"survey_poor_housekeeping": 0.15, "values_concentrated": 0.15},
        actor=UNDERWRITER,
        at=AT,
        tables=tables(),
    )
    assert beyond.referral is not None
    assert [r.code for r in beyond.referral.reasons] == [
        *(r.code for r in record.referral.reasons),
        OFFER_BEYOND_BAND,
    ]


def test_a_credit_the_tables_do_not_allow_is_refused_with_what_they_allow() -> None:
    record = new_record("physics_low_hazard")
    with pytest.raises(uw.OfferError, match=r"'loyalty' is not a reason of rating tables 2026\.3"):
        offer(record, {"loyalty": -0.05}, actor=UNDERWRITER, at=AT, tables=tables())
    with pytest.raises(
        uw.OfferError,
        match=r"'survey_excellent_housekeeping' .* of -0\.08 is outside its range -5\.0% to "
        r"\+0\.0%",
    ):
        offer(
            record,
            {"survey_excellent_housekeeping": -0.08},
            actor=UNDERWRITER,
            at=AT,
            tables=tables(),
        )
    with pytest.raises(uw.OfferError, match="outside its range"):
        offer(
            record, {"management_change": float("nan")}, actor=UNDERWRITER, at=AT, tables=tables()
        )


def test_a_total_outside_every_band_cannot_be_offered() -> None:
    base = tables()
    narrow = RulesTable.model_validate(
        {
            **base.rules.model_dump(),
            "offer_bands": [
                {"authority": a, "min_total_adjustment": -0.05, "max_total_adjustment": 0.05}
                for a in base.rules.authority_levels
            ],
        }
    )
    narrow_tables = dataclasses.replace(base, rules=narrow)
    with pytest.raises(uw.OfferError, match=r"\+15\.0% in total are outside every authority"):
        offer(
            new_record(),
            {"survey_poor_housekeeping": 0.15},
            actor=CHIEF,
            at=AT,
            tables=narrow_tables,
        )


def test_released_tables_without_schedule_credits_allow_only_the_technical_premium() -> None:
    record = new_record("physics_low_hazard", version="2026.2")
    with pytest.raises(uw.OfferError, match=r"rating tables 2026\.2 have no schedule credits"):
        offer(
            record,
            {"survey_excellent_housekeeping": -0.05},
            actor=CHIEF,
            at=AT,
            tables=tables("2026.2"),
        )
    at_technical = offer(record, {}, actor=UNDERWRITER, at=AT, tables=tables("2026.2"))
    assert at_technical.status == Status.QUOTED
    assert at_technical.offered_premium.amount == record.premium.total


def _rules_with(**changes: object) -> dict[str, object]:
    rules = tables().rules.model_dump()
    rules.update(changes)
    return rules


def test_the_tables_offer_sections_are_checked() -> None:
    credits = tables().rules.model_dump()["schedule_credits"]
    bands = tables().rules.model_dump()["offer_bands"]
    with pytest.raises(ValidationError, match="appear more than once"):
        RulesTable.model_validate(_rules_with(schedule_credits=[*credits, credits[0]]))
    with pytest.raises(ValidationError, match="give both or neither"):
        RulesTable.model_validate(_rules_with(offer_bands=[]))
    with pytest.raises(ValidationError, match="one band for each authority level"):
        RulesTable.model_validate(_rules_with(offer_bands=bands[:2]))
    wider_below = {**bands[0], "max_total_adjustment": 0.9}  # wider than the senior's
    with pytest.raises(ValidationError, match="must contain underwriter's"):
        RulesTable.model_validate(_rules_with(offer_bands=[wider_below, *bands[1:]]))
    with pytest.raises(ValidationError, match=r"min_adjustment 0\.1 is above max_adjustment"):
        RulesTable.model_validate(
            _rules_with(
                schedule_credits=[{**credits[0], "min_adjustment": 0.1, "max_adjustment": 0.0}]
            )
        )


def test_a_bad_row_of_the_offer_sections_is_named_with_its_file_and_row(tmp_path: Path) -> None:
    copy = tmp_path / "2026.3"
    shutil.copytree(Path(str(resources.files("underwriting.rating_tables"))) / "2026.3", copy)
    rules = copy / "rules.toml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace("max_adjustment = 0.15", "max_adjustment = 1.5", 1))
    uw.rating.write_manifest_hashes(copy)
    with pytest.raises(uw.RatingTableError, match=r"rules\.toml, row 6"):
        uw.load_rating_tables(root=tmp_path, version="2026.3")
