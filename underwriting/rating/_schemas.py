"""Schemas of the rating tables' data files: one frozen pydantic model per file and per row.

``scenarios.toml`` (:class:`ScenariosFile`: model settings, scenarios with their impacts and
severities, cascades), ``base_frequencies.csv`` (:class:`BaseFrequencyRow`),
``relativities.csv`` (:class:`RelativityRow`), ``pricing.toml`` (:class:`PricingTables`) and the
``manifest.toml`` (:class:`Manifest`). ``rules.toml`` has its grammar in ``_rules``, beside the
decision that reads it. A model checks its own row; checks across rows and files are
``_checks``'s.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    model_validator,
)

from underwriting.model import (
    Gamma,
    LabCategory,
    LogNormal,
    LogNormalGPD,
    Pareto,
    Section,
    Seed,
)
from underwriting.model import Severity as SeverityDistribution
from underwriting.rating._factors import EXPOSURES, FACTORS

ID_PATTERN = r"^[a-z][a-z0-9_]*$"


class TableModel(BaseModel):
    """A row or file of the tables: frozen, and no field it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- severity specs


class LogNormalSpec(TableModel):
    """A lognormal given by its median and 95th percentile, LN(median, p95), as the scenario
    table of the research notes writes it (`docs/sources.md#research-5`)."""

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


class GammaSpec(TableModel):
    family: Literal["gamma"]
    shape: PositiveFloat = Field(allow_inf_nan=False)
    scale: PositiveFloat = Field(allow_inf_nan=False)

    def distribution(self) -> SeverityDistribution:
        return Gamma(shape=self.shape, scale=self.scale)


class ParetoSpec(TableModel):
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


FACTOR_LOADING_KEY = "factor_loading_squared"
FORMER_FACTOR_LOADING_KEY = "correlation"
"""``factor_loading_squared``'s name in 2026.1 and 2026.2, which are released and so keep it. A
misnomer: two impacts' pairwise correlation is ``sqrt(rho_i rho_j)``, not ``rho``."""


def factor_loading_key(data: Any, *, required: bool) -> Any:
    """``data`` (an impact's raw fields) with ``correlation``, the former name of
    ``factor_loading_squared``, read as it: same number, same meaning. Giving both keys is an
    error; so is giving neither where ``required``. The error names the impact's section.

    The former name gets no warning: the released versions that use it are legal and cannot be
    edited, so a warning would only repeat itself on every quote made on them."""
    if not isinstance(data, dict):
        return data
    given = [key for key in (FACTOR_LOADING_KEY, FORMER_FACTOR_LOADING_KEY) if key in data]
    if len(given) == 2 or (required and not given):
        section = data.get("section", "?")
        section = getattr(section, "value", section)
        both, neither = ("both", "and") if given else ("neither", "nor")
        raise ValueError(
            f"the impact on section {section!r} gives {both} {FACTOR_LOADING_KEY!r} {neither} "
            f"{FORMER_FACTOR_LOADING_KEY!r}: give exactly one, {FACTOR_LOADING_KEY!r} (in [0, 1]; "
            f"{FORMER_FACTOR_LOADING_KEY!r} is its former name, read with the same meaning)"
        )
    if given == [FORMER_FACTOR_LOADING_KEY]:
        data = {**data}
        data[FACTOR_LOADING_KEY] = data.pop(FORMER_FACTOR_LOADING_KEY)
    return data


class ImpactDefinition(TableModel):
    """How one scenario's event hits one section.

    ``factor_loading_squared`` is ``rho`` of the one-factor Gaussian copula: the impact's normal
    score is ``sqrt(rho) Z + sqrt(1 - rho) e``, so two impacts' scores have correlation
    ``sqrt(rho_i rho_j)``. Files before 2026.3 call it ``correlation`` (same number, same
    meaning); a file gives exactly one of the two.
    """

    section: Section
    basis: Basis
    probability: float = Field(default=1.0, gt=0, le=1)
    factor_loading_squared: float = Field(ge=0, le=1)
    severity: SeveritySpec
    per_exposure_unit: bool = Field(
        default=False,
        description="the damage ratio applies to the section value divided by the exposure "
        "units (one freezer's share of the specimens), not to the whole value; for downtime, "
        "a day costs the daily research cost divided by the units (the research that the "
        "failed unit's share of the specimens serves, 2026.3 on)",
    )
    interruption_share: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="research_interruption only: the share of the lab's research that a day of "
        "this impact's downtime stops (one instrument down stops part of the research, not all "
        "of it); the day costs annual_research_spend / 365 times this share. 1 (the default, and "
        "2026.1-2026.2's behaviour): the whole lab stops",
    )

    @model_validator(mode="before")
    @classmethod
    def _former_key(cls, data: Any) -> Any:
        return factor_loading_key(data, required=True)

    @model_validator(mode="after")
    def _basis_fits_section(self) -> Self:
        if self.per_exposure_unit and self.basis not in ("damage_ratio", "downtime_days"):
            raise ValueError(
                "per_exposure_unit applies only to basis 'damage_ratio' or 'downtime_days'"
            )
        if self.interruption_share != 1.0 and self.basis != "downtime_days":
            raise ValueError("interruption_share applies only to basis 'downtime_days'")
        if self.section is Section.RESEARCH_INTERRUPTION and self.basis != "downtime_days":
            raise ValueError("research_interruption impacts must have basis 'downtime_days'")
        if self.basis == "downtime_days" and self.section is not Section.RESEARCH_INTERRUPTION:
            raise ValueError("basis 'downtime_days' is only for research_interruption")
        if self.basis == "damage_ratio" and self.section not in DAMAGE_RATIO_SECTIONS:
            allowed = ", ".join(sorted(s.value for s in DAMAGE_RATIO_SECTIONS))
            raise ValueError(f"basis 'damage_ratio' is only for {allowed}")
        return self


