"""Plots: each renders to a non-empty PNG and returns its figure; matplotlib stays optional."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import reference_profile, reference_terms
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import underwriting as uw
from underwriting import report

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result() -> uw.SimulationResult:
    return uw.simulate(reference_profile(), reference_terms(), n_years=5_000, seed=7)


@pytest.fixture(scope="module")
def quote() -> uw.Quote:
    request = uw.QuoteRequest.model_validate_json(
        (ROOT / "examples" / "physics_low_hazard.json").read_text(encoding="utf-8")
    )
    return uw.quote(request.submission, request.terms, n_years=20_000)


def _labelled_lines(figure: Figure) -> list[str]:
    return [
        str(line.get_label())
        for line in figure.axes[0].get_lines()
        if not str(line.get_label()).startswith("_")
    ]


def _overlaps(figure: Figure) -> list[tuple[str, str]]:
    """Pairs of visible texts (titles, labels, tick labels, annotations, legend) that overlap,
    or a text that leaves the figure."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    undrawn = set()  # tick labels outside the axis' view are kept but not drawn
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in (*axis.get_major_ticks(), *axis.get_minor_ticks()):
                if (
                    not low - 1e-9 * abs(high - low)
                    <= tick.get_loc()
                    <= high + 1e-9 * abs(high - low)
                ):
                    undrawn |= {id(tick.label1), id(tick.label2)}
    texts = [
        text
        for text in figure.findobj(lambda artist: isinstance(artist, Text))
        if isinstance(text, Text)
        and text.get_visible()
        and text.get_text().strip()
        and id(text) not in undrawn
    ]
    boxes = [
        (text.get_text(), text.get_window_extent(renderer), text.get_rotation()) for text in texts
    ]
    found = []
    whole = figure.bbox
    for index, (name, box, angle) in enumerate(boxes):
        if box.x0 < whole.x0 - 1 or box.x1 > whole.x1 + 1 or box.y0 < whole.y0 - 1:
            found.append((name, "outside the figure"))
        for other, other_box, other_angle in boxes[index + 1 :]:
            # Parallel slanted labels (the waterfall's steps) have upright boxes that overlap
            # although the words do not: those pairs are left to the eye.
            if angle % 360 and angle == other_angle:
                continue
            if box.overlaps(other_box) and box.width and other_box.width:
                found.append((name, other))
    return found


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return len(data) > 1_000 and data.startswith(PNG_MAGIC)


def _check(figure: Figure, path: Path) -> None:
    try:
        assert isinstance(figure, Figure)
        assert _is_png(path), path
        assert figure.axes, "the figure has no axes"
    finally:
        figure.clear()  # no pyplot involved: clearing releases the artists, nothing to close


Draw = Callable[[uw.SimulationResult, uw.Quote, Path], Figure]

DRAWINGS: dict[str, Draw] = {
    "ep_curve": lambda r, q, p: report.plot_ep_curve(r, p),
    "histogram": lambda r, q, p: report.plot_histogram(r, p, bins=30),
    "worksheet": lambda r, q, p: report.plot_worksheet(q, p),
    "contributions": lambda r, q, p: report.plot_contributions(
        list(q.premium.by_scenario), list(q.premium.by_scenario.values()), p, title="By scenario"
    ),
    "result.plot_ep_curve": lambda r, q, p: r.plot_ep_curve(p),
    "result.plot_histogram": lambda r, q, p: r.plot_histogram(p),
    "quote.plot_worksheet": lambda r, q, p: q.plot_worksheet(p),
}


