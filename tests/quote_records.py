"""Quote records of the example labs for the workflow's tests: each lab quoted once a session.

``physics_low_hazard`` is quoted within the rules; ``bsl3_biobank`` is referred to a senior
underwriter (R01, TIV above the underwriter's authority, and R05). Tables 2026.3 carry
schedule credits and offer bands; released 2026.2 has none.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import underwriting as uw
from underwriting.workflow import Actor, QuoteRecord, record_quote

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WHEN = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)
"""When the test quotes are made (their validity runs 30 days from it)."""
YEARS = 10_000

UNDERWRITER = Actor("wang.fang", "underwriter")
SENIOR = Actor("li.na", "senior_underwriter")
CHIEF = Actor("zhao.lei", "chief_underwriter")
ADMIN = Actor("ops", "admin")
ACTUARY = Actor("chen.yu", "actuary")
ACTORS = (UNDERWRITER, SENIOR, CHIEF, ADMIN, ACTUARY)


@functools.cache
def tables(version: str = "2026.3") -> uw.RatingTables:
    return uw.load_rating_tables(version)


def example_request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((EXAMPLES / f"{name}.json").read_text())


@functools.cache
def example_quote(name: str, version: str = "2026.3") -> uw.Quote:
    request = example_request(name)
    return uw.quote(
        request.submission,
        request.terms,
        tables=tables(version),
        n_years=YEARS,
        created_at=WHEN,
    )


def new_record(
    name: str = "physics_low_hazard", version: str = "2026.3", id: str = "q1"
) -> QuoteRecord:
    """A fresh record of an example lab's quote, made by the underwriter at ``WHEN``."""
    return record_quote(
        example_quote(name, version),
        example_request(name),
        id=id,
        actor=UNDERWRITER,
        tables=tables(version),
    )