class ScenarioDefinition(TableModel):
    """A scenario of the catalogue: frequency family, exposure basis and section impacts."""

    id: str = Field(pattern=ID_PATTERN, max_length=64)
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


class CascadeDefinition(TableModel):
    """An event of ``parent`` also brings ``child``'s impacts, in the same occurrence."""

    parent: str = Field(pattern=ID_PATTERN)
    child: str = Field(pattern=ID_PATTERN)
    probability: float = Field(gt=0, le=1)


class ModelSettings(TableModel):
    max_downtime_days: PositiveFloat = Field(allow_inf_nan=False)


class ScenariosFile(TableModel):
    model: ModelSettings
    scenarios: tuple[ScenarioDefinition, ...] = Field(min_length=1)
    cascades: tuple[CascadeDefinition, ...] = ()


# --------------------------------------------------------------------------- CSV rows


class BaseFrequencyRow(TableModel):
    scenario: str = Field(pattern=ID_PATTERN)
    lab_category: LabCategory
    rate: NonNegativeFloat = Field(allow_inf_nan=False)
    source: str = Field(min_length=1)


class RelativityRow(TableModel):
    factor: str
    level: str = Field(min_length=1)
    lower: float | None = Field(default=None, allow_inf_nan=False)
    upper: float | None = Field(default=None, allow_inf_nan=False)
    scenario: str
    applies_to: Literal["frequency", "severity"]
    relativity: PositiveFloat = Field(allow_inf_nan=False)
    section: Section | None = Field(
        default=None,
        description="optional column: the one impact (section) of the scenario that a severity "
        "relativity scales; empty or absent (2026.1-2026.2) scales every impact",
    )
    source: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_none(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: (None if v == "" and k in ("lower", "upper", "section") else v)
                for k, v in data.items()
            }
        return data

    @model_validator(mode="after")
    def _section_for_severity(self) -> Self:
        if self.section is not None and self.applies_to != "severity":
            raise ValueError("section applies only to severity relativities")
        return self

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

    def concerns(self, section: Section | None) -> bool:
        """Whether this row scales ``section`` (a row without a section scales every one)."""
        return self.section is None or section is None or self.section is section

    def matches(self, level: str | float) -> bool:
        if isinstance(level, str):
            return level == self.level
        assert self.lower is not None  # guaranteed by the validator for numeric factors
        return self.lower <= level and (self.upper is None or level < self.upper)


# --------------------------------------------------------------------------- pricing.toml


