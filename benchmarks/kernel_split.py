"""Where the compiled kernel's time goes: the figures behind docs/performance.md's analysis.

Usage::

    UW_THREADS=1 python benchmarks/kernel_split.py [--years 2000000] [--repeats 3]

Prints CPU seconds (``time.process_time``, best of ``--repeats``; CPU time is less disturbed than
wall time on a shared machine):

1. the reference model: NumPy's PCG64 floor; a minimal compiled loop with the engine's own
   randomness (hash, count, AS241 quantile, ``exp``, the reference terms) and nothing else; the
   kernel without and with the year loss table;
2. each example lab at ``--years`` years, the size of a quote at the default precision: the
   kernel with the labs' rates divided by 10**9 (the per-(scenario, year) count draws alone), with
   one set of terms, with the year loss table, and with the quote's term variants.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence

import numba
import numpy as np
from _common import EXAMPLES, floor_draws, load_model

import underwriting as uw
from underwriting.engine import _compiled, _plan, _scalar, _threads, stream_keys
from underwriting.quote import _term_variants
from underwriting.rating import rate_experience

BLOCK = 65_536


def _best(function: Callable[[], object], repeats: int) -> float:
    function()
    best = math.inf
    for _ in range(repeats):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def _minimal_loop(years: int, table: np.ndarray) -> float:
    """The reference model with the engine's draws and terms, specialised by hand."""
    uniform, ndtri, year_state = _scalar.uniform, _scalar.ndtri, _scalar.year_state
    total = 0.0
    for year in range(years):
        state = year_state(np.uint64(1), np.uint64(2), year)
        q = uniform(state, 0, 0)
        lo, hi = 0, table.shape[0]
        while lo < hi:
            mid = (lo + hi) // 2
            if table[mid] >= q:
                lo = mid + 1
            else:
                hi = mid
        paid = 0.0
        for event in range(1, lo + 1):
            loss = math.exp(10.0 + 1.5 * ndtri(uniform(state, event, 0)))
            paid += min(max(loss - 10_000.0, 0.0), 500_000.0)
        total += min(paid, 1_000_000.0)
    return total


def _kernel_run(
    profile: uw.RiskProfile, terms: Sequence[uw.PolicyTerms], keep: Sequence[bool], years: int
) -> Callable[[], None]:
    plan = _plan.make_plan(profile, stream_keys(profile, 1), terms)
    assert plan is not None

    def run() -> None:
        for first in range(0, years, BLOCK):
            _compiled.run_block(plan, first, min(BLOCK, years - first), keep)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=2_000_000, help="years for the labs")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    _compiled.warm_up()
    print(f"threads {_threads.threads()}; CPU seconds, best of {args.repeats}")

    ref = load_model("ref")
    table = uw.Poisson(rate=2.0).survival_table
    minimal = numba.njit(_minimal_loop)
    years = 1_000_000
    print(f"\nreference model, {years:,} years")
    for name, run in (
        ("PCG64 floor", lambda: floor_draws(ref.profile, years, 1)),
        ("minimal loop, engine's randomness", lambda: minimal(years, table)),
        ("kernel, no year loss table", _kernel_run(ref.profile, [ref.terms], [False], years)),
        ("kernel, with the table", _kernel_run(ref.profile, [ref.terms], [True], years)),
    ):
        print(f"  {name:<36}{_best(run, args.repeats):>8.3f}")

    tables = uw.load_rating_tables()
    print(f"\nexample labs, {args.years:,} years")
    print(f"  {'lab':<24}{'no events':>10}{'1 terms':>10}{'+ table':>10}{'quote':>10}")
    for path in sorted(EXAMPLES.glob("*.json")):
        request = uw.QuoteRequest.model_validate_json(path.read_text())
        base = uw.RiskProfile.from_submission(request.submission, tables)
        profile = rate_experience(request.submission, base, tables.pricing.experience).apply(base)
        quiet = profile.model_copy(
            update={
                "scenarios": tuple(
                    s.model_copy(
                        update={"frequency": s.frequency.with_rate(s.frequency.mean / 1e9)}
                    )
                    for s in profile.scenarios
                )
            }
        )
        sets = [request.terms, *_term_variants(request.terms).values()]
        figures = [
            _best(_kernel_run(quiet, [request.terms], [False], args.years), args.repeats),
            _best(_kernel_run(profile, [request.terms], [False], args.years), args.repeats),
            _best(_kernel_run(profile, [request.terms], [True], args.years), args.repeats),
            _best(
                _kernel_run(profile, sets, [True] + [False] * (len(sets) - 1), args.years),
                args.repeats,
            ),
        ]
        print(f"  {path.stem:<24}" + "".join(f"{f:>10.3f}" for f in figures))


if __name__ == "__main__":
    main()