@pytest.mark.parametrize("name", list(DRAWINGS))
def test_each_plot_saves_a_png_and_returns_its_figure(
    name: str, result: uw.SimulationResult, quote: uw.Quote, tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.png"
    _check(DRAWINGS[name](result, quote, path), path)


def test_without_a_path_nothing_is_written(
    result: uw.SimulationResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    figure = report.plot_ep_curve(result)
    assert isinstance(figure, Figure)
    assert list(tmp_path.iterdir()) == []


def test_the_ep_curve_has_both_curves_with_bands_on_a_log_axis(
    result: uw.SimulationResult,
) -> None:
    figure = report.plot_ep_curve(result)
    (axes,) = figure.axes
    assert axes.get_xscale() == "log"
    assert _labelled_lines(figure) == ["AEP (annual aggregate)", "OEP (largest occurrence)"]
    assert len(axes.collections) == 2  # the ±1 standard error bands
    assert axes.get_ylabel() == "insured loss"  # an own profile states no currency
    aep = axes.get_lines()[0].get_ydata()
    assert np.allclose(aep, [p.aep for p in result.ep_curve()])


def test_a_distribution_without_occurrences_draws_the_aep_alone(tmp_path: Path) -> None:
    losses = np.random.default_rng(1).lognormal(10, 1.5, size=2_000)
    portfolio_like = uw.LossDistribution(
        n_years=2_000, seed=1, annual_loss=losses, annual_max_occurrence=None
    )
    path = tmp_path / "aep.png"
    figure = report.plot_ep_curve(portfolio_like, path)
    assert _labelled_lines(figure) == ["AEP (annual aggregate)"]
    _check(figure, path)


def test_the_histogram_reports_the_years_without_loss(result: uw.SimulationResult) -> None:
    zero_years = int(np.count_nonzero(result.annual_loss == 0))
    share = zero_years / result.n_years
    figure = report.plot_histogram(result)
    (axes,) = figure.axes
    assert f"P(no insured loss) = {share:.1%} ± " in axes.get_title()
    assert f"({zero_years:,} years, not drawn)" in axes.get_title()
    assert axes.get_yscale() == "linear"
    assert axes.get_ylabel() == "share of simulated years (%)"
    heights = [patch.get_height() for patch in axes.patches if isinstance(patch, Rectangle)]
    assert sum(heights) == pytest.approx(100 * (1 - share))  # every year with a loss, once
    positive = result.annual_loss[result.annual_loss > 0]
    assert axes.get_xlim()[0] >= 0.5 * np.quantile(positive, 0.01)  # not from a few cents
    with pytest.raises(ValueError, match="bins"):
        report.plot_histogram(result, bins=0)


def test_a_histogram_of_no_loss_at_all_still_renders(tmp_path: Path) -> None:
    nothing = uw.LossDistribution(
        n_years=100, seed=0, annual_loss=np.zeros(100), annual_max_occurrence=None
    )
    path = tmp_path / "empty.png"
    figure = report.plot_histogram(nothing, path)
    assert "P(no insured loss) = 100.0% ± 0.0% (100 years, not drawn)" in figure.axes[0].get_title()
    _check(figure, path)


def test_the_waterfall_climbs_to_the_technical_premium_and_the_total(quote: uw.Quote) -> None:
    figure = report.plot_worksheet(quote)
    (axes,) = figure.axes
    labels = [tick.get_text() for tick in axes.get_xticklabels()]
    assert labels[0] == "expected loss"
    assert labels[-1] == "total payable"
    assert {"technical premium", "premium", "tax"} <= set(labels)
    bars = [patch for patch in axes.patches if isinstance(patch, Rectangle)]
    assert len(bars) == len(labels)
    tops = [bar.get_y() + bar.get_height() for bar in bars]
    premium = quote.premium
    assert tops[labels.index("technical premium")] == pytest.approx(premium.technical)
    assert tops[labels.index("profit")] == pytest.approx(premium.technical)
    assert tops[labels.index("total payable")] == pytest.approx(premium.total_with_tax)
    # every rise is drawn: the loss adjustment expense too, where the tables load it
    assert ("LAE" in labels) == (premium.lae > 0)


def test_amount_axes_name_the_tables_currency_and_no_currency_when_none_is_stated(
    result: uw.SimulationResult, quote: uw.Quote
) -> None:
    currency = uw.load_rating_tables().currency
    assert result.currency is None
    label = report.plot_histogram(result).axes[0].get_xlabel()
    assert label.startswith("annual insured loss (log scale, the grey bar also holds the ")
    assert quote.result is not None
    lab = quote.result
    assert lab.currency == currency
    assert report.plot_ep_curve(lab).axes[0].get_ylabel() == f"insured loss ({currency})"
    assert report.plot_worksheet(quote).axes[0].get_ylabel() == f"amount ({currency})"
    assert report.plot_contributions(["a"], [1.0]).axes[0].get_xlabel() == "contribution"


def test_contributions_need_a_value_per_name() -> None:
    figure = report.plot_contributions(["a", "b", "c"], [3.0, -1.0, 0.0], currency="EUR")
    assert figure.axes[0].get_xlabel() == "contribution (EUR)"
    assert "total 2.00" in figure.axes[0].get_title()
    with pytest.raises(ValueError, match="2 names but 1 values"):
        report.plot_contributions(["a", "b"], [1.0])


def test_without_matplotlib_the_error_names_the_extra(
    result: uw.SimulationResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"\[plots\]"):
        report.plot_ep_curve(result)


def test_plotting_neither_loads_matplotlib_early_nor_touches_pyplot(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import underwriting as uw
        from underwriting import report
        assert "matplotlib" not in sys.modules, "imported at import time"
        profile = uw.RiskProfile(scenarios=[uw.Scenario(id="ref", frequency=uw.Poisson(rate=2.0),
                                 severity=uw.LogNormal(mu=10.0, sigma=1.5), section="property")])
        terms = uw.PolicyTerms(sections={{"property": uw.SectionTerms()}})
        result = uw.simulate(profile, terms, n_years=1_000, seed=1)
        import matplotlib
        backend = matplotlib.rcParams._get_backend_or_none()
        report.plot_histogram(result, {str(tmp_path / "h.png")!r})
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
        assert matplotlib.rcParams._get_backend_or_none() == backend, "backend changed"
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _is_png(tmp_path / "h.png")


def test_the_rate_monitoring_plot_draws_adequacy_by_month_and_rate_change_of_renewals() -> None:
    from underwriting import workflow as wf

    written = [
        wf.RateRecord(
            month="2027-01",
            lab_category="teaching",
            underwriter="wang",
            premium=90.0,
            technical=100.0,
        ),
        wf.RateRecord(
            month="2027-02",
            lab_category="teaching",
            underwriter="wang",
            premium=110.0,
            technical=100.0,
            expiring_premium=100.0,
            expiring_technical=100.0,
            like_for_like_technical=100.0,
        ),
    ]
    figure = report.plot_rate_monitoring(wf.monitor_rates(written))
    axes = figure.axes[0]
    heights = [round(bar.get_height(), 6) for bar in axes.patches if isinstance(bar, Rectangle)]
    assert heights == [-10.0, 10.0]  # adequacy - 1, in percent, one bar a month
    line = axes.get_lines()[0]  # the renewals' rate change (then the zero line)
    assert np.asarray(line.get_xdata()).tolist() == [1]
    assert np.asarray(line.get_ydata()).tolist() == pytest.approx([10.0])
    assert axes.get_title() == "Rate monitoring: 2 policies written"


def test_titles_name_the_lab_or_the_portfolio(quote: uw.Quote) -> None:
    name = quote.submission.lab_name
    assert name in quote.plot_ep_curve().axes[0].get_title()
    assert name in quote.plot_histogram().axes[0].get_title()
    assert name in quote.plot_worksheet().axes[0].get_title()
    assert quote.result is not None
    assert f"lab {quote.submission.lab_id}" in quote.result.plot_ep_curve().axes[0].get_title()
    requests = [
        uw.QuoteRequest.model_validate_json((ROOT / "examples" / f"{n}.json").read_text())
        for n in ("physics_low_hazard", "bsl3_biobank")
    ]
    portfolio = uw.simulate_portfolio(uw.Portfolio(requests), n_years=2_000, seed=1)
    title = portfolio.plot_contributions().axes[0].get_title()
    assert "portfolio of 2 labs on 2 sites" in title
    assert "portfolio of 2 labs" in portfolio.plot_ep_curve().axes[0].get_title()


def test_the_ep_curve_marks_the_1_in_100_200_and_250_years(result: uw.SimulationResult) -> None:
    figure = report.plot_ep_curve(result)
    (axes,) = figure.axes
    xs = [np.asarray(line.get_xdata(), dtype=float) for line in axes.get_lines()]
    verticals = sorted(float(x[0]) for x in xs if x.size == 2 and x[0] == x[1])
    assert verticals == [100.0, 200.0, 250.0]
    box = "\n".join(text.get_text() for text in axes.texts)
    for point in result.ep_curve([100, 200, 250]):
        period = f"{point.return_period:,.0f}"
        assert f"1 in {period}: AEP {point.aep:,.0f} ± {point.aep_standard_error:,.0f}" in box


def test_no_label_overlaps_another_or_leaves_the_figure(
    result: uw.SimulationResult, quote: uw.Quote
) -> None:
    names = [f"laboratory-with-a-long-name-{i:03d}" for i in range(40)]
    values = [float(10_000 * (i % 7) - 5_000) for i in range(40)]
    figures = {
        "contributions": report.plot_contributions(names, values, currency="CNY"),
        "few contributions": report.plot_contributions(["a", "b"], [3e6, -1e6]),
        # A 60-character name once squeezed the amount axis until its tick labels overlapped.
        "a long name": report.plot_contributions(["x" * 60, "y"], [1e6, 2e6], currency="CNY"),
        "ep_curve": quote.plot_ep_curve(),
        "histogram": quote.plot_histogram(),
        "own histogram": report.plot_histogram(result),
        "worksheet": quote.plot_worksheet(),
    }
    for name, figure in figures.items():
        assert _overlaps(figure) == [], name
    (axes,) = figures["contributions"].axes
    labels = [tick.get_text() for tick in axes.get_yticklabels()]
    assert len(labels) == 16  # the 15 largest by name, then the others added up
    assert labels[-1] == "25 others"
    assert all(len(label) <= 28 for label in labels)


def test_the_renewal_waterfall_walks_from_the_expiring_to_the_renewal_premium() -> None:
    steps = [("exposure", 12_000.0, 800.0), ("terms", -3_000.0, 300.0), ("adequacy", 1_000.0, 0.0)]
    figure = report.plot_renewal(100_000.0, steps, 110_000.0, currency="EUR")
    axes = figure.axes[0]
    labels = [tick.get_text() for tick in axes.get_xticklabels()]
    assert labels == ["expiring", "exposure", "terms", "adequacy", "renewal"]
    bars = [patch for patch in axes.patches if isinstance(patch, Rectangle)]
    tops = [bar.get_y() + bar.get_height() for bar in bars]
    assert tops == pytest.approx([100_000.0, 112_000.0, 112_000.0, 110_000.0, 110_000.0])
    assert bars[2].get_y() == pytest.approx(109_000.0)  # a fall is drawn down from the level
    texts = {text.get_text() for text in axes.texts}
    assert {"+12,000 ± 800", "-3,000 ± 300", "110,000"} <= texts
    assert axes.get_ylabel().startswith("premium (EUR, axis from ")
    assert "+10.0%" in axes.get_title()
    with pytest.raises(ValueError, match=r"add up to 9,000\.00, but the premium changes by 10,000"):
        report.plot_renewal(100_000.0, steps[:2], 110_000.0)
    unchanged = report.plot_renewal(100_000.0, [("exposure", 0.0, 0.0)], 100_000.0)
    low, high = unchanged.axes[0].get_ylim()
    assert low < 100_000.0 < high
