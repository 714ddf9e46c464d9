"""Shared pieces of the benchmarks: the benchmarked models, the floor, and the machine.

The **floor** of a profile is the time NumPy's default generator (PCG64, through
``Generator.poisson``, ``.lognormal`` and the like) takes just to draw as many variates of the same
distributions as a simulation of that profile needs, and nothing else:

- per scenario, one count per simulated year at the scenario's rate (``poisson`` or
  ``negative_binomial``; a ``fixed`` count draws nothing);
- per event of the draw and per impact, one severity variate of the impact's family
  (``lognormal``, ``gamma``, ``pareto``; a spliced ``lognormal_gpd`` draws its lognormal body),
  whatever the basis (amount, damage ratio or downtime days);
- one uniform per event for an impact whose hit probability is below 1, one per event for each
  cascade trigger (and, for the events the trigger fires, the child's impacts as above), and one
  per event for the thinning of a shared (site-level) occurrence.

Events are counted from the draw itself. No terms, no sums, no copula: the engine's extra work
(the common severity factor, the Gaussian copula, the policy terms, the year loss table) is what
the ratio to the floor measures. Years are drawn in blocks of the engine's default size (65,536
years, fewer when a block would hold more than 2,000,000 expected events), so the arrays stay in
cache-sized pieces, as the engine's do.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy

import underwriting as uw
from underwriting.model import Severity

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

FLOOR_BLOCK_YEARS = 65_536
"""Years per block of the floor's draws (the engine's default block size)."""

FLOOR_MAX_EVENTS_PER_BLOCK = 2_000_000
"""Expected events per block above which the floor's blocks are made smaller (as the engine's)."""


@dataclass(frozen=True)
class Model:
    """A benchmarked profile with its terms."""

    name: str
    profile: uw.RiskProfile
    terms: uw.PolicyTerms


def reference_profile() -> uw.RiskProfile:
    """Scenario ``ref`` of issue 2: Poisson(2) events of LogNormal(10, 1.5) property losses.

    The same model as ``tests/conftest.py``'s ``reference_profile``.
    """
    return uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="ref",
                frequency=uw.Poisson(rate=2.0),
                severity=uw.LogNormal(mu=10.0, sigma=1.5),
                section="property",
            )
        ]
    )


def reference_terms() -> uw.PolicyTerms:
    """Per-occurrence deductible 10,000 and limit 500,000; annual aggregate limit 1,000,000."""
    return uw.PolicyTerms(
        sections={"property": uw.SectionTerms(deductible=10_000, limit=500_000)},
        aggregate_limit=1_000_000,
    )


def example_names() -> list[str]:
    """The example labs' names: the stems of ``examples/*.json``."""
    return [path.stem for path in sorted(EXAMPLES.glob("*.json"))]


def load_model(name: str, tables: uw.RatingTables | None = None) -> Model:
    """``ref`` (the reference model) or an example lab rated with the newest tables."""
    if name == "ref":
        return Model("ref", reference_profile(), reference_terms())
    path = EXAMPLES / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"unknown model {name!r}: give ref or one of {', '.join(example_names())}")
    request = uw.QuoteRequest.model_validate_json(path.read_text(encoding="utf-8"))
    tables = uw.load_rating_tables() if tables is None else tables
    return Model(name, uw.RiskProfile.from_submission(request.submission, tables), request.terms)


def floor_block_years(profile: uw.RiskProfile) -> int:
    """The floor's block of years: 65,536, fewer for profiles with many events a year."""
    rate = sum(
        s.occurrence.rate if s.occurrence is not None else s.frequency.mean
        for s in profile.scenarios
    )
    if rate <= 0:
        return FLOOR_BLOCK_YEARS
    return max(1, min(FLOOR_BLOCK_YEARS, int(FLOOR_MAX_EVENTS_PER_BLOCK / rate)))


def _counts(rng: np.random.Generator, scenario: uw.Scenario, n_years: int) -> npt.NDArray[np.int64]:
    """One count per year at the scenario's rate (the shared occurrence's rate if any)."""
    frequency = scenario.frequency
    rate = scenario.occurrence.rate if scenario.occurrence is not None else frequency.mean
    if isinstance(frequency, uw.Fixed):
        return np.full(n_years, frequency.count, dtype=np.int64)
    if isinstance(frequency, uw.NegativeBinomial):
        n = 1.0 / frequency.rate_cv**2
        return rng.negative_binomial(n, n / (n + rate), n_years)
    return rng.poisson(rate, n_years)


