"""What is insured and what may happen: the inputs every later stage reads.

The sections of cover (``_sections``), the lab's submission (``_submission``), the frequency
and severity distributions a risk profile is made of (``_distributions``) and the seed of a run,
its domain and parsing (``_seed``). Imports nothing of the package but
:mod:`underwriting.errors`.
"""

from underwriting.model._distributions import (
    AtLeastOne,
    Fixed,
    Frequency,
    Gamma,
    LogNormal,
    LogNormalGPD,
    NegativeBinomial,
    Pareto,
    Poisson,
    Severity,
)
from underwriting.model._sections import SECTION_INDEX, SECTIONS, Section
from underwriting.model._seed import (
    SEED_BITS,
    SEED_RANGE,
    Seed,
    SeedText,
    check_seed,
    parse_seed,
)
from underwriting.model._submission import (
    ChemicalInventory,
    Claim,
    ClaimsHistory,
    ColdStorage,
    EquipmentItem,
    GasCylinders,
    LabCategory,
    NaturalHazards,
    Protections,
    Submission,
    Values,
)

__all__ = [
    "SECTIONS",
    "SECTION_INDEX",
    "SEED_BITS",
    "SEED_RANGE",
    "AtLeastOne",
    "ChemicalInventory",
    "Claim",
    "ClaimsHistory",
    "ColdStorage",
    "EquipmentItem",
    "Fixed",
    "Frequency",
    "Gamma",
    "GasCylinders",
    "LabCategory",
    "LogNormal",
    "LogNormalGPD",
    "NaturalHazards",
    "NegativeBinomial",
    "Pareto",
    "Poisson",
    "Protections",
    "Section",
    "Seed",
    "SeedText",
    "Severity",
    "Submission",
    "Values",
    "check_seed",
    "parse_seed",
]
