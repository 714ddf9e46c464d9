"""The underwriting rules' grammar: ``rules.toml`` as conditions over named facts.

A :class:`Rule` declines or refers when its condition holds; a condition is a :class:`Leaf`
(one fact compared with a value), an :class:`AllOf` or an :class:`AnyOf` of conditions. The facts
a rule may name are the submission's scalar fields and :data:`DERIVED_FACTS`
(:func:`known_facts`); :func:`holds` evaluates a condition on facts. ``rules.toml`` also holds
the plausibility bounds of a submission's exposures (:class:`PlausibilityBound`) and, optionally,
the subjectivities and conditions a quote states to the client (:class:`PolicyCondition`), each
with when it applies. ``_decision`` evaluates the rules against a quote's facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Discriminator, Field, PositiveFloat, Tag, model_validator

from underwriting.model import Section, Submission
from underwriting.rating._flatten import Flat, flatten
from underwriting.rating._schemas import TableModel

Comparison = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"]
Scalar = bool | int | float | str


class Leaf(TableModel):
    """Compare one fact with a value."""

    fact: str = Field(pattern=r"^(submission|metrics|premium|experience)(\.[a-z_0-9]+)+$")
    op: Comparison
    value: Scalar | tuple[Scalar, ...]

    @model_validator(mode="after")
    def _value_fits_op(self) -> Self:
        if (self.op in ("in", "not_in")) != isinstance(self.value, tuple):
            wanted = "a list" if self.op in ("in", "not_in") else "a single value"
            raise ValueError(f"op {self.op!r} needs {wanted}")
        return self


class AllOf(TableModel):
    all: tuple[Condition, ...] = Field(min_length=1)


class AnyOf(TableModel):
    any: tuple[Condition, ...] = Field(min_length=1)


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("fact", "all", "any"):
            if key in value:
                return key
        return None
    if isinstance(value, Leaf):
        return "fact"
    if isinstance(value, AllOf):
        return "all"
    return "any" if isinstance(value, AnyOf) else None


Condition = Annotated[
    Annotated[Leaf, Tag("fact")] | Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message="a condition has 'fact' (with op and value), 'all' or 'any'",
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()


def _compare(actual: Flat, op: str, expected: Scalar | tuple[Scalar, ...]) -> bool:
    if actual is None:
        return False  # a missing fact satisfies no comparison: rules fire on evidence only
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op in ("in", "not_in"):
        assert isinstance(expected, tuple)
        return (actual in expected) == (op == "in")
    if isinstance(actual, str | bool) or isinstance(expected, str | bool | tuple):
        return False  # order comparisons are for numbers only
    if op == "gt":
        return actual > expected
    if op == "ge":
        return actual >= expected
    if op == "lt":
        return actual < expected
    return actual <= expected


def holds(node: Condition, facts: Mapping[str, Flat]) -> bool:
    """Whether a condition holds on the facts (a missing fact satisfies no comparison)."""
    if isinstance(node, Leaf):
        return _compare(facts.get(node.fact), node.op, node.value)
    if isinstance(node, AllOf):
        return all(holds(child, facts) for child in node.all)
    assert isinstance(node, AnyOf)
    return any(holds(child, facts) for child in node.any)


def leaves(node: Condition) -> list[Leaf]:
    """Every comparison of a condition, depth first."""
    found: list[Leaf] = []
    pending: list[Condition] = [node]
    while pending:
        first = pending.pop(0)
        if isinstance(first, Leaf):
            found.append(first)
        elif isinstance(first, AllOf):
            pending[:0] = list(first.all)
        else:
            pending[:0] = list(first.any)
    return found


class Rule(TableModel):
    """One underwriting rule: when it fires, the quote is declined or referred with a reason."""

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    outcome: Literal["decline", "refer"]
    authority: str | None = None
    message: str = Field(min_length=1)
    when: Condition
    show: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _authority_for_referrals(self) -> Self:
        if (self.outcome == "refer") != (self.authority is not None):
            raise ValueError("a refer rule needs an authority, and only a refer rule has one")
        return self

    def leaves(self) -> list[Leaf]:
        """Every comparison of the rule, depth first."""
        return leaves(self.when)


DERIVED_FACTS = frozenset(
    {
        "submission.implausible_fields",
        "submission.values.total_insured_value",
        "submission.values.property_value",
        "submission.cryogenic_magnets",
        "metrics.expected_loss",
        "metrics.var_995",
        "metrics.tvar_99",
        "metrics.pml_250",
        "metrics.probability_of_claim",
        "metrics.probability_aggregate_exhausted",
        "premium.technical",
        "premium.minimum",
        "premium.technical_to_minimum",
        "premium.total",
        "experience.years_observed",
        "experience.claims_count",
        "experience.expected_claims",
        "experience.actual_to_expected",
        "experience.credibility",
        "experience.largest_recent_claim",
    }
)
"""Facts a rule may use besides the submission's own scalar fields."""


