"""Laboratory all-risk underwriting engine.

The pipeline, one module per stage (imports flow downward only)::

    Submission ──> RiskProfile.from_submission(tables) ──> simulate(terms) ──> SimulationResult
    (submission)   (profile, tables, factors)              (simulation,        (results)
                                                            randomness, terms)

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

from underwriting.distributions import (
    Gamma,
    LogNormal,
    LogNormalGPD,
    NegativeBinomial,
    Pareto,
    Poisson,
)
from underwriting.errors import ProfileError, RatingTableError, TermsError, UnderwritingError
from underwriting.profile import Cascade, RatingStep, RiskProfile, Scenario, SectionImpact
from underwriting.request import QuoteRequest
from underwriting.results import (
    Contribution,
    EPPoint,
    EventLosses,
    Metric,
    SimulationResult,
    YearLossTable,
)
from underwriting.sections import SECTIONS, Section
from underwriting.simulation import simulate
from underwriting.submission import Submission
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
    "Contribution",
    "EPPoint",
    "EventLossTable",
    "EventLosses",
    "Gamma",
    "InsuredLosses",
    "LogNormal",
    "LogNormalGPD",
    "Metric",
    "NegativeBinomial",
    "Pareto",
    "Poisson",
    "PolicyTerms",
    "ProfileError",
    "QuoteRequest",
    "RatingStep",
    "RatingTableError",
    "RatingTables",
    "RiskProfile",
    "Scenario",
    "Section",
    "SectionImpact",
    "SectionTerms",
    "SimulationResult",
    "Submission",
    "TermsError",
    "UnderwritingError",
    "YearLossTable",
    "__version__",
    "apply_terms",
    "available_versions",
    "load_rating_tables",
    "simulate",
]
