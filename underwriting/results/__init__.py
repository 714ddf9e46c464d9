"""What a simulation returns: annual losses, their metrics with standard errors, year loss tables.

``_results`` holds the loss distribution, the simulation result and the tables built from them;
``_display`` their short ``repr`` and notebook HTML; ``_tables`` their tables as named columns
for pandas and polars (imported only when asked for); ``_ord`` the standard loss tables in the
Oasis ORD layout; ``_exact`` the exact (FFT) distribution's result and the cross-check against
it. At run time they import only :mod:`underwriting.model`; the ``plot_*()`` methods import
:mod:`underwriting.report` when called.
"""

from underwriting.results._display import (
    DISPLAY_RETURN_PERIODS,
    format_amount,
    format_figure,
    format_with_error,
    html_block,
    html_table,
)
from underwriting.results._exact import (
    CROSS_CHECK_LEVELS,
    CROSS_CHECK_RETURN_PERIODS,
    CrossCheck,
    CrossCheckRow,
    ExactDistribution,
    cross_check_rows,
)
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
from underwriting.results._tables import Coded, Table, check_table, to_pandas, to_polars

__all__ = [
    "CROSS_CHECK_LEVELS",
    "CROSS_CHECK_RETURN_PERIODS",
    "DISPLAY_RETURN_PERIODS",
    "LEVELS",
    "RETURN_PERIODS",
    "Coded",
    "Contribution",
    "CrossCheck",
    "CrossCheckRow",
    "EPPoint",
    "EventLosses",
    "EventSource",
    "ExactDistribution",
    "LossDistribution",
    "Metric",
    "SimulationResult",
    "Table",
    "YearLossTable",
    "YearLossTableBuilder",
    "check_level",
    "check_table",
    "cross_check_rows",
    "format_amount",
    "format_figure",
    "format_money",
    "format_with_error",
    "html_block",
    "html_table",
    "quantile_index",
    "to_pandas",
    "to_polars",
]
