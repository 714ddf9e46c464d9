"""The standard loss tables in the Oasis Open Results Data (ORD) layout, as CSV or Parquet.

ORD is the Oasis LMF's open standard for catastrophe-model outputs (the ``OasisLMF/
ODS_OpenResultsData`` repository: ``Schema/ORD_Table_Examples.csv`` gives each table's columns,
``Docs/WorkedExamples`` how they derive from one another). Tools written for Oasis outputs read
these files by their column names. How a simulation of this engine maps onto ORD:

- a *period* is a simulated year (``Period`` 1 to ``n_years``, ``PeriodWeight`` ``1 / n_years``,
  ``Year`` the period: one-year periods); the events are not dated, so ORD's optional ``Month``,
  ``Day``, ``Hour`` and ``Minute`` are left out;
- an *event* is one simulated occurrence of a scenario (``EventId`` 1 to the number of events,
  in the order of year, scenario, event; ``events`` names each one's scenario); it happens once
  in the run, so its ``EventRate`` is ``1 / n_years``;
- each event is drawn once: there is one *sample* (``SampleId`` 1, ``SampleType`` 2, sampled),
  so a moment table's ``MeanLoss`` is the event's loss and its ``SDLoss`` 0;
- the *perspective* is ``gul`` (ground-up) or ``il`` (insured: after every term, the annual ones
  allocated to the events pro rata, so each year's events add up to its insured loss);
- the *summary set* is ``S1``, the policy (``SummaryId`` 1), or ``S2``, by section
  (``SummaryId`` the section's place in ``SECTIONS``, from 1); ``summary-info`` names them.

Exposure and location counts (``ImpactedExposure``, ``FootprintExposure``, ``*NumLocs``), ORD's
optional fields for location-based models, are left out: a lab is one risk.

Tables (``<perspective>_S<set>_<table>``): ``selt`` and ``melt`` (event loss tables, sample and
moment), ``splt`` and ``mplt`` (period loss tables), ``alt`` (average loss), ``ept``
(exceedance probabilities: ``EPCalc`` 2, full uncertainty; ``EPType`` 1 OEP, 2 OEP TVaR, 3 AEP,
4 AEP TVaR; return periods below the number of years), ``summary-info``; and ``events``.
Rows with a loss of 0 are left out, as ORD's sample tables do.
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from underwriting.model import SECTIONS
from underwriting.results._results import RETURN_PERIODS, LossDistribution

if TYPE_CHECKING:
    import os

    from underwriting.results._results import SimulationResult

Perspective = Literal["gul", "il"]
SummarySet = Literal["policy", "section"]
FileFormat = Literal["csv", "parquet"]

SAMPLE_ID = 1
"""The one sample of each event."""
SAMPLE_TYPE_SAMPLED = 2
"""ORD ``SampleType``: 1 analytical, 2 sampled."""
EP_CALC_FULL_UNCERTAINTY = 2
"""ORD ``EPCalc``: 2, every sample of every period (there is one sample)."""
EP_TYPES = {"OEP": 1, "OEP TVaR": 2, "AEP": 3, "AEP TVaR": 4}
"""ORD ``EPType`` codes."""

Columns = dict[str, npt.NDArray[Any]]


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def ord_tables(
    result: SimulationResult,
    *,
    perspective: Perspective = "il",
    summary: SummarySet = "policy",
) -> dict[str, Columns]:
    """The ORD tables of a simulation as named columns (see the module's description).

    Keys are the file names without extension: ``il_S1_selt``, ..., ``events``.
    """
    _check("perspective", perspective, ("gul", "il"))
    _check("summary", summary, ("policy", "section"))
    n_years = result.n_years
    events = result.event_losses()
    by_section = events.insured if perspective == "il" else events.ground_up
    event_ids = np.arange(1, events.year.size + 1, dtype=np.int64)
    periods = events.year.astype(np.int64) + 1
    if summary == "policy":
        losses = by_section.sum(axis=1)
        rows = np.flatnonzero(losses > 0)
        summary_ids = np.ones(rows.size, dtype=np.int64)
        loss = losses[rows]
        names = ["all sections"]
    else:
        rows, columns = np.nonzero(by_section > 0)
        summary_ids = columns.astype(np.int64) + 1
        loss = by_section[rows, columns]
        names = [section.value for section in SECTIONS]
    prefix = f"{perspective}_S{1 if summary == 'policy' else 2}"
    event = event_ids[rows]
    period = periods[rows]
    ones = np.ones(rows.size)
    sample = np.full(rows.size, SAMPLE_ID, dtype=np.int64)
    sampled = np.full(rows.size, SAMPLE_TYPE_SAMPLED, dtype=np.int64)
    weight = np.full(rows.size, 1.0 / n_years)
    tables: dict[str, Columns] = {
        f"{prefix}_selt": {
            "EventId": event,
            "SummaryId": summary_ids,
            "SampleId": sample,
            "Loss": loss,
        },
        f"{prefix}_melt": {
            "EventId": event,
            "SummaryId": summary_ids,
            "SampleType": sampled,
            "EventRate": weight,
            "ChanceOfLoss": ones,
            "MeanLoss": loss,
            "SDLoss": np.zeros(rows.size),
            "MaxLoss": loss,
        },
        f"{prefix}_splt": {
            "Period": period,
            "PeriodWeight": weight,
            "EventId": event,
            "Year": period,
            "SummaryId": summary_ids,
            "SampleId": sample,
            "Loss": loss,
        },
        f"{prefix}_mplt": {
            "Period": period,
            "PeriodWeight": weight,
            "EventId": event,
            "Year": period,
            "SummaryId": summary_ids,
            "SampleType": sampled,
            "ChanceOfLoss": ones,
            "MeanLoss": loss,
            "SDLoss": np.zeros(rows.size),
            "MaxLoss": loss,
        },
    }
    alt: dict[str, list[float]] = {"SummaryId": [], "SampleType": [], "MeanLoss": [], "SDLoss": []}
    ept: dict[str, list[float]] = {
        "SummaryId": [],
        "EPCalc": [],
        "EPType": [],
        "ReturnPeriod": [],
        "Loss": [],
    }
    periods_shown = [p for p in RETURN_PERIODS if p < n_years]
    for summary_id in range(1, len(names) + 1):
        mine = summary_ids == summary_id
        annual = np.bincount(period[mine] - 1, weights=loss[mine], minlength=n_years).astype(
            np.float64
        )
        largest = np.zeros(n_years)
        np.maximum.at(largest, period[mine] - 1, loss[mine])
        aggregate = LossDistribution(n_years, result.seed, annual, None)
        occurrence = LossDistribution(n_years, result.seed, largest, None)
        alt["SummaryId"].append(summary_id)
        alt["SampleType"].append(SAMPLE_TYPE_SAMPLED)
        alt["MeanLoss"].append(aggregate.mean)
        alt["SDLoss"].append(aggregate.std)
        for kind, distribution in (("OEP", occurrence), ("AEP", aggregate)):
            for tail, measure in ((kind, distribution.var), (f"{kind} TVaR", distribution.tvar)):
                for return_period in periods_shown:
                    ept["SummaryId"].append(summary_id)
                    ept["EPCalc"].append(EP_CALC_FULL_UNCERTAINTY)
                    ept["EPType"].append(EP_TYPES[tail])
                    ept["ReturnPeriod"].append(return_period)
                    ept["Loss"].append(measure(1 - 1 / return_period))
    tables[f"{prefix}_alt"] = {
        "SummaryId": np.array(alt["SummaryId"], dtype=np.int64),
        "SampleType": np.array(alt["SampleType"], dtype=np.int64),
        "MeanLoss": np.array(alt["MeanLoss"]),
        "SDLoss": np.array(alt["SDLoss"]),
    }
    tables[f"{prefix}_ept"] = {
        "SummaryId": np.array(ept["SummaryId"], dtype=np.int64),
        "EPCalc": np.array(ept["EPCalc"], dtype=np.int64),
        "EPType": np.array(ept["EPType"], dtype=np.int64),
        "ReturnPeriod": np.array(ept["ReturnPeriod"], dtype=np.float64),
        "Loss": np.array(ept["Loss"]),
    }
    tables[f"{prefix}_summary-info"] = {
        "SummaryId": np.arange(1, len(names) + 1, dtype=np.int64),
        "Section": np.array(names, dtype=object),
    }
    tables["events"] = {
        "EventId": event_ids,
        "EventDescription": np.array(
            [
                f"{s} #{e} in period {p}"
                for s, e, p in zip(events.scenario, events.event, periods, strict=True)
            ],
            dtype=object,
        ),
        "EventRate": np.full(event_ids.size, 1.0 / n_years),
    }
    return tables


def _write_csv(path: Path, columns: Mapping[str, npt.NDArray[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(zip(*(column.tolist() for column in columns.values()), strict=True))


def _write_parquet(path: Path, columns: Mapping[str, npt.NDArray[Any]]) -> None:
    try:
        pa: Any = importlib.import_module("pyarrow")
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError as error:
        raise ImportError(
            "Parquet needs pyarrow, the optional extra [parquet]: pip install "
            "'lab-underwriting[parquet]' (or write file_format='csv')"
        ) from error
    table = pa.table(
        {
            name: pa.array(column.tolist() if column.dtype == object else column)
            for name, column in columns.items()
        }
    )
    parquet.write_table(table, path)


def write_ord(
    result: SimulationResult,
    directory: str | os.PathLike[str],
    *,
    file_format: FileFormat = "parquet",
    perspective: Perspective = "il",
    summary: SummarySet = "policy",
) -> dict[str, Path]:
    """Write the ORD tables of a simulation into ``directory`` (made if missing).

    Returns each table's path by name (``il_S1_ept`` -> ``directory/il_S1_ept.parquet``).
    """
    _check("file_format", file_format, ("csv", "parquet"))
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    write = _write_csv if file_format == "csv" else _write_parquet
    for name, columns in ord_tables(result, perspective=perspective, summary=summary).items():
        path = folder / f"{name}.{file_format}"
        write(path, columns)
        written[name] = path
    return written
