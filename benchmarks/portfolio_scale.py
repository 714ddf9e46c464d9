"""Time and peak memory of a portfolio simulation: many labs x many years, in blocks.

Usage::

    python benchmarks/portfolio_scale.py [--labs 1000] [--years 100000] [--sites 50]

The labs are copies of the three example labs with their own ids, spread over ``--sites`` sites.
Prints the wall time of each pass, the peak resident memory of the process, and the portfolio's
mean and TVaR 99% with standard errors.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import underwriting as uw

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=1_000)
    parser.add_argument("--years", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    templates = [
        uw.QuoteRequest.model_validate_json(path.read_text(encoding="utf-8"))
        for path in sorted(EXAMPLES.glob("*.json"))
    ]
    requests = []
    for number in range(args.labs):
        template = templates[number % len(templates)]
        submission = template.submission.model_copy(
            update={"lab_id": f"LAB-{number:05d}", "site_id": f"site-{number % args.sites:03d}"}
        )
        requests.append(template.model_copy(update={"submission": submission}))
    tables = uw.load_rating_tables()
    started = time.perf_counter()
    portfolio = uw.Portfolio(requests, tables=tables)
    rated = time.perf_counter() - started
    started = time.perf_counter()
    result = uw.simulate_portfolio(portfolio, n_years=args.years, seed=args.seed)
    simulated = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tvar = result.tvar_metric(0.99)
    print(f"labs {args.labs:,}, sites {args.sites}, years {args.years:,}")
    print(
        f"rating {rated:.1f} s, simulation (two passes) {simulated:.1f} s, peak RSS {peak:,.0f} MiB"
    )
    print(
        f"mean {result.mean:,.0f} (s.e. {result.standard_error():,.0f}); "
        f"TVaR 99% {tvar.value:,.0f} (s.e. {tvar.standard_error:,.0f})"
    )


if __name__ == "__main__":
    main()
