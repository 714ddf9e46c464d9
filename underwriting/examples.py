"""``make examples``: simulate quote requests from files and print their summaries.

Each lab is simulated by :func:`underwriting.analysis.simulate_request`, as ``underwriting
simulate`` does; this module only reads the files and prints.

Usage::

    python -m underwriting.examples [--years N] [--seed S] [--detail annual] FILE [FILE ...]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from underwriting.analysis import simulate_request
from underwriting.rating import rating_tables_at
from underwriting.request import QuoteRequest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m underwriting.examples",
        description="Simulate quote requests and print each lab's loss summary.",
    )
    parser.add_argument("files", nargs="+", type=Path, help="quote request JSON files")
    parser.add_argument("--years", type=int, default=200_000, help="simulated years per lab")
    parser.add_argument(
        "--seed",
        type=str,
        default=None,
        help="seed (same seed, same figures); default the tables' default_seed, as quotes use",
    )
    parser.add_argument(
        "--tables",
        default=None,
        help="rating tables: a version name or a version folder (default: the newest)",
    )
    parser.add_argument(
        "--detail",
        choices=("full", "annual"),
        default="full",
        help="'annual' keeps the annual losses only: no OEP or breakdowns, 8 bytes a year",
    )
    args = parser.parse_args(argv)
    tables = rating_tables_at(args.tables)
    for path in args.files:
        try:
            request = QuoteRequest.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError) as error:
            print(f"{path}: cannot read the quote request:\n{error}", file=sys.stderr)
            return 2
        started = time.perf_counter()
        result = simulate_request(
            request, n_years=args.years, seed=args.seed, tables=tables, detail=args.detail
        )
        elapsed = time.perf_counter() - started
        tiv = request.submission.values.total_insured_value
        print(f"=== {path.name}: {request.submission.lab_id} ({request.submission.lab_name})")
        print(result.summary())
        print(
            f"\nexpected insured loss = {1000 * result.mean / tiv:.3f} per mille of total "
            f"insured value {tiv:,.0f}; simulated in {elapsed:.2f} s; peak memory "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
