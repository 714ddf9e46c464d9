"""The Monte Carlo engine: a risk profile and policy terms to simulated years of losses.

``_randomness`` gives every draw its own counter-based stream (the hash, its constants and the
draw dimensions, for both engines). ``_engine`` holds the one ``Engine`` interface, its two
implementations and ``choose_engine``, which picks one per run; ``_simulation`` runs the years
block by block on it and gathers the result. ``_numpy`` is the NumPy reference engine (a block's
events drawn with arrays). The compiled engine makes the same draws in one pass per year:
``_plan`` flattens a profile and its terms into record arrays with named fields, ``_scalar``
holds its scalar functions (hash, severities, terms), ``_year_loop`` the loop numba compiles,
``_threads`` the thread runtime, and ``_compiled`` runs a block through them. ``_executors`` runs
blocks in process or on Dask. ``_exact`` computes, where the model allows, the same annual loss
distribution without simulating: by FFT, to cross-check the simulation; ``_control`` the exact
means of the per-year occurrence controls that control variates on the premium need.
``_memo`` keeps the work of both that does not depend on the seed (the integrals, a plan's
impact records) for the next run or quote on the same impacts and terms.
"""

from underwriting.engine._compiled import warm_up
from underwriting.engine._control import control_means, event_power_means, stratum_control_means
from underwriting.engine._engine import (
    BlockResult,
    CompiledEngine,
    Engine,
    EngineChoice,
    NumpyEngine,
    choose_engine,
)
from underwriting.engine._exact import DEFAULT_BUCKETS, exact
from underwriting.engine._executors import REDUCTION_FAN_IN, Backend, reduce_blocks, run_blocks
from underwriting.engine._memo import Identity, clear_memos, memo
from underwriting.engine._numpy import BlockEvents, event_loss_table, simulate_block_events
from underwriting.engine._randomness import (
    StreamKey,
    check_seed,
    new_seed,
    stream_key,
)
from underwriting.engine._simulation import (
    DEFAULT_BLOCK_YEARS,
    YearsNeeded,
    bounded_block_size,
    check_run,
    expected_events_per_year,
    simulate,
    simulate_many,
    simulate_many_until,
    stream_keys,
    tail_warnings,
)
from underwriting.engine._strata import NO_RARE_EVENT, Stratum, rare_strata, stratum_seed

__all__ = [
    "DEFAULT_BLOCK_YEARS",
    "DEFAULT_BUCKETS",
    "NO_RARE_EVENT",
    "REDUCTION_FAN_IN",
    "Backend",
    "BlockEvents",
    "BlockResult",
    "CompiledEngine",
    "Engine",
    "EngineChoice",
    "Identity",
    "NumpyEngine",
    "Stratum",
    "StreamKey",
    "YearsNeeded",
    "bounded_block_size",
    "check_run",
    "check_seed",
    "choose_engine",
    "clear_memos",
    "control_means",
    "event_loss_table",
    "event_power_means",
    "exact",
    "expected_events_per_year",
    "memo",
    "new_seed",
    "rare_strata",
    "reduce_blocks",
    "run_blocks",
    "simulate",
    "simulate_block_events",
    "simulate_many",
    "simulate_many_until",
    "stratum_control_means",
    "stratum_seed",
    "stream_key",
    "stream_keys",
    "tail_warnings",
    "warm_up",
]
