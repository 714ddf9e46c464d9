"""``quote``: the composing stage, from a submission and terms to a defensible quote.

The only module that imports every stage::

    Submission + tables -> RiskProfile -> experience rating -> simulate_many (the terms, every
    option and the term variants, on the same events) -> price -> decide -> Quote

Precision: unless ``n_years`` is given, a pilot run estimates the premium's standard error and
the number of years is chosen so that the relative standard error of the technical premium meets
``target_relative_error``, within the tables' cap; the quote reports the error achieved.

Reproducibility: the seed (the tables' fixed default unless given), the tables version and hashes,
the package version, the number of years and the timestamp are recorded in ``Quote.provenance``;
:func:`replay` rebuilds the same quote from them, bit for bit.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from underwriting.engine import (
    Identity,
    Stratum,
    YearsNeeded,
    control_means,
    event_power_means,
    expected_events_per_year,
    memo,
    rare_strata,
    simulate_many,
    simulate_many_until,
    stratum_control_means,
    stratum_seed,
)
from underwriting.engine import (
    warm_up as warm_up_engine,
)
from underwriting.errors import SimulationLimitError, UnderwritingError, UnderwritingWarning
from underwriting.model import Submission, parse_seed
from underwriting.pricing import (
    BookYears,
    ControlVariates,
    Premium,
    StratifiedYears,
    StratumYears,
    WorksheetRow,
    batch_technical_premiums,
    paired_standard_error,
    premium_standard_error,
    price,
    technical_premium,
    technical_premium_and_error,
    worksheet,
)
from underwriting.pricing import (
    warm_up as warm_up_pricing,
)
from underwriting.rating import (
    Decision,
    ExperienceRating,
    Fact,
    PrecisionSettings,
    PremiumSettings,
    RatingTables,
    RiskProfile,
    decide,
    load_rating_tables,
    rate_with_experience,
    submission_facts,
)
from underwriting.request import QuoteRequest, option_labels
from underwriting.results import (
    DISPLAY_RETURN_PERIODS,
    Metric,
    SimulationResult,
    Table,
    format_amount,
    format_figure,
    format_with_error,
    html_block,
    html_table,
    to_pandas,
    to_polars,
)
from underwriting.terms import PolicyTerms, SectionTerms, check_cover

if TYPE_CHECKING:
    import os

    import pandas as pd
    import polars as pl
    from matplotlib.figure import Figure

_YEAR_STEP = 10_000
"""Simulated years are chosen in steps of this many (tidy figures; no effect on results)."""
_STRATUM_STEP = 500
"""A stratum's years are chosen in steps of this many."""

OPTION_PASS_BYTES = 128 * 2**20
"""Memory a pass over the options may fill with their annual losses and year loss tables
(the tables' rows once, an insured column per option).

Options are priced on the same events as the terms in passes of as many options as fit (at
least one), each pass's arrays let go once its options are priced: a quote's memory stays
bounded whatever its number of options, at the cost of drawing the events once more a pass. The
results do not depend on it (every set of terms is simulated on the same keyed events)."""


