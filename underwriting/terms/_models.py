"""The terms models: what a policy pays for, per section and per policy, and when it gives no
cover that was meant.

The order in which the terms apply is documented once, in :mod:`underwriting.terms`; their two
forms sit beside this module: ``_vectorised`` (NumPy, over a table of events) and ``_scalar``
(one event at a time, as the compiled engine runs them).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, model_validator

from underwriting.errors import TermsError
from underwriting.model import SECTIONS, Section

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

    The order in which they apply is in :mod:`underwriting.terms` and in the README.
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
