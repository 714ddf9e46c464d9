"""The terms in NumPy form: a table of events' ground-up losses to insured losses at once.

Steps 1-7 of :mod:`underwriting.terms` (where their order is documented), vectorised over the
events of a table; ``_scalar`` is the same steps one event at a time. Columns of the loss
matrices are sections, in ``SECTIONS`` order, reached by name through ``SECTION_INDEX``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from underwriting.errors import TermsError
from underwriting.model import SECTION_INDEX, SECTIONS, Section
from underwriting.terms._models import DAYS_PER_MONTH, PolicyTerms, SectionTerms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class EventLossTable:
    """Ground-up losses of a set of events (occurrences), one row per event.

    Attributes
    ----------
    year
        Year of each event, ``0 <= year < n_years``, shape ``(n_events,)``.
    ground_up
        Ground-up loss of each event in each section (currency), shape
        ``(n_events, len(SECTIONS))``, columns in ``SECTIONS`` order.
    n_years
        Number of years the table covers (years without events have no rows).
    downtime_days
        Days of research interruption of each event, shape ``(n_events,)``; needed only where
        research interruption has a waiting or indemnity period.
    daily_cost
        Research cost per day of each event (currency), shape ``(n_events,)``; with
        ``downtime_days``, research interruption's ground-up loss is their product.
    """

    year: IntArray
    ground_up: FloatArray
    n_years: int
    downtime_days: FloatArray | None = None
    daily_cost: FloatArray | None = None

    def __post_init__(self) -> None:
        if self.year.ndim != 1 or not np.issubdtype(self.year.dtype, np.integer):
            raise TermsError(
                f"year must be a 1-d array of integers, got {self.year.dtype} with shape "
                f"{self.year.shape}"
            )
        n = self.year.shape[0]
        if self.ground_up.shape != (n, len(SECTIONS)):
            raise TermsError(
                f"ground_up must have shape ({n}, {len(SECTIONS)}), got {self.ground_up.shape}"
            )
        for name in ("downtime_days", "daily_cost"):
            column = getattr(self, name)
            if column is not None and column.shape != (n,):
                raise TermsError(f"{name} must have shape ({n},), got {column.shape}")
            if column is not None and (not np.all(np.isfinite(column)) or np.any(column < 0)):
                raise TermsError(f"{name} must be finite and non-negative")
        if n and (self.year.min() < 0 or self.year.max() >= self.n_years):
            raise TermsError(f"year must lie in [0, {self.n_years}), got values outside it")
        if not np.all(np.isfinite(self.ground_up)) or np.any(self.ground_up < 0):
            raise TermsError("ground_up losses must be finite and non-negative")

    @classmethod
    def from_section_losses(
        cls,
        *,
        year: npt.ArrayLike,
        section: Section | str,
        ground_up: npt.ArrayLike,
        n_years: int,
    ) -> EventLossTable:
        """A table whose events all hit one section."""
        years = np.asarray(year, dtype=np.int64)
        matrix = np.zeros((years.shape[0], len(SECTIONS)))
        matrix[:, SECTION_INDEX[Section(section)]] = np.asarray(ground_up, dtype=np.float64)
        return cls(year=years, ground_up=matrix, n_years=n_years)


@dataclass(frozen=True, slots=True)
class InsuredLosses:
    """Insured losses after all terms.

    Attributes
    ----------
    by_event
        Insured loss of each event in each section, after every term including the annual
        aggregates and the share (allocated pro rata), shape ``(n_events, len(SECTIONS))``.
    occurrence
        What each event pays after the per-occurrence terms only (steps 1-3), same shape.
    annual
        Insured loss of each year (currency), shape ``(n_years,)``.
    annual_by_section
        Insured loss of each year in each section, shape ``(n_years, len(SECTIONS))``; rows sum
        to ``annual`` up to rounding.
    """

    by_event: FloatArray
    occurrence: FloatArray
    annual: FloatArray
    annual_by_section: FloatArray


def _occurrence_terms(
    loss: FloatArray,
    terms: SectionTerms,
    downtime_days: FloatArray | None,
    daily_cost: FloatArray | None,
) -> FloatArray:
    """Steps 1-3 for one section's column of event losses (``_scalar.occurrence_terms``)."""
    if terms.has_time_terms:
        if downtime_days is None or daily_cost is None:
            raise TermsError(
                "research_interruption has a waiting or indemnity period, so the event table "
                "needs downtime_days and daily_cost"
            )
        indemnity_days = (
            np.inf
            if terms.indemnity_period_months is None
            else terms.indemnity_period_months * DAYS_PER_MONTH
        )
        paid_days = np.maximum(
            np.minimum(downtime_days, indemnity_days) - terms.waiting_period_days, 0.0
        )
        # Never more than the stated ground-up loss, whatever the days and daily cost say.
        loss = np.minimum(paid_days * daily_cost, loss)
    if terms.deductible_percent_of_loss is not None:
        upper = np.inf if terms.deductible_maximum is None else terms.deductible_maximum
        deductible: FloatArray | float = np.clip(
            terms.deductible_percent_of_loss * loss, terms.deductible_minimum, upper
        )
    else:
        deductible = terms.deductible
    if terms.franchise:
        paid = np.where(loss > deductible, loss, 0.0)
    else:
        paid = np.maximum(loss - deductible, 0.0)
    if terms.limit is not None:
        paid = np.minimum(paid, terms.limit)
    if terms.limit_percent_of_loss is not None:
        paid = np.minimum(paid, terms.limit_percent_of_loss * loss)
    return paid


