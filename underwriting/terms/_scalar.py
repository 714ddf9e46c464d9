"""The terms in scalar form: one event and one section at a time, as the compiled engine runs them.

Steps 1-7 of :mod:`underwriting.terms` (where their order is documented); ``_vectorised`` is the
same steps over a table of events. The terms are read from record arrays with named fields
(:data:`SECTION_TERMS`, :data:`POLICY_TERMS`, built by :func:`term_records`), in which ``inf``
stands for "none" in limits and periods.

The functions are plain Python that the engine's year loop compiles with numba and inlines
(``underwriting.engine._year_loop``); nothing here allocates. Each is a leaf (it calls no other
function of the package), so that the engine can compile them as they are: numba resolves a
function's callees by name in its module's globals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from underwriting.model import SECTION_INDEX, SECTIONS
from underwriting.terms._models import DAYS_PER_MONTH, PolicyTerms

Records = npt.NDArray[np.void]

SECTION_TERMS = np.dtype(
    [
        ("covered", np.bool_),
        ("time_terms", np.bool_),  # indemnity and waiting periods apply
        ("deductible_is_share", np.bool_),  # a share of the loss, between a minimum and maximum
        ("franchise", np.bool_),
        ("limit_is_share", np.bool_),
        ("indemnity_days", np.float64),  # inf: none
        ("waiting_days", np.float64),
        ("deductible", np.float64),
        ("deductible_share", np.float64),
        ("deductible_minimum", np.float64),
        ("deductible_maximum", np.float64),  # inf: none
        ("limit", np.float64),  # inf: none
        ("limit_share", np.float64),
        ("aggregate_limit", np.float64),  # inf: none
    ],
    align=True,
)
"""One section's terms in one term set (a :class:`~underwriting.terms.SectionTerms`)."""

POLICY_TERMS = np.dtype(
    [
        ("aggregate_deductible", np.float64),
        ("aggregate_limit", np.float64),  # inf: none
        ("share", np.float64),
    ],
    align=True,
)
"""One term set's policy-level terms (those of a :class:`~underwriting.terms.PolicyTerms`)."""


_UNCOVERED: tuple[object, ...] = tuple(np.zeros((), dtype=SECTION_TERMS).item())
"""A section not covered: every field false or zero, in the dtype's order."""


def _none_is_inf(value: float | None) -> float:
    return math.inf if value is None else value


def term_records(terms: Sequence[PolicyTerms]) -> tuple[Records, Records]:
    """Term sets as records: ``(sections, policy)``, shapes ``(T, len(SECTIONS))`` of
    :data:`SECTION_TERMS` (columns in ``SECTIONS`` order; a section not covered is all zeros)
    and ``(T,)`` of :data:`POLICY_TERMS`. Built from tuples in the dtypes' field order: a
    record's fields set one by one cost a quote with many options milliseconds."""
    rows = []
    for term_set in terms:
        row = [_UNCOVERED] * len(SECTIONS)
        for section, st in term_set.sections.items():
            row[SECTION_INDEX[section]] = (
                True,  # covered
                st.has_time_terms,
                st.deductible_percent_of_loss is not None,
                st.franchise,
                st.limit_percent_of_loss is not None,
                math.inf
                if st.indemnity_period_months is None
                else st.indemnity_period_months * DAYS_PER_MONTH,
                st.waiting_period_days,
                st.deductible,
                st.deductible_percent_of_loss or 0.0,
                st.deductible_minimum,
                _none_is_inf(st.deductible_maximum),
                _none_is_inf(st.limit),
                st.limit_percent_of_loss or 0.0,
                _none_is_inf(st.aggregate_limit),
            )
        rows.append(row)
    sections = np.array(rows, dtype=SECTION_TERMS).reshape(len(terms), len(SECTIONS))
    policy = np.array(
        [(t.aggregate_deductible, _none_is_inf(t.aggregate_limit), t.share) for t in terms],
        dtype=POLICY_TERMS,
    ).reshape(len(terms))
    return sections, policy


def occurrence_terms(loss: float, downtime: float, daily_cost: float, terms: Any) -> float:
    """Steps 1-3 for one event in one section (a :data:`SECTION_TERMS` record): time terms,
    deductible, limit. ``_vectorised._occurrence_terms`` for one event."""
    if terms["time_terms"]:
        paid_days = max(min(downtime, terms["indemnity_days"]) - terms["waiting_days"], 0.0)
        loss = min(paid_days * daily_cost, loss)
    if terms["deductible_is_share"]:
        deductible = min(
            max(terms["deductible_share"] * loss, terms["deductible_minimum"]),
            terms["deductible_maximum"],
        )
    else:
        deductible = terms["deductible"]
    if terms["franchise"]:
        amount = loss if loss > deductible else 0.0
    else:
        amount = max(loss - deductible, 0.0)
    amount = min(amount, terms["limit"])
    if terms["limit_is_share"]:
        amount = min(amount, terms["limit_share"] * loss)
    return float(amount)


def section_aggregate(year_paid: float, terms: Any) -> float:
    """Step 4: what a section paid in a year after steps 1-3, within its annual aggregate limit
    (a :data:`SECTION_TERMS` record)."""
    return float(min(year_paid, terms["aggregate_limit"]))


def year_terms(sections_total: float, policy: Any) -> float:
    """Steps 5-7: the year's total over sections after step 4, less the annual aggregate
    deductible, within the annual aggregate limit, times the share (a :data:`POLICY_TERMS`
    record)."""
    year_loss = max(sections_total - policy["aggregate_deductible"], 0.0)
    return float(min(year_loss, policy["aggregate_limit"]) * policy["share"])


SCALAR_TERMS = (occurrence_terms, section_aggregate, year_terms)
"""The scalar functions, for the engine to compile and inline."""
