"""Peak memory (and wall time) of the runs that hold the most memory, before and after a change.

Usage::

    python benchmarks/memory.py [--runs 3] [--baseline REV] [--cases annual-summary quote ...]
                                [--lab chemistry_high_hazard] [--years 10000000]

Cases, each run in a fresh Python process (the peak of a process is its own):

- ``annual-summary``: ``uw.simulate(lab, n_years=--years, detail="annual")`` and then its whole
  summary read (mean, standard deviation, VaR and TVaR at every level, AEP curve, each with its
  standard error: ``result.summary()``);
- ``full-summary``: the same with ``detail="full"`` (the year loss table, ground-up and
  largest-occurrence losses kept; the summary adds the OEP and the breakdowns);
- ``quote``: ``uw.quote_request`` of the lab's example request at the default precision;
- ``quote-20``: the same request with 20 options (the terms with every deductible scaled by
  0.5 to 2.4 and the policy aggregate limit by 0.6 to 1.55).

Each process loads the tables and runs ``uw.warm_up()`` first (so that a fresh install's
compiling is not counted), then reads its peak resident memory (``ru_maxrss``) as the
"after import" figure, runs the case, and reads it again. With ``--baseline REV`` every case is
also run on that revision (checked out in a temporary git worktree, imported ahead of this
checkout), alternating with this checkout run by run, so both see the same machine. Prints
medians over ``--runs`` and the ratios after / before, then one JSON line per case.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASES = ("annual-summary", "full-summary", "quote", "quote-20")
OPTIONS = 20


def child(case: str, lab: str, years: int) -> dict[str, Any]:
    """Run one case in this process; return its figures."""
    import resource

    from _common import scaled_options

    import underwriting as uw

    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    path = ROOT / "examples" / f"{lab}.json"
    request = uw.QuoteRequest.model_validate_json(path.read_text(encoding="utf-8"))
    tables = uw.load_rating_tables()
    uw.warm_up()
    before = peak_mib()
    started = time.perf_counter()
    figure: float
    if case in ("annual-summary", "full-summary"):
        profile = uw.RiskProfile.from_submission(request.submission, tables)
        detail = "annual" if case == "annual-summary" else "full"
        result = uw.simulate(profile, request.terms, n_years=years, seed=42, detail=detail)
        simulated = peak_mib()
        text = result.summary()
        figure = result.tvar(0.99)
        extra = {"after_simulate_mib": simulated, "summary_lines": len(text.splitlines())}
    else:
        if case == "quote-20":
            request = request.model_copy(update={"options": scaled_options(request.terms, OPTIONS)})
        q = uw.quote_request(request, tables=tables)
        figure = q.premium.total
        extra = {"n_years": q.provenance.n_years, "options": len(q.options)}
    return {
        "case": case,
        "lab": lab,
        "seconds": time.perf_counter() - started,
        "after_import_mib": before,
        "peak_mib": peak_mib(),
        "figure": figure,
        "package": uw.__file__,
        **extra,
    }


def _run(source: Path, case: str, lab: str, years: int) -> dict[str, Any]:
    from _common import run_child

    arguments = [case, "--lab", lab, "--years", str(years)]
    return run_child(str(Path(__file__).resolve()), source, arguments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="a git revision to measure in the same run")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--lab", default="chemistry_high_hazard")
    parser.add_argument("--years", type=int, default=10_000_000)
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.lab, args.years)))
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import checkout, machine

    print(json.dumps({"machine": machine(), "lab": args.lab, "years": args.years}))
    with tempfile.TemporaryDirectory() as scratch:
        sources = {"after": ROOT}
        if args.baseline:
            sources = {"before": checkout(args.baseline, Path(scratch) / "baseline"), **sources}
        try:
            for source in sources.values():  # compile the kernel once per checkout (not timed)
                subprocess.run(
                    [sys.executable, "-c", "import underwriting as uw; uw.warm_up()"],
                    cwd=source,
                    env={**os.environ, "PYTHONPATH": str(source)},
                    check=True,
                )
            header = f"{'case':<16}{'checkout':<9}{'peak MiB':>10}{'import MiB':>12}{'seconds':>9}"
            print(header + f"{'figure':>16}")
            for case in args.cases:
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sources}
                for _ in range(args.runs):
                    for name, source in sources.items():
                        runs[name].append(_run(source, case, args.lab, args.years))
                medians = {}
                for name, figures in runs.items():
                    peak = statistics.median(f["peak_mib"] for f in figures)
                    seconds = statistics.median(f["seconds"] for f in figures)
                    imported = statistics.median(f["after_import_mib"] for f in figures)
                    medians[name] = {"peak_mib": peak, "seconds": seconds}
                    print(
                        f"{case:<16}{name:<9}{peak:>10.0f}{imported:>12.0f}{seconds:>9.2f}"
                        f"{figures[0]['figure']:>16,.2f}"
                    )
                if "before" in medians:
                    peak_ratio = medians["after"]["peak_mib"] / medians["before"]["peak_mib"]
                    time_ratio = medians["after"]["seconds"] / medians["before"]["seconds"]
                    print(f"{case:<16}{'ratio':<9}{peak_ratio:>10.2f}{'':>12}{time_ratio:>9.2f}")
                print(json.dumps({"case": case, "medians": medians, "runs": runs}))
        finally:
            if args.baseline:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(Path(scratch) / "baseline")],
                    cwd=ROOT,
                    check=False,
                )


if __name__ == "__main__":
    main()
