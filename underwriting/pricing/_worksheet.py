"""The premium worksheet: every step from the tables' rates to the total payable, as rows.

The value of each kind of term (deductibles, sub-limits, the aggregate limit, the share) is
measured on the same simulated events with that kind removed: the expected loss it takes off
(``worksheet_term_values = "expected_loss"``, the released tables), or the technical premium it
takes off, priced with the same settings, with the expected loss beside it in the explanation
(``"premium"``). The premium effect is the larger (expenses, profit and the risk load ride on
the loss); with ``"premium"`` the worksheet's numbers are also rounded for a person: money to the
currency unit, rates and factors to 3 significant figures. docs/pricing.md "The worksheet".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from underwriting.pricing._pricing import (
    Premium,
    StratifiedYears,
    WorksheetRow,
    batch_error,
    technical_premium,
)
from underwriting.rating import ExperienceRating, PremiumSettings, RatingTables, RiskProfile
from underwriting.results import SimulationResult

TERM_EXPLANATIONS = {
    "deductibles": "what the deductibles, franchise and waiting period take off the expected loss",
    "sub_limits": "what the per-occurrence and section aggregate limits and the indemnity period "
    "take off",
    "aggregate_limit": "what the policy annual aggregate limit takes off",
    "share": "what the insurer's share takes off",
}
"""What each kind of term takes off the expected loss, by the name of its term variant."""


def _credibility_rows(
    experience: ExperienceRating, factor: Callable[[float], float]
) -> list[WorksheetRow]:
    """The credibility: one Z (``fixed_k``), or one row per rated scenario (``poisson_gamma``)."""
    if not experience.years_observed:
        return [
            WorksheetRow(
                "experience: credibility Z",
                0.0,
                "no claims history: Z = 0, the tables' rates apply",
            )
        ]
    if experience.method != "poisson_gamma":
        return [
            WorksheetRow(
                "experience: credibility Z",
                factor(experience.credibility),
                "Buhlmann-Straub Z = w / (w + k), capped",
            )
        ]
    w = experience.years_observed
    rows = []
    for item in experience.scenarios:
        if not item.rated:
            continue
        if math.isinf(item.credibility_k):
            text = (
                f"no rate uncertainty in the tables (Poisson): Z = 0; {item.claims} claim(s) "
                f"against {item.expected_claims:.3g} expected"
            )
        else:
            text = (
                f"Poisson-gamma: k = 1 / (cv^2 x rate above the threshold) = "
                f"{item.credibility_k:,.0f} lab-years, Z = {w:g} / ({w:g} + k); "
                f"{item.claims} claim(s) against {item.expected_claims:.3g} expected; rate "
                f"{item.table_rate:.3g} -> {item.adjusted_rate:.3g}"
            )
        name = f"experience: credibility Z {item.scenario}"
        rows.append(WorksheetRow(name, factor(item.credibility), text))
    return rows


def _stratified_text(stratified: StratifiedYears, tables: RatingTables, own: int) -> str:
    """Where a stratified expected loss comes from, with its error by batch means."""
    batches = tables.pricing.precision.batches
    error = batch_error(stratified.batches(tables.pricing.premium, batches)[1])
    return (
        f"weighted mean over {sum(stratified.years):,} simulated years in "
        f"{len(stratified.strata)} strata by rare scenario, standard error {error:,.0f} "
        f"(the distribution shown: {own:,} years)"
    )


def _sig3(value: float) -> float:
    """``value`` to 3 significant figures."""
    return float(f"{value:.3g}")


def worksheet(
    tables: RatingTables,
    profile: RiskProfile,
    experience: ExperienceRating,
    result: SimulationResult,
    variants: Mapping[str, SimulationResult],
    premium: Premium,
    stratified: StratifiedYears | None = None,
) -> tuple[WorksheetRow, ...]:
    """Every step of a quote's build-up as rows a person can follow, rates to total payable.

    Parameters
    ----------
    tables
        The rating tables the quote was made with (version, currency, premium settings).
    profile, experience
        The lab's risk profile with its experience applied, and the experience rating.
    result
        The simulation under the quoted terms.
    variants
        Simulations of the same events under the terms with one kind of term removed, by name:
        ``"ground_up"`` (no terms) and, where the terms have them, ``"deductibles"``,
        ``"sub_limits"``, ``"aggregate_limit"`` and ``"share"`` (see ``TERM_EXPLANATIONS``).
    premium
        The premium priced on ``result``.
    stratified
        The strata of years the premium was estimated on (tables 2026.5 on), if any: the
        expected loss's row then says so, with its error from the strata.
    """
    settings = tables.pricing.premium
    money = tables.currency
    by_premium = settings.worksheet_term_values == "premium"

    def amount(value: float) -> float:
        return float(round(value)) if by_premium else value

    def factor(value: float) -> float:
        return _sig3(value) if by_premium else value

    def step_text(name: str, value: float, explanation: str) -> str:
        if not by_premium:
            return f"{name} {value:g} ({explanation})"
        if name == "exposure":
            explanation = f"{explanation}, from the submission"
        return f"{name} {value:.3g} ({explanation})"

    adjusted = sum(any(step.name == "experience" for step in s.rating) for s in profile.scenarios)
    rows = [
        WorksheetRow(
            "rating tables",
            None,
            f"version {tables.version}, effective {tables.effective_date}, amounts in {money}",
        ),
        WorksheetRow("experience: claims", experience.claims_count, experience.explanation),
        *_credibility_rows(experience, factor),
        WorksheetRow(
            "experience: applied",
            float(adjusted),
            f"applied: the rates of {adjusted} scenario(s) are credibility-weighted by the "
            "claims, so this expected loss differs from a simulation of the lab at the tables' "
            "rates (simulate, underwriting simulate, POST /v1/simulations)"
            if adjusted
            else "not applied: the tables' rates, as a simulation of the lab uses",
        ),
    ]
    for scenario in profile.scenarios:
        steps = "; ".join(step_text(s.name, s.value, s.explanation) for s in scenario.rating)
        rows.append(
            WorksheetRow(
                f"rate: {scenario.id}",
                factor(scenario.frequency.mean),
                f"events per year = product of {steps}" if steps else "events per year",
            )
        )
    ground_up = variants["ground_up"].mean
    first = variants["ground_up"].n_years
    rows.append(
        WorksheetRow(
            "expected loss before terms",
            amount(ground_up),
            "expected annual ground-up loss of the covered sections"
            + ("" if first == result.n_years else f" (the first {first:,} simulated years)"),
        )
    )
    if by_premium:
        rows += _premium_effects(result, variants, settings, money)
    else:
        taken = 0.0
        for name, explanation in TERM_EXPLANATIONS.items():
            if name in variants:
                value = result.mean - variants[name].mean
                taken += value
                rows.append(WorksheetRow(f"value of {name.replace('_', ' ')}", value, explanation))
        rows.append(
            WorksheetRow(
                "interaction of terms",
                (result.mean - ground_up) - taken,
                "what the terms take together beyond the sum of the rows above",
            )
        )
    lae_rows = (
        [
            WorksheetRow(
                "loss adjustment expense",
                amount(premium.lae),
                f"allocated {settings.alae_ratio:.1%} + unallocated {settings.ulae_ratio:.1%} "
                f"= {settings.lae_ratio:.1%} of the expected insured loss (docs/sources.md#s65)",
            )
        ]
        if settings.lae_ratio > 0
        else []
    )
    build_up = (
        "expected loss + LAE + risk load + fixed expense"
        if settings.lae_ratio > 0
        else "expected loss + risk load + fixed expense"
    )
    rows += [
        WorksheetRow(
            "expected insured loss",
            amount(premium.expected_loss),
            f"mean over {result.n_years:,} simulated years, standard error "
            f"{result.standard_error():,.0f}"
            if stratified is None
            else _stratified_text(stratified, tables, result.n_years),
        ),
        *lae_rows,
        WorksheetRow(
            "risk load",
            amount(premium.risk_load),
            (
                f"cost of capital {settings.cost_of_capital_rate:.1%} x capital share "
                f"{settings.capital_share:.0%} x (VaR {settings.capital_level:.1%} "
                f"{result.var(settings.capital_level):,.0f} - expected loss)"
                if settings.risk_load_method == "cost_of_capital"
                else (
                    f"cost of capital {settings.cost_of_capital_rate:.1%} x this policy's Euler "
                    f"share of the reference book's capital (co-TVaR "
                    f"{settings.capital_model.tvar_level:.0%} against the book - expected loss)"
                    if settings.risk_load_method == "book_tvar_euler"
                    and settings.capital_model is not None
                    else f"Wang transform premium (lambda {settings.wang_lambda:g}) - expected loss"
                )
            ),
        ),
        WorksheetRow("fixed expense", amount(premium.fixed_expense), "per policy"),
        WorksheetRow(
            "technical premium",
            amount(premium.technical),
            f"({build_up}) / {settings.premium_divisor:.3f}; "
            f"standard error {premium.standard_error:,.0f} ({premium.relative_error:.2%})",
        ),
        WorksheetRow(
            "variable expenses",
            amount(premium.variable_expenses),
            f"{settings.variable_expense_ratio:.1%} of the technical premium",
        ),
        WorksheetRow(
            "commission", amount(premium.commission), f"{settings.commission_ratio:.1%} of it"
        ),
        WorksheetRow("profit", amount(premium.profit), f"{settings.profit_margin:.1%} of it"),
        WorksheetRow(
            "minimum premium",
            premium.minimum,
            "applied: the technical premium is below it"
            if premium.minimum_applied
            else "not applied",
        ),
        WorksheetRow(
            "premium",
            premium.total,
            f"rounded to {settings.rounding_unit:g} {money}, before tax",
        ),
        WorksheetRow(
            "premium tax",
            premium.tax,
            f"VAT {settings.premium_tax_rate:.0%}, shown separately",
        ),
        WorksheetRow("total payable", premium.total_with_tax, "premium plus tax"),
    ]
    return tuple(rows)


def _premium_effects(
    result: SimulationResult,
    variants: Mapping[str, SimulationResult],
    settings: PremiumSettings,
    money: str,
) -> list[WorksheetRow]:
    """The 'value of' rows as premium effects: the technical premium with the quoted terms less
    the technical premium with one kind of term removed, on the same simulated years and with the
    same settings; the expected-loss effect stated beside it."""
    ground_up = variants["ground_up"]
    # The variants may cover the quote's first years only (tables 2026.4 on simulate them in the
    # first stage of the run): the quoted terms are then compared on those years.
    years = ground_up.n_years
    if years == result.n_years:
        quoted_losses, quoted_mean, where = result.annual_loss, result.mean, "same events"
    else:
        quoted_losses = result.annual_loss[:years]
        quoted_mean = float(quoted_losses.mean())
        where = f"the same first {years:,} simulated years"
    quoted = technical_premium(quoted_losses, settings)
    rows = []
    taken_premium = taken_loss = 0.0
    for name, explanation in TERM_EXPLANATIONS.items():
        if name not in variants:
            continue
        effect = quoted - technical_premium(variants[name].annual_loss, settings)
        loss = quoted_mean - variants[name].mean
        taken_premium += effect
        taken_loss += loss
        ratio = f"; {effect / loss:.3g}x it" if loss != 0 else ""
        rows.append(
            WorksheetRow(
                f"value of {name.replace('_', ' ')}",
                float(round(effect)),
                f"premium effect: {explanation.replace('expected loss', 'premium')} "
                f"(technical premium, {where}, same settings); expected loss effect "
                f"{loss:,.0f} {money}{ratio}",
            )
        )
    interaction = (quoted - technical_premium(ground_up.annual_loss, settings)) - taken_premium
    interaction_loss = (quoted_mean - ground_up.mean) - taken_loss
    rows.append(
        WorksheetRow(
            "interaction of terms",
            float(round(interaction)),
            "premium effect of the terms together beyond the sum of the rows above; expected "
            f"loss effect {interaction_loss:,.0f} {money}",
        )
    )
    return rows
