"""The underwriting rules' grammar: ``rules.toml`` as conditions over named facts.

A :class:`Rule` declines or refers when its condition holds; a condition is a :class:`Leaf`
(one fact compared with a value), an :class:`AllOf` or an :class:`AnyOf` of conditions. The facts
a rule may name are the submission's scalar fields and :data:`DERIVED_FACTS`
(:func:`known_facts`). ``rules.toml`` also holds the plausibility bounds of a submission's
exposures (:class:`PlausibilityBound`). ``_decision`` evaluates the rules against a quote's facts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Discriminator, Field, PositiveFloat, Tag, model_validator

from underwriting.model import Submission
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
        found: list[Leaf] = []
        pending: list[Condition] = [self.when]
        while pending:
            node = pending.pop(0)
            if isinstance(node, Leaf):
                found.append(node)
            elif isinstance(node, AllOf):
                pending[:0] = list(node.all)
            else:
                pending[:0] = list(node.any)
        return found


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


class RulesTable(TableModel):
    """The whole of ``rules.toml``."""

    authority_levels: tuple[str, ...] = Field(min_length=1)
    rules: tuple[Rule, ...]
    plausibility: tuple[PlausibilityBound, ...] = ()
