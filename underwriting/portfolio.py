"""Portfolios: many labs simulated together, with accumulation on shared sites.

Each lab keeps its own profile (rated with the tables, experience included) and its own policy
terms. Its scenarios draw from streams keyed by the lab (``lab:<lab id>/<scenario>``), so labs are
independent, except for the site-level scenarios of the tables (a major fire spreading through the
building, a natural catastrophe or utility outage): their events are drawn once per site
(``site:<site id>/<scenario>``) and hit every lab of the site together, each lab with its own
damage, at the same severity percentile of the event. A lab whose rate for such a scenario is
below the site's largest takes part in each site event with probability (its rate / the site's),
so its own expected count is kept.

Memory stays bounded whatever the number of labs: a first pass over blocks of years keeps only
the portfolio's annual losses and each lab's running sums; a second pass regenerates the tail
years (counter-based randomness makes it exact) to split TVaR among the labs (Euler allocation:
each lab's mean loss in the portfolio's worst years, which add up to the portfolio's TVaR).

Example
-------
>>> import pathlib
>>> from underwriting.request import QuoteRequest, as_request
>>> requests = [QuoteRequest.model_validate_json(p.read_text())
...             for p in sorted(pathlib.Path("examples").glob("*.json"))]
>>> result = simulate_portfolio(Portfolio(requests), n_years=20_000, seed=1)
>>> total = sum(result.tvar_contributions().values())
>>> bool(abs(total - result.tvar(0.99)) < 1e-6 * total)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from underwriting.engine import (
    DEFAULT_BLOCK_YEARS,
    Backend,
    Engine,
    EngineChoice,
    StreamKey,
    bounded_block_size,
    check_run,
    choose_engine,
    reduce_blocks,
    stream_keys,
)
from underwriting.rating import (
    RatingTables,
    RiskProfile,
    SharedOccurrence,
    load_rating_tables,
    rate_with_experience,
)
from underwriting.request import QuoteRequest, as_request
from underwriting.results import LossDistribution, Metric, Table, check_level, format_money
from underwriting.terms import PolicyTerms

if TYPE_CHECKING:
    import os

    from matplotlib.figure import Figure

    from underwriting.model import Submission

FloatArray = npt.NDArray[np.float64]


EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"


def _scaled_request(request: QuoteRequest, scale: float, lab_id: str) -> QuoteRequest:
    """``request`` with its sums insured, research spend, schedule, floor area, headcount and
    freezers times ``scale``, no claims history, alone on its own site."""
    sub = request.submission
    values = sub.values.model_copy(
        update={name: getattr(sub.values, name) * scale for name in type(sub.values).model_fields}
    )
    schedule = tuple(
        item.model_copy(update={"value": item.value * scale}) for item in sub.equipment_schedule
    )
    cold = sub.cold_storage.model_copy(
        update={
            name: max(round(getattr(sub.cold_storage, name) * scale), 1)
            for name in ("ultra_low_freezers", "ln2_dewars")
            if getattr(sub.cold_storage, name) > 0
        }
    )
    submission = sub.model_copy(
        update={
            "lab_id": lab_id,
            "site_id": f"site-{lab_id}",
            "values": values,
            "equipment_schedule": schedule,
            "area_m2": sub.area_m2 * scale,
            "headcount": max(round(sub.headcount * scale), 1),
            "cold_storage": cold,
            "claims_history": type(sub.claims_history)(),
        }
    )
    return QuoteRequest.model_validate(
        {"submission": submission.model_dump(), "terms": request.terms.model_dump()}
    )


def reference_book_types(
    tables: RatingTables, examples_dir: Path = EXAMPLES_DIR
) -> list[tuple[QuoteRequest, int]]:
    """The tables' ``[[reference_book]]`` rows: one request per row and its count of labs.

    Each row scales an example request (``examples/<template>.json``); its category and hazard
    grade must be the template's (a check that the row says what it is).
    """
    types = []
    for index, row in enumerate(tables.pricing.reference_book):
        path = examples_dir / f"{row.template}.json"
        template = QuoteRequest.model_validate_json(path.read_text())
        sub = template.submission
        if (sub.lab_category, sub.hazard_grade) != (row.lab_category, row.hazard_grade):
            raise ValueError(
                f"reference_book row {index}: {row.template} is {sub.lab_category} "
                f"grade {sub.hazard_grade}, not {row.lab_category} grade {row.hazard_grade}"
            )
        types.append((_scaled_request(template, row.value_scale, f"book-{index}"), row.count))
    return types


def reference_book(tables: RatingTables, examples_dir: Path = EXAMPLES_DIR) -> Portfolio:
    """The tables' reference book as a portfolio: every lab of every row, each on its own site."""
    requests = []
    for request, count in reference_book_types(tables, examples_dir):
        base = request.submission.lab_id
        for copy in range(count):
            lab_id = f"{base}-{copy}"
            submission = request.submission.model_copy(
                update={"lab_id": lab_id, "site_id": f"site-{lab_id}"}
            )
            requests.append(request.model_copy(update={"submission": submission}))
    if not requests:
        raise ValueError(f"tables {tables.version} have no [[reference_book]]")
    return Portfolio(requests, tables=tables)


