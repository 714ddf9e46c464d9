"""Experience rating: the lab's own claims, weighed by Buhlmann-Straub credibility.

For every attritional scenario listed in the tables (``pricing.toml`` ``[experience]``), the
rate becomes the credibility-weighted mix of the lab's own claim rate and the tables' rate::

    Z = min(w / (w + k), Z_max)            w: years observed, k: Buhlmann-Straub k = EPV / VHM
    adjusted rate = Z * (claims / w) + (1 - Z) * rate

(`docs/sources.md#research-4-4`: Z_i = w_i / (w_i + s^2/a), premium = Z X_i + (1 - Z) mu).
Large-loss scenarios (major fire, explosion, natural catastrophe) are not rated on a single lab's
history; their claims are listed but do not move the rate. A lab with no history gets Z = 0,
and says so.

The adjusted rate rises with the tables' rate whatever the claims, so a higher hazard relativity
never lowers a premium, with or without history.

Method ``poisson_gamma`` (tables 2026.3 on, ``docs/pricing.md`` "Experience rating"): the
structural parameters come from each scenario's own rate uncertainty. A negative binomial
frequency with rate ``lam`` and ``rate_cv`` is a Poisson count whose rate is gamma distributed,
shape ``alpha = 1 / rate_cv**2``; only claims at or above the reporting threshold count, so the
rate they are compared with is ``lam_T = lam * S(T)``, ``S(T)`` the chance that an event's
ground-up loss reaches the threshold. The gamma posterior mean of ``lam_T`` after ``n`` claims
in ``w`` years is ``(alpha + n) / (alpha / lam_T + w)``, which is Buhlmann-Straub with
``k = 1 / (rate_cv**2 * lam_T)`` lab-years and ``Z = w / (w + k)``. A Poisson (or fixed)
frequency states no rate uncertainty: Z = 0. Claims are counted, never summed, so a large claim
moves the rate by one claim; its size is reported in :attr:`ExperienceRating.largest_claim` for
the referral rule.

Dates: rated as of a date (a quote's date), the history covers the ``years_observed`` years up to
it. A claim dated after that date is refused (``ProfileError`` naming the claim); a claim dated
before the observed window is listed but not counted, with a ``CLAIM_OUTSIDE_WINDOW`` warning.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from underwriting.errors import ProfileError, UnderwritingWarning
from underwriting.model import NegativeBinomial, Submission
from underwriting.rating._load import RatingTables
from underwriting.rating._profile import RatingStep, RiskProfile, Scenario
from underwriting.rating._schemas import ExperienceSettings


@dataclass(frozen=True, slots=True)
class ScenarioExperience:
    """The experience adjustment of one scenario."""

    scenario: str
    claims: int
    expected_claims: float
    table_rate: float
    adjusted_rate: float
    rated: bool
    credibility: float = field(default=0.0, compare=False)
    """``Z`` of this scenario (``poisson_gamma``; the common Z under ``fixed_k``)."""
    credibility_k: float = field(default=math.inf, compare=False)
    """``k`` in lab-years (``inf``: no credibility)."""
    threshold_survival: float = field(default=1.0, compare=False)
    """``S(T)``: the share of events reaching the reporting threshold."""


@dataclass(frozen=True, slots=True)
class ExperienceRating:
    """The lab's claims history and what it does to the rates.

    Attributes
    ----------
    years_observed
        ``w``, the years of history.
    credibility
        ``Z``, after the cap.
    claims_count, expected_claims
        Claims in the rated (attritional) scenarios, and the number the tables expect over the
        years observed.
    scenarios
        Per scenario with claims or rated: claims, expected claims, rates before and after.
    explanation
        One sentence for the worksheet.
    observed_from
        First day of the observed window (the rating date less ``years_observed`` years), or
        ``None`` when rated without a date.
    claims_outside_window
        Indices (in ``claims_history.claims``) of the claims dated before the observed window:
        listed, not counted.
    warnings
        A ``CLAIM_OUTSIDE_WINDOW`` warning for each of them (not part of comparisons or
        serialisation: the quote carries them).
    """

    years_observed: float
    credibility: float
    claims_count: int
    expected_claims: float
    scenarios: tuple[ScenarioExperience, ...]
    explanation: str
    observed_from: dt.date | None = None
    claims_outside_window: tuple[int, ...] = ()
    warnings: tuple[UnderwritingWarning, ...] = field(default=(), compare=False)
    largest_claim: float = field(default=0.0, compare=False)
    """The largest claim amount dated inside the observed window, in any scenario (0: none)."""
    method: str = field(default="fixed_k", compare=False)

    @property
    def actual_to_expected(self) -> float:
        """Claims over expected claims in the rated scenarios (0 when none are expected)."""
        return self.claims_count / self.expected_claims if self.expected_claims > 0 else 0.0

    def apply(self, profile: RiskProfile) -> RiskProfile:
        """The profile with every rated scenario's rate replaced by its adjusted rate."""
        if self.credibility == 0:
            return profile
        adjusted = {s.scenario: s for s in self.scenarios if s.rated}
        scenarios = []
        for scenario in profile.scenarios:
            change = adjusted.get(scenario.id)
            if change is None or change.adjusted_rate == change.table_rate:
                scenarios.append(scenario)
                continue
            # The rate is set to the adjusted rate itself (not multiplied by a ratio, which could
            # round one unit in the last place the wrong way and break monotonicity).
            factor = change.adjusted_rate / change.table_rate if change.table_rate else math.inf
            step = RatingStep(
                name="experience",
                value=factor if math.isfinite(factor) else change.adjusted_rate,
                explanation=f"{change.claims} claims in {self.years_observed:g} years against "
                f"{change.expected_claims:.3f} expected; Z = {change_z(self, change):.3f}",
            )
            scenarios.append(
                Scenario.model_validate(
                    {
                        **scenario.model_dump(exclude={"severity", "section"}),
                        "frequency": scenario.frequency.with_rate(change.adjusted_rate),
                        "rating": (*scenario.rating, step),
                    }
                )
            )
        return profile.model_copy(update={"scenarios": tuple(scenarios)})


