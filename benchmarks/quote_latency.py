"""Time per ``uw.quote`` at the default precision, in process: median and p95 per example lab.

Usage::

    python benchmarks/quote_latency.py [--runs N] [--target E] [--options K] [--baseline REV]
        [--tables VERSION] [--baseline-tables VERSION] [--load-tables] [--cold | --revision]

Prints, for each example, the rating tables, the simulated years the precision rule chose, the
relative standard error reached, the variance reduction of the control variates (tables 2026.4
on; 1 before), the median and 95th percentile of the wall time over the runs, and the median
CPU time of the process per quote (every thread's: above the wall time where the quote ran on
both cores, or where idle threads spun). ``--options K`` quotes each lab with ``K`` options (the
benchmarks' scaled options, ``_common.scaled_options``).
The first call (imports, loading the tables, the kernel) is excluded. With ``--load-tables``
every timed quote loads its tables too (``uw.load_rating_tables`` inside the timing, as
``uw.quote(request)`` does when a notebook or the CLI gives it no tables). The timed quotes repeat
the first, so they find its seed-free work (the rated profile, the exact means' integrals, the
plans' impact records) in the engine's memos; ``--cold`` clears them before each
(``clear_memos``; a checkout without one has nothing to clear), as a lab quoted for the first
time finds them (the stream keys, kept apart, stay: a new lab quoted with the tables' seed
finds its scenarios' keys too). ``--revision`` times a revision instead: each lab is quoted on
its own terms on cleared memos (untimed), then quoted again with its first section with a
deductible amount raised to twice that plus 1,000 (timed), as an underwriter revising one
section's terms.

With ``--baseline REV`` the same is measured on that revision too (a temporary git worktree,
imported ahead of this checkout, with the tables it serves by default or ``--baseline-tables``),
in separate processes that alternate with this checkout's run by run, so that both see the same
machine; the ratios after / before follow. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def child(
    runs: int,
    target: float | None,
    options: int,
    version: str | None,
    load_tables: bool,
    cold: bool = False,
    revision: bool = False,
) -> dict[str, Any]:
    """Time the quotes in this process: ``{lab: figures}``."""
    from _common import scaled_options

    import underwriting as uw
    import underwriting.engine

    # A baseline from before the memo has nothing to clear.
    clear = getattr(underwriting.engine, "clear_memos", None) if cold or revision else None

    tables = uw.load_rating_tables(version)
    uw.warm_up()
    figures: dict[str, Any] = {"package": uw.__file__, "tables": tables.version, "labs": {}}
    for path in sorted((ROOT / "examples").glob("*.json")):
        request = uw.QuoteRequest.model_validate_json(path.read_text(encoding="utf-8"))
        if target is not None:
            request = request.model_copy(update={"target_relative_error": target})
        if options:
            request = request.model_copy(update={"options": scaled_options(request.terms, options)})
        uw.quote_request(request, tables=tables)  # first call: the lab's caches, not timed
        timed = (
            request.model_copy(update={"terms": _revised(request.terms)}) if revision else request
        )
        times, cpu = [], []
        for _ in range(runs):
            if clear is not None:
                clear()
            if revision:
                uw.quote_request(request, tables=tables)  # the quote revised, not timed
            started, used = time.perf_counter(), time.process_time()
            q = uw.quote_request(
                timed, tables=uw.load_rating_tables(version) if load_tables else tables
            )
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - used)
        figures["labs"][path.stem] = {
            "times_s": times,
            "cpu_s": cpu,
            "years": q.provenance.n_years,
            "relative_error": q.premium.relative_error,
            "variance_reduction": getattr(q.premium, "variance_reduction", 1.0),  # 2026.4 on
            "premium": q.premium.total,
        }
    return figures


def _revised(terms: Any) -> Any:
    """``terms`` with the first section with a deductible amount raised to twice it plus 1,000."""
    name = next(
        n for n, s in sorted(terms.sections.items()) if s.deductible_percent_of_loss is None
    )
    section = terms.sections[name]
    raised = section.model_copy(update={"deductible": 2 * section.deductible + 1_000})
    return terms.model_copy(update={"sections": {**terms.sections, name: raised}})


def _run(
    source: Path,
    runs: int,
    target: float | None,
    options: int,
    version: str | None,
    load_tables: bool,
    cold: bool,
    revision: bool,
) -> dict[str, Any]:
    from _common import run_child

    arguments = ["--runs", str(runs), "--options", str(options)]
    arguments += ["--load-tables"] if load_tables else []
    arguments += ["--cold"] if cold else []
    arguments += ["--revision"] if revision else []
    arguments += [] if version is None else ["--tables", version]
    arguments += [] if target is None else ["--target", str(target)]
    return run_child(str(Path(__file__).resolve()), source, arguments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed quotes per example")
    parser.add_argument("--target", type=float, default=None, help="target relative error")
    parser.add_argument("--options", type=int, default=0, help="options per quote")
    parser.add_argument("--baseline", help="a git revision to measure in the same run")
    parser.add_argument(
        "--tables",
        help="the rating tables' version for this checkout (drafts too; default: newest)",
    )
    parser.add_argument(
        "--baseline-tables",
        help="the rating tables' version for the baseline (drafts too; default: its newest)",
    )
    parser.add_argument(
        "--load-tables",
        action="store_true",
        help="load the tables inside each timed quote, as uw.quote(request) does without them",
    )
    first = parser.add_mutually_exclusive_group()
    first.add_argument(
        "--cold",
        action="store_true",
        help="clear the engine's memo before each timed quote (a lab quoted for the first time)",
    )
    first.add_argument(
        "--revision",
        action="store_true",
        help="time a revision of one section's deductible, after the lab's quote on cleared memos",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(
            json.dumps(
                child(
                    args.runs,
                    args.target,
                    args.options,
                    args.tables,
                    args.load_tables,
                    args.cold,
                    args.revision,
                )
            )
        )
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import checkout, machine

    settings = {
        "runs": args.runs,
        "options": args.options,
        "load_tables": args.load_tables,
        "cold": args.cold,
        "revision": args.revision,
    }
    print(json.dumps({"machine": machine(), **settings}))
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    with tempfile.TemporaryDirectory() as scratch:
        sources = {"after": ROOT}
        if args.baseline:
            sources = {"before": checkout(args.baseline, Path(scratch) / "baseline"), **sources}
        try:
            # Alternating processes, one timed quote per lab each, so both checkouts share the
            # machine's drift.
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in sources}
            for _ in range(args.runs):
                for name, source in sources.items():
                    version = args.tables if name == "after" else args.baseline_tables
                    rounds[name].append(
                        _run(
                            source,
                            1,
                            args.target,
                            args.options,
                            version,
                            args.load_tables,
                            args.cold,
                            args.revision,
                        )
                    )
        finally:
            if args.baseline:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(Path(scratch) / "baseline")],
                    cwd=ROOT,
                    check=False,
                )
    header = f"{'lab':<24}{'checkout':<9}{'tables':>8}{'years':>11}{'rel. error':>11}"
    print(header + f"{'VR':>7}{'median s':>10}{'p95 s':>8}{'cpu s':>8}{'premium':>11}")
    summary: dict[str, Any] = {}
    for lab in rounds["after"][0]["labs"]:
        medians = {}
        for name, figures in rounds.items():
            times = [t for f in figures for t in f["labs"][lab]["times_s"]]
            cpu = [t for f in figures for t in f["labs"][lab].get("cpu_s", [])]
            last = figures[-1]["labs"][lab]
            medians[name] = statistics.median(times)
            summary.setdefault(lab, {})[name] = {"times_s": times, **last}
            print(
                f"{lab:<24}{name:<9}{figures[-1]['tables']:>8}{last['years']:>11,}"
                f"{last['relative_error']:>11.4f}{last['variance_reduction']:>7.1f}"
                f"{medians[name]:>10.3f}{float(np.percentile(times, 95)):>8.3f}"
                f"{statistics.median(cpu) if cpu else math.nan:>8.3f}{last['premium']:>11,.0f}"
            )
        if "before" in medians:
            print(f"{lab:<24}{'ratio':<9}{'':>48}{medians['after'] / medians['before']:>10.3f}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
