"""A quote read back from storage, and the quote as offered to the client.

A store keeps :meth:`underwriting.quote.Quote.to_dict` as JSON; :func:`quote_from_dict` reads it
back to an equal :class:`~underwriting.quote.Quote`, without its simulation (nothing stored
holds the simulated years). The client's document is drawn from such a quote;
:func:`quote_as_offered` puts the record's offered premium in it, so the document shows what is
offered, not the premium charged before schedule credits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from underwriting.errors import UnderwritingError, UnderwritingWarning
from underwriting.model import Submission
from underwriting.pricing import Premium, WorksheetRow
from underwriting.quote import Quote, provenance_from_dict
from underwriting.rating import ExperienceRating, ScenarioExperience
from underwriting.results import Metric
from underwriting.terms import PolicyTerms
from underwriting.workflow._record import (
    QuoteRecord,
    _decision_from,
    _error,
    _option_from,
    _premium_from,
    _time,
)


def _metric_from(data: Mapping[str, Any]) -> Metric:
    return Metric(str(data["name"]), float(data["value"]), _error(data["standard_error"]))


def _experience_from(data: Mapping[str, Any]) -> ExperienceRating:
    observed_from = data.get("observed_from")
    return ExperienceRating(
        years_observed=float(data["years_observed"]),
        credibility=float(data["credibility"]),
        claims_count=int(data["claims_count"]),
        expected_claims=float(data["expected_claims"]),
        scenarios=tuple(ScenarioExperience(**scenario) for scenario in data["scenarios"]),
        explanation=str(data["explanation"]),
        observed_from=None if observed_from is None else dt.date.fromisoformat(observed_from),
        claims_outside_window=tuple(int(i) for i in data.get("claims_outside_window", ())),
    )


def _stored_option(data: Mapping[str, Any], currency_free: bool) -> Any:
    """An option as ``Quote.to_dict`` stores it (amounts as numbers) or as a record does."""
    if currency_free:
        data = {
            **data,
            "difference": {"amount": data["difference"]},
            "difference_standard_error": {"amount": data["difference_standard_error"]},
        }
    return _option_from(data)


def quote_from_dict(data: Mapping[str, Any]) -> Quote:
    """A quote from :meth:`~underwriting.quote.Quote.to_dict`'s dictionary (as a store kept it).

    The quote is equal to the one stored, without its simulation (``result`` is ``None``): it
    can be shown and rendered, not compared on the same events (replay it for that).

    Raises
    ------
    UnderwritingError
        If a field is missing or of the wrong kind (naming it).
    pydantic.ValidationError
        If the submission or a set of terms is invalid.

    Example
    -------
    >>> import pathlib
    >>> import underwriting as uw
    >>> request = uw.QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> tables = uw.load_rating_tables("2026.2")
    >>> q = uw.quote(request.submission, request.terms, tables=tables, n_years=5_000, seed=7)
    >>> quote_from_dict(q.to_dict()) == q
    True
    """
    try:
        return Quote(
            submission=Submission.model_validate(data["submission"]),
            terms=PolicyTerms.model_validate(data["terms"]),
            premium=_premium_from(data["premium"]),
            worksheet=tuple(
                WorksheetRow(str(row["name"]), row["value"], str(row["explanation"]))
                for row in data["worksheet"]
            ),
            decision=_decision_from(data["decision"]),
            options=tuple(
                _stored_option(option, not isinstance(option["difference"], Mapping))
                for option in data["options"]
            ),
            metrics=tuple(_metric_from(metric) for metric in data["metrics"]),
            experience=_experience_from(data["experience"]),
            provenance=provenance_from_dict(data["provenance"]),
            valid_until=_time(data["valid_until"]),
            warnings=tuple(UnderwritingWarning(**warning) for warning in data.get("warnings", ())),
        )
    except ValidationError:
        raise  # it names the field of the submission or terms
    except KeyError as error:
        raise UnderwritingError(f"a stored quote lacks the field {error.args[0]!r}") from error
    except (TypeError, ValueError) as error:
        raise UnderwritingError(f"a stored quote is malformed: {error}") from error


def _scaled(split: Mapping[str, float], total: float) -> dict[str, float]:
    """``split`` scaled to add up to ``total``, the last part taking the rounding."""
    before = sum(split.values())
    if not split or before <= 0:
        return dict(split)
    names = list(split)
    scaled = {name: split[name] * total / before for name in names[:-1]}
    scaled[names[-1]] = total - sum(scaled.values())
    return scaled


def quote_as_offered(quote: Quote, record: QuoteRecord) -> Quote:
    """``quote`` (the record's, read back) with the record's offered premium and tax.

    Without an offer the quote is returned as it is. With one, the premium charged becomes the
    offered premium (its split by section and scenario scaled to it), the tax the offer's, and
    ``minimum_applied`` says whether the minimum premium bound the offer. The technical premium
    and its build-up are unchanged.

    Raises
    ------
    UnderwritingError
        If the quote is not the record's (another submission, terms or provenance).
    """
    if (
        quote.submission != record.request.submission
        or quote.terms != record.request.terms
        or quote.provenance != record.provenance
    ):
        raise UnderwritingError(f"the quote given is not the one of record {record.id}")
    if record.offer is None:
        return quote
    premium: Premium = quote.premium
    offered, tax = record.offer.premium, record.offer.tax
    return replace(
        quote,
        premium=replace(
            premium,
            total=offered,
            tax=tax,
            total_with_tax=offered + tax,
            minimum_applied=offered <= premium.minimum,
            by_section=_scaled(premium.by_section, offered),
            by_scenario=_scaled(premium.by_scenario, offered),
        ),
    )
