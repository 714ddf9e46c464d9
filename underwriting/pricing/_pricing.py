"""Pricing: from a simulated loss distribution to a premium with its full build-up.

The technical premium (docs/sources.md#research-4-1)::

    technical = (expected loss + LAE + risk load + fixed expense)
                / (1 - variable expenses - commission - profit margin)

with LAE, the loss adjustment expense, ``(alae_ratio + ulae_ratio) * expected loss`` (0 in the
released tables; docs/pricing.md "Loss adjustment expenses").

then the minimum premium, rounding to the currency unit, and the premium tax (VAT) shown apart.
Every number comes from ``pricing.toml``.

Risk load, two methods selectable in the tables:

- ``cost_of_capital``: ``rate * capital_share * (VaR_p - EL)``, the cost of holding the policy's
  share of its standalone capital (Solvency II: VaR 99.5%, 6% a year; docs/sources.md#research-4-1).
  Allocated to sections and scenarios by their contribution to the tail (co-TVaR, Euler):
  part ``i`` carries ``(co-TVaR_i - E[X_i]) / (TVaR_p - EL)`` of it, the co-TVaR weighing each
  year above the VaR ``1 / (n (1 - p))`` and sharing what is left equally among the years tied
  at the VaR (an annual aggregate limit ties thousands of years), so the split does not depend
  on the order of the years.
- ``book_tvar_euler`` (2026.3 on; docs/pricing.md "Risk load"): ``rate * (co-TVaR - EL)``, the
  cost of capital on the policy's Euler share of the reference book's capital
  ``TVaR_p(B) - E[B]``. The book ``B`` is independent of the lab, so the lab's co-TVaR given its
  annual loss ``x`` is ``x * S_B(VaR_p(B) - x) / (1 - p)``, with ``S_B`` the book's survival
  function tabulated in the tables (``[premium.capital_model]``): each year weighs
  ``omega(x) = (1 + kappa (S_B(VaR - x) / (1 - p) - 1)) / n``, at least ``1 / n`` and rising
  with ``x`` (``kappa``, derived from the book, makes the book's quotes add up to its cost of
  capital: a quote sees the lab beside the book, not inside it). The
  same weights applied to a section's or a scenario's losses give its Euler contribution to the
  book's TVaR; the parts add up exactly and tied years get equal weights by construction.
- ``wang``: ``rho - EL`` with ``rho`` the Wang-transform premium ``sum_k w_k x_(k)``, weights from
  the distorted survival function ``g(s) = Phi(Phi^-1(s) + lambda)``; allocated by the same
  weights applied to each part (Euler), averaged over tied years.

Both are monotone: a loss that is larger in every year gets a larger premium, so, on common random
numbers, the premium never falls when a limit or a hazard relativity rises, nor rises when a
deductible rises. Expenses are allocated pro rata to expected loss plus risk load; the parts are
rounded so they add up exactly to the total.

The premium's standard error is estimated by batch means: the years are cut into ``batches``
equal batches, the technical premium computed on each, and the spread of the batch premiums
divided by ``sqrt(batches)``.

Control variates (tables with ``[precision] control_variates = true``, 2026.4 on;
docs/performance.md): each simulated year also carries two controls whose means are known exactly
(``underwriting.engine.control_means``): what every impact hit pays through the main terms'
per-occurrence terms alone, summed over the year, and the sum of its squares. The expected loss
and the risk load's ``E[(w - 1) x]`` are then estimated as their sample means less
``beta . (mean(controls) - exact means)``, with ``beta`` the least-squares coefficients of the
main terms' annual losses (and of their ``(w - 1) x``) on the controls. Every set of terms of one
quote (its terms, the worksheet's variants, its options) is shifted by the same amount, so the
premium stays monotone in every deductible and limit year by year, and paired differences are
those of the sample means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
from scipy import special

from underwriting.model import SECTIONS
from underwriting.pricing._weights import compiled_weigh
from underwriting.rating import PremiumSettings
from underwriting.results import SimulationResult, quantile_index

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class WorksheetRow:
    """One step of the premium build-up: a name, a value and an explanation a person can read."""

    name: str
    value: float | None
    explanation: str


@dataclass(frozen=True, slots=True)
class Premium:
    """A premium and its build-up (currency amounts unless stated).

    Attributes
    ----------
    expected_loss
        Expected annual insured loss, as simulated.
    risk_load
        Loading for the capital the policy needs.
    lae
        Loss adjustment expense (allocated and unallocated), ``lae_ratio * expected_loss``.
    fixed_expense
        Expense per policy.
    technical
        ``(expected_loss + lae + risk_load + fixed_expense) / divisor``.
    variable_expenses, commission, profit
        Their shares of the technical premium.
    minimum
        The minimum premium of the tables; ``minimum_applied`` says whether it bound.
    total
        The premium charged, before tax, rounded to the currency unit.
    tax
        Premium tax (VAT), shown apart; ``total_with_tax`` is what the insured pays.
    by_section, by_scenario
        ``total`` split by section and by scenario; each adds up exactly to ``total``.
    standard_error
        Monte Carlo standard error of ``technical`` (batch means); ``relative_error`` over it.
    """

    expected_loss: float
    risk_load: float
    fixed_expense: float
    technical: float
    variable_expenses: float
    commission: float
    profit: float
    minimum: float
    minimum_applied: bool
    total: float
    tax: float
    total_with_tax: float
    by_section: Mapping[str, float]
    by_scenario: Mapping[str, float]
    standard_error: float
    relative_error: float
    risk_load_method: str
    lae: float = field(default=0.0, metadata={"omit_if_default": True})
    """Loss adjustment expense, ``lae_ratio * expected_loss``; 0 (and left out of the quote's
    dictionary, so stored quotes replay unchanged) where the tables have none."""
    variance_reduction: float = field(default=1.0, metadata={"omit_if_default": True})
    """How many times fewer simulated years the control variates needed for this error (the
    main terms' premium variance without them over that with them); 1 (and left out of the
    quote's dictionary) where the tables use none."""


def _wang_weights(n: int, wang_lambda: float) -> FloatArray:
    """Weights of the ascending order statistics under the Wang transform, shape ``(n,)``."""
    survival = 1.0 - np.arange(n + 1) / n  # S just below each order statistic, from 1 to 0
    distorted = special.ndtr(special.ndtri(np.clip(survival, 0.0, 1.0)) + wang_lambda)
    return np.asarray(distorted[:-1] - distorted[1:], dtype=np.float64)


def book_weights(annual_loss: FloatArray, settings: PremiumSettings) -> FloatArray:
    """``1 + kappa (S_B(VaR_p(B) - x) / (1 - p) - 1)`` for each annual loss ``x``: a year's
    weight in the lab's co-TVaR against the reference book (times ``1 / n``); at least 1 and
    non-decreasing in ``x``. ``kappa`` is the capital model's ``allocation_scale``.

    ``S_B`` is interpolated linearly in the tables' survival table of the book; below its first
    loss it is that loss's survival probability (1 in the tables: the table starts at 0).
    """
    model = settings.capital_model
    if model is None:
        raise ValueError("risk_load_method 'book_tvar_euler' needs [premium.capital_model]")
    tail = 1.0 - model.tvar_level
    compiled = compiled_weigh() if annual_loss.dtype == np.float64 and annual_loss.ndim else None
    if compiled is not None:  # one pass, the same weights to the last bit (``_weights``)
        losses = np.ascontiguousarray(annual_loss)
        out = np.empty(losses.shape)
        compiled(
            losses.reshape(-1),
            np.asarray(model.survival_losses, dtype=np.float64),
            np.asarray(model.survival_probabilities, dtype=np.float64),
            model.book_var,
            tail,
            model.allocation_scale,
            out.reshape(-1),
        )
        return out

    def weigh(losses: FloatArray) -> FloatArray:
        # In place, one temporary at a time: the same operations, in the same order, as
        # 1 + scale * (max(S(var - max(x, 0)), tail) / tail - 1).
        distance = np.maximum(losses, 0.0)
        np.subtract(model.book_var, distance, out=distance)
        weights = np.interp(distance, model.survival_losses, model.survival_probabilities)
        del distance
        np.maximum(weights, tail, out=weights)
        weights /= tail
        weights -= 1.0
        weights *= model.allocation_scale
        weights += 1.0
        return weights

    # Where most years have no loss, they share one weight, worked out once. Where a quarter
    # or more have one, picking them out costs more than weighing every year: a year without
    # loss gets that same weight by the same operations, to the last bit. A NaN loss (which
    # the engine never gives) is weighed NaN either way, as in the compiled pass.
    positive = ~(annual_loss <= 0)
    if 4 * np.count_nonzero(positive) >= annual_loss.size:
        return weigh(annual_loss)
    weights = np.full(annual_loss.shape, weigh(np.zeros(1))[0])
    weights[positive] = weigh(annual_loss[positive])
    return weights


@dataclass(frozen=True)
class ControlVariates:
    """The control variates of one quote's simulated years, fitted on its main terms.

    The controls of a year (``SimulationResult.controls`` and
    ``underwriting.engine.control_means``): ``c1``, the sum of what each impact hit pays through
    the main terms' per-occurrence terms alone; ``c2``, the sum of their squares; ``c3``, the
    sum of the squares of each event's total; and ``c4 = c1**2`` (left out where its mean is not
    known, ``control_means`` giving three: scenarios sharing an occurrence).

    Attributes
    ----------
    deviations
        Each year's controls less their exact means, shape ``(k, n_years)``.
    coefficients
        ``beta`` of the expected loss (row 0) and of the risk load's ``E[(w - 1) x]`` (row 1)
        on the controls, shape ``(2, k)``.
    """

    deviations: FloatArray
    coefficients: FloatArray
    inverse: FloatArray = field(repr=False, compare=False)
    """The pseudo-inverse of the centred controls' Gram matrix (the fit's normal equations),
    ``(k, k)``, in the controls' own units: the standard errors' leverage reads it."""
    _leveraged: dict[bytes, list[tuple[FloatArray, FloatArray]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """``leveraged_fit`` already worked out, by the bytes of its ``beta``."""
    _shift: list[tuple[float, float]] = field(default_factory=list, repr=False, compare=False)
    """``shift`` once worked out (a quote's options and its strata's checks ask again)."""

    @classmethod
    def fit(
        cls,
        annual_loss: FloatArray,
        controls: FloatArray,
        means: Sequence[float],
        settings: PremiumSettings,
        weights: FloatArray | None = None,
    ) -> ControlVariates:
        """Fit on the main terms' annual losses and controls (``SimulationResult.controls``,
        rows ``c1, c2, c3``) with the exact means of ``c1 .. c4`` (``control_means``), by least
        squares; with five or six means, also on row 3 (and 4) of a run with ``controls=4`` (or
        5), the sum of the events' totals cubed (and to the fourth, ``event_power_means``). Only
        with book weights (``risk_load_method = "book_tvar_euler"``), whose load is a mean over
        the years; ``weights``: ``book_weights(annual_loss, settings)`` where the caller has
        them."""
        if settings.risk_load_method != "book_tvar_euler":
            raise ValueError(
                "control variates need risk_load_method 'book_tvar_euler' (a risk load that is "
                f"a mean over the years), got {settings.risk_load_method!r}"
            )
        if len(means) > 4 and controls.shape[0] < len(means) - 1:
            raise ValueError(
                f"{len(means)} control means need {len(means) - 1} rows of controls (c4 is c1 "
                f"squared), got {controls.shape[0]}: simulate with controls={len(means) - 1}"
            )
        rows = [controls[k] for k in range(min(3, controls.shape[0], len(means)))]
        if len(means) > 3:
            rows.append(controls[0] * controls[0])
        if len(means) > 4:  # the events' totals cubed and to the 4th (``controls=5``)
            rows += [controls[k] for k in range(3, min(controls.shape[0], len(means) - 1))]
        exact = np.asarray(means[: len(rows)], dtype=np.float64)
        deviations = np.stack(rows)
        del rows
        deviations -= exact[:, None]
        if weights is None:
            weights = book_weights(annual_loss, settings)
        excess_weighted = (weights - 1.0) * annual_loss
        # The normal equations (k x k) of the centred controls, from sums over the years (no
        # centred copy), on controls scaled to unit spread (the squares are some 1e7 times the
        # amounts); a control that never moves (no covered impact) or that the others already
        # explain is left out by the pseudo-inverse.
        n = annual_loss.size
        average = deviations.mean(axis=1)
        gram = _products(deviations) - n * np.outer(average, average)
        moments = np.stack(
            [np.einsum("kn,n->k", deviations, annual_loss - annual_loss.mean()),
             np.einsum("kn,n->k", deviations, excess_weighted - excess_weighted.mean())]
        )  # fmt: skip
        scale = _lengths(gram)
        scaled = np.linalg.pinv(gram / np.outer(scale, scale), hermitian=True)
        coefficients = np.einsum("ij,jk->ik", moments / scale, scaled) / scale
        inverse = scaled / np.outer(scale, scale)
        return cls(deviations=deviations, coefficients=coefficients, inverse=inverse)

    def leveraged_fit(self, beta: FloatArray) -> list[tuple[FloatArray, FloatArray]]:
        """For each piece of ``_CHUNK_YEARS`` years: the fitted controls' part of each year's
        premium part, ``beta . (controls - their mean)``, and one less the year's leverage (the
        hat's diagonal, at least 1e-12), for ``BookYears.standard_errors``. Neither depends on
        the terms, so a quote's options (whose controls are the main terms') share them."""
        key = beta.tobytes()
        if key not in self._leveraged:
            deviations = self.deviations
            n = deviations.shape[1]
            average = deviations.mean(axis=1)
            inverse = self.inverse
            pieces = []
            for start in range(0, n, _CHUNK_YEARS):  # a few arrays of a piece's length at once
                centred = deviations[:, start : start + _CHUNK_YEARS] - average[:, None]
                leverage = np.einsum(  # the hat's diagonal
                    "in,in->n", centred, np.einsum("ij,jn->in", inverse, centred)
                )
                fitted = np.einsum("k,kn->n", beta, centred)
                divisor = np.maximum(1.0 - leverage, 1e-12)
                fitted.flags.writeable = divisor.flags.writeable = False  # shared by options
                pieces.append((fitted, divisor))
            self._leveraged[key] = pieces
        return self._leveraged[key]

    def adjusted_losses(self, annual_loss: FloatArray) -> FloatArray:
        """Each year's loss less its share of the expected loss's shift: their mean is the
        control-variate expected loss (for paired errors year by year)."""
        return np.asarray(annual_loss - np.einsum("k,kn->n", self.coefficients[0], self.deviations))

    def shift(self) -> tuple[float, float]:
        """What the sample means of the expected loss and of ``E[(w - 1) x]`` lose:
        ``beta . (mean(controls) - exact means)``."""
        if not self._shift:
            excess = self.deviations.mean(axis=1)
            shift = np.einsum("ik,k->i", self.coefficients, excess)
            self._shift.append((float(shift[0]), float(shift[1])))
        return self._shift[0]


_NO_SHIFT = (0.0, 0.0)


def _lengths(gram: FloatArray) -> FloatArray:
    """Each control's length in a Gram matrix (1 for one that never moves, and for a diagonal
    that rounding took below 0), to scale the normal equations to unit-length controls."""
    length = np.sqrt(np.maximum(np.diag(gram), 0.0))
    length[length == 0.0] = 1.0
    return length


def _products(rows: FloatArray) -> FloatArray:
    """``rows @ rows.T``, summed by NumPy's own loops rather than BLAS. Every product over the
    years here is an ``einsum`` for the same reason: OpenBLAS shares a long product among its
    threads, one per core, and adds their partial sums, so its last bits depended on the
    machine's cores (a quote replayed on a machine with other cores did not match), and its
    idle threads spun on the other core after each product (a quote used about twice its wall
    time in CPU)."""
    return np.asarray(np.einsum("in,jn->ij", rows, rows), dtype=np.float64)


_CHUNK_YEARS = 1 << 16
"""Years at a time in the standard error's pass (bounds its temporaries)."""


@dataclass(frozen=True, slots=True)
class BookYears:
    """A sample's annual losses ``x`` and book-weighted losses ``w x`` (and the weights): with
    book weights the expected loss and the co-TVaR are plain means of these over the years, so
    the whole sample and each batch are priced without sorting (tables 2026.4 on). Made once per
    set of terms of a quote and shared by its premium, standard error and paired errors."""

    loss: FloatArray
    weighted: FloatArray
    weights: FloatArray
    _errors: list[tuple[ControlVariates, tuple[float, float]]] = field(
        default_factory=list, repr=False, compare=False
    )
    """``standard_errors`` already worked out, with the control variates they are for."""
    _parts: list[tuple[PremiumSettings, FloatArray]] = field(
        default_factory=list, repr=False, compare=False
    )
    """``contributions`` already worked out (read-only), with the settings they are for: a
    stratum's errors, its variance reduction and every option's paired error read them."""

    @classmethod
    def of(cls, annual_loss: FloatArray, settings: PremiumSettings) -> BookYears:
        weights = book_weights(annual_loss, settings)
        return cls(annual_loss, annual_loss * weights, weights)

    def technical(
        self, settings: PremiumSettings, controls: ControlVariates | None
    ) -> tuple[float, float, float]:
        """``(technical premium, expected loss, risk load)`` of the whole sample."""
        expected, co_tvar = self.means(controls)
        technical, load = _build_up(settings, expected, co_tvar)
        return float(technical), expected, float(load)

    def means(self, controls: ControlVariates | None) -> tuple[float, float]:
        """The sample's estimates of ``E[x]`` and ``E[w x]``, less the control variates' shift
        where ``controls`` are given."""
        shift = _NO_SHIFT if controls is None else controls.shift()
        return (
            float(self.loss.mean()) - shift[0],
            float(self.weighted.mean()) - shift[0] - shift[1],
        )

    def batch_premiums(
        self, settings: PremiumSettings, batches: int, controls: ControlVariates | None
    ) -> FloatArray:
        """The technical premium of each of ``batches`` equal batches (the years left over by
        the division are left out), with each batch's own shift where ``controls`` are given."""
        return np.asarray(_build_up(settings, *self.batch_means(batches, controls))[0])

    def batch_means(
        self, batches: int, controls: ControlVariates | None
    ) -> tuple[FloatArray, FloatArray]:
        """Each batch's estimates of ``E[x]`` and ``E[w x]`` (with its own shift where
        ``controls`` are given), shape ``(batches,)`` each."""
        size = self.loss.size // batches
        used = size * batches
        expected = self.loss[:used].reshape(batches, size).mean(axis=1)
        co_tvar = self.weighted[:used].reshape(batches, size).mean(axis=1)
        if controls is not None:
            excess = controls.deviations[:, :used].reshape(-1, batches, size).mean(axis=2)
            shift = np.einsum("ik,kb->ib", controls.coefficients, excess)
            expected = expected - shift[0]
            co_tvar = co_tvar - shift[0] - shift[1]
        return expected, co_tvar

    def contributions(self, settings: PremiumSettings) -> FloatArray:
        """Each year's part of the technical premium before the fixed expense: the premium is
        their mean plus ``fixed / divisor`` (while the risk load is above 0). Worked out once
        per settings, and read-only."""
        for seen, parts in self._parts:
            if seen is settings:
                return parts
        parts = np.asarray(premium_part(settings, self.loss, self.weighted))
        parts.flags.writeable = False
        self._parts.append((settings, parts))
        return parts

    def standard_errors(
        self, settings: PremiumSettings, controls: ControlVariates
    ) -> tuple[float, float]:
        """The technical premium's standard error with ``controls`` and, on the same years,
        without them: ``(with, without)``.

        Years are independent, so the errors come from the years themselves. With the control
        variates, each year's residual (its premium part less the fitted controls' part) is
        divided by one less its leverage (HC3, MacKinnon and White, 1985: a jackknife of the
        fitted mean): a year whose controls are extreme pulls the fit towards itself, and its
        plain residual understates how far the estimate moves with it. Without this, the error
        a quote of 50,000 years reported for the physics lab was a third below the spread of
        its premium over 200 seeds; with it, within a tenth (docs/performance.md).
        """
        for seen, known in self._errors:
            if seen is controls:
                return known
        errors = self._standard_errors(settings, controls)
        self._errors.append((controls, errors))
        return errors

    def _standard_errors(
        self, settings: PremiumSettings, controls: ControlVariates
    ) -> tuple[float, float]:
        part = self.contributions(settings)
        n = part.size
        if n < 2:
            return math.inf, math.inf
        plain = float(part.std(ddof=1) / math.sqrt(n))
        # The controls' coefficients on the loss and on the weighted loss, combined as the
        # years' parts combine them.
        first, second = controls.coefficients[0], controls.coefficients[1]
        beta = premium_part(settings, first, first + second)
        centre = float(part.mean())
        total = 0.0
        pieces = controls.leveraged_fit(beta)
        for start, (fitted, divisor) in zip(range(0, n, _CHUNK_YEARS), pieces, strict=True):
            residual = part[start : start + _CHUNK_YEARS] - centre
            residual -= fitted
            residual /= divisor
            total += float(np.einsum("n,n->", residual, residual))
        return math.sqrt(total) / n, plain

    def paired_standard_error(
        self, other: BookYears, settings: PremiumSettings, batches: int
    ) -> float:
        """Standard error of this premium less ``other``'s over the same years (batch means);
        the control variates shift both alike, so they are left out."""
        if self.loss.size != other.loss.size:
            raise ValueError("paired samples must have the same number of years")
        if self.loss.size // batches < 2:
            return math.inf
        difference = self.batch_premiums(settings, batches, None) - other.batch_premiums(
            settings, batches, None
        )
        return float(np.std(difference, ddof=1) / math.sqrt(batches))


def _build_up(settings: PremiumSettings, expected: Any, co_tvar: Any) -> tuple[Any, Any]:
    """``(technical premium, risk load)`` from estimates of ``E[x]`` and ``E[w x]`` with book
    weights, each a number or an array of them (one per batch)."""
    load = settings.cost_of_capital_rate * np.maximum(co_tvar - expected, 0.0)
    lae = settings.lae_ratio * expected
    fixed = settings.fixed_expense_per_policy
    return (expected + lae + load + fixed) / settings.premium_divisor, load


def batch_error(per_batch: FloatArray) -> float:
    """The batch-means standard error of a statistic computed on each batch of years: the
    spread of the batches' values over the square root of their number (``inf`` for fewer
    than two)."""
    if per_batch.size < 2:
        return math.inf
    return float(np.std(per_batch, ddof=1) / math.sqrt(per_batch.size))


class PremiumEstimate(NamedTuple):
    """A premium estimated apart from the run whose distribution a quote shows (stratified
    years, :class:`StratifiedYears`), for :func:`price`."""

    technical: float
    expected_loss: float
    risk_load: float
    standard_error: float
    variance_reduction: float


@dataclass(frozen=True, slots=True)
class StratumYears:
    """One stratum's years (``underwriting.engine.rare_strata``): its ``label``, its exact
    ``probability``, each set of terms' :class:`BookYears` on its years, and the control
    variates fitted on the first set (``None``: the sample means)."""

    label: str
    probability: float
    years: tuple[BookYears, ...]
    controls: ControlVariates | None

    def means(self, index: int) -> tuple[float, float]:
        """The stratum's estimates of ``E[x]`` and ``E[w x]`` for term set ``index``."""
        return self.years[index].means(self.controls)

    def error(self, settings: PremiumSettings, index: int) -> float:
        """The standard error of the stratum's mean premium part for term set ``index``."""
        if self.controls is not None:
            return self.years[index].standard_errors(settings, self.controls)[0]
        part = self.years[index].contributions(settings)
        return float(part.std(ddof=1) / math.sqrt(part.size)) if part.size > 1 else math.inf


@dataclass(frozen=True, slots=True)
class StratifiedYears:
    """A premium from strata of years (docs/pricing.md, "Stratified years"): each stratum's
    means (with its control variates) weighted by its exact probability. Every set of terms is
    priced on the same years of every stratum with the same shifts, so the premium is monotone
    in every deductible and limit, as on one sample."""

    strata: tuple[StratumYears, ...]

    @property
    def years(self) -> tuple[int, ...]:
        """Each stratum's simulated years."""
        return tuple(s.years[0].loss.size for s in self.strata)

    @property
    def by_label(self) -> dict[str, int]:
        """Each stratum's simulated years, by its label (``Provenance.strata_years``)."""
        return {s.label: s.years[0].loss.size for s in self.strata}

    def technical(self, settings: PremiumSettings, index: int = 0) -> tuple[float, float, float]:
        """``(technical premium, expected loss, risk load)`` of term set ``index``."""
        expected = co_tvar = 0.0
        for stratum in self.strata:
            loss, weighted = stratum.means(index)
            expected += stratum.probability * loss
            co_tvar += stratum.probability * weighted
        technical, load = _build_up(settings, expected, co_tvar)
        return float(technical), expected, float(load)

    def standard_error(self, settings: PremiumSettings, index: int = 0) -> float:
        """``sqrt(sum_h P(h)**2 se_h**2)``: the strata are drawn independently."""
        return math.sqrt(sum((s.probability * s.error(settings, index)) ** 2 for s in self.strata))

    def variance_reduction(self, settings: PremiumSettings, index: int = 0) -> float:
        """How many times fewer years this estimate needed than a plain sample's mean: the
        variance of one plain year's premium part (from the strata's means and spreads) over
        the total years times this estimate's variance."""
        pairs = [(s, s.years[index].contributions(settings)) for s in self.strata]
        centre = sum(s.probability * float(p.mean()) for s, p in pairs)
        plain = sum(
            s.probability * (float(p.var(ddof=1)) + (float(p.mean()) - centre) ** 2)
            for s, p in pairs
        )
        error = self.standard_error(settings, index)
        if not error > 0 or not math.isfinite(error):
            return 1.0
        return plain / sum(self.years) / error**2

    def paired_standard_error(self, settings: PremiumSettings, index: int, other: int = 0) -> float:
        """The standard error of term set ``index``'s technical premium less ``other``'s, on the
        same years of every stratum (the control variates shift both alike)."""
        total = 0.0
        for stratum in self.strata:
            difference = stratum.years[index].contributions(settings) - stratum.years[
                other
            ].contributions(settings)
            if difference.size < 2:
                return math.inf
            total += stratum.probability**2 * float(difference.var(ddof=1)) / difference.size
        return math.sqrt(total)

    def batches(
        self, settings: PremiumSettings, batches: int, index: int = 0
    ) -> tuple[FloatArray, FloatArray]:
        """Each batch's technical premium and expected loss for term set ``index``, shape
        ``(batches,)`` each: every stratum's years cut into ``batches`` equal batches in year
        order, batch ``b`` of every stratum weighted by the strata's probabilities, each with
        its own shift. Two quotes on the same strata's years (a revision, a renewal's steps)
        are paired batch by batch, as quotes on one sample are (``batch_technical_premiums``)."""
        expected = np.zeros(batches)
        co_tvar = np.zeros(batches)
        for stratum in self.strata:
            loss, weighted = stratum.years[index].batch_means(batches, stratum.controls)
            expected += stratum.probability * loss
            co_tvar += stratum.probability * weighted
        return np.asarray(_build_up(settings, expected, co_tvar)[0]), expected

    def estimate(self, settings: PremiumSettings, index: int = 0) -> PremiumEstimate:
        technical, expected, load = self.technical(settings, index)
        return PremiumEstimate(
            technical,
            expected,
            load,
            self.standard_error(settings, index),
            self.variance_reduction(settings, index),
        )


def technical_premium_and_error(
    annual_loss: FloatArray,
    settings: PremiumSettings,
    batches: int,
    controls: ControlVariates | None = None,
    book_years: BookYears | None = None,
) -> tuple[float, float]:
    """The technical premium of a sample with book weights and its standard error by batch
    means, with the control variates where given; no sort (tables 2026.4 on, whose premiums
    sum the years in their own order). ``book_years``: ``BookYears.of(annual_loss, settings)``
    where the caller has it."""
    years = book_years or BookYears.of(annual_loss, settings)
    technical, _, _ = years.technical(settings, controls)
    if controls is not None:
        return technical, years.standard_errors(settings, controls)[0]
    if annual_loss.size // batches < 2:
        return technical, math.inf
    values = years.batch_premiums(settings, batches, None)
    return technical, float(np.std(values, ddof=1) / math.sqrt(batches))


def _risk_measure(sorted_losses: FloatArray, settings: PremiumSettings) -> tuple[float, float]:
    """``(risk load, expected loss)`` of annual losses sorted ascending, by the sample means
    (the control variates' estimate is ``BookYears.technical``)."""
    expected = float(sorted_losses.mean())
    if settings.risk_load_method == "book_tvar_euler":
        weights = book_weights(sorted_losses, settings)
        co_tvar = float(np.mean(sorted_losses * weights))
        return settings.cost_of_capital_rate * max(co_tvar - expected, 0.0), expected
    if settings.risk_load_method == "wang":
        weights = _wang_weights(sorted_losses.size, settings.wang_lambda)
        return max(float(np.einsum("n,n->", weights, sorted_losses)) - expected, 0.0), expected
    n = sorted_losses.size
    var = float(sorted_losses[quantile_index(n, settings.capital_level)])
    capital = max(var - expected, 0.0)
    return settings.cost_of_capital_rate * settings.capital_share * capital, expected


_Amounts = TypeVar("_Amounts", float, FloatArray)


def premium_part(settings: PremiumSettings, loss: _Amounts, weighted: _Amounts) -> _Amounts:
    """The part of the technical premium before the fixed expense, of a year's loss ``x`` and
    its weighted loss ``w x`` (or of their means), under ``book_tvar_euler``: the loss with its
    LAE plus the cost of capital on the weighted loss above it, ``((1 + lae) x + r (w x - x)) /
    divisor``, taken as ``((1 + lae - r) x + r w x) / divisor`` (``r`` the cost of capital
    rate). While the risk load is above 0 it is ``_build_up``'s premium less the fixed expense
    (``_build_up`` floors the load at 0); it is linear, so a sample's part is its years' mean."""
    rate = settings.cost_of_capital_rate
    return ((1.0 + settings.lae_ratio - rate) * loss + rate * weighted) / settings.premium_divisor


def technical_premium(annual_loss: FloatArray, settings: PremiumSettings) -> float:
    """The technical premium of a sample of annual losses by its sample means (no minimum, no
    rounding)."""
    risk_load, expected = _risk_measure(np.sort(annual_loss), settings)
    lae = settings.lae_ratio * expected
    return (
        expected + lae + risk_load + settings.fixed_expense_per_policy
    ) / settings.premium_divisor


def risk_load_standard_error(
    annual_loss: FloatArray, settings: PremiumSettings, batches: int
) -> float:
    """Standard error of the risk load by batch means over ``batches`` equal batches."""
    size = annual_loss.size // batches
    if size < 2:
        return math.inf
    values = [
        _risk_measure(np.sort(annual_loss[b * size : (b + 1) * size]), settings)[0]
        for b in range(batches)
    ]
    return float(np.std(values, ddof=1) / math.sqrt(batches))


def batch_technical_premiums(
    annual_loss: FloatArray,
    settings: PremiumSettings,
    batches: int,
    controls: ControlVariates | None = None,
) -> FloatArray:
    """The technical premium of each of ``batches`` equal batches of years, shape
    ``(batches,)``: as the quote priced it, with its control variates (each batch with its own
    shift) where it had them, else sorted batch by batch as tables 2026.1 to 2026.3 price."""
    if controls is not None:
        return BookYears.of(annual_loss, settings).batch_premiums(settings, batches, controls)
    size = annual_loss.size // batches
    return np.asarray(
        [
            technical_premium(annual_loss[b * size : (b + 1) * size], settings)
            for b in range(batches)
        ],
        dtype=np.float64,
    )


def premium_standard_error(
    annual_loss: FloatArray, settings: PremiumSettings, batches: int
) -> float:
    """Standard error of the technical premium by batch means over ``batches`` equal batches
    (the sample means; ``technical_premium_and_error`` with control variates)."""
    size = annual_loss.size // batches
    if size < 2:
        return math.inf
    values = [
        technical_premium(annual_loss[b * size : (b + 1) * size], settings) for b in range(batches)
    ]
    return float(np.std(values, ddof=1) / math.sqrt(batches))


def paired_standard_error(
    old_loss: FloatArray,
    old_settings: PremiumSettings,
    new_loss: FloatArray,
    new_settings: PremiumSettings,
    batches: int,
) -> float:
    """Standard error of ``technical(new) - technical(old)`` over paired years (batch means).

    The two samples are the same years (the same seed and number of years): batch ``b`` of each
    is priced with its own settings and the spread of the batch differences is divided by
    ``sqrt(batches)``. Common events cancel, so this is far below either premium's own error.
    Control variates shift both premiums alike, so they leave the difference alone
    (``BookYears.paired_standard_error`` for premiums with book weights, unsorted).
    """
    if old_loss.size != new_loss.size:
        raise ValueError("paired samples must have the same number of years")
    size = old_loss.size // batches
    if size < 2:
        return math.inf
    values = [
        technical_premium(new_loss[b * size : (b + 1) * size], new_settings)
        - technical_premium(old_loss[b * size : (b + 1) * size], old_settings)
        for b in range(batches)
    ]
    return float(np.std(values, ddof=1) / math.sqrt(batches))


def _spread_over_ties(sorted_losses: FloatArray, weights: FloatArray) -> FloatArray:
    """``weights`` of ascending order statistics, averaged over each run of tied losses.

    The weighted sum of the losses is unchanged (tied losses are equal); a part's weighted sum
    no longer depends on which tied year the sort put first.
    """
    if sorted_losses.size == 0:
        return weights
    starts = np.flatnonzero(np.diff(sorted_losses)) + 1
    starts = np.concatenate(([0], starts))
    counts = np.diff(np.append(starts, sorted_losses.size))
    return np.repeat(np.add.reduceat(weights, starts) / counts, counts)


def _tail_weights(result: SimulationResult, settings: PremiumSettings) -> FloatArray:
    """Per-year weights whose weighted sum of a part's losses is its Euler risk measure."""
    n = result.n_years
    if settings.risk_load_method == "book_tvar_euler":
        return book_weights(result.annual_loss, settings) / n
    weights = np.zeros(n)
    if settings.risk_load_method == "wang":
        order = np.argsort(result.annual_loss, kind="stable")
        weights[order] = _spread_over_ties(
            result.annual_loss[order], _wang_weights(n, settings.wang_lambda)
        )
        return weights
    years, tail = result.tail_weights(settings.capital_level)  # co-TVaR at the capital level
    weights[years] = tail
    return weights


def _split(total: float, shares: Mapping[str, float], unit: float) -> dict[str, float]:
    """Split ``total`` (a multiple of ``unit``) in proportion to ``shares``, in whole units that
    add up exactly (largest remainder)."""
    names = list(shares)
    raw = np.array([max(shares[name], 0.0) for name in names])
    if raw.sum() <= 0:
        raw = np.ones(len(names))
    units = round(total / unit)
    exact = raw / raw.sum() * units
    floors = np.floor(exact).astype(np.int64)
    remainder = units - int(floors.sum())
    order = np.argsort(-(exact - floors), kind="stable")
    floors[order[:remainder]] += 1
    return {name: float(count * unit) for name, count in zip(names, floors, strict=True)}


def price(
    result: SimulationResult,
    settings: PremiumSettings,
    *,
    batches: int,
    controls: ControlVariates | None = None,
    book_years: BookYears | None = None,
    estimate: PremiumEstimate | None = None,
) -> Premium:
    """Price a simulated policy: the premium, its build-up and its split by section and scenario.

    Parameters
    ----------
    result
        A simulation that kept its year loss table.
    settings
        The ``[premium]`` table of ``pricing.toml``.
    batches
        Batches for the premium's standard error.
    controls
        The quote's control variates (fitted on its main terms, the same years as ``result``):
        the expected loss and the risk load are estimated with them.
    book_years
        ``BookYears.of(result.annual_loss, settings)`` where the caller has it (with controls).
    estimate
        The premium estimated on other years than ``result``'s (:class:`StratifiedYears`):
        ``result`` then only splits it by section and scenario, with book weights.
    """
    fixed = settings.fixed_expense_per_policy
    weights = None  # the years' book weights, where the split reads them
    if estimate is not None:
        weights = (
            book_weights(result.annual_loss, settings) if book_years is None else book_years.weights
        )
        technical, expected, risk_load = estimate[:3]
    elif controls is None:
        book_years = None
        risk_load, expected = _risk_measure(result.sorted_annual_loss, settings)
        technical = (expected + settings.lae_ratio * expected + risk_load + fixed) / (
            settings.premium_divisor
        )
    else:  # book weights (ControlVariates.fit checks): means over the years, no sort
        book_years = book_years or BookYears.of(result.annual_loss, settings)
        technical, expected, risk_load = book_years.technical(settings, controls)
        weights = book_years.weights
    lae = settings.lae_ratio * expected
    minimum_applied = technical < settings.minimum_premium
    charged = max(technical, settings.minimum_premium)
    unit = settings.rounding_unit
    total = round(charged / unit) * unit
    tax = round(total * settings.premium_tax_rate / unit) * unit

    table = result.year_loss_table
    if table is None:
        raise ValueError("pricing needs the year loss table: simulate with year_loss_tables=True")
    # Each row's loss times its year's weight (one temporary of the table's length).
    tail_weights = _tail_weights(result, settings) if weights is None else weights / result.n_years
    weighted = tail_weights[table.year]
    weighted *= table.insured
    loaded_by_part = {}
    for label, column, names in (
        ("section", table.section, [s.value for s in SECTIONS]),
        ("scenario", table.scenario, [s.id for s in result.profile.scenarios]),
    ):
        means = np.bincount(column, weights=table.insured, minlength=len(names)) / result.n_years
        tails = np.bincount(column, weights=weighted, minlength=len(names))
        excess = tails - means
        excess_total = float(excess.sum())
        allocated = (
            excess / excess_total * risk_load
            if excess_total > 0
            else means / max(float(means.sum()), 1e-300) * risk_load
        )
        loaded_by_part[label] = {
            name: float(means[i] * (1.0 + settings.lae_ratio) + allocated[i])
            for i, name in enumerate(names)
        }
    reduction = 1.0
    if estimate is not None:
        error, reduction = estimate.standard_error, estimate.variance_reduction
    elif book_years is None:
        error = premium_standard_error(result.annual_loss, settings, batches)
    else:
        assert controls is not None
        error, spread = book_years.standard_errors(settings, controls)
        if error > 0 and math.isfinite(error):
            reduction = (spread / error) ** 2
    return Premium(
        expected_loss=expected,
        risk_load=risk_load,
        fixed_expense=fixed,
        technical=technical,
        variable_expenses=technical * settings.variable_expense_ratio,
        commission=technical * settings.commission_ratio,
        profit=technical * settings.profit_margin,
        minimum=settings.minimum_premium,
        minimum_applied=minimum_applied,
        total=total,
        tax=tax,
        total_with_tax=total + tax,
        by_section=_split(total, loaded_by_part["section"], unit),
        by_scenario=_split(total, loaded_by_part["scenario"], unit),
        standard_error=error,
        relative_error=error / technical if technical > 0 else 0.0,
        risk_load_method=settings.risk_load_method,
        lae=lae,
        variance_reduction=reduction,
    )
