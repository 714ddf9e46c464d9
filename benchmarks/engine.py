"""Engine time, peak memory and the ratio to the floor: the reference model and the example labs.

Usage::

    python benchmarks/engine.py [--runs 5] [--years 1000000 10000000] [--threads 1|2]
                                [--models ref chemistry_high_hazard ...] [--seed 2026]
                                [--detail full|annual]

Each configuration (model x years) runs in a fresh Python process with ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to ``--threads``. In that process:

1. one engine run, ``uw.simulate(profile, terms, n_years=..., seed=..., detail=...)`` (``full``,
   the default, keeps the year loss table, ``annual`` the annual losses only), untimed: it warms up,
   and the process's peak resident memory (``ru_maxrss``) is read right after it, before
   anything else runs, so it is the engine's peak (imports included; the figure after the
   imports is reported too); the metrics (mean, sd, VaR 99.5%, TVaR 99% with their standard
   errors) are taken from its result;
2. one floor run, untimed (warm-up): see ``_common.py`` for what the floor draws;
3. ``--runs`` timed pairs, engine then floor, floor then engine, ... alternately, so that the
   machine's noise hits both alike (fewer runs, ``--reduced-runs``, when the untimed engine run
   took more than ``--max-run-seconds``).

The engine's time is the wall time of the ``uw.simulate`` call; the floor's, of the draws. Prints
a table, then one JSON line per configuration. The ratio is median engine time over median floor
time; the median of the per-pair ratios is in the JSON line too.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import example_names, floor_draws, load_model, machine

import underwriting as uw

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "UW_THREADS")
DEFAULT_YEARS = (1_000_000, 10_000_000)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _metric(metric: uw.Metric) -> dict[str, float]:
    return {"value": metric.value, "standard_error": metric.standard_error}


def _metrics(result: uw.SimulationResult) -> dict[str, dict[str, float]]:
    return {
        "mean": {"value": result.mean, "standard_error": result.standard_error()},
        "sd": {"value": result.std, "standard_error": result.standard_error("std")},
        "var_99.5": _metric(result.var_metric(0.995)),
        "tvar_99": _metric(result.tvar_metric(0.99)),
    }


def _time_engine(
    model_profile: uw.RiskProfile, terms: uw.PolicyTerms, years: int, seed: int, detail: Any
) -> float:
    gc.collect()
    started = time.perf_counter()
    uw.simulate(model_profile, terms, n_years=years, seed=seed, detail=detail)
    return time.perf_counter() - started


def _time_floor(profile: uw.RiskProfile, years: int, seed: int) -> float:
    gc.collect()
    started = time.perf_counter()
    floor_draws(profile, years, seed)
    return time.perf_counter() - started


def worker(name: str, years: int, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one configuration in this (fresh) process."""
    model = load_model(name)
    import_mib = _peak_mib()
    started = time.perf_counter()
    result = uw.simulate(
        model.profile, model.terms, n_years=years, seed=args.seed, detail=args.detail
    )
    first_engine = time.perf_counter() - started
    peak_mib = _peak_mib()
    metrics = _metrics(result)
    del result
    gc.collect()
    started = time.perf_counter()
    events, variates = floor_draws(model.profile, years, args.seed)
    first_floor = time.perf_counter() - started
    runs = args.runs if first_engine <= args.max_run_seconds else min(args.runs, args.reduced_runs)
    engine_s: list[float] = []
    floor_s: list[float] = []
    for number in range(runs):
        if number % 2 == 0:
            engine_s.append(_time_engine(model.profile, model.terms, years, args.seed, args.detail))
            floor_s.append(_time_floor(model.profile, years, args.seed))
        else:
            floor_s.append(_time_floor(model.profile, years, args.seed))
            engine_s.append(_time_engine(model.profile, model.terms, years, args.seed, args.detail))
    engine, floor = statistics.median(engine_s), statistics.median(floor_s)
    return {
        "benchmark": "engine",
        "model": name,
        "years": years,
        "threads": args.threads,
        "detail": args.detail,
        "runs": runs,
        "seed": args.seed,
        "engine_s": engine,
        "floor_s": floor,
        "ratio": engine / floor,
        "paired_ratio_median": statistics.median(
            e / f for e, f in zip(engine_s, floor_s, strict=True)
        ),
        "engine_runs_s": engine_s,
        "floor_runs_s": floor_s,
        "untimed_first_runs_s": {"engine": first_engine, "floor": first_floor},
        "peak_rss_mib": peak_mib,
        "rss_after_imports_mib": import_mib,
        "peak_rss_at_end_mib": _peak_mib(),
        "floor_events": events,
        "floor_variates": variates,
        "metrics": metrics,
        "environment": {variable: os.environ.get(variable, "") for variable in THREAD_VARIABLES},
        "machine": machine(),
    }


