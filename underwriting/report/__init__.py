"""Figures of results, quotes and portfolios (the optional [plots] extra, matplotlib).

A leaf: it imports no other stage at run time (only for type annotations), and the stages
reach it only lazily, from their ``plot_*()`` methods, so ``import underwriting`` works
without matplotlib.
"""

from underwriting.report._plots import (
    plot_contributions,
    plot_ep_curve,
    plot_histogram,
    plot_worksheet,
)

__all__ = ["plot_contributions", "plot_ep_curve", "plot_histogram", "plot_worksheet"]
