"""Where the error of a stratified quote's stratum of no rare event comes from.

Usage::

    .venv/bin/python scripts/stratum_residuals.py [--lab chemistry_high_hazard] [--tables 2026.5]
                                                  [--years 1000000] [--seed 11]

Simulates ``--years`` years of the lab's stratum of no rare event (``"(none)"``,
``underwriting.engine.rare_strata``) under the example's terms, with the year loss table and the
controls, and prints:

1. the share of the variance of each year's premium part (``BookYears.contributions``: the
   expected loss with LAE and the risk load's weighted part, per year) that the quote's four
   controls leave, and the share of that residual carried by the top 0.01 %, 0.1 % and 1 % of
   years;
2. the years with the largest residuals: their loss, their risk-load weight ``w``, the residual
   and the scenarios that hit them;
3. the residual with one more regressor on the same years, fitted by least squares: the sum over
   sections, or over scenarios, of ``w(Y) Y`` (``Y`` the section's or the scenario's loss in
   the year). This bounds what such a control could do; neither has an exact mean in the
   engine today, so neither can be used as a control variate yet;
4. for the year's loss alone (no weight), the residual with each section's annual aggregate
   limit removed in turn: which aggregate's binding the per-occurrence controls miss.

One run of one seed; docs/pricing.md ("Why chemistry's error is understated") cites two seeds.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

import underwriting as uw
from underwriting.engine import rare_strata, simulate_many
from underwriting.model import SECTIONS
from underwriting.pricing import BookYears, book_weights
from underwriting.rating import load_rating_tables, rate_with_experience

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
Floats = npt.NDArray[np.float64]


def residual(target: Floats, regressors: Sequence[Floats]) -> Floats:
    """``target`` less its least-squares fit on a constant and ``regressors``."""
    columns = [np.ones(target.size), *regressors]
    scale = [max(float(np.abs(c).max()), 1.0) for c in columns]
    design = np.vstack([c / s for c, s in zip(columns, scale, strict=True)]).T
    beta = np.linalg.lstsq(design, target, rcond=None)[0]
    return np.asarray(target - design @ beta)


def by_index(
    index: npt.NDArray[np.integer],
    years: npt.NDArray[np.integer],
    amounts: Floats,
    n: int,
    size: int,
) -> Floats:
    """``amounts`` summed by ``(index, year)``, shape ``(size, n)``."""
    table = np.zeros((size, n))
    np.add.at(table, (index.astype(np.int64), years.astype(np.int64)), amounts)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="chemistry_high_hazard")
    parser.add_argument("--tables", default="2026.5")
    parser.add_argument("--years", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    tables = load_rating_tables(args.tables)
    precision, settings = tables.pricing.precision, tables.pricing.premium
    if precision.stratify_below is None:
        raise SystemExit(f"tables {tables.version} do not stratify (no stratify_below)")
    request = uw.QuoteRequest.model_validate_json((EXAMPLES / f"{args.lab}.json").read_text())
    profile, _ = rate_with_experience(request.submission, tables, as_of=dt.date.today())
    quiet = rare_strata(profile, precision.stratify_below)[0]
    n = args.years

    def run(terms: uw.PolicyTerms) -> uw.SimulationResult:
        return simulate_many(
            quiet.profile, [terms], n_years=n, seed=args.seed, detail="full", controls=True
        )[0]

    result = run(request.terms)
    assert result.controls is not None
    assert result.year_loss_table is not None
    controls = [*result.controls, result.controls[0] ** 2]  # c1, c2, c3 and c4 = c1**2
    books = BookYears.of(result.annual_loss, settings)
    part = books.contributions(settings)
    left = residual(part, controls)
    squares = np.sort(left**2)[::-1]
    print(
        f"{args.lab}, tables {tables.version}, stratum {quiet.label} "
        f"(probability {quiet.probability:.4f}), {n:,} years, seed {args.seed}"
    )
    print(
        f"1. the four controls leave {left.var() / part.var():.2%} of the premium part's variance"
    )
    for share in (1e-4, 1e-3, 1e-2):
        top = max(int(n * share), 1)
        carried = squares[:top].sum() / squares.sum()
        print(f"   top {share:.2%} of years ({top:,}) carry {carried:.1%}")

    table = result.year_loss_table
    names = [s.id for s in quiet.profile.scenarios]
    scenarios = by_index(table.scenario, table.year, table.insured, n, len(names))
    sections = by_index(table.section, table.year, table.insured, n, len(SECTIONS))
    print("2. the largest residuals (loss, weight w, residual of the premium part, scenarios)")
    for year in np.argsort(-(left**2))[:8]:
        hit = ", ".join(
            f"{names[k]} {scenarios[k, year]:,.0f}" for k in np.flatnonzero(scenarios[:, year])
        )
        print(
            f"   {result.annual_loss[year]:>14,.0f} {books.weights[year]:>7.2f} "
            f"{left[year]:>14,.0f}  {hit}"
        )

    def weighted(amounts: Floats) -> Floats:
        return np.asarray(sum(book_weights(row, settings) * row for row in amounts))

    print("3. the residual with one more regressor, against the four controls alone")
    for label, amounts in (("sections", sections), ("scenarios", scenarios)):
        extra = residual(part, [*controls, weighted(amounts)])
        print(f"   + sum over {label} of w(Y) Y: x{extra.var() / left.var():.3f}")

    loss_left = residual(result.annual_loss, controls).var()
    print(f"4. the year's loss: the controls leave {loss_left / result.annual_loss.var():.2e}")
    data = request.terms.model_dump()
    for name, section in data["sections"].items():
        if section.get("aggregate_limit") is None:
            continue
        changed = {**data, "sections": {**data["sections"], name: {**section}}}
        changed["sections"][name]["aggregate_limit"] = None
        again = run(uw.PolicyTerms.model_validate(changed))
        assert again.controls is not None
        loss = again.annual_loss
        rest = residual(loss, [*again.controls, again.controls[0] ** 2]).var()
        print(f"   without {name}'s aggregate limit: x{rest / loss_left:.3f}")


if __name__ == "__main__":
    main()
