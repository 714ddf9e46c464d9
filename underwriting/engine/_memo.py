"""A bounded memo of pure functions' results, for work a quote repeats on the same inputs.

A quote's exact control means and its plan's impact records depend on the profile's impacts and
the terms, never on the seed; a replay, a revision, the same submission quoted again, a stress
of the frequencies, or the pilot, stages and strata of one quote find them here instead of
working them out again. Each memo is keyed by everything its function reads, so what it finds is
what the function would return, to the last bit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

_T = TypeVar("_T")


class Memo:
    """Values by key, the least recently used forgotten past ``size``; safe across threads.

    ``compute`` runs outside the lock, so two threads may compute one key at once and store the
    same value. The values stored should not be changed by their users: immutable ones (tuples,
    arrays that cannot be written) or copies taken by the caller.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self._size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """The value of ``key``, computed by ``compute`` where it is not kept."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                found: _T = self._values[key]
                return found
        value = compute()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


_MEMOS: list[Memo] = []


def memo(size: int) -> Memo:
    """A new memo, which :func:`clear_memos` clears with the others."""
    made = Memo(size)
    _MEMOS.append(made)
    return made


def clear_memos() -> None:
    """Forget every memo's values: a benchmark of a cold process, or a test, asks for it."""
    for made in _MEMOS:
        made.clear()
