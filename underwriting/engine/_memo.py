"""A bounded memo of pure functions' results, for work a quote repeats on the same inputs.

A quote's exact control means and its plan's impact records depend on the profile's impacts and
the terms, never on the seed; a replay, a revision, the same submission quoted again, a stress
of the frequencies, or the pilot, stages and strata of one quote find them here instead of
working them out again. Each memo is keyed by everything its function reads, so what it finds is
what the function would return, to the last bit.

A memo's bound is a weight, not a count of entries: an entry weighs the impacts its key stands
for (its value grows with them), so a profile of a thousand scenarios takes as much room as
twenty-five of the examples.

Hashing and comparing pydantic models field by field is slow: a chemistry quote's two dozen
lookups took 6 to 7 ms that way. The keys therefore hold :func:`token` s of the impacts, which
hash and compare by identity; equal impacts share one token, and the same tuple of impacts seen
again (the strata of one profile are copies that share their scenarios' impacts) finds its
token without being hashed at all.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

_T = TypeVar("_T")


class Memo:
    """Values by key, the least recently used forgotten past a total ``weight``; safe across
    threads.

    ``compute`` runs outside the lock, so two threads may compute one key at once and store the
    same value. The values stored must not be changed by their users: immutable ones (tuples)
    or copies taken by the caller. A value heavier than the whole bound is returned, not kept.
    """

    def __init__(self, weight: int) -> None:
        if weight < 1:
            raise ValueError(f"weight must be at least 1, got {weight}")
        self._bound = weight
        self._weight = 0
        self._values: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], _T], weight: int = 1) -> _T:
        """The value of ``key``, computed by ``compute`` where it is not kept; ``weight`` is
        what it counts against the bound (at least 1)."""
        with self._lock:
            kept = self._values.get(key)
            if kept is not None:
                self._values.move_to_end(key)
                found: _T = kept[0]
                return found
        value = compute()
        weight = max(1, weight)
        if weight > self._bound:
            return value
        with self._lock:
            if key not in self._values:
                self._values[key] = (value, weight)
                self._weight += weight
            while self._weight > self._bound:
                _, (_, dropped) = self._values.popitem(last=False)
                self._weight -= dropped
        return value

    @property
    def weight(self) -> int:
        """The weight of the values kept."""
        return self._weight

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._weight = 0

    def _after_fork(self) -> None:
        """A forked child gets a lock of its own (another thread may have held the parent's)."""
        self._lock = threading.Lock()


class Token:
    """Stands for a value in a memo's key: hashed and compared by identity (``object``'s)."""

    __slots__ = ()


class Identity:
    """Stands for an object in a memo's key by its identity (hashed by ``id``, equal only to
    itself): the key holds the object, so its ``id`` is not reused while the key is kept. For
    immutable objects whose equality is costly to work out, as loaded rating tables."""

    __slots__ = ("_held",)

    def __init__(self, held: object) -> None:
        self._held = held

    def __hash__(self) -> int:
        return id(self._held)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other._held is self._held


class Tokens:
    """One :class:`Token` per value while it is kept, the least recently used forgotten past a
    total ``weight`` (a value weighs its length); safe across threads.

    A token is only ever handed out for values equal to the one it was made for, so a key made
    of tokens hits a memo only where a key made of the values would. A value forgotten here
    gets a new token next time: the memo's entries under the old one are missed, never wrong.

    Tuples are found again by identity, without hashing their items: the table holds each
    tuple it saw, so its ``id`` cannot be reused while it is there. They must hold immutable
    items (the frozen models of a validated profile). Other sequences are copied to tuples and
    found by value.
    """

    def __init__(self, weight: int) -> None:
        if weight < 1:
            raise ValueError(f"weight must be at least 1, got {weight}")
        self._bound = weight
        self._by_value: OrderedDict[tuple[Any, ...], Token] = OrderedDict()
        self._by_identity: OrderedDict[int, tuple[tuple[Any, ...], Token]] = OrderedDict()
        self._weights = [0, 0]  # of the values kept by value, by identity
        self._lock = threading.Lock()

    def token(self, value: Sequence[Hashable]) -> Token:
        """The token of ``value`` (a sequence of hashable items)."""
        with self._lock:
            if type(value) is tuple:
                seen = self._by_identity.get(id(value))
                if seen is not None and seen[0] is value:
                    self._by_identity.move_to_end(id(value))
                    return seen[1]
            items = value if type(value) is tuple else tuple(value)
            found = self._by_value.get(items)
            if found is None:
                found = Token()
                self._by_value[items] = found
                self._weights[0] += max(1, len(items))
                while self._weights[0] > self._bound and len(self._by_value) > 1:
                    dropped, _ = self._by_value.popitem(last=False)
                    self._weights[0] -= max(1, len(dropped))
            else:
                self._by_value.move_to_end(items)
            if type(value) is tuple:
                self._by_identity[id(value)] = (items, found)
                self._weights[1] += max(1, len(items))
                while self._weights[1] > self._bound and len(self._by_identity) > 1:
                    _, (dropped, _) = self._by_identity.popitem(last=False)
                    self._weights[1] -= max(1, len(dropped))
            return found

    def __len__(self) -> int:
        return len(self._by_value)

    def clear(self) -> None:
        with self._lock:
            self._by_value.clear()
            self._by_identity.clear()
            self._weights = [0, 0]

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


_MEMOS: list[Memo | Tokens] = []


def memo(weight: int) -> Memo:
    """A new memo, which :func:`clear_memos` clears with the others."""
    made = Memo(weight)
    _MEMOS.append(made)
    return made


_TOKENS = Tokens(4_096)
_MEMOS.append(_TOKENS)


def token(value: Sequence[Hashable]) -> Token:
    """The process's :class:`Token` of ``value``: a tuple of a scenario's impacts, say, in a
    memo's key. The table is bounded by the items its values hold (4,096, about 80 of the
    examples' profiles)."""
    return _TOKENS.token(value)


def clear_memos() -> None:
    """Forget every memo's values and tokens: a benchmark of a cold process, or a test, asks
    for it."""
    for made in _MEMOS:
        made.clear()


def _after_fork() -> None:
    for made in _MEMOS:
        made._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
