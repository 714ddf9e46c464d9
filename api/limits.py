"""Per-principal limits on simulation work (OWASP API Top 10, API4: unrestricted resource use).

A quote, a replay and a simulation each run the simulation engine, about half a second of CPU
for a typical quote and up to the ``max_simulated_events`` budget for the largest. Without a
limit one key can fill every worker and every core, and every other principal waits behind it.
Each principal (the name its key was issued to; several keys of one principal share its limits)
may have at most ``max_concurrent`` such requests running at once and start at most
``per_minute`` in any 60 seconds; a request over either limit is refused at once with 429, a
``Retry-After`` header and problem details, without doing any of the work.

The counts live in the process (a lock-protected sliding-window log of the admitted starts and a
counter of the running requests, keyed by principal). With several worker processes each
process enforces its own share: ``--workers 4`` lets a principal run up to 4 times the limits
in all, and which process a request reaches is the server's choice. Limits that hold across
processes need a shared store (a gateway or Redis in front of the service).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from api.problems import Problem

WINDOW_S = 60.0
"""The window of the per-minute limit, in seconds."""


class SimulationLimiter:
    """At most ``max_concurrent`` running and ``per_minute`` started per principal and minute."""

    def __init__(
        self,
        max_concurrent: int,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrent < 1 or per_minute < 1:
            raise ValueError("the limits must be at least 1")
        self.max_concurrent = max_concurrent
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._started: dict[str, deque[float]] = {}

    def running(self, principal: str) -> int:
        """How many of ``principal``'s simulation requests are running now."""
        with self._lock:
            return self._running.get(principal, 0)

    @contextmanager
    def slot(self, principal: str) -> Iterator[None]:
        """Hold one of ``principal``'s slots while the work runs; 429 if none is free."""
        self._acquire(principal)
        try:
            yield
        finally:
            self._release(principal)

    def _acquire(self, principal: str) -> None:
        with self._lock:
            now = self._clock()
            started = self._started.setdefault(principal, deque())
            while started and started[0] <= now - WINDOW_S:
                started.popleft()
            if len(started) >= self.per_minute:
                retry = max(1, math.ceil(started[0] + WINDOW_S - now))
                raise Problem(
                    429,
                    f"Principal {principal!r} has started {len(started)} simulation requests "
                    f"(quotes, replays and simulations) in the last {WINDOW_S:.0f} s, the limit "
                    f"of UW_MAX_SIMULATIONS_PER_MINUTE_PER_PRINCIPAL = {self.per_minute}; "
                    f"retry in {retry} s.",
                    headers={"Retry-After": str(retry)},
                )
            running = self._running.get(principal, 0)
            if running >= self.max_concurrent:
                raise Problem(
                    429,
                    f"Principal {principal!r} has {running} simulation requests (quotes, replays "
                    "and simulations) running, the limit of "
                    f"UW_MAX_CONCURRENT_SIMULATIONS_PER_PRINCIPAL = {self.max_concurrent}; "
                    "retry when one has been answered.",
                    headers={"Retry-After": "1"},
                )
            self._running[principal] = running + 1
            started.append(now)

    def _release(self, principal: str) -> None:
        with self._lock:
            running = self._running.get(principal, 0) - 1
            if running > 0:
                self._running[principal] = running
            else:
                self._running.pop(principal, None)
