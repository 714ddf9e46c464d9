"""The loss tables in the Oasis ORD layout, written and read back: columns and totals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

import underwriting as uw

if TYPE_CHECKING:
    import pandas

pd = pytest.importorskip("pandas", reason="pandas is not installed (the [notebook] extra)")

ROOT = Path(__file__).resolve().parents[2]
YEARS = 4_000

# The columns of each table, as ORD's Schema/ORD_Table_Examples.csv names them (less the
# exposure and location-count fields, and the occurrence dates, which a lab's simulation lacks).
COLUMNS = {
    "selt": ["EventId", "SummaryId", "SampleId", "Loss"],
    "melt": [
        "EventId",
        "SummaryId",
        "SampleType",
        "EventRate",
        "ChanceOfLoss",
        "MeanLoss",
        "SDLoss",
        "MaxLoss",
    ],
    "splt": ["Period", "PeriodWeight", "EventId", "Year", "SummaryId", "SampleId", "Loss"],
    "mplt": [
        "Period",
        "PeriodWeight",
        "EventId",
        "Year",
        "SummaryId",
        "SampleType",
        "ChanceOfLoss",
        "MeanLoss",
        "SDLoss",
        "MaxLoss",
    ],
    "alt": ["SummaryId", "SampleType", "MeanLoss", "SDLoss"],
    "ept": ["SummaryId", "EPCalc", "EPType", "ReturnPeriod", "Loss"],
    "summary-info": ["SummaryId", "Section"],
}


@pytest.fixture(scope="module")
def result() -> uw.SimulationResult:
    request = uw.QuoteRequest.model_validate_json(
        (ROOT / "examples" / "chemistry_high_hazard.json").read_text()
    )
    tables = uw.load_rating_tables("2026.2")
    return uw.simulate_request(request, n_years=YEARS, seed=5, tables=tables)


def _read(path: Path) -> pandas.DataFrame:
    frame: pandas.DataFrame = (
        pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    )
    return frame


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_the_policy_tables_read_back_with_the_results_totals(
    result: uw.SimulationResult, tmp_path: Path, file_format: str
) -> None:
    if file_format == "parquet":
        pytest.importorskip("pyarrow", reason="pyarrow is not installed (the [parquet] extra)")
    paths = result.to_ord(tmp_path, file_format=file_format)  # type: ignore[arg-type]
    assert sorted(paths) == sorted([f"il_S1_{name}" for name in COLUMNS] + ["events"])
    frames: dict[str, pandas.DataFrame] = {
        name.removeprefix("il_S1_"): _read(path) for name, path in paths.items()
    }
    for name, columns in COLUMNS.items():
        assert list(frames[name].columns) == columns, name
    total = result.annual_loss.sum()
    assert frames["selt"]["Loss"].sum() == pytest.approx(total, rel=1e-9)
    assert (frames["selt"]["Loss"] > 0).all()
    melt = frames["melt"]
    assert (melt["EventRate"] * melt["MeanLoss"]).sum() == pytest.approx(result.mean, rel=1e-9)
    splt = frames["splt"]
    annual = splt.groupby("Period")["Loss"].sum().reindex(range(1, YEARS + 1), fill_value=0)
    np.testing.assert_allclose(annual.to_numpy(), result.annual_loss, rtol=1e-9, atol=1e-6)
    assert splt["PeriodWeight"].iloc[0] == pytest.approx(1 / YEARS)
    alt = frames["alt"].iloc[0]
    assert alt["MeanLoss"] == pytest.approx(result.mean, rel=1e-9)
    assert alt["SDLoss"] == pytest.approx(result.std, rel=1e-9)
    ept = frames["ept"].set_index(["EPType", "ReturnPeriod"])["Loss"]
    assert ept[(3, 100.0)] == pytest.approx(result.var(0.99), rel=1e-9)
    assert ept[(4, 200.0)] == pytest.approx(result.tvar(0.995), rel=1e-9)
    assert ept[(2, 100.0)] >= ept[(1, 100.0)]
    assert set(frames["ept"]["EPCalc"]) == {2}
    events = frames["events"]
    assert set(frames["selt"]["EventId"]) <= set(events["EventId"])
    assert list(events["EventId"]) == list(range(1, len(events) + 1))
    assert events["EventDescription"].str.contains("in period").all()


def test_the_section_tables_split_the_policy_by_section(
    result: uw.SimulationResult, tmp_path: Path
) -> None:
    paths = result.to_ord(tmp_path, file_format="csv", summary="section")
    alt = _read(paths["il_S2_alt"])
    names = _read(paths["il_S2_summary-info"]).set_index("SummaryId")["Section"]
    for _, row in alt.iterrows():
        section = names[row["SummaryId"]]
        expected = result.by_section()[section].mean_insured
        assert row["MeanLoss"] == pytest.approx(expected, rel=1e-9), section
    ground_up = result.to_ord(tmp_path / "gul", file_format="csv", perspective="gul")
    assert result.annual_ground_up is not None
    assert _read(ground_up["gul_S1_alt"])["MeanLoss"].iloc[0] == pytest.approx(
        result.annual_ground_up.mean(), rel=1e-9
    )


def test_a_bad_choice_names_what_is_allowed(result: uw.SimulationResult, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="perspective must be one of gul, il; got 'net'"):
        result.to_ord(tmp_path, perspective="net")  # type: ignore[arg-type]