@functools.cache
def package_version() -> str:
    """The installed version of this package (read once: the metadata lookup takes a
    millisecond)."""
    try:
        return metadata.version("lab-underwriting")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Everything needed to reproduce a quote.

    ``seed`` is a string: 128-bit integers lose precision in JavaScript clients.
    """

    seed: str
    tables_version: str
    tables_sha256: Mapping[str, str]
    package_version: str
    n_years: int
    block_size: int
    target_relative_error: float | None
    created_at: dt.datetime
    sample_means: bool = field(default=False, metadata={"omit_if_default": True})
    """Priced with the sample means although the tables use control variates (``quote(...,
    sample_means=True)``, as ``uw.sensitivity`` does); left out of the dictionary when false."""
    strata_years: Mapping[str, int] = field(
        default_factory=dict, metadata={"omit_if_default": True}
    )
    """The years of each stratum, by label, of a premium from stratified years (tables 2026.5
    on; ``underwriting.engine.rare_strata``); left out when empty."""


def provenance_from_dict(data: Mapping[str, Any]) -> Provenance:
    """A provenance as stored by ``Quote.to_dict()`` (timestamps as ISO 8601 text)."""
    created = data["created_at"]
    return Provenance(
        seed=str(data["seed"]),
        tables_version=str(data["tables_version"]),
        tables_sha256=dict(data["tables_sha256"]),
        package_version=str(data["package_version"]),
        n_years=int(data["n_years"]),
        block_size=int(data["block_size"]),
        target_relative_error=data.get("target_relative_error"),
        created_at=created
        if isinstance(created, dt.datetime)
        else dt.datetime.fromisoformat(str(created)),
        sample_means=bool(data.get("sample_means", False)),
        strata_years={
            str(label): int(years) for label, years in (data.get("strata_years") or {}).items()
        },
    )


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """An alternative set of terms, priced on the same simulated events as the main terms.

    Attributes
    ----------
    label
        The caller's name for the option (``QuoteRequest.option_labels``), or ``option N``.
    terms, premium, metrics
        The option's terms, its premium and the headline figures of its insured loss.
    decision
        The underwriting rules applied to the option as to the terms asked for: the same
        submission and experience, the option's own metrics and premium.
    difference, difference_standard_error
        The option's technical premium minus that of the terms asked for, and the standard error
        of that difference over the paired simulated years (batch means): common events cancel,
        so it is far below either premium's own error.
    """

    label: str
    terms: PolicyTerms
    premium: Premium
    metrics: tuple[Metric, ...]
    decision: Decision
    difference: float
    difference_standard_error: float


@dataclass(frozen=True, repr=False)
class Quote:
    """A priced, decided quote with its build-up and provenance.

    Attributes
    ----------
    submission, terms
        What was quoted.
    premium
        The premium, its build-up and its split by section and scenario.
    worksheet
        Every step of the build-up as rows (name, value, explanation).
    decision
        ``quoted``, ``referred`` or ``declined``, with reasons.
    options
        Each alternative set of terms with its premium and metrics.
    metrics
        Headline figures of the insured loss under ``terms``, each with its standard error.
    experience
        The claims history and its credibility.
    provenance
        Seed, tables version and hashes, package version, years, timestamp.
    valid_until
        When the quote expires.
    warnings
        Input or results that are legal but suspicious (codes in ``docs/warnings.md``).
    result
        The simulation under ``terms`` (not part of comparisons or serialisation).
    controls
        The control variates the premium was estimated with (tables 2026.4 on; ``None``
        before), fitted on ``result``: paired errors between quotes use them. In process only.
    stratified
        The strata of years the premium and the options' premiums were estimated on (tables
        2026.5 on; ``None`` otherwise): ``result`` then shows the distribution only. In process
        only.
    """

    submission: Submission
    terms: PolicyTerms
    premium: Premium
    worksheet: tuple[WorksheetRow, ...]
    decision: Decision
    options: tuple[OptionQuote, ...]
    metrics: tuple[Metric, ...]
    experience: ExperienceRating
    provenance: Provenance
    valid_until: dt.datetime
    warnings: tuple[UnderwritingWarning, ...] = ()
    result: SimulationResult | None = field(default=None, compare=False, repr=False)
    controls: ControlVariates | None = field(default=None, compare=False, repr=False)
    stratified: StratifiedYears | None = field(default=None, compare=False, repr=False)

    def plot_worksheet(self, path: str | os.PathLike[str] | None = None) -> Figure:
        """A waterfall of the premium build-up; saved as PNG at ``path`` if given.

        Needs the ``[plots]`` extra (matplotlib).
        """
        from underwriting.report import plot_worksheet

        return plot_worksheet(self, path)

    # ------------------------------------------------------------------ tables

    def table(self, name: str = "worksheet") -> Table:
        """A table of the quote as named columns:

        - ``worksheet``: ``step``, ``value``, ``explanation``: the build-up, row by row (a row
          without an amount has none);
        - ``metrics``: ``metric``, ``value``, ``standard_error``: the headline figures;
        - ``premium_by_section``: ``section``, ``premium``: the premium's split;
        - ``options``: ``label``, ``premium``, ``technical_premium``, ``difference``,
          ``difference_standard_error``, ``decision``: each option against the terms asked for;
        - any table of the simulation (``SimulationResult.TABLES``: ``ep_curve``,
          ``by_section``, ``year_loss_table``...), while the quote holds it.
        """
        if name == "worksheet":
            return {
                "step": [row.name for row in self.worksheet],
                "value": [row.value for row in self.worksheet],
                "explanation": [row.explanation for row in self.worksheet],
            }
        if name == "metrics":
            return {
                "metric": [m.name for m in self.metrics],
                "value": np.array([m.value for m in self.metrics]),
                "standard_error": np.array([m.standard_error for m in self.metrics]),
            }
        if name == "premium_by_section":
            return {
                "section": [str(section) for section in self.premium.by_section],
                "premium": np.array(list(self.premium.by_section.values()), dtype=np.float64),
            }
        if name == "options":
            return {
                "label": [o.label for o in self.options],
                "premium": np.array([o.premium.total for o in self.options], dtype=np.float64),
                "technical_premium": np.array(
                    [o.premium.technical for o in self.options], dtype=np.float64
                ),
                "difference": np.array([o.difference for o in self.options], dtype=np.float64),
                "difference_standard_error": np.array(
                    [o.difference_standard_error for o in self.options], dtype=np.float64
                ),
                "decision": [o.decision.outcome for o in self.options],
            }
        own = ("worksheet", "metrics", "premium_by_section", "options")
        simulated = self.result.TABLES if self.result is not None else ()
        if self.result is None or name not in simulated:
            raise ValueError(
                f"table {name!r} is not one of this quote's: {', '.join((*own, *simulated))}"
            )
        return self.result.table(name)

    def to_pandas(self, name: str = "worksheet") -> pd.DataFrame:
        """A table of :meth:`table` as a pandas DataFrame (the ``[notebook]`` extra)."""
        return to_pandas(self.table(name))

    def to_polars(self, name: str = "worksheet") -> pl.DataFrame:
        """A table of :meth:`table` as a polars DataFrame (the ``[notebook]`` extra)."""
        return to_polars(self.table(name))

    # ------------------------------------------------------------------ display

    def _currency(self) -> str:
        return f" {self.result.currency}" if self.result and self.result.currency else ""

    def _display_title(self) -> str:
        sub = self.submission
        return (
            f"Quote {sub.lab_id} ({sub.lab_name}), tables {self.provenance.tables_version}: "
            f"{self.decision.outcome}"
        )

    def _display_lines(self) -> list[str]:
        premium = self.premium
        lines = [
            f"premium {format_amount(premium.total)}{self._currency()} + tax "
            f"{format_amount(premium.tax)}; technical "
            f"{format_with_error('', premium.technical, premium.standard_error)} (relative s.e. "
            f"{premium.relative_error:.2%}), {self.provenance.n_years:,} years, seed "
            f"{self.provenance.seed}"
        ]
        lines += [f"{reason.outcome}: {reason.message}" for reason in self.decision.reasons[:3]]
        if len(self.decision.reasons) > 3:
            lines.append(f"and {len(self.decision.reasons) - 3} more reasons")
        if self.options:
            lines.append(
                "options: "
                + "; ".join(
                    f"{o.label} {format_amount(o.premium.total)} ({o.decision.outcome})"
                    for o in self.options[:3]
                )
                + (f" and {len(self.options) - 3} more" if len(self.options) > 3 else "")
            )
        if self.warnings:
            lines.append("warnings: " + ", ".join(sorted({w.code for w in self.warnings})))
        return lines

    def __repr__(self) -> str:
        metrics = " | ".join(
            f"{m.name} {format_with_error(m.name, m.value, m.standard_error)}" for m in self.metrics
        )
        lines = [f"<{self._display_title()}", *(f"  {line}" for line in self._display_lines())]
        lines += [f"  {metrics}", "  worksheet, premium, decision.reasons; to_json() for all>"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A small HTML table for notebooks: the decision, the premium and the headline
        figures with their standard errors."""
        metrics = html_table(
            ("metric", "value", "std. error"),
            [
                (m.name, format_figure(m.name, m.value), format_figure(m.name, m.standard_error))
                for m in self.metrics
            ],
        )
        tables = [metrics]
        if self.result is not None:
            points = self.result.ep_curve(DISPLAY_RETURN_PERIODS)
            tables.append(
                html_table(
                    ("return period", "AEP", "s.e."),
                    [
                        (
                            f"1 in {p.return_period:,.0f}",
                            format_amount(p.aep),
                            format_amount(p.aep_standard_error),
                        )
                        for p in points
                    ],
                )
            )
        return html_block(self._display_title(), self._display_lines(), tables)

    def _simulated(self) -> SimulationResult:
        if self.result is None:
            raise ValueError("this quote holds no simulation (read back from storage): replay it")
        return self.result

    def plot_ep_curve(self, path: str | os.PathLike[str] | None = None) -> Figure:
        """The EP curves of the quoted terms, titled with the lab's name (``[plots]`` extra)."""
        sub = self.submission
        return self._simulated().plot_ep_curve(path, subject=f"{sub.lab_name} ({sub.lab_id})")

    def plot_histogram(self, path: str | os.PathLike[str] | None = None) -> Figure:
        """The annual loss histogram of the quoted terms, titled with the lab's name."""
        sub = self.submission
        return self._simulated().plot_histogram(path, subject=f"{sub.lab_name} ({sub.lab_id})")

    def batch_estimates(
        self, settings: PremiumSettings, batches: int
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The technical premium and the expected loss of each of ``batches`` batches of years,
        estimated as the quote estimated them (its strata, its control variates, or the sample
        means), for the errors of differences between quotes (revisions, renewals, repricing):
        two quotes on the same years are paired batch by batch. ``settings``: the premium
        settings of the tables the quote was priced with.

        Raises
        ------
        UnderwritingError
            If the quote carries no simulation (read back from storage).
        """
        if self.stratified is not None:
            return self.stratified.batches(settings, batches)
        if self.result is None:
            raise UnderwritingError(
                "the quote carries no simulation (a quote read back from storage): price it "
                "again to compare it on the same events"
            )
        annual = self.result.annual_loss
        technical = batch_technical_premiums(annual, settings, batches, self.controls)
        adjusted = annual if self.controls is None else self.controls.adjusted_losses(annual)
        size = annual.size // batches
        expected = adjusted[: size * batches].reshape(batches, size).mean(axis=1)
        return technical, np.asarray(expected)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of the quote (without the simulation arrays)."""
        converted = _jsonable(self)
        assert isinstance(converted, dict)
        return converted

    def to_json(self, *, indent: int | None = 2) -> str:
        """The quote as JSON."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)


def _default(f: Any) -> Any:
    """A dataclass field's default, made by its factory where it has one."""
    return f.default_factory() if f.default is MISSING else f.default


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=False)
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _jsonable(getattr(value, f.name))
            for f in fields(value)
            if f.compare
            and f.name != "result"
            and not (f.metadata.get("omit_if_default") and getattr(value, f.name) == _default(f))
        }
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- term variants


