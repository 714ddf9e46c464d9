"""Revisions: a JSON merge patch (RFC 7396) of a quote's request, priced on the parent's events.

A revision changes what was asked (a deductible, an exposure, an option) and nothing of how it
is simulated: it is priced with the parent's seed, number of years and tables version, so that
the premium difference is the effect of the change, not of simulation noise. The parent becomes
``superseded`` (:func:`~underwriting.workflow.supersede`) once the revision is recorded.

The wiring, in a few lines::

    revision = revise(parent, patch)                       # validated request, changed paths
    priced = price_revision(revision, tables=tables)       # the parent's seed and years
    change = revision_difference(parent, priced, tables=tables)   # with its paired error
    child = record_quote(priced, revision.request, id=new_id, actor=actor, tables=tables,
                         parent_id=parent.id)
    parent = supersede(parent, by=new_id, actor=actor, at=now, tables=tables)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from underwriting.errors import RevisionError, UnderwritingError
from underwriting.quote import Quote, quote, replay
from underwriting.rating import RatingTables
from underwriting.request import QuoteRequest
from underwriting.workflow._paired import PairedDifference, paired_difference
from underwriting.workflow._record import QuoteRecord
from underwriting.workflow._states import Action, transition


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7396, section 2) to ``target``; neither is changed.

    An object patch merges key by key, ``null`` removing a key; any other patch (an array, a
    string, a number) replaces the target whole.

    Example
    -------
    >>> merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}})
    {'a': 'z', 'c': {'d': 'e'}}
    """
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(parts: tuple[str, ...]) -> str:
    """A JSON pointer (RFC 6901): ``~`` written ``~0`` and ``/`` written ``~1``."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def changed_paths(before: Any, after: Any) -> tuple[str, ...]:
    """The JSON pointers of every value that differs between two JSON documents, sorted.

    Objects are compared key by key (a key added or removed is a change at its path); arrays of
    the same length element by element; anything else, an array whose length changed included,
    is one change at its own path.

    Example
    -------
    >>> changed_paths({"a": 1, "b": [1, 2], "c/d": 0}, {"a": 2, "b": [1, 3], "c/d": 0, "e": 0})
    ('/a', '/b/1', '/e')
    """
    found: list[str] = []

    def walk(old: Any, new: Any, parts: tuple[str, ...]) -> None:
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            for key in sorted(set(old) | set(new)):
                if key not in old or key not in new:
                    found.append(_pointer((*parts, key)))
                else:
                    walk(old[key], new[key], (*parts, key))
        elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
            for index, (a, b) in enumerate(zip(old, new, strict=True)):
                walk(a, b, (*parts, str(index)))
        elif old != new or (type(old) is not type(new) and not _same_number(old, new)):
            found.append(_pointer(parts))

    walk(before, after, ())
    return tuple(sorted(found))


def _same_number(a: Any, b: Any) -> bool:
    """``2`` and ``2.0`` are the same JSON number; ``True`` and ``1`` are not."""
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


@dataclass(frozen=True, slots=True)
class Revision:
    """A validated revision of a quote's request, ready to price.

    Attributes
    ----------
    parent_id
        The quote it revises.
    request
        The parent's request with the patch applied.
    changed
        JSON pointers of the request's values the patch changed (``/terms/sections/property/
        deductible``), sorted.
    seed, n_years, target_relative_error, tables_version, tables_sha256, strata_years
        The parent's, from its provenance: the revision is priced on the same simulated years
        (each stratum's, where the revised lab has the parent's strata; tables 2026.5 on).
    """

    parent_id: str
    request: QuoteRequest
    changed: tuple[str, ...]
    seed: str
    n_years: int
    target_relative_error: float | None
    tables_version: str
    tables_sha256: Mapping[str, str]
    strata_years: Mapping[str, int] = field(default_factory=dict)


def revise(parent: QuoteRecord, patch: Any) -> Revision:
    """Apply a JSON merge patch to the parent's request and validate the result.

    Parameters
    ----------
    parent
        The quote revised; its state must allow it to be superseded.
    patch
        A JSON merge patch of the request (``{"terms": {"sections": {"property":
        {"deductible": 50000}}}}``). It may not set another seed than the parent's.

    Raises
    ------
    TransitionError
        If the parent cannot be superseded (bound, or superseded already).
    RevisionError
        If the patch sets another seed.
    pydantic.ValidationError
        If the patched request is invalid (naming the field).
    """
    transition(parent.status, Action.SUPERSEDE)
    before = parent.request.model_dump(mode="json")
    patched = merge_patch(before, patch)
    seed = parent.provenance.seed
    if isinstance(patched, Mapping) and patched.get("seed") not in (None, seed):
        raise RevisionError(
            f"a revision is priced with its parent's seed, {seed}; the patch sets seed "
            f"{patched['seed']!r}: leave the seed out of the patch",
            status=parent.status.value,
            action=Action.SUPERSEDE.value,
        )
    request = QuoteRequest.model_validate(patched)
    return Revision(
        parent_id=parent.id,
        request=request,
        changed=changed_paths(before, request.model_dump(mode="json")),
        seed=seed,
        n_years=parent.provenance.n_years,
        target_relative_error=parent.provenance.target_relative_error,
        tables_version=parent.tables_version,
        tables_sha256=dict(parent.provenance.tables_sha256),
        strata_years=dict(parent.provenance.strata_years),
    )


def price_revision(
    revision: Revision,
    *,
    tables: RatingTables,
    created_at: dt.datetime | None = None,
    max_events: float | None = None,
) -> Quote:
    """Quote the revised request with the parent's seed, years and tables.

    Raises
    ------
    UnderwritingError
        If ``tables`` are not the parent's version, or have changed since the parent was quoted
        (their sha256 differ): the difference would mix the change with the tables'.
    """
    if tables.version != revision.tables_version:
        raise UnderwritingError(
            f"a revision of quote {revision.parent_id} is priced with its rating tables, "
            f"{revision.tables_version}, not {tables.version}"
        )
    if dict(tables.sha256) != dict(revision.tables_sha256):
        raise UnderwritingError(
            f"rating tables {tables.version} have changed since quote {revision.parent_id} was "
            "made (their sha256 differ): a revision would mix its change with the tables'"
        )
    request = revision.request
    return quote(
        request.submission,
        request.terms,
        tables=tables,
        seed=revision.seed,
        options=request.options,
        labels=request.option_labels,
        target_relative_error=revision.target_relative_error,
        n_years=revision.n_years,
        strata_years=revision.strata_years,
        created_at=created_at,
        max_events=max_events,
    )


def revision_difference(
    parent: QuoteRecord, revised: Quote, *, tables: RatingTables
) -> PairedDifference:
    """The revised quote minus its parent, each difference with its paired standard error.

    The parent is replayed from its provenance (its seed, years and timestamp; a stored record
    keeps no simulation), so both quotes are on the same events and the error is the paired
    one (:func:`~underwriting.workflow.paired_difference`).

    Raises
    ------
    UnderwritingError
        If ``tables`` are not the parent's (version or hashes), or the revised quote was not
        priced on the parent's seed and years (:func:`price_revision` prices it so).
    """
    replayed = replay(parent.provenance, parent.request, tables=tables)
    return paired_difference(replayed, revised, first_tables=tables, second_tables=tables)
