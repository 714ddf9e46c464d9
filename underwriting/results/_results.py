"""Simulation results: the annual loss distribution, its breakdowns, and Monte Carlo errors.

Every figure comes with its standard error:

- the mean: ``sd / sqrt(n)``;
- the standard deviation: ``sqrt(m4 - sd**4) / (2 sd sqrt(n))`` (delta method);
- a quantile (VaR, AEP, OEP) at level ``p``: half the distance between the order statistics
  ``n p - sqrt(n p (1-p))`` and ``n p + sqrt(n p (1-p))``, a distribution-free one-sigma interval;
- TVaR at level ``p``: ``sqrt((Var(X | X > VaR) + p (TVaR - VaR)**2) / (n (1 - p)))``
  (Manistre and Hancock, 2005, "Variance of the CTE estimator", North American Actuarial
  Journal 9(2));
- a probability: ``sqrt(p (1-p) / n)``.

VaR at level ``p`` is the empirical quantile ``x_(ceil(n p))``; TVaR is
``VaR + E[(X - VaR)+] / (1 - p)``, the mean of the worst ``1 - p`` of years.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

import underwriting.results._display as _display
import underwriting.results._tables as _tables
from underwriting.model import SECTIONS
from underwriting.results._bitwise import (
    OrderStatistics,
    central_moment,
    mean_and_variance,
    pairwise_sum,
)
from underwriting.results._exact import (
    CROSS_CHECK_RETURN_PERIODS,
    CrossCheck,
    ExactDistribution,
    cross_check_rows,
)
from underwriting.results._tables import Coded, Table

if TYPE_CHECKING:
    import os
    from pathlib import Path

    import pandas as pd
    import polars as pl
    from matplotlib.figure import Figure

    from underwriting.errors import UnderwritingWarning
    from underwriting.rating import RiskProfile
    from underwriting.terms import PolicyTerms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

LEVELS: tuple[float, ...] = (0.90, 0.95, 0.99, 0.995, 0.999)
"""Confidence levels reported for VaR and TVaR."""

RETURN_PERIODS: tuple[int, ...] = (2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
"""Return periods (years) of the exceedance-probability curves."""


@dataclass(frozen=True, slots=True)
class Metric:
    """A Monte Carlo estimate and its standard error (same units)."""

    name: str
    value: float
    standard_error: float

    @property
    def relative_error(self) -> float:
        """Standard error over the value (``inf`` when the value is 0 and the error is not)."""
        if self.value == 0:
            return 0.0 if self.standard_error == 0 else math.inf
        return abs(self.standard_error / self.value)


@dataclass(frozen=True, slots=True)
class Contribution:
    """Expected loss of one section or scenario.

    Attributes
    ----------
    name
        Section or scenario id.
    mean_ground_up
        Expected annual ground-up loss (currency).
    mean_insured
        Expected annual insured loss (currency).
    standard_error
        Standard error of ``mean_insured``.
    share
        ``mean_insured`` over the whole policy's expected insured loss.
    """

    name: str
    mean_ground_up: float
    mean_insured: float
    standard_error: float
    share: float


@dataclass(frozen=True, slots=True)
class EPPoint:
    """One return period of the exceedance-probability curves.

    ``aep``: annual aggregate insured loss exceeded with probability ``1 / return_period``;
    ``oep``: the same for the largest single occurrence of the year (after per-occurrence
    terms and the share, before annual aggregates).
    """

    return_period: float
    exceedance_probability: float
    aep: float
    aep_standard_error: float
    oep: float | None
    oep_standard_error: float | None


@dataclass(frozen=True)
class YearLossTable:
    """Year losses by scenario and section, one row per non-zero (year, scenario, section).

    Attributes
    ----------
    year
        Simulated year (int32: at most ``MAX_YEARS`` years), shape ``(n_rows,)``.
    scenario
        Index of the scenario in the profile (int16), shape ``(n_rows,)``.
    section
        Index of the section in ``SECTIONS`` (int8), shape ``(n_rows,)``.
    ground_up, insured
        The year's loss (currency), shape ``(n_rows,)``.

    Narrow integer types keep a row at 22 bytes: 10 million years of a lab fit in memory.
    """

    year: npt.NDArray[np.int32]
    scenario: npt.NDArray[np.int16]
    section: npt.NDArray[np.int8]
    ground_up: FloatArray
    insured: FloatArray

    @classmethod
    def from_parts(
        cls, parts: Sequence[tuple[IntArray, int, int, FloatArray, FloatArray]]
    ) -> YearLossTable:
        """Build from ``(years, scenario index, section index, ground-up, insured)`` parts."""
        if not parts:
            return cls.empty()
        return cls(
            year=np.concatenate([p[0] for p in parts]).astype(np.int32),
            scenario=np.concatenate([np.full(p[0].size, p[1], dtype=np.int16) for p in parts]),
            section=np.concatenate([np.full(p[0].size, p[2], dtype=np.int8) for p in parts]),
            ground_up=np.concatenate([p[3] for p in parts]),
            insured=np.concatenate([p[4] for p in parts]),
        )

    @classmethod
    def empty(cls) -> YearLossTable:
        return cls(
            np.zeros(0, dtype=np.int32),
            np.zeros(0, dtype=np.int16),
            np.zeros(0, dtype=np.int8),
            np.zeros(0),
            np.zeros(0),
        )

    @classmethod
    def concatenate(cls, tables: Sequence[YearLossTable]) -> YearLossTable:
        if not tables:
            return cls.empty()
        return cls(
            year=np.concatenate([t.year for t in tables]),
            scenario=np.concatenate([t.scenario for t in tables]),
            section=np.concatenate([t.section for t in tables]),
            ground_up=np.concatenate([t.ground_up for t in tables]),
            insured=np.concatenate([t.insured for t in tables]),
        )

    def annual(
        self, mask: npt.NDArray[np.bool_], n_years: int, *, insured: bool = True
    ) -> FloatArray:
        """Annual loss of the rows selected by ``mask``, shape ``(n_years,)``."""
        values = self.insured if insured else self.ground_up
        return np.bincount(self.year[mask], weights=values[mask], minlength=n_years).astype(
            np.float64, copy=False
        )


class YearLossTableBuilder:
    """A run's year loss table, filled block by block without keeping the blocks.

    Joining the blocks' tables at the end of a run would hold every row twice; here the rows go
    straight into arrays sized from the first block's rows per year (with a margin) for the
    whole run. The arrays are allocated, not written, so the memory of rows never filled is not
    taken. A run with more rows than that grows them by half, copying once.
    """

    MARGIN = 1.25
    """Capacity over the first block's rows per year times the run's years."""

    def __init__(self, n_years: int, keys_from: YearLossTableBuilder | None = None) -> None:
        """``keys_from``: another set of terms' builder of the same run, appended first each
        block, whose rows these are too (a run's tables have the same rows, one per scenario
        and section with a ground-up loss in a year): only the insured column is kept here."""
        self._n_years = n_years
        self._rows = 0
        self._columns: list[npt.NDArray[Any]] = []
        self._keys = keys_from

    def append(self, table: YearLossTable, n_years: int) -> None:
        """Add a block's rows (``n_years``: the years the block simulated)."""
        parts: tuple[npt.NDArray[Any], ...] = (
            (table.year, table.scenario, table.section, table.ground_up, table.insured)
            if self._keys is None
            else (table.insured,)
        )
        needed = self._rows + table.year.size
        if not self._columns:
            estimate = table.year.size / max(n_years, 1) * self._n_years * self.MARGIN
            self._columns = [np.empty(max(int(estimate), needed) + 1024, p.dtype) for p in parts]
        elif needed > self._columns[0].size:
            size = max(needed, self._columns[0].size * 3 // 2)
            grown = [np.empty(size, column.dtype) for column in self._columns]
            for old, new in zip(self._columns, grown, strict=True):
                new[: self._rows] = old[: self._rows]
            self._columns = grown
        for column, part in zip(self._columns, parts, strict=True):
            column[self._rows : needed] = part
        self._rows = needed

    def build(self) -> YearLossTable:
        """The rows appended so far (views of the builder's arrays)."""
        if not self._columns:
            return YearLossTable.empty()
        if self._keys is not None:
            keys = self._keys.build()
            insured = self._columns[0][: self._rows]
            rows = slice(0, self._rows)
            return YearLossTable(
                keys.year[rows], keys.scenario[rows], keys.section[rows], keys.ground_up[rows],
                insured,
            )  # fmt: skip
        year, scenario, section, ground_up, insured = (c[: self._rows] for c in self._columns)
        return YearLossTable(year, scenario, section, ground_up, insured)


@dataclass(frozen=True, slots=True)
class EventLosses:
    """Event losses of a range of simulated years, regenerated from the seed.

    Attributes
    ----------
    year, scenario, event
        Simulated year, scenario id and 1-based index of each event within its year and
        scenario, shape ``(n_events,)``.
    ground_up, insured
        Loss per event and section (currency), shape ``(n_events, len(SECTIONS))``; insured after
        every term, the annual ones allocated pro rata.
    downtime_days
        Research-interruption downtime of each event, shape ``(n_events,)``.
    """

    year: IntArray
    scenario: npt.NDArray[np.str_]
    event: IntArray
    ground_up: FloatArray
    insured: FloatArray
    downtime_days: FloatArray


EventSource = Callable[[int, int], EventLosses]


def quantile_index(n: int, level: float) -> int:
    return min(max(math.ceil(n * level) - 1, 0), n - 1)


def _quantile_ranks(n: int, level: float) -> tuple[int, int, int]:
    """Ranks in the sorted sample of the quantile and of its one-sigma interval's ends."""
    spread = math.sqrt(n * level * (1 - level))
    return (
        quantile_index(n, level),
        min(max(math.floor(n * level - spread) - 1, 0), n - 1),
        min(max(math.ceil(n * level + spread) - 1, 0), n - 1),
    )


def _quantile(order: OrderStatistics, n: int, level: float) -> Metric:
    value, lower, upper = order.at(_quantile_ranks(n, level))
    return Metric(f"VaR {level:.1%}", value, float(upper - lower) / 2)


def format_money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


@dataclass(frozen=True, repr=False)
class LossDistribution:
    """A simulated distribution of annual insured losses, with Monte Carlo errors.

    Attributes
    ----------
    n_years, seed
        How many years were simulated, and the seed that replays them.
    annual_loss
        Insured loss of each simulated year (currency), shape ``(n_years,)``.
    annual_max_occurrence
        Largest single-occurrence insured loss of each year (currency), shape ``(n_years,)``;
        ``None`` where occurrences are not defined (a portfolio), and then the OEP is absent.
    """

    n_years: int
    seed: int
    annual_loss: FloatArray
    annual_max_occurrence: FloatArray | None

    # ------------------------------------------------------------------ moments

    @cached_property
    def mean(self) -> float:
        """Expected annual insured loss."""
        return float(self.annual_loss.mean())

    @cached_property
    def std(self) -> float:
        """Standard deviation of the annual insured loss."""
        if self.n_years < 2:
            return 0.0
        return math.sqrt(mean_and_variance(self.annual_loss, ddof=1)[1])

    @property
    def cv(self) -> float:
        """Coefficient of variation, ``std / mean`` (0 when the mean is 0)."""
        return self.std / self.mean if self.mean > 0 else 0.0

    @cached_property
    def sorted_annual_loss(self) -> FloatArray:
        """The annual losses in ascending order (sorted once, then kept), shape ``(n_years,)``.

        A copy as large as the losses: the metrics, the EP curve and the tail weights do not
        need it (they find the few sorted values they use in :attr:`_order`).
        """
        return np.sort(self.annual_loss)

    @cached_property
    def _order(self) -> OrderStatistics:
        """Values of the sorted annual losses by rank, found without sorting a copy."""
        return OrderStatistics(self.annual_loss, self.__dict__.get("sorted_annual_loss"))

    @cached_property
    def _occurrence_order(self) -> OrderStatistics:
        if self.annual_max_occurrence is None:
            raise ValueError(
                "this distribution has no occurrence losses (a portfolio, or a run with "
                "detail='annual')"
            )
        return OrderStatistics(self.annual_max_occurrence)

    def _std_error_of_std(self) -> float:
        sd = self.std
        if sd == 0 or self.n_years < 2:
            return 0.0
        fourth = central_moment(self.annual_loss, self.mean, 4)
        return math.sqrt(max(fourth - sd**4, 0.0)) / (2 * sd * math.sqrt(self.n_years))

    # ------------------------------------------------------------------ tail measures

    def var(self, level: float) -> float:
        """Value at risk: the annual insured loss not exceeded with probability ``level``."""
        return self.var_metric(level).value

    def var_metric(self, level: float) -> Metric:
        """VaR at ``level`` with its standard error."""
        check_level(level)
        return _quantile(self._order, self.n_years, level)

    def tvar(self, level: float) -> float:
        """Tail value at risk: the mean annual insured loss in the worst ``1 - level`` of years."""
        return self.tvar_metric(level).value

    def tvar_metric(self, level: float) -> Metric:
        """TVaR at ``level`` with its standard error (Manistre and Hancock, 2005)."""
        check_level(level)
        # Kept per level: a quote asks for the same TVaR several times (two passes over the
        # years each). Written straight into __dict__, as cached_property does (frozen class).
        known: dict[float, Metric] = self.__dict__.setdefault("_tvar_metrics", {})
        if level not in known:
            known[level] = self._tvar_metric(level)
        return known[level]

    def _tvar_metric(self, level: float) -> Metric:
        var = self.var(level)
        # The years above the VaR, ascending: the sorted losses' tail, without sorting them all.
        tail = self._order.above(var)
        below = self.n_years - tail.size

        def excess(start: int, stop: int) -> FloatArray:
            """Elements start .. stop - 1 of max(sorted losses - VaR, 0): 0 below the tail."""
            zeros = np.zeros(max(min(stop, below) - start, 0))
            part = tail[max(start - below, 0) : max(stop - below, 0)]
            return np.concatenate((zeros, np.maximum(part - var, 0.0)))

        mean_excess = pairwise_sum(self.n_years, excess) / self.n_years
        tvar = var + mean_excess / (1 - level)
        tail_variance = mean_and_variance(tail)[1] if tail.size > 1 else 0.0
        error = math.sqrt(
            (tail_variance + level * (tvar - var) ** 2) / (self.n_years * (1 - level))
        )
        return Metric(f"TVaR {level:.1%}", tvar, error)

    def tail_weights(self, level: float) -> tuple[IntArray, FloatArray]:
        """Years and weights whose weighted sum of annual losses is exactly ``tvar(level)``.

        Each year above the VaR weighs ``1 / (n (1 - level))``; what is left of the unit weight
        is shared equally by every year tied at the VaR (thousands of years sit exactly at an
        annual aggregate limit), so the weights, and every allocation made with them, do not
        depend on the order of the years. The same weights applied to a part's losses give its
        Euler (co-TVaR) contribution, ``E[X_i | X > VaR] P(X > VaR) / (1 - level)`` plus its
        share of the VaR's atom, ``E[X_i | X = VaR]`` times the atom's weight; the parts'
        contributions add up to the TVaR. The weights sum to 1. Shapes ``(k,)``, years
        ascending.
        """
        check_level(level)
        n = self.n_years
        (var,) = self._order.at([quantile_index(n, level)])
        above = self.annual_loss > var
        tied = self.annual_loss == var
        unit = 1.0 / (n * (1 - level))
        years = np.flatnonzero(above | tied).astype(np.int64)
        at_var = max(1.0 - int(np.count_nonzero(above)) * unit, 0.0)
        weights = np.where(above[years], unit, at_var / int(np.count_nonzero(tied)))
        return years, weights

    def probability_of_claim(self) -> Metric:
        """Probability that a year has any insured loss."""
        p = float(np.count_nonzero(self.annual_loss) / self.n_years)
        return Metric("P(any claim)", p, math.sqrt(p * (1 - p) / self.n_years))

    def standard_error(self, metric: str = "mean", level: float | None = None) -> float:
        """Monte Carlo standard error of a metric.

        ``metric`` is one of ``mean``, ``std``, ``var``, ``tvar`` (the last two need ``level``).
        """
        if metric == "mean":
            return self.std / math.sqrt(self.n_years)
        if metric == "std":
            return self._std_error_of_std()
        if metric in ("var", "tvar"):
            if level is None:
                raise ValueError(f"standard_error({metric!r}) needs a level, e.g. 0.995")
            chosen = self.var_metric(level) if metric == "var" else self.tvar_metric(level)
            return chosen.standard_error
        raise ValueError(f"metric must be one of mean, std, var, tvar; got {metric!r}")

    def metrics(self) -> tuple[Metric, ...]:
        """Every headline figure with its standard error."""
        mean_se = self.standard_error()
        std_se = self.standard_error("std")
        cv_se = (
            self.cv * math.hypot(std_se / self.std, mean_se / self.mean)
            if self.mean > 0 and self.std > 0
            else 0.0
        )
        # One pass finds every sorted value the VaRs need.
        self._order.at(r for level in LEVELS for r in _quantile_ranks(self.n_years, level))
        rows = [
            Metric("mean", self.mean, mean_se),
            Metric("standard deviation", self.std, std_se),
            Metric("coefficient of variation", self.cv, cv_se),
            self.probability_of_claim(),
        ]
        rows += [self.var_metric(level) for level in LEVELS]
        rows += [self.tvar_metric(level) for level in LEVELS]
        return tuple(rows)

    # ------------------------------------------------------------------ curves

    def ep_curve(self, return_periods: Sequence[float] = RETURN_PERIODS) -> tuple[EPPoint, ...]:
        """Aggregate (AEP) and occurrence (OEP) exceedance curves at the return periods."""
        for period in return_periods:
            if not period > 1:
                raise ValueError(f"return periods must exceed 1 year, got {period}")
        ranks = [r for p in return_periods for r in _quantile_ranks(self.n_years, 1 - 1 / p)]
        self._order.at(ranks)  # one pass for the whole curve
        if self.annual_max_occurrence is not None:
            self._occurrence_order.at(ranks)
        points = []
        for period in return_periods:
            level = 1 - 1 / period
            aep = _quantile(self._order, self.n_years, level)
            oep = (
                _quantile(self._occurrence_order, self.n_years, level)
                if self.annual_max_occurrence is not None
                else None
            )
            points.append(
                EPPoint(
                    return_period=float(period),
                    exceedance_probability=1 / period,
                    aep=aep.value,
                    aep_standard_error=aep.standard_error,
                    oep=None if oep is None else oep.value,
                    oep_standard_error=None if oep is None else oep.standard_error,
                )
            )
        return tuple(points)

    # ------------------------------------------------------------------ plots

    @property
    def subject(self) -> str:
        """What the distribution is of, for a figure's title (empty when nothing says)."""
        return ""

    def plot_ep_curve(
        self, path: str | os.PathLike[str] | None = None, *, subject: str | None = None
    ) -> Figure:
        """AEP and OEP curves with standard-error bands and the 1-in-100/200/250 years marked;
        saved as PNG at ``path`` if given. ``subject`` (a lab's name) replaces
        :attr:`subject` in the title.

        Needs the ``[plots]`` extra (matplotlib).
        """
        from underwriting.report import plot_ep_curve

        return plot_ep_curve(self, path, subject=subject)

    def plot_histogram(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        bins: int = 60,
        subject: str | None = None,
    ) -> Figure:
        """Histogram of the annual insured loss, the probability of no loss in the title; saved
        as PNG at ``path`` if given."""
        from underwriting.report import plot_histogram

        return plot_histogram(self, path, bins=bins, subject=subject)

    # ------------------------------------------------------------------ tables

    TABLES: ClassVar[tuple[str, ...]] = ("metrics", "ep_curve", "annual")
    """The tables :meth:`table`, :meth:`to_pandas` and :meth:`to_polars` give."""

    def table(self, name: str = "metrics") -> Table:
        """One of :attr:`TABLES` as named columns (NumPy arrays, lists, coded names).

        - ``metrics``: ``metric``, ``value``, ``standard_error``: every headline figure;
        - ``ep_curve``: ``return_period``, ``exceedance_probability``, ``aep``,
          ``aep_standard_error`` and, where occurrences are kept, ``oep``, ``oep_standard_error``;
        - ``annual``: ``year`` and ``insured`` (and, where kept, ``ground_up`` and
          ``max_occurrence``): one row per simulated year (currency).
        """
        _tables.check_table(name, self.TABLES)
        if name == "metrics":
            rows = self.metrics()
            return {
                "metric": [m.name for m in rows],
                "value": np.array([m.value for m in rows]),
                "standard_error": np.array([m.standard_error for m in rows]),
            }
        if name == "ep_curve":
            points = self.ep_curve()
            columns: dict[str, Any] = {
                "return_period": np.array([p.return_period for p in points]),
                "exceedance_probability": np.array([p.exceedance_probability for p in points]),
                "aep": np.array([p.aep for p in points]),
                "aep_standard_error": np.array([p.aep_standard_error for p in points]),
            }
            if self.annual_max_occurrence is not None:
                columns["oep"] = np.array([p.oep for p in points], dtype=np.float64)
                columns["oep_standard_error"] = np.array(
                    [p.oep_standard_error for p in points], dtype=np.float64
                )
            return columns
        return self._annual_table()

    def _annual_table(self) -> Table:
        columns: dict[str, Any] = {
            "year": np.arange(self.n_years, dtype=np.int64),
            "insured": self.annual_loss,
        }
        if self.annual_max_occurrence is not None:
            columns["max_occurrence"] = self.annual_max_occurrence
        return columns

    def to_pandas(self, name: str = "metrics") -> pd.DataFrame:
        """A table of :attr:`TABLES` as a pandas DataFrame (the ``[notebook]`` extra); scenarios
        and sections by name, as categoricals. See :meth:`table` for the columns."""
        return _tables.to_pandas(self.table(name))

    def to_polars(self, name: str = "metrics") -> pl.DataFrame:
        """A table of :attr:`TABLES` as a polars DataFrame (the ``[notebook]`` extra); scenarios
        and sections by name, as enums. See :meth:`table` for the columns."""
        return _tables.to_polars(self.table(name))

    # ------------------------------------------------------------------ display

    def headline(self) -> tuple[Metric, ...]:
        """The figures a display leads with: mean, VaR 99.5%, TVaR 99% and P(any claim)."""
        return (
            Metric("mean", self.mean, self.standard_error()),
            self.var_metric(0.995),
            self.tvar_metric(0.99),
            self.probability_of_claim(),
        )

    def _display_title(self) -> str:
        return (
            f"{type(self).__name__}: {self.n_years:,} years, seed {self.seed}{self._amounts_in()}"
        )

    def _display_lines(self) -> list[str]:
        return []

    def _display_ep(self) -> tuple[EPPoint, ...]:
        periods = [p for p in _display.DISPLAY_RETURN_PERIODS if p < self.n_years]
        return self.ep_curve(periods) if periods else ()

    def __repr__(self) -> str:
        metrics = " | ".join(
            f"{m.name} {_display.format_with_error(m.name, m.value, m.standard_error)}"
            for m in self.headline()
        )
        lines = [f"<{self._display_title()}", f"  {metrics}"]
        points = self._display_ep()
        if points:
            aep = (
                f"1-in-{p.return_period:,.0f} "
                + _display.format_with_error("", p.aep, p.aep_standard_error)
                for p in points
            )
            lines.append("  AEP " + ", ".join(aep))
        lines += [f"  {line}" for line in self._display_lines()]
        lines.append("  summary() for every figure; to_pandas(...) for tables>")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A small HTML table for notebooks: headline figures and a few EP points."""
        metrics = _display.html_table(
            ("metric", "value", "std. error"),
            [
                (
                    m.name,
                    _display.format_figure(m.name, m.value),
                    _display.format_figure(m.name, m.standard_error),
                )
                for m in self.headline()
            ],
        )
        points = self._display_ep()
        has_oep = bool(points) and points[0].oep is not None
        header = ("return period", "AEP", "s.e.", *(("OEP", "s.e.") if has_oep else ()))
        rows = [
            (
                f"1 in {p.return_period:,.0f}",
                _display.format_amount(p.aep),
                _display.format_amount(p.aep_standard_error),
                *(
                    (
                        _display.format_amount(p.oep or 0.0),
                        _display.format_amount(p.oep_standard_error or 0.0),
                    )
                    if has_oep
                    else ()
                ),
            )
            for p in points
        ]
        tables = [metrics] + ([_display.html_table(header, rows)] if rows else [])
        return _display.html_block(self._display_title(), self._display_lines(), tables)

    # ------------------------------------------------------------------ report

    @property
    def currency(self) -> str | None:
        """The currency of the amounts; ``None`` when none is stated (plain amounts)."""
        return None

    def _amounts_in(self) -> str:
        """``", amounts in <currency>"`` for the summary's title; nothing when none is stated."""
        return f", amounts in {self.currency}" if self.currency is not None else ""

    def _summary_title(self) -> str:
        return f"Simulated {self.n_years:,} years, seed {self.seed}{self._amounts_in()}"

    def _summary_breakdowns(self) -> list[str]:
        return []

    def _summary_notes(self) -> list[str]:
        return []

    def summary(self) -> str:
        """A plain-text report of every metric with its standard error."""
        lines = [
            self._summary_title(),
            *self._summary_notes(),
            "",
            f"{'metric':<28}{'value':>18}{'std. error':>16}",
        ]
        for metric in self.metrics():
            if metric.name in ("coefficient of variation", "P(any claim)"):
                lines.append(
                    f"{metric.name:<28}{metric.value:>18.4f}{metric.standard_error:>16.4f}"
                )
            else:
                lines.append(
                    f"{metric.name:<28}{format_money(metric.value):>18}"
                    f"{format_money(metric.standard_error):>16}"
                )
        has_oep = self.annual_max_occurrence is not None
        header = f"{'return period':>13}{'AEP':>16}{'(s.e.)':>12}"
        lines += ["", header + (f"{'OEP':>16}{'(s.e.)':>12}" if has_oep else "")]
        for point in self.ep_curve():
            oep = "" if point.oep is None else format_money(point.oep)
            oep_se = (
                "" if point.oep_standard_error is None else format_money(point.oep_standard_error)
            )
            lines.append(
                f"{point.return_period:>13,.0f}{format_money(point.aep):>16}"
                f"{format_money(point.aep_standard_error):>12}"
                + (f"{oep:>16}{oep_se:>12}" if has_oep else "")
            )
        return "\n".join(lines + self._summary_breakdowns())


@dataclass(frozen=True, repr=False)
class SimulationResult(LossDistribution):
    """The simulated annual losses of one profile under one set of terms.

    Attributes
    ----------
    profile, terms
        What was simulated.
    n_years, seed, block_size
        How it was simulated; ``seed`` replays it exactly (any ``block_size`` gives the same).
    annual_loss
        Insured loss of each simulated year (currency), shape ``(n_years,)``.
    annual_ground_up
        Ground-up loss of each simulated year (currency), shape ``(n_years,)``; ``None`` for a
        run with ``detail="annual"``.
    annual_max_occurrence
        Largest single-occurrence insured loss of each year, after per-occurrence terms and the
        share, before annual aggregates (currency), shape ``(n_years,)``; ``None`` for a run
        with ``detail="annual"``, and then the OEP is absent.
    year_loss_table
        Ground-up and insured year losses by scenario and section; ``None`` when the run was
        asked not to keep it (``simulate_many(..., year_loss_tables=False)`` or
        ``detail="annual"``).
    controls
        Each year's controls under these terms, shape ``(3, n_years)``: what each impact hit pays
        through the per-occurrence terms alone, summed; the sum of their squares; and the sum of
        the squares of each event's total. Their means are known exactly
        (``underwriting.engine.control_means``), which makes them control variates for the
        premium. Kept only when asked (``simulate_many(..., controls=True)``), else ``None``;
        ``controls=4`` adds a row, the sum of each event's total cubed, and ``controls=5`` one
        more, to the fourth power (``underwriting.engine.event_power_means``).
    warnings
        What makes the figures less reliable than they look, e.g. ``HEAVY_TAIL_INFINITE_VARIANCE``
        (a severity with infinite variance that nothing caps: the standard errors are too
        small); codes in ``docs/warnings.md``. Also printed by :meth:`summary`.
    """

    profile: RiskProfile
    terms: PolicyTerms
    block_size: int
    annual_ground_up: FloatArray | None
    year_loss_table: YearLossTable | None
    event_source: EventSource | None = field(default=None, repr=False, compare=False)
    warnings: tuple[UnderwritingWarning, ...] = ()
    controls: FloatArray | None = field(default=None, repr=False, compare=False)

    @property
    def currency(self) -> str | None:
        return self.profile.currency

    @property
    def subject(self) -> str:
        """``lab <id>`` for a lab's profile, ``own profile`` for an actuary's."""
        return f"lab {self.profile.lab_id}" if self.profile.lab_id else "own profile"

    @property
    def experience_applied(self) -> bool:
        """Whether the profile's rates carry the lab's claims experience (a quote's profile does;
        ``RiskProfile.from_submission`` and so ``simulate`` of a lab do not)."""
        return any(
            step.name == "experience"
            for scenario in self.profile.scenarios
            for step in scenario.rating
        )

    def _summary_notes(self) -> list[str]:
        if self.experience_applied:
            experience = (
                "claims experience: applied (rates credibility-weighted by the lab's claims, as "
                "in its quote)"
            )
        elif self.profile.tables_version is None:
            experience = "claims experience: not applied (own profile)"
        else:
            experience = (
                "claims experience: not applied (the tables' rates; the lab's quote also weighs "
                "its claims)"
            )
        return [
            experience,
            *(f"warning {w.code} ({w.field}): {w.message}" for w in self.warnings),
        ]

    def _display_title(self) -> str:
        lab = f" {self.profile.lab_id}" if self.profile.lab_id else ""
        tables = self.profile.tables_version or "none (own profile)"
        return (
            f"SimulationResult{lab}, tables {tables}: {self.n_years:,} years, seed {self.seed}"
            f"{self._amounts_in()}"
        )

    def _display_lines(self) -> list[str]:
        if not self.warnings:
            return []
        codes = sorted({w.code for w in self.warnings})
        return [f"warnings: {', '.join(codes)} ({len(self.warnings)}; summary() says why)"]

    def _summary_title(self) -> str:
        return (
            f"Simulated {self.n_years:,} years, seed {self.seed}, tables "
            f"{self.profile.tables_version or 'none (own profile)'}{self._amounts_in()}"
        )

    def _summary_breakdowns(self) -> list[str]:
        if self.year_loss_table is None:
            return ["", "by section and by scenario: no year loss table was kept"]
        lines: list[str] = []
        for title, rows in (("section", self.by_section()), ("scenario", self.by_scenario())):
            lines += [
                "",
                f"{'by ' + title:<24}{'ground-up':>14}{'insured':>14}{'(s.e.)':>12}{'share':>8}",
            ]
            for row in rows.values():
                if row.mean_ground_up == 0 and row.mean_insured == 0:
                    continue
                lines.append(
                    f"{row.name:<24}{format_money(row.mean_ground_up):>14}"
                    f"{format_money(row.mean_insured):>14}"
                    f"{format_money(row.standard_error):>12}{row.share:>8.1%}"
                )
        return lines

    # ------------------------------------------------------------------ breakdowns

    @property
    def _table(self) -> YearLossTable:
        if self.year_loss_table is None:
            raise ValueError(
                "this result kept no year loss table; simulate with detail='full' and "
                "year_loss_tables=True"
            )
        return self.year_loss_table

    def _contribution(self, name: str, mask: npt.NDArray[np.bool_], total: float) -> Contribution:
        table = self._table
        insured = table.annual(mask, self.n_years)
        mean = float(insured.mean())
        se = float(insured.std(ddof=1)) / math.sqrt(self.n_years) if self.n_years > 1 else 0.0
        return Contribution(
            name=name,
            mean_ground_up=float(table.annual(mask, self.n_years, insured=False).mean()),
            mean_insured=mean,
            standard_error=se,
            share=mean / total if total > 0 else 0.0,
        )

    def by_section(self) -> dict[str, Contribution]:
        """Expected ground-up and insured loss of each section, with standard errors."""
        total = self.mean
        return {
            section.value: self._contribution(section.value, self._table.section == index, total)
            for index, section in enumerate(SECTIONS)
        }

    def by_scenario(self) -> dict[str, Contribution]:
        """Expected ground-up and insured loss of each scenario, with standard errors."""
        total = self.mean
        return {
            scenario.id: self._contribution(scenario.id, self._table.scenario == index, total)
            for index, scenario in enumerate(self.profile.scenarios)
        }

    # ------------------------------------------------------------------ tables

    TABLES: ClassVar[tuple[str, ...]] = (
        *LossDistribution.TABLES,
        "by_section",
        "by_scenario",
        "year_loss_table",
        "event_loss_table",
    )

    def table(self, name: str = "metrics") -> Table:
        """One of :attr:`TABLES` as named columns; those of a loss distribution
        (:meth:`LossDistribution.table`) and:

        - ``by_section``, ``by_scenario``: ``section`` (or ``scenario``), ``mean_ground_up``,
          ``mean_insured``, ``standard_error``, ``share``: the expected loss of each;
        - ``year_loss_table``: ``year``, ``scenario``, ``section``, ``ground_up``, ``insured``:
          one row per year, scenario and section with a loss;
        - ``event_loss_table``: ``year``, ``scenario``, ``event`` (1-based within its year and
          scenario), ``section``, ``ground_up``, ``insured``, ``downtime_days``: one row per
          event and section with a ground-up loss, regenerated from the seed
          (:meth:`event_losses`).

        Scenarios are named by their id and sections by their name (``property``), coded.
        """
        _tables.check_table(name, self.TABLES)
        scenario_ids = tuple(scenario.id for scenario in self.profile.scenarios)
        section_names = tuple(section.value for section in SECTIONS)
        if name in ("by_section", "by_scenario"):
            rows = list(
                (self.by_section() if name == "by_section" else self.by_scenario()).values()
            )
            return {
                name.removeprefix("by_"): [row.name for row in rows],
                "mean_ground_up": np.array([row.mean_ground_up for row in rows]),
                "mean_insured": np.array([row.mean_insured for row in rows]),
                "standard_error": np.array([row.standard_error for row in rows]),
                "share": np.array([row.share for row in rows]),
            }
        if name == "year_loss_table":
            table = self._table
            return {
                "year": table.year,
                "scenario": Coded(table.scenario, scenario_ids),
                "section": Coded(table.section, section_names),
                "ground_up": table.ground_up,
                "insured": table.insured,
            }
        if name == "event_loss_table":
            events = self.event_losses()
            rows_, columns_ = np.nonzero(events.ground_up > 0)
            index = {scenario_id: code for code, scenario_id in enumerate(scenario_ids)}
            codes = np.array([index[str(s)] for s in events.scenario], dtype=np.int64)
            return {
                "year": events.year[rows_],
                "scenario": Coded(codes[rows_], scenario_ids),
                "event": events.event[rows_],
                "section": Coded(columns_.astype(np.int64), section_names),
                "ground_up": events.ground_up[rows_, columns_],
                "insured": events.insured[rows_, columns_],
                "downtime_days": events.downtime_days[rows_],
            }
        return super().table(name)

    def _annual_table(self) -> Table:
        columns = dict(super()._annual_table())
        if self.annual_ground_up is not None:
            columns["ground_up"] = self.annual_ground_up
        return columns

    def cross_check(
        self,
        exact: ExactDistribution,
        return_periods: Sequence[int] = CROSS_CHECK_RETURN_PERIODS,
    ) -> CrossCheck:
        """Every headline figure beside the exact one (:func:`underwriting.exact`), with its
        standard error: mean, P(any claim), VaR and TVaR at 99% and 99.5%, AEP and OEP points.

        ``CrossCheck.agrees()`` when each differs by at most 4 standard errors, a bucket of the
        exact grid (after the share) added in quadrature for the discretisation.
        """
        rows = cross_check_rows(self, exact, return_periods)
        return CrossCheck(rows=rows, n_years=self.n_years, exact=exact)

    def to_ord(
        self,
        directory: str | os.PathLike[str],
        *,
        file_format: Literal["csv", "parquet"] = "parquet",
        perspective: Literal["gul", "il"] = "il",
        summary: Literal["policy", "section"] = "policy",
    ) -> dict[str, Path]:
        """Write the standard loss tables in the Oasis ORD layout; their paths by table name.

        Event (``selt``, ``melt``), period (``splt``, ``mplt``), average (``alt``) and
        exceedance-probability (``ept``) tables of the insured (``il``) or ground-up (``gul``)
        losses, for the policy (``S1``) or by section (``S2``), with ``summary-info`` and
        ``events`` naming the summaries and the events' scenarios; Parquet (pyarrow) or CSV. How
        years, events and samples map onto ORD: :mod:`underwriting.results._ord`.
        """
        from underwriting.results._ord import write_ord

        return write_ord(
            self, directory, file_format=file_format, perspective=perspective, summary=summary
        )

    def event_losses(self, first_year: int = 0, n_years: int | None = None) -> EventLosses:
        """The event loss table of years ``first_year .. first_year + n_years - 1``.

        Regenerated from the seed (the same events as the run, exactly), so it costs no memory
        until asked for. By default, all simulated years.
        """
        if self.event_source is None:
            raise ValueError("this result has no event source to regenerate events from")
        count = self.n_years - first_year if n_years is None else n_years
        if first_year < 0 or count < 0 or first_year + count > self.n_years:
            raise ValueError(
                f"years [{first_year}, {first_year + count}) are outside [0, {self.n_years})"
            )
        return self.event_source(first_year, count)


def check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be strictly between 0 and 1, got {level}")