def _scalar_fields(model: type[BaseModel], prefix: str) -> set[str]:
    found = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= _scalar_fields(annotation, f"{prefix}.{name}")
        elif "tuple" not in str(annotation):
            found.add(f"{prefix}.{name}")
    return found


def known_facts() -> frozenset[str]:
    """Every fact name a rule may compare or show."""
    return frozenset(_scalar_fields(Submission, "submission")) | DERIVED_FACTS


def submission_facts(submission: Submission) -> dict[str, Flat]:
    """The facts a submission states by itself: its scalar fields and the totals it implies.

    Leaves out ``submission.implausible_fields``, which needs the plausibility bounds (the quote
    adds it).
    """
    facts = flatten(submission.model_dump(mode="json"), "submission", lists="drop")
    facts["submission.values.total_insured_value"] = submission.values.total_insured_value
    facts["submission.values.property_value"] = submission.values.property_value
    facts["submission.cryogenic_magnets"] = submission.cryogenic_magnets
    return facts


SUBMISSION_FACTS = frozenset(
    name
    for name in known_facts()
    if name.startswith("submission.") and name != "submission.implausible_fields"
)
"""The facts :func:`submission_facts` gives: what a condition's ``when`` may name."""


def _gas_cylinders(submission: Submission) -> float:
    cylinders = submission.chemicals.gas_cylinders
    return float(cylinders.flammable + cylinders.toxic + cylinders.oxidising + cylinders.inert)


PLAUSIBILITY_QUANTITIES: Mapping[str, Callable[[Submission], float]] = {
    "chemicals.flammable_liquids_litres": lambda s: s.chemicals.flammable_liquids_litres,
    "chemicals.gas_cylinders": _gas_cylinders,
    "cold_storage.ultra_low_freezers": lambda s: float(s.cold_storage.ultra_low_freezers),
    "cold_storage.ln2_dewars": lambda s: float(s.cold_storage.ln2_dewars),
    "values.total_insured_value": lambda s: s.values.total_insured_value,
    "headcount": lambda s: float(s.headcount),
}
"""The exposures a plausibility bound may name (paths under ``submission``), each measured from a
submission; ``chemicals.gas_cylinders`` counts cylinders of every class."""


class PlausibilityBound(TableModel):
    """The most of one exposure a laboratory can plausibly hold per m² of its area.

    A submission above it is priced as given, with an ``IMPLAUSIBLE_EXPOSURE`` warning, and the
    fact ``submission.implausible_fields`` counts it (a rule may refer on it).
    """

    quantity: str
    unit: str = Field(min_length=1, max_length=40, description="what is counted, e.g. litres")
    max_per_m2: PositiveFloat = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _known_quantity(self) -> Self:
        if self.quantity not in PLAUSIBILITY_QUANTITIES:
            allowed = ", ".join(PLAUSIBILITY_QUANTITIES)
            raise ValueError(f"quantity {self.quantity!r} is not one of {allowed}")
        return self

    def measure(self, submission: Submission) -> float:
        """The submission's amount of this exposure (not per m²)."""
        return PLAUSIBILITY_QUANTITIES[self.quantity](submission)


class PolicyCondition(TableModel):
    """A subjectivity (to be met before cover starts) or a condition of cover, stated to the client.

    It applies to a quote when ``always`` is true, or else when every criterion given holds: the
    terms cover one of ``sections``; the submission meets ``when`` (its own facts only,
    :data:`SUBMISSION_FACTS`); one of the rules in ``referred_by`` referred the quote. A condition
    gives ``always`` or at least one criterion, never both.
    """

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    kind: Literal["subjectivity", "condition"]
    text: str = Field(min_length=1, max_length=1000)
    always: bool = False
    sections: tuple[Section, ...] = ()
    when: Condition | None = None
    referred_by: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _always_or_criteria(self) -> Self:
        criteria = bool(self.sections) or self.when is not None or bool(self.referred_by)
        if self.always == criteria:
            raise ValueError(
                "give always = true, or one or more of sections, when and referred_by (not both)"
            )
        return self

    def applies(
        self, facts: Mapping[str, Flat], sections: Iterable[str], referred_by: Iterable[str]
    ) -> bool:
        """Whether it applies to a quote with these submission facts, covered sections and
        referring rules."""
        if self.always:
            return True
        covered = set(sections)
        fired = set(referred_by)
        return (
            (not self.sections or any(section.value in covered for section in self.sections))
            and (self.when is None or holds(self.when, facts))
            and (not self.referred_by or any(code in fired for code in self.referred_by))
        )


