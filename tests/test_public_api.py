"""The public API, pinned: names users write in notebooks must not move."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import underwriting as uw

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

PINNED = {
    "load_rating_tables",
    "QuoteRequest",
    "RiskProfile",
    "simulate",
    "Scenario",
    "Poisson",
    "LogNormal",
    "PolicyTerms",
    "SectionTerms",
    "Submission",
    "NegativeBinomial",
    "Gamma",
    "Pareto",
    "LogNormalGPD",
    "apply_terms",
}


# The exact public API, ``uw.__all__`` in order: a name added, removed or moved shows here.
PUBLIC_API = [
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
    "CrossCheck",
    "Decision",
    "EPPoint",
    "EquipmentItem",
    "EventLossTable",
    "EventLosses",
    "ExactDistribution",
    "ExactMethodError",
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
    "exact",
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

# The stages (sub-packages and modules) that ``import underwriting`` makes attributes of ``uw``.
STAGES = {
    "analysis",
    "engine",
    "errors",
    "examples",
    "model",
    "portfolio",
    "pricing",
    "quote",
    "rating",
    "rating_tables",
    "report",
    "request",
    "results",
    "terms",
    "workflow",
}


def test_the_public_api_is_pinned() -> None:
    assert uw.__all__ == PUBLIC_API
    assert set(uw.__all__) >= PINNED


def test_exported_names_are_curated() -> None:
    assert sorted(uw.__all__) == sorted(set(uw.__all__))
    for name in uw.__all__:
        assert hasattr(uw, name), name
    public = {name for name in dir(uw) if not name.startswith("_")}
    assert public - STAGES <= set(uw.__all__), public - STAGES - set(uw.__all__)


def test_the_issue_example_runs_as_written() -> None:
    tables = uw.load_rating_tables()
    assert uw.load_rating_tables("2026.1").version == "2026.1"
    text = (EXAMPLES / "chemistry_high_hazard.json").read_text()
    request = uw.QuoteRequest.model_validate_json(text)
    profile = uw.RiskProfile.from_submission(request.submission, tables)
    result = uw.simulate(profile, request.terms, n_years=20_000, seed=42)
    assert isinstance(result.annual_loss, np.ndarray)
    assert result.annual_loss.shape == (20_000,)
    assert result.mean > 0
    assert result.std > 0
    assert result.var(0.995) >= result.var(0.99) > 0
    assert result.tvar(0.99) >= result.var(0.99)
    assert result.standard_error() > 0
    by_section = result.by_section()
    assert sum(c.mean_insured for c in by_section.values()) == np_approx(result.mean)
    by_scenario = result.by_scenario()
    assert sum(c.mean_insured for c in by_scenario.values()) == np_approx(result.mean)
    assert len(result.ep_curve()) == len(uw.results.RETURN_PERIODS)
    assert "VaR 99.5%" in result.summary()


def np_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, rel=1e-9)


def test_an_actuarys_own_assumptions_need_no_tables() -> None:
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="ref",
                frequency=uw.Poisson(rate=2.0),
                severity=uw.LogNormal(mu=10.0, sigma=1.5),
                section="property",
            )
        ]
    )
    terms = uw.PolicyTerms(
        sections={"property": uw.SectionTerms(deductible=10_000, limit=500_000)},
        aggregate_limit=1_000_000,
    )
    result = uw.simulate(profile, terms, n_years=10_000, seed=42)
    assert result.annual_loss.max() <= 1_000_000
    assert result.profile.tables_version is None


def test_quote_request_round_trips_through_json() -> None:
    text = (EXAMPLES / "bsl3_biobank.json").read_text()
    request = uw.QuoteRequest.model_validate_json(text)
    again = uw.QuoteRequest.model_validate_json(request.model_dump_json())
    assert again == request
    assert json.loads(request.model_dump_json())["submission"]["biosafety_level"] == 3
