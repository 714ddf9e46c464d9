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


class _Weighed:
    """Entries by key, the least recently used forgotten past a total weight (each at least 1);
    an entry heavier than the whole bound is not kept. Not locked: its owner locks."""

    def __init__(self, bound: int) -> None:
        if bound < 1:
            raise ValueError(f"weight must be at least 1, got {bound}")
        self.bound = bound
        self.weight = 0
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()

    def find(self, key: Hashable) -> tuple[Any] | None:
        """``(value,)`` of ``key``, now the most recently used; ``None`` if not kept."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return (entry[0],)

    def keep(self, key: Hashable, value: Any, weight: int) -> None:
        weight = max(1, weight)
        if weight > self.bound or key in self._entries:
            return
        self._entries[key] = (value, weight)
        self.weight += weight
        while self.weight > self.bound:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.weight -= dropped

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.weight = 0


class Memo:
    """Values by key, the least recently used forgotten past a total ``weight``; safe across
    threads.

    ``compute`` runs outside the lock, so two threads may compute one key at once and store the
    same value. The values stored must not be changed by their users: immutable ones (tuples)
    or copies taken by the caller. A value heavier than the whole bound is returned, not kept.
    """

    def __init__(self, weight: int) -> None:
        self._kept = _Weighed(weight)
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], _T], weight: int = 1) -> _T:
        """The value of ``key``, computed by ``compute`` where it is not kept; ``weight`` is
        what it counts against the bound (at least 1)."""
        with self._lock:
            found = self._kept.find(key)
        if found is not None:
            kept: _T = found[0]
            return kept
        value = compute()
        with self._lock:
            self._kept.keep(key, value, weight)
        return value

    @property
    def weight(self) -> int:
        """The weight of the values kept."""
        return self._kept.weight

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

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
        self._by_value = _Weighed(weight)  # tuple -> its token
        self._by_identity = _Weighed(weight)  # id of a tuple -> (the tuple, its token)
        self._lock = threading.Lock()

    def token(self, value: Sequence[Hashable]) -> Token:
        """The token of ``value`` (a sequence of hashable items)."""
        is_tuple = type(value) is tuple
        with self._lock:
            if is_tuple:
                seen = self._by_identity.find(id(value))
                if seen is not None and seen[0][0] is value:
                    found: Token = seen[0][1]
                    return found
            items = value if is_tuple else tuple(value)
            kept = self._by_value.find(items)
            found = Token() if kept is None else kept[0]
            self._by_value.keep(items, found, len(items))
            if is_tuple:
                self._by_identity.keep(id(value), (items, found), len(items))
            return found

    def __len__(self) -> int:
        return len(self._by_value)

    def clear(self) -> None:
        with self._lock:
            self._by_value.clear()
            self._by_identity.clear()

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
