"""Two quote requests priced on common random numbers, and their difference with its paired error.

The engine draws every uniform from ``(seed, scenario id, year, event, dimension)``
(``underwriting.engine``), so two quotes with the same seed and number of years see the same
events wherever their scenarios are the same: a change of terms, of an exposure, of the claims
history or of the tables version moves the premium by its own effect, not by noise. The error of
the difference is then estimated over the *paired* years (batch means over the same batches,
:func:`underwriting.pricing.paired_standard_error`): common events cancel, and the paired error
is far below either premium's own.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from underwriting.errors import UnderwritingError
from underwriting.pricing import batch_error, batch_technical_premiums, paired_standard_error
from underwriting.quote import Quote, quote
from underwriting.rating import RatingTables, load_rating_tables
from underwriting.request import QuoteRequest
from underwriting.results import Metric, SimulationResult


@dataclass(frozen=True, slots=True)
class PairedDifference:
    """``second - first`` for two quotes of the same seed and years.

    Attributes
    ----------
    technical
        Difference of the technical premiums (currency) and its paired standard error, by batch
        means over the same years (the first quote's tables' number of batches).
    expected_loss
        Difference of the expected annual insured losses (currency) and its paired standard
        error, ``std(second_year - first_year) / sqrt(years)`` over the same years.
    """

    technical: Metric
    expected_loss: Metric


@dataclass(frozen=True, slots=True)
class PairedQuotes:
    """Two requests quoted on the same simulated events.

    Attributes
    ----------
    first, second
        The two quotes; each premium carries its own standard error
        (``Quote.premium.standard_error``).
    seed, n_years
        Of both quotes.
    difference
        ``second - first``: technical premium and expected loss, each with its paired error.
    """

    first: Quote
    second: Quote
    seed: str
    n_years: int
    difference: PairedDifference

    def summary(self) -> str:
        """The two premiums and their difference, for a person."""
        first, second = self.first.premium, self.second.premium
        technical, loss = self.difference.technical, self.difference.expected_loss
        return "\n".join(
            [
                f"seed {self.seed}, {self.n_years:,} simulated years for both",
                f"first:  technical {first.technical:,.0f} ± {first.standard_error:,.0f} "
                f"(tables {self.first.provenance.tables_version})",
                f"second: technical {second.technical:,.0f} ± {second.standard_error:,.0f} "
                f"(tables {self.second.provenance.tables_version})",
                f"difference: technical {technical.value:+,.0f} ± {technical.standard_error:,.0f}, "
                f"expected loss {loss.value:+,.0f} ± {loss.standard_error:,.0f} (paired)",
            ]
        )


def simulation_of(q: Quote, which: str) -> SimulationResult:
    """The quote's simulation; an error naming ``which`` quote if it carries none."""
    if q.result is None:
        raise UnderwritingError(
            f"the {which} quote carries no simulation (a quote read back from storage): "
            "price it again to compare it on the same events"
        )
    return q.result


def _check_tables(q: Quote, tables: RatingTables, which: str) -> None:
    if tables.version != q.provenance.tables_version:
        raise UnderwritingError(
            f"{which}_tables are version {tables.version}, but the {which} quote was priced "
            f"with tables {q.provenance.tables_version}: pass the tables it was priced with"
        )


def paired_difference(
    first: Quote,
    second: Quote,
    *,
    first_tables: RatingTables,
    second_tables: RatingTables,
) -> PairedDifference:
    """``second - first`` with paired standard errors, for quotes of the same seed and years.

    Parameters
    ----------
    first, second
        Quotes made in this process (they carry their simulation), with the same seed and
        number of years.
    first_tables, second_tables
        The tables each was priced with (their premium settings price each batch).

    Raises
    ------
    UnderwritingError
        If the quotes differ in seed or years (their events would not be the same), carry no
        simulation, or the tables are not the versions they were priced with.

    Example
    -------
    >>> import pathlib
    >>> from underwriting.rating import load_rating_tables
    >>> request = QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> tables = load_rating_tables("2026.2")
    >>> a = quote(request.submission, request.terms, tables=tables, seed=7, n_years=5_000)
    >>> b = quote(request.submission, request.terms, tables=tables, seed=7, n_years=5_000)
    >>> paired_difference(a, b, first_tables=tables, second_tables=tables).technical
    Metric(name='technical premium difference', value=0.0, standard_error=0.0)
    """
    for q, tables, which in ((first, first_tables, "first"), (second, second_tables, "second")):
        _check_tables(q, tables, which)
    one, two = simulation_of(first, "first"), simulation_of(second, "second")
    if first.provenance.seed != second.provenance.seed:
        raise UnderwritingError(
            f"the quotes have different seeds ({first.provenance.seed} and "
            f"{second.provenance.seed}): a paired difference needs the same seed"
        )
    if one.n_years != two.n_years:
        raise UnderwritingError(
            f"the quotes simulated different numbers of years ({one.n_years:,} and "
            f"{two.n_years:,}): a paired difference needs the same years"
        )
    batches = first_tables.pricing.precision.batches
    if first.stratified is not None or second.stratified is not None:
        # Strata (tables 2026.5 on): batch by batch in every stratum, each premium as its quote
        # estimated it; paired where the two quotes share their strata's years.
        two_technical, two_loss = second.batch_estimates(second_tables.pricing.premium, batches)
        one_technical, one_loss = first.batch_estimates(first_tables.pricing.premium, batches)
        return PairedDifference(
            technical=Metric(
                "technical premium difference",
                second.premium.technical - first.premium.technical,
                batch_error(two_technical - one_technical),
            ),
            expected_loss=Metric(
                "expected loss difference",
                second.premium.expected_loss - first.premium.expected_loss,
                batch_error(two_loss - one_loss),
            ),
        )
    if first.controls is None and second.controls is None:
        technical_error = paired_standard_error(
            one.annual_loss,
            first_tables.pricing.premium,
            two.annual_loss,
            second_tables.pricing.premium,
            batches,
        )
    else:
        # Each premium as its quote estimated it (control variates where its tables use them),
        # batch by batch on the same years.
        per_batch = batch_technical_premiums(
            two.annual_loss, second_tables.pricing.premium, batches, second.controls
        ) - batch_technical_premiums(
            one.annual_loss, first_tables.pricing.premium, batches, first.controls
        )
        technical_error = (
            float(np.std(per_batch, ddof=1) / math.sqrt(batches))
            if one.n_years // batches >= 2
            else math.inf
        )
    yearly = _adjusted(second, two) - _adjusted(first, one)
    loss_error = (
        float(np.std(yearly, ddof=1) / math.sqrt(yearly.size)) if yearly.size > 1 else math.inf
    )
    return PairedDifference(
        technical=Metric(
            "technical premium difference",
            second.premium.technical - first.premium.technical,
            technical_error,
        ),
        expected_loss=Metric(
            "expected loss difference",
            second.premium.expected_loss - first.premium.expected_loss,
            loss_error,
        ),
    )


