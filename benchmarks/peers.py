"""The reference compound model in this engine and in peer libraries: time and accuracy.

Usage::

    python benchmarks/peers.py [--years 1000000] [--runs 5] [--log2 17] [--bucket 100]

The model is scenario ``ref`` of issue 2: Poisson(2) events, LogNormal(mu=10, sigma=1.5) ground-up
losses (SciPy's ``lognorm(s=1.5, scale=exp(10))``), per occurrence the layer of 500,000 xs 10,000
(``min(max(X - 10,000, 0), 500,000)``), and an annual aggregate limit of 1,000,000.

Methods, each where its library is installed (``pip install -e '.[bench]'``); a missing library
gets a line saying so:

* this engine, ``uw.simulate`` (Monte Carlo);
* GEMAct ``LossModel`` by Monte Carlo (``'mc'``) and by FFT (``'fft'``): every term, the
  aggregate limit as the layer's ``aggr_cover``;
* lossmodels ``CollectiveRiskModel`` (Monte Carlo) with a ``coverage.Layer`` severity: it has no
  annual aggregate limit, so the cap is applied to its samples here (``np.minimum``, timed with
  it); its FFT (``fft_aggregate_poisson`` on a discretised ``Layer``) likewise, as an extra;
* aggregate (FFT), from its DSL: ``agg Ref 2 claims 500000 xs 10000 sev exp(10) * lognorm 1.5 !
  poisson aggregate ceded to 1000000 xs 0`` (``!``: unconditional severity, so 2 is the ground-up
  claim count);
* for scale, the NumPy floor: just drawing the counts and the severities with PCG64.

The FFT methods share one grid: ``2**log2`` buckets of ``bucket`` (default 131,072 x 100, to
13.1 million). Timing: one untimed first call per method (imports, caches; its result gives the
accuracy figures), then ``--runs`` timed calls, interleaved (the order rotates each round), on
seeds ``seed + round``; ``cpu/wall`` is the process CPU time over the wall time of the timed
calls (above 1: more than one thread). Accuracy uses one set of estimators for every method
(the engine's: VaR the lower empirical quantile, TVaR = VaR + E[(S - VaR)+] / (1 - level)), on
the samples or on the discrete distribution a method returns; the reference is aggregate's FFT on
a finer grid (when installed) and the closed-form mean without the aggregate limit,
``lambda * (LEV(d + l) - LEV(d))``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import math
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import underwriting as uw

FloatArray = npt.NDArray[np.float64]

MU, SIGMA, RATE = 10.0, 1.5, 2.0
DEDUCTIBLE, LIMIT, AGGREGATE_LIMIT = 10_000.0, 500_000.0, 1_000_000.0
VAR_LEVEL, TVAR_LEVEL = 0.995, 0.99
REFERENCE_LOG2, REFERENCE_BUCKET = 20, 20.0


# --------------------------------------------------------------------------- closed form


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def lognormal_lev(u: float, mu: float = MU, sigma: float = SIGMA) -> float:
    """Limited expected value ``E[min(X, u)]`` of LogNormal(mu, sigma)."""
    log_u = math.log(u)
    mean = math.exp(mu + sigma**2 / 2)
    return mean * _normal_cdf((log_u - mu - sigma**2) / sigma) + u * (
        1.0 - _normal_cdf((log_u - mu) / sigma)
    )


def closed_form_mean() -> float:
    """Expected annual loss of the layer without the aggregate limit."""
    return RATE * (lognormal_lev(DEDUCTIBLE + LIMIT) - lognormal_lev(DEDUCTIBLE))


# --------------------------------------------------------------------------- estimators


@dataclass(frozen=True)
class Figures:
    """The accuracy figures of one method (``se_mean`` only for Monte Carlo)."""

    mean: float
    sd: float
    var: float
    tvar: float
    se_mean: float | None


def sample_figures(sample: FloatArray) -> Figures:
    """Figures of equally likely simulated years (the engine's estimators)."""
    ordered = np.sort(sample)
    n = ordered.size
    mean = float(ordered.mean())
    sd = float(ordered.std(ddof=1))
    var = float(ordered[min(max(math.ceil(n * VAR_LEVEL) - 1, 0), n - 1)])
    at = float(ordered[min(max(math.ceil(n * TVAR_LEVEL) - 1, 0), n - 1)])
    tvar = at + float(np.maximum(ordered - at, 0.0).mean()) / (1 - TVAR_LEVEL)
    return Figures(mean, sd, var, tvar, sd / math.sqrt(n))


def distribution_figures(
    nodes: FloatArray, probabilities: FloatArray, se_mean_years: int | None = None
) -> Figures:
    """Figures of a discrete distribution (FFT grids, GEMAct's empirical distribution)."""
    order = np.argsort(nodes, kind="stable")
    x = nodes[order]
    p = np.clip(probabilities[order], 0.0, None)
    p = p / p.sum()
    cdf = np.cumsum(p)
    mean = float(np.dot(p, x))
    sd = math.sqrt(float(np.dot(p, (x - mean) ** 2)))

    def quantile(level: float) -> float:
        index = int(np.searchsorted(cdf, level - 1e-12, side="left"))
        return float(x[min(index, x.size - 1)])

    var = quantile(VAR_LEVEL)
    at = quantile(TVAR_LEVEL)
    tvar = at + float(np.dot(p, np.maximum(x - at, 0.0))) / (1 - TVAR_LEVEL)
    se = sd / math.sqrt(se_mean_years) if se_mean_years else None
    return Figures(mean, sd, var, tvar, se)


# --------------------------------------------------------------------------- methods


@dataclass
class Evaluation:
    """What a method's first call gave: the figures and the means it can also tell."""

    figures: Figures | None
    uncapped_mean: float | None = None
    library_mean: float | None = None
    note: str = ""


@dataclass
class Method:
    """One way to compute the model: ``compute(seed)`` is timed, ``evaluate`` is not."""

    name: str
    package: str | None
    kind: str
    expresses: str
    compute: Callable[[int], Any]
    evaluate: Callable[[Any], Evaluation]


def _module(name: str) -> Any:
    return importlib.import_module(name)


def engine_method(years: int) -> Method:
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="ref",
                frequency=uw.Poisson(rate=RATE),
                severity=uw.LogNormal(mu=MU, sigma=SIGMA),
                section="property",
            )
        ]
    )

    def terms(aggregate_limit: float | None) -> uw.PolicyTerms:
        return uw.PolicyTerms(
            sections={"property": uw.SectionTerms(deductible=DEDUCTIBLE, limit=LIMIT)},
            aggregate_limit=aggregate_limit,
        )

    capped = terms(AGGREGATE_LIMIT)

    def compute(seed: int) -> uw.SimulationResult:
        return uw.simulate(profile, capped, n_years=years, seed=seed)

    def evaluate(result: uw.SimulationResult) -> Evaluation:
        figures = sample_figures(result.annual_loss)
        own = (result.mean, result.var(VAR_LEVEL), result.tvar(TVAR_LEVEL))
        mine = (figures.mean, figures.var, figures.tvar)
        agree = all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(own, mine, strict=True))
        uncapped = uw.simulate(profile, terms(None), n_years=years, seed=result.seed)
        note = "" if agree else f"engine's own metrics differ: {own}"
        return Evaluation(figures, uncapped_mean=uncapped.mean, note=note)

    return Method("engine uw.simulate", None, "MC", "all terms", compute, evaluate)