@dataclass(frozen=True, slots=True)
class SeriousEventRow:
    """Expected serious events a year of one row of the tables' national calibration book."""

    note: str
    lab_category: str
    count: int
    per_lab: dict[str, float]
    """Per lab-year, by scenario: its events that count as serious (``[calibration]``)."""

    @property
    def per_year(self) -> float:
        """The row's serious events a year: per lab-year, summed over scenarios, times count."""
        return sum(self.per_lab.values()) * self.count


@dataclass(frozen=True, slots=True)
class SeriousEventReconciliation:
    """The tables' implied national count of serious events against the public statistics.

    ``implied`` events a year over the book; ``expected_actual`` the public count times the
    under-reporting factor; ``departure`` their ratio (above 1: the tables imply more)."""

    version: str
    rows: tuple[SeriousEventRow, ...]
    public_per_year: float
    under_reporting_factor: float
    max_departure: float

    @property
    def implied(self) -> float:
        return sum(row.per_year for row in self.rows)

    @property
    def expected_actual(self) -> float:
        return self.public_per_year * self.under_reporting_factor

    @property
    def departure(self) -> float:
        return self.implied / self.expected_actual

    @property
    def within(self) -> bool:
        """Whether the departure, either way, is at most ``max_departure``."""
        return 1 / self.max_departure <= self.departure <= self.max_departure


def calibration_profiles(
    tables: RatingTables, examples_dir: Path = EXAMPLES_DIR
) -> list[RiskProfile]:
    """The rated profile of each ``[[calibration.labs]]`` row: its example scaled by
    ``value_scale`` and rated as the row's category and hazard grade."""
    calibration = tables.pricing.calibration
    if calibration is None:
        raise ValueError(f"tables {tables.version} have no [calibration] in pricing.toml")
    profiles = []
    for index, row in enumerate(calibration.labs):
        path = examples_dir / f"{row.template}.json"
        template = QuoteRequest.model_validate_json(path.read_text())
        request = _scaled_request(template, row.value_scale, f"calibration-{index}")
        submission = request.submission.model_copy(
            update={"lab_category": row.lab_category, "hazard_grade": row.hazard_grade}
        )
        profiles.append(RiskProfile.from_submission(submission, tables))
    return profiles


