"""Results as DataFrames: named scenarios and sections, totals that match the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import underwriting as uw

pd = pytest.importorskip("pandas", reason="pandas is not installed (the [notebook] extra)")

ROOT = Path(__file__).resolve().parents[2]
YEARS = 5_000


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((ROOT / "examples" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.2")


@pytest.fixture(scope="module")
def result(tables: uw.RatingTables) -> uw.SimulationResult:
    return uw.simulate_request(
        _request("chemistry_high_hazard"), n_years=YEARS, seed=8, tables=tables
    )


def test_metrics_and_the_ep_curve_carry_their_standard_errors(
    result: uw.SimulationResult,
) -> None:
    metrics = result.to_pandas("metrics").set_index("metric")
    assert metrics.loc["mean", "value"] == result.mean
    assert metrics.loc["mean", "standard_error"] == result.standard_error()
    assert metrics.loc["TVaR 99.0%", "value"] == result.tvar(0.99)
    curve = result.to_pandas("ep_curve").set_index("return_period", drop=False)
    assert list(curve.columns) == [
        "return_period",
        "exceedance_probability",
        "aep",
        "aep_standard_error",
        "oep",
        "oep_standard_error",
    ]
    assert curve["aep"][curve["return_period"] == 200].item() == result.var(0.995)
    assert (curve["aep"] >= curve["oep"]).all()


def test_the_year_loss_table_names_scenarios_and_sections(result: uw.SimulationResult) -> None:
    frame = result.to_pandas("year_loss_table")
    assert list(frame.columns) == ["year", "scenario", "section", "ground_up", "insured"]
    assert set(frame["scenario"].cat.categories) == {s.id for s in result.profile.scenarios}
    assert set(frame["section"].cat.categories) == {s.value for s in uw.SECTIONS}
    assert "explosion" in set(frame["scenario"])
    by_section = frame.groupby("section", observed=True)["insured"].sum() / YEARS
    for name, part in result.by_section().items():
        assert by_section.get(name, 0.0) == pytest.approx(part.mean_insured, rel=1e-9, abs=1e-9)
    annual = frame.groupby("year")["insured"].sum().reindex(range(YEARS), fill_value=0.0)
    np.testing.assert_allclose(annual.to_numpy(), result.annual_loss, rtol=1e-9, atol=1e-6)


def test_the_event_loss_table_adds_up_to_the_years(result: uw.SimulationResult) -> None:
    frame = result.to_pandas("event_loss_table")
    assert list(frame.columns) == [
        "year",
        "scenario",
        "event",
        "section",
        "ground_up",
        "insured",
        "downtime_days",
    ]
    assert frame["event"].min() == 1
    assert (frame["insured"] <= frame["ground_up"] + 1e-9).all()
    annual = frame.groupby("year")["insured"].sum().reindex(range(YEARS), fill_value=0.0)
    np.testing.assert_allclose(annual.to_numpy(), result.annual_loss, rtol=1e-9, atol=1e-6)


def test_breakdowns_quotes_and_portfolios_convert(tables: uw.RatingTables) -> None:
    request = _request("physics_low_hazard")
    quote = uw.quote(request, tables=tables, n_years=YEARS)
    sheet = quote.to_pandas()
    assert "technical premium" in set(sheet["step"])
    split = quote.to_pandas("premium_by_section")
    assert split["premium"].sum() == pytest.approx(quote.premium.total)
    scenarios = quote.to_pandas("by_scenario")
    assert scenarios["mean_insured"].sum() == pytest.approx(quote.metrics[0].value, rel=1e-9)
    with pytest.raises(ValueError, match="'moon' is not one of this quote's: worksheet"):
        quote.to_pandas("moon")
    portfolio = uw.simulate_portfolio(uw.Portfolio([request], tables=tables), n_years=YEARS)
    labs = portfolio.to_pandas("labs")
    assert list(labs["lab_id"]) == [request.submission.lab_id]
    assert "oep" not in portfolio.to_pandas("ep_curve").columns
    with pytest.raises(ValueError, match="not one of this result's: metrics, ep_curve"):
        portfolio.to_pandas("year_loss_table")


def test_polars_gets_the_same_tables(result: uw.SimulationResult) -> None:
    pl = pytest.importorskip("polars", reason="polars is not installed (the [notebook] extra)")
    frame = result.to_polars("year_loss_table")
    assert frame.schema["scenario"] == pl.Enum([s.id for s in result.profile.scenarios])
    assert frame["insured"].sum() == pytest.approx(result.annual_loss.sum(), rel=1e-9)
    assert frame.height == result.to_pandas("year_loss_table").shape[0]