def floor_method(years: int) -> Method:
    def compute(seed: int) -> FloatArray:
        rng = np.random.default_rng(seed)
        counts = rng.poisson(RATE, years)
        severities: FloatArray = rng.lognormal(MU, SIGMA, int(counts.sum()))
        return severities

    def evaluate(_: Any) -> Evaluation:
        return Evaluation(None, note="draws only: Poisson counts and one lognormal per event")

    return Method("NumPy floor (PCG64 draws)", None, "draws", "(no terms)", compute, evaluate)


def lossmodels_mc_method(years: int) -> Method:
    lossmodels = _module("lossmodels")
    coverage = _module("lossmodels.coverage")
    layer = coverage.Layer(lossmodels.Lognormal(MU, SIGMA), d=DEDUCTIBLE, u=LIMIT)
    model = lossmodels.CollectiveRiskModel(lossmodels.Poisson(RATE), layer)

    def compute(seed: int) -> tuple[FloatArray, FloatArray]:
        sample = np.asarray(model.sample(years, rng=np.random.default_rng(seed)), dtype=float)
        return sample, np.minimum(sample, AGGREGATE_LIMIT)

    def evaluate(result: tuple[FloatArray, FloatArray]) -> Evaluation:
        uncapped, capped = result
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            analytic = float(model.mean())
        note = "aggregate limit applied here to its samples (np.minimum, timed)"
        if caught:
            note += f"; its analytic Layer mean warned: {type(caught[0].message).__name__}"
        return Evaluation(
            sample_figures(capped),
            uncapped_mean=float(uncapped.mean()),
            library_mean=analytic,
            note=note,
        )

    return Method(
        "lossmodels CollectiveRiskModel MC",
        "lossmodels",
        "MC",
        "layer per occurrence; no aggregate limit",
        compute,
        evaluate,
    )