def reconcile_serious_events(
    tables: RatingTables, examples_dir: Path = EXAMPLES_DIR
) -> SeriousEventReconciliation:
    """The tables' expected serious events a year over their national calibration book.

    Exact expected counts from each row's rated profile (no simulation): an event of an
    ``always_reported`` scenario counts; an event of a ``reported_if_injury`` scenario counts
    when it hits the injury section, or when it cascades into an ``always_reported`` scenario
    (one event, counted once). Hits are independent given the event, as the engine draws them.
    """
    calibration = tables.pricing.calibration
    if calibration is None:
        raise ValueError(f"tables {tables.version} have no [calibration] in pricing.toml")
    rows = []
    for row, profile in zip(
        calibration.labs, calibration_profiles(tables, examples_dir), strict=True
    ):
        per_lab: dict[str, float] = {}
        injury_section = calibration.injury_section
        for scenario_id in calibration.always_reported:
            per_lab[scenario_id] = profile.scenario(scenario_id).frequency.mean
        for scenario_id in calibration.reported_if_injury:
            scenario = profile.scenario(scenario_id)
            injured = (i.probability for i in scenario.impacts if i.section == injury_section)
            unseen = 1.0 - next(injured, 0.0)
            for cascade in profile.cascades:
                if cascade.parent == scenario_id and cascade.child in calibration.always_reported:
                    unseen *= 1.0 - cascade.probability
            per_lab[scenario_id] = scenario.frequency.mean * (1.0 - unseen)
        rows.append(SeriousEventRow(row.note, row.lab_category, row.count, per_lab))
    return SeriousEventReconciliation(
        tables.version,
        tuple(rows),
        calibration.public_serious_events_per_year,
        calibration.under_reporting_factor,
        calibration.max_departure,
    )


@dataclass(frozen=True, slots=True)
class PortfolioLab:
    """One lab of a portfolio: its rated profile (streams keyed for the portfolio) and terms."""

    lab_id: str
    site_id: str
    profile: RiskProfile
    terms: PolicyTerms


class Portfolio:
    """Labs to simulate together.

    Parameters
    ----------
    requests
        One quote request per lab (lab ids must be unique).
    tables
        Rating tables (the newest by default).
    """

    def __init__(self, requests: Sequence[QuoteRequest], *, tables: RatingTables | None = None):
        if not requests:
            raise ValueError("a portfolio needs at least one lab")
        ids = [r.submission.lab_id for r in requests]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"lab ids must be unique in a portfolio: {', '.join(duplicates)}")
        self.tables = tables or load_rating_tables()
        self.requests = tuple(requests)
        rated = []
        for request in self.requests:
            rated.append(rate_with_experience(request.submission, self.tables)[0])
        site_rates: dict[tuple[str, str], float] = {}
        for request, profile in zip(self.requests, rated, strict=True):
            for scenario in profile.scenarios:
                if scenario.site_level:
                    key = (request.submission.site_id, scenario.id)
                    site_rates[key] = max(site_rates.get(key, 0.0), scenario.frequency.mean)
        labs = []
        for request, profile in zip(self.requests, rated, strict=True):
            lab, site = request.submission.lab_id, request.submission.site_id
            scenarios = []
            for scenario in profile.scenarios:
                update: dict[str, object] = {"stream": f"lab:{lab}/{scenario.id}"}
                rate = site_rates.get((site, scenario.id), 0.0)
                if scenario.site_level and rate > 0:
                    update["occurrence"] = SharedOccurrence(
                        stream=f"site:{site}/{scenario.id}", rate=rate
                    )
                scenarios.append(scenario.model_copy(update=update))
            labs.append(
                PortfolioLab(
                    lab_id=lab,
                    site_id=site,
                    profile=profile.model_copy(update={"scenarios": tuple(scenarios)}),
                    terms=request.terms,
                )
            )
        self.labs = tuple(labs)

    def with_request(self, request: QuoteRequest) -> Portfolio:
        """This portfolio with one more lab."""
        return Portfolio([*self.requests, request], tables=self.tables)

    def on_one_site(self, site_id: str) -> Portfolio:
        """The same labs, all moved to one site (to see what accumulation does)."""
        moved = [
            r.model_copy(
                update={"submission": r.submission.model_copy(update={"site_id": site_id})}
            )
            for r in self.requests
        ]
        return Portfolio(moved, tables=self.tables)


