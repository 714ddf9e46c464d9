"""Laboratory all-risk underwriting engine.

The pipeline, one sub-package per stage (imports flow downward only, tests/test_architecture.py)::

    Submission ──> RiskProfile.from_submission(tables) ──> simulate(terms) ──> SimulationResult
    (model)        (rating: tables, factors, profile)      (engine, terms)     (results)
    ──> rate_experience ──> price ──> decide ──> Quote        (rating, pricing, rating,
                                                               quote: composes every stage)

``request`` (what a quote is asked for), ``quote``, ``portfolio`` and ``analysis`` compose the
stages; ``report`` draws their figures and is imported only lazily, by their ``plot_*()``
methods. ``workflow`` follows a quote after pricing (record, offer, referral, approval, binding,
revisions); its actions are ``uw.workflow.*``.

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

from underwriting.analysis import (
    RepricedLab,
    Repricing,
    SensitivityPoint,
    StressResult,
    reprice,
    sensitivity,
    simulate_request,
    stress,
)
from underwriting.engine import simulate, simulate_many, warm_up
from underwriting.errors import (
    AuthorityError,
    HeavyTailError,
    OfferError,
    ProfileError,
    QuoteExpiredError,
    RatingTableError,
    RevisionError,
    SimulationLimitError,
    TermsError,
    TransitionError,
    UnderwritingError,
    UnderwritingWarning,
    WorkflowError,
)
from underwriting.model import (
    SECTIONS,
    ChemicalInventory,
    Claim,
    ClaimsHistory,
    ColdStorage,
    EquipmentItem,
    Fixed,
    Gamma,
    GasCylinders,
    LabCategory,
    LogNormal,
    LogNormalGPD,
    NaturalHazards,
    NegativeBinomial,
    Pareto,
    Poisson,
    Protections,
    Section,
    Submission,
    Values,
)
from underwriting.portfolio import (
    MarginalImpact,
    Portfolio,
    PortfolioResult,
    marginal_impact,
    simulate_portfolio,
)
from underwriting.pricing import Premium, WorksheetRow, price
from underwriting.quote import (
    OptionQuote,
    Provenance,
    Quote,
    provenance_from_dict,
    quote,
    quote_request,
    replay,
)
from underwriting.rating import (
    Cascade,
    Decision,
    ExperienceRating,
    RatingStep,
    RatingTables,
    Reason,
    RiskProfile,
    Scenario,
    SectionImpact,
    SharedOccurrence,
    TableChange,
    available_versions,
    compare_tables,
    decide,
    load_rating_tables,
    rate_experience,
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
from underwriting.terms import (
    EventLossTable,
    InsuredLosses,
    PolicyTerms,
    SectionTerms,
    apply_terms,
)
from underwriting.workflow import (
    Action,
    Actor,
    QuoteRecord,
    Revision,
    Status,
    price_revision,
    record_from_dict,
    record_quote,
    revise,
)

__version__ = "0.1.0"

__all__ = [
    "SECTIONS",
    "Action",
    "Actor",
    "AuthorityError",
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
    "OfferError",
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
    "QuoteExpiredError",
    "QuoteRecord",
    "QuoteRequest",
    "RatingStep",
    "RatingTableError",
    "RatingTables",
    "Reason",
    "RepricedLab",
    "Repricing",
    "Revision",
    "RevisionError",
    "RiskProfile",
    "Scenario",
    "Section",
    "SectionImpact",
    "SectionTerms",
    "SensitivityPoint",
    "SharedOccurrence",
    "SimulationLimitError",
    "SimulationResult",
    "Status",
    "StressResult",
    "Submission",
    "TableChange",
    "TermsError",
    "TransitionError",
    "UnderwritingError",
    "UnderwritingWarning",
    "Values",
    "WorkflowError",
    "WorksheetRow",
    "YearLossTable",
    "__version__",
    "apply_terms",
    "available_versions",
    "compare_tables",
    "decide",
    "load_rating_tables",
    "marginal_impact",
    "price",
    "price_revision",
    "provenance_from_dict",
    "quote",
    "quote_request",
    "rate_experience",
    "record_from_dict",
    "record_quote",
    "replay",
    "reprice",
    "revise",
    "sensitivity",
    "simulate",
    "simulate_many",
    "simulate_portfolio",
    "simulate_request",
    "stress",
    "warm_up",
]