def lossmodels_fft_method(log2: int, bucket: float) -> Method:
    lossmodels = _module("lossmodels")
    coverage = _module("lossmodels.coverage")
    aggregate = _module("lossmodels.aggregate")
    layer = coverage.Layer(lossmodels.Lognormal(MU, SIGMA), d=DEDUCTIBLE, u=LIMIT)
    frequency = lossmodels.Poisson(RATE)
    n = 1 << log2

    def compute(_: int) -> tuple[FloatArray, FloatArray]:
        severity = aggregate.discretize_severity(layer, bucket, LIMIT, method="midpoint")
        pmf = np.asarray(
            aggregate.fft_aggregate_poisson(frequency, severity, n - 1, on_mass_loss="ignore"),
            dtype=float,
        )
        nodes = np.arange(n, dtype=float) * bucket
        return nodes, pmf

    def evaluate(result: tuple[FloatArray, FloatArray]) -> Evaluation:
        nodes, pmf = result
        return Evaluation(
            distribution_figures(np.minimum(nodes, AGGREGATE_LIMIT), pmf),
            uncapped_mean=float(np.dot(nodes, pmf)),
            note="extra; aggregate limit applied here to its pmf (untimed)",
        )

    return Method(
        "lossmodels fft_aggregate_poisson",
        "lossmodels",
        "FFT",
        "layer per occurrence; no aggregate limit",
        compute,
        evaluate,
    )


def gemact_method(kind: str, years: int, log2: int, bucket: float) -> Method:
    lossmodel = _module("gemact.lossmodel")
    # GEMAct logs through twiggy, set up at import to print every INFO line: warnings only.
    _module("twiggy").quick_setup(min_level=_module("twiggy.levels").WARNING)
    nodes_per_limit = LIMIT / bucket
    if not nodes_per_limit.is_integer():
        raise ValueError(f"--bucket must divide the limit {LIMIT:,.0f}")

    def build(seed: int) -> Any:
        severity = lossmodel.Severity(dist="lognormal", par={"shape": SIGMA, "scale": math.exp(MU)})
        frequency = lossmodel.Frequency(dist="poisson", par={"mu": RATE})
        policy = lossmodel.PolicyStructure(
            layers=lossmodel.Layer(cover=LIMIT, deductible=DEDUCTIBLE, aggr_cover=AGGREGATE_LIMIT)
        )
        options: dict[str, Any] = (
            {"n_sim": years, "random_state": seed}
            if kind == "mc"
            else {"n_aggr_dist_nodes": 1 << log2, "n_sev_discr_nodes": int(nodes_per_limit) + 1}
        )
        return lossmodel.LossModel(
            severity=severity,
            frequency=frequency,
            policystructure=policy,
            aggr_loss_dist_method=kind,
            **options,
        )

    def evaluate(model: Any) -> Evaluation:
        dist = model.dist[0]
        nodes = np.asarray(dist.nodes, dtype=float)
        cumulative = np.asarray(dist.cumprobs, dtype=float)
        probabilities = np.diff(cumulative, prepend=0.0)
        before = getattr(model, "_LossModel__dist_excl_aggr_cond", [None])[0]
        uncapped = float(before.mean()) if before is not None else None
        severity = model.severity.censored_mean(cover=LIMIT, deductible=DEDUCTIBLE)
        return Evaluation(
            distribution_figures(nodes, probabilities, years if kind == "mc" else None),
            uncapped_mean=uncapped,
            library_mean=RATE * float(severity),
        )

    label = "Monte Carlo" if kind == "mc" else "FFT"
    return Method(f"GEMAct LossModel {label}", "gemact", kind.upper(), "all terms", build, evaluate)


