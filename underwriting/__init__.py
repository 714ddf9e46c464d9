"""Laboratory all-risk underwriting engine.

The pipeline, one module per stage (imports flow downward only)::

    Submission ──> RiskProfile.from_submission(tables) ──> simulate(terms) ──> SimulationResult
    (submission)   (profile, tables, factors)              (simulation,        (results)
                                                            randomness, terms)
    ──> rate_experience ──> price ──> decide ──> Quote        (experience, pricing, decision,
                                                               quote: composes every stage)

Example
-------
>>> import underwriting as uw
>>> profile = uw.RiskProfile(scenarios=[uw.Scenario(id="ref", frequency=uw.Poisson(rate=2.0),
...                          severity=uw.LogNormal(mu=10.0, sigma=1.5), section="property")])
>>> terms = uw.PolicyTerms(sections={"property": uw.SectionTerms(deductible=10_000,
...                        limit=500_000)}, aggregate_limit=1_000_000)
>>> result = uw.simulate(profile, terms, n_years=100_000, seed=42)
>>> bool(abs(result.mean - 99_787) < 4 * result.standard_error())
True
"""

from underwriting.analysis import SensitivityPoint, StressResult, sensitivity, stress
from underwriting.decision import Decision, Reason, decide
from underwriting.distributions import (
    Fixed,
    Gamma,
    LogNormal,
    LogNormalGPD,
    NegativeBinomial,
    Pareto,
    Poisson,
)
from underwriting.errors import (
    HeavyTailError,
    ProfileError,
    RatingTableError,
    SimulationLimitError,
    TermsError,
    UnderwritingError,
    UnderwritingWarning,
)
from underwriting.experience import ExperienceRating, rate_experience
from underwriting.kernel import warm_up
from underwriting.portfolio import (
    MarginalImpact,
    Portfolio,
    PortfolioResult,
    marginal_impact,
    simulate_portfolio,
)
from underwriting.pricing import Premium, WorksheetRow, price
from underwriting.profile import (
    Cascade,
    RatingStep,
    RiskProfile,
    Scenario,
    SectionImpact,
    SharedOccurrence,
)
from underwriting.quote import (
    OptionQuote,
    Provenance,
    Quote,
    provenance_from_dict,
    quote,
    quote_request,
    replay,
)
from underwriting.request import QuoteRequest
from underwriting.results import (
    Contribution,
    EPPoint,
    EventLosses,
    LossDistribution,
    Metric,
    SimulationResult,
    YearLossTable,
)
from underwriting.sections import SECTIONS, Section
from underwriting.simulation import simulate, simulate_many
from underwriting.submission import (
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
from underwriting.tables import RatingTables, available_versions, load_rating_tables
from underwriting.terms import (
    EventLossTable,
    InsuredLosses,
    PolicyTerms,
    SectionTerms,
    apply_terms,
)

__version__ = "0.1.0"

__all__ = [
    "SECTIONS",
    "Cascade",
    "ChemicalInventory",
    "Claim",
    "ClaimsHistory",
    "ColdStorage",
    "Contribution",
    "Decision",
    "EPPoint",
    "EquipmentItem",
    "EventLossTable",
    "EventLosses",
    "ExperienceRating",
    "Fixed",
    "Gamma",
    "GasCylinders",
    "HeavyTailError",
    "InsuredLosses",
    "LabCategory",
    "LogNormal",
    "LogNormalGPD",
    "LossDistribution",
    "MarginalImpact",
    "Metric",
    "NaturalHazards",
    "NegativeBinomial",
    "OptionQuote",
    "Pareto",
    "Poisson",
    "PolicyTerms",
    "Portfolio",
    "PortfolioResult",
    "Premium",
    "ProfileError",
    "Protections",
    "Provenance",
    "Quote",
    "QuoteRequest",
    "RatingStep",
    "RatingTableError",
    "RatingTables",
    "Reason",
    "RiskProfile",
    "Scenario",
    "Section",
    "SectionImpact",
    "SectionTerms",
    "SensitivityPoint",
    "SharedOccurrence",
    "SimulationLimitError",
    "SimulationResult",
    "StressResult",
    "Submission",
    "TermsError",
    "UnderwritingError",
    "UnderwritingWarning",
    "Values",
    "WorksheetRow",
    "YearLossTable",
    "__version__",
    "apply_terms",
    "available_versions",
    "decide",
    "load_rating_tables",
    "marginal_impact",
    "price",
    "provenance_from_dict",
    "quote",
    "quote_request",
    "rate_experience",
    "replay",
    "sensitivity",
    "simulate",
    "simulate_many",
    "simulate_portfolio",
    "stress",
    "warm_up",
]
