"""Request and response bodies of the HTTP API (separate from the domain models they carry)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from underwriting import QuoteRequest
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
    currency: str | None = Field(
        default=None,
        description="of every amount above (the rating tables'); null only in "
        "the listings of options of quotes stored before the workflow records",
    )


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


class MoneyOut(_Out):
    """An amount and its currency (the rating tables')."""

    amount: float | None = Field(
        description="null only for a standard error that could not "
        "be estimated (too few simulated years)"
    )
    currency: str


class OptionOut(_Out):
    label: str = Field(description="the caller's label (option_labels), or 'option N'")
    terms: PolicyTerms
    premium: PremiumOut
    metrics: list[MetricOut]
    decision: DecisionOut = Field(description="the rules applied to the option")
    difference: MoneyOut = Field(
        description="the option's technical premium minus that of the terms asked for"
    )
    difference_standard_error: MoneyOut = Field(
        description="paired standard error of the difference (same simulated events)"
    )


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
    sample_means: bool = Field(
        default=False,
        description="priced with the sample means where the tables use control variates "
        "(uw.quote(..., sample_means=True))",
    )
    strata_years: dict[str, int] = Field(
        default_factory=dict,
        description="each stratum's simulated years by label, for a premium from stratified "
        "years (tables 2026.5 on; '(none)' is the stratum of no rare event); empty otherwise",
    )


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


QuoteStatus = Literal[
    "quoted", "referred", "declined", "approved", "bound", "expired", "superseded"
]


class ScheduleCreditOut(_Out):
    reason: str = Field(description="the reason's id in the rating tables")
    label: str
    adjustment: float = Field(description="fraction of the technical premium: -0.05 is -5 %")


class OfferOut(_Out):
    """The offered premium: technical x (1 + total_adjustment), minimum and rounding applied."""

    credits: list[ScheduleCreditOut]
    total_adjustment: float
    premium: MoneyOut
    tax: MoneyOut
    authority_required: str = Field(description="the lowest authority whose band holds it")


class ReferralOut(_Out):
    authority: str = Field(description="the authority that may decide the referral")
    reasons: list[ReasonOut]


class QuoteOut(_Out):
    """A stored quote: everything quoted, where it stands and what may be done next."""

    id: str
    status: QuoteStatus = Field(
        description="where the quote stands (docs/workflow.md); 'expired' for an open quote "
        "past valid_until"
    )
    parent_id: str | None = Field(default=None, description="the quote this one revises")
    superseded_by: str | None = Field(default=None, description="the revision that replaced it")
    policy_id: str | None = Field(default=None, description="the policy it was bound as")
    renews_policy_id: str | None = Field(
        default=None, description="the policy this quote renews (a renewal quote)"
    )
    currency: str | None = None
    request: QuoteRequest | None = Field(
        default=None, description="what was quoted: submission, terms, options and labels, seed"
    )
    technical_premium: MoneyOut | None = None
    offered_premium: MoneyOut | None = Field(
        default=None, description="the offer's premium, else the premium charged"
    )
    offered_tax: MoneyOut | None = None
    adequacy_ratio: float | None = Field(default=None, description="offered over technical premium")
    offer: OfferOut | None = None
    referral: ReferralOut | None = Field(
        default=None, description="the referral the quote waits on, or was decided on"
    )
    available_actions: list[str] = Field(
        default_factory=list,
        description="what the caller may do to the quote now (refer, approve, decline, bind, "
        "expire, supersede, offer)",
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


class HistoryEventOut(_Out):
    """One change of a quote, in order; the history is only ever appended to."""

    sequence: int
    at: dt.datetime
    actor: str
    role: str
    action: str = Field(description="create, or the workflow action")
    from_status: str | None
    to_status: str
    details: dict[str, Any]


class OfferIn(BaseModel):
    """Schedule credits (negative) and debits (positive) from the rating tables' reasons."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    credits: dict[str, float] = Field(
        default_factory=dict,
        description="reason id to adjustment, a fraction of the technical premium within the "
        "reason's range ({'survey_excellent_housekeeping': -0.05}); empty: the technical premium",
    )
    note: str | None = Field(default=None, max_length=4_000)


class RevisionOut(_Out):
    """A revision: the new quote, what changed, and the premium difference from its parent."""

    quote: QuoteOut
    parent_id: str
    changed: list[str] = Field(description="JSON pointers of the request's changed values")
    technical_difference: MetricOut = Field(
        description="revision minus parent, technical premium, with its paired standard error"
    )
    expected_loss_difference: MetricOut
    currency: str


class BindIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    period_start: dt.date | None = Field(
        default=None, description="first day of cover; the day of binding when left out"
    )


class PolicyOut(_Out):
    id: str
    policy_number: str
    quote_id: str
    lab_id: str
    created_by: str
    created_at: dt.datetime
    period_start: dt.date
    period_end: dt.date = Field(description="the last day of cover: a year after the start")
    bound_premium: MoneyOut = Field(description="before tax: the quote's offered premium")
    bound_tax: MoneyOut
    technical_premium: MoneyOut
    tables_version: str
    renews_policy_id: str | None = Field(description="the policy this one renews")


class PolicyPage(_Out):
    items: list[PolicyOut]


class RenewalIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request: QuoteRequest | None = Field(
        default=None,
        description="the renewed submission and terms; the expiring quote's when left out. "
        "Priced with the expiring quote's seed and years; options are not priced",
    )


class RenewalStepOut(_Out):
    name: Literal["exposure", "terms", "claims_experience", "tables_version"]
    changes: list[str]
    technical_before: float
    technical_after: float
    technical_change: MetricOut = Field(description="with its paired standard error")
    expected_loss_change: MetricOut
    price_change: MetricOut = Field(description="the technical change at the expiring adequacy")


class RenewalDecompositionOut(_Out):
    """The change from the expiring premium, step by step (docs/renewal.md)."""

    policy_id: str
    expiring_quote_id: str
    currency: str
    seed: str
    n_years: int
    expiring_tables_version: str
    tables_version: str
    expiring_technical: float
    renewal_technical: float
    expiring_premium: float = Field(description="P0: the premium bound")
    renewal_premium: float = Field(description="P1: the renewal quote's premium")
    steps: list[RenewalStepOut]
    adequacy_change: MetricOut
    technical_change: MetricOut
    expiring_adequacy: MetricOut
    renewal_adequacy: MetricOut
    risk_change: MetricOut = Field(description="T3 / T0 - 1")
    rate_change: MetricOut = Field(description="RARC: (P1 / P0) / (T3 / T0) - 1")
    pure_rate_change: MetricOut = Field(description="P1 - P0 T3 / T0, in money")


class RenewalOut(_Out):
    quote: QuoteOut = Field(description="the renewal quote: it may be offered and bound")
    decomposition: RenewalDecompositionOut


class RateGroupOut(_Out):
    key: str
    count: int
    renewals: int
    new_business: int
    premium: float
    technical: float
    renewal_premium: float
    expiring_premium: float
    risk_adjusted_expiring_premium: float
    rate_change: float | None = Field(description="RARC of the renewals; null without any")
    adequacy: float
    renewal_adequacy: float | None
    new_business_adequacy: float | None


class RateMonitoringOut(_Out):
    """RARC and adequacy of the policies written (bound), in all and by group."""

    policies: int
    book: RateGroupOut | None = Field(description="null while no policy is written")
    by_month: list[RateGroupOut]
    by_lab_category: list[RateGroupOut]
    by_underwriter: list[RateGroupOut]


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


def _iso_date_time(value: object) -> object:
    """A query's date-time is ISO 8601 text: a bare number (which pydantic would read as a Unix
    time) is refused, so the query means what the OpenAPI contract says it means."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("must be an ISO 8601 date-time such as 2026-12-06T00:00:00Z, not a number")
    return value


QueryDateTime = Annotated[dt.datetime, BeforeValidator(_iso_date_time)]
"""A date-time in a query string: ISO 8601 text only."""