class RulesTable(TableModel):
    """The whole of ``rules.toml``."""

    authority_levels: tuple[str, ...] = Field(min_length=1)
    rules: tuple[Rule, ...]
    plausibility: tuple[PlausibilityBound, ...] = ()
    conditions: tuple[PolicyCondition, ...] = ()

    def conditions_for(
        self, submission: Submission, *, sections: Iterable[str], referred_by: Iterable[str]
    ) -> tuple[PolicyCondition, ...]:
        """The subjectivities and conditions that apply to a quote, in table order.

        Parameters
        ----------
        submission
            The lab quoted.
        sections
            The sections its terms cover (names, e.g. ``"spoilage"``).
        referred_by
            The codes of the rules that referred it (none for a quote within authority).

        Example
        -------
        >>> import json, pathlib
        >>> from underwriting.model import Submission
        >>> from underwriting.rating import load_rating_tables
        >>> request = json.loads(pathlib.Path("examples/physics_low_hazard.json").read_text())
        >>> lab = Submission.model_validate(request["submission"])  # inert gas cylinders only
        >>> rules = load_rating_tables("2026.3").rules
        >>> [c.id for c in rules.conditions_for(lab, sections=["property"], referred_by=[])]
        ['S01_SIGNED_SUBMISSION', 'C02_GAS_CYLINDERS_SECURED']
        >>> load_rating_tables("2026.2").rules.conditions  # released tables define none
        ()
        """
        facts = submission_facts(submission)
        covered, fired = tuple(sections), tuple(referred_by)
        return tuple(c for c in self.conditions if c.applies(facts, covered, fired))

    schedule_credits: tuple[ScheduleCreditReason, ...] = ()
    """The reasons an underwriter may cite to move the offered premium off the technical one."""
    offer_bands: tuple[OfferBand, ...] = ()
    """How far each authority may move the offered premium in total; none: offers only at the
    technical premium."""

    @model_validator(mode="after")
    def _offers_fit_the_authorities(self) -> Self:
        ids = [reason.id for reason in self.schedule_credits]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"schedule_credits: ids {', '.join(repeated)} appear more than once")
        if bool(self.schedule_credits) != bool(self.offer_bands):
            raise ValueError("schedule_credits and offer_bands come together: give both or neither")
        levels = self.authority_levels
        named = [band.authority for band in self.offer_bands]
        for authority in named:
            if authority not in levels:
                raise ValueError(
                    f"offer_bands: authority {authority!r} is not one of the authority_levels "
                    f"({', '.join(levels)})"
                )
        if self.offer_bands and sorted(named, key=levels.index) != list(levels):
            raise ValueError(
                f"offer_bands: one band for each authority level, in order ({', '.join(levels)}); "
                f"got {', '.join(named)}"
            )
        for lower, upper in zip(self.offer_bands, self.offer_bands[1:], strict=False):
            if (
                upper.min_total_adjustment > lower.min_total_adjustment
                or upper.max_total_adjustment < lower.max_total_adjustment
            ):
                raise ValueError(
                    f"offer_bands: {upper.authority}'s band must contain {lower.authority}'s: "
                    "a higher authority may approve at least what a lower one may"
                )
        return self


class ScheduleCreditReason(TableModel):
    """A reason to move the offered premium off the technical premium (a schedule credit when
    negative, a debit when positive), as a fraction of the technical premium, within
    ``[min_adjustment, max_adjustment]``."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1, max_length=120)
    min_adjustment: float = Field(gt=-1, le=1, allow_inf_nan=False)
    max_adjustment: float = Field(ge=-1, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_adjustment > self.max_adjustment:
            raise ValueError(
                f"{self.id}: min_adjustment {self.min_adjustment} is above max_adjustment "
                f"{self.max_adjustment}"
            )
        return self


class OfferBand(TableModel):
    """How far one authority may move the offered premium: the sum of the schedule credits and
    debits must lie within ``[min_total_adjustment, max_total_adjustment]``."""

    authority: str
    min_total_adjustment: float = Field(gt=-1, le=0, allow_inf_nan=False)
    max_total_adjustment: float = Field(ge=0, le=10, allow_inf_nan=False)

    def contains(self, adjustment: float) -> bool:
        """Whether a total adjustment lies within the band (a hair of rounding allowed)."""
        tolerance = 1e-9
        return (
            self.min_total_adjustment - tolerance
            <= adjustment
            <= self.max_total_adjustment + tolerance
        )


RulesTable.model_rebuild()
