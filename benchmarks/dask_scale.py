"""A portfolio on Dask: 1 worker against 2, and a model of larger clusters from the measured costs.

Usage::

    python benchmarks/dask_scale.py [--labs 1000] [--years 100000] [--workers 1 2]
                                    [--block-size 10000] [--sites 50]

The labs are copies of the three example labs with their own ids, spread over ``--sites`` sites
(as in ``benchmarks/portfolio_scale.py``). Each worker count runs in a fresh process that starts
a ``LocalCluster`` of that many single-threaded worker processes (the scheduler runs in the
client's process) and simulates the portfolio with ``backend="dask"``. For each it prints the
wall time, the peak resident memory of the client (with the scheduler) and of each worker, the
pieces of work (one block of years x one group of ``LAB_GROUP_SIZE`` labs) and their mean compute
time from Dask's task stream. It checks the runs' results are bit-identical, measures the
scheduler's overhead per task with no-op tasks, and models the wall time on larger clusters:

    time(W) = rating + scatter + sum over passes of ceil(pieces / W) x piece time
              + tasks x overhead per task

(whole pieces per worker, so a cluster with more workers than pieces gains nothing more), with
the piece cost taken as the CPU time per piece of the one-worker run. ``--model-only PIECE_SECONDS
OVERHEAD_MS`` prints the model from given costs without running anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import underwriting as uw
from underwriting.engine import REDUCTION_FAN_IN
from underwriting.portfolio import LAB_GROUP_SIZE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _portfolio(labs: int, sites: int) -> uw.Portfolio:
    templates = [
        uw.QuoteRequest.model_validate_json(path.read_text(encoding="utf-8"))
        for path in sorted(EXAMPLES.glob("*.json"))
    ]
    requests = []
    for number in range(labs):
        template = templates[number % len(templates)]
        submission = template.submission.model_copy(
            update={"lab_id": f"LAB-{number:05d}", "site_id": f"site-{number % sites:03d}"}
        )
        requests.append(template.model_copy(update={"submission": submission}))
    return uw.Portfolio(requests, tables=uw.load_rating_tables())


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _noop(number: int) -> int:
    return number


def _one_run(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    """Simulate on a fresh cluster of ``workers`` processes; the figures as a dict."""
    import distributed

    started = time.perf_counter()
    portfolio = _portfolio(args.labs, args.sites)
    rating = time.perf_counter() - started
    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        # Warm the workers (imports), so the run measures the simulation.
        client.run(__import__, "underwriting.portfolio")
        cpu_before = sum(client.run(_cpu_seconds).values())
        load_before = os.getloadavg()[0]
        with distributed.get_task_stream(client) as stream:
            started = time.perf_counter()
            result = uw.simulate_portfolio(
                portfolio,
                n_years=args.years,
                seed=args.seed,
                block_size=args.block_size,
                backend="dask",
                client=client,
            )
            wall = time.perf_counter() - started
        worker_cpu = sum(client.run(_cpu_seconds).values()) - cpu_before
        load_after = os.getloadavg()[0]
        worker_peaks = client.run(_peak_rss_mib)
        # Scheduler overhead: no-op tasks through the same client, per task.
        tasks = 2_000
        started = time.perf_counter()
        client.gather(client.map(_noop, range(tasks), pure=False))
        overhead = (time.perf_counter() - started) / tasks
    # Compute time of each task from Dask's task stream: the pieces (one block of years x one
    # group of labs, in either pass: both simulate the whole group-block) and the combines.
    pieces: dict[str, list[float]] = {"pieces": [], "combines": []}
    for record in stream.data:
        key = record["key"] if isinstance(record["key"], str) else record["key"][0]
        compute = sum(
            s["stop"] - s["start"] for s in record["startstops"] if s["action"] == "compute"
        )
        if key.startswith("_call_part"):
            pieces["pieces"].append(compute)
        elif key.startswith("_call_combine"):
            pieces["combines"].append(compute)
    tvar = result.tvar_metric(0.99)
    return {
        "workers": workers,
        "rating_s": rating,
        "wall_s": wall,
        "worker_cores_used": worker_cpu / wall,
        "piece_cpu_s": worker_cpu / max(len(pieces["pieces"]), 1),
        "load_average": [load_before, load_after],
        "client_peak_mib": _peak_rss_mib(),
        "worker_peak_mib": sorted(worker_peaks.values()),
        "pieces": len(pieces["pieces"]),
        "combines": len(pieces["combines"]),
        "piece_s": float(np.mean(pieces["pieces"])),
        "combine_s": float(np.mean(pieces["combines"])) if pieces["combines"] else 0.0,
        "task_overhead_s": overhead,
        "mean": result.mean,
        "mean_se": result.standard_error(),
        "tvar": tvar.value,
        "tvar_se": tvar.standard_error,
        "digest": hashlib.sha256(
            result.annual_loss.tobytes() + result.lab_tail_means.tobytes()
        ).hexdigest(),
    }


def _modelled_seconds(
    workers: int, labs: int, years: int, block_size: int, piece_s: float, overhead_s: float
) -> tuple[float, int]:
    """Modelled wall time (both passes, the tail pass regenerating every block) and pieces."""
    blocks = math.ceil(years / block_size)
    groups = math.ceil(labs / LAB_GROUP_SIZE)
    pieces = blocks * groups
    # Piece time scales with the lab-years in a piece (the blocks' mean length).
    piece = piece_s * years / blocks / 10_000
    combines = blocks * math.ceil((groups - 1) / (REDUCTION_FAN_IN - 1))
    compute = 2 * math.ceil(pieces / workers) * piece
    return compute + 2 * (pieces + combines) * overhead_s, 2 * pieces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=1_000)
    parser.add_argument("--years", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--block-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--model-only",
        nargs=2,
        type=float,
        metavar=("PIECE_SECONDS", "OVERHEAD_MS"),
        help="print the model from these costs (a piece of 64 labs x 10,000 years in seconds of "
        "a core, the scheduler's overhead per task in ms) without running anything",
    )
    args = parser.parse_args()
    if args.model_only is not None:
        _print_model(args.model_only[0], args.model_only[1] / 1e3)
        return
    if args.one is not None:
        print(json.dumps(_one_run(args, args.one)))
        return
    environment = {**os.environ, **SINGLE_THREADED}
    print(f"machine: {json.dumps(machine())}")
    print(
        f"labs {args.labs:,} on {args.sites} sites, years {args.years:,}, blocks of "
        f"{args.block_size:,} years x groups of {LAB_GROUP_SIZE} labs, seed {args.seed}"
    )
    runs = []
    for workers in args.workers:
        command = [sys.executable, __file__, *sys.argv[1:], "--one", str(workers)]
        output = subprocess.run(
            command, capture_output=True, text=True, check=True, env=environment
        ).stdout
        run = json.loads(output.strip().splitlines()[-1])
        runs.append(run)
        print(
            f"{workers} worker(s): simulation {run['wall_s']:.1f} s "
            f"(rating {run['rating_s']:.1f} s before it); peak RSS client+scheduler "
            f"{run['client_peak_mib']:,.0f} MiB, workers "
            f"{', '.join(f'{m:,.0f}' for m in run['worker_peak_mib'])} MiB; pieces "
            f"{run['pieces']} (both passes), {run['piece_s']:.2f} s each, "
            f"combines {run['combines']} "
            f"({run['combine_s'] * 1e3:.1f} ms each); scheduler overhead "
            f"{run['task_overhead_s'] * 1e3:.2f} ms a task"
        )
        print(
            f"    the workers used {run['worker_cores_used']:.2f} cores on average (CPU time / "
            f"wall time); machine load average {run['load_average'][0]:.1f} before, "
            f"{run['load_average'][1]:.1f} after"
        )
        print(
            f"    mean {run['mean']:,.0f} (s.e. {run['mean_se']:,.0f}); "
            f"TVaR 99% {run['tvar']:,.0f} (s.e. {run['tvar_se']:,.0f})"
        )
    identical = all(r["digest"] == runs[0]["digest"] for r in runs)
    print(f"annual losses and TVaR contributions bit-identical across worker counts: {identical}")
    if len(runs) > 1:
        speedup = runs[0]["wall_s"] / runs[-1]["wall_s"]
        print(f"speed-up {runs[0]['workers']} -> {runs[-1]['workers']} workers: {speedup:.2f}x")
    # The model: the CPU time of a piece on the one-worker run (what a piece costs on a core of
    # its own; on this shared machine the workers got less than a core each) and the smallest
    # measured overhead per task.
    piece_s = runs[0]["piece_cpu_s"] * 10_000 / args.block_size
    overhead_s = min(r["task_overhead_s"] for r in runs)
    _print_model(piece_s, overhead_s)


def _print_model(piece_s: float, overhead_s: float) -> None:
    lab_years_per_s = LAB_GROUP_SIZE * 10_000 / piece_s
    print(
        f"model: a piece of {LAB_GROUP_SIZE} labs x 10,000 years costs {piece_s:.2f} s of a core "
        f"({lab_years_per_s:,.0f} lab-years/s, {1 / piece_s:.2f} pieces/s per worker); "
        f"{overhead_s * 1e3:.2f} ms of scheduler time a task"
    )
    cases = [
        ("1,000 labs x 100k", 1_000, 100_000, 10_000),
        ("10,000 labs x 1M", 10_000, 1_000_000, 10_000),
        ("10,000 x 1M, blocks 65,536", 10_000, 1_000_000, 65_536),
    ]
    print(f"{'workers':>8}" + "".join(f"{name:>30}" for name, *_ in cases))
    for workers in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512):
        row = [
            _modelled_seconds(workers, labs, years, block, piece_s, overhead_s)[0]
            for _, labs, years, block in cases
        ]
        print(f"{workers:>8}" + "".join(f"{seconds:>28,.0f} s" for seconds in row))


if __name__ == "__main__":
    main()
