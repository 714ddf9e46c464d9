"""Nested data (a submission's or a table's JSON dump) flattened to dotted names and scalars.

One function for the two readers: the decision's facts (``submission.values.equipment``: lists
are left out, the rules compare scalars) and the tables diff (every number of a version: lists
of scalars joined, lists of tables numbered, prose fields left out).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

Flat = bool | int | float | str | None
ListHandling = Literal["drop", "expand"]


def flatten(
    value: Any,
    prefix: str = "",
    *,
    lists: ListHandling,
    skip: frozenset[str] = frozenset(),
    into: dict[str, Flat] | None = None,
) -> dict[str, Flat]:
    """``value``'s leaves by dotted name (``prefix.key.key``), in the order met.

    Parameters
    ----------
    value
        A JSON-like value: mappings, lists, scalars (a date is written ISO).
    prefix
        The name of ``value`` itself; empty for none (the first key then stands alone).
    lists
        ``"drop"``: lists are left out. ``"expand"``: a list of scalars becomes one
        ``", "``-joined string, a list holding mappings one entry per item, ``name[1]``, ...
    skip
        Keys of mappings left out, at any depth (prose such as ``description``).
    into
        A dictionary to add to (returned); a new one if ``None``.
    """
    found: dict[str, Flat] = {} if into is None else into
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key not in skip:
                name = f"{prefix}.{key}" if prefix else str(key)
                flatten(item, name, lists=lists, skip=skip, into=found)
    elif isinstance(value, list | tuple):
        if lists == "drop":
            return found
        if all(not isinstance(item, Mapping) for item in value):
            found[prefix] = ", ".join(str(item) for item in value)
        else:
            for index, item in enumerate(value, start=1):
                flatten(item, f"{prefix}[{index}]", lists=lists, skip=skip, into=found)
    elif isinstance(value, dt.date):
        found[prefix] = value.isoformat()
    elif isinstance(value, bool | int | float | str) or value is None:
        found[prefix] = value
    return found
