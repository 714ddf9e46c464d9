"""What a simulation returns: annual losses, their metrics with standard errors, year loss tables.

``_results`` holds the loss distribution, the simulation result and the tables built from them.
At run time it imports only :mod:`underwriting.model`; its ``plot_*()`` methods import
:mod:`underwriting.report` when called.
"""

from underwriting.results import _display as display
from underwriting.results._results import (
    LEVELS,
    RETURN_PERIODS,
    Contribution,
    EPPoint,
    EventLosses,
    EventSource,
    LossDistribution,
    Metric,
    SimulationResult,
    YearLossTable,
    YearLossTableBuilder,
    check_level,
    format_money,
    quantile_index,
)

__all__ = [
    "LEVELS",
    "RETURN_PERIODS",
    "Contribution",
    "EPPoint",
    "EventLosses",
    "EventSource",
    "LossDistribution",
    "Metric",
    "SimulationResult",
    "YearLossTable",
    "YearLossTableBuilder",
    "check_level",
    "display",
    "format_money",
    "quantile_index",
]
