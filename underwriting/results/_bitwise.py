"""The figures of a long array of losses, bit for bit, without full-size copies of it.

Ten million annual losses are 80 MB; NumPy's ``x.std()``, ``np.mean((x - m)**4)``, ``np.sort(x)``
and ``np.maximum(np.sort(x) - v, 0).mean()`` each make one or two more arrays of that size. The
helpers here give the same numbers, to the last bit, with temporaries of a few megabytes:

- :func:`pairwise_sum` adds a virtual array piece by piece in exactly the order NumPy's
  ``np.add.reduce`` adds a contiguous float64 array (pairwise summation: halves cut at a
  multiple of 8, blocks of at most 128 added with 8 accumulators), so any sum NumPy would take
  over a temporary array can be taken over pieces of it made on demand. A test pins the order
  against NumPy's on many lengths: a NumPy that changed its order would fail it.
- :class:`OrderStatistics` finds the values of given ranks of the sorted array (what
  ``np.sort(x)[k]`` holds) by counting and selecting in one pass, and the sorted values above a
  threshold (a tail), without sorting a copy of the whole array.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

SUBTREE = 1 << 16
"""Elements of the largest piece summed by NumPy itself: a whole subtree of the pairwise sum
(every subtree of the recursion is summed by NumPy exactly as within the whole array)."""

CHUNK = 1 << 17
"""Elements per piece of a pass over the array (1 MB of float64)."""

SAMPLE = 1 << 18
"""Size of the evenly spaced sample that guesses where a rank's value lies."""
TOP_SAMPLE = 1 << 13
"""Values sampled to find a threshold below the top ranks of a small sample (see
``OrderStatistics``)."""


def pairwise_sum(n: int, values: Callable[[int, int], FloatArray]) -> float:
    """``np.add.reduce`` of a float64 array of length ``n`` whose elements ``start .. stop - 1``
    are ``values(start, stop)``, bit for bit, without making the whole array.

    NumPy sums a contiguous array of more than 128 elements as the sum of its two halves, the
    first one ``n // 2`` rounded down to a multiple of 8 long; each subtree of that recursion
    is the sum NumPy takes of the subarray alone, so the pieces are left to NumPy.
    """
    if n <= SUBTREE:
        return float(np.add.reduce(values(0, n))) if n else 0.0
    half = n // 2
    half -= half % 8
    first = pairwise_sum(half, values)
    second = pairwise_sum(n - half, lambda start, stop: values(half + start, half + stop))
    return first + second


def mean_and_variance(x: FloatArray, ddof: int = 0) -> tuple[float, float]:
    """``(x.mean(), x.var(ddof=ddof))``, bit for bit, without the temporary ``x - mean``
    (``x.std(ddof=ddof)`` is the square root of the variance, as NumPy takes it)."""
    n = x.size
    if n == 0:
        return math.nan, math.nan
    mean = pairwise_sum(n, lambda start, stop: x[start:stop]) / n

    def squares(start: int, stop: int) -> FloatArray:
        centred = x[start:stop] - mean
        return np.multiply(centred, centred, out=centred)

    if n - ddof <= 0:
        return mean, math.nan
    return mean, pairwise_sum(n, squares) / (n - ddof)


def central_moment(x: FloatArray, centre: float, power: int) -> float:
    """``np.mean((x - centre) ** power)``, bit for bit, without the two temporaries."""
    return pairwise_sum(x.size, lambda start, stop: (x[start:stop] - centre) ** power) / x.size