def change_z(experience: ExperienceRating, change: ScenarioExperience) -> float:
    """The Z that moved a scenario's rate: its own under ``poisson_gamma``, else the common Z."""
    return change.credibility if experience.method == "poisson_gamma" else experience.credibility


SURVIVAL_DRAWS = 1 << 16
"""Events drawn to estimate ``S(T)`` (fixed seed: the same profile gives the same figure; its
standard error is at most 0.002)."""


SURVIVAL_CACHE_SIZE = 1024
"""``S(T)`` figures kept (scenario, threshold): a few per rated lab, a few hundred bytes each."""


def event_survival(scenario: Scenario, threshold: float, *, draws: int = SURVIVAL_DRAWS) -> float:
    """``S(T)``: the chance that one event of ``scenario`` costs at least ``threshold`` ground up.

    An event's cost is the sum over its impacts, drawn as the engine draws them (a section hit
    with its ``probability``, the Gaussian copula's common factor with squared loading
    ``factor_loading_squared``,
    damage ratios times the value at risk and capped at it, downtime days capped at
    ``max_days`` times the daily research cost, amounts capped at ``value``), estimated on a
    fixed-seed sample. 1 when the threshold is 0.
    """
    if threshold <= 0:
        return 1.0
    return _event_survival(scenario, threshold, draws)


@functools.lru_cache(maxsize=SURVIVAL_CACHE_SIZE)
def _event_survival(scenario: Scenario, threshold: float, draws: int) -> float:
    """``event_survival``, kept for the same scenario and threshold: every quote of a lab rated
    on the same tables asks for the same figures (a fixed-seed sample: the same answer)."""
    rng = np.random.default_rng(20263)
    factor = rng.standard_normal(draws)
    total = np.zeros(draws)
    for impact in scenario.impacts:
        own = rng.standard_normal(draws)
        hit = rng.random(draws) < impact.probability
        rho = impact.factor_loading_squared
        z = math.sqrt(rho) * factor + math.sqrt(1.0 - rho) * own
        loss = impact.capped(impact.severity.from_normal(z) * impact.severity_scale)
        if impact.basis == "downtime_days":
            assert impact.value is not None
            loss = loss * impact.value
        total += np.where(hit, loss, 0.0)
    return float(np.mean(total >= threshold))


