"""An annual loss distribution computed exactly (up to a stated discretisation), and how a
simulation compares with it.

:func:`underwriting.engine.exact` computes it by FFT; this module holds what it returns and the
comparison, :meth:`SimulationResult.cross_check`, which sets every simulated figure beside the
exact one with the simulation's standard error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

import underwriting.results._display as _display

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, repr=False)
class ExactDistribution:
    """The annual insured loss on a grid of amounts, with the error of the grid stated.

    Attributes
    ----------
    amounts
        The annual insured loss of each grid point (currency), non-decreasing, shape ``(n,)``:
        ``share * min(max(k * bucket - aggregate_deductible, 0), aggregate_limit)``.
    probabilities
        The probability of each grid point, shape ``(n,)``; they add up to
        ``1 - truncation_mass`` (``1`` when an aggregate limit takes the mass beyond the grid).
    occurrence_amounts, occurrence_cdf
        The largest single-occurrence insured loss of a year (after per-occurrence terms and
        the share, before annual aggregates) on the grid, and ``P(largest <= amount)``.
    bucket
        The grid step of the years' total before annual terms (currency): each occurrence's
        insured loss was rounded to the nearest multiple, so moved by at most ``bucket / 2``.
    n_buckets
        Grid points.
    truncation_mass
        Probability that the year's total before annual terms lies beyond the grid,
        ``n_buckets * bucket``: left out of ``probabilities``, or, under an aggregate limit, put
        on it (exactly where it belongs, the grid reaching past the limit).
    truncation_placed
        Whether the truncated mass was put on the aggregate limit.
    share
        The insurer's share (amounts are after it).
    no_claim_probability
        ``P(no insured loss in a year)`` computed without the grid where it can be (no annual
        aggregate deductible: ``prod_j P_j(P(Y_j = 0))``); ``None`` to read it off the grid.
    """

    amounts: FloatArray
    probabilities: FloatArray
    occurrence_amounts: FloatArray
    occurrence_cdf: FloatArray
    bucket: float
    n_buckets: int
    truncation_mass: float
    truncation_placed: bool
    share: float
    no_claim_probability: float | None = None

    @property
    def amount_error(self) -> float:
        """How far one occurrence's insured loss may sit from its grid point, after the share."""
        return self.share * self.bucket / 2

    @property
    def mean(self) -> float:
        """Expected annual insured loss (NumPy's own sums, not BLAS's, whose last bits depend on
        the machine's cores: ``underwriting.pricing._products``)."""
        return float(np.einsum("n,n->", self.amounts, self.probabilities))

    @property
    def std(self) -> float:
        """Standard deviation of the annual insured loss."""
        second = float(np.einsum("n,n->", self.amounts**2, self.probabilities))
        return math.sqrt(max(second - self.mean**2, 0.0))

    def var(self, level: float) -> float:
        """The smallest grid amount whose probability of not being exceeded reaches ``level``."""
        cumulative = np.cumsum(self.probabilities)
        index = int(np.searchsorted(cumulative, level - 1e-12, side="left"))
        if index >= self.amounts.size:
            raise ValueError(
                f"level {level} lies in the truncated mass ({self.truncation_mass:.2e} beyond "
                f"the grid of {self.n_buckets:,} buckets of {self.bucket:,.4g}): use more "
                "buckets or a larger bucket"
            )
        return float(self.amounts[index])

    def tvar(self, level: float) -> float:
        """Mean annual insured loss in the worst ``1 - level`` of years (as the simulation's)."""
        var = self.var(level)
        excess = np.maximum(self.amounts - var, 0.0)
        return var + float(np.einsum("n,n->", excess, self.probabilities)) / (1 - level)

    def probability_of_claim(self) -> float:
        """Probability that a year has any insured loss."""
        if self.no_claim_probability is not None:
            return 1.0 - self.no_claim_probability
        return float(self.probabilities[self.amounts > 0].sum())

    def oep(self, level: float) -> float:
        """The largest occurrence not exceeded with probability ``level``."""
        index = int(np.searchsorted(self.occurrence_cdf, level - 1e-12, side="left"))
        return float(self.occurrence_amounts[min(index, self.occurrence_amounts.size - 1)])

    def __repr__(self) -> str:
        return (
            f"<ExactDistribution: mean {_display.format_amount(self.mean)}, VaR 99.5% "
            f"{_display.format_amount(self.var(0.995))}, TVaR 99.0% "
            f"{_display.format_amount(self.tvar(0.99))}\n  {self.n_buckets:,} buckets of "
            f"{self.bucket:,.4g} (each occurrence within {self.amount_error:,.4g}), truncation "
            f"mass {self.truncation_mass:.2e}"
            f"{' (put on the aggregate limit)' if self.truncation_placed else ''}>"
        )


