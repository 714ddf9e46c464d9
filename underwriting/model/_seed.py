"""The seed of a run: its domain and its parsing, in one place.

A seed is an integer in ``[0, 2**SEED_BITS)``. Requests and the API carry it as a decimal string
(:data:`SeedText`: 128-bit integers lose precision as JSON numbers in JavaScript clients); the
rating tables and the engine hold it as an integer (:data:`Seed`, :func:`check_seed`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

SEED_BITS = 128
"""Seeds are integers in ``[0, 2**SEED_BITS)``."""

SEED_RANGE = f"[0, 2**{SEED_BITS})"
"""The allowed range, as error messages and descriptions write it."""


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is a valid seed, else raise ``ValueError`` naming the allowed range.

    >>> check_seed(7)
    7
    >>> check_seed(2**128)
    Traceback (most recent call last):
    ...
    ValueError: seed must be in [0, 2**128), got 340282366920938463463374607431768211456
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    if not 0 <= seed < 2**SEED_BITS:
        raise ValueError(f"seed must be in {SEED_RANGE}, got {seed}")
    return seed


def parse_seed(seed: int | str) -> int:
    """A seed given as an integer or as a decimal string (as requests carry it), checked.

    >>> parse_seed("42") == parse_seed(42) == 42
    True
    >>> parse_seed("4.2")
    Traceback (most recent call last):
    ...
    ValueError: seed must be an integer in [0, 2**128) or its decimal digits as a string, got '4.2'
    """
    if isinstance(seed, str):
        text = seed.strip()
        if not (text.isascii() and text.isdigit()):
            raise ValueError(
                f"seed must be an integer in {SEED_RANGE} or its decimal digits as a string, "
                f"got {seed!r}"
            )
        return check_seed(int(text))
    return check_seed(seed)


def _below_limit(text: str) -> str:
    check_seed(int(text))
    return text


Seed = Annotated[int, Field(ge=0, lt=2**SEED_BITS)]
"""A seed held as an integer in ``[0, 2**SEED_BITS)`` (the tables' ``default_seed``)."""

SeedText = Annotated[
    str,
    Field(pattern=r"^[0-9]{1,39}$", description=f"decimal integer in {SEED_RANGE}, as a string"),
    AfterValidator(_below_limit),
]
"""A seed written as a decimal string (requests, the API): digits only, below ``2**SEED_BITS``.

``int()`` of a valid :data:`SeedText` is a valid :data:`Seed`.
"""