def _run_configuration(name: str, years: int, args: argparse.Namespace) -> dict[str, Any]:
    environment = dict(os.environ)
    environment.update({variable: str(args.threads) for variable in THREAD_VARIABLES})
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        name,
        str(years),
        "--runs",
        str(args.runs),
        "--reduced-runs",
        str(args.reduced_runs),
        "--max-run-seconds",
        str(args.max_run_seconds),
        "--seed",
        str(args.seed),
        "--threads",
        str(args.threads),
        "--detail",
        args.detail,
    ]
    finished = subprocess.run(command, env=environment, capture_output=True, text=True)
    if finished.returncode != 0:
        sys.stderr.write(finished.stderr)
        raise SystemExit(f"{name} at {years:,} years failed (exit {finished.returncode})")
    return dict(json.loads(finished.stdout.strip().splitlines()[-1]))


def _money(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else str(value)


def _print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'model':<24}{'years':>12}{'runs':>6}{'engine s':>10}{'floor s':>10}{'ratio':>8}"
        f"{'paired':>8}{'peak MiB':>10}{'imports':>9}{'events':>13}{'variates':>13}"
    )
    for row in rows:
        print(
            f"{row['model']:<24}{row['years']:>12,}{row['runs']:>6}{row['engine_s']:>10.3f}"
            f"{row['floor_s']:>10.3f}{row['ratio']:>7.2f}x{row['paired_ratio_median']:>7.2f}x"
            f"{row['peak_rss_mib']:>10,.0f}{row['rss_after_imports_mib']:>9,.0f}"
            f"{row['floor_events']:>13,}{row['floor_variates']:>13,}"
        )
    print(
        "\n(engine s, floor s: medians of the timed runs; ratio: their quotient; paired: median of "
        "the per-pair ratios;\n peak MiB: the process's peak RSS after the first engine run, "
        "imports included; imports: RSS before it;\n events, variates: what the floor drew)"
    )
    print(
        f"\n{'model':<24}{'years':>12}{'mean (s.e.)':>24}{'sd (s.e.)':>26}"
        f"{'VaR 99.5% (s.e.)':>28}{'TVaR 99% (s.e.)':>28}"
    )
    for row in rows:
        cells = [
            f"{_money(m['value'])} ({_money(m['standard_error'])})"
            for m in (row["metrics"][key] for key in ("mean", "sd", "var_99.5", "tvar_99"))
        ]
        print(
            f"{row['model']:<24}{row['years']:>12,}{cells[0]:>24}{cells[1]:>26}"
            f"{cells[2]:>28}{cells[3]:>28}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed engine/floor pairs")
    parser.add_argument("--years", type=int, nargs="+", default=list(DEFAULT_YEARS))
    parser.add_argument("--threads", type=int, choices=(1, 2), default=1)
    parser.add_argument(
        "--detail",
        choices=("full", "annual"),
        default="full",
        help="what uw.simulate keeps: 'full' (year loss table, OEP) or 'annual' (losses only)",
    )
    parser.add_argument(
        "--models", nargs="+", default=None, help="ref and/or example names (default: all)"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--max-run-seconds",
        type=float,
        default=30.0,
        help="an engine run slower than this uses --reduced-runs timed pairs",
    )
    parser.add_argument("--reduced-runs", type=int, default=3)
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "YEARS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.worker is not None:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args)))
        return
    models = args.models or ["ref", *example_names()]
    info = machine()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; python "
        f"{info['python']}, numpy {info['numpy']}, scipy {info['scipy']}; revision "
        f"{info['revision']}; {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(
        f"threads {args.threads} ({', '.join(f'{v}={args.threads}' for v in THREAD_VARIABLES)}); "
        f"runs {args.runs} ({args.reduced_runs} where an engine run takes over "
        f"{args.max_run_seconds:g} s); seed {args.seed}; detail {args.detail}; one fresh process "
        "per configuration",
        flush=True,
    )
    rows = []
    for years in args.years:
        for name in models:
            print(f"  {name} at {years:,} years ...", end="", file=sys.stderr, flush=True)
            started = time.perf_counter()
            rows.append(_run_configuration(name, years, args))
            print(f" {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    _print_table(rows)
    print()
    for row in rows:
        print(json.dumps(row, sort_keys=True))


if __name__ == "__main__":
    main()
