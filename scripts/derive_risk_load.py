"""Derive the ``book_tvar_euler`` risk load's capital model from the reference book.

Usage::

    .venv/bin/python scripts/derive_risk_load.py [--tables 2026.3] [--years 200000] [--seed N]

Reads the ``[[reference_book]]`` rows of the tables' ``pricing.toml``, simulates the book with
the portfolio machinery (every lab on its own site, the tables' own rates, no experience) and
prints:

1. the book: its labs, expected loss, VaR and TVaR at ``tvar_level`` and capital
   ``K = TVaR - E[B]``, with the cost of capital ``rate * K``;
2. the exact Euler (co-TVaR) allocation of ``K`` to each row, from the simulation, and the risk
   load a single quote of one of the row's labs gets from the tabulated survival function (the
   approximation a quote uses: the lab against an independent copy of the book), with their
   ratio; the rows' approximate loads times their counts against ``rate * K``;
3. the ``[premium.capital_model]`` block to paste into ``pricing.toml``.

No parameter is chosen here: ``tvar_level`` and ``cost_of_capital_rate`` are read from the tables
(sourced in docs/pricing.md), everything else is the book's simulated distribution.
"""

from __future__ import annotations

import argparse
import hashlib
import math

import numpy as np

from underwriting.analysis import simulate_request
from underwriting.portfolio import (
    EXAMPLES_DIR,
    reference_book,
    reference_book_types,
    simulate_portfolio,
)
from underwriting.pricing import book_weights, risk_load_standard_error
from underwriting.rating import load_rating_tables
from underwriting.rating._schemas import CapitalModel
from underwriting.results import quantile_index