class OrderStatistics:
    """Values of given ranks of ``np.sort(values)``, and its sorted tails, without sorting a copy.

    ``values`` is held, not copied, and must not change. Values are found in one pass per call
    (each asked rank is bracketed between two values of a sorted sample, then the pass counts
    the values below each bracket and keeps those inside it) and kept, so asking again is free.
    Where the sorted array was made anyway (``sorted_values``), they are read from it.
    """

    def __init__(self, values: FloatArray, sorted_values: FloatArray | None = None) -> None:
        self._values = values
        self._known: dict[int, float] = {}
        self._sample: FloatArray | None = None
        self._sorted = sorted_values
        # Below twice the sample's size the sample would be every value: instead, the values
        # from the lowest rank asked for up are partitioned off and sorted (a quote asks for
        # the top percent or so), and the ranks are read from them, not counted.
        self._small = sorted_values is None and values.size < 2 * SAMPLE
        self._top: FloatArray | None = None  # np.sort(values)[self._top_rank:]
        self._top_rank = values.size

    def _read_top(self, lowest: int) -> None:
        """Make ``self._top`` hold the sorted values from rank ``lowest`` (or lower) up."""
        if lowest >= self._top_rank:
            return
        n = self._values.size
        lowest = max(lowest - n // 100, 0)  # a percent more: the next ask is usually close
        if lowest >= n // 2:
            # Every value at or above a threshold a little below the rank's value in a sorted
            # sample: those are exactly the sorted array's values from some rank up.
            step = max(1, n // TOP_SAMPLE)
            sample = np.sort(self._values[::step])
            share = lowest / n
            margin = 4.0 * math.sqrt(sample.size * share * (1.0 - share)) + 2
            threshold = sample[max(math.floor(share * sample.size - margin), 0)]
            top = self._values[self._values >= threshold]
            if n - top.size <= lowest:
                top.sort()
                self._top, self._top_rank = top, n - top.size
                if top.size == n:
                    self._sorted = top
                return
        self._sorted = np.sort(self._values)
        self._top, self._top_rank = self._sorted, 0

    def _guess(self) -> FloatArray:
        if self._sample is None:
            step = max(1, self._values.size // SAMPLE)
            self._sample = np.sort(self._values[::step])
        return self._sample

    def at(self, ranks: Iterable[int]) -> list[float]:
        """The values of ``np.sort(values)[rank]`` for each rank (0-based, each in [0, n))."""
        wanted = list(ranks)
        n = self._values.size
        for rank in wanted:
            if not 0 <= rank < n:
                raise IndexError(f"rank {rank} is outside [0, {n})")
        if self._sorted is not None:
            return [float(self._sorted[rank]) for rank in wanted]
        if self._small and wanted:
            self._read_top(min(wanted))
            if self._sorted is not None:
                return [float(self._sorted[rank]) for rank in wanted]
            assert self._top is not None
            return [float(self._top[rank - self._top_rank]) for rank in wanted]
        missing = sorted({rank for rank in wanted if rank not in self._known})
        width = 4.0
        while missing:
            self._find(missing, width)
            missing = [rank for rank in missing if rank not in self._known]
            width *= 4.0
        return [self._known[rank] for rank in wanted]

    def _find(self, ranks: list[int], width: float) -> None:
        """One pass: the values of the ranks whose bracket (``width`` sample standard deviations
        either side of the guess) holds them."""
        sample = self._guess()
        n, m = self._values.size, sample.size
        brackets: list[list[float]] = []
        for rank in ranks:
            share = (rank + 0.5) / n
            centre = share * m
            margin = width * math.sqrt(m * share * (1 - share)) + 2
            low = math.floor(centre - margin)
            high = math.ceil(centre + margin)
            lo = float(sample[low]) if low >= 0 else -math.inf
            hi = float(sample[high]) if high < m else math.inf
            if brackets and lo <= brackets[-1][1]:
                brackets[-1][1] = max(brackets[-1][1], hi)
            else:
                brackets.append([lo, hi])
        bounds = np.unique(np.array([b for bracket in brackets for b in bracket]))
        # Interval k lies strictly between bounds[k - 1] and bounds[k]; keep those inside a
        # bracket whose two ends differ (its interval is the one just below its upper end).
        inside = np.zeros(bounds.size + 1, dtype=bool)
        for lo, hi in brackets:
            if lo < hi:
                inside[int(np.searchsorted(bounds, hi))] = True
        below = np.zeros(bounds.size + 1, dtype=np.int64)  # by count of bounds <= x
        not_above = np.zeros(bounds.size + 1, dtype=np.int64)  # by count of bounds < x
        kept = []
        for start in range(0, n, CHUNK):
            piece = self._values[start : start + CHUNK]
            left = np.searchsorted(bounds, piece, side="left")
            right = np.searchsorted(bounds, piece, side="right")
            below += np.bincount(right, minlength=bounds.size + 1)
            not_above += np.bincount(left, minlength=bounds.size + 1)
            kept.append(piece[(left == right) & inside[left]])
        count_below = np.cumsum(below)  # count_below[k]: values < bounds[k]
        count_upto = np.cumsum(not_above)  # count_upto[k]: values <= bounds[k]
        # Intervals are disjoint and ordered: sorting the kept values groups them by interval.
        values = np.concatenate(kept)
        del kept
        values.sort()
        for lo, hi in brackets:
            i = int(np.searchsorted(bounds, lo))
            j = int(np.searchsorted(bounds, hi))
            first = int(count_below[i])  # rank of the first value >= lo
            at_lo = int(count_upto[i]) - first
            between = values[
                np.searchsorted(values, lo, side="right") : np.searchsorted(values, hi, side="left")
            ]
            end = int(count_upto[j])  # ranks below this are <= hi
            for rank in ranks:
                if not first <= rank < end:
                    continue
                k = rank - first
                if k < at_lo:
                    self._known[rank] = lo
                elif k - at_lo < between.size:
                    self._known[rank] = float(between[k - at_lo])
                else:
                    self._known[rank] = hi

    def above(self, threshold: float) -> FloatArray:
        """The values strictly above ``threshold``, ascending: ``s[s > threshold]`` of the
        sorted array ``s``."""
        if self._sorted is not None:
            return self._sorted[np.searchsorted(self._sorted, threshold, side="right") :]
        top = self._top
        if top is not None and top.size and threshold >= top[0]:
            # Every value above the threshold is in the sorted top part.
            return top[np.searchsorted(top, threshold, side="right") :]
        pieces = range(0, self._values.size, CHUNK)
        counts = [
            int(np.count_nonzero(self._values[start : start + CHUNK] > threshold))
            for start in pieces
        ]
        tail = np.empty(sum(counts))
        filled = 0
        for start, count in zip(pieces, counts, strict=True):
            piece = self._values[start : start + CHUNK]
            tail[filled : filled + count] = piece[piece > threshold]
            filled += count
        tail.sort()
        return tail
