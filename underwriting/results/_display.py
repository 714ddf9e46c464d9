"""How results show themselves in a notebook: a short ``repr`` and a small HTML table.

A frozen dataclass's generated ``repr`` prints every array and nested model (tens of thousands
of characters for one quote); these print the headline figures with their standard errors, the
decision where there is one, and a few points of the EP curve. The HTML is escaped and holds no
script, style sheet or image, so JupyterLab shows it as it is and a saved notebook stays small.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

RATIOS = frozenset({"P(any claim)", "coefficient of variation"})
"""Metrics that are ratios, not amounts: shown with four decimals."""

DISPLAY_RETURN_PERIODS: tuple[int, ...] = (10, 100, 200, 250)
"""Return periods of the small EP table of a result's display."""


def format_amount(value: float) -> str:
    """An amount: whole with separators from 100 up, two decimals below."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def format_figure(name: str, value: float) -> str:
    """A metric's value as its kind is read: a ratio with four decimals, else an amount."""
    return f"{value:.4f}" if name in RATIOS else format_amount(value)


def format_with_error(name: str, value: float, error: float) -> str:
    """``value ± error`` in the metric's own format."""
    return f"{format_figure(name, value)} ± {format_figure(name, error)}"


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    """A small HTML table, every cell escaped; the first column left-aligned, the others right."""
    head = "".join(
        f'<th style="text-align:{"left" if i == 0 else "right"}">{html.escape(h)}</th>'
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="text-align:{"left" if i == 0 else "right"}">{html.escape(cell)}</td>'
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_block(title: str, lines: Sequence[str], tables: Sequence[str]) -> str:
    """A titled block: the title in bold, plain lines (escaped), then the tables (built by
    :func:`html_table`, already escaped)."""
    notes = "".join(f"<div>{html.escape(line)}</div>" for line in lines)
    return f"<div><strong>{html.escape(title)}</strong>{notes}{''.join(tables)}</div>"