@dataclass(frozen=True, repr=False)
class PortfolioResult(LossDistribution):
    """The portfolio's annual losses, with the same metrics as a single lab's, plus per lab.

    Attributes
    ----------
    lab_ids, site_ids
        The labs, in portfolio order, and their sites.
    lab_means, lab_standard_errors
        Each lab's expected annual insured loss and its standard error.
    tail_level
        The level of the TVaR split among labs.
    lab_tail_means
        Each lab's mean insured loss in the portfolio's worst ``1 - tail_level`` of years (as the
        TVaR weighs them): its Euler contribution to the portfolio's TVaR; they add up to it.
    """

    lab_ids: tuple[str, ...]
    site_ids: tuple[str, ...]
    lab_means: FloatArray
    lab_standard_errors: FloatArray
    tail_level: float
    lab_tail_means: FloatArray
    currency_code: str | None = None

    @property
    def currency(self) -> str | None:
        return self.currency_code

    def tvar_contributions(self) -> dict[str, float]:
        """Each lab's Euler contribution to the portfolio's TVaR at ``tail_level``."""
        return {lab: float(v) for lab, v in zip(self.lab_ids, self.lab_tail_means, strict=True)}

    def plot_contributions(self, path: str | os.PathLike[str] | None = None) -> Figure:
        """Each lab's Euler contribution to the portfolio's TVaR; saved as PNG at ``path``.

        Needs the ``[plots]`` extra (matplotlib).
        """
        from underwriting.report import plot_contributions

        return plot_contributions(
            self.lab_ids,
            [float(v) for v in self.lab_tail_means],
            path,
            title=f"Contributions to TVaR {self.tail_level:.0%}, {self.subject}",
            currency=self.currency,
        )

    @property
    def subject(self) -> str:
        """``portfolio of N labs on M sites``, for a figure's title."""
        sites = len(set(self.site_ids))
        return f"portfolio of {len(self.lab_ids)} labs on {sites} site{'s' if sites > 1 else ''}"

    TABLES: ClassVar[tuple[str, ...]] = (*LossDistribution.TABLES, "labs")

    def table(self, name: str = "metrics") -> Table:
        """One of :attr:`TABLES` as named columns: those of a loss distribution
        (:meth:`LossDistribution.table`) and ``labs``: ``lab_id``, ``site_id``, ``mean``,
        ``standard_error`` and ``tvar_contribution`` (the lab's Euler part of the portfolio's
        TVaR at ``tail_level``), one row per lab."""
        if name != "labs":
            return super().table(name)
        return {
            "lab_id": list(self.lab_ids),
            "site_id": list(self.site_ids),
            "mean": self.lab_means,
            "standard_error": self.lab_standard_errors,
            "tvar_contribution": self.lab_tail_means,
        }

    def _display_title(self) -> str:
        sites = len(set(self.site_ids))
        return (
            f"PortfolioResult: {len(self.lab_ids)} labs on {sites} site(s), {self.n_years:,} "
            f"years, seed {self.seed}{self._amounts_in()}"
        )

    def _display_lines(self) -> list[str]:
        tvar = self.tvar(self.tail_level)
        order = np.argsort(-self.lab_tail_means)[:3]
        parts = ", ".join(
            f"{self.lab_ids[i]} {format_money(float(self.lab_tail_means[i]))}"
            + (f" ({float(self.lab_tail_means[i]) / tvar:.0%})" if tvar > 0 else "")
            for i in order
        )
        more = f" and {len(self.lab_ids) - 3} more" if len(self.lab_ids) > 3 else ""
        return [f"largest parts of TVaR {self.tail_level:.0%}: {parts}{more}"]

    def _summary_title(self) -> str:
        sites = len(set(self.site_ids))
        return (
            f"Portfolio of {len(self.lab_ids)} labs on {sites} site(s): {self.n_years:,} years, "
            f"seed {self.seed}{self._amounts_in()}"
        )

    def _summary_breakdowns(self) -> list[str]:
        tvar = self.tvar(self.tail_level)
        lines = [
            "",
            f"{'lab':<20}{'site':<14}{'mean':>12}{'(s.e.)':>10}"
            f"{'TVaR ' + format(self.tail_level, '.0%') + ' part':>18}{'share':>8}",
        ]
        for i, lab in enumerate(self.lab_ids):
            part = float(self.lab_tail_means[i])
            lines.append(
                f"{lab:<20}{self.site_ids[i]:<14}{format_money(float(self.lab_means[i])):>12}"
                f"{format_money(float(self.lab_standard_errors[i])):>10}"
                f"{format_money(part):>18}{part / tvar if tvar > 0 else 0.0:>8.1%}"
            )
        return lines