class CapitalModel(TableModel):
    """The reference book's capital (``pricing.toml`` ``[premium.capital_model]``), derived by
    ``scripts/derive_risk_load.py`` from the ``[[reference_book]]`` rows; read by the
    ``book_tvar_euler`` risk load (docs/pricing.md "Risk load").

    The book's capital is ``TVaR_level(B) - E[B]`` of its simulated annual total ``B``; a policy
    is charged the cost of capital on its Euler (co-TVaR) share of it, computed against the
    book's survival function, tabulated here as ``survival_losses`` (ascending, the last the
    book's VaR) and ``survival_probabilities`` (``P(B >= loss)``, the last ``1 - tvar_level``).
    """

    tvar_level: float = Field(gt=0.5, lt=1)
    book_labs: int = Field(gt=0)
    book_years: int = Field(gt=0)
    book_seed: Seed
    book_expected_loss: NonNegativeFloat = Field(allow_inf_nan=False)
    book_var: PositiveFloat = Field(allow_inf_nan=False)
    book_tvar: PositiveFloat = Field(allow_inf_nan=False)
    survival_losses: tuple[NonNegativeFloat, ...] = Field(min_length=2)
    survival_probabilities: tuple[float, ...] = Field(min_length=2)
    allocation_scale: PositiveFloat = Field(
        default=1.0,
        le=2,
        description="kappa: the book's cost of capital over the sum of its labs' quoted loads "
        "before scaling (a quote prices its lab against an independent copy of the book, which "
        "over-states the lab's share of the book's tail); derived, never chosen",
    )

    @model_validator(mode="after")
    def _survival_function(self) -> Self:
        losses, probabilities = self.survival_losses, self.survival_probabilities
        if len(losses) != len(probabilities):
            raise ValueError("survival_losses and survival_probabilities differ in length")
        if any(b <= a for a, b in itertools.pairwise(losses)):
            raise ValueError("survival_losses must be strictly ascending")
        if any(b > a for a, b in itertools.pairwise(probabilities)):
            raise ValueError("survival_probabilities must not increase")
        if not 0 < probabilities[-1] <= probabilities[0] <= 1:
            raise ValueError("survival_probabilities must lie in (0, 1]")
        if losses[-1] != self.book_var or abs(probabilities[-1] - (1 - self.tvar_level)) > 1e-12:
            raise ValueError("the survival table must end at (book_var, 1 - tvar_level)")
        if not self.book_expected_loss <= self.book_var <= self.book_tvar:
            raise ValueError("need book_expected_loss <= book_var <= book_tvar")
        return self


class ReferenceLab(TableModel):
    """One row of the notional reference book (``pricing.toml`` ``[[reference_book]]``): ``count``
    labs like the example request ``template`` (``examples/<template>.json``), their sums
    insured, research spend, equipment schedule, floor area and headcount times ``value_scale``,
    with no claims history and each on its own site."""

    template: str = Field(pattern=ID_PATTERN)
    lab_category: LabCategory
    hazard_grade: Literal["I", "II", "III", "IV"]
    value_scale: PositiveFloat = Field(le=10)
    count: int = Field(gt=0, le=10_000)
    note: str = ""


class CalibrationLab(TableModel):
    """One row of the national book the tables are reconciled against (``pricing.toml``
    ``[[calibration.labs]]``): ``count`` labs like ``examples/<template>.json`` rated as
    ``lab_category`` and ``hazard_grade`` (which may differ from the template's: a teaching lab
    drawn on a physics lab's inventory), its sizes and values times ``value_scale``."""

    template: str = Field(pattern=ID_PATTERN)
    lab_category: LabCategory
    hazard_grade: Literal["I", "II", "III", "IV"]
    value_scale: PositiveFloat = Field(le=10)
    count: int = Field(gt=0, le=1_000_000)
    note: str = ""


class Calibration(TableModel):
    """The public statistics the tables' serious-event rates are reconciled with
    (``pricing.toml`` ``[calibration]``, 2026.3 on; method in docs/pricing.md, "Calibration").

    ``public_serious_events_per_year`` publicly reported serious lab accidents a year over the
    labs of ``labs``; ``under_reporting_factor`` actual events per reported one (sourced);
    ``max_departure`` the most the tables' implied count may exceed the public count times the
    factor (or fall below it) before the frequencies must change."""

    public_serious_events_per_year: PositiveFloat = Field(allow_inf_nan=False)
    always_reported: tuple[str, ...] = Field(
        min_length=1, description="scenarios whose every event counts as serious (and reported)"
    )
    reported_if_injury: tuple[str, ...] = Field(
        default=(), description="scenarios whose event counts when it injures someone"
    )
    injury_section: Section = Section.EMPLOYEE_INJURY
    under_reporting_factor: float = Field(ge=1, le=100)
    max_departure: float = Field(gt=1, le=100)
    labs: tuple[CalibrationLab, ...] = Field(min_length=1)


class PremiumSettings(TableModel):
    """How the premium is built (``pricing.toml`` ``[premium]``)."""

    risk_load_method: Literal["cost_of_capital", "wang", "book_tvar_euler"]
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
    capital_model: CapitalModel | None = Field(
        default=None,
        description="the reference book's capital, for risk_load_method 'book_tvar_euler' "
        "(2026.3 on); absent in the released tables",
    )
    alae_ratio: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="allocated loss adjustment expense (defence and cost containment) as a share "
        "of expected loss; 0 (none) in the released tables",
    )
    ulae_ratio: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="unallocated loss adjustment expense (adjusting and other) as a share of "
        "expected loss; 0 (none) in the released tables",
    )
    worksheet_term_values: Literal["expected_loss", "premium"] = Field(
        default="expected_loss",
        description="what the worksheet's 'value of' rows show: the expected loss a kind of term "
        "takes off (released tables), or the premium it takes off with the expected loss beside "
        "it and the worksheet's numbers rounded for a person",
    )

    @property
    def lae_ratio(self) -> float:
        """Loss adjustment expense, allocated plus unallocated, as a share of expected loss."""
        return self.alae_ratio + self.ulae_ratio

    @model_validator(mode="after")
    def _capital_model_when_needed(self) -> Self:
        if self.risk_load_method == "book_tvar_euler" and self.capital_model is None:
            raise ValueError("risk_load_method 'book_tvar_euler' needs [premium.capital_model]")
        return self

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


