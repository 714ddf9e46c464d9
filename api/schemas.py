"""Request and response bodies of the HTTP API (separate from the domain models they carry)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from underwriting.model import SeedText, Submission
from underwriting.rating import RiskProfile
from underwriting.terms import PolicyTerms


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class WorksheetRowOut(_Out):
    name: str
    value: float | None
    explanation: str


class PremiumOut(_Out):
    expected_loss: float
    risk_load: float
    fixed_expense: float
    technical: float
    variable_expenses: float
    commission: float
    profit: float
    minimum: float
    minimum_applied: bool
    total: float
    tax: float
    total_with_tax: float
    by_section: dict[str, float]
    by_scenario: dict[str, float]
    standard_error: float | None
    relative_error: float | None
    risk_load_method: str
    lae: float = 0.0


class MetricOut(_Out):
    name: str
    value: float
    standard_error: float | None


class ReasonOut(_Out):
    code: str
    outcome: Literal["decline", "refer"]
    message: str
    figures: dict[str, bool | int | float | str | None]
    authority: str | None


class DecisionOut(_Out):
    outcome: Literal["quoted", "referred", "declined"]
    reasons: list[ReasonOut]
    authority_required: str | None
    rules_evaluated: list[str]


class OptionOut(_Out):
    label: str
    terms: PolicyTerms
    premium: PremiumOut
    metrics: list[MetricOut]


class ScenarioExperienceOut(_Out):
    scenario: str
    claims: int
    expected_claims: float
    table_rate: float
    adjusted_rate: float
    rated: bool


class ExperienceOut(_Out):
    years_observed: float
    credibility: float
    claims_count: int
    expected_claims: float
    scenarios: list[ScenarioExperienceOut]
    explanation: str
    observed_from: dt.date | None = Field(
        default=None,
        description="first day of the observed window: the quote's date less years_observed",
    )
    claims_outside_window: list[int] = Field(
        default_factory=list,
        description="indices of claims dated before the window: listed, not counted",
    )


class ProvenanceOut(_Out):
    seed: str = Field(description="decimal string: 128-bit seeds lose precision as JSON numbers")
    tables_version: str
    tables_sha256: dict[str, str]
    package_version: str
    n_years: int
    block_size: int
    target_relative_error: float | None
    created_at: dt.datetime


class WarningOut(_Out):
    """Legal but suspicious input, or a result short of what was asked (docs/warnings.md)."""

    code: str = Field(description="stable identifier, e.g. CLAIM_OUTSIDE_WINDOW")
    message: str
    field: str | None = Field(description="dotted path of the input concerned; null for a result")
    value: str | int | float | bool | None = None


class ReferralDecisionOut(_Out):
    decision: Literal["approve", "decline"]
    note: str
    decided_by: str
    decided_at: dt.datetime


QuoteStatus = Literal["quoted", "referred", "declined", "approved"]


class QuoteOut(_Out):
    """A stored quote."""

    id: str
    status: QuoteStatus = Field(
        description="the decision's outcome, or 'approved'/'declined' once a referral is decided"
    )
    created_by: str
    created_at: dt.datetime
    valid_until: dt.datetime
    lab_id: str
    decision: DecisionOut
    premium: PremiumOut
    worksheet: list[WorksheetRowOut]
    options: list[OptionOut]
    metrics: list[MetricOut]
    experience: ExperienceOut
    provenance: ProvenanceOut
    warnings: list[WarningOut] = Field(
        default_factory=list, description="legal but suspicious input; see docs/warnings.md"
    )
    referral_decision: ReferralDecisionOut | None = None


class QuoteSummary(_Out):
    id: str
    lab_id: str
    outcome: Literal["quoted", "referred", "declined"]
    status: QuoteStatus
    premium_total: float
    created_by: str
    created_at: dt.datetime
    decision: Literal["approve", "decline"] | None = Field(
        default=None, description="the referral decision; null while none has been made"
    )
    decided_by: str | None = Field(default=None, description="who decided the referral")
    decided_at: dt.datetime | None = Field(default=None, description="when it was decided")


class QuotePage(_Out):
    items: list[QuoteSummary]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )


class ReferralDecisionIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    decision: Literal["approve", "decline"]
    note: str = Field(min_length=1, max_length=4_000)


class ReplayOut(_Out):
    quote_id: str
    matches: bool
    differences: list[str]


class SimulationIn(BaseModel):
    """A simulation: a lab (rated with the tables) or an actuary's own profile, with terms."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    submission: Submission | None = None
    profile: RiskProfile | None = None
    terms: PolicyTerms
    n_years: int = Field(gt=0, description="simulated years (capped by the service's settings)")
    seed: SeedText | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SimulationIn:
        if (self.submission is None) == (self.profile is None):
            raise ValueError("give exactly one of submission or profile")
        return self


class EPPointOut(_Out):
    return_period: float
    exceedance_probability: float
    aep: float
    aep_standard_error: float
    oep: float | None
    oep_standard_error: float | None


class ContributionOut(_Out):
    name: str
    mean_ground_up: float
    mean_insured: float
    standard_error: float
    share: float


class SimulationOut(_Out):
    n_years: int
    seed: str
    tables_version: str | None
    experience_applied: bool = Field(
        description="whether the rates carry the lab's claims experience: never here (a "
        "simulation uses the tables' rates or the profile's own), while a quote of the lab does, "
        "so its expected loss may differ"
    )
    metrics: list[MetricOut]
    ep_curve: list[EPPointOut]
    by_section: list[ContributionOut]
    by_scenario: list[ContributionOut]
    warnings: list[WarningOut] = Field(
        default_factory=list, description="e.g. a heavy tail that makes standard errors unreliable"
    )


class RatingTablesOut(_Out):
    version: str
    effective_date: dt.date
    currency: str
    sha256: dict[str, str]
    current: bool


class RatingTablesDetailOut(RatingTablesOut):
    scenarios: list[str]
    rules: list[str]
    risk_load_method: str


class FieldErrorOut(_Out):
    """One invalid field: its dotted path, the value sent (bounded) and what is allowed."""

    field: str
    value: bool | int | float | str | None
    message: str


class ProblemOut(_Out):
    """An error as RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field(description="always 'about:blank': the status says what kind of error")
    title: str
    status: int
    detail: str = Field(description="what was wrong, naming the field or the cause")
    instance: str | None = Field(default=None, description="the path of the request")
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="every invalid field, for validation errors"
    )


class Health(_Out):
    status: Literal["ok"]


class Readiness(_Out):
    status: Literal["ready"]
    tables_version: str