def _without_deductibles(terms: PolicyTerms) -> PolicyTerms:
    sections = {
        section: SectionTerms.model_validate(
            {
                **t.model_dump(),
                "deductible": 0.0,
                "deductible_percent_of_loss": None,
                "deductible_minimum": 0.0,
                "deductible_maximum": None,
                "franchise": False,
                "waiting_period_days": 0.0,
            }
        )
        for section, t in terms.sections.items()
    }
    return PolicyTerms(
        sections=sections,
        aggregate_limit=terms.aggregate_limit,
        aggregate_deductible=0.0,
        share=terms.share,
    )


def _without_sublimits(terms: PolicyTerms) -> PolicyTerms:
    sections = {
        section: SectionTerms.model_validate(
            {
                **t.model_dump(),
                "limit": None,
                "limit_percent_of_loss": None,
                "aggregate_limit": None,
                "indemnity_period_months": None,
            }
        )
        for section, t in terms.sections.items()
    }
    return terms.model_copy(update={"sections": sections})


def _term_variants(terms: PolicyTerms) -> dict[str, PolicyTerms]:
    """Terms with one kind of term removed, to value each kind on the same events."""
    variants = {
        "ground_up": PolicyTerms(sections={section: SectionTerms() for section in terms.sections}),
        "deductibles": _without_deductibles(terms),
        "sub_limits": _without_sublimits(terms),
    }
    if terms.aggregate_limit is not None:
        variants["aggregate_limit"] = terms.model_copy(update={"aggregate_limit": None})
    if terms.share < 1:
        variants["share"] = terms.model_copy(update={"share": 1.0})
    return variants


# --------------------------------------------------------------------------- facts