def _severities(rng: np.random.Generator, severity: Severity, n: int) -> None:
    """``n`` variates of the severity's family (a spliced lognormal-GPD draws its lognormal)."""
    if isinstance(severity, uw.LogNormal | uw.LogNormalGPD):
        rng.lognormal(severity.mu, severity.sigma, n)
    elif isinstance(severity, uw.Gamma):
        rng.gamma(severity.shape, severity.scale, n)
    elif isinstance(severity, uw.Pareto):
        rng.pareto(severity.alpha, n)
    else:  # pragma: no cover - a new family must be added here
        raise TypeError(f"no floor draw for severity family {type(severity).__name__}")


def _impacts(rng: np.random.Generator, scenario: uw.Scenario, n_events: int) -> int:
    """Draw every impact of ``n_events`` events of the scenario; return the variates drawn."""
    drawn = 0
    for impact in scenario.impacts:
        _severities(rng, impact.severity, n_events)
        drawn += n_events
        if impact.probability < 1.0:
            rng.random(n_events)
            drawn += n_events
    return drawn


def floor_draws(profile: uw.RiskProfile, n_years: int, seed: int) -> tuple[int, int]:
    """Draw the variates a run of ``n_years`` of the profile needs; return (events, variates)."""
    rng = np.random.default_rng(seed)
    block = floor_block_years(profile)
    children = {s.id: s for s in profile.scenarios}
    events = variates = 0
    for first in range(0, n_years, block):
        size = min(block, n_years - first)
        for scenario in profile.scenarios:
            counts = _counts(rng, scenario, size)
            variates += 0 if isinstance(scenario.frequency, uw.Fixed) else size
            total = int(counts.sum())
            if (
                scenario.occurrence is not None
                and scenario.frequency.mean < scenario.occurrence.rate
            ):
                taken = rng.random(total) < scenario.frequency.mean / scenario.occurrence.rate
                variates += total
                total = int(np.count_nonzero(taken))
            if total == 0:
                continue
            events += total
            variates += _impacts(rng, scenario, total)
            for cascade in profile.cascades:
                if cascade.parent != scenario.id:
                    continue
                triggered = int(np.count_nonzero(rng.random(total) < cascade.probability))
                variates += total
                if triggered:
                    variates += _impacts(rng, children[cascade.child], triggered)
    return events, variates


def _first_line(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def git_revision() -> str:
    """The checked-out commit, with ``+dirty`` when ``underwriting/`` has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "underwriting"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, str | int]:
    """The machine and library versions, for the record."""
    return {
        "cpu": _first_line("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count() or 0,
        "memory_gib": round(
            int((_first_line("/proc/meminfo", "MemTotal") or "0 kB").split()[0]) / 2**20
        ),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "revision": git_revision(),
    }


def scaled_options(terms: uw.PolicyTerms, count: int) -> list[uw.PolicyTerms]:
    """``count`` options of ``terms``: every deductible scaled by 0.5, 0.6, ... and the policy
    aggregate limit by 0.6, 0.65, ... (the 20-option quote of the benchmarks)."""
    options = []
    for number in range(count):
        scale = 0.5 + 0.1 * number
        sections = {
            name: section.model_copy(
                update={
                    "deductible": section.deductible * scale,
                    "deductible_minimum": section.deductible_minimum * scale,
                }
            )
            for name, section in terms.sections.items()
        }
        limit = terms.aggregate_limit
        options.append(
            uw.PolicyTerms(
                sections=sections,
                aggregate_limit=None if limit is None else limit * (0.6 + 0.05 * number),
                aggregate_deductible=terms.aggregate_deductible,
                share=terms.share,
            )
        )
    return options


def checkout(revision: str, where: Path) -> Path:
    """A detached git worktree of ``revision`` at ``where`` whose package finds its rating
    tables (to measure a baseline in the same run; remove it with ``git worktree remove``)."""
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(where), revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    # The installed package maps underwriting.rating_tables to rating_tables/ (pyproject).
    (where / "underwriting" / "rating_tables").symlink_to(where / "rating_tables")
    return where


def run_child(script: str, source: Path, arguments: list[str]) -> dict[str, Any]:
    """Run ``script --child arguments`` in a fresh process importing the package under
    ``source`` (this checkout or a baseline worktree); return the JSON of its last line, which
    must name the package it imported (``"package"``, checked to be ``source``'s)."""
    completed = subprocess.run(
        [sys.executable, script, "--child", *arguments],
        cwd=source,
        env={**os.environ, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} at {source} failed:\n{completed.stderr}")
    figures: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    if not figures["package"].startswith(str(source)):
        raise SystemExit(f"{source}: imported {figures['package']}, not its own package")
    return figures
