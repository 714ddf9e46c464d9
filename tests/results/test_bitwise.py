"""The results' figures taken without full-size copies are NumPy's own, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import underwriting as uw
from underwriting.results import _bitwise, quantile_index
from underwriting.results._bitwise import (
    OrderStatistics,
    central_moment,
    mean_and_variance,
    pairwise_sum,
)

LENGTHS = (1, 2, 7, 8, 9, 127, 128, 129, 1_000, 65_536, 65_537, 131_073, 300_001, 1_000_003)


def _losses(n: int, kind: str, seed: int) -> np.ndarray:
    """Annual losses as a lab's look: mostly zero, heavy tailed, tied at a limit, or integers."""
    rng = np.random.default_rng(seed)
    if kind == "sparse":
        return rng.lognormal(10, 2, n) * (rng.random(n) < 0.3)
    if kind == "limited":
        return np.minimum(rng.lognormal(10, 2, n), 1e6) * (rng.random(n) < 0.7)
    if kind == "zeros":
        return np.zeros(n)
    return np.round(rng.exponential(3, n))


@pytest.mark.parametrize("n", LENGTHS)
def test_pairwise_sum_is_numpys_sum(n: int) -> None:
    x = np.random.default_rng(n).lognormal(0, 3, n)
    assert pairwise_sum(n, lambda start, stop: x[start:stop]) == np.add.reduce(x)


def test_pairwise_sum_differs_from_a_plain_sum_of_pieces() -> None:
    # The order matters: adding pieces' sums in sequence is not NumPy's sum of the whole.
    x = np.random.default_rng(3).lognormal(0, 3, 1_000_003)
    pieces = sum(float(np.add.reduce(x[s : s + 100_000])) for s in range(0, x.size, 100_000))
    assert pieces != float(np.add.reduce(x))
    assert pairwise_sum(x.size, lambda start, stop: x[start:stop]) == float(np.add.reduce(x))


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("kind", ["sparse", "limited", "integers"])
def test_moments_are_numpys(n: int, kind: str) -> None:
    x = _losses(n, kind, n)
    mean, variance = mean_and_variance(x, ddof=1)
    assert mean == x.mean()
    if n > 1:
        assert math.sqrt(variance) == x.std(ddof=1)
    assert mean_and_variance(x)[1] == x.var()
    assert central_moment(x, float(x.mean()), 4) == np.mean((x - x.mean()) ** 4)


@pytest.mark.parametrize("n", [1, 10, 1_000, 65_537, 400_001])
@pytest.mark.parametrize("kind", ["sparse", "limited", "zeros", "integers"])
def test_order_statistics_are_the_sorted_values(n: int, kind: str) -> None:
    x = _losses(n, kind, 7 * n)
    ordered = np.sort(x)
    ranks = sorted({quantile_index(n, p) for p in (0.5, 0.8, 0.9, 0.99, 0.999)} | {0, n - 1})
    assert OrderStatistics(x).at(ranks) == [float(ordered[r]) for r in ranks]
    for threshold in (0.0, float(ordered[quantile_index(n, 0.9)]), math.inf):
        assert np.array_equal(OrderStatistics(x).above(threshold), ordered[ordered > threshold])


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.sampled_from([0.0, 1.0, 2.5, 1e6, 3.0e7]), min_size=1, max_size=400),
    rank_shares=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=6),
)
def test_order_statistics_with_ties(values: list[float], rank_shares: list[float]) -> None:
    # Atoms (no claim, a limit reached) put thousands of years on one value.
    x = np.repeat(np.array(values), 300)
    ranks = [int(share * x.size) for share in rank_shares]
    ordered = np.sort(x)
    assert OrderStatistics(x).at(ranks) == [float(ordered[r]) for r in ranks]
    # The same ranks counted in passes (as for samples of more than twice SAMPLE years), with a
    # sample of 64 values: small samples, wide brackets, many ties in each.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_bitwise, "SAMPLE", 64)
        counted = OrderStatistics(x)
        assert counted.at(ranks) == [float(ordered[r]) for r in ranks]


@pytest.mark.parametrize("kind", ["sparse", "limited", "zeros", "integers"])
def test_small_samples_read_ranks_from_their_sorted_top(kind: str) -> None:
    """Below twice ``SAMPLE`` years the values from the lowest rank asked for up are sorted
    (partitioned off first) and ranks are read from them, with the same values and tails;
    a rank below the middle sorts them all."""
    x = _losses(300_001, kind, 5)
    ordered = np.sort(x)
    order = OrderStatistics(x)
    ranks = [quantile_index(x.size, p) for p in (0.99, 0.995, 0.996)]
    assert order.at(ranks) == [float(ordered[r]) for r in ranks]
    if kind != "zeros":  # all zeros: the values at or above the threshold are all of them
        assert order._sorted is None  # only the top was sorted
    threshold = float(ordered[ranks[0]])
    assert np.array_equal(order.above(threshold), ordered[ordered > threshold])
    assert np.array_equal(order.above(0.0), ordered[ordered > 0.0])
    assert order.at([0, x.size // 3]) == [float(ordered[0]), float(ordered[x.size // 3])]
    assert order._sorted is not None


def _summary_the_old_way(x: np.ndarray) -> list[float]:
    """The summary's figures from a sorted copy and NumPy's temporaries (the formulas the
    results module documents)."""
    n, ordered = x.size, np.sort(x)
    figures = [float(x.mean()), float(x.std(ddof=1)), float(np.mean((x - x.mean()) ** 4))]
    for level in (0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999):
        spread = math.sqrt(n * level * (1 - level))
        lower = min(max(math.floor(n * level - spread) - 1, 0), n - 1)
        upper = min(max(math.ceil(n * level + spread) - 1, 0), n - 1)
        var = float(ordered[quantile_index(n, level)])
        tail = ordered[ordered > var]
        tvar = var + float(np.maximum(ordered - var, 0.0).mean()) / (1 - level)
        figures += [var, float(ordered[upper] - ordered[lower]) / 2, tvar]
        figures.append(float(tail.var()) if tail.size > 1 else 0.0)
    return figures


@pytest.mark.parametrize("kind", ["sparse", "limited", "integers"])
def test_distribution_figures_unchanged(kind: str) -> None:
    x = _losses(250_001, kind, 11)
    result = uw.LossDistribution(n_years=x.size, seed=0, annual_loss=x, annual_max_occurrence=None)
    figures = [result.mean, result.std, central_moment(x, result.mean, 4)]
    for level in (0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999):
        var = result.var_metric(level)
        tail = result._order.above(var.value)
        figures += [var.value, var.standard_error, result.tvar(level)]
        figures.append(mean_and_variance(tail)[1] if tail.size > 1 else 0.0)
    assert figures == _summary_the_old_way(x)
    # The same through the sorted copy, once something (pricing) has made it.
    again = uw.LossDistribution(n_years=x.size, seed=0, annual_loss=x, annual_max_occurrence=None)
    assert again.sorted_annual_loss is not None
    assert [m.value for m in again.metrics()] == [m.value for m in result.metrics()]
    assert again.ep_curve() == result.ep_curve()