# Non-exceedance levels at which the book's survival function is tabulated: dense in the upper
# tail, where a single lab's loss moves the book's total across the VaR.
LEVELS = (
    *(0.001, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75),
    *(round(0.8 + 0.01 * i, 4) for i in range(10)),
    *(round(0.9 + 0.002 * i, 4) for i in range(45)),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--tables", default="2026.3")
    parser.add_argument("--years", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=None, help="default: the tables' default_seed")
    parser.add_argument("--lab-years", type=int, default=4_000_000, help="years per single lab")
    args = parser.parse_args()
    tables = load_rating_tables(args.tables)
    premium = tables.pricing.premium
    level = premium.capital_model.tvar_level if premium.capital_model else 0.99
    rate = premium.cost_of_capital_rate
    seed = tables.pricing.precision.default_seed if args.seed is None else args.seed

    types = reference_book_types(tables)
    book = reference_book(tables)
    print(f"tables {tables.version}; reference book: {len(book.labs)} labs in {len(types)} rows")
    for (request, count), row in zip(types, tables.pricing.reference_book, strict=True):
        sha = hashlib.sha256((EXAMPLES_DIR / f"{row.template}.json").read_bytes()).hexdigest()
        sub = request.submission
        print(
            f"  {count:4d} x {row.template} x {row.value_scale:g} ({sub.lab_category}, grade "
            f"{sub.hazard_grade}, {sub.area_m2:,.0f} m2, TIV {sub.values.total_insured_value:,.0f};"
            f" template sha256 {sha[:12]})"
        )
    result = simulate_portfolio(book, n_years=args.years, seed=seed, tail_level=level)
    n = result.n_years
    losses = result.sorted_annual_loss
    expected = float(losses.mean())
    var = float(losses[quantile_index(n, level)])
    tvar = result.tvar(level)
    capital = tvar - expected
    print(
        f"book over {n:,} years (seed {seed}): E[B] {expected:,.0f} (s.e. "
        f"{result.standard_error():,.0f}); VaR {level:.1%} {var:,.0f}; TVaR {level:.1%} "
        f"{tvar:,.0f} (s.e. {result.standard_error('tvar', level):,.0f})"
    )
    print(
        f"capital K = TVaR - E[B] = {capital:,.0f}; "
        f"cost of capital {rate:.1%} x K = {rate * capital:,.0f}"
    )

    points = [(0.0, 1.0)]
    for u in LEVELS:
        loss = float(losses[quantile_index(n, u)])
        if round(loss) > round(points[-1][0]) and round(loss) < round(var):
            points.append((loss, 1.0 - u))
    points.append((var, 1.0 - level))
    model = CapitalModel(
        tvar_level=level,
        book_labs=len(book.labs),
        book_years=n,
        book_seed=seed,
        book_expected_loss=round(expected),
        book_var=round(var),
        book_tvar=round(tvar),
        survival_losses=tuple(float(round(x)) for x, _ in points),
        survival_probabilities=tuple(round(p, 6) for _, p in points),
    )
    settings = premium.model_copy(
        update={"risk_load_method": "book_tvar_euler", "capital_model": model}
    )
    sims = [
        simulate_request(
            request, n_years=args.lab_years, seed=seed, tables=tables, detail="annual"
        ).annual_loss
        for request, _ in types
    ]
    unscaled = sum(
        rate * float(np.mean(annual * (book_weights(annual, settings) - 1.0))) * count
        for annual, (_, count) in zip(sims, types, strict=True)
    )
    unscaled_error = math.sqrt(
        sum(
            (count * risk_load_standard_error(annual, settings, 25)) ** 2
            for annual, (_, count) in zip(sims, types, strict=True)
        )
    )
    kappa = rate * capital / unscaled
    print(
        f"quotes' loads before scaling, times counts: {unscaled:,.0f} "
        f"(s.e. {unscaled_error:,.0f}); "
        f"allocation_scale kappa = {rate * capital:,.0f} / {unscaled:,.0f} = {kappa:.4f}"
    )
    model = model.model_copy(update={"allocation_scale": round(kappa, 4)})
    settings = settings.model_copy(update={"capital_model": model})

    print("\nEuler allocation of K by row (exact, in the book) and a single quote's risk load:")
    print(
        f"  {'row':36s} {'EL/lab':>10s} {'exact load/lab':>15s} {'quote load':>11s} {'ratio':>6s}"
    )
    start = 0
    approx_total = 0.0
    exact_total = 0.0
    for annual, (_, count), row in zip(sims, types, tables.pricing.reference_book, strict=True):
        stop = start + count
        mean = float(result.lab_means[start:stop].sum())
        co_tvar = float(result.lab_tail_means[start:stop].sum())
        exact = rate * (co_tvar - mean) / count
        approx = rate * float(np.mean(annual * (book_weights(annual, settings) - 1.0)))
        approx_total += approx * count
        exact_total += exact * count
        label = f"{count} x {row.template} x {row.value_scale:g}"
        print(
            f"  {label:36s} {mean / count:10,.0f} {exact:15,.0f} {approx:11,.0f} "
            f"{approx / exact if exact else float('nan'):6.3f}"
        )
        start = stop
    print(
        f"sum of exact Euler loads {exact_total:,.0f} (= {rate:.1%} x K {rate * capital:,.0f}); "
        f"sum of quotes' loads x counts {approx_total:,.0f}, "
        f"{approx_total / (rate * capital) - 1:+.1%} of the book's cost of capital"
    )

    print(
        "\n[premium.capital_model]   # derived by scripts/derive_risk_load.py; do not edit by hand"
    )
    print(f"tvar_level = {model.tvar_level}")
    print(f"book_labs = {model.book_labs}")
    print(f"book_years = {model.book_years}")
    print(f"book_seed = {model.book_seed}")
    print(f"book_expected_loss = {model.book_expected_loss:.1f}")
    print(f"book_var = {model.book_var:.1f}")
    print(f"book_tvar = {model.book_tvar:.1f}")
    print(f"allocation_scale = {model.allocation_scale}")
    print("survival_losses = [" + ", ".join(f"{x:.1f}" for x in model.survival_losses) + "]")
    print(
        "survival_probabilities = ["
        + ", ".join(f"{p:g}" for p in model.survival_probabilities)
        + "]"
    )


if __name__ == "__main__":
    main()
