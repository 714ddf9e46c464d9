"""Loss adjustment expense in the build-up and the worksheet's premium effects (issue 15, items
3 and 6): present in 2026.3, absent (and the quote unchanged) in 2026.1 and 2026.2."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

import underwriting as uw
from underwriting.rating import write_manifest_hashes

ROOT = Path(__file__).resolve().parents[2]
WHEN = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
YEARS = 40_000


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((ROOT / "examples" / name).read_text())


@pytest.fixture(scope="module")
def draft() -> uw.RatingTables:
    return uw.load_rating_tables("2026.3")


@pytest.fixture(scope="module")
def physics_draft(draft: uw.RatingTables) -> uw.Quote:
    example = _request("physics_low_hazard.json")
    return uw.quote(example.submission, example.terms, tables=draft, n_years=YEARS, created_at=WHEN)


def test_draft_lae_is_sourced_share_of_expected_loss(
    draft: uw.RatingTables, physics_draft: uw.Quote
) -> None:
    settings = draft.pricing.premium
    # III 2013 (docs/sources.md#s65): DCC 4.6 % and A&O 7.3 % of premium on losses of 55.5 %.
    assert settings.alae_ratio == pytest.approx(4.6 / 55.5, abs=5e-4)
    assert settings.ulae_ratio == pytest.approx(7.3 / 55.5, abs=5e-4)
    premium = physics_draft.premium
    assert premium.lae == pytest.approx(settings.lae_ratio * premium.expected_loss, rel=1e-12)
    assert premium.technical == pytest.approx(
        (premium.expected_loss + premium.lae + premium.risk_load + premium.fixed_expense)
        / settings.premium_divisor,
        rel=1e-12,
    )
    rows = {row.name: row for row in physics_draft.worksheet}
    assert rows["loss adjustment expense"].value == round(premium.lae)
    assert "s65" in rows["loss adjustment expense"].explanation
    assert physics_draft.to_dict()["premium"]["lae"] == premium.lae


def test_lae_raises_the_premium_against_the_same_tables_without_it(
    tmp_path: Path, draft: uw.RatingTables, physics_draft: uw.Quote
) -> None:
    copy = tmp_path / "2026.3"
    shutil.copytree(ROOT / "rating_tables" / "2026.3", copy)
    pricing = copy / "pricing.toml"
    text = re.sub(r"(?m)^(alae_ratio|ulae_ratio) = [0-9.]+", r"\1 = 0.0", pricing.read_text())
    pricing.write_text(text, encoding="utf-8")
    write_manifest_hashes(copy)
    without = uw.load_rating_tables("2026.3", root=tmp_path)
    assert without.pricing.premium.lae_ratio == 0
    example = _request("physics_low_hazard.json")
    q = uw.quote(example.submission, example.terms, tables=without, n_years=YEARS, created_at=WHEN)
    with_lae = physics_draft.premium
    assert q.premium.lae == 0
    assert q.premium.expected_loss == with_lae.expected_loss  # the same events
    assert q.premium.risk_load == with_lae.risk_load
    rise = (with_lae.technical - q.premium.technical) * draft.pricing.premium.premium_divisor
    assert rise == pytest.approx(with_lae.lae, rel=1e-9)
    assert with_lae.total > q.premium.total
    assert "loss adjustment expense" not in {row.name for row in q.worksheet}


def test_released_tables_have_no_lae_and_keep_the_expected_loss_worksheet() -> None:
    tables = uw.load_rating_tables("2026.2")
    settings = tables.pricing.premium
    assert settings.lae_ratio == 0
    assert settings.worksheet_term_values == "expected_loss"
    example = _request("physics_low_hazard.json")
    q = uw.quote(example.submission, example.terms, tables=tables, n_years=20_000, created_at=WHEN)
    assert q.premium.lae == 0
    assert "lae" not in q.to_dict()["premium"]  # stored quotes replay unchanged
    assert "loss adjustment expense" not in {row.name for row in q.worksheet}
    rows = {row.name: row for row in q.worksheet}
    assert rows["value of deductibles"].explanation.startswith("what the deductibles")


def test_draft_worksheet_values_are_premium_effects_on_the_same_events(
    draft: uw.RatingTables, physics_draft: uw.Quote
) -> None:
    """Each 'value of' row is the technical premium with the quoted terms less the technical
    premium without that kind of term, priced with the same settings on the same years; the
    expected-loss effect is stated beside it and is the smaller."""
    settings = draft.pricing.premium
    rows = {row.name: row for row in physics_draft.worksheet}
    values = [name for name in rows if name.startswith("value of")]
    assert "value of deductibles" in values
    for name in values:
        row = rows[name]
        assert row.value is not None
        assert row.value == round(row.value)
        assert row.explanation.startswith("premium effect")
        found = re.search(r"expected loss effect (-?[0-9,]+)", row.explanation)
        assert found is not None
        loss = float(found[1].replace(",", ""))
        if loss:
            # LAE, expenses and profit ride on the loss (the risk load too): the premium effect
            # is at least (1 + lae_ratio) / divisor times the expected-loss effect
            floor = abs(loss) * (1 + settings.lae_ratio) / settings.premium_divisor
            assert abs(row.value) > 0.99 * floor


def test_draft_worksheet_numbers_are_rounded_for_a_person(physics_draft: uw.Quote) -> None:
    for row in physics_draft.worksheet:
        if row.value is None or row.name.startswith("experience:"):
            continue
        if row.name.startswith("rate:"):
            assert row.value == float(f"{row.value:.3g}")
            assert "exposure" not in row.explanation or "from the submission" in row.explanation
        else:
            assert row.value == round(row.value), row


def test_draft_worksheet_shows_each_scenarios_credibility(draft: uw.RatingTables) -> None:
    """Under per-scenario credibility one Z would mislead: the worksheet gives each rated
    scenario's Z and k, and Z = 0 for a scenario the tables model without rate uncertainty."""
    request = _request("chemistry_high_hazard.json")
    quote = uw.quote(request.submission, request.terms, tables=draft, n_years=20_000)
    rows = {
        row.name.removeprefix("experience: credibility Z "): row
        for row in quote.worksheet
        if row.name.startswith("experience: credibility Z ")
    }
    rated = {item.scenario: item for item in quote.experience.scenarios if item.rated}
    assert set(rows) == set(rated)
    for scenario, item in rated.items():
        assert rows[scenario].value == pytest.approx(item.credibility, rel=5e-3)
    assert (rows["contained_fire"].value or 0) > 0  # negative binomial: some credibility
    assert rows["researcher_injury"].value == 0  # Poisson: none, whatever its claim
    assert "Poisson" in rows["researcher_injury"].explanation
    assert "experience: credibility Z" not in {row.name for row in quote.worksheet}