class PrecisionSettings(TableModel):
    """How many years a quote simulates (``pricing.toml`` ``[precision]``)."""

    target_relative_error: float = Field(gt=0, lt=1)
    pilot_years: int = Field(ge=1_000, le=10_000_000)
    max_years: int = Field(ge=1_000, le=100_000_000)
    batches: int = Field(ge=5, le=1_000)
    default_seed: Seed
    control_variates: bool = False
    """Estimate the expected loss and the risk load with control variates whose means are known
    exactly (2026.4 on; ``underwriting.pricing.ControlVariates``); false: the sample means."""
    stratify_below: float | None = Field(default=None, gt=0, lt=1)
    """Scenarios whose chance of an event in a year is below this are drawn in strata of their
    own, and a quote's premium is estimated on those strata (2026.5 on;
    ``underwriting.engine.rare_strata``); ``None``: on the quote's own run."""
    stratum_pilot_years: int | None = Field(default=None, ge=100, le=1_000_000)
    """Years of each rare stratum's pilot, before the years are allocated among the strata;
    required with ``stratify_below``."""
    event_power_controls: bool = False
    """The stratum of no rare event also fits on the sum of its events' totals cubed, whose mean
    ``underwriting.engine.event_power_means`` gives (2026.6 on; docs/pricing.md, "Why
    chemistry's error is understated"). Only with ``stratify_below`` and
    ``control_variates``."""

    @model_validator(mode="after")
    def _pilot_within_cap(self) -> Self:
        if self.pilot_years > self.max_years:
            raise ValueError(
                f"pilot_years ({self.pilot_years}) must not exceed max_years ({self.max_years})"
            )
        if (self.stratify_below is None) != (self.stratum_pilot_years is None):
            raise ValueError(
                "stratify_below and stratum_pilot_years go together: give both (strata of rare "
                f"scenarios) or neither; got stratify_below={self.stratify_below}, "
                f"stratum_pilot_years={self.stratum_pilot_years}"
            )
        if self.event_power_controls and not (
            self.control_variates and self.stratify_below is not None
        ):
            raise ValueError(
                "event_power_controls adds controls to the stratum of no rare event: it needs "
                "control_variates = true and stratify_below"
            )
        return self


class ExperienceSettings(TableModel):
    """Buhlmann-Straub credibility on a lab's own claims (``pricing.toml`` ``[experience]``).

    ``method = "fixed_k"`` (the default, tables 2026.1 and 2026.2): one ``credibility_k`` for
    every scenario. ``method = "poisson_gamma"``: each scenario's k = 1 / (rate_cv**2 * rate
    above the reporting threshold), from its own negative binomial frequency, and no credibility
    for a scenario without rate uncertainty (docs/pricing.md, "Experience rating").
    """

    method: Literal["fixed_k", "poisson_gamma"] = "fixed_k"
    credibility_k: PositiveFloat | None = Field(default=None, allow_inf_nan=False)
    max_credibility: float = Field(ge=0, le=1)
    scenarios: tuple[str, ...]
    reporting_threshold: float = Field(
        default=0.0,
        ge=0,
        allow_inf_nan=False,
        description="claims below this amount are not counted, and the tables' rates are "
        "thinned to the events at or above it (0: every claim and every event)",
    )

    @model_validator(mode="after")
    def _fixed_k_needs_k(self) -> Self:
        if self.method == "fixed_k" and self.credibility_k is None:
            raise ValueError("method 'fixed_k' needs credibility_k")
        return self


class PricingTables(TableModel):
    """The whole of ``pricing.toml``."""

    premium: PremiumSettings
    precision: PrecisionSettings
    experience: ExperienceSettings
    reference_book: tuple[ReferenceLab, ...] = Field(
        default=(),
        description="the notional book whose capital the 'book_tvar_euler' risk load allocates "
        "(2026.3 on)",
    )
    calibration: Calibration | None = Field(
        default=None,
        description="the national book and public statistics the serious-event rates are "
        "reconciled with (2026.3 on)",
    )


# --------------------------------------------------------------------------- manifest.toml


class Manifest(TableModel):
    """The whole of ``manifest.toml``: the version, its date and currency, each file's sha256."""

    version: str = Field(min_length=1)
    effective_date: dt.date
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    description: str = ""
    status: Literal["released", "draft"] = Field(
        default="released",
        description="a draft is being prepared: never the newest version, never served, free to "
        "change; a released version is immutable",
    )
    files: dict[str, str]
