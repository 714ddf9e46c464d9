"""Time per ``uw.quote`` at the default precision, in process: median and p95 per example lab.

Usage::

    python benchmarks/quote_latency.py [--runs N] [--target E]

Prints, for each example, the simulated years the precision rule chose, the relative standard
error reached, and the median and 95th percentile of the wall time over the runs. The first call
(imports, loading the tables) is excluded and reported apart.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import underwriting as uw

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed quotes per example")
    parser.add_argument("--target", type=float, default=None, help="target relative error")
    args = parser.parse_args()
    started = time.perf_counter()
    tables = uw.load_rating_tables()
    print(f"tables {tables.version} loaded in {time.perf_counter() - started:.3f} s")
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
        f", numpy {np.__version__}; runs per lab: {args.runs}"
    )
    print(f"{'lab':<26}{'years':>11}{'rel. error':>12}{'median s':>10}{'p95 s':>9}{'premium':>12}")
    for path in sorted(EXAMPLES.glob("*.json")):
        request = uw.QuoteRequest.model_validate_json(path.read_text(encoding="utf-8"))
        if args.target is not None:
            request = request.model_copy(update={"target_relative_error": args.target})
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            q = uw.quote_request(request, tables=tables)
            times.append(time.perf_counter() - started)
        p95 = float(np.percentile(times, 95))
        print(
            f"{path.stem:<26}{q.provenance.n_years:>11,}{q.premium.relative_error:>12.4f}"
            f"{statistics.median(times):>10.3f}{p95:>9.3f}{q.premium.total:>12,.0f}"
        )


if __name__ == "__main__":
    main()
