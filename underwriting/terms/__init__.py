"""The policy terms and the financial module: ground-up event losses to insured losses.

The terms models (``_models``: the terms per section and per policy, and the check that they
give cover) and their application in two forms side by side, the same steps in the same order:
``_vectorised`` (NumPy, over a table of events: :func:`apply_terms`, :func:`annual_insured`)
and ``_scalar`` (one event at a time, reading the terms from record arrays with named fields,
for the compiled engine to inline). Imports only :mod:`underwriting.model` and
:mod:`underwriting.errors`.

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

from underwriting.terms._models import (
    DAYS_PER_MONTH,
    PolicyTerms,
    SectionTerms,
    check_cover,
    cover_problems,
)
from underwriting.terms._scalar import (
    POLICY_TERMS,
    SCALAR_TERMS,
    SECTION_TERMS,
    occurrence_terms,
    section_aggregate,
    term_records,
    year_terms,
)
from underwriting.terms._vectorised import (
    EventLossTable,
    InsuredLosses,
    annual_insured,
    apply_terms,
    occurrence_payments,
)

__all__ = [
    "DAYS_PER_MONTH",
    "POLICY_TERMS",
    "SCALAR_TERMS",
    "SECTION_TERMS",
    "EventLossTable",
    "InsuredLosses",
    "PolicyTerms",
    "SectionTerms",
    "annual_insured",
    "apply_terms",
    "check_cover",
    "cover_problems",
    "occurrence_payments",
    "occurrence_terms",
    "section_aggregate",
    "term_records",
    "year_terms",
]