def poisson_gamma(
    rate: float, rate_cv: float, claims: int, years: float
) -> tuple[float, float, float]:
    """Buhlmann-Straub on a Poisson count with a gamma rate: ``(k, Z, posterior rate)``.

    ``rate`` is the prior mean of the rate of the claims counted (above the reporting
    threshold) and ``rate_cv`` its coefficient of variation: ``alpha = 1 / rate_cv**2``,
    ``beta = alpha / rate``, ``k = beta = 1 / (rate_cv**2 * rate)`` lab-years,
    ``Z = w / (w + k)`` and the posterior mean ``(alpha + n) / (beta + w)``
    ``= Z * n / w + (1 - Z) * rate``.

    >>> k, z, posterior = poisson_gamma(0.05, 0.5, 2, 4)
    >>> round(k, 6), round(z, 4), round(posterior, 4)
    (80.0, 0.0476, 0.0714)
    """
    if rate <= 0:
        return math.inf, 0.0, rate
    alpha = 1.0 / rate_cv**2
    beta = alpha / rate
    return beta, years / (years + beta), (alpha + claims) / (beta + years)


DAYS_PER_YEAR = 365.25
"""A year of observed history, in days (for the window's first day)."""


def observed_window_start(as_of: dt.date, years_observed: float) -> dt.date:
    """First day of the ``years_observed`` years up to ``as_of``: ``as_of`` less
    ``floor(years_observed * 365.25)`` days (five years before 2026-11-29 is 2021-11-29)."""
    return as_of - dt.timedelta(days=math.floor(years_observed * DAYS_PER_YEAR))


