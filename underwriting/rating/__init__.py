"""Rating: from a submission and the rating tables to a risk profile, its experience and a decision.

``_load`` reads a version of the rating tables, each file against its schema (``_schemas``; the
rules' grammar in ``_rules``), and runs every cross-table check in one place (``_checks``);
``_factors`` reads the rating factors' levels off a submission, ``_profile`` holds the risk
profile (scenarios, impacts, cascades) and rates a submission into one, ``_experience`` weighs
the lab's own claims into the scenario rates, and ``_decision`` applies the underwriting rules
(``_rules``) to a quote's facts; ``_rules`` also says which subjectivities and conditions of the
tables apply to a quote (``RulesTable.conditions_for``). ``_flatten`` turns nested data (a
submission, a table) into dotted names and scalars, for the decision's facts and for ``_diff``,
which lists every number that changed between two versions of the tables.
"""

from underwriting.rating._decision import Decision, Fact, Reason, decide
from underwriting.rating._diff import TableChange, compare_tables, table_numbers
from underwriting.rating._experience import (
    ExperienceRating,
    ScenarioExperience,
    rate_experience,
    rate_with_experience,
)
from underwriting.rating._factors import EXPOSURES, FACTORS
from underwriting.rating._flatten import Flat, flatten
from underwriting.rating._load import (
    RatingTables,
    available_versions,
    load_rating_tables,
    rating_tables_at,
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
from underwriting.rating._rules import (
    Leaf,
    OfferBand,
    PolicyCondition,
    Rule,
    RulesTable,
    Scalar,
    ScheduleCreditReason,
    known_facts,
    submission_facts,
)
from underwriting.rating._schemas import (
    ExperienceSettings,
    PrecisionSettings,
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
    "Flat",
    "Leaf",
    "OfferBand",
    "PolicyCondition",
    "PrecisionSettings",
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
    "ScenarioExperience",
    "ScheduleCreditReason",
    "SectionImpact",
    "SharedOccurrence",
    "TableChange",
    "available_versions",
    "compare_tables",
    "decide",
    "flatten",
    "known_facts",
    "load_rating_tables",
    "rate_experience",
    "rate_with_experience",
    "rating_tables_at",
    "submission_facts",
    "table_numbers",
    "write_manifest_hashes",
]
