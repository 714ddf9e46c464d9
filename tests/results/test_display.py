"""What a notebook shows of a result, a quote and a portfolio: short, escaped, with errors."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

import underwriting as uw

ROOT = Path(__file__).resolve().parents[2]
YEARS = 10_000
VOID = {"br", "hr", "img", "meta", "link", "input"}


def _request(name: str) -> uw.QuoteRequest:
    return uw.QuoteRequest.model_validate_json((ROOT / "examples" / f"{name}.json").read_text())


class _Checker(HTMLParser):
    """Checks that every element opened is closed in order, and collects the text."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open, f"</{tag}> closes nothing"
        assert self.open[-1] == tag, f"</{tag}> closes <{self.open[-1]}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parsed(markup: str) -> _Checker:
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert checker.open == [], f"unclosed: {checker.open}"
    return checker


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.2")


@pytest.fixture(scope="module")
def quote(tables: uw.RatingTables) -> uw.Quote:
    request = _request("chemistry_high_hazard")
    submission = request.submission.model_copy(
        update={"lab_name": "Lab <script>alert(1)</script> & sons"}
    )
    return uw.quote(submission, request.terms, tables=tables, n_years=YEARS)


def test_a_results_repr_is_a_few_lines_with_the_headline_and_its_errors(
    quote: uw.Quote,
) -> None:
    assert quote.result is not None
    text = repr(quote.result)
    assert len(text) < 800
    assert text.count("\n") < 6
    mean = quote.result.mean
    for expected in (
        "SimulationResult CHEM-SYN-305, tables 2026.2",
        f"{YEARS:,} years",
        f"mean {mean:,.0f} ± {quote.result.standard_error():,.0f}",
        "VaR 99.5%",
        "TVaR 99.0%",
        "P(any claim)",
        "1-in-200",
        "amounts in CNY",
    ):
        assert expected in text, expected


def test_a_quotes_repr_states_the_decision_the_premium_and_its_error(quote: uw.Quote) -> None:
    text = repr(quote)
    assert len(text) < 1_000
    assert text.startswith("<Quote CHEM-SYN-305 (Lab <script>alert(1)</script> & sons), tables")
    assert f": {quote.decision.outcome}" in text
    assert f"premium {quote.premium.total:,.0f} CNY" in text
    assert f"± {quote.premium.standard_error:,.0f}" in text
    for reason in quote.decision.reasons[:3]:
        assert reason.message in text


def test_html_displays_are_small_valid_and_escaped(quote: uw.Quote) -> None:
    assert quote.result is not None
    for shown in (quote, quote.result):
        markup = shown._repr_html_()
        assert len(markup) < 4_000
        checker = _parsed(markup)
        assert checker.tags <= {"div", "strong", "table", "thead", "tbody", "tr", "th", "td"}
        text = "".join(checker.text)
        assert "VaR 99.5%" in text
        assert "1 in 250" in text
    markup = quote._repr_html_()
    assert "<script>" not in markup
    assert "Lab &lt;script&gt;alert(1)&lt;/script&gt; &amp; sons" in markup
    assert quote.decision.outcome in "".join(_parsed(markup).text)


def test_a_portfolios_display_names_its_largest_parts(tables: uw.RatingTables) -> None:
    requests = [_request(n) for n in ("physics_low_hazard", "chemistry_high_hazard")]
    result = uw.simulate_portfolio(uw.Portfolio(requests, tables=tables), n_years=YEARS, seed=3)
    text = repr(result)
    assert len(text) < 800
    assert "PortfolioResult: 2 labs on 2 site(s)" in text
    assert "largest parts of TVaR 99%: CHEM-SYN-305" in text
    markup = result._repr_html_()
    assert len(markup) < 4_000
    assert "OEP" not in markup  # a portfolio has no occurrences
    assert "largest parts of TVaR 99%" in "".join(_parsed(markup).text)


def test_a_result_of_few_years_shows_no_return_period_it_cannot_reach() -> None:
    profile = uw.RiskProfile(
        scenarios=[
            uw.Scenario(
                id="ref",
                frequency=uw.Poisson(rate=2.0),
                severity=uw.LogNormal(mu=10.0, sigma=1.5),
                section="property",
            )
        ]
    )
    terms = uw.PolicyTerms(sections={"property": uw.SectionTerms(deductible=1_000)})
    result = uw.simulate(profile, terms, n_years=150, seed=1)
    assert "1-in-10 " in repr(result)
    assert "1-in-200" not in repr(result)
    _parsed(result._repr_html_())
