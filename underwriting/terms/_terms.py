"""Policy terms and their application to ground-up event losses (the financial module).

Order of application
--------------------
For every occurrence (event) and every covered section, in this order:

1. **Time terms** (research interruption only): of the event's ``downtime_days`` the insurer
   pays the days after the waiting period and within the indemnity period,
   ``max(min(downtime, indemnity days) - waiting days, 0)``, times the daily research cost
   (never more than the event's ground-up research-interruption loss).
   An indemnity period of ``m`` months counts as ``m * 365 / 12`` days.
2. **Per-occurrence deductible**: an amount, or a share of the loss clipped to
   ``[deductible_minimum, deductible_maximum]``. A straight deductible pays
   ``max(loss - deductible, 0)``; a franchise pays the whole loss once it exceeds the deductible.
3. **Per-occurrence limit**: ``min(paid, limit, limit_percent_of_loss * loss)``.

Then for every year:

4. **Section annual aggregate limit**: the section's paid amounts summed over the year's events,
   capped at ``aggregate_limit``.
5. **Policy annual aggregate deductible**: the sum over sections less ``aggregate_deductible``,
   floored at zero.
6. **Policy annual aggregate limit**: capped at the policy's ``aggregate_limit``.
7. **Insurer's share**: times ``share``.

A section absent from ``PolicyTerms.sections`` is not covered: it pays nothing.

Every step is non-decreasing in the ground-up loss and in every limit, and non-increasing in
every deductible and waiting period, so an insured year loss has the same monotonicity
(floating-point rounding is monotone, and sums are taken in a fixed order).

Year amounts after steps 4-7 are allocated back to events and sections pro rata to what the
earlier steps paid, so that event-level, section-level and scenario-level figures add up to the
year totals.

Example
-------
>>> import numpy as np
>>> terms = PolicyTerms(sections={"property": SectionTerms(deductible=10_000, limit=500_000)},
...                     aggregate_limit=1_000_000)
>>> events = EventLossTable.from_section_losses(
...     year=np.array([0, 0, 1]), section="property",
...     ground_up=np.array([5_000.0, 800_000.0, 30_000.0]), n_years=2)
>>> apply_terms(events, terms).annual.tolist()
[500000.0, 20000.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, model_validator

from underwriting.errors import TermsError
from underwriting.model import SECTION_INDEX, SECTIONS, Section

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DAYS_PER_MONTH = 365.0 / 12.0
"""A month of indemnity period, in days (a calendar convention, not a rating assumption)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SectionTerms(_Model):
    """The terms of one coverage section. Amounts are in the policy currency.

    A deductible is either ``deductible`` (an amount) or ``deductible_percent_of_loss`` (a
    fraction of each loss) with optional ``deductible_minimum`` and ``deductible_maximum``.
    ``waiting_period_days`` and ``indemnity_period_months`` apply to research interruption only.
    """

    deductible: NonNegativeFloat = Field(default=0.0, allow_inf_nan=False)
    deductible_percent_of_loss: float | None = Field(default=None, ge=0, le=1)
    deductible_minimum: NonNegativeFloat = Field(default=0.0, allow_inf_nan=False)
    deductible_maximum: NonNegativeFloat | None = Field(default=None, allow_inf_nan=False)
    franchise: bool = Field(
        default=False, description="pay the whole loss once it exceeds the deductible"
    )
    limit: NonNegativeFloat | None = Field(
        default=None, allow_inf_nan=False, description="per-occurrence limit; None = unlimited"
    )
    limit_percent_of_loss: float | None = Field(default=None, ge=0, le=1)
    aggregate_limit: NonNegativeFloat | None = Field(
        default=None, allow_inf_nan=False, description="annual aggregate limit of the section"
    )
    waiting_period_days: NonNegativeFloat = Field(default=0.0, allow_inf_nan=False)
    indemnity_period_months: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        percent = self.deductible_percent_of_loss is not None
        if percent and self.deductible > 0:
            raise ValueError(
                "give either deductible (an amount) or deductible_percent_of_loss, not both"
            )
        if not percent and (self.deductible_minimum > 0 or self.deductible_maximum is not None):
            raise ValueError(
                "deductible_minimum and deductible_maximum apply only with "
                "deductible_percent_of_loss"
            )
        if (
            self.deductible_maximum is not None
            and self.deductible_maximum < self.deductible_minimum
        ):
            raise ValueError(
                f"deductible_maximum ({self.deductible_maximum}) must be at least "
                f"deductible_minimum ({self.deductible_minimum})"
            )
        return self

    @property
    def has_time_terms(self) -> bool:
        return self.waiting_period_days > 0 or self.indemnity_period_months is not None


class PolicyTerms(_Model):
    """The terms of a policy: covered sections with their terms, then policy-level terms.

    The order in which they apply is in this module's docstring and in the README.
    """

    sections: dict[Section, SectionTerms] = Field(
        description="covered sections; a section not listed is not covered"
    )
    aggregate_limit: NonNegativeFloat | None = Field(
        default=None, allow_inf_nan=False, description="policy annual aggregate limit"
    )
    aggregate_deductible: NonNegativeFloat = Field(
        default=0.0, allow_inf_nan=False, description="policy annual aggregate deductible"
    )
    share: float = Field(default=1.0, gt=0, le=1, description="the insurer's share")

    @model_validator(mode="after")
    def _time_terms_only_for_interruption(self) -> Self:
        for section, terms in self.sections.items():
            if section is not Section.RESEARCH_INTERRUPTION and terms.has_time_terms:
                raise ValueError(
                    f"sections.{section.value}: waiting_period_days and indemnity_period_months "
                    "apply only to research_interruption"
                )
        return self


