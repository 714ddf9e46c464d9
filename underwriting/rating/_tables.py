"""Rating tables: versioned, hashed, validated data with every number an actuary may change.

A version lives in ``rating_tables/<version>/`` (shipped inside the package as
``underwriting.rating_tables``) and holds:

- ``manifest.toml``: ``version``, ``effective_date``, ``currency`` and ``[files]``, the sha256 of
  each data file;
- ``scenarios.toml``: the model settings, the scenarios with their section impacts, and cascades;
- ``base_frequencies.csv``: the base annual rate of every scenario for every lab category;
- ``relativities.csv``: frequency and severity relativities by rating factor;
- ``pricing.toml``: premium loadings, precision of a quote, experience-rating credibility;
- ``rules.toml``: the underwriting rules (declines and referrals) and the plausibility bounds
  of a submission's exposures (``[[plausibility]]``);
- ``README.md``: the source of every number.

:func:`load_rating_tables` checks every hash, validates every row and cross-checks the tables;
anything wrong raises :class:`~underwriting.errors.RatingTableError` naming the file, the row and
the field. A half-loaded table is never returned.

Example
-------
>>> tables = load_rating_tables("2026.1")
>>> tables.version, tables.currency
('2026.1', 'CNY')
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    Tag,
    ValidationError,
    model_validator,
)

from underwriting.errors import RatingTableError
from underwriting.model import (
    Gamma,
    LabCategory,
    LogNormal,
    LogNormalGPD,
    Pareto,
    Section,
    Submission,
)
from underwriting.model import Severity as SeverityDistribution
from underwriting.rating._factors import EXPOSURES, FACTORS

DATA_FILES = (
    "scenarios.toml",
    "base_frequencies.csv",
    "relativities.csv",
    "pricing.toml",
    "rules.toml",
)
"""The files a manifest must list, each with its sha256."""

_ID = r"^[a-z][a-z0-9_]*$"


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- severity specs


class LogNormalSpec(_Row):
    """A lognormal given as research.md writes it: LN(median, p95)."""

    family: Literal["lognormal"]
    median: PositiveFloat = Field(allow_inf_nan=False)
    p95: PositiveFloat = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.p95 <= self.median:
            raise ValueError(f"p95 ({self.p95}) must exceed median ({self.median})")
        return self

    def distribution(self) -> SeverityDistribution:
        return LogNormal.from_median_p95(self.median, self.p95)


class LogNormalGPDSpec(LogNormalSpec):
    """LN(median, p95) body spliced to a GPD(threshold, xi) tail."""

    family: Literal["lognormal_gpd"]  # type: ignore[assignment]
    threshold: PositiveFloat = Field(allow_inf_nan=False)
    xi: float = Field(ge=0, lt=1, allow_inf_nan=False)

    def distribution(self) -> SeverityDistribution:
        return LogNormalGPD.from_median_p95(
            self.median, self.p95, threshold=self.threshold, xi=self.xi
        )


class GammaSpec(_Row):
    family: Literal["gamma"]
    shape: PositiveFloat = Field(allow_inf_nan=False)
    scale: PositiveFloat = Field(allow_inf_nan=False)

    def distribution(self) -> SeverityDistribution:
        return Gamma(shape=self.shape, scale=self.scale)


class ParetoSpec(_Row):
    family: Literal["pareto"]
    alpha: PositiveFloat = Field(allow_inf_nan=False)
    scale: PositiveFloat = Field(allow_inf_nan=False)

    def distribution(self) -> SeverityDistribution:
        return Pareto(alpha=self.alpha, scale=self.scale)


SeveritySpec = Annotated[
    LogNormalSpec | LogNormalGPDSpec | GammaSpec | ParetoSpec, Field(discriminator="family")
]

Basis = Literal["amount", "damage_ratio", "downtime_days"]
DAMAGE_RATIO_SECTIONS = frozenset({Section.PROPERTY, Section.EQUIPMENT_BREAKDOWN, Section.SPOILAGE})


# --------------------------------------------------------------------------- scenarios.toml


class ImpactDefinition(_Row):
    """How one scenario's event hits one section."""

    section: Section
    basis: Basis
    probability: float = Field(default=1.0, gt=0, le=1)
    correlation: float = Field(default=1.0, ge=0, le=1)
    severity: SeveritySpec
    per_exposure_unit: bool = Field(
        default=False,
        description="the damage ratio applies to the section value divided by the exposure "
        "units (one freezer's share of the specimens), not to the whole value",
    )

    @model_validator(mode="after")
    def _basis_fits_section(self) -> Self:
        if self.per_exposure_unit and self.basis != "damage_ratio":
            raise ValueError("per_exposure_unit applies only to basis 'damage_ratio'")
        if self.section is Section.RESEARCH_INTERRUPTION and self.basis != "downtime_days":
            raise ValueError("research_interruption impacts must have basis 'downtime_days'")
        if self.basis == "downtime_days" and self.section is not Section.RESEARCH_INTERRUPTION:
            raise ValueError("basis 'downtime_days' is only for research_interruption")
        if self.basis == "damage_ratio" and self.section not in DAMAGE_RATIO_SECTIONS:
            allowed = ", ".join(sorted(s.value for s in DAMAGE_RATIO_SECTIONS))
            raise ValueError(f"basis 'damage_ratio' is only for {allowed}")
        return self


