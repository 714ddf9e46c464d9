"""Pricing: a simulation result and the tables' premium settings to a premium and its worksheet.

``_pricing`` holds the capital model, the premium build-up and the worksheet rows.
"""

from underwriting.pricing._pricing import (
    Premium,
    WorksheetRow,
    paired_standard_error,
    premium_standard_error,
    price,
    technical_premium,
)

__all__ = [
    "Premium",
    "WorksheetRow",
    "paired_standard_error",
    "premium_standard_error",
    "price",
    "technical_premium",
]