def _amount(value: float) -> str:
    """An amount as written in a refusal: whole numbers with thousands separators, else exact."""
    return f"{value:,.0f}" if value == int(value) else f"{value:,}"


def _section_cover_problems(name: str, terms: SectionTerms) -> list[str]:
    where = f"sections.{name}"
    problems = []
    for knob in ("limit", "aggregate_limit", "limit_percent_of_loss"):
        if getattr(terms, knob) == 0:
            problems.append(
                f"{where}.{knob} is 0: the section would pay nothing (allowed: above 0, or null "
                f"for none; to leave {name} uncovered, leave it out of sections)"
            )
    if terms.deductible_percent_of_loss == 1:
        problems.append(
            f"{where}.deductible_percent_of_loss is 1: the deductible would take the whole of "
            "every loss (allowed: below 1)"
        )
    if terms.deductible_percent_of_loss is None:
        knob, smallest = "deductible", terms.deductible
    else:
        knob, smallest = "deductible_minimum", terms.deductible_minimum
    for limit_name in ("limit", "aggregate_limit"):
        limit = getattr(terms, limit_name)
        if limit and smallest > limit:
            problems.append(
                f"{where}: {knob} {_amount(smallest)} is above {limit_name} {_amount(limit)}: "
                f"the section would pay only the part of a loss above {_amount(smallest)} "
                f"(allowed: {knob} at most {limit_name})"
            )
    if terms.indemnity_period_months is not None:
        indemnity_days = terms.indemnity_period_months * DAYS_PER_MONTH
        if terms.waiting_period_days >= indemnity_days:
            problems.append(
                f"{where}: waiting_period_days {terms.waiting_period_days:g} is not shorter than "
                f"indemnity_period_months {terms.indemnity_period_months:g} "
                f"({indemnity_days:,.1f} days): no day of interruption would be paid (allowed: "
                "a waiting period shorter than the indemnity period)"
            )
    return problems


def cover_problems(terms: PolicyTerms) -> list[str]:
    """Why ``terms`` give a quote no cover, or cover that cannot be what was meant.

    Each problem names the field (relative to the terms), the values and what is allowed:

    - no covered section (``sections`` empty), or an annual aggregate limit of 0;
    - a section whose limit, aggregate limit or limit as a share of the loss is 0, or whose
      deductible is the whole loss (``deductible_percent_of_loss`` 1);
    - a section whose deductible (for a percentage deductible, its minimum) is above its limit
      or its annual aggregate limit;
    - a waiting period not shorter than the indemnity period;
    - an annual aggregate deductible above the annual aggregate limit.

    :func:`apply_terms` applies such terms as written (a deductible above the limit is an
    excess layer); a quote refuses them (:class:`~underwriting.request.QuoteRequest`,
    :func:`~underwriting.quote.quote`), because for a laboratory policy they are an input error
    that would price at or near the minimum premium.
    """
    problems = []
    if not terms.sections:
        allowed = ", ".join(section.value for section in SECTIONS)
        problems.append(
            f"sections is empty: nothing would be covered, and the premium would be the minimum "
            f"premium for no cover (allowed: one or more of {allowed})"
        )
    for section, section_terms in terms.sections.items():
        problems += _section_cover_problems(section.value, section_terms)
    if terms.aggregate_limit == 0:
        problems.append(
            "aggregate_limit is 0: the policy would pay nothing (allowed: above 0, or null for "
            "none)"
        )
    if terms.aggregate_limit and terms.aggregate_deductible > terms.aggregate_limit:
        problems.append(
            f"aggregate_deductible {_amount(terms.aggregate_deductible)} is above "
            f"aggregate_limit {_amount(terms.aggregate_limit)} (allowed: aggregate_deductible "
            "at most aggregate_limit)"
        )
    return problems


def check_cover(terms: PolicyTerms, where: str = "terms") -> None:
    """Raise ``TermsError`` listing :func:`cover_problems`, each prefixed with ``where``."""
    problems = cover_problems(terms)
    if problems:
        raise TermsError("; ".join(f"{where}.{problem}" for problem in problems))


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
    """Steps 1-3 for one section's column of event losses."""
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
    """Steps 1-7 of the module docstring, keeping what the allocation needs."""
    n_events, n_sections = events.ground_up.shape
    occurrence = np.zeros((n_events, n_sections))
    before = np.zeros((events.n_years, n_sections))
    for section, section_terms in terms.sections.items():
        column = SECTION_INDEX[section]
        paid = _occurrence_terms(
            events.ground_up[:, column], section_terms, events.downtime_days, events.daily_cost
        )
        occurrence[:, column] = paid
        before[:, column] = np.bincount(events.year, weights=paid, minlength=events.n_years)
    after = before.copy()
    for section, section_terms in terms.sections.items():
        if section_terms.aggregate_limit is not None:
            column = SECTION_INDEX[section]
            np.minimum(after[:, column], section_terms.aggregate_limit, out=after[:, column])
    sections_total = after.sum(axis=1)
    annual = np.maximum(sections_total - terms.aggregate_deductible, 0.0)
    if terms.aggregate_limit is not None:
        annual = np.minimum(annual, terms.aggregate_limit)
    annual = annual * terms.share
    return _AnnualSteps(occurrence, before, after, sections_total, annual)


def apply_terms(events: EventLossTable, terms: PolicyTerms) -> InsuredLosses:
    """Apply policy terms to ground-up event losses, in the order of the module docstring.

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