# Labs per piece of work. A constant (or the caller's choice), never derived from the cluster:
# the groups fix the order of the floating-point sums, so the result depends on them, and on
# nothing else about how or where the work ran.
LAB_GROUP_SIZE = 64

# One block of years for one group of labs, or several groups combined: the group's annual
# losses summed lab by lab (float64, shape (years,)), and each lab's sum and sum of squares of
# its annual losses over the block (shape (labs,)).
_BlockSums = tuple[FloatArray, FloatArray, FloatArray]


@dataclass(frozen=True, slots=True)
class _Work:
    """What every piece of a run needs; sent to each Dask worker once."""

    engines: tuple[Engine, ...]
    """Each lab's engine, chosen once on the client, so every worker runs the same engine
    whatever it has installed."""
    group_size: int

    def group(self, index: int) -> tuple[Engine, ...]:
        """The engines of the labs of group ``index``."""
        return self.engines[index * self.group_size : (index + 1) * self.group_size]


def _group_sums(work: _Work, first: int, size: int, index: int) -> _BlockSums:
    engines = work.group(index)
    total = np.zeros(size)
    sums = np.empty(len(engines))
    squares = np.empty(len(engines))
    for number, engine in enumerate(engines):
        annual = engine.annual(first, size)
        total += annual
        sums[number] = float(annual.sum())
        squares[number] = float(np.einsum("n,n->", annual, annual))  # not BLAS: its threads
    return total, sums, squares


def _combine_sums(pieces: Sequence[_BlockSums]) -> _BlockSums:
    # Consecutive groups, in lab order: the totals are added left to right.
    total = pieces[0][0].copy()
    for piece in pieces[1:]:
        total += piece[0]
    return (
        total,
        np.concatenate([piece[1] for piece in pieces]),
        np.concatenate([piece[2] for piece in pieces]),
    )


def _group_tail(
    work: _Work, tail_years: npt.NDArray[np.int64], first: int, size: int, index: int
) -> FloatArray:
    # The group's losses (labs x tail years of the block); no arithmetic, so no order to keep.
    lo, hi = np.searchsorted(tail_years, [first, first + size])
    picked = tail_years[lo:hi] - first
    return np.array([engine.annual(first, size)[picked] for engine in work.group(index)])


def _stack_tails(pieces: Sequence[FloatArray]) -> FloatArray:
    return np.concatenate(pieces, axis=0)