class ScenarioDefinition(_Row):
    """A scenario of the catalogue: frequency family, exposure basis and section impacts."""

    id: str = Field(pattern=_ID, max_length=64)
    name: str = Field(min_length=1)
    description: str = ""
    frequency: Literal["poisson", "negative_binomial"]
    rate_cv: PositiveFloat | None = Field(default=None, allow_inf_nan=False)
    exposure: str
    site_level: bool = Field(
        default=False,
        description="one event hits every lab of the site at once (accumulation in portfolios)",
    )
    impacts: tuple[ImpactDefinition, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.frequency == "negative_binomial") != (self.rate_cv is not None):
            raise ValueError("rate_cv is required for negative_binomial and only for it")
        if self.exposure not in EXPOSURES:
            raise ValueError(
                f"exposure {self.exposure!r} is not one of {', '.join(sorted(EXPOSURES))}"
            )
        sections = [impact.section for impact in self.impacts]
        if len(set(sections)) != len(sections):
            raise ValueError("each section may appear in only one impact of a scenario")
        return self


class CascadeDefinition(_Row):
    """An event of ``parent`` also brings ``child``'s impacts, in the same occurrence."""

    parent: str = Field(pattern=_ID)
    child: str = Field(pattern=_ID)
    probability: float = Field(gt=0, le=1)


class ModelSettings(_Row):
    max_downtime_days: PositiveFloat = Field(allow_inf_nan=False)


class ScenariosFile(_Row):
    model: ModelSettings
    scenarios: tuple[ScenarioDefinition, ...] = Field(min_length=1)
    cascades: tuple[CascadeDefinition, ...] = ()


# --------------------------------------------------------------------------- CSV rows


class BaseFrequencyRow(_Row):
    scenario: str = Field(pattern=_ID)
    lab_category: LabCategory
    rate: NonNegativeFloat = Field(allow_inf_nan=False)
    source: str = Field(min_length=1)


