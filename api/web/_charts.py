"""Charts for the pages: the report's figures saved as SVG, drawn on the server.

The EP curve and the annual loss distribution need the simulated years, which a store does not
keep: a quote's simulation is the replay of its provenance (same seed, same tables, same
figures). The charts of the quotes seen last are kept in memory, so a page shown again draws
nothing; a quote made on this process leaves its charts here at once.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import underwriting as uw
from underwriting import report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHART_NAMES = ("ep-curve", "loss-distribution")


def svg(figure: Figure) -> bytes:
    """The figure as SVG, its text kept as text (smaller, and read by screen readers)."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "workbench"}):
        figure.savefig(buffer, format="svg")
    return buffer.getvalue()


def draw(result: uw.SimulationResult) -> dict[str, bytes]:
    """The quote's EP curve and annual loss distribution, as SVG, by chart name."""
    return {
        "ep-curve": svg(report.plot_ep_curve(result)),
        "loss-distribution": svg(report.plot_histogram(result)),
    }


class ChartCache:
    """The charts of the last ``size`` quotes, by quote id (thread-safe)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._charts: OrderedDict[str, dict[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._drawing: dict[str, threading.Lock] = {}

    def put(self, quote_id: str, charts: dict[str, bytes]) -> None:
        with self._lock:
            self._charts[quote_id] = charts
            self._charts.move_to_end(quote_id)
            while len(self._charts) > self.size:
                self._charts.popitem(last=False)

    def get(self, quote_id: str, simulate: Callable[[], uw.SimulationResult]) -> dict[str, bytes]:
        """The quote's charts, simulating (once, however many ask at once) if not kept."""
        with self._lock:
            if quote_id in self._charts:
                self._charts.move_to_end(quote_id)
                return self._charts[quote_id]
            drawing = self._drawing.setdefault(quote_id, threading.Lock())
        with drawing:
            with self._lock:
                if quote_id in self._charts:
                    return self._charts[quote_id]
            charts = draw(simulate())
            self.put(quote_id, charts)
            with self._lock:
                self._drawing.pop(quote_id, None)
            return charts
