"""Pricing: a simulation result and the tables' premium settings to a premium and its worksheet.

``_pricing`` holds the capital model and the premium build-up; ``_weights`` the book weights of
many years in one compiled pass (the same bits as NumPy's); ``_worksheet`` the worksheet, every
step of the build-up as rows.
"""

from underwriting.pricing._pricing import (
    BookYears,
    ControlVariates,
    Premium,
    PremiumEstimate,
    StratifiedYears,
    StratumYears,
    WorksheetRow,
    batch_error,
    batch_technical_premiums,
    book_weights,
    paired_standard_error,
    premium_part,
    premium_standard_error,
    price,
    risk_load_standard_error,
    technical_premium,
    technical_premium_and_error,
)
from underwriting.pricing._weights import warm_up
from underwriting.pricing._worksheet import TERM_EXPLANATIONS, worksheet

__all__ = [
    "TERM_EXPLANATIONS",
    "BookYears",
    "ControlVariates",
    "Premium",
    "PremiumEstimate",
    "StratifiedYears",
    "StratumYears",
    "WorksheetRow",
    "batch_error",
    "batch_technical_premiums",
    "book_weights",
    "paired_standard_error",
    "premium_part",
    "premium_standard_error",
    "price",
    "risk_load_standard_error",
    "technical_premium",
    "technical_premium_and_error",
    "warm_up",
    "worksheet",
]