def _adjusted(q: Quote, result: SimulationResult) -> npt.NDArray[np.float64]:
    """The quote's annual losses as its expected loss counts them (less the control variates'
    share of each year, where it has them)."""
    return (
        result.annual_loss if q.controls is None else q.controls.adjusted_losses(result.annual_loss)
    )


def _common_seed(
    seed: int | str | None, first: QuoteRequest, second: QuoteRequest, tables: RatingTables
) -> int | str:
    if seed is not None:
        return seed
    if first.seed is not None and second.seed is not None and first.seed != second.seed:
        raise UnderwritingError(
            f"the two requests name different seeds ({first.seed} and {second.seed}): pass "
            "seed= to choose the one both are priced on"
        )
    named = first.seed if first.seed is not None else second.seed
    return named if named is not None else tables.pricing.precision.default_seed


def price_pair(
    first: QuoteRequest,
    second: QuoteRequest,
    *,
    first_tables: RatingTables | None = None,
    second_tables: RatingTables | None = None,
    seed: int | str | None = None,
    n_years: int | None = None,
    created_at: dt.datetime | None = None,
    max_events: float | None = None,
) -> PairedQuotes:
    """Quote two requests on common random numbers and return both with their paired difference.

    The requests may differ in anything: submission, terms, claims history, and (through
    ``first_tables`` and ``second_tables``) the tables version. Their options are not priced.

    Parameters
    ----------
    first, second
        The two requests.
    first_tables, second_tables
        The tables of each; ``first_tables`` defaults to the newest, ``second_tables`` to
        ``first_tables``.
    seed
        Of both quotes. When ``None``: the seed the requests name (they must not name two
        different ones), else ``first_tables``' default seed, never each version's own.
    n_years
        Of both quotes. When ``None`` the first quote chooses its years by its precision target
        (:func:`underwriting.quote.quote`) and the second is priced on the same years.
    created_at
        The date both are rated at (claims after it are refused); now when ``None``.
    max_events
        A service's budget, checked for each quote (:func:`underwriting.quote.quote`).

    Example
    -------
    >>> import pathlib
    >>> request = QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> data = request.model_dump(mode="json")
    >>> data["terms"]["sections"]["property"]["deductible"] = 50_000
    >>> pair = price_pair(request, QuoteRequest.model_validate(data), n_years=5_000, seed=7)
    >>> change = pair.difference.technical
    >>> change.value < 0 and change.standard_error < pair.first.premium.standard_error
    True
    """
    first_tables = first_tables or load_rating_tables()
    second_tables = second_tables or first_tables
    chosen = _common_seed(seed, first, second, first_tables)
    created = created_at or dt.datetime.now(dt.UTC)
    one = quote(
        first.submission,
        first.terms,
        tables=first_tables,
        seed=chosen,
        target_relative_error=first.target_relative_error,
        n_years=n_years,
        created_at=created,
        max_events=max_events,
    )
    years = one.provenance.n_years
    two = quote(
        second.submission,
        second.terms,
        tables=second_tables,
        seed=chosen,
        n_years=years,
        created_at=created,
        max_events=max_events,
    )
    return PairedQuotes(
        first=one,
        second=two,
        seed=one.provenance.seed,
        n_years=years,
        difference=paired_difference(
            one, two, first_tables=first_tables, second_tables=second_tables
        ),
    )