class RelativityRow(_Row):
    factor: str
    level: str = Field(min_length=1)
    lower: float | None = Field(default=None, allow_inf_nan=False)
    upper: float | None = Field(default=None, allow_inf_nan=False)
    scenario: str
    applies_to: Literal["frequency", "severity"]
    relativity: PositiveFloat = Field(allow_inf_nan=False)
    source: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_none(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: (None if v == "" and k in ("lower", "upper") else v) for k, v in data.items()
            }
        return data

    @model_validator(mode="after")
    def _known_factor(self) -> Self:
        factor = FACTORS.get(self.factor)
        if factor is None:
            raise ValueError(f"factor {self.factor!r} is not one of {', '.join(sorted(FACTORS))}")
        if factor.kind == "categorical":
            if self.level not in factor.levels:
                allowed = ", ".join(factor.levels)
                raise ValueError(f"level {self.level!r} of {self.factor} is not one of {allowed}")
            if self.lower is not None or self.upper is not None:
                raise ValueError(f"{self.factor} is categorical: leave lower and upper empty")
        else:
            if self.lower is None:
                raise ValueError(f"{self.factor} is numeric: lower is required")
            if self.upper is not None and self.upper <= self.lower:
                raise ValueError(f"upper ({self.upper}) must exceed lower ({self.lower})")
        return self

    def matches(self, level: str | float) -> bool:
        if isinstance(level, str):
            return level == self.level
        assert self.lower is not None  # guaranteed by the validator for numeric factors
        return self.lower <= level and (self.upper is None or level < self.upper)


# --------------------------------------------------------------------------- pricing.toml


class PremiumSettings(_Row):
    """How the premium is built (``pricing.toml`` ``[premium]``)."""

    risk_load_method: Literal["cost_of_capital", "wang"]
    capital_level: float = Field(gt=0.5, lt=1)
    cost_of_capital_rate: float = Field(ge=0, le=1)
    capital_share: float = Field(gt=0, le=1)
    wang_lambda: float = Field(ge=0, le=5)
    fixed_expense_per_policy: NonNegativeFloat = Field(allow_inf_nan=False)
    variable_expense_ratio: float = Field(ge=0, lt=1)
    commission_ratio: float = Field(ge=0, lt=1)
    profit_margin: float = Field(ge=0, lt=1)
    minimum_premium: NonNegativeFloat = Field(allow_inf_nan=False)
    premium_tax_rate: float = Field(ge=0, lt=1)
    rounding_unit: PositiveFloat = Field(allow_inf_nan=False)
    quote_validity_days: int = Field(gt=0, le=366)

    @model_validator(mode="after")
    def _loadings_below_one(self) -> Self:
        total = self.variable_expense_ratio + self.commission_ratio + self.profit_margin
        if total >= 1:
            raise ValueError(
                f"variable expenses + commission + profit margin = {total:g}; must be below 1"
            )
        return self

    @property
    def premium_divisor(self) -> float:
        """``1 - variable expenses - commission - profit margin``."""
        return 1.0 - self.variable_expense_ratio - self.commission_ratio - self.profit_margin


class PrecisionSettings(_Row):
    """How many years a quote simulates (``pricing.toml`` ``[precision]``)."""

    target_relative_error: float = Field(gt=0, lt=1)
    pilot_years: int = Field(ge=1_000, le=10_000_000)
    max_years: int = Field(ge=1_000, le=100_000_000)
    batches: int = Field(ge=5, le=1_000)
    default_seed: int = Field(ge=0, lt=2**128)

    @model_validator(mode="after")
    def _pilot_within_cap(self) -> Self:
        if self.pilot_years > self.max_years:
            raise ValueError(
                f"pilot_years ({self.pilot_years}) must not exceed max_years ({self.max_years})"
            )
        return self


class ExperienceSettings(_Row):
    """Buhlmann-Straub credibility on a lab's own claims (``pricing.toml`` ``[experience]``)."""

    credibility_k: PositiveFloat = Field(allow_inf_nan=False)
    max_credibility: float = Field(ge=0, le=1)
    scenarios: tuple[str, ...]


class PricingTables(_Row):
    """The whole of ``pricing.toml``."""

    premium: PremiumSettings
    precision: PrecisionSettings
    experience: ExperienceSettings


# --------------------------------------------------------------------------- rules.toml

Comparison = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"]
Scalar = bool | int | float | str


class Leaf(_Row):
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


class AllOf(_Row):
    all: tuple[Condition, ...] = Field(min_length=1)