def _figure(value: float) -> str:
    """A figure for a message: whole with separators from 100 up, else 3 significant digits."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _plausibility_warnings(
    submission: Submission, tables: RatingTables
) -> tuple[UnderwritingWarning, ...]:
    """``IMPLAUSIBLE_EXPOSURE`` for each exposure above its bound per m² in the tables."""
    area = submission.area_m2
    found = []
    for bound in tables.rules.plausibility:
        amount = bound.measure(submission)
        density = amount / area
        if density <= bound.max_per_m2:
            continue
        found.append(
            UnderwritingWarning(
                code="IMPLAUSIBLE_EXPOSURE",
                message=f"{_figure(amount)} {bound.unit} in {_figure(area)} m² is "
                f"{_figure(density)} per m², above the {_figure(bound.max_per_m2)} per m² that a "
                f"laboratory can plausibly hold (rating tables {tables.version}; at most "
                f"{_figure(bound.max_per_m2 * area)} for this area): check the figure; the quote "
                "is priced on it as given and referred",
                field=f"submission.{bound.quantity}",
                value=amount,
            )
        )
    return tuple(found)


def _facts(
    known: Mapping[str, Fact],
    result: SimulationResult,
    premium: Premium,
    experience: ExperienceRating,
    implausible: Sequence[UnderwritingWarning] = (),
) -> dict[str, Fact]:
    """The facts the rules read of a set of terms: ``known``, the submission's
    (``submission_facts``, worked out once for a quote's terms and options), and those of the
    run and premium."""
    facts: dict[str, Fact] = dict(known)
    facts["submission.implausible_fields"] = len(implausible)
    terms = result.terms
    if terms.aggregate_limit is not None:
        ceiling = terms.aggregate_limit * terms.share
        exhausted = float(np.mean(result.annual_loss >= ceiling * (1 - 1e-12)))
    else:
        exhausted = 0.0
    facts.update(
        {
            "metrics.expected_loss": result.mean,
            "metrics.var_995": result.var(0.995),
            "metrics.tvar_99": result.tvar(0.99),
            "metrics.pml_250": result.var(1 - 1 / 250),
            "metrics.probability_of_claim": result.probability_of_claim().value,
            "metrics.probability_aggregate_exhausted": exhausted,
            "premium.technical": premium.technical,
            "premium.minimum": premium.minimum,
            "premium.technical_to_minimum": (
                premium.technical / premium.minimum if premium.minimum > 0 else math.inf
            ),
            "premium.total": premium.total,
            "experience.years_observed": experience.years_observed,
            "experience.claims_count": experience.claims_count,
            "experience.expected_claims": experience.expected_claims,
            "experience.actual_to_expected": experience.actual_to_expected,
            "experience.credibility": experience.credibility,
            "experience.largest_recent_claim": experience.largest_claim,
        }
    )
    return facts


def _headline(result: SimulationResult) -> tuple[Metric, ...]:
    return (
        Metric("expected insured loss", result.mean, result.standard_error()),
        result.var_metric(0.995),
        result.tvar_metric(0.99),
        result.probability_of_claim(),
    )


# --------------------------------------------------------------------------- quote


def _choose_years(
    profile: RiskProfile,
    terms: PolicyTerms,
    tables: RatingTables,
    seed: int,
    target: float,
    max_years: int | None = None,
) -> int:
    precision = tables.pricing.precision
    cap = precision.max_years if max_years is None else min(max_years, precision.max_years)
    pilot_years = min(precision.pilot_years, cap)
    pilot = simulate_many(profile, [terms], n_years=pilot_years, seed=seed, year_loss_tables=False)[
        0
    ]
    return _years_needed(pilot.annual_loss, tables=tables, target=target, cap=cap)


def _given_years(
    n_years: int, annual_loss: npt.NDArray[np.float64], controls: npt.NDArray[np.float64] | None
) -> int:
    """The years a quote was asked to simulate, whatever the error so far."""
    return n_years


def _years_for(relative: float, done: int, target: float, cap: int) -> int:
    """The years at which a relative standard error of ``relative`` after ``done`` years is
    expected to meet ``target``: at least ``done``, at most ``cap``, in steps of
    ``_YEAR_STEP``."""
    # Squared in floats: a tiny premium or target can make this overflow to infinity.
    ratio = relative / target
    years = done * ratio * ratio
    if not math.isfinite(years) or years >= cap:
        return cap
    needed = math.ceil(years / _YEAR_STEP) * _YEAR_STEP
    return int(min(max(needed, done), cap))


def _years_needed(
    annual_loss: npt.NDArray[np.float64], *, tables: RatingTables, target: float, cap: int
) -> int:
    """The years a quote on the sample means needs, from a pilot's annual losses."""
    settings = tables.pricing.premium
    batches = tables.pricing.precision.batches
    error = premium_standard_error(annual_loss, settings, batches)
    premium = technical_premium(annual_loss, settings)
    relative = error / premium if premium > 0 else 0.0
    return _years_for(relative, annual_loss.size, target, cap)


@dataclass
class _StagedPrecision:
    """The years a quote with control variates needs, from its run so far (a
    ``simulate_many_until`` stage check); keeps its last fit, which is the quote's own when the
    run stops there."""

    tables: RatingTables
    target: float
    cap: int
    means: tuple[float, ...]
    fitted: tuple[int, ControlVariates, BookYears] | None = None

    def __call__(
        self, annual_loss: npt.NDArray[np.float64], controls: npt.NDArray[np.float64] | None
    ) -> int:
        assert controls is not None  # the run keeps them
        settings = self.tables.pricing.premium
        years = BookYears.of(annual_loss, settings)
        fitted = ControlVariates.fit(
            annual_loss, controls, self.means, settings, weights=years.weights
        )
        premium, error = technical_premium_and_error(
            annual_loss, settings, self.tables.pricing.precision.batches, fitted, years
        )
        self.fitted = (annual_loss.size, fitted, years)
        relative = error / premium if premium > 0 else 0.0
        return _years_for(relative, annual_loss.size, self.target, self.cap)


_RATED = memo(128)
"""Rated profiles of recent submissions, weighed by the kilobytes of their JSON, plus one (a
rated profile of the examples, about 2 KiB of JSON, holds 110 to 170 KiB, traced): about 64
of the examples' submissions, 5 MiB per process full where they share their scenarios (renamed
labs, traced) and up to about 11 MiB where they share nothing."""


def _rated(
    submission: Submission, tables: RatingTables, as_of: dt.date
) -> tuple[RiskProfile, ExperienceRating]:
    """:func:`rate_with_experience`, kept for the same submission (by its JSON, which writes
    every float exactly), the same loaded tables and the same day: a revision of the terms, a
    replay or the same submission quoted again. Both are frozen. The quote's memos of the
    impacts' work then find the profile's impacts by identity, without hashing them."""
    text = submission.model_dump_json()
    return _RATED.get(
        (text, Identity(tables), as_of),
        lambda: rate_with_experience(submission, tables, as_of=as_of),
        weight=1 + len(text) // 1024,
    )


def _stratified_years(
    profile: RiskProfile,
    term_sets: Sequence[PolicyTerms],
    strata: Sequence[Stratum],
    seed: int,
    tables: RatingTables,
    target: float,
    cap: int,
    given: Sequence[int] | None,
) -> StratifiedYears:
    """Every set of terms on the years of every stratum (docs/pricing.md, "Stratified years").

    Where the tables use control variates, each stratum's are fitted on the first set of
    terms in its own years: the four of 2026.4 in the stratum of no rare event (and the sum of
    its events' totals cubed where the tables' ``event_power_controls`` say so), which simulates
    at least a quote's pilot years (at which their standard error was checked against the
    spread over seeds), and the first (c1) alone in each rare scenario's stratum, whose few
    thousand heavy-tailed years would bias a fit of four. The years are ``given`` (in the
    strata's order: a replay, a revision or a renewal), or found in three steps: a pilot of
    each rare stratum on the first set of terms, from seeds of its own, gives its error per
    year; the stratum of no rare event runs in stages (as a quote on one sample does), each
    stage's own error and the pilots' giving Neyman's allocation (each stratum's years in
    proportion to its probability times its error per year, the fewest that meet ``target``)
    and so its years; the rare strata then share the variance it leaves, by the same
    allocation, each at least its pilot's years. A rare stratum's years thus depend on the
    pilots and on the other stratum, never on its own years, which would bias its mean. The
    strata's years above their least are scaled down to ``cap`` where they would pass it (the
    caller prices on one sample where the least alone pass it); the pilots come on top."""
    settings = tables.pricing.premium
    precision = tables.pricing.precision
    means = (
        stratum_control_means(
            profile,
            term_sets[0],
            [s.profile for s in strata],
            first_only=[h > 0 for h in range(len(strata))],  # the rare strata fit c1 alone
        )
        if precision.control_variates
        else None
    )
    # Where the tables say so, the stratum of no rare event also fits on the sum of its events'
    # totals cubed (runs with four rows of controls), whose mean is known too; not where
    # scenarios share draws (no c4: three means), whose fit stays as it was. The fourth power
    # was tried and left out: its mean rests on events too rare for the run to see (biobank's
    # stratum came out biased, its error a third of its spread; docs/pricing.md).
    powers = means is not None and precision.event_power_controls and len(means[0]) == 4
    if powers:
        assert means is not None
        (cubes,) = event_power_means(profile, term_sets[0], [strata[0].profile], highest=3)[0]
        means[0] = (*means[0], cubes)
    quiet_controls = 4 if powers else True
    pilot_years = _pilot_years(precision)
    least = _least(strata, precision)

    def priced(
        h: int,
        results: Sequence[SimulationResult],
        fitted: tuple[BookYears, ControlVariates] | None = None,
    ) -> StratumYears:
        first = results[0]
        if fitted is not None and fitted[0].loss.size == first.n_years:
            books = (fitted[0], *(BookYears.of(r.annual_loss, settings) for r in results[1:]))
            return StratumYears(strata[h].label, strata[h].probability, books, fitted[1])
        books = tuple(BookYears.of(r.annual_loss, settings) for r in results)
        fit = None
        if means is not None and first.controls is not None:
            fit = ControlVariates.fit(
                first.annual_loss,
                first.controls,
                means[h] if h == 0 else means[h][:1],
                settings,
                weights=books[0].weights,
            )
        return StratumYears(strata[h].label, strata[h].probability, books, fit)

    def run(h: int, years: int, sets: Sequence[PolicyTerms], label: str) -> StratumYears:
        controlled = (quiet_controls if h == 0 else True) if means is not None else False
        return priced(
            h,
            simulate_many(
                strata[h].profile,
                sets,
                n_years=years,
                seed=stratum_seed(seed, label),
                detail="annual",
                controls=controlled,
            ),
        )

    def final(years: Sequence[int]) -> StratifiedYears:
        """Every stratum's years, under every set of terms."""
        return StratifiedYears(
            tuple(run(h, n, term_sets, strata[h].label) for h, n in enumerate(years))
        )

    if given is not None:
        return final(given)
    # Pilots of the strata that do not run in stages, from seeds of their own.
    staged = means is not None
    pilots = [
        run(h, pilot_years, term_sets[:1], f"pilot\x00{s.label}")
        for h, s in enumerate(strata)
        if h or not staged
    ]

    def spread(stratum: StratumYears) -> float:
        """Its probability times its error per year."""
        return (
            stratum.probability * stratum.error(settings, 0) * math.sqrt(stratum.years[0].loss.size)
        )

    def allocated(known: Sequence[StratumYears]) -> list[int]:
        """The allocation by the strata ``known`` (each stratum, in order)."""
        technical = StratifiedYears(tuple(known)).technical(settings)[0]
        spreads = [spread(s) for s in known]
        if not (technical > 0 and all(math.isfinite(x) for x in spreads) and sum(spreads) > 0):
            return list(least)
        return _allocated_years(spreads, (target * technical) ** 2, cap, least)

    if not staged:
        return final(allocated(pilots))
    # The stratum of no rare event in stages (as a quote on one sample): its years so far
    # (its own error; a pilot's would be too rough) and the rare strata's pilots give the
    # allocation, and so its years. The rare strata's years come after it, from the pilots and
    # its final error.
    assert means is not None
    quiet = strata[0]
    checked: list[tuple[BookYears, ControlVariates]] = []  # the last stage's, reused if last

    def needed(
        annual_loss: npt.NDArray[np.float64], controls: npt.NDArray[np.float64] | None
    ) -> int:
        assert controls is not None  # the run keeps them
        books = BookYears.of(annual_loss, settings)
        fit = ControlVariates.fit(annual_loss, controls, means[0], settings, weights=books.weights)
        checked[:] = [(books, fit)]
        so_far = StratumYears(quiet.label, quiet.probability, (books,), fit)
        return allocated([so_far, *pilots])[0]

    first = priced(
        0,
        simulate_many_until(
            quiet.profile,
            term_sets,
            first_years=least[0],
            max_years=max(cap - sum(least[1:]), least[0]),
            needed=needed,
            seed=stratum_seed(seed, quiet.label),
            year_loss_tables=False,
            max_occurrence=False,
            controls=quiet_controls,
        ),
        checked[0] if checked else None,
    )
    used = (quiet.probability * first.error(settings, 0)) ** 2
    technical = StratifiedYears((first, *pilots)).technical(settings)[0]
    rest = (
        _allocated_years(
            [spread(s) for s in pilots],
            (target * technical) ** 2 - used,
            cap - first.years[0].loss.size,
            least[1:],
        )
        if technical > 0
        else least[1:]
    )
    return StratifiedYears(
        (first, *(run(h, n, term_sets, strata[h].label) for h, n in enumerate(rest, start=1)))
    )


def _pilot_years(precision: PrecisionSettings) -> int:
    """A rare stratum's pilot years (tables that stratify give them: the schema checks)."""
    assert precision.stratum_pilot_years is not None
    return precision.stratum_pilot_years


def _least(strata: Sequence[Stratum], precision: PrecisionSettings) -> list[int]:
    """Each stratum's least years: its pilot's, and for the stratum of no rare event with
    control variates the pilot's years of a quote (at which their error was checked)."""
    least = [_pilot_years(precision)] * len(strata)
    if precision.control_variates:
        least[0] = max(least[0], precision.pilot_years)
    return least


def _allocated_years(
    spreads: Sequence[float], budget: float, cap: int, least: Sequence[int]
) -> list[int]:
    """Neyman's allocation of the fewest years whose variance, by strata of ``spreads``
    (probability times error per year), is at most ``budget``: each stratum's years in
    proportion to its spread, at least its ``least`` (a stratum held there takes its own share
    of the variance; the others share the rest), all within ``cap``."""
    held: set[int] = set()
    wanted: dict[int, float] = {}
    while True:
        free = [h for h in range(len(spreads)) if h not in held]
        remaining = budget - sum(spreads[h] ** 2 / least[h] for h in held)
        total = sum(spreads[h] for h in free)
        if not free or remaining <= 0 or total <= 0:
            wanted = {h: float(least[h]) for h in free}
            break
        wanted = {h: spreads[h] * total / remaining for h in free}
        below = {h for h in free if wanted[h] < least[h]}
        if not below:
            break
        held |= below
    years = [
        least[h]
        if h in held
        else max(least[h], math.ceil(wanted[h] / _STRATUM_STEP) * _STRATUM_STEP)
        for h in range(len(spreads))
    ]
    above = sum(years) - sum(least)
    if sum(years) > cap and above > 0:  # the years above the least, scaled down to the cap
        room = max(cap - sum(least), 0)
        years = [low + (n - low) * room // above for n, low in zip(years, least, strict=True)]
    return years


def _check_budget(profile: RiskProfile, n_years: int, term_sets: int, max_events: float) -> None:
    """Refuse a quote whose simulated events times the sets of terms priced on them (the terms,
    each option and the build-up's variants) exceed ``max_events``: a service's time budget."""
    rate = expected_events_per_year(profile)
    work = rate * n_years * term_sets
    if work <= max_events:
        return
    frequent = sorted(profile.scenarios, key=lambda s: s.frequency.mean, reverse=True)[:3]
    named = ", ".join(f"{s.id} {s.frequency.mean:,.4g}" for s in frequent)
    raise SimulationLimitError(
        f"this quote would price {term_sets} sets of terms on about {rate * n_years:,.0f} "
        f"simulated events ({rate:,.4g} a year for {n_years:,} years), {work:,.0f} in all; the "
        f"limit is {max_events:,.0f}. Most frequent scenarios (events a year): {named}. Check "
        "the exposures that drive them, or ask for fewer options"
    )


def _draft_warnings(tables: RatingTables) -> tuple[UnderwritingWarning, ...]:
    """``DRAFT_TABLES`` when the tables are a draft: figures that may still change."""
    if not tables.draft:
        return ()
    return (
        UnderwritingWarning(
            code="DRAFT_TABLES",
            message=f"rating tables {tables.version} are a draft, not released: their numbers "
            "may still change, so this quote is for study, not for a client",
            field=None,
            value=tables.version,
        ),
    )


def _precision_warnings(
    premium: Premium, target: float | None, n_years: int, cap: int
) -> tuple[UnderwritingWarning, ...]:
    """``PRECISION_NOT_REACHED`` when the premium's relative standard error is above the target.

    Uses only what the provenance records (target, years) and the tables (cap), so that a replay
    gives the same warning.
    """
    achieved = premium.relative_error
    if target is None or not math.isfinite(achieved) or achieved <= target:
        return ()
    where = (
        f"at the tables' cap of {cap:,} simulated years"
        if n_years >= cap
        else f"after {n_years:,} simulated years (the tables' cap is {cap:,})"
    )
    return (
        UnderwritingWarning(
            code="PRECISION_NOT_REACHED",
            message=f"the technical premium's relative standard error is {achieved:.2%}, above "
            f"the target of {target:.2%}, {where}: the premium is less precise than asked "
            f"(standard error {premium.standard_error:,.0f})",
            field="target_relative_error",
            value=target,
        ),
    )


def _option_quote(
    label: str,
    terms: PolicyTerms,
    result: SimulationResult,
    main: SimulationResult,
    main_premium: Premium,
    controls: ControlVariates | None,
    main_years: BookYears | None,
    known: Mapping[str, Fact],
    experience: ExperienceRating,
    implausible: Sequence[UnderwritingWarning],
    tables: RatingTables,
    stratified: StratifiedYears | None,
    index: int,
) -> OptionQuote:
    """An option priced and decided like the terms asked for, and compared with them (with the
    control variates of the main terms: the same shift, so the comparison is that of the
    sample means); on the strata's years, as term set ``index``, where the quote has them."""
    settings = tables.pricing.premium
    batches = tables.pricing.precision.batches
    years = None if main_years is None else BookYears.of(result.annual_loss, settings)
    estimate = None if stratified is None else stratified.estimate(settings, index)
    premium = price(
        result, settings, batches=batches, controls=controls, book_years=years, estimate=estimate
    )
    facts = _facts(known, result, premium, experience, implausible)
    if stratified is not None:
        paired = stratified.paired_standard_error(settings, index)
    elif years is None or main_years is None:
        paired = paired_standard_error(
            main.annual_loss, settings, result.annual_loss, settings, batches
        )
    else:
        paired = years.paired_standard_error(main_years, settings, batches)
    return OptionQuote(
        label=label,
        terms=terms,
        premium=premium,
        metrics=_headline(result),
        decision=decide(facts, tables.rules),
        difference=premium.technical - main_premium.technical,
        difference_standard_error=paired,
    )


def _option_quotes(
    profile: RiskProfile,
    options: Sequence[PolicyTerms],
    labels: Sequence[str],
    main: SimulationResult,
    main_premium: Premium,
    controls: ControlVariates | None,
    main_years: BookYears | None,
    known: Mapping[str, Fact],
    experience: ExperienceRating,
    implausible: Sequence[UnderwritingWarning],
    tables: RatingTables,
    seed: int,
    stratified: StratifiedYears | None,
    first_pass: list[tuple[SimulationResult, ...]] | None = None,
) -> tuple[OptionQuote, ...]:
    """The options priced on the events of ``main``, in passes of at most
    ``OPTION_PASS_BYTES`` of arrays: each option's annual losses and insured column of the
    year loss table, whose rows (the same as ``main``'s) a pass holds once. ``first_pass``:
    the first pass's results where the caller has run it (``_first_option_pass``), taken out
    of the list, so that they go with their pass as the others do."""
    per_pass = _options_per_pass(main)
    quotes: list[OptionQuote] = []
    for first in range(0, len(options), per_pass):
        batch = options[first : first + per_pass]
        results = (
            first_pass.pop()
            if first == 0 and first_pass
            else _option_pass(profile, batch, main.n_years, seed)
        )
        for number, (label, terms, result) in enumerate(
            zip(labels[first : first + per_pass], batch, results, strict=True), start=first + 1
        ):
            priced = _option_quote(
                label, terms, result, main, main_premium, controls, main_years, known,
                experience, implausible, tables, stratified, number,
            )  # fmt: skip
            quotes.append(priced)
        del results, result  # let this pass's arrays go before the next pass fills its own
    return tuple(quotes)


def _options_per_pass(main: SimulationResult) -> int:
    """How many options one pass over ``main``'s events prices within ``OPTION_PASS_BYTES``
    (at least one)."""
    table = main.year_loss_table
    keys_bytes = insured_bytes = 0
    if table is not None:
        keys_bytes = table.year.nbytes + table.scenario.nbytes + table.section.nbytes
        keys_bytes += table.ground_up.nbytes
        insured_bytes = table.insured.nbytes
    per_option = main.annual_loss.nbytes + insured_bytes
    room = max(OPTION_PASS_BYTES - keys_bytes, 0)
    return max(1, int(room // max(per_option, 1)))


def _option_pass(
    profile: RiskProfile, batch: Sequence[PolicyTerms], n_years: int, seed: int
) -> tuple[SimulationResult, ...]:
    """One pass of options on the quote's own events: the same years and seed as its own run,
    each with its annual losses and year loss table."""
    return simulate_many(
        profile, batch, n_years=n_years, seed=seed, year_loss_tables=True, max_occurrence=False
    )


def _first_option_pass(
    profile: RiskProfile,
    options: Sequence[PolicyTerms],
    shown: Future[tuple[SimulationResult, ...]],
    seed: int,
) -> tuple[SimulationResult, ...]:
    """The first pass of ``options`` once the quote's own run ``shown`` is done (its year loss
    table sizes the pass), for :func:`_option_quotes`: run in the own run's thread, beside the
    strata, it fills a core their Python leaves idle. The results are those of the pass run
    later, bit for bit: the same call."""
    main = shown.result()[0]
    return _option_pass(profile, options[: _options_per_pass(main)], main.n_years, seed)


def _seed(seed: int | str | None, tables: RatingTables) -> int:
    if seed is None:
        return tables.pricing.precision.default_seed
    try:
        return parse_seed(seed)
    except ValueError as error:
        raise UnderwritingError(f"seed {seed!r}: {error}") from error


def quote(
    submission: Submission | QuoteRequest,
    terms: PolicyTerms | None = None,
    *,
    tables: RatingTables | None = None,
    seed: int | str | None = None,
    options: Sequence[PolicyTerms] = (),
    target_relative_error: float | None = None,
    n_years: int | None = None,
    created_at: dt.datetime | None = None,
    max_events: float | None = None,
    max_years: int | None = None,
    labels: Sequence[str] = (),
    sample_means: bool = False,
    strata_years: Mapping[str, int] | None = None,
) -> Quote:
    """Quote a lab: premium with its build-up, options, experience and decision.

    Parameters
    ----------
    submission, terms
        The lab and the terms asked for; or a :class:`~underwriting.request.QuoteRequest` alone
        (``quote(request)``), whose options, option labels, seed and precision target are used
        unless given here too (an argument given here wins).
    tables
        Rating tables; the newest version by default.
    seed
        Integer or decimal string; the tables' fixed default when ``None``, so that two quotes of
        the same lab differ only by what the underwriter changed.
    options
        Alternative terms, priced on the same simulated events; each is decided by the same
        rules and compared with ``terms`` (``OptionQuote.difference`` and its paired error).
    target_relative_error
        Relative standard error of the technical premium to reach (the tables' default when
        ``None``); when ``n_years`` is given it is only recorded (replay passes the original).
    n_years
        Simulate exactly this many years instead of choosing by precision. With tables that
        stratify (2026.5 on), the years of the quote's own run, which shows the distribution;
        the strata's years are then chosen by precision unless ``strata_years`` gives them.
    created_at
        Timestamp of the quote (now by default); the validity period runs from it.
    max_events
        Refuse (``SimulationLimitError``) a quote whose expected events times the sets of terms
        priced on them (the terms, each option, the build-up's variants) exceed it: a service's
        time budget against pathological submissions, checked before anything is simulated.
    max_years
        A cap on the years chosen by precision, below the tables' own cap (a service's latency
        budget); the quote then reports the error it reached (and warns: ``Quote.warnings``).
    labels
        The caller's names for the options, in order; an option without one is ``option N``.
    sample_means
        Price with the sample means even where the tables estimate with control variates
        (2026.4 on; docs/pricing.md, "Control variates"): each quote's controls shift its
        premium by their own amount, so quotes of one lab at different rating factors are no
        longer exactly monotone in the factor; ``uw.sensitivity`` asks for this. Recorded in the
        provenance.
    strata_years
        The years of each stratum, by label, of a premium from stratified years (tables 2026.5
        on; ``Provenance.strata_years``): a replay passes the quote's own, a revision or a
        renewal its parent's. They apply where the lab's strata are those labels; otherwise the
        years are chosen by precision. With such tables, ``n_years`` is the years of the quote's
        own run, which shows the distribution (the tables' pilot's years when ``None``).

    Raises
    ------
    TermsError
        If the terms or an option give no cover (:func:`underwriting.terms.cover_problems`).
    ProfileError
        If a claim is dated after ``created_at``'s date, or names an unknown scenario.
    SimulationLimitError
        If the quote would exceed ``max_events``.

    Example
    -------
    >>> import pathlib
    >>> from underwriting.request import QuoteRequest, option_labels
    >>> request = QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> q = quote(request.submission, request.terms, n_years=20_000)
    >>> q.decision.outcome in ("quoted", "referred", "declined")
    True
    >>> sum(q.premium.by_section.values()) == q.premium.total
    True
    """
    if isinstance(submission, QuoteRequest):
        if terms is not None:
            raise TypeError(
                "quote(request, ...): a QuoteRequest carries its own terms; pass either a "
                "request, or a submission and its terms"
            )
        request = submission
        submission, terms = request.submission, request.terms
        seed = request.seed if seed is None else seed
        if not options:
            options, labels = request.options, request.option_labels
        if target_relative_error is None:
            target_relative_error = request.target_relative_error
    if not isinstance(submission, Submission) or not isinstance(terms, PolicyTerms):
        raise TypeError(
            "quote() quotes a QuoteRequest, or a Submission followed by its PolicyTerms; got "
            f"{type(submission).__name__} and {type(terms).__name__}"
        )
    check_cover(terms, "terms")
    for number, option in enumerate(options):
        check_cover(option, f"options[{number}]")
    tables = tables or load_rating_tables()
    chosen_seed = _seed(seed, tables)
    precision = tables.pricing.precision
    target = target_relative_error or precision.target_relative_error
    if not 0 < target < 1:
        raise UnderwritingError(f"target_relative_error must be in (0, 1), got {target}")
    created = created_at or dt.datetime.now(dt.UTC)
    profile, experience = _rated(submission, tables, created.date())
    variants = _term_variants(terms)
    # The terms and the build-up's variants in one pass; the variants keep their annual losses
    # only (the worksheet prices them), the options come after, in passes of bounded memory.
    # Control variates where the tables use them, unless asked for the sample means, and for
    # runs of at least the pilot's years: below (a service's latency cap, a few years given),
    # the exact means' fixed cost (about 12 ms) is more than the simulation's.
    cap = precision.max_years if max_years is None else min(max_years, precision.max_years)
    estimated = not sample_means and (n_years or cap) >= precision.pilot_years
    if strata_years and precision.stratify_below is None:
        raise UnderwritingError(
            f"strata_years were given, but tables {tables.version} price on one sample of "
            "years (their [precision] has no stratify_below)"
        )
    strata = (
        rare_strata(profile, precision.stratify_below)
        if precision.stratify_below is not None and estimated
        else ()
    )
    given = (
        [strata_years[s.label] for s in strata]
        if strata and strata_years and set(strata_years) == {s.label for s in strata}
        else None
    )
    if strata and given is None and sum(_least(strata, precision)) > cap:
        strata = ()  # a cap below the strata's least years: one sample, within the cap
    if max_events is not None:
        planned = n_years or cap
        if strata:
            planned = (n_years or min(precision.pilot_years, cap)) + (
                cap if given is None else sum(given)
            )
        _check_budget(profile, planned, 1 + len(options) + len(variants), max_events)
    means = (
        control_means(profile, terms)
        if precision.control_variates and estimated and not strata
        else None
    )
    run: dict[str, Any] = {
        "seed": chosen_seed,
        "year_loss_tables": [True] + [False] * len(variants),
        "max_occurrence": [True] + [False] * len(variants),
        "controls": means is not None,
    }
    stratified = None
    first_options: list[tuple[SimulationResult, ...]] = []  # the options' first pass, if early
    recorded_target: float | None
    if strata:
        # The premium (and the options') from strata of years; the quote's own run, of the
        # pilot's years, shows the distribution and prices the worksheet's variants.
        recorded_target = target_relative_error if given is not None else target
        n_years = n_years or min(precision.pilot_years, cap)
        # The own run's kernel runs without the GIL, so it goes on in a thread of its own while
        # this one works out the strata's exact means and runs their small simulations, which
        # are mostly Python (a core otherwise idle; the results are the same either way).
        # The options' first pass follows the own run in that thread.
        with ThreadPoolExecutor(1, thread_name_prefix="uw-own-run") as own_run:
            shown = own_run.submit(
                simulate_many, profile, [terms, *variants.values()], n_years=n_years, **run
            )
            option_pass = (
                own_run.submit(_first_option_pass, profile, options, shown, chosen_seed)
                if options
                else None
            )
            stratified = _stratified_years(
                profile, [terms, *options], strata, chosen_seed, tables, target, cap, given
            )
            results = shown.result()
            if option_pass is not None:
                first_options.append(option_pass.result())
                del option_pass  # the future would hold the pass's arrays too
    elif means is not None:
        # Tables with control variates choose the years on the quote's own run, in stages: the
        # pilot's years, then as many as the error so far asks for (re-checked once more). The
        # worksheet's variants stop after the pilot's years (given years too, so that a replay
        # reproduces the quote): its rows are differences on the same years, far more precise
        # than the premium itself.
        staged: _StagedPrecision | None = None
        if n_years is None:
            staged = _StagedPrecision(tables, target, cap, means)
            needed: YearsNeeded = staged
            recorded_target = target
        else:
            cap = n_years
            needed = functools.partial(_given_years, n_years)
            recorded_target = target_relative_error
        results = simulate_many_until(
            profile,
            [terms, *variants.values()],
            first_years=min(precision.pilot_years, cap),
            max_years=cap,
            needed=needed,
            carried=1,
            **run,
        )
        n_years = results[0].n_years
    else:
        if n_years is None:
            n_years = _choose_years(profile, terms, tables, chosen_seed, target, max_years)
            recorded_target = target
        else:
            recorded_target = target_relative_error
        results = simulate_many(profile, [terms, *variants.values()], n_years=n_years, **run)
    main = results[0]
    variant_results = dict(zip(variants, results[1:], strict=True))
    settings = tables.pricing.premium
    controls = main_years = None
    if means is not None and main.controls is not None:
        if staged is not None and staged.fitted is not None and staged.fitted[0] == main.n_years:
            _, controls, main_years = staged.fitted  # the last stage's check fitted these years
        else:
            main_years = BookYears.of(main.annual_loss, settings)
            controls = ControlVariates.fit(
                main.annual_loss, main.controls, means, settings, weights=main_years.weights
            )
    premium = price(
        main,
        settings,
        batches=precision.batches,
        controls=controls,
        book_years=main_years,
        estimate=None if stratified is None else stratified.estimate(settings),
    )
    implausible = _plausibility_warnings(submission, tables)
    known = submission_facts(submission)
    decision = decide(_facts(known, main, premium, experience, implausible), tables.rules)
    rows = worksheet(tables, profile, experience, main, variant_results, premium, stratified)
    del results, variant_results
    option_quotes = _option_quotes(
        profile,
        options,
        option_labels(tuple(labels), len(options)),
        main,
        premium,
        controls,
        main_years,
        known,
        experience,
        implausible,
        tables,
        chosen_seed,
        stratified,
        first_options,
    )
    provenance = Provenance(
        seed=str(chosen_seed),
        tables_version=tables.version,
        tables_sha256=dict(tables.sha256),
        package_version=package_version(),
        n_years=n_years,
        block_size=main.block_size,
        target_relative_error=recorded_target,
        created_at=created,
        sample_means=sample_means and means is None and precision.control_variates,
        strata_years={} if stratified is None else stratified.by_label,
    )
    return Quote(
        submission=submission,
        terms=terms,
        premium=premium,
        worksheet=rows,
        decision=decision,
        options=option_quotes,
        metrics=_headline(main),
        experience=experience,
        provenance=provenance,
        valid_until=created + dt.timedelta(days=settings.quote_validity_days),
        warnings=(
            *_draft_warnings(tables),
            *experience.warnings,
            *implausible,
            *_precision_warnings(
                premium,
                recorded_target,
                n_years if stratified is None else sum(stratified.years),
                precision.max_years,
            ),
        ),
        result=main,
        controls=controls,
        stratified=stratified,
    )


def quote_request(
    request: QuoteRequest,
    *,
    tables: RatingTables | None = None,
    max_events: float | None = None,
    max_years: int | None = None,
) -> Quote:
    """Quote a :class:`QuoteRequest` with its options, seed and precision."""
    return quote(
        request.submission,
        request.terms,
        tables=tables,
        seed=request.seed,
        options=request.options,
        target_relative_error=request.target_relative_error,
        max_events=max_events,
        max_years=max_years,
        labels=request.option_labels,
    )


def replay(
    provenance: Provenance, request: QuoteRequest, *, tables: RatingTables | None = None
) -> Quote:
    """Rebuild a quote from its provenance: the same tables, seed, years and timestamp.

    ``tables`` are the tables of the recorded version already loaded (a service's); they are
    loaded from the packaged tables when ``None``.

    Raises
    ------
    UnderwritingError
        If the tables are of another version, or no longer have the recorded hashes.
    """
    if tables is None:
        tables = load_rating_tables(provenance.tables_version)
    if tables.version != provenance.tables_version:
        raise UnderwritingError(
            f"the quote was made with tables {provenance.tables_version}, not {tables.version}"
        )
    if dict(tables.sha256) != dict(provenance.tables_sha256):
        raise UnderwritingError(
            f"tables {provenance.tables_version} have changed since the quote: their sha256 no "
            "longer match the provenance"
        )
    return quote(
        request.submission,
        request.terms,
        tables=tables,
        seed=provenance.seed,
        options=request.options,
        target_relative_error=provenance.target_relative_error,
        n_years=provenance.n_years,
        created_at=provenance.created_at,
        labels=request.option_labels,
        sample_means=provenance.sample_means,
        strata_years=provenance.strata_years,
    )


def warm_up() -> bool:
    """Compile the compiled engine's year loop and the pricing's book weights now (or load them
    from numba's on-disk cache), not on a quote's first use. A server calls it at start-up so
    that no request waits for the compiler. Returns whether the compiled engine is available
    here."""
    ready = warm_up_engine()
    warm_up_pricing()
    return ready
