"""Simulate and quote say whether claims experience was applied, and every entry point defaults
to one seed, the rating tables' ``pricing.precision.default_seed``."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

import underwriting as uw
from api.cli import app
from underwriting.examples import main as examples_main
from underwriting.rating import rate_experience

ROOT = Path(__file__).resolve().parents[1]
NEWEST = uw.available_versions()[-1]  # what the CLI quotes and simulates with by default
CHEMISTRY = ROOT / "examples" / "chemistry_high_hazard.json"  # 3 claims in 5 years
YEARS = 2_000


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.1")


def _request(path: Path = CHEMISTRY) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json(path.read_text(encoding="utf-8"))


def test_a_simulation_of_a_lab_says_experience_was_not_applied(tables: uw.RatingTables) -> None:
    request = _request()
    profile = uw.RiskProfile.from_submission(request.submission, tables)
    result = uw.simulate(profile, request.terms, n_years=YEARS, seed=1)
    assert not result.experience_applied
    assert "claims experience: not applied (the tables' rates" in result.summary()


def test_a_simulation_with_the_quotes_profile_says_experience_was_applied(
    tables: uw.RatingTables,
) -> None:
    request = _request()
    base = uw.RiskProfile.from_submission(request.submission, tables)
    experience = rate_experience(request.submission, base, tables.pricing.experience)
    assert experience.credibility > 0
    result = uw.simulate(experience.apply(base), request.terms, n_years=YEARS, seed=1)
    assert result.experience_applied
    assert "claims experience: applied" in result.summary()


def test_an_own_profile_says_so() -> None:
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="ref",
                frequency=uw.Poisson(rate=1.0),
                severity=uw.LogNormal(mu=9.0, sigma=1.0),
                section="property",
            )
        ]
    )
    terms = uw.PolicyTerms(sections={"property": uw.SectionTerms()})
    summary = uw.simulate(profile, terms, n_years=YEARS, seed=1).summary()
    assert "claims experience: not applied (own profile)" in summary


def test_the_quote_worksheet_says_whether_experience_was_applied(
    tables: uw.RatingTables,
) -> None:
    request = _request()
    q = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS)
    rows = {row.name: row for row in q.worksheet}
    applied = rows["experience: applied"]
    assert applied.value is not None
    assert applied.value > 0
    assert applied.explanation.startswith("applied: the rates of")
    assert "differs from a simulation of the lab" in applied.explanation
    # Without claims history nothing is applied, and the worksheet says so.
    history = request.submission.claims_history.model_copy(
        update={"years_observed": 0, "claims": ()}
    )
    bare = request.submission.model_copy(update={"claims_history": history})
    rows = {row.name: row for row in uw.quote(bare, request.terms, n_years=YEARS).worksheet}
    assert rows["experience: applied"].value == 0
    assert rows["experience: applied"].explanation.startswith("not applied")


def test_make_examples_uses_the_tables_default_seed(tables: uw.RatingTables) -> None:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert examples_main(["--years", str(YEARS), str(CHEMISTRY)]) == 0
    seed = tables.pricing.precision.default_seed
    assert f"Simulated {YEARS:,} years, seed {seed}, tables {NEWEST}" in output.getvalue()


def test_underwriting_simulate_uses_the_tables_default_seed(tables: uw.RatingTables) -> None:
    result = CliRunner(env={"COLUMNS": "220"}).invoke(
        app, ["simulate", str(CHEMISTRY), "--years", str(YEARS)]
    )
    assert result.exit_code == 0, result.output
    seed = tables.pricing.precision.default_seed
    assert f"Simulated {YEARS:,} years, seed {seed}, tables {NEWEST}" in result.stdout
    assert "claims experience: not applied" in result.stdout


def test_quotes_use_the_same_default_seed(tables: uw.RatingTables) -> None:
    request = _request()
    q = uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS)
    assert q.provenance.seed == str(tables.pricing.precision.default_seed)