@dataclass(frozen=True, slots=True)
class CrossCheckRow:
    """One figure, simulated and exact.

    ``tolerance`` is the discretisation's allowance, one bucket after the share;
    ``difference_in_errors`` is ``(simulated - exact) / sqrt(standard_error**2 + tolerance**2)``.
    """

    name: str
    simulated: float
    standard_error: float
    exact: float
    tolerance: float

    @property
    def difference(self) -> float:
        return self.simulated - self.exact

    @property
    def difference_in_errors(self) -> float:
        spread = math.hypot(self.standard_error, self.tolerance)
        if spread == 0:
            return 0.0 if self.difference == 0 else math.copysign(math.inf, self.difference)
        return self.difference / spread


@dataclass(frozen=True, repr=False)
class CrossCheck:
    """A simulation's figures beside the exact ones (:meth:`SimulationResult.cross_check`)."""

    rows: tuple[CrossCheckRow, ...]
    n_years: int
    exact: ExactDistribution

    def agrees(self, within: float = 4.0) -> bool:
        """Whether every figure is within ``within`` standard errors (and the tolerance)."""
        return all(abs(row.difference_in_errors) <= within for row in self.rows)

    def table(self) -> dict[str, Any]:
        """The rows as named columns (for pandas: ``pd.DataFrame(check.table())``)."""
        return {
            "metric": [row.name for row in self.rows],
            "simulated": np.array([row.simulated for row in self.rows]),
            "standard_error": np.array([row.standard_error for row in self.rows]),
            "exact": np.array([row.exact for row in self.rows]),
            "difference": np.array([row.difference for row in self.rows]),
            "difference_in_errors": np.array([row.difference_in_errors for row in self.rows]),
        }

    def _cells(self) -> list[tuple[str, ...]]:
        return [
            (
                row.name,
                _display.format_figure(row.name, row.simulated),
                _display.format_figure(row.name, row.standard_error),
                _display.format_figure(row.name, row.exact),
                f"{row.difference_in_errors:+.2f}",
            )
            for row in self.rows
        ]

    _HEADER = ("metric", "simulated", "s.e.", "exact", "diff. (s.e.)")

    def __repr__(self) -> str:
        widths = [
            max(len(c) for c in column) for column in zip(self._HEADER, *self._cells(), strict=True)
        ]
        lines = [
            f"Simulated ({self.n_years:,} years) against exact ({self.exact.n_buckets:,} buckets "
            f"of {self.exact.bucket:,.4g}): {'agree' if self.agrees() else 'DISAGREE'} within "
            "4 standard errors"
        ]
        for row in (self._HEADER, *self._cells()):
            lines.append(
                "  ".join(
                    cell.ljust(width) if i == 0 else cell.rjust(width)
                    for i, (cell, width) in enumerate(zip(row, widths, strict=True))
                )
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _display.html_block(
            f"Simulated ({self.n_years:,} years) against exact ({self.exact.n_buckets:,} "
            f"buckets of {self.exact.bucket:,.4g})",
            [f"{'agree' if self.agrees() else 'disagree'} within 4 standard errors"],
            [_display.html_table(self._HEADER, self._cells())],
        )


CROSS_CHECK_LEVELS: tuple[float, ...] = (0.99, 0.995)
"""Levels of the VaR and TVaR compared."""

CROSS_CHECK_RETURN_PERIODS: tuple[int, ...] = (10, 100, 250)
"""Return periods of the AEP and OEP points compared."""


def cross_check_rows(
    simulated: Any, exact: ExactDistribution, return_periods: Sequence[int]
) -> tuple[CrossCheckRow, ...]:
    """The rows of a cross-check of ``simulated`` (a :class:`SimulationResult`)."""
    tolerance = exact.share * exact.bucket
    rows = [
        CrossCheckRow("mean", simulated.mean, simulated.standard_error(), exact.mean, tolerance),
    ]
    claim = simulated.probability_of_claim()
    rows.append(
        CrossCheckRow(
            "P(any claim)", claim.value, claim.standard_error, exact.probability_of_claim(), 0.0
        )
    )
    for level in CROSS_CHECK_LEVELS:
        var = simulated.var_metric(level)
        rows.append(
            CrossCheckRow(var.name, var.value, var.standard_error, exact.var(level), tolerance)
        )
    for level in CROSS_CHECK_LEVELS:
        tvar = simulated.tvar_metric(level)
        rows.append(
            CrossCheckRow(tvar.name, tvar.value, tvar.standard_error, exact.tvar(level), tolerance)
        )
    periods = [p for p in return_periods if p < simulated.n_years]
    for point in simulated.ep_curve(periods):
        level = 1 - 1 / point.return_period
        label = f"1 in {point.return_period:,.0f}"
        rows.append(
            CrossCheckRow(
                f"AEP {label}", point.aep, point.aep_standard_error, exact.var(level), tolerance
            )
        )
        if point.oep is not None and point.oep_standard_error is not None:
            rows.append(
                CrossCheckRow(
                    f"OEP {label}", point.oep, point.oep_standard_error, exact.oep(level), tolerance
                )
            )
    return tuple(rows)