def simulate_portfolio(
    portfolio: Portfolio,
    *,
    n_years: int,
    seed: int | str | None = None,
    block_size: int = DEFAULT_BLOCK_YEARS,
    tail_level: float = 0.99,
    progress: Callable[[int], None] | None = None,
    backend: Backend = "local",
    client: Any | None = None,
    lab_group_size: int = LAB_GROUP_SIZE,
    engine: EngineChoice = "auto",
) -> PortfolioResult:
    """Simulate the labs together, with site-level accumulation, here or on a Dask cluster.

    The work is cut into blocks of ``block_size`` years and groups of ``lab_group_size`` labs
    (in portfolio order). Each piece sums its labs' annual losses lab by lab; a block's pieces
    are added in a tree of fixed shape (:func:`underwriting.engine.reduce_blocks`). Both
    backends run this same reduction, so for a seed the result is bit-identical whatever the
    backend, the number of workers or the order in which blocks finish.

    Parameters
    ----------
    portfolio
        The labs.
    n_years, seed, block_size
        As for :func:`underwriting.engine.simulate`. The annual losses and TVaR contributions
        do not depend on ``block_size``; the labs' means and standard errors add block sums, so
        only their last bits do.
    tail_level
        Level of the TVaR split among labs (Euler contributions).
    progress
        Called with the years just simulated after each block of the first pass.
    backend, client
        ``"local"`` (in this process) or ``"dask"``, on the ``distributed.Client`` given or the
        active one (needs the ``[dask]`` extra). On Dask the labs' annual losses are reduced on
        the workers: the client receives each block's portfolio totals and the labs' block sums,
        then in a second pass the labs' losses in the portfolio's tail years only.
    lab_group_size
        Labs per piece of work (default ``LAB_GROUP_SIZE``). It fixes the order of the sums:
        another group size changes the portfolio's annual losses in the last bits at most.
    engine
        As for :func:`underwriting.engine.simulate`; chosen here for each lab, once, so every
        worker of a cluster runs the same engine (a worker that cannot run the compiled kernel
        then fails with a clear error instead of mixing engines).

    Examples
    --------
    >>> import pathlib
    >>> from underwriting.request import QuoteRequest, as_request
    >>> requests = [QuoteRequest.model_validate_json(p.read_text())
    ...             for p in sorted(pathlib.Path("examples").glob("*.json"))]
    >>> portfolio = Portfolio(requests)
    >>> one = simulate_portfolio(portfolio, n_years=2_000, seed=7)
    >>> cut = simulate_portfolio(portfolio, n_years=2_000, seed=7, lab_group_size=1, block_size=300)
    >>> bool(np.allclose(one.annual_loss, cut.annual_loss, rtol=1e-12))
    True
    """
    check_level(tail_level)
    seed = check_run(n_years, block_size, seed)
    if (
        isinstance(lab_group_size, bool)
        or not isinstance(lab_group_size, int)
        or lab_group_size < 1
    ):
        raise ValueError(f"lab_group_size must be a positive integer, got {lab_group_size!r}")
    keys: dict[str, StreamKey] = {}
    for lab in portfolio.labs:
        keys.update(stream_keys(lab.profile, seed))
        block_size = bounded_block_size(lab.profile, n_years, block_size)
    count = len(portfolio.labs)
    engines = tuple(choose_engine(lab.profile, keys, [lab.terms], engine) for lab in portfolio.labs)
    work = _Work(engines, lab_group_size)
    groups = math.ceil(count / lab_group_size)
    blocks = [(first, min(block_size, n_years - first)) for first in range(0, n_years, block_size)]
    total = np.zeros(n_years)
    sums = np.zeros(count)
    squares = np.zeros(count)
    first_pass = reduce_blocks(
        partial(_group_sums, work), groups, _combine_sums, blocks, backend=backend, client=client
    )
    for (first, size), (block_total, block_sums, block_squares) in zip(
        blocks, first_pass, strict=True
    ):
        total[first : first + size] = block_total
        # Block by block, in block order on either backend.
        sums += block_sums
        squares += block_squares
        if progress is not None:
            progress(size)
    # Second pass: each lab's losses in the portfolio's tail years, regenerated block by block
    # (exact: counter-based draws), weighted as the TVaR weighs the years (years tied at the VaR
    # share its weight equally). A year with no loss adds nothing to any lab (insured losses are
    # not negative): not regenerated, however many tie at a VaR of 0.
    tail_years, tail_weights = LossDistribution(n_years, seed, total, None).tail_weights(tail_level)
    some_loss = total[tail_years] > 0
    tail_years, tail_weights = tail_years[some_loss], tail_weights[some_loss]
    tail_losses = np.zeros((count, tail_years.size))
    bounds = np.searchsorted(tail_years, [first for first, _ in blocks] + [n_years])
    tail_blocks = [block for i, block in enumerate(blocks) if bounds[i] < bounds[i + 1]]
    tail_pass = reduce_blocks(
        partial(_group_tail, work, tail_years),
        groups,
        _stack_tails,
        tail_blocks,
        backend=backend,
        client=client,
    )
    for (first, size), losses in zip(tail_blocks, tail_pass, strict=True):
        lo, hi = np.searchsorted(tail_years, [first, first + size])
        tail_losses[:, lo:hi] = losses
    means = sums / n_years
    variances = np.maximum(squares / n_years - means**2, 0.0) * n_years / max(n_years - 1, 1)
    return PortfolioResult(
        n_years=n_years,
        seed=seed,
        annual_loss=total,
        annual_max_occurrence=None,
        lab_ids=tuple(lab.lab_id for lab in portfolio.labs),
        site_ids=tuple(lab.site_id for lab in portfolio.labs),
        lab_means=means,
        lab_standard_errors=np.sqrt(variances / n_years),
        tail_level=tail_level,
        lab_tail_means=np.einsum("ln,n->l", tail_losses, tail_weights),
        currency_code=portfolio.tables.currency,
    )


