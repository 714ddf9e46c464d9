"""A bounded memo of pure functions' results, for work a quote repeats on the same inputs.

A quote's exact control means and its plan's impact records depend on the profile's impacts and
the terms, never on the seed; a replay, a revision, the same submission quoted again, a stress
of the frequencies, or the pilot, stages and strata of one quote find them here instead of
working them out again. Each memo is keyed by everything its function reads, so what it finds is
what the function would return, to the last bit.

A memo's bound is a weight, not a count of entries: its keys hold the impacts they were built
from (pydantic models, a kilobyte or two each), so each entry weighs the impacts of its key, and
a profile of a thousand scenarios takes as much room as twenty-five of the examples.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
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
            if key in self._values:
                self._values.move_to_end(key)
                found: _T = self._values[key][0]
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


_MEMOS: list[Memo] = []


def memo(weight: int) -> Memo:
    """A new memo, which :func:`clear_memos` clears with the others."""
    made = Memo(weight)
    _MEMOS.append(made)
    return made


def clear_memos() -> None:
    """Forget every memo's values: a benchmark of a cold process, or a test, asks for it."""
    for made in _MEMOS:
        made.clear()


def _after_fork() -> None:
    for made in _MEMOS:
        made._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
