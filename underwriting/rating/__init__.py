"""Rating: from a submission and the rating tables to a risk profile, its experience and a decision.

``_load`` reads a version of the rating tables, each file against its schema (``_schemas``; the
rules' grammar in ``_rules``), and runs every cross-table check in one place (``_checks``);
``_factors`` reads the rating factors' levels off a submission, ``_profile`` holds the risk
profile (scenarios, impacts, cascades) and rates a submission into one, ``_experience`` weighs
the lab's own claims into the scenario rates, and ``_decision`` applies the underwriting rules
(``_rules``) to a quote's facts.
"""

from underwriting.rating._decision import Decision, Fact, Reason, decide
from underwriting.rating._experience import (
    ExperienceRating,
    rate_experience,
    rate_with_experience,
)
from underwriting.rating._factors import EXPOSURES, FACTORS
from underwriting.rating._load import (
    RatingTables,
    available_versions,
    load_rating_tables,
    write_manifest_hashes,
)
from underwriting.rating._profile import (
    MAX_CASCADES,
    Cascade,
    RatingStep,
    RiskProfile,
    Scenario,
    SectionImpact,
    SharedOccurrence,
)
from underwriting.rating._rules import Leaf, Rule, RulesTable, Scalar, known_facts
from underwriting.rating._schemas import (
    ExperienceSettings,
    PremiumSettings,
    RelativityRow,
    ScenarioDefinition,
)

__all__ = [
    "EXPOSURES",
    "FACTORS",
    "MAX_CASCADES",
    "Cascade",
    "Decision",
    "ExperienceRating",
    "ExperienceSettings",
    "Fact",
    "Leaf",
    "PremiumSettings",
    "RatingStep",
    "RatingTables",
    "Reason",
    "RelativityRow",
    "RiskProfile",
    "Rule",
    "RulesTable",
    "Scalar",
    "Scenario",
    "ScenarioDefinition",
    "SectionImpact",
    "SharedOccurrence",
    "available_versions",
    "decide",
    "known_facts",
    "load_rating_tables",
    "rate_experience",
    "rate_with_experience",
    "write_manifest_hashes",
]
