"""The underwriting workflow: what follows a quote.

``_paired`` prices two requests on common random numbers; ``_renewal`` prices a renewal and
decomposes its change from the expiring quote (exposure, terms, claims experience, tables
version, rate); ``_monitoring`` aggregates the book's rate change and adequacy (docs/renewal.md).
"""

from underwriting.workflow._monitoring import (
    RateGroup,
    RateMonitoring,
    RateRecord,
    monitor_rates,
)
from underwriting.workflow._paired import (
    PairedDifference,
    PairedQuotes,
    paired_difference,
    price_pair,
)
from underwriting.workflow._renewal import (
    Renewal,
    RenewalStep,
    renew,
    risk_adjusted_rate_change,
)

__all__ = [
    "PairedDifference",
    "PairedQuotes",
    "RateGroup",
    "RateMonitoring",
    "RateRecord",
    "Renewal",
    "RenewalStep",
    "monitor_rates",
    "paired_difference",
    "price_pair",
    "renew",
    "risk_adjusted_rate_change",
]
