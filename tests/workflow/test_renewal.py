"""Renewal pricing: the steps from the expiring technical premium add up, each shows only its
own change, and the risk-adjusted rate change (RARC) follows its definition."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import re
from pathlib import Path
from typing import Any

import pytest

import underwriting as uw
from underwriting.workflow import Renewal, renew, risk_adjusted_rate_change

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
YEARS = 20_000
SEED = 20260101
EXPIRING_DATE = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
RENEWAL_DATE = dt.datetime(2027, 2, 1, tzinfo=dt.UTC)
CLAIM = {"scenario": "instrument_breakdown", "date": "2026-09-15", "amount": 180_000}


def _request(name: str = "physics_low_hazard") -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((EXAMPLES / f"{name}.json").read_text())


def _changed(request: uw.QuoteRequest, **changes: Any) -> uw.QuoteRequest:
    """The request with dotted paths (``__`` for ``.``) set to new values."""
    data = request.model_dump(mode="json")
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return uw.QuoteRequest.model_validate(data)


@pytest.fixture(scope="module")
def old() -> uw.RatingTables:
    return uw.load_rating_tables("2026.2")


@pytest.fixture(scope="module")
def new() -> uw.RatingTables:
    return uw.load_rating_tables("2026.3")


def _renew(
    old: uw.RatingTables,
    renewed: uw.QuoteRequest | None = None,
    tables: uw.RatingTables | None = None,
    expiring: uw.QuoteRequest | None = None,
    **kwargs: Any,
) -> Renewal:
    kwargs.setdefault("expiring_premium", 60_000.0)
    return renew(
        expiring or _request(),
        expiring_tables=old,
        seed=SEED,
        n_years=YEARS,
        expiring_date=EXPIRING_DATE,
        renewed=renewed,
        tables=tables or old,
        renewal_date=RENEWAL_DATE,
        **kwargs,
    )


def _only(renewal: Renewal, moved: set[str]) -> None:
    """The steps in ``moved`` change the premium; every other step is exactly 0, error 0, and
    changed no input (the claims step's move of the rating date aside: it changes nothing when
    no claim enters or leaves the observed years)."""
    for step in renewal.steps:
        if step.name in moved:
            assert step.technical_change.value != 0, step.name
            assert step.changes, step.name
        else:
            assert step.technical_change.value == 0.0, step.name
            assert step.technical_change.standard_error == 0.0, step.name
            assert step.expected_loss_change.value == 0.0, step.name
            assert step.price_change.value == 0.0, step.name
            assert not [c for c in step.changes if not c.startswith("rated at")], step.name


def _everything_changes(old: uw.RatingTables, new: uw.RatingTables) -> Renewal:
    """The physics lab renewing on 2026.3 with 10 % more equipment, one claim, a new deductible."""
    renewed = _changed(
        _request(),
        submission__values__equipment=13_200_000,
        submission__claims_history__claims=[CLAIM],
        terms__sections__property__deductible=25_000,
    )
    return _renew(old, renewed, tables=new)


def test_the_steps_add_up_exactly_to_the_total_change(
    old: uw.RatingTables, new: uw.RatingTables
) -> None:
    renewal = _everything_changes(old, new)
    assert [step.name for step in renewal.steps] == [
        "exposure",
        "terms",
        "claims_experience",
        "tables_version",
    ]
    _only(renewal, {"exposure", "terms", "claims_experience", "tables_version"})
    total = renewal.renewal.premium.technical - renewal.expiring.premium.technical
    steps = sum(step.technical_change.value for step in renewal.steps)
    assert steps == pytest.approx(total, rel=1e-9)
    assert renewal.technical_change.value == pytest.approx(total, rel=1e-12)
    # Each step starts where the one before ended.
    for before, after in zip(renewal.steps, renewal.steps[1:], strict=False):
        assert after.technical_before == before.technical_after
    # The price walk: the steps at the expiring adequacy, then the change of adequacy.
    walk = sum(step.price_change.value for step in renewal.steps) + renewal.adequacy_change.value
    assert walk == pytest.approx(renewal.renewal_premium - renewal.expiring_premium, rel=1e-9)
    assert renewal.price_change == renewal.renewal_premium - renewal.expiring_premium
    # Every figure carries an error, and the steps' paired errors are below the premiums' own.
    own = renewal.expiring.premium.standard_error
    for step in renewal.steps:
        assert 0 < step.technical_change.standard_error < own, step.name
    assert renewal.steps[0].changes == ("submission.values.equipment: 12,000,000 -> 13,200,000",)
    assert renewal.steps[1].changes == ("terms.sections.property.deductible: 10,000 -> 25,000",)
    assert renewal.steps[3].changes == ("tables 2026.2 -> 2026.3",)


def test_the_expiring_step_is_the_quote_that_was_bound(old: uw.RatingTables) -> None:
    request = _request()
    bound = uw.quote(
        request.submission,
        request.terms,
        tables=old,
        seed=SEED,
        n_years=YEARS,
        created_at=EXPIRING_DATE,
    )
    renewal = _renew(old, expiring_premium=bound.premium.total)
    assert renewal.expiring.premium == bound.premium
    # Nothing changed, on the same tables, at the charged premium: no risk change, no rate change.
    _only(renewal, set())
    assert renewal.renewal_premium == bound.premium.total
    assert renewal.risk_change.value == 0.0
    assert renewal.risk_change.standard_error == 0.0
    assert renewal.rate_change.value == 0.0
    assert renewal.rate_change.standard_error == 0.0
    assert renewal.pure_rate_change.value == 0.0


def test_a_change_of_terms_shows_only_in_the_terms_step(old: uw.RatingTables) -> None:
    renewed = _changed(
        _request(),
        terms__sections__property__deductible=50_000,
        terms__aggregate_limit=10_000_000,
    )
    renewal = _renew(old, renewed)
    _only(renewal, {"terms"})
    terms = renewal.steps[1]
    assert terms.technical_change.value < 0
    assert terms.technical_change.value == pytest.approx(
        renewal.renewal.premium.technical - renewal.expiring.premium.technical, rel=1e-12
    )
    assert terms.technical_change.standard_error < 0.3 * renewal.expiring.premium.standard_error
    # Less cover priced at the same rate is no rate change: the risk fell, the price with it.
    at_technical = _renew(
        old,
        renewed,
        expiring_premium=renewal.expiring.premium.technical,
        renewal_premium=renewal.renewal.premium.technical,
    )
    assert at_technical.risk_change.value < 0
    assert at_technical.rate_change.value == pytest.approx(0.0, abs=1e-12)


def test_an_exposure_change_shows_only_in_the_exposure_step(old: uw.RatingTables) -> None:
    renewed = _changed(
        _request(), submission__values__equipment=13_200_000, submission__headcount=20
    )
    renewal = _renew(old, renewed)
    _only(renewal, {"exposure"})
    assert renewal.steps[0].technical_change.value > 0
    assert set(renewal.steps[0].changes) == {
        "submission.values.equipment: 12,000,000 -> 13,200,000",
        "submission.headcount: 16 -> 20",
    }


def test_a_new_claim_shows_only_in_the_claims_step(old: uw.RatingTables) -> None:
    renewed = _changed(_request(), submission__claims_history__claims=[CLAIM])
    renewal = _renew(old, renewed)
    _only(renewal, {"claims_experience"})
    assert renewal.steps[2].technical_change.value > 0
    assert renewal.renewal.experience.claims_count == 1
    assert renewal.expiring.experience.claims_count == 0
    assert "rated at 2027-02-01 instead of 2026-03-01" in renewal.steps[2].changes


def test_a_tables_version_change_shows_in_the_tables_step_and_is_rate_not_risk(
    old: uw.RatingTables, new: uw.RatingTables
) -> None:
    renewal = _renew(old, tables=new)
    _only(renewal, {"tables_version"})
    step = renewal.steps[3]
    assert step.changes == ("tables 2026.2 -> 2026.3",)
    assert renewal.renewal.provenance.tables_version == "2026.3"
    assert renewal.like_for_like.provenance.tables_version == "2026.2"
    independent = math.hypot(
        renewal.expiring.premium.standard_error, renewal.renewal.premium.standard_error
    )
    assert 0 < step.technical_change.standard_error < independent
    # The risk did not change, so the whole price change is rate: RARC = P1 / P0 - 1.
    assert renewal.risk_change.value == 0.0
    assert renewal.rate_change.value == pytest.approx(
        renewal.renewal_premium / renewal.expiring_premium - 1, rel=1e-12
    )
    assert renewal.pure_rate_change.value == pytest.approx(
        renewal.renewal_premium - renewal.expiring_premium, rel=1e-12
    )


def test_adequacy_is_reported_at_expiry_and_at_renewal(old: uw.RatingTables) -> None:
    technical = _renew(old).expiring.premium.technical
    renewal = _renew(old, expiring_premium=1.1 * technical, renewal_premium=0.95 * technical)
    assert renewal.expiring_adequacy.value == pytest.approx(1.1, rel=1e-12)
    assert renewal.renewal_adequacy.value == pytest.approx(0.95, rel=1e-12)
    assert renewal.expiring_adequacy.standard_error > 0
    # Same risk, same tables: the whole change is the adequacy's, and RARC is the price change.
    assert renewal.rate_change.value == pytest.approx(0.95 / 1.1 - 1, rel=1e-12)
    assert renewal.adequacy_change.value == pytest.approx(-0.15 * technical, rel=1e-9)
    assert "adequacy 1.100 -> 0.950" in renewal.summary()


@pytest.mark.parametrize(
    ("expiring", "renewal", "expiring_technical", "like_for_like", "expected"),
    [
        (100.0, 110.0, 80.0, 88.0, 0.0),  # 10 % more risk, 10 % more price: no rate change
        (100.0, 121.0, 80.0, 88.0, 0.1),  # 10 % more risk, 21 % more price: 10 % rate
        (100.0, 90.0, 50.0, 50.0, -0.1),  # the same risk 10 % cheaper
        (200.0, 200.0, 100.0, 80.0, 0.25),  # 20 % less cover for the same price: +25 % rate
    ],
)
def test_rarc_hand_cases(
    expiring: float,
    renewal: float,
    expiring_technical: float,
    like_for_like: float,
    expected: float,
) -> None:
    assert risk_adjusted_rate_change(
        expiring, renewal, expiring_technical, like_for_like
    ) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("bad", [0.0, -5.0, math.nan, math.inf])
def test_rarc_refuses_amounts_that_are_not_positive(bad: float) -> None:
    with pytest.raises(uw.UnderwritingError, match=r"like_for_like_technical is .*positive"):
        risk_adjusted_rate_change(100.0, 110.0, 80.0, bad)


def test_bad_renewals_are_refused_with_the_reason(old: uw.RatingTables) -> None:
    with pytest.raises(uw.UnderwritingError, match="expiring_premium is -1"):
        _renew(old, expiring_premium=-1.0)
    with pytest.raises(uw.UnderwritingError, match="renewal_premium is 0"):
        _renew(old, renewal_premium=0.0)
    with pytest.raises(uw.UnderwritingError, match=r"renewal_date 2026-01-01.* is before"):
        renew(
            _request(),
            expiring_tables=old,
            seed=SEED,
            n_years=YEARS,
            expiring_date=EXPIRING_DATE,
            expiring_premium=60_000.0,
            renewal_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
    late = {**CLAIM, "date": "2027-06-01"}
    with pytest.raises(uw.ProfileError, match="2027-06-01"):
        _renew(old, _changed(_request(), submission__claims_history__claims=[late]))


def test_the_worked_example_in_the_docs_prints_the_figures_it_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docs/renewal.md explains the figures of its example; they must be what the code prints.
    monkeypatch.chdir(EXAMPLES.parent)
    page = (EXAMPLES.parent / "docs" / "renewal.md").read_text(encoding="utf-8")
    code = re.findall(r"^```python\n(.*?)^```", page, flags=re.DOTALL | re.MULTILINE)
    shown = re.findall(r"^```text\n(.*?)^```", page, flags=re.DOTALL | re.MULTILINE)
    assert len(code) == 1
    assert len(shown) == 1
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code[0], "docs/renewal.md", "exec"), {"__name__": "__docs__"})
    assert output.getvalue() == shown[0]