def aggregate_method(log2: int, bucket: float, name: str = "aggregate build (FFT)") -> Method:
    build = _module("aggregate").build
    logging.getLogger("aggregate").setLevel(logging.ERROR)
    program = (
        f"agg Ref {RATE:g} claims {LIMIT:.0f} xs {DEDUCTIBLE:.0f} "
        f"sev {math.exp(MU)!r} * lognorm {SIGMA:g} ! poisson "
        f"aggregate ceded to {AGGREGATE_LIMIT:.0f} xs 0"
    )

    def compute(_: int) -> Any:
        return build(program, log2=log2, bs=bucket)

    def evaluate(model: Any) -> Evaluation:
        nodes = np.asarray(model.xs, dtype=float)
        density = np.asarray(model.agg_density, dtype=float)
        return Evaluation(
            distribution_figures(nodes, density),
            library_mean=float(model.agg_m),
            note=f"program: {program}",
        )

    return Method(name, "aggregate", "FFT", "all terms", compute, evaluate)


# --------------------------------------------------------------------------- the run


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str] = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "lab-underwriting", "gemact", "lossmodels", "aggregate"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": versions,
    }


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=1_000_000, help="simulated years (MC)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per method")
    parser.add_argument("--log2", type=int, default=17, help="FFT grid: 2**log2 buckets")
    parser.add_argument("--bucket", type=float, default=100.0, help="FFT bucket size")
    parser.add_argument("--seed", type=int, default=20_260_101)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    info = machine()
    load_before = os.getloadavg()
    print(
        f"machine: {info['cpus']} CPUs, {info['cpu_model']}; {info['date']}\n"
        f"versions: {', '.join(f'{k} {v}' for k, v in info['versions'].items())}\n"
        f"model: Poisson({RATE:g}) x LogNormal(mu={MU:g}, sigma={SIGMA:g}), per occurrence "
        f"{LIMIT:,.0f} xs {DEDUCTIBLE:,.0f}, annual aggregate limit {AGGREGATE_LIMIT:,.0f}; "
        f"MC {args.years:,} years, FFT 2^{args.log2} x {args.bucket:g}; "
        f"median of {args.runs} interleaved runs after one untimed first call"
    )

    factories: list[tuple[str, str, Callable[[], Method]]] = [
        ("engine uw.simulate", "underwriting", lambda: engine_method(args.years)),
        ("NumPy floor", "numpy", lambda: floor_method(args.years)),
        ("GEMAct MC", "gemact", lambda: gemact_method("mc", args.years, args.log2, args.bucket)),
        ("GEMAct FFT", "gemact", lambda: gemact_method("fft", args.years, args.log2, args.bucket)),
        ("lossmodels MC", "lossmodels", lambda: lossmodels_mc_method(args.years)),
        ("lossmodels FFT", "lossmodels", lambda: lossmodels_fft_method(args.log2, args.bucket)),
        ("aggregate FFT", "aggregate", lambda: aggregate_method(args.log2, args.bucket)),
    ]
    methods: list[Method] = []
    lines: list[dict[str, Any]] = []
    for label, package, factory in factories:
        try:
            methods.append(factory())
        except ImportError as error:
            print(
                f"{label}: {package} is not installed ({error}); skipped (pip install '.[bench]')"
            )
            lines.append({"method": label, "status": "missing", "reason": str(error)})

    first: dict[str, float] = {}
    evaluations: dict[str, Evaluation] = {}
    for method in list(methods):
        try:
            started = time.perf_counter()
            result = method.compute(args.seed)
            first[method.name] = time.perf_counter() - started
            evaluations[method.name] = method.evaluate(result)
            del result
        except Exception as error:  # a peer's API changed: say so, keep the others
            if method.package is None:
                raise
            print(f"{method.name}: failed ({type(error).__name__}: {error}); skipped")
            lines.append({"method": method.name, "status": "failed", "reason": repr(error)})
            methods.remove(method)

    times: dict[str, list[float]] = {method.name: [] for method in methods}
    cpu: dict[str, list[float]] = {method.name: [] for method in methods}
    for round_ in range(args.runs):
        shift = round_ % max(len(methods), 1)
        for method in methods[shift:] + methods[:shift]:
            started, cpu_started = time.perf_counter(), time.process_time()
            result = method.compute(args.seed + 1 + round_)
            times[method.name].append(time.perf_counter() - started)
            cpu[method.name].append(time.process_time() - cpu_started)
            del result

    reference: Figures | None = None
    try:
        fine = aggregate_method(REFERENCE_LOG2, REFERENCE_BUCKET)
        reference = fine.evaluate(fine.compute(0)).figures
    except ImportError:
        print("reference: aggregate is not installed; no fine-grid reference")
    exact = closed_form_mean()

    load_after = os.getloadavg()
    median = {name: statistics.median(values) for name, values in times.items()}
    engine_time = median.get("engine uw.simulate")
    floor_time = median.get("NumPy floor (PCG64 draws)")

    print()
    print(
        f"{'method':<36}{'kind':>6}{'first s':>9}{'median s':>10}{'min s':>8}"
        f"{'x engine':>10}{'x floor':>9}{'cpu/wall':>9}  terms expressed"
    )
    for method in methods:
        m = median[method.name]
        print(
            f"{method.name:<36}{method.kind:>6}{first[method.name]:>9.3f}{m:>10.3f}"
            f"{min(times[method.name]):>8.3f}"
            f"{(m / engine_time if engine_time else math.nan):>10.2f}"
            f"{(m / floor_time if floor_time else math.nan):>9.2f}"
            f"{sum(cpu[method.name]) / sum(times[method.name]):>9.2f}  {method.expresses}"
        )

    print()
    print(
        f"{'method':<36}{'mean':>10}{'se mean':>9}{'z ref':>7}{'sd':>10}{'VaR 99.5%':>11}"
        f"{'TVaR 99%':>11}{'mean no agg':>13}{'lib. analytic':>15}"
    )
    rows: list[tuple[str, Evaluation]] = [(m.name, evaluations[m.name]) for m in methods]
    if reference is not None:
        label = f"reference: aggregate 2^{REFERENCE_LOG2} x {REFERENCE_BUCKET:g}"
        rows.append((label, Evaluation(reference)))
    rows.append(("closed form (no aggregate limit)", Evaluation(None, uncapped_mean=exact)))
    for name, evaluation in rows:
        f = evaluation.figures
        z = "-"
        if f is not None and f.se_mean and reference is not None:
            z = f"{(f.mean - reference.mean) / f.se_mean:+.2f}"
        print(
            f"{name:<36}{_money(f.mean if f else None):>10}"
            f"{_money(f.se_mean if f else None):>9}{z:>7}{_money(f.sd if f else None):>10}"
            f"{_money(f.var if f else None):>11}{_money(f.tvar if f else None):>11}"
            f"{_money(evaluation.uncapped_mean):>13}{_money(evaluation.library_mean):>15}"
        )
    print(
        f"\nload average (1, 5, 15 min) before {[round(x, 2) for x in load_before]}, after the "
        f"timed runs {[round(x, 2) for x in load_after]} (other processes share these CPUs)"
    )
    notes = [(name, e.note) for name, e in rows if e.note]
    if notes:
        print()
        for name, note in notes:
            print(f"note {name}: {note}")

    print()
    for method in methods:
        evaluation = evaluations[method.name]
        f = evaluation.figures
        lines.append(
            {
                "method": method.name,
                "status": "ok",
                "kind": method.kind,
                "expresses": method.expresses,
                "years": args.years if method.kind in ("MC", "draws") else None,
                "grid": None if method.kind != "FFT" else [1 << args.log2, args.bucket],
                "first_s": first[method.name],
                "times_s": times[method.name],
                "median_s": median[method.name],
                "cpu_s": cpu[method.name],
                "ratio_to_engine": median[method.name] / engine_time if engine_time else None,
                "ratio_to_floor": median[method.name] / floor_time if floor_time else None,
                "mean": f.mean if f else None,
                "se_mean": f.se_mean if f else None,
                "sd": f.sd if f else None,
                "var_99_5": f.var if f else None,
                "tvar_99": f.tvar if f else None,
                "mean_without_aggregate_limit": evaluation.uncapped_mean,
                "library_analytic_mean_without_aggregate_limit": evaluation.library_mean,
                "note": evaluation.note,
            }
        )
    if reference is not None:
        lines.append({"method": "reference", "grid": [1 << REFERENCE_LOG2, REFERENCE_BUCKET]})
        lines[-1].update(
            mean=reference.mean, sd=reference.sd, var_99_5=reference.var, tvar_99=reference.tvar
        )
    lines.append({"method": "closed form", "mean_without_aggregate_limit": exact})
    lines.append(
        {
            "machine": info,
            "runs": args.runs,
            "seed": args.seed,
            "load_average_before": load_before,
            "load_average_after": load_after,
        }
    )
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
