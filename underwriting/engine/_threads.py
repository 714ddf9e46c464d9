"""The compiled engine's thread runtime: how many threads, and one pool per process.

The year loop runs without the GIL, so a block's years are shared among threads, each simulating
whole years; the pieces are put back in year order, so results do not depend on the threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

MIN_YEARS_PER_THREAD = 4_096
"""A block is split among threads only where each gets at least this many years."""


def threads() -> int:
    """Threads the compiled engine uses: ``UW_THREADS`` from the environment, else every core.

    Results do not depend on it: each thread simulates whole years, and the pieces are put back
    in year order.
    """
    value = os.environ.get("UW_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"UW_THREADS must be a positive integer, got {value!r}")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def split(n_years: int) -> list[int]:
    """The bounds of the pieces ``n_years`` years are shared into: ``[0, ..., n_years]``."""
    pieces = max(1, min(threads(), n_years // MIN_YEARS_PER_THREAD))
    return [n_years * k // pieces for k in range(pieces + 1)]


def map_pieces(piece: Callable[[int], T], pieces: int) -> list[T]:
    """``[piece(0), ..., piece(pieces - 1)]``, on the process's pool where more than one.

    The pieces are submitted under the pool's lock: another thread that needs a larger pool
    (a stratified quote runs its own run beside the strata's) replaces it under the same lock,
    so no piece is ever submitted to a pool already shut down."""
    if pieces == 1:
        return [piece(0)]
    with _pools_lock:
        futures = [_pool(pieces).submit(piece, number) for number in range(pieces)]
    return [future.result() for future in futures]


_pools: list[ThreadPoolExecutor] = []
_pools_lock = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    """One pool for the process, with at least ``size`` threads (grown, never duplicated; the
    caller holds ``_pools_lock``). A replaced pool finishes the pieces already submitted."""
    if not _pools or _pools[0]._max_workers < size:
        if _pools:
            _pools.pop().shutdown(wait=False)
        _pools.append(ThreadPoolExecutor(size, thread_name_prefix="uw-kernel"))
    return _pools[0]


# A forked child inherits the pool object but not its threads: it starts a pool of its own.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pools.clear)