@dataclass(frozen=True, slots=True)
class MarginalImpact:
    """What writing one more lab adds to a portfolio, on common random numbers.

    Each figure is the difference (with the lab minus without), with a standard error: paired
    years for the mean, batch means over 25 batches for VaR and TVaR.
    """

    lab_id: str
    expected_loss: Metric
    var_995: Metric
    tvar_99: Metric


def _batched_difference(
    with_lab: FloatArray, without: FloatArray, statistic: Callable[[FloatArray], float]
) -> float:
    batches = 25
    size = with_lab.size // batches
    if size < 40:
        return math.nan
    values = [
        statistic(with_lab[b * size : (b + 1) * size])
        - statistic(without[b * size : (b + 1) * size])
        for b in range(batches)
    ]
    return float(np.std(values, ddof=1) / math.sqrt(batches))


def _var(level: float) -> Callable[[FloatArray], float]:
    return lambda losses: LossDistribution(losses.size, 0, losses, None).var(level)


def _tvar(level: float) -> Callable[[FloatArray], float]:
    return lambda losses: LossDistribution(losses.size, 0, losses, None).tvar(level)


def marginal_impact(
    portfolio: Portfolio,
    request: QuoteRequest | Submission,
    terms: PolicyTerms | None = None,
    *,
    n_years: int = 200_000,
    seed: int | str | None = None,
) -> MarginalImpact:
    """The expected loss, VaR 99.5% and TVaR 99% that writing a lab adds to the portfolio.

    The lab is a :class:`~underwriting.request.QuoteRequest`, or a submission and its terms
    (``marginal_impact(portfolio, submission, terms)``), as for :func:`underwriting.quote`.
    Both portfolios are simulated with the same seed (an integer or its decimal string), so the
    labs already written see the same events in both (up to the shared site events, whose rate is
    the site's largest: a new lab with a higher rate on an existing site makes site events more
    frequent for everyone).
    """
    request = as_request(request, terms, "marginal_impact")
    seed = check_run(n_years, DEFAULT_BLOCK_YEARS, seed)
    without = simulate_portfolio(portfolio, n_years=n_years, seed=seed)
    with_lab = simulate_portfolio(portfolio.with_request(request), n_years=n_years, seed=seed)
    difference = with_lab.annual_loss - without.annual_loss
    metrics = []
    for name, statistic in (("VaR 99.5%", _var(0.995)), ("TVaR 99.0%", _tvar(0.99))):
        value = statistic(with_lab.annual_loss) - statistic(without.annual_loss)
        error = _batched_difference(with_lab.annual_loss, without.annual_loss, statistic)
        metrics.append(Metric(f"added {name}", value, error))
    return MarginalImpact(
        lab_id=request.submission.lab_id,
        expected_loss=Metric(
            "added expected loss",
            float(difference.mean()),
            float(difference.std(ddof=1) / math.sqrt(n_years)),
        ),
        var_995=metrics[0],
        tvar_99=metrics[1],
    )
