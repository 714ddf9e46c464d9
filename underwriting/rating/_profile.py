"""The risk profile: the scenarios that can hurt one lab, with their frequencies and severities.

A :class:`RiskProfile` is what the simulation runs. An actuary can write one by hand
(``RiskProfile(scenarios=[Scenario(...)])``) or build it from a submission and the rating tables
(:meth:`RiskProfile.from_submission`), which records, for each scenario, how its rate and
severity scale were built (base rate, exposure, every relativity) so that a quote can show it.

Example
-------
>>> from underwriting.model import LogNormal, Poisson
>>> profile = RiskProfile(scenarios=[Scenario(id="ref", frequency=Poisson(rate=2.0),
...                       severity=LogNormal(mu=10.0, sigma=1.5), section="property")])
>>> profile.scenarios[0].impacts[0].section.value
'property'
"""

from __future__ import annotations

import math
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    model_validator,
)

from underwriting.errors import ProfileError
from underwriting.model import (
    Fixed,
    Frequency,
    NegativeBinomial,
    Poisson,
    Section,
    Severity,
    Submission,
)
from underwriting.rating._factors import EXPOSURES, FACTORS
from underwriting.rating._load import RatingTables
from underwriting.rating._schemas import ScenarioDefinition, factor_loading_key

Basis = Literal["amount", "damage_ratio", "downtime_days"]
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SectionImpact(_Model):
    """How an event of a scenario hits one section.

    The sampled severity ``X`` (times ``severity_scale``) becomes a ground-up loss by ``basis``:

    - ``amount``: ``min(X, value)`` in currency (``value`` optional, a cap);
    - ``damage_ratio``: ``value * min(X, 1)``, ``value`` being the value at risk;
    - ``downtime_days``: ``min(X, max_days)`` days of research interruption, at ``value``
      currency per day.

    ``probability`` is the chance that the section is hit at all given the event.
    ``factor_loading_squared`` is ``rho`` of the one-factor Gaussian copula that ties the
    event's impacts: the normal score behind the severity is ``sqrt(rho) Z + sqrt(1 - rho) e``,
    ``Z`` the event's common factor and ``e`` the impact's own, so two impacts' scores have
    correlation ``sqrt(rho_i rho_j)`` (1 and 1: the same percentile; 0: independent).
    ``correlation``, its former name, is accepted as input with the same meaning.
    """

    section: Section
    severity: Severity
    basis: Basis = "amount"
    value: float | None = Field(default=None, ge=0, le=1e17, allow_inf_nan=False)
    severity_scale: PositiveFloat = Field(default=1.0, le=1e6, allow_inf_nan=False)
    probability: float = Field(default=1.0, gt=0, le=1)
    factor_loading_squared: float = Field(default=1.0, ge=0, le=1)
    max_days: PositiveFloat | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _former_key(cls, data: Any) -> Any:
        return factor_loading_key(data, required=False)

    @model_validator(mode="after")
    def _basis_needs_value(self) -> Self:
        if self.basis in ("damage_ratio", "downtime_days") and self.value is None:
            raise ValueError(f"basis {self.basis!r} needs value (value at risk or daily cost)")
        if (self.basis == "downtime_days") != (self.section is Section.RESEARCH_INTERRUPTION):
            raise ValueError(
                "research_interruption impacts, and only they, use basis 'downtime_days'"
            )
        return self

    def capped(self, severity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The sampled severities (already times ``severity_scale``) as this impact counts them:
        currency for ``amount`` and ``damage_ratio``, days for ``downtime_days`` (times ``value``
        for their cost). Shape as ``severity``."""
        if self.basis == "damage_ratio":
            assert self.value is not None
            return self.value * np.minimum(severity, 1.0)
        if self.basis == "downtime_days":
            return severity if self.max_days is None else np.minimum(severity, self.max_days)
        return severity if self.value is None else np.minimum(severity, self.value)


class RatingStep(_Model):
    """One step of how a scenario's frequency or severity was rated (for the worksheet)."""

    name: str
    value: float
    explanation: str


class Scenario(_Model):
    """An event type: how often it happens and which sections it hits.

    The short form ``Scenario(id=..., frequency=..., severity=..., section=...)`` is a scenario
    hitting one section with an amount severity.
    """

    id: str = Field(pattern=_ID, max_length=64, description="stable id: keys the random stream")
    name: str = ""
    frequency: Frequency
    impacts: tuple[SectionImpact, ...] = ()
    rating: tuple[RatingStep, ...] = ()
    site_level: bool = Field(
        default=False, description="in a portfolio, one event hits every lab of the site"
    )
    stream: str | None = Field(
        default=None,
        max_length=200,
        description="stream id of this scenario's draws; the scenario id when None",
    )
    occurrence: SharedOccurrence | None = Field(
        default=None, description="events shared with other labs (set by portfolios)"
    )
    severity: Severity | None = Field(
        default=None, exclude=True, description="short form: the severity of a one-section scenario"
    )
    section: Section | None = Field(
        default=None, exclude=True, description="short form: the section of a one-section scenario"
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("severity" in data or "section" in data):
            data = dict(data)
            # null is the default: a short form field given as null is not given.
            severity, section = data.pop("severity", None), data.pop("section", None)
            if severity is None and section is None:
                return data
            if "impacts" in data:
                raise ValueError("give either severity and section, or impacts, not both")
            if severity is None or section is None:
                raise ValueError("the short form needs both severity and section")
            data["impacts"] = ({"section": section, "severity": severity},)
        return data

    @model_validator(mode="after")
    def _has_impacts(self) -> Self:
        if not self.impacts:
            raise ValueError(f"scenario {self.id}: give impacts, or severity and section")
        if (
            self.occurrence is not None
            and isinstance(self.frequency, Fixed)
            and self.occurrence.rate != self.frequency.count
        ):
            raise ValueError(
                f"scenario {self.id}: a fixed count of {self.frequency.count} events cannot share "
                f"occurrences at rate {self.occurrence.rate}; a shared occurrence needs a poisson "
                "or negative_binomial frequency, or a rate equal to the count"
            )
        if self.occurrence is not None and self.frequency.mean > self.occurrence.rate * (1 + 1e-12):
            raise ValueError(
                f"scenario {self.id}: its rate {self.frequency.mean} exceeds the shared "
                f"occurrence rate {self.occurrence.rate}"
            )
        return self

    @property
    def stream_id(self) -> str:
        """The id keying this scenario's own random numbers."""
        return self.stream or self.id

    @model_validator(mode="after")
    def _one_impact_per_section(self) -> Self:
        sections = [impact.section for impact in self.impacts]
        if len(set(sections)) != len(sections):
            raise ValueError(f"scenario {self.id}: each section may appear in only one impact")
        return self


class SharedOccurrence(_Model):
    """Events shared by several labs: a site-level fire or flood hits every lab of the site.

    The year's events and each event's common severity factor are drawn from ``stream``, at
    ``rate`` (the largest rate among the labs sharing it); a lab with a lower rate takes part in
    each shared event with probability ``its rate / rate``, so its own expected count is kept.
    """

    stream: str = Field(min_length=1, max_length=200)
    rate: float = Field(gt=0, allow_inf_nan=False)


MAX_CASCADES = 65
"""Most cascades a profile may have: each keys its child's draws by its number (dimensions
``1000 * (number + 1)`` and up, see ``underwriting.engine``), which must stay below 2**16."""


class Cascade(_Model):
    """An event of ``parent`` brings ``child``'s impacts into the same occurrence."""

    parent: str
    child: str
    probability: float = Field(gt=0, le=1)


class RiskProfile(_Model):
    """The scenarios of one lab (or of an actuary's model) and how they interact.

    Attributes
    ----------
    scenarios
        The scenarios; ids are unique and key the random streams.
    cascades
        Scenario pairs where the parent's event may bring the child's impacts (one level).
    value_at_risk
        Per section, the most one event can cost ground-up (sums of impacts are capped).
    currency
        The currency of its amounts: the tables' for a profile rated from a submission; ``None``
        (none stated) for an actuary's own profile unless given, its figures then plain amounts.
    """

    scenarios: tuple[Scenario, ...] = Field(min_length=1, max_length=1_000)
    cascades: tuple[Cascade, ...] = Field(default=(), max_length=MAX_CASCADES)
    value_at_risk: dict[Section, float] = Field(default_factory=dict)
    currency: str | None = None
    tables_version: str | None = None
    lab_id: str | None = None
    site_id: str | None = None

    @model_validator(mode="after")
    def _references(self) -> Self:
        ids = [s.id for s in self.scenarios]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"scenario ids must be unique: {', '.join(duplicates)} repeated")
        parents = {c.parent for c in self.cascades}
        for cascade in self.cascades:
            for name in (cascade.parent, cascade.child):
                if name not in ids:
                    raise ValueError(f"cascade refers to unknown scenario {name!r}")
            if cascade.child in parents:
                raise ValueError(f"cascade child {cascade.child!r} is itself a parent")
        for section, value in self.value_at_risk.items():
            if not value >= 0:
                raise ValueError(f"value_at_risk.{section.value} must be >= 0, got {value}")
        return self

    def scenario(self, scenario_id: str) -> Scenario:
        """The scenario with this id."""
        for scenario in self.scenarios:
            if scenario.id == scenario_id:
                return scenario
        raise KeyError(scenario_id)

    @classmethod
    def from_submission(cls, submission: Submission, tables: RatingTables) -> RiskProfile:
        """Rate a submission with the tables: every scenario's frequency and severity scale.

        rate = base rate (lab category) x exposure units x product of frequency relativities;
        severity scale = product of severity relativities. Damage ratios apply to the lab's
        values; research interruption runs at ``annual_research_spend / 365`` per day.

        Raises
        ------
        ProfileError
            If a factor level of the submission has no row in the tables.
        """
        values = submission.values
        daily_cost = values.annual_research_spend / 365.0
        max_days = tables.model.max_downtime_days
        section_values = {
            Section.PROPERTY: values.property_value,
            Section.EQUIPMENT_BREAKDOWN: values.equipment,
            Section.SPOILAGE: values.specimens,
        }
        scenarios = []
        for definition in tables.scenarios:
            base_rate, source = tables.base_rates[(definition.id, submission.lab_category)]
            units = EXPOSURES[definition.exposure](submission)
            steps = [
                RatingStep(
                    name="base_rate",
                    value=base_rate,
                    explanation=f"{submission.lab_category.value}, per {definition.exposure} "
                    f"per year ({source})",
                ),
                RatingStep(name="exposure", value=units, explanation=definition.exposure),
            ]
            rate = base_rate * units
            frequency_factor, frequency_steps = _relativity(
                submission, tables, definition, "frequency"
            )
            rate *= frequency_factor
            steps += frequency_steps
            severity_factors: dict[Section, float] = {}
            for impact in definition.impacts:
                factor, severity_steps = _relativity(
                    submission, tables, definition, "severity", impact.section
                )
                severity_factors[impact.section] = factor
                steps += [step for step in severity_steps if step not in steps]
            frequency: Poisson | NegativeBinomial = (
                NegativeBinomial(rate=rate, rate_cv=definition.rate_cv)
                if definition.rate_cv is not None
                else Poisson(rate=rate)
            )
            impacts = []
            for impact in definition.impacts:
                value: float | None
                if impact.basis == "damage_ratio":
                    value = section_values[impact.section]
                elif impact.basis == "downtime_days":
                    value = daily_cost * impact.interruption_share
                else:
                    value = None
                if value is not None and impact.per_exposure_unit:
                    value /= max(units, 1.0)  # the failed unit's share (schema: ratio or days)
                if value == 0:
                    continue  # nothing of this kind is exposed in this lab
                impacts.append(
                    SectionImpact(
                        section=impact.section,
                        severity=impact.severity.distribution(),
                        basis=impact.basis,
                        value=value,
                        severity_scale=severity_factors[impact.section],
                        probability=impact.probability,
                        factor_loading_squared=impact.factor_loading_squared,
                        max_days=max_days if impact.basis == "downtime_days" else None,
                    )
                )
            if not impacts:
                continue
            scenarios.append(
                Scenario(
                    id=definition.id,
                    name=definition.name,
                    frequency=frequency,
                    impacts=tuple(impacts),
                    rating=tuple(steps),
                    site_level=definition.site_level,
                )
            )
        kept = {s.id for s in scenarios}
        cascades = tuple(
            Cascade(parent=c.parent, child=c.child, probability=c.probability)
            for c in tables.cascades
            if c.parent in kept and c.child in kept
        )
        value_at_risk = {
            **section_values,
            Section.RESEARCH_INTERRUPTION: daily_cost * max_days,
        }
        return cls(
            scenarios=tuple(scenarios),
            cascades=cascades,
            value_at_risk=value_at_risk,
            currency=tables.currency,
            tables_version=tables.version,
            lab_id=submission.lab_id,
            site_id=submission.site_id,
        )


def _relativity(
    submission: Submission,
    tables: RatingTables,
    definition: ScenarioDefinition,
    applies_to: Literal["frequency", "severity"],
    section: Section | None = None,
) -> tuple[float, list[RatingStep]]:
    """The product of ``definition``'s relativities on ``applies_to``; for a severity, those
    that concern the impact on ``section`` (rows without a section concern every impact)."""
    product = 1.0
    steps = []
    for factor_name, all_rows in tables.relativity_groups(definition.id, applies_to):
        rows = tuple(row for row in all_rows if row.concerns(section))
        if not rows:
            continue  # this factor scales other impacts of the scenario, not this one
        level = FACTORS[factor_name].level(submission)
        matched = [row for row in rows if row.matches(level)]
        if len(matched) != 1:
            raise ProfileError(
                f"{factor_name} = {level!r} has no relativity row for scenario "
                f"{definition.id!r} ({applies_to}) in tables {tables.version}; levels there: "
                f"{', '.join(row.level for row in rows)}"
            )
        row = matched[0]
        product *= row.relativity
        if row.relativity != 1.0:
            on = "" if row.section is None else f"@{row.section.value}"
            shown = "not given (read as the highest band)" if level == math.inf else level
            steps.append(
                RatingStep(
                    name=f"{applies_to}:{factor_name}{on}",
                    value=row.relativity,
                    explanation=f"{factor_name} = {shown} ({row.source})",
                )
            )
    if not math.isfinite(product) or product <= 0:
        raise ProfileError(
            f"{applies_to} relativity of {definition.id!r} is {product}, not a positive number"
        )
    return product, steps
