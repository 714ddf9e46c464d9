"""The cross-table checks of a version of the rating tables, all in one place.

Each file's rows are checked by their own schema as they are read (``_schemas``, ``_rules``);
:func:`cross_check` then checks what no single row can: that scenario ids are unique and every
reference to one resolves (cascades, base rates, relativities, experience), that every scenario
has a base rate for every lab category, that the relativities of a factor cover its levels or
bands exactly once, that the rules' codes, authorities, facts and plausibility quantities are
known and unique, and that each subjectivity or condition has a unique id, names only the
submission's facts and refers to referral rules of the table. The first fault found raises a
``RatingTableError`` naming its file, row and field.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from underwriting.errors import RatingTableError
from underwriting.model import LabCategory
from underwriting.rating._factors import FACTORS
from underwriting.rating._rules import (
    DERIVED_FACTS,
    SUBMISSION_FACTS,
    RulesTable,
    known_facts,
    leaves,
)
from underwriting.rating._schemas import (
    BaseFrequencyRow,
    PricingTables,
    RelativityRow,
    ScenariosFile,
)


@dataclass(frozen=True)
class CrossChecked:
    """What the cross-checks index on the way: the base rates and the relativity groups."""

    base_rates: Mapping[tuple[str, LabCategory], tuple[float, str]]
    """``(scenario id, lab category) -> (rate, source)``."""
    relativity_groups: Mapping[tuple[str, str, str], tuple[RelativityRow, ...]]
    """``(factor, scenario or '*', applies_to) -> rows``, in file order."""


def cross_check(
    *,
    scenarios: ScenariosFile,
    base_rows: list[BaseFrequencyRow],
    relativities: tuple[RelativityRow, ...],
    pricing: PricingTables,
    rules: RulesTable,
    version: str,
) -> CrossChecked:
    """Run every cross-table check of a version whose files each parsed, in file order.

    Raises
    ------
    RatingTableError
        At the first fault, naming its file, row and field.
    """
    scenario_ids = [s.id for s in scenarios.scenarios]
    known = _check_scenarios(scenarios, scenario_ids, version)
    base_rates = _check_base_rates(base_rows, known, scenario_ids, version)
    groups = _check_groups(relativities, known, version)
    for name in pricing.experience.scenarios:
        if name not in known:
            raise RatingTableError(
                f"experience scenario {name!r} is not in scenarios.toml",
                file="pricing.toml",
                field="experience.scenarios",
                version=version,
            )
    _check_rules(rules, version)
    return CrossChecked(base_rates=base_rates, relativity_groups=groups)


def _check_scenarios(scenarios: ScenariosFile, scenario_ids: list[str], version: str) -> set[str]:
    duplicates = sorted({s for s in scenario_ids if scenario_ids.count(s) > 1})
    if duplicates:
        raise RatingTableError(
            f"scenario id(s) {', '.join(duplicates)} defined more than once",
            file="scenarios.toml",
            field="id",
            version=version,
        )
    known = set(scenario_ids)
    parents = {c.parent for c in scenarios.cascades}
    for number, cascade in enumerate(scenarios.cascades, start=1):
        for role in ("parent", "child"):
            if getattr(cascade, role) not in known:
                raise RatingTableError(
                    f"{role} {getattr(cascade, role)!r} is not a scenario id",
                    file="scenarios.toml",
                    row=number,
                    field=f"cascades.{role}",
                    version=version,
                )
        if cascade.child in parents or cascade.child == cascade.parent:
            raise RatingTableError(
                f"child {cascade.child!r} is itself a parent; cascades are one level deep",
                file="scenarios.toml",
                row=number,
                field="cascades.child",
                version=version,
            )
    return known


def _check_base_rates(
    base_rows: list[BaseFrequencyRow], known: set[str], scenario_ids: list[str], version: str
) -> dict[tuple[str, LabCategory], tuple[float, str]]:
    base_rates: dict[tuple[str, LabCategory], tuple[float, str]] = {}
    for number, row in enumerate(base_rows, start=1):
        if row.scenario not in known:
            raise RatingTableError(
                f"scenario {row.scenario!r} is not in scenarios.toml",
                file="base_frequencies.csv",
                row=number,
                field="scenario",
                version=version,
            )
        key = (row.scenario, row.lab_category)
        if key in base_rates:
            raise RatingTableError(
                f"{row.scenario} / {row.lab_category.value} appears twice",
                file="base_frequencies.csv",
                row=number,
                field="lab_category",
                version=version,
            )
        base_rates[key] = (row.rate, row.source)
    for scenario_id in scenario_ids:
        for category in LabCategory:
            if (scenario_id, category) not in base_rates:
                raise RatingTableError(
                    f"no base rate for scenario {scenario_id!r} and lab category "
                    f"{category.value!r}; every scenario needs a row for every category",
                    file="base_frequencies.csv",
                    field="rate",
                    version=version,
                )
    return base_rates


def _check_rules(rules: RulesTable, version: str) -> None:
    quantities: set[str] = set()
    for number, bound in enumerate(rules.plausibility, start=1):
        if bound.quantity in quantities:
            raise RatingTableError(
                f"plausibility quantity {bound.quantity} appears twice; give one bound each",
                file="rules.toml",
                row=number,
                field="plausibility.quantity",
                version=version,
            )
        quantities.add(bound.quantity)
    facts = known_facts()
    seen: set[str] = set()
    for number, rule in enumerate(rules.rules, start=1):
        if rule.code in seen:
            raise RatingTableError(
                f"rule code {rule.code} appears twice; codes must be unique",
                file="rules.toml",
                row=number,
                field="code",
                version=version,
            )
        seen.add(rule.code)
        if rule.authority is not None and rule.authority not in rules.authority_levels:
            raise RatingTableError(
                f"rule {rule.code}: authority {rule.authority!r} is not one of "
                f"{', '.join(rules.authority_levels)}",
                file="rules.toml",
                row=number,
                field="authority",
                version=version,
            )
        named = [("when.fact", leaf.fact) for leaf in rule.leaves()]
        named += [("show", fact) for fact in rule.show]
        for field_name, name in named:
            if name not in facts:
                raise RatingTableError(
                    f"rule {rule.code}: unknown fact {name!r}; facts are the submission's fields "
                    f"and {', '.join(sorted(DERIVED_FACTS))}",
                    file="rules.toml",
                    row=number,
                    field=field_name,
                    version=version,
                )
    _check_conditions(rules, version)


def _check_conditions(rules: RulesTable, version: str) -> None:
    referrals = {rule.code for rule in rules.rules if rule.outcome == "refer"}
    ids: set[str] = set()
    for number, condition in enumerate(rules.conditions, start=1):

        def fault(message: str, field: str, number: int = number) -> RatingTableError:
            return RatingTableError(
                message, file="rules.toml", row=number, field=field, version=version
            )

        if condition.id in ids:
            raise fault(
                f"condition id {condition.id} appears twice; ids must be unique", "conditions.id"
            )
        ids.add(condition.id)
        for leaf in leaves(condition.when) if condition.when is not None else []:
            if leaf.fact not in SUBMISSION_FACTS:
                raise fault(
                    f"condition {condition.id}: fact {leaf.fact!r} is not one of the "
                    "submission's own facts (its fields, submission.values.total_insured_value, "
                    "submission.values.property_value, submission.cryogenic_magnets)",
                    "conditions.when.fact",
                )
        for code in condition.referred_by:
            if code not in referrals:
                raise fault(
                    f"condition {condition.id}: referred_by {code!r} is not a refer rule of "
                    f"this table ({', '.join(sorted(referrals))})",
                    "conditions.referred_by",
                )


def _check_groups(
    rows: tuple[RelativityRow, ...], scenario_ids: set[str], version: str
) -> dict[tuple[str, str, str], tuple[RelativityRow, ...]]:
    file = "relativities.csv"
    groups: dict[tuple[str, str, str], list[tuple[int, RelativityRow]]] = {}
    for number, row in enumerate(rows, start=1):
        if row.scenario != "*" and row.scenario not in scenario_ids:
            raise RatingTableError(
                f"scenario {row.scenario!r} is not in scenarios.toml (nor '*')",
                file=file,
                row=number,
                field="scenario",
                version=version,
            )
        groups.setdefault((row.factor, row.scenario, row.applies_to), []).append((number, row))
    wildcard = {(f, a) for (f, s, a) in groups if s == "*"}
    for (factor_name, scenario, applies_to), members in groups.items():
        first_row = members[0][0]
        if scenario != "*" and (factor_name, applies_to) in wildcard:
            raise RatingTableError(
                f"{factor_name} ({applies_to}) has rows for '*' and for {scenario!r}; use one",
                file=file,
                row=first_row,
                field="scenario",
                version=version,
            )
        sections = {row.section for _, row in members}
        if None in sections and len(sections) > 1:
            raise RatingTableError(
                f"{factor_name} for {scenario} ({applies_to}) gives a section on some rows and "
                "not on others; give it on all or none",
                file=file,
                row=first_row,
                field="section",
                version=version,
            )
        for section in sorted(sections, key=lambda s: "" if s is None else s.value):
            _check_levels(
                [(n, row) for n, row in members if row.section is section],
                factor_name,
                scenario if section is None else f"{scenario} / {section.value}",
                applies_to,
                version,
            )
    return {key: tuple(row for _, row in members) for key, members in groups.items()}


def _check_levels(
    members: list[tuple[int, RelativityRow]],
    factor_name: str,
    scenario: str,
    applies_to: str,
    version: str,
) -> None:
    """A factor's rows for one scenario (and section) cover its levels or bands exactly once."""
    file = "relativities.csv"
    first_row = members[0][0]
    factor = FACTORS[factor_name]
    if factor.kind == "categorical":
        levels = [row.level for _, row in members]
        for number, row in members:
            if levels.count(row.level) > 1:
                raise RatingTableError(
                    f"level {row.level!r} of {factor_name} appears twice for {scenario} "
                    f"({applies_to})",
                    file=file,
                    row=number,
                    field="level",
                    version=version,
                )
        missing = [level for level in factor.levels if level not in levels]
        if missing:
            raise RatingTableError(
                f"{factor_name} for {scenario} ({applies_to}) has no row for level(s) "
                f"{', '.join(missing)}; every level needs one",
                file=file,
                row=first_row,
                field="level",
                version=version,
            )
    else:
        ordered = sorted(members, key=lambda item: item[1].lower or 0.0)
        for (_, row), (next_number, following) in itertools.pairwise(ordered):
            if row.upper is None or row.upper != following.lower:
                raise RatingTableError(
                    f"bands of {factor_name} for {scenario} ({applies_to}) are not "
                    f"contiguous: [{row.lower}, {row.upper}) then [{following.lower}, ...)",
                    file=file,
                    row=next_number,
                    field="lower",
                    version=version,
                )
        last_number, last = ordered[-1]
        if last.upper is not None:
            raise RatingTableError(
                f"the last band of {factor_name} for {scenario} ({applies_to}) must be "
                "open (empty upper)",
                file=file,
                row=last_number,
                field="upper",
                version=version,
            )
