"""Run work block by block, in this process or on a Dask cluster, with the same result.

Simulations are cut into fixed-size blocks of years; every random draw is keyed by its year, so a
block is a pure function of ``(first, size)`` and can run anywhere. This module only decides where
blocks run; it never decides how the work is cut (that stays with the caller, so a result never
depends on the number of workers):

``run_blocks(task, blocks)``
    ``task(first, size)`` for each block, yielded in block order.
``reduce_blocks(part, n_parts, combine, blocks)``
    For each block, ``n_parts`` pieces ``part(first, size, index)`` combined by ``combine`` in a
    tree of fixed shape (consecutive groups of ``fan_in``, level by level), yielded in block
    order. On Dask the pieces and the tree run on the workers, so the client only receives each
    block's combined result.

Both backends build each block with the same code and call ``combine`` on the same pieces in the
same order, so floating-point results are bit-identical whatever the backend, the number of
workers or the order in which blocks finish.

On Dask (``backend="dask"``, needs the ``[dask]`` extra), the task is scattered once to every
worker (so a large portfolio is not pickled per block), at most ``max_in_flight`` blocks are
submitted at a time (client and worker memory stay bounded), and tasks are pure: when a worker is
lost, Dask recomputes its blocks elsewhere and the result is unchanged. Dask is imported only when
the Dask backend is used.

Example
-------
>>> from functools import partial
>>> def years(scale, first, size):
...     return [scale * year for year in range(first, first + size)]
>>> list(run_blocks(partial(years, 10), [(0, 2), (2, 1)]))
[[0, 10], [20]]
>>> list(reduce_blocks(lambda first, size, i: first + i, 3, sum, [(0, 5), (5, 5)]))
[3, 18]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, Protocol, TypeVar, get_args

__all__ = ["BACKENDS", "REDUCTION_FAN_IN", "Backend", "reduce_blocks", "run_blocks"]

Backend = Literal["local", "dask"]
BACKENDS: tuple[str, ...] = get_args(Backend)

# Pieces combined at each node of a block's reduction tree. A constant, never derived from the
# cluster, since the tree's shape fixes the order of the floating-point sums.
REDUCTION_FAN_IN = 8

T = TypeVar("T")
P = TypeVar("P")


class _Submit(Protocol):
    def __call__(self, function: Callable[..., Any], /, *args: Any) -> Any: ...


def run_blocks(
    task: Callable[[int, int], T],
    blocks: Sequence[tuple[int, int]],
    *,
    backend: Backend = "local",
    client: Any | None = None,
    max_in_flight: int | None = None,
) -> Iterator[T]:
    """Yield ``task(first, size)`` for each block, in block order.

    Parameters
    ----------
    task
        A pure function of the block: the same block gives the same result wherever it runs. For
        Dask it must be picklable (a top-level function, or a ``functools.partial`` of one that
        carries the large arguments: it is scattered to the workers once).
    blocks
        ``(first, size)`` of each block.
    backend
        ``"local"``: a plain loop in this process. ``"dask"``: on a ``dask.distributed`` cluster.
    client
        The ``distributed.Client`` for ``backend="dask"``; by default the active one
        (``distributed.get_client()``). Must be ``None`` with ``backend="local"``.
    max_in_flight
        Blocks submitted and not yet yielded, at most (Dask only); by default twice the
        cluster's threads. Bounds memory; never changes the result.

    Examples
    --------
    >>> list(run_blocks(lambda first, size: first + size, [(0, 10), (10, 5)]))
    [10, 15]
    """

    def build(submit: _Submit, handle: Any, first: int, size: int) -> Any:
        return submit(_call_task, handle, first, size)

    return _run(task, build, blocks, 1, backend, client, max_in_flight)


def reduce_blocks(
    part: Callable[[int, int, int], P],
    n_parts: int,
    combine: Callable[[Sequence[P]], P],
    blocks: Sequence[tuple[int, int]],
    *,
    backend: Backend = "local",
    client: Any | None = None,
    max_in_flight: int | None = None,
    fan_in: int = REDUCTION_FAN_IN,
) -> Iterator[P]:
    """Yield, for each block in block order, its ``n_parts`` pieces combined in a fixed tree.

    The pieces ``part(first, size, 0 .. n_parts - 1)`` are combined level by level: each run of
    ``fan_in`` consecutive pieces becomes ``combine(run)`` (a run of one is passed on as it is),
    until one is left. The tree depends only on ``n_parts`` and ``fan_in``, so the result is the
    same, bit for bit, on either backend.

    Parameters
    ----------
    part
        A pure function of ``(first, size, index)``; picklable for Dask (see :func:`run_blocks`).
    n_parts
        Pieces per block (for example groups of labs of a fixed size), at least 1.
    combine
        Combines consecutive pieces, given in order; picklable for Dask.
    blocks, backend, client, max_in_flight
        As for :func:`run_blocks`.
    fan_in
        Pieces per node of the tree, at least 2.

    Examples
    --------
    >>> def piece(first, size, index):
    ...     return [float(index)] * size
    >>> def add(pieces):
    ...     return [sum(values) for values in zip(*pieces)]
    >>> list(reduce_blocks(piece, 3, add, [(0, 2), (2, 1)]))
    [[3.0, 3.0], [3.0]]
    """
    if isinstance(n_parts, bool) or not isinstance(n_parts, int) or n_parts < 1:
        raise ValueError(f"n_parts must be a positive integer, got {n_parts!r}")
    if isinstance(fan_in, bool) or not isinstance(fan_in, int) or fan_in < 2:
        raise ValueError(f"fan_in must be an integer of at least 2, got {fan_in!r}")

    def build(submit: _Submit, handle: Any, first: int, size: int) -> Any:
        level = [submit(_call_part, handle, first, size, index) for index in range(n_parts)]
        while len(level) > 1:
            level = [
                submit(_call_combine, handle, *level[start : start + fan_in])
                if len(level[start : start + fan_in]) > 1
                else level[start]
                for start in range(0, len(level), fan_in)
            ]
        return level[0]

    return _run((part, combine), build, blocks, n_parts, backend, client, max_in_flight)


def _call_task(task: Callable[[int, int], T], first: int, size: int) -> T:
    return task(first, size)


def _call_part(
    functions: tuple[Callable[[int, int, int], P], Callable[[Sequence[P]], P]],
    first: int,
    size: int,
    index: int,
) -> P:
    return functions[0](first, size, index)


def _call_combine(
    functions: tuple[Callable[[int, int, int], P], Callable[[Sequence[P]], P]], *pieces: P
) -> P:
    return functions[1](pieces)


def _run(
    payload: object,
    build: Callable[[_Submit, Any, int, int], Any],
    blocks: Sequence[tuple[int, int]],
    tasks_per_block: int,
    backend: str,
    client: Any | None,
    max_in_flight: int | None,
) -> Iterator[Any]:
    # Arguments are checked here, before the generator starts, so mistakes surface at the call.
    if backend not in BACKENDS:
        raise ValueError(
            f"backend must be one of {', '.join(repr(b) for b in BACKENDS)}, got {backend!r}"
        )
    if max_in_flight is not None and (
        isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1
    ):
        raise ValueError(f"max_in_flight must be a positive integer, got {max_in_flight!r}")
    if backend == "local":
        if client is not None:
            raise ValueError(
                f"client is only used with backend='dask', got client={client!r} with "
                "backend='local'"
            )
        return _run_local(payload, build, blocks)
    client = _dask_client(client)
    if max_in_flight is None:
        threads = sum(client.nthreads().values()) or 1
        max_in_flight = max(2, math.ceil(2 * threads / tasks_per_block))
    return _run_dask(payload, build, blocks, client, max_in_flight)


def _run_local(
    payload: object,
    build: Callable[[_Submit, Any, int, int], Any],
    blocks: Sequence[tuple[int, int]],
) -> Iterator[Any]:
    def submit(function: Callable[..., Any], /, *args: Any) -> Any:
        return function(*args)

    for first, size in blocks:
        yield build(submit, payload, first, size)


def _run_dask(
    payload: object,
    build: Callable[[_Submit, Any, int, int], Any],
    blocks: Sequence[tuple[int, int]],
    client: Any,
    max_in_flight: int,
) -> Iterator[Any]:
    # Scattered once, to every worker: a lost worker leaves the copies on the others. In a list,
    # so a tuple payload stays one object; hash=False gives a fresh key without hashing (pickling)
    # a possibly large payload twice.
    [handle] = client.scatter([payload], broadcast=True, hash=False)
    pending: deque[Any] = deque()
    try:
        for number, (first, size) in enumerate(blocks):
            # Earlier blocks first: they are the ones the loop below waits for.
            def submit(function: Callable[..., Any], /, *args: Any, _n: int = number) -> Any:
                return client.submit(function, *args, pure=True, priority=-_n)

            pending.append(build(submit, handle, first, size))
            if len(pending) >= max_in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        # Nothing left behind on the cluster when the caller stops early or a block fails (the
        # client may already be closed when an abandoned generator is collected).
        if client.status == "running":
            client.cancel([*pending, handle])


def _dask_client(client: Any | None) -> Any:
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            "backend='dask' needs dask.distributed, which is not installed: "
            "pip install 'lab-underwriting[dask]'"
        ) from error
    if client is None:
        try:
            return distributed.get_client()
        except ValueError as error:
            raise ValueError(
                "backend='dask' needs a dask.distributed Client: pass client=Client(...) or "
                "create one first (no active client was found)"
            ) from error
    if not isinstance(client, distributed.Client):
        raise TypeError(
            f"client must be a distributed.Client for backend='dask', got {type(client).__name__}"
        )
    return client