def occurrence_payments(
    loss: FloatArray,
    terms: SectionTerms,
    downtime_days: FloatArray | None = None,
    daily_cost: FloatArray | None = None,
) -> FloatArray:
    """Steps 1-3 for one section's losses, one per occurrence: what each pays before the annual
    aggregates (``_scalar.occurrence_terms`` elementwise)."""
    return _occurrence_terms(loss, terms, downtime_days, daily_cost)


def _ratio(after: FloatArray, before: FloatArray) -> FloatArray:
    """``after / before`` where ``before > 0``, else 0 (nothing to allocate)."""
    out = np.zeros_like(before)
    np.divide(after, before, out=out, where=before > 0)
    return out


@dataclass(frozen=True, slots=True)
class _AnnualSteps:
    occurrence: FloatArray
    before_section_aggregates: FloatArray
    after_section_aggregates: FloatArray
    sections_total: FloatArray
    annual: FloatArray


def _annual_steps(events: EventLossTable, terms: PolicyTerms) -> _AnnualSteps:
    """Steps 1-7 of :mod:`underwriting.terms`, keeping what the allocation needs."""
    n_events, n_sections = events.ground_up.shape
    occurrence = np.zeros((n_events, n_sections))
    before = np.zeros((events.n_years, n_sections))
    # Steps 1-3, each event (``_scalar.occurrence_terms``), then their sums by year.
    for section, section_terms in terms.sections.items():
        column = SECTION_INDEX[section]
        paid = _occurrence_terms(
            events.ground_up[:, column], section_terms, events.downtime_days, events.daily_cost
        )
        occurrence[:, column] = paid
        before[:, column] = np.bincount(events.year, weights=paid, minlength=events.n_years)
    # Step 4 (``_scalar.section_aggregate``).
    after = before.copy()
    for section, section_terms in terms.sections.items():
        if section_terms.aggregate_limit is not None:
            column = SECTION_INDEX[section]
            np.minimum(after[:, column], section_terms.aggregate_limit, out=after[:, column])
    # Steps 5-7 (``_scalar.year_terms``).
    sections_total = after.sum(axis=1)
    annual = np.maximum(sections_total - terms.aggregate_deductible, 0.0)
    if terms.aggregate_limit is not None:
        annual = np.minimum(annual, terms.aggregate_limit)
    annual = annual * terms.share
    return _AnnualSteps(occurrence, before, after, sections_total, annual)


def apply_terms(events: EventLossTable, terms: PolicyTerms) -> InsuredLosses:
    """Apply policy terms to ground-up event losses, in the order of :mod:`underwriting.terms`.

    Parameters
    ----------
    events
        Ground-up losses per event and section, with each event's year.
    terms
        The policy terms.

    Returns
    -------
    InsuredLosses
        Insured losses per event and section, per year, and per year and section.

    Example
    -------
    >>> import numpy as np
    >>> terms = PolicyTerms(sections={"liability": SectionTerms(deductible=1_000)})
    >>> events = EventLossTable.from_section_losses(
    ...     year=[0], section="liability", ground_up=[2_500.0], n_years=1)
    >>> float(apply_terms(events, terms).annual[0])
    1500.0
    """
    steps = _annual_steps(events, terms)
    policy_factor = _ratio(steps.annual, steps.sections_total)
    section_factor = _ratio(steps.after_section_aggregates, steps.before_section_aggregates)
    year_factor = section_factor * policy_factor[:, None]
    by_event = steps.occurrence * year_factor[events.year]
    annual_by_section = steps.after_section_aggregates * policy_factor[:, None]
    occurrence, annual = steps.occurrence, steps.annual
    return InsuredLosses(
        by_event=by_event,
        occurrence=occurrence,
        annual=annual,
        annual_by_section=annual_by_section,
    )


def annual_insured(events: EventLossTable, terms: PolicyTerms) -> tuple[FloatArray, FloatArray]:
    """Steps 1-7 without the pro-rata allocation: ``(annual, occurrence)``.

    ``annual`` is the insured loss of each year, shape ``(n_years,)``, identical to
    ``apply_terms(events, terms).annual``; ``occurrence`` what each event pays after the
    per-occurrence terms, shape ``(n_events, len(SECTIONS))``. Cheaper when no breakdown is needed.
    """
    steps = _annual_steps(events, terms)
    return steps.annual, steps.occurrence
