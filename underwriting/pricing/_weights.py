"""The book weights of many years in one compiled pass, the same to the last bit as NumPy's.

``book_weights`` (``_pricing``) weighs each year by the reference book's survival function at
``VaR - x``, linearly interpolated in the tables' survival table: ``np.interp`` and seven
elementwise passes. A quote with 20 options weighs about 150 samples of up to 50,000 years, and
``np.interp``'s search alone was an eighth of its CPU. Here one loop does the same operations
on each year, in the same order and in the same IEEE arithmetic (no fused multiply-add, no
reassociation), so each weight is bit for bit NumPy's; ``tests/pricing/test_risk_load.py``
compares both on 700,000 losses, the table's knots and their neighbours, and NaN losses (weighed
NaN by both).

Most years fall in the survival table's top interval (a loss below the book's VaR less the
second-to-last knot, 1.3 million in 2026.6's tables): those are weighed without a branch, which
lets the compiler run several years at once. The others (larger losses) are found by bisection
afterwards, as ``np.interp`` finds them: the interval ``xp[j] <= d < xp[j + 1]``, the knot's own
value where ``d`` is a knot, the table's ends outside it.

It runs where numba is importable and ``UW_ENGINE`` is not ``numpy`` (as the compiled engine);
otherwise ``book_weights`` runs NumPy's passes, with the same result.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def weigh_years(
    losses: FloatArray,
    xp: FloatArray,
    fp: FloatArray,
    book_var: float,
    tail: float,
    scale: float,
    out: FloatArray,
) -> int:
    """``1 + scale * (max(S(book_var - max(x, 0)), tail) / tail - 1)`` of each loss ``x`` into
    ``out``, ``S`` interpolated in ``(xp, fp)`` as ``np.interp`` does (``xp`` strictly ascending,
    at least two knots); returns how many years took the bisection."""
    n = xp.size
    top = xp[n - 1]
    below = xp[n - 2]
    slope = (fp[n - 1] - fp[n - 2]) / (top - below)
    rare = 0
    for i in range(losses.size):
        x = losses[i]
        distance = book_var - (x if not x < 0.0 else 0.0)  # np.maximum(x, 0): NaN stays NaN
        survival = slope * (distance - below) + fp[n - 2]
        survival = fp[n - 2] if distance == below else survival
        survival = fp[n - 1] if distance >= top else survival
        rare += distance < below
        weight = survival if not survival < tail else tail
        out[i] = (weight / tail - 1.0) * scale + 1.0
    if rare == 0:
        return 0
    for i in range(losses.size):
        x = losses[i]
        distance = book_var - (x if not x < 0.0 else 0.0)
        if not distance < below:
            continue
        if distance < xp[0]:
            survival = fp[0]
        else:
            low = 0
            high = n
            while low < high:
                middle = low + ((high - low) >> 1)
                if distance >= xp[middle]:
                    low = middle + 1
                else:
                    high = middle
            j = low - 1
            if xp[j] == distance:
                survival = fp[j]
            else:
                step = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
                survival = step * (distance - xp[j]) + fp[j]
                if survival != survival:  # np.interp tries from the other end
                    survival = step * (distance - xp[j + 1]) + fp[j + 1]
                    if survival != survival and fp[j] == fp[j + 1]:
                        survival = fp[j]
        weight = survival if not survival < tail else tail
        out[i] = (weight / tail - 1.0) * scale + 1.0
    return rare


_lock = threading.Lock()
_compiled: list[Callable[..., int] | None] = []


def compiled_weigh() -> Callable[..., int] | None:
    """:func:`weigh_years` compiled by numba on first use (cached on disk next to this module),
    or ``None`` where numba is missing or ``UW_ENGINE=numpy`` asks for NumPy alone."""
    if os.environ.get("UW_ENGINE", "").strip().lower() == "numpy":
        return None
    if not _compiled:
        with _lock:
            if not _compiled:
                _compiled.append(_compile())
    return _compiled[0]


def _compile() -> Callable[..., int] | None:
    try:
        import numba
    except ImportError:
        return None
    # error_model="numpy": no zero-division checks (the table's knots are strictly ascending).
    jit = cast(Callable[..., Any], numba.njit)
    return cast(Callable[..., int], jit(cache=True, nogil=True, error_model="numpy")(weigh_years))


def warm_up() -> bool:
    """Compile :func:`weigh_years` now (or load it from numba's cache), for the argument types
    ``book_weights`` passes, so that no quote waits for the compiler; whether it runs here."""
    weigh = compiled_weigh()
    if weigh is None:
        return False
    knots = np.array([0.0, 1.0])
    losses = np.zeros(1)
    weigh(losses, knots, np.array([1.0, 0.5]), 1.0, 0.5, 1.0, np.empty(1))
    losses.flags.writeable = False  # a read-only sample is another signature to numba
    weigh(losses, knots, np.array([1.0, 0.5]), 1.0, 0.5, 1.0, np.empty(1))
    return True
