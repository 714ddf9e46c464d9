"""The policy terms and the financial module: ground-up event losses to insured losses.

``_terms`` holds the terms (per section and per policy), the check that they give cover, and
their application per occurrence and per year. Imports only :mod:`underwriting.model` and
:mod:`underwriting.errors`.
"""

from underwriting.terms._terms import (
    DAYS_PER_MONTH,
    EventLossTable,
    InsuredLosses,
    PolicyTerms,
    SectionTerms,
    annual_insured,
    apply_terms,
    check_cover,
    cover_problems,
)

__all__ = [
    "DAYS_PER_MONTH",
    "EventLossTable",
    "InsuredLosses",
    "PolicyTerms",
    "SectionTerms",
    "annual_insured",
    "apply_terms",
    "check_cover",
    "cover_problems",
]
