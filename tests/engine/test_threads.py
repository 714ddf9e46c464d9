"""The compiled engine's thread pool under callers on several threads at once."""

from __future__ import annotations

import threading

from underwriting.engine import _threads


def test_pieces_survive_a_pool_grown_by_another_thread() -> None:
    """A stratified quote runs its own run beside the strata's, on two threads, and a run that
    needs more pieces grows the process's pool. Submitting to the old pool after another thread
    replaced it raised ``RuntimeError: cannot schedule new futures after shutdown`` (150 times
    in this test before the pieces were submitted under the pool's lock)."""
    errors: list[str] = []

    def work(offset: int) -> None:
        try:
            for size in range(2, 40):
                pieces = size + offset % 3
                assert _threads.map_pieces(lambda i: 2 * i, pieces) == [
                    2 * i for i in range(pieces)
                ]
        except Exception as error:  # every failure is collected and shown
            errors.append(repr(error))

    for _ in range(10):
        with _threads._pools_lock:  # each round grows a fresh pool from two threads
            _threads._pools.clear()
        runners = [threading.Thread(target=work, args=(k,)) for k in range(6)]
        for runner in runners:
            runner.start()
        for runner in runners:
            runner.join()
    assert errors == []
