"""The bias a stratified quote's control-variate fits leave, against long runs of every stratum.

Usage::

    .venv/bin/python scripts/fit_bias.py [--lab chemistry_high_hazard] [--tables 2026.6]
        [--seeds 2000:2300] [--long-seeds 11,12,13] [--quiet-years 20000000]
        [--rare-years 2000000]

Quotes the example lab at the tables' target on every seed of ``--seeds`` (start:stop), and
again on each of ``--long-seeds`` with every stratum's years given (``strata_years``):
``--quiet-years`` in the stratum of no rare event and ``--rare-years`` in each rare one. A fit's
bias is of order 1/years, so at 20,000,000 and 2,000,000 years it is a few hundred times
smaller than in a quote, and the long runs' mean is the premium the quotes aim at, within its
own standard error. Prints, for the premium and for each stratum's part of it (its probability
times its mean premium part, ``BookYears.contributions``): the long runs' mean and its standard
error; the quotes' mean less the long runs', with the standard error of that difference; the
spread over seeds over the mean reported error; and the mean years. Strata are printed where
the difference exceeds twice its error, and the stratum of no rare event always.

docs/pricing.md ("The fits' bias") cites this script's figures at the defaults, for 2026.5 and
2026.6, with ``--lab chemistry_high_hazard`` and ``--lab bsl3_biobank``: about 10 minutes each
on two cores.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

import underwriting as uw
from underwriting.engine import NO_RARE_EVENT
from underwriting.pricing import StratumYears, premium_part
from underwriting.rating import PremiumSettings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _part(stratum: StratumYears, settings: PremiumSettings) -> tuple[float, float]:
    """The stratum's part of the technical premium before the fixed expense, and its error."""
    loss, weighted = stratum.means(0)
    part = premium_part(settings, loss, weighted)
    return stratum.probability * part, stratum.probability * stratum.error(settings, 0)


Figures = dict[str, tuple[float, float, int]]
"""``(value, standard error, years)`` of the premium (``PREMIUM``) and of each stratum's part."""
PREMIUM = "technical premium"


def _quote(
    request: uw.QuoteRequest, tables: uw.RatingTables, seed: int, years: dict[str, int] | None
) -> Figures:
    q = uw.quote(request.submission, request.terms, tables=tables, seed=seed, strata_years=years)
    if q.stratified is None:
        raise SystemExit(f"tables {tables.version} price this lab on one sample of years")
    settings = tables.pricing.premium
    figures = {s.label: (*_part(s, settings), s.years[0].loss.size) for s in q.stratified.strata}
    total = sum(years for _, _, years in figures.values())
    return {PREMIUM: (q.premium.technical, q.premium.standard_error, total)} | figures


def _compared(name: str, quotes: list[Figures], longs: list[Figures]) -> tuple[str, float, float]:
    """One line of the table, the quotes' mean less the long runs' and its standard error."""
    values = [q[name][0] for q in quotes]
    target = float(np.mean([q[name][0] for q in longs]))
    target_error = math.sqrt(float(np.mean([q[name][1] ** 2 for q in longs])) / len(longs))
    spread = float(np.std(values, ddof=1))
    difference = float(np.mean(values)) - target
    error = math.hypot(spread / math.sqrt(len(values)), target_error)
    reported = float(np.mean([q[name][1] for q in quotes]))
    years = float(np.mean([q[name][2] for q in quotes]))
    line = (
        f"{name:<28}{target:>14,.0f} ± {target_error:<5,.0f}{difference:>+10,.0f} ± {error:<7,.0f}"
        f"{100 * difference / target:>+8.3f} %{spread / reported:>11.2f}{years:>11,.0f}"
    )
    return line, difference, error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default="chemistry_high_hazard")
    parser.add_argument("--tables", default="2026.6")
    parser.add_argument("--seeds", default="2000:2300", help="start:stop of the quotes' seeds")
    parser.add_argument("--long-seeds", default="11,12,13")
    parser.add_argument("--quiet-years", type=int, default=20_000_000)
    parser.add_argument("--rare-years", type=int, default=2_000_000)
    args = parser.parse_args()
    request = uw.QuoteRequest.model_validate_json(
        (EXAMPLES / f"{args.lab}.json").read_text(encoding="utf-8")
    )
    tables = uw.load_rating_tables(args.tables)
    start, stop = (int(x) for x in args.seeds.split(":"))
    quotes = [_quote(request, tables, seed, None) for seed in range(start, stop)]
    labels = [label for label in quotes[0] if label != PREMIUM]
    years = {label: args.rare_years for label in labels} | {NO_RARE_EVENT: args.quiet_years}
    longs = [_quote(request, tables, int(s), years) for s in args.long_seeds.split(",")]
    print(
        f"{args.lab}, tables {args.tables}: {len(quotes)} quotes (seeds {args.seeds}) against "
        f"{len(longs)} long runs ({args.quiet_years:,} years without a rare event, "
        f"{args.rare_years:,} in each rare stratum)\n"
    )
    print(
        f"{'':<28}{'long runs':>14}{'':>8}{'quotes less long':>20}{'':>10}{'spread/rep':>11}"
        f"{'years':>11}"
    )
    for name in (PREMIUM, *labels):
        line, difference, error = _compared(name, quotes, longs)
        if name in (PREMIUM, NO_RARE_EVENT) or abs(difference) > 2 * error:
            print(line)


if __name__ == "__main__":
    main()
