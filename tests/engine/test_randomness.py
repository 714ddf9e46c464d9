"""Counter-based uniforms: uniform, independent across coordinates, keyed by stable ids."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from underwriting.engine import StreamKey, _randomness, check_seed, stream_key

N = 200_000


def uniforms(
    key: StreamKey, years: np.ndarray, events: np.ndarray, *, dimension: int
) -> np.ndarray:
    """Uniforms in ``(0, 1)`` addressed by ``(key, year, event, dimension)``, elementwise."""
    states = _randomness.year_states(key, years)
    return _randomness.uniforms_from_states(states, events, dimension)


def _u(seed: int, stream: str, years: np.ndarray, events: np.ndarray, dim: int) -> np.ndarray:
    return uniforms(stream_key(seed, stream), years, events, dimension=dim)


def test_uniforms_are_uniform_and_strictly_inside_the_unit_interval() -> None:
    years = np.arange(N, dtype=np.int64)
    u = _u(1, "fire", years, np.ones(N, dtype=np.int64), 3)
    assert u.min() > 0
    assert u.max() < 1
    # Kolmogorov-Smirnov against U(0, 1): p-value above 0.001 for a correct generator.
    assert stats.kstest(u, "uniform").pvalue > 1e-3


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((1, "fire", 0, 2), (1, "fire", 1, 2)),  # neighbouring event index
        ((1, "fire", 0, 2), (1, "fire", 0, 3)),  # neighbouring dimension
        ((1, "fire", 0, 2), (1, "flood", 0, 2)),  # another stream
        ((1, "fire", 0, 2), (2, "fire", 0, 2)),  # another seed
    ],
)
def test_neighbouring_coordinates_are_uncorrelated(
    a: tuple[int, str, int, int], b: tuple[int, str, int, int]
) -> None:
    years = np.arange(N, dtype=np.int64)
    first = _u(a[0], a[1], years, np.full(N, a[2], dtype=np.int64), a[3])
    second = _u(b[0], b[1], years, np.full(N, b[2], dtype=np.int64), b[3])
    # Under independence the sample correlation has s.d. 1/sqrt(N) ~ 0.0022; 5 s.d. bound.
    assert abs(np.corrcoef(first, second)[0, 1]) < 5 / np.sqrt(N)
    # Consecutive years of one stream too (lag-1 serial correlation).
    assert abs(np.corrcoef(first[:-1], first[1:])[0, 1]) < 5 / np.sqrt(N)


def test_a_uniform_depends_only_on_its_coordinates() -> None:
    years = np.array([5, 900_000_000, 17], dtype=np.int64)
    events = np.array([1, 2, 3], dtype=np.int64)
    together = _u(9, "x", years, events, 4)
    alone = np.array([_u(9, "x", years[i : i + 1], events[i : i + 1], 4)[0] for i in range(3)])
    np.testing.assert_array_equal(together, alone)


def test_stream_keys_are_stable_across_releases() -> None:
    # A regression pin, recorded from release 0.1.0: changing the key derivation or the hash would
    # change every simulated figure of every stored quote, which must then fail to replay.
    key = stream_key(42, "contained_fire")
    assert (int(key.high), int(key.low)) == (8687472030665264498, 16661677015773963690)
    first = uniforms(key, np.array([0], dtype=np.int64), np.array([1], dtype=np.int64), dimension=0)
    assert first[0] == 0.08251739455232127


def test_seeds_outside_128_bits_are_refused() -> None:
    assert check_seed(2**128 - 1) == 2**128 - 1
    with pytest.raises(ValueError, match="2\\*\\*128"):
        check_seed(2**128)
    with pytest.raises(TypeError, match="integer"):
        check_seed(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [True, 1.0, [1], -1])
def test_a_stream_key_refuses_a_bad_seed_by_name_even_after_a_good_one(seed: object) -> None:
    """The keys are kept (a cache keyed by the seed): a bool or float equal to a seed already
    asked for, or an unhashable one, must still get the seed's own error, not the cache's."""
    stream_key(1, "contained_fire")
    with pytest.raises((TypeError, ValueError), match="seed must be"):
        stream_key(seed, "contained_fire")  # type: ignore[arg-type]
