"""Counter-based random numbers: every uniform is a pure function of its coordinates.

A simulated uniform is addressed by ``(seed, stream id, year, event index, dimension)``:

- ``seed`` is the run's seed (an integer in ``[0, 2**128)``);
- the stream id is a stable name, the scenario id, so adding a scenario never moves another
  scenario's numbers (stable streams);
- ``year`` is the simulated year, ``0 <= year < 2**48``;
- ``event`` is the 1-based index of the event within its year and scenario (0 for year-level
  draws such as the event count);
- ``dimension`` separates the draws that one event needs (severity of each section, whether a
  section is hit, cascades...).

Because nothing depends on the order in which draws are made, a result does not depend on the
block size, on how many processes ran it, or on what else was simulated (reproducible, independent
of chunking); and two runs with the same seed that differ only in terms or rating factors see the
same underlying numbers (common random numbers).

The hash is SplitMix64's finaliser (Steele, Lea and Flood, 2014) chained over the coordinates,
keyed by 128 bits derived from ``(seed, stream id)`` with BLAKE2b. The uniforms are the
midpoints of the 2**-53 grid, so they lie strictly inside ``(0, 1)``: neither a normal deviate
nor a heavy-tailed amount is ever infinite.

Example
-------
>>> import numpy as np
>>> key = stream_key(42, "contained_fire")
>>> states = year_states(key, np.arange(3, dtype=np.int64))
>>> u = uniforms_from_states(states, np.zeros(3, dtype=np.int64), dimension=0)
>>> bool(np.all((u > 0) & (u < 1)))
True
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from underwriting.model import SEED_BITS
from underwriting.model import check_seed as check_seed  # the seed's domain: stated in the model

# SplitMix64's constants, shared by the NumPy functions below and the compiled engine's scalar
# ones (``_scalar``). Unsigned 64-bit, so that both wrap the same way.
GAMMA = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
S30, S27, S31, S11, S16 = (np.uint64(n) for n in (30, 27, 31, 11, 16))
TO_UNIT = 2.0**-53
"""A 53-bit hash word ``w`` is the uniform ``(w + 0.5) * TO_UNIT``."""

# Dimensions of the draws of one event, the same in both engines. Fixed forever: changing them
# changes every simulated figure.
DIM_COUNT = 0
"""With event index 0: the year's event count."""
DIM_EVENT_FACTOR = 0
"""With event index >= 1: the event's common severity factor."""
DIM_HIT = 1
"""Plus 2 x section index: whether the section is hit."""
DIM_SEVERITY = 2
"""Plus 2 x section index: the section's own severity deviate."""
DIM_THIN = 99
"""Whether a lab takes part in a shared (site-level) event."""
DIM_CASCADE_TRIGGER = 100
"""Plus the cascade number: whether the cascade follows the event."""
DIM_CASCADE_BASE = 1_000
"""Times (cascade number + 1): the base of the child's draws inside the parent's event."""

UInt64Array = npt.NDArray[np.uint64]
Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def new_seed() -> int:
    """Fresh 128-bit entropy for a run that was given no seed; record it to replay the run."""
    return secrets.randbits(SEED_BITS)


@dataclass(frozen=True, slots=True)
class StreamKey:
    """The 128-bit key of one stream: ``(seed, stream id)`` hashed with BLAKE2b."""

    high: np.uint64
    low: np.uint64


def stream_key(seed: int, stream_id: str) -> StreamKey:
    """The key of the stream named ``stream_id`` under ``seed``.

    BLAKE2b of the seed and the id: stable across platforms and library versions, and two
    different ids give unrelated keys. The seed is checked first (a bad one is refused by
    name, never by the cache); the last 4,096 keys are kept (a quote's dozen runs ask for the
    same hundred or so; the keys are frozen): about 2 MiB per process full.
    """
    check_seed(seed)
    return _stream_key(seed, stream_id)


@functools.lru_cache(maxsize=4_096)
def _stream_key(seed: int, stream_id: str) -> StreamKey:
    digest = hashlib.blake2b(
        seed.to_bytes(SEED_BITS // 8, "little") + stream_id.encode("utf-8"),
        digest_size=16,
        person=b"lab-uw-stream",
    ).digest()
    return StreamKey(
        high=np.uint64(int.from_bytes(digest[:8], "little")),
        low=np.uint64(int.from_bytes(digest[8:], "little")),
    )


def _mix(z: UInt64Array) -> UInt64Array:
    """SplitMix64's finaliser, in place on a fresh array: a bijection of 64-bit words."""
    z ^= z >> S30
    z *= M1
    z ^= z >> S27
    z *= M2
    z ^= z >> S31
    return z


def year_states(key: StreamKey, years: Int64Array) -> UInt64Array:
    """The per-year hash state of a stream, shape ``(len(years),)``.

    Computed once per year and shared by all of that year's events and dimensions.
    """
    z = years.astype(np.uint64) * GAMMA
    z += key.low
    z = _mix(z)
    z ^= key.high
    return _mix(z)


def uniforms_from_states(states: UInt64Array, events: Int64Array, dimension: int) -> FloatArray:
    """Uniforms in ``(0, 1)`` for ``(year state, event index, dimension)``, elementwise.

    Parameters
    ----------
    states
        Year states from :func:`year_states`, one per draw, shape ``(n,)``.
    events
        Event index within the year for each draw (0 for year-level draws), shape ``(n,)``.
    dimension
        Which draw of the event, ``0 <= dimension < 2**16``.
    """
    if not 0 <= dimension < 2**16:
        raise ValueError(f"dimension must be in [0, 65536), got {dimension}")
    z = events.astype(np.uint64) << S16
    z |= np.uint64(dimension)
    z *= GAMMA
    z = _mix(z)
    z ^= states
    z = _mix(z)
    z >>= S11
    out = z.astype(np.float64)
    out += 0.5
    out *= TO_UNIT
    return out