def rate_experience(
    submission: Submission,
    profile: RiskProfile,
    settings: ExperienceSettings,
    *,
    as_of: dt.date | None = None,
) -> ExperienceRating:
    """Weigh the submission's claims history against the profile's rates.

    ``as_of`` is the date the history is rated at (a quote's date). With it, the history covers
    ``[as_of - years_observed, as_of]``: a claim dated after ``as_of`` is refused, and a claim
    dated before the window is listed in ``claims_outside_window`` with a warning but not
    counted. Without it (``None``) the dates are not checked and every claim counts.

    Raises
    ------
    ProfileError
        If a claim names a scenario that the profile does not know, or is dated after
        ``as_of``.
    """
    history = submission.claims_history
    known = {scenario.id: scenario for scenario in profile.scenarios}
    years = history.years_observed
    start = None if as_of is None else observed_window_start(as_of, years)
    threshold = settings.reporting_threshold
    counts: dict[str, int] = {}
    largest = 0.0
    below = 0
    outside: list[int] = []
    warnings: list[UnderwritingWarning] = []
    for number, claim in enumerate(history.claims):
        if claim.scenario not in known:
            raise ProfileError(
                f"claims_history.claims[{number}].scenario = {claim.scenario!r} is not a "
                f"scenario of this lab; allowed: {', '.join(sorted(known))}"
            )
        path = f"submission.claims_history.claims[{number}].date"
        if as_of is not None and claim.date > as_of:
            raise ProfileError(
                f"{path} = {claim.date.isoformat()} is after the quote date "
                f"{as_of.isoformat()}; a claim cannot be dated in the future (allowed: on or "
                f"before {as_of.isoformat()}; the {years:g} years observed run from "
                f"{observed_window_start(as_of, years).isoformat()})"
            )
        if start is not None and claim.date < start:
            outside.append(number)
            warnings.append(
                UnderwritingWarning(
                    code="CLAIM_OUTSIDE_WINDOW",
                    message=f"claim {number} ({claim.scenario}, {claim.date.isoformat()}) is "
                    f"dated before the {years:g} years observed ({start.isoformat()} to "
                    f"{as_of}): it is listed but not counted by "
                    "experience rating; give more years_observed if it belongs to the history",
                    field=path,
                    value=claim.date.isoformat(),
                )
            )
            continue
        largest = max(largest, claim.amount)
        if claim.amount < threshold:
            below += 1
            continue
        counts[claim.scenario] = counts.get(claim.scenario, 0) + 1
    fixed_k = settings.method == "fixed_k"
    if fixed_k:
        assert settings.credibility_k is not None
        credibility = (
            min(years / (years + settings.credibility_k), settings.max_credibility)
            if years
            else 0.0
        )
    else:
        credibility = 0.0
    rows = []
    for scenario_id in sorted(set(settings.scenarios) | set(counts)):
        scenario = known.get(scenario_id)
        if scenario is None:
            continue
        rate = scenario.frequency.mean
        rated = scenario_id in settings.scenarios
        claims = counts.get(scenario_id, 0)
        survival = event_survival(scenario, threshold) if rated and threshold > 0 else 1.0
        rate_above = rate * survival
        if fixed_k:
            assert settings.credibility_k is not None
            z, k = credibility, settings.credibility_k
            adjusted_above = (
                z * claims / years + (1 - z) * rate_above if rated and years > 0 else rate_above
            )
        elif rated and isinstance(scenario.frequency, NegativeBinomial):
            k, z, adjusted_above = poisson_gamma(
                rate_above, scenario.frequency.rate_cv, claims, years
            )
            if z > settings.max_credibility:  # the cap, where the tables set one below 1
                z = settings.max_credibility
                adjusted_above = z * claims / years + (1 - z) * rate_above
        else:  # no rate uncertainty in the tables (or not rated): no credibility
            k, z, adjusted_above = math.inf, 0.0, rate_above
        # Events below the threshold keep the tables' rate; those above take the adjusted one.
        adjusted = rate if survival == 1.0 else rate - rate_above + adjusted_above
        if not fixed_k:
            credibility = max(credibility, z)
        rows.append(
            ScenarioExperience(
                scenario=scenario_id,
                claims=claims,
                expected_claims=rate_above * years,
                table_rate=rate,
                adjusted_rate=adjusted_above if survival == 1.0 else adjusted,
                rated=rated,
                credibility=z,
                credibility_k=k,
                threshold_survival=survival,
            )
        )
    rated_rows = [row for row in rows if row.rated]
    claims_count = sum(row.claims for row in rated_rows)
    expected = sum(row.expected_claims for row in rated_rows)
    excluded = sum(row.claims for row in rows if not row.rated)
    if years == 0:
        explanation = "No claims history: credibility Z = 0, the tables' rates apply unchanged."
    elif not fixed_k:
        credible = [row for row in rated_rows if row.credibility > 0]
        explanation = (
            f"{claims_count} claims of at least {threshold:,.0f} in {years:g} years against "
            f"{expected:.2f} expected in the attritional scenarios; Poisson-gamma credibility "
            "per scenario, Z = w / (w + k), k = 1 / (rate_cv^2 x rate above the threshold): "
            + (
                ", ".join(
                    f"{row.scenario} k = {row.credibility_k:.0f}, Z = {row.credibility:.3f}"
                    for row in credible
                )
                if credible
                else "none"
            )
            + "; the other scenarios have no rate uncertainty in the tables, Z = 0"
        )
        if below:
            explanation += f"; {below} claim(s) below the reporting threshold not counted"
        if excluded:
            explanation += f"; {excluded} large-loss claims listed but not rated on"
    else:
        explanation = (
            f"{claims_count} claims in {years:g} years against {expected:.2f} expected in the "
            f"attritional scenarios; Z = min({years:g} / ({years:g} + {settings.credibility_k:g}), "
            f"{settings.max_credibility:g}) = {credibility:.3f}"
        )
        if excluded:
            explanation += f"; {excluded} large-loss claims listed but not rated on"
    if outside:
        assert start is not None
        explanation += (
            f"; {len(outside)} claim(s) dated before the observed window (from "
            f"{start.isoformat()}) not counted"
        )
    return ExperienceRating(
        years_observed=years,
        credibility=credibility,
        claims_count=claims_count,
        expected_claims=expected,
        scenarios=tuple(rows),
        explanation=explanation,
        observed_from=start,
        claims_outside_window=tuple(outside),
        warnings=tuple(warnings),
        largest_claim=largest,
        method=settings.method,
    )


def rate_with_experience(
    submission: Submission, tables: RatingTables, *, as_of: dt.date | None = None
) -> tuple[RiskProfile, ExperienceRating]:
    """Rate a submission with the tables, then weigh in its own claims: the profile a quote prices.

    The one recipe of quotes, portfolios and stress tests:
    :meth:`RiskProfile.from_submission`, then :func:`rate_experience` with the tables'
    ``[experience]`` settings, applied to the rated profile.

    Parameters
    ----------
    submission
        The lab, with its claims history.
    tables
        The rating tables it is rated with.
    as_of
        The quote's date: the observed window ends on it (see :func:`rate_experience`).

    Returns
    -------
    profile, experience
        The experience-rated profile and the experience rating behind it.

    Example
    -------
    >>> import json, pathlib
    >>> from underwriting.model import Submission
    >>> from underwriting.rating import load_rating_tables
    >>> data = json.loads(pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> profile, experience = rate_with_experience(
    ...     Submission.model_validate(data["submission"]), load_rating_tables())
    >>> experience.credibility >= 0
    True
    """
    base = RiskProfile.from_submission(submission, tables)
    experience = rate_experience(submission, base, tables.pricing.experience, as_of=as_of)
    return experience.apply(base), experience