class AnyOf(_Row):
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


class Rule(_Row):
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


class PlausibilityBound(_Row):
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


class RulesTable(_Row):
    """The whole of ``rules.toml``."""

    authority_levels: tuple[str, ...] = Field(min_length=1)
    rules: tuple[Rule, ...]
    plausibility: tuple[PlausibilityBound, ...] = ()


# --------------------------------------------------------------------------- the tables


@dataclass(frozen=True)
class RatingTables:
    """A loaded, validated version of the rating tables.

    Attributes
    ----------
    version, effective_date, currency
        From the manifest.
    sha256
        The verified hash of each data file.
    directory
        Where the files were read from.
    model
        Model settings (``max_downtime_days``).
    scenarios
        The scenario catalogue, in file order.
    cascades
        Which scenarios trigger which, and how often.
    base_rates
        ``(scenario id, lab category) -> (rate per exposure unit per year, source)``.
    relativities
        Every relativity row, in file order.
    pricing
        Premium loadings, the precision of a quote and experience-rating credibility.
    rules
        The underwriting rules, the authority levels and the plausibility bounds.
    """

    version: str
    effective_date: dt.date
    currency: str
    sha256: Mapping[str, str]
    directory: Path
    model: ModelSettings
    scenarios: tuple[ScenarioDefinition, ...]
    cascades: tuple[CascadeDefinition, ...]
    base_rates: Mapping[tuple[str, LabCategory], tuple[float, str]]
    relativities: tuple[RelativityRow, ...]
    pricing: PricingTables
    rules: RulesTable
    _groups: Mapping[tuple[str, str, str], tuple[RelativityRow, ...]] = field(repr=False)

    @property
    def scenario_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.scenarios)

    def relativity_groups(
        self, scenario: str, applies_to: Literal["frequency", "severity"]
    ) -> Iterator[tuple[str, tuple[RelativityRow, ...]]]:
        """``(factor, rows)`` for every factor that rates ``scenario`` on ``applies_to``."""
        for (factor, group_scenario, group_applies), rows in self._groups.items():
            if group_applies == applies_to and group_scenario in ("*", scenario):
                yield factor, rows


def _tables_root() -> Path:
    return Path(str(resources.files("underwriting.rating_tables")))


def available_versions(root: Path | None = None) -> tuple[str, ...]:
    """Versions found under ``root`` (the packaged tables by default), oldest first."""
    base = root or _tables_root()
    found = []
    for manifest in sorted(base.glob("*/manifest.toml")):
        data = _read_toml(manifest, manifest.parent.name)
        found.append((str(data.get("effective_date", "")), manifest.parent.name))
    return tuple(name for _, name in sorted(found))


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _where(loc: Sequence[int | str]) -> str | None:
    """A pydantic error location as a dotted field path; None for a whole-row check."""
    return ".".join(str(part) for part in loc) or None


def _validation_error(
    error: ValidationError, *, file: str, version: str, row: int | None, loc_prefix: str = ""
) -> RatingTableError:
    first = error.errors()[0]
    field_path = _where(first["loc"])
    value = first.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return RatingTableError(
        f"{first['msg']}{shown}",
        file=file,
        row=row,
        field=f"{loc_prefix}{field_path}" if field_path else (loc_prefix.rstrip(".") or None),
        version=version,
    )


