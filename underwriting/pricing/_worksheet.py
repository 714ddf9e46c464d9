"""The premium worksheet: every step from the tables' rates to the total payable, as rows.

The value of each kind of term (deductibles, sub-limits, the aggregate limit, the share) is the
expected loss it takes off, measured on the same simulated events with that kind removed.
"""

from __future__ import annotations

from collections.abc import Mapping

from underwriting.pricing._pricing import Premium, WorksheetRow
from underwriting.rating import ExperienceRating, RatingTables, RiskProfile
from underwriting.results import SimulationResult

TERM_EXPLANATIONS = {
    "deductibles": "what the deductibles, franchise and waiting period take off the expected loss",
    "sub_limits": "what the per-occurrence and section aggregate limits and the indemnity period "
    "take off",
    "aggregate_limit": "what the policy annual aggregate limit takes off",
    "share": "what the insurer's share takes off",
}
"""What each kind of term takes off the expected loss, by the name of its term variant."""


def worksheet(
    tables: RatingTables,
    profile: RiskProfile,
    experience: ExperienceRating,
    result: SimulationResult,
    variants: Mapping[str, SimulationResult],
    premium: Premium,
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
    """
    settings = tables.pricing.premium
    money = tables.currency
    adjusted = sum(any(step.name == "experience" for step in s.rating) for s in profile.scenarios)
    rows = [
        WorksheetRow(
            "rating tables",
            None,
            f"version {tables.version}, effective {tables.effective_date}, amounts in {money}",
        ),
        WorksheetRow("experience: claims", experience.claims_count, experience.explanation),
        WorksheetRow(
            "experience: credibility Z",
            experience.credibility,
            "Buhlmann-Straub Z = w / (w + k), capped"
            if experience.years_observed
            else "no claims history: Z = 0, the tables' rates apply",
        ),
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
        steps = "; ".join(f"{s.name} {s.value:g} ({s.explanation})" for s in scenario.rating)
        rows.append(
            WorksheetRow(
                f"rate: {scenario.id}",
                scenario.frequency.mean,
                f"events per year = product of {steps}" if steps else "events per year",
            )
        )
    ground_up = variants["ground_up"].mean
    rows.append(
        WorksheetRow(
            "expected loss before terms",
            ground_up,
            "expected annual ground-up loss of the covered sections",
        )
    )
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
    rows += [
        WorksheetRow(
            "expected insured loss",
            premium.expected_loss,
            f"mean over {result.n_years:,} simulated years, standard error "
            f"{result.standard_error():,.0f}",
        ),
        WorksheetRow(
            "risk load",
            premium.risk_load,
            (
                f"cost of capital {settings.cost_of_capital_rate:.1%} x capital share "
                f"{settings.capital_share:.0%} x (VaR {settings.capital_level:.1%} "
                f"{result.var(settings.capital_level):,.0f} - expected loss)"
                if settings.risk_load_method == "cost_of_capital"
                else f"Wang transform premium (lambda {settings.wang_lambda:g}) - expected loss"
            ),
        ),
        WorksheetRow("fixed expense", premium.fixed_expense, "per policy"),
        WorksheetRow(
            "technical premium",
            premium.technical,
            f"(expected loss + risk load + fixed expense) / {settings.premium_divisor:.3f}; "
            f"standard error {premium.standard_error:,.0f} ({premium.relative_error:.2%})",
        ),
        WorksheetRow(
            "variable expenses",
            premium.variable_expenses,
            f"{settings.variable_expense_ratio:.1%} of the technical premium",
        ),
        WorksheetRow("commission", premium.commission, f"{settings.commission_ratio:.1%} of it"),
        WorksheetRow("profit", premium.profit, f"{settings.profit_margin:.1%} of it"),
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
