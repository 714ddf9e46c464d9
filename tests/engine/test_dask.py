"""Portfolios on Dask: bit-identical to the local run, whatever the workers, the block order or a
worker lost mid-run (docs/sources.md#design-randomness: independent of how the work is cut).

Runs on ``dask.LocalCluster``: in-process clusters (cheap to start) for the identity
checks, a two-process cluster for the worker-loss check. Skipped when the ``[dask]`` extra is not
installed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

import underwriting as uw
from underwriting.engine import reduce_blocks, run_blocks

pytest.importorskip("distributed", reason="the Dask backend needs the [dask] extra")
from distributed import Client, LocalCluster

ROOT = Path(__file__).resolve().parents[2]
YEARS = 12_000
BLOCK = 1_500  # 8 blocks of years
LABS = 12
GROUP = 1  # 12 groups of one lab: a two-level reduction tree (8 + 4, then 2)
SEED = 2026


def _portfolio(tables: uw.RatingTables) -> uw.Portfolio:
    # Copies of the three example labs, each with its own id, on four sites (so site-level events
    # are shared by three labs each).
    templates = [
        uw.QuoteRequest.model_validate_json(path.read_text())
        for path in sorted((ROOT / "examples").glob("*.json"))
    ]
    requests = []
    for number in range(LABS):
        template = templates[number % len(templates)]
        submission = template.submission.model_copy(
            update={"lab_id": f"LAB-{number:02d}", "site_id": f"site-{number % 4}"}
        )
        requests.append(template.model_copy(update={"submission": submission}))
    return uw.Portfolio(requests, tables=tables)


def _cluster(workers: int, *, threads: int = 1, processes: bool = False) -> LocalCluster:
    return LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers,
        threads_per_worker=threads,
        processes=processes,
        # No dashboard, and the scheduler's HTTP endpoints on a free port: 8787 may be taken by
        # another cluster on the machine (its warning would fail the run under filterwarnings).
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},
        silence_logs=logging.CRITICAL,
    )


def _client(cluster: LocalCluster, *, default: bool = False) -> Client:
    # Not the default client unless asked, so a test can check what happens when none is active.
    return Client(cluster, set_as_default=default)  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def portfolio() -> uw.Portfolio:
    return _portfolio(uw.load_rating_tables("2026.1"))


@pytest.fixture(scope="module")
def local(portfolio: uw.Portfolio) -> uw.PortfolioResult:
    return uw.simulate_portfolio(
        portfolio, n_years=YEARS, seed=SEED, block_size=BLOCK, lab_group_size=GROUP
    )


@pytest.fixture(scope="module", params=[1, 2], ids=["1 worker", "2 workers"])
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    with (
        _cluster(request.param) as cluster,
        _client(cluster) as client,
    ):
        yield client


def _assert_identical(result: uw.PortfolioResult, expected: uw.PortfolioResult) -> None:
    assert np.array_equal(result.annual_loss, expected.annual_loss)
    assert np.array_equal(result.lab_means, expected.lab_means)
    assert np.array_equal(result.lab_standard_errors, expected.lab_standard_errors)
    assert np.array_equal(result.lab_tail_means, expected.lab_tail_means)
    assert result.tvar(0.99) == expected.tvar(0.99)
    assert result.tvar_contributions() == expected.tvar_contributions()


def test_dask_gives_the_local_result_bit_for_bit(
    portfolio: uw.Portfolio, local: uw.PortfolioResult, client: Client
) -> None:
    result = uw.simulate_portfolio(
        portfolio,
        n_years=YEARS,
        seed=SEED,
        block_size=BLOCK,
        lab_group_size=GROUP,
        backend="dask",
        client=client,
    )
    _assert_identical(result, local)
    # What the actuary reads: the same figures, to the last digit.
    assert result.summary() == local.summary()


@pytest.mark.parametrize("engine", ["compiled", "numpy"])
def test_a_single_profile_on_dask_gives_the_local_result_bit_for_bit(
    client: Client, engine: Literal["compiled", "numpy"]
) -> None:
    request = uw.QuoteRequest.model_validate_json(
        (ROOT / "examples" / "chemistry_high_hazard.json").read_text()
    )
    profile = uw.RiskProfile.from_submission(request.submission, uw.load_rating_tables("2026.1"))
    options: dict[str, Any] = {"n_years": YEARS, "seed": SEED, "block_size": BLOCK}
    options["engine"] = engine
    local = uw.simulate(profile, request.terms, **options)
    result = uw.simulate(profile, request.terms, backend="dask", client=client, **options)
    assert np.array_equal(result.annual_loss, local.annual_loss)
    assert result.annual_ground_up is not None
    assert local.annual_ground_up is not None
    assert np.array_equal(result.annual_ground_up, local.annual_ground_up)
    np.testing.assert_array_equal(result.annual_max_occurrence, local.annual_max_occurrence)
    assert result.by_scenario() == local.by_scenario()
    assert result.summary() == local.summary()


def test_blocks_of_another_size_give_the_same_losses_on_dask(
    portfolio: uw.Portfolio, local: uw.PortfolioResult, client: Client
) -> None:
    # Another cut of the years (uneven blocks, more of them in flight than workers) gives the same
    # annual losses and TVaR split; the labs' means add block sums, so agree to rounding only.
    result = uw.simulate_portfolio(
        portfolio,
        n_years=YEARS,
        seed=SEED,
        block_size=977,
        lab_group_size=GROUP,
        backend="dask",
        client=client,
    )
    assert np.array_equal(result.annual_loss, local.annual_loss)
    assert np.array_equal(result.lab_tail_means, local.lab_tail_means)
    np.testing.assert_allclose(result.lab_means, local.lab_means, rtol=1e-12)


# Blocks finishing in reverse order: the first piece of the first block waits until every piece
# of the last block has run. The cluster runs in this process (processes=False), so a
# threading.Event reaches the tasks.
_PIECES = 19  # three levels of the reduction tree: 8 + 8 + 3, then 3
_LAST_BLOCK_DONE = threading.Event()
_LAST_BLOCK_PIECES: list[int] = []
_LOCK = threading.Lock()


def _piece(last_first: int, first: int, size: int, index: int) -> np.ndarray:
    if first == 0 and index == 0:
        assert _LAST_BLOCK_DONE.wait(timeout=60), "the last block never ran"
    # Values of very different magnitudes: their float sum depends on the order of the additions.
    values = np.random.default_rng([first, index]).standard_normal(size)
    values *= 10.0 ** (index % 7 * 3)
    if first == last_first:
        with _LOCK:
            _LAST_BLOCK_PIECES.append(index)
            if len(_LAST_BLOCK_PIECES) == _PIECES:
                _LAST_BLOCK_DONE.set()
    return values


def _add(pieces: Sequence[np.ndarray]) -> np.ndarray:
    total = pieces[0].copy()
    for piece in pieces[1:]:
        total += piece
    return total


def test_blocks_finishing_in_reverse_order_give_the_same_sums() -> None:
    blocks = [(first, 100) for first in range(0, 600, 100)]
    task = partial(_piece, blocks[-1][0])
    _LAST_BLOCK_DONE.set()
    expected = list(reduce_blocks(task, _PIECES, _add, blocks))
    _LAST_BLOCK_DONE.clear()
    _LAST_BLOCK_PIECES.clear()
    # Every block in flight at once; a spare thread on each worker while the first piece waits.
    with (
        _cluster(2, threads=2) as cluster,
        _client(cluster) as client,
    ):
        result = list(
            reduce_blocks(
                task, _PIECES, _add, blocks, backend="dask", client=client, max_in_flight=6
            )
        )
    assert _LAST_BLOCK_DONE.is_set()
    assert len(result) == len(expected)
    for got, want in zip(result, expected, strict=True):
        assert np.array_equal(got, want)
    # The check has teeth: another tree over the same pieces gives other last bits.
    other = list(reduce_blocks(task, _PIECES, _add, blocks, fan_in=2))
    assert any(not np.array_equal(a, b) for a, b in zip(other, expected, strict=True))


def test_the_active_client_is_used_when_none_is_given() -> None:
    with _cluster(1) as cluster, _client(cluster, default=True):
        squares = list(run_blocks(_square_sum, [(0, 3), (3, 2)], backend="dask"))
    assert squares == [5, 25]


def _square_sum(first: int, size: int) -> int:
    return sum(year * year for year in range(first, first + size))


def test_backend_and_client_mistakes_are_named() -> None:
    blocks = [(0, 1)]
    with pytest.raises(ValueError, match=r"backend must be one of 'local', 'dask', got 'ray'"):
        run_blocks(_square_sum, blocks, backend="ray")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no active client was found"):
        run_blocks(_square_sum, blocks, backend="dask")
    with pytest.raises(TypeError, match=r"client must be a distributed\.Client.*got str"):
        run_blocks(_square_sum, blocks, backend="dask", client="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="client is only used with backend='dask'"):
        run_blocks(_square_sum, blocks, client=object())


def test_a_worker_killed_mid_run_changes_nothing(
    portfolio: uw.Portfolio, local: uw.PortfolioResult
) -> None:
    # Two worker processes. After the first block of years is back, the worker holding the most
    # of the run (blocks computing, or computed and not yet collected) is killed with SIGKILL, as
    # in a crash or a pre-empted machine. Dask recomputes what it held on the other worker (and
    # on the one its nanny restarts): the tasks are pure, so the result is the local one, bit
    # for bit.
    killed: list[int] = []
    with (
        _cluster(2, processes=True) as cluster,
        _client(cluster) as client,
    ):
        client.wait_for_workers(2)
        pids: dict[str, int] = client.run(os.getpid)

        def kill_a_worker(years: int) -> None:
            if killed:
                return
            processing, holding = client.processing(), client.has_what()
            held = {w: len(processing.get(w, ())) + len(holding.get(w, ())) for w in pids}
            address = max(held, key=held.__getitem__)
            # More than the portfolio scattered to every worker: a block is lost with it.
            assert held[address] > 1, held
            os.kill(pids[address], signal.SIGKILL)
            killed.append(pids[address])

        result = uw.simulate_portfolio(
            portfolio,
            n_years=YEARS,
            seed=SEED,
            block_size=BLOCK,
            lab_group_size=GROUP,
            backend="dask",
            client=client,
            progress=kill_a_worker,
        )
        assert killed
    _assert_identical(result, local)