def _read_text(path: Path, version: str | None) -> str:
    """The file as UTF-8 text; a corrupt byte is a ``RatingTableError`` naming its line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RatingTableError(
            f"not valid UTF-8 at line {line} (byte {error.start}: {error.reason}); the file is "
            "corrupt",
            file=path.name,
            version=version,
        ) from error


def _read_toml(path: Path, version: str | None) -> dict[str, Any]:
    """The file as TOML; corrupt bytes or syntax are a ``RatingTableError`` naming the file."""
    text = _read_text(path, version)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RatingTableError(
            f"not valid TOML: {error}", file=path.name, version=version
        ) from error


def _read_csv(path: Path, columns: tuple[str, ...], version: str) -> list[dict[str, str]]:
    text = _read_text(path, version)
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    if header != columns:
        raise RatingTableError(
            f"columns are {', '.join(header)}; expected exactly {', '.join(columns)}",
            file=path.name,
            row=0,
            version=version,
        )
    rows = []
    for number, raw in enumerate(reader, start=1):
        if None in raw or any(value is None for value in raw.values()):
            raise RatingTableError(
                f"row has {len(raw.get(None) or []) + len(columns)} cells, expected {len(columns)}",
                file=path.name,
                row=number,
                version=version,
            )
        rows.append({key: value.strip() for key, value in raw.items()})
    return rows


def _load_manifest(directory: Path) -> tuple[str, dt.date, str, dict[str, str]]:
    manifest_path = directory / "manifest.toml"
    if not manifest_path.is_file():
        raise RatingTableError("manifest.toml is missing", file=str(manifest_path))
    manifest = _read_toml(manifest_path, directory.name)

    class Manifest(_Row):
        version: str = Field(min_length=1)
        effective_date: dt.date
        currency: str = Field(pattern=r"^[A-Z]{3}$")
        description: str = ""
        files: dict[str, str]

    try:
        parsed = Manifest.model_validate(manifest)
    except ValidationError as error:
        raise _validation_error(
            error, file="manifest.toml", version=directory.name, row=None
        ) from error
    version = parsed.version
    if version != directory.name:
        raise RatingTableError(
            f"version {version!r} does not match its folder {directory.name!r}",
            file="manifest.toml",
            field="version",
            version=version,
        )
    if set(parsed.files) != set(DATA_FILES):
        raise RatingTableError(
            f"[files] lists {', '.join(sorted(parsed.files))}; it must list exactly "
            f"{', '.join(DATA_FILES)}",
            file="manifest.toml",
            field="files",
            version=version,
        )
    for name in DATA_FILES:
        path = directory / name
        if not path.is_file():
            raise RatingTableError(
                "file listed in the manifest is missing", file=name, version=version
            )
        actual = sha256_of(path)
        if actual != parsed.files[name]:
            raise RatingTableError(
                f"sha256 is {actual} but the manifest says {parsed.files[name]}; the file was "
                "changed after release (a released version is immutable: make a new version)",
                file=name,
                field="sha256",
                version=version,
            )
    return version, parsed.effective_date, parsed.currency, dict(parsed.files)


def _load_scenarios(directory: Path, version: str) -> ScenariosFile:
    name = "scenarios.toml"
    raw = _read_toml(directory / name, version)
    for index, scenario in enumerate(raw.get("scenarios", []) or [], start=1):
        try:
            ScenarioDefinition.model_validate(scenario)
        except ValidationError as error:
            ident = scenario.get("id", "?") if isinstance(scenario, dict) else "?"
            raise _validation_error(
                error, file=name, version=version, row=index, loc_prefix=f"scenarios[{ident}]."
            ) from error
    try:
        return ScenariosFile.model_validate(raw)
    except ValidationError as error:
        raise _validation_error(error, file=name, version=version, row=None) from error


def _load_toml_model(directory: Path, name: str, model: type[_Row], version: str) -> Any:
    raw = _read_toml(directory / name, version)
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        loc = error.errors()[0]["loc"]
        row = (
            int(loc[1]) + 1
            if len(loc) > 1 and loc[0] in ("rules", "plausibility") and isinstance(loc[1], int)
            else None
        )
        raise _validation_error(error, file=name, version=version, row=row) from error


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


def _validate_rows(
    rows: list[dict[str, str]], model: type[_Row], file: str, version: str
) -> list[Any]:
    parsed = []
    for number, row in enumerate(rows, start=1):
        try:
            parsed.append(model.model_validate(row))
        except ValidationError as error:
            raise _validation_error(error, file=file, version=version, row=number) from error
    return parsed


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
    return {key: tuple(row for _, row in members) for key, members in groups.items()}


def load_rating_tables(version: str | None = None, *, root: Path | None = None) -> RatingTables:
    """Load and validate a version of the rating tables.

    Parameters
    ----------
    version
        A version such as ``"2026.1"``; the newest (latest effective date) when ``None``.
    root
        A folder holding version folders; the tables shipped with the package by default.

    Raises
    ------
    RatingTableError
        If the version does not exist, a hash does not match the manifest, or any row or cross
        reference is invalid. The message names the file, the row and the field.

    Example
    -------
    >>> tables = load_rating_tables()
    >>> "contained_fire" in tables.scenario_ids
    True
    """
    base = root or _tables_root()
    versions = available_versions(base)
    if version is None:
        if not versions:
            raise RatingTableError(f"no rating tables found under {base}")
        version = versions[-1]
    elif version not in versions:
        raise RatingTableError(
            f"version {version!r} not found; available: {', '.join(versions) or 'none'}"
        )
    directory = base / version
    version, effective_date, currency, hashes = _load_manifest(directory)
    scenarios_file = _load_scenarios(directory, version)
    scenario_ids = [s.id for s in scenarios_file.scenarios]
    duplicates = sorted({s for s in scenario_ids if scenario_ids.count(s) > 1})
    if duplicates:
        raise RatingTableError(
            f"scenario id(s) {', '.join(duplicates)} defined more than once",
            file="scenarios.toml",
            field="id",
            version=version,
        )
    known = set(scenario_ids)
    parents = {c.parent for c in scenarios_file.cascades}
    for number, cascade in enumerate(scenarios_file.cascades, start=1):
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

    base_rows: list[BaseFrequencyRow] = _validate_rows(
        _read_csv(
            directory / "base_frequencies.csv", tuple(BaseFrequencyRow.model_fields), version
        ),
        BaseFrequencyRow,
        "base_frequencies.csv",
        version,
    )
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

    relativity_rows: tuple[RelativityRow, ...] = tuple(
        _validate_rows(
            _read_csv(directory / "relativities.csv", tuple(RelativityRow.model_fields), version),
            RelativityRow,
            "relativities.csv",
            version,
        )
    )
    groups = _check_groups(relativity_rows, known, version)
    pricing: PricingTables = _load_toml_model(directory, "pricing.toml", PricingTables, version)
    for name in pricing.experience.scenarios:
        if name not in known:
            raise RatingTableError(
                f"experience scenario {name!r} is not in scenarios.toml",
                file="pricing.toml",
                field="experience.scenarios",
                version=version,
            )
    rules: RulesTable = _load_toml_model(directory, "rules.toml", RulesTable, version)
    _check_rules(rules, version)
    return RatingTables(
        version=version,
        effective_date=effective_date,
        currency=currency,
        sha256=hashes,
        directory=directory,
        model=scenarios_file.model,
        scenarios=scenarios_file.scenarios,
        cascades=scenarios_file.cascades,
        base_rates=base_rates,
        relativities=relativity_rows,
        pricing=pricing,
        rules=rules,
        _groups=groups,
    )


def write_manifest_hashes(directory: Path) -> dict[str, str]:
    """Rewrite the ``[files]`` hashes of ``directory/manifest.toml`` from the files on disk.

    For a table author preparing a *new* version; a released version must not change.
    """
    manifest_path = directory / "manifest.toml"
    text = manifest_path.read_text(encoding="utf-8")
    hashes = {name: sha256_of(directory / name) for name in DATA_FILES}
    head = re.split(r"(?m)^\[files\]\s*$", text)[0].rstrip()
    body = "\n".join(f'"{name}" = "{digest}"' for name, digest in hashes.items())
    manifest_path.write_text(f"{head}\n\n[files]\n{body}\n", encoding="utf-8")
    return hashes
