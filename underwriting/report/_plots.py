"""Plots of results and quotes for the actuary: EP curves, loss histogram, premium waterfall.

Needs matplotlib, the optional extra ``[plots]`` (``pip install 'lab-underwriting[plots]'``).
matplotlib is imported inside the functions, never when this module is imported, so the engine
works without it. Each function draws on a new :class:`matplotlib.figure.Figure` with the Agg
canvas, without pyplot and without changing any global setting: nothing is registered with pyplot
(no figure to close) and no backend is switched. Each returns the figure (a notebook shows it)
and, given ``path``, also saves it as a PNG.

Example
-------
>>> import underwriting as uw
>>> from underwriting import report
>>> profile = uw.RiskProfile(scenarios=[uw.Scenario(id="ref", frequency=uw.Poisson(rate=2.0),
...                          severity=uw.LogNormal(mu=10.0, sigma=1.5), section="property")])
>>> terms = uw.PolicyTerms(sections={"property": uw.SectionTerms(deductible=10_000)})
>>> result = uw.simulate(profile, terms, n_years=2_000, seed=1)
>>> figure = report.plot_ep_curve(result)  # or report.plot_ep_curve(result, "ep_curve.png")
>>> [axes.get_xscale() for axes in figure.axes]
['log']
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from underwriting.quote import Quote
    from underwriting.results import LossDistribution
    from underwriting.workflow import RateMonitoring

DPI = 120
"""Resolution of the saved PNGs (dots per inch)."""

_INSTALL = "pip install 'lab-underwriting[plots]'"

# Colours (matplotlib's tab palette): rises, falls and subtotals of the waterfall; AEP and OEP.
_RISE, _FALL, _TOTAL = "tab:blue", "tab:red", "tab:gray"
_AEP, _OEP = "tab:blue", "tab:orange"


def _new_figure(width: float = 8.0, height: float = 5.0) -> Figure:
    """A figure on its own Agg canvas (no pyplot, no global state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"underwriting.report needs matplotlib, the optional extra [plots]: {_INSTALL}"
        ) from error
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _money_axis(axes: Axes, which: str = "y") -> None:
    """Thousands separators on an amount axis."""
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda value, _position: f"{value:,.0f}")
    axis = axes.yaxis if which == "y" else axes.xaxis
    axis.set_major_formatter(formatter)


def _money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _label(name: str, *notes: str | None) -> str:
    """An axis label: ``name (notes)``, leaving out a currency of ``None`` (none stated).

    >>> _label("insured loss", "EUR"), _label("annual insured loss", None, "log scale")
    ('insured loss (EUR)', 'annual insured loss (log scale)')
    """
    shown = [note for note in notes if note is not None]
    return f"{name} ({', '.join(shown)})" if shown else name


def _finish(figure: Figure, path: str | os.PathLike[str] | None) -> Figure:
    if path is not None:
        figure.savefig(path, dpi=DPI, format="png")
    return figure


MARKED_RETURN_PERIODS: tuple[int, ...] = (100, 200, 250)
"""Return periods a committee asks about, marked on the EP curve: 1 in 100, 200 and 250."""


def _subject(result: LossDistribution, subject: str | None) -> str:
    """What a figure is of: the caller's words, else the result's own (``lab CHEM-SYN-305``)."""
    return subject if subject is not None else result.subject


def _plain_log_axis(axes: Axes, which: str = "x") -> None:
    """Log axis ticks written as plain amounts or years (100, 1,000, 1M), not powers of ten."""
    from matplotlib.ticker import FuncFormatter

    def written(value: float, _position: float) -> str:
        if value >= 1e6:
            return f"{value / 1e6:,.4g}M"
        return f"{value:,.0f}" if value >= 1 else f"{value:g}"

    axis = axes.xaxis if which == "x" else axes.yaxis
    axis.set_major_formatter(FuncFormatter(written))
    axis.set_minor_formatter(FuncFormatter(lambda _value, _position: ""))


