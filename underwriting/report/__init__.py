"""What the package shows a person: figures of results, quotes and portfolios, and the client's
quotation document.

- ``_plots``: EP curves, loss histogram, premium waterfall (the optional [plots] extra,
  matplotlib, imported inside each function).
- ``_document``: the quotation document as HTML (a Jinja2 template) and as PDF (WeasyPrint, which
  needs Debian's Pango; imported inside :func:`quote_document_pdf`).

A leaf: it imports no other stage at run time (only for type annotations), and the stages
reach it only lazily, from their ``plot_*()`` methods, so ``import underwriting`` works
without matplotlib.
"""

from underwriting.report._document import (
    SECTION_LABELS,
    STATUSES,
    QuoteStatus,
    quote_document_pdf,
    render_quote_document,
)
from underwriting.report._plots import (
    plot_contributions,
    plot_ep_curve,
    plot_histogram,
    plot_rate_monitoring,
    plot_renewal,
    plot_worksheet,
)

__all__ = [
    "SECTION_LABELS",
    "STATUSES",
    "QuoteStatus",
    "plot_contributions",
    "plot_ep_curve",
    "plot_histogram",
    "plot_rate_monitoring",
    "plot_renewal",
    "plot_worksheet",
    "quote_document_pdf",
    "render_quote_document",
]