def plot_ep_curve(
    result: LossDistribution,
    path: str | os.PathLike[str] | None = None,
    *,
    return_periods: Sequence[float] | None = None,
    subject: str | None = None,
) -> Figure:
    """AEP and OEP against return period (log scale), each with a ±1 standard error band.

    The 1-in-100, 1-in-200 and 1-in-250 years (those the run reaches) are marked, their
    figures with standard errors listed in a box. A result without occurrences (a portfolio)
    has no OEP: only the AEP is drawn.

    Parameters
    ----------
    result
        A simulation result (of one lab or a portfolio).
    path
        Where to save the PNG; not saved when ``None``.
    return_periods
        Return periods in years (each above 1); the result's default set when ``None``.
    subject
        What the figure is of, for the title (a lab's name); the result's own when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure = _new_figure(width=9.0, height=5.5)
    points = result.ep_curve() if return_periods is None else result.ep_curve(return_periods)
    periods = [p.return_period for p in points]
    curves = [
        (
            "AEP (annual aggregate)",
            _AEP,
            [p.aep for p in points],
            [p.aep_standard_error for p in points],
        )
    ]
    occurrence = [(p.oep, p.oep_standard_error) for p in points]
    has_oep = all(value is not None and error is not None for value, error in occurrence)
    if has_oep:
        curves.append(
            (
                "OEP (largest occurrence)",
                _OEP,
                [float(value or 0.0) for value, _ in occurrence],
                [float(error or 0.0) for _, error in occurrence],
            )
        )
    axes = figure.add_subplot()
    for label, colour, values, errors in curves:
        low = [max(v - e, 0.0) for v, e in zip(values, errors, strict=True)]
        high = [v + e for v, e in zip(values, errors, strict=True)]
        axes.plot(periods, values, marker="o", markersize=3, color=colour, label=label)
        axes.fill_between(periods, low, high, color=colour, alpha=0.2, linewidth=0)
    marked = result.ep_curve([p for p in MARKED_RETURN_PERIODS if p <= result.n_years])
    lines = []
    for point in marked:
        axes.axvline(point.return_period, color="dimgray", linestyle=":", linewidth=1)
        axes.plot(
            [point.return_period],
            [point.aep],
            marker="D",
            markersize=6,
            color=_AEP,
            markeredgecolor="black",
            linestyle="none",
        )
        line = (
            f"1 in {point.return_period:,.0f}: AEP {_money(point.aep)} "
            f"± {_money(point.aep_standard_error)}"
        )
        if point.oep is not None and point.oep_standard_error is not None:
            line += f", OEP {_money(point.oep)} ± {_money(point.oep_standard_error)}"
        lines.append(line)
    if lines:
        # Upper left, under the legend: the curves rise to the right, so this corner stays clear.
        axes.text(
            0.015,
            0.83,
            "\n".join(lines),
            transform=axes.transAxes,
            ha="left",
            va="top",
            fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "lightgray"},
        )
    axes.set_xscale("log")
    _plain_log_axis(axes)
    axes.set_xlabel("return period (years)")
    axes.set_ylabel(_label("insured loss", result.currency))
    _money_axis(axes)
    axes.set_ylim(bottom=0)
    axes.grid(True, which="both", alpha=0.3)
    title = _subject(result, subject)
    axes.set_title(
        f"Exceedance probability{', ' + title if title else ''}\n"
        f"{result.n_years:,} simulated years; bands: ±1 standard error"
    )
    axes.legend(loc="upper left")
    return _finish(figure, path)


_LOWEST_SHOWN = 0.01
"""The histogram's axis starts at the 1st percentile of the years with a loss (the smaller ones
are counted in the first bin), never at a few cents."""


def plot_histogram(
    result: LossDistribution,
    path: str | os.PathLike[str] | None = None,
    *,
    bins: int = 60,
    subject: str | None = None,
) -> Figure:
    """The share of years by annual insured loss, and the probability of no loss stated.

    Losses run over several orders of magnitude, so the amount axis is logarithmic, written in
    plain amounts (1,000; 100,000; 10M), from the 1st percentile of the years with a loss (any
    smaller loss counts in the first bin); the height is the share of all simulated years, on a
    linear scale. Years without an insured loss cannot sit on a log axis: their probability,
    with its standard error, is in the title. The mean and the VaR 99.5% are marked.

    Parameters
    ----------
    result
        A simulation result (of one lab or a portfolio).
    path
        Where to save the PNG; not saved when ``None``.
    bins
        Number of bins between the axis' start and the largest annual loss.
    subject
        What the figure is of, for the title (a lab's name); the result's own when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    figure = _new_figure(width=9.0, height=5.5)
    axes = figure.add_subplot()
    losses = result.annual_loss
    positive = losses[losses > 0]
    zero_years = int(losses.size - positive.size)
    share = zero_years / losses.size if losses.size else 0.0
    error = math.sqrt(share * (1 - share) / losses.size) if losses.size else 0.0
    if positive.size:
        low = float(np.quantile(positive, _LOWEST_SHOWN))
        high = float(positive.max())
        low = min(low, high / 2) if high > 0 else low
        edges = np.geomspace(low, high * 1.000001 if high > low else low * 2, bins + 1)
        shown = np.clip(positive, edges[0], edges[-1])
        counts, _ = np.histogram(shown, bins=edges)
        below = int(np.count_nonzero(positive < edges[0]))
        colours = [_AEP] * bins
        smallest_note: str | None = None
        if below:
            colours[0] = _TOTAL  # the years below the axis' start, gathered in the first bar
            smallest_note = f"the grey bar also holds the {below:,} years below {_money(edges[0])}"
        axes.bar(
            edges[:-1],
            counts * 100.0 / losses.size,
            width=np.diff(edges),
            align="edge",
            color=colours,
            edgecolor="white",
            linewidth=0.3,
        )
        axes.set_xscale("log")
        _plain_log_axis(axes)
        markers = [("mean", result.mean, "black", 0.97)]
        if losses.size >= 200:
            markers.append(("VaR 99.5%", result.var(0.995), "tab:red", 0.88))
        for name, value, colour, height in markers:
            if value <= 0:
                continue
            axes.axvline(value, color=colour, linestyle="--", linewidth=1)
            axes.annotate(
                f"{name} {_money(value)}",
                xy=(value, height),
                xycoords=("data", "axes fraction"),
                xytext=(4, 0),
                textcoords="offset points",
                va="top",
                fontsize=8,
                color=colour,
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
            )
    else:
        smallest_note = None
        axes.text(0.5, 0.5, "no year with an insured loss", ha="center", transform=axes.transAxes)
    axes.set_xlabel(_label("annual insured loss", result.currency, "log scale", smallest_note))
    axes.set_ylabel("share of simulated years (%)")
    axes.grid(True, which="major", alpha=0.3)
    title = _subject(result, subject)
    axes.set_title(
        f"Annual insured loss{', ' + title if title else ''}\n{result.n_years:,} simulated "
        f"years; P(no insured loss) = {share:.1%} ± {error:.1%} ({zero_years:,} years, not "
        "drawn)"
    )
    return _finish(figure, path)


def _currency_of(quote: Quote) -> str | None:
    """The quote's currency; ``None`` for a quote read back without its simulation."""
    return quote.result.currency if quote.result is not None else None


def plot_worksheet(quote: Quote, path: str | os.PathLike[str] | None = None) -> Figure:
    """A waterfall of the premium build-up, from the expected loss to the total payable.

    Rises: expected loss, loss adjustment expense (where the tables load it), risk load, fixed
    expense, variable expenses, commission and profit, up to the technical premium; then the
    minimum-premium and rounding adjustment to the premium; then the tax, to the total payable.
    Subtotals are grey bars from zero.

    Parameters
    ----------
    quote
        A quote.
    path
        Where to save the PNG; not saved when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    premium = quote.premium
    steps: list[tuple[str, float, bool]] = [
        ("expected loss", premium.expected_loss, False),
        *((("LAE", premium.lae, False),) if premium.lae else ()),
        ("risk load", premium.risk_load, False),
        ("fixed expense", premium.fixed_expense, False),
        ("variable expenses", premium.variable_expenses, False),
        ("commission", premium.commission, False),
        ("profit", premium.profit, False),
        ("technical premium", premium.technical, True),
        (
            "minimum premium" if premium.minimum_applied else "rounding",
            premium.total - premium.technical,
            False,
        ),
        ("premium", premium.total, True),
        ("tax", premium.tax, False),
        ("total payable", premium.total_with_tax, True),
    ]
    figure = _new_figure(width=10.0, height=5.5)
    axes = figure.add_subplot()
    running = 0.0
    top = max(value for _, value, _ in steps if math.isfinite(value)) or 1.0
    for index, (_name, value, subtotal) in enumerate(steps):
        if subtotal:
            bottom, height, colour = 0.0, value, _TOTAL
            running = value
        else:
            bottom, height = (running, value) if value >= 0 else (running + value, -value)
            colour = _RISE if value >= 0 else _FALL
            running += value
        axes.bar(index, height, bottom=bottom, color=colour, edgecolor="black", linewidth=0.5)
        text = _money(value) if subtotal or value < 0 else f"+{_money(value)}"
        axes.text(index, bottom + height + top * 0.01, text, ha="center", va="bottom", fontsize=8)
        if index + 1 < len(steps):
            axes.plot([index + 0.4, index + 0.6], [running, running], color="black", lw=0.5)
    axes.set_xticks(range(len(steps)), [name for name, _, _ in steps], rotation=30, ha="right")
    axes.set_ylabel(_label("amount", _currency_of(quote)))
    _money_axis(axes)
    axes.set_ylim(0, top * 1.1)
    axes.grid(True, axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    sub = quote.submission
    axes.set_title(
        f"Premium build-up, {sub.lab_name} ({sub.lab_id})\npremium {_money(premium.total)} + tax "
        f"{_money(premium.tax)} (relative s.e. {premium.relative_error:.2%})"
    )
    return _finish(figure, path)


_MOST_BARS = 15
"""Bars drawn by name in a contributions chart; the rest are added up in one bar."""

_LONGEST_NAME = 28
"""Characters of a name shown on the axis (longer ones end in an ellipsis)."""


def _short(name: str) -> str:
    return name if len(name) <= _LONGEST_NAME else name[: _LONGEST_NAME - 1] + "…"


def plot_contributions(
    names: Sequence[str],
    values: Sequence[float],
    path: str | os.PathLike[str] | None = None,
    *,
    title: str = "Contributions to TVaR 99%",
    currency: str | None = None,
    most: int = _MOST_BARS,
) -> Figure:
    """Horizontal bars of contributions (for example each lab's Euler share of a portfolio's TVaR).

    The largest ``most`` parts are drawn by name, largest first, each labelled with its amount
    and share of the total; the others, if any, are added up in one last bar ("N others"), so a
    book of hundreds of labs stays one readable page. Names longer than 28 characters are cut.
    The total is in the title.

    Parameters
    ----------
    names, values
        The parts and their contributions (currency), the same length.
    path
        Where to save the PNG; not saved when ``None``.
    title
        The figure's title.
    currency
        Shown on the amount axis; ``None``: plain amounts.
    most
        The most parts drawn by name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if len(names) != len(values):
        raise ValueError(f"{len(names)} names but {len(values)} values")
    if most < 1:
        raise ValueError(f"most must be at least 1, got {most}")
    amounts = [float(v) for v in values]
    total = sum(amounts)
    order = sorted(range(len(amounts)), key=lambda i: amounts[i], reverse=True)
    shown = [(_short(names[i]), amounts[i]) for i in order[:most]]
    rest = [amounts[i] for i in order[most:]]
    if rest:
        shown.append((f"{len(rest)} others", sum(rest)))
    figure = _new_figure(width=9.0, height=max(2.5, 1.4 + 0.38 * len(shown)))
    axes = figure.add_subplot()
    positions = list(range(len(shown)))
    bars = [amount for _, amount in shown]
    colours = [_RISE if v >= 0 else _FALL for v in bars]
    if rest:
        colours[-1] = _TOTAL
    axes.barh(positions, bars, color=colours, edgecolor="black", linewidth=0.5)
    axes.set_yticks(positions, [name for name, _ in shown])
    axes.invert_yaxis()
    axes.axvline(0, color="black", linewidth=0.8)
    for position, amount in zip(positions, bars, strict=True):
        part = f" ({amount / total:.0%})" if total > 0 else ""
        axes.annotate(
            f"{_money(amount)}{part}",
            xy=(amount, position),
            xytext=(4 if amount >= 0 else -4, 0),
            textcoords="offset points",
            ha="left" if amount >= 0 else "right",
            va="center",
            fontsize=8,
        )
    # Room for the labels beside the longest bars, on whichever side they point.
    largest, smallest = max([*bars, 0.0]), min([*bars, 0.0])
    span = (largest - smallest) or 1.0
    axes.set_xlim(smallest - (0.35 * span if smallest < 0 else 0.0), largest + 0.35 * span)
    axes.set_xlabel(_label("contribution", currency))
    _money_axis(axes, "x")
    axes.grid(True, axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    axes.set_title(f"{title} (total {_money(total)})")
    return _finish(figure, path)


def plot_rate_monitoring(
    monitoring: RateMonitoring, path: str | os.PathLike[str] | None = None
) -> Figure:
    """The book by month: adequacy (offered over technical) of renewals and new business, and
    the renewals' risk-adjusted rate change, in percent.

    A month without renewals has no rate change and draws no point for it.

    Parameters
    ----------
    monitoring
        :func:`underwriting.workflow.monitor_rates` of the book.
    path
        Where to save the PNG; not saved when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import PercentFormatter

    figure = _new_figure(width=8.0, height=4.5)
    axes = figure.add_subplot()
    months = [group.key for group in monitoring.by_month]
    positions = np.arange(len(months))
    adequacy = [(group.adequacy - 1.0) * 100 for group in monitoring.by_month]
    axes.bar(positions, adequacy, width=0.6, color=_AEP, label="adequacy - 1 (offered / technical)")
    changed = [
        (position, group.rate_change * 100)
        for position, group in zip(positions, monitoring.by_month, strict=True)
        if group.rate_change is not None
    ]
    if changed:
        axes.plot(
            [p for p, _ in changed],
            [v for _, v in changed],
            marker="o",
            color=_OEP,
            label="risk-adjusted rate change (renewals)",
        )
    axes.axhline(0, color="black", linewidth=0.8)
    # A month is a bar of its own width whatever the number of months (one is not the axis).
    axes.set_xlim(-1.0, max(len(months), 3))
    axes.set_xticks(positions, months)
    axes.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    axes.set_xlabel("month written")
    axes.set_ylabel("percent")
    axes.grid(True, axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(loc="upper right")
    count = monitoring.book.count
    axes.set_title(f"Rate monitoring: {count} {'policy' if count == 1 else 'policies'} written")
    return _finish(figure, path)


def plot_renewal(
    expiring_premium: float,
    steps: Sequence[tuple[str, float, float]],
    renewal_premium: float,
    path: str | os.PathLike[str] | None = None,
    *,
    currency: str | None = None,
    title: str = "Renewal: the price from expiring to renewal",
) -> Figure:
    """A waterfall of a renewal's price change: the expiring premium, each step's change with a
    ±1 standard error bar at its end, and the renewal premium.

    The steps are those of :func:`underwriting.workflow.renew` (exposure, terms, claims
    experience, tables version at the expiring adequacy, then the change of adequacy); their
    changes add up to ``renewal_premium - expiring_premium``.

    Parameters
    ----------
    expiring_premium, renewal_premium
        The premium bound and the renewal's premium (currency), drawn as grey bars from zero.
    steps
        ``(label, change, standard error)`` of each step, in order (currency).
    path
        Where to save the PNG; not saved when ``None``.
    currency
        Shown on the amount axis; ``None``: plain amounts.
    title
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the steps do not add up to the change of premium (naming both).

    Example
    -------
    >>> from underwriting import report
    >>> figure = report.plot_renewal(100.0, [("exposure", 12.0, 1.5), ("adequacy", -2.0, 0.4)],
    ...                              110.0, currency="EUR")
    >>> [tick.get_text() for tick in figure.axes[0].get_xticklabels()]
    ['expiring', 'exposure', 'adequacy', 'renewal']
    """
    changes = [float(change) for _, change, _ in steps]
    expected = renewal_premium - expiring_premium
    if not math.isclose(sum(changes), expected, rel_tol=1e-9, abs_tol=1e-6 * abs(expiring_premium)):
        raise ValueError(
            f"the steps add up to {sum(changes):,.2f}, but the premium changes by {expected:,.2f} "
            f"(from {expiring_premium:,.2f} to {renewal_premium:,.2f})"
        )
    labels = ["expiring", *(label for label, _, _ in steps), "renewal"]
    figure = _new_figure(width=9.0, height=5.0)
    axes = figure.add_subplot()
    running = expiring_premium
    axes.bar(0, expiring_premium, color=_TOTAL, edgecolor="black", linewidth=0.5)
    top = max(expiring_premium, renewal_premium)
    low = min(expiring_premium, renewal_premium)
    marks: list[tuple[int, float, str]] = [(0, expiring_premium, _money(expiring_premium))]
    for index, (_, change, error) in enumerate(steps, start=1):
        bottom, height = (running, change) if change >= 0 else (running + change, -change)
        axes.bar(
            index,
            height,
            bottom=bottom,
            color=_RISE if change >= 0 else _FALL,
            edgecolor="black",
            linewidth=0.5,
        )
        axes.plot([index - 1.4, index - 0.6], [running, running], color="black", lw=0.5)
        running += change
        axes.errorbar(index, running, yerr=error, color="black", capsize=4, linewidth=1)
        top, low = max(top, running + error), min(low, running - error)
        marks.append(
            (index, max(bottom + height, running + error), f"{change:+,.0f} ± {error:,.0f}")
        )
    last = len(steps) + 1
    axes.plot([last - 1.4, last - 0.6], [running, running], color="black", lw=0.5)
    axes.bar(last, renewal_premium, color=_TOTAL, edgecolor="black", linewidth=0.5)
    marks.append((last, renewal_premium, _money(renewal_premium)))
    for index, height, text in marks:
        axes.text(index, height + top * 0.01, text, ha="center", va="bottom", fontsize=8)
    axes.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
    # The steps are small beside the premiums: the axis starts near the lowest level reached,
    # not at zero, so that each step can be read; the label says where the premiums' bars are cut.
    span = max(top - low, 0.05 * top, 1.0)
    unit = 10.0 ** math.floor(math.log10(span))
    floor = max(0.0, math.floor((low - 1.5 * span) / unit) * unit)
    axes.set_ylim(floor, top + 0.15 * (top - floor))
    axes.set_ylabel(_label("premium", currency, f"axis from {floor:,.0f}" if floor else None))
    _money_axis(axes)
    axes.grid(True, axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    change = renewal_premium / expiring_premium - 1 if expiring_premium else math.nan
    axes.set_title(f"{title} ({change:+.1%}; bars: ±1 s.e.)")
    return _finish(figure, path)
