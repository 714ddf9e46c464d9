"""The client's quotation document: what it tells the client, in the HTML and in the PDF's text.

The example labs are quoted on tables 2026.3 (which define subjectivities and
conditions) with 20,000 simulated years; the PDF's text is read back with pypdf.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import underwriting as uw
from underwriting.model import SECTIONS
from underwriting.rating import RatingTables, load_rating_tables
from underwriting.report import (
    SECTION_LABELS,
    STATUSES,
    QuoteStatus,
    quote_document_pdf,
    render_quote_document,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("physics_low_hazard", "chemistry_high_hazard", "bsl3_biobank")
YEARS = 20_000
CHINESE_INSTITUTION = "清华大学化学系"
CHINESE_LAB = "有机金属合成与催化实验室"

# The subjectivities and conditions of tables 2026.3 that apply to each example quoted on its
# own terms (tables README, "Subjectivities and conditions"): physics holds inert cylinders
# only; chemistry is referred by R05, holds a freezer, cylinders and a magnet; the biobank is
# referred by R01 and R05, holds freezers, dewars and cylinders and works at BSL-3.
APPLYING = {
    "physics_low_hazard": {"S01_SIGNED_SUBMISSION", "C02_GAS_CYLINDERS_SECURED"},
    "chemistry_high_hazard": {
        "S01_SIGNED_SUBMISSION",
        "S02_RISK_SURVEY",
        "C01_SPOILAGE_REMOTE_ALARM",
        "C02_GAS_CYLINDERS_SECURED",
        "C03_MAGNET_QUENCH_RECORDS",
    },
    "bsl3_biobank": {
        "S01_SIGNED_SUBMISSION",
        "S02_RISK_SURVEY",
        "C01_SPOILAGE_REMOTE_ALARM",
        "C02_GAS_CYLINDERS_SECURED",
        "C04_BSL3_ACCREDITATION",
    },
}


def _request(name: str) -> uw.QuoteRequest:
    path = ROOT / "examples" / f"{name}.json"
    return uw.QuoteRequest.model_validate_json(path.read_text(encoding="utf-8"))


def _quote(name: str, tables: RatingTables) -> uw.Quote:
    request = _request(name)
    return uw.quote(request.submission, request.terms, tables=tables, n_years=YEARS)


def _renamed(quote: uw.Quote, **names: str) -> uw.Quote:
    """The same quote for a lab of other names (the document only shows them)."""
    return dataclasses.replace(quote, submission=quote.submission.model_copy(update=names))


def _text(page: str) -> str:
    """What a reader sees of an HTML page: tags dropped, entities read, spaces collapsed."""
    body = page.split("<body>", 1)[1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _money(amount: float) -> str:
    return f"CNY {amount:,.0f}"


@pytest.fixture(scope="module")
def draft() -> RatingTables:
    return load_rating_tables("2026.3")


@pytest.fixture(scope="module")
def quotes(draft: RatingTables) -> dict[str, uw.Quote]:
    return {name: _quote(name, draft) for name in EXAMPLES}


@pytest.fixture(scope="module")
def chinese(quotes: dict[str, uw.Quote]) -> uw.Quote:
    return _renamed(
        quotes["chemistry_high_hazard"], institution=CHINESE_INSTITUTION, lab_name=CHINESE_LAB
    )


# ----------------------------------------------------------------------------- the HTML


def test_every_section_has_a_label() -> None:
    assert set(SECTION_LABELS) == {section.value for section in SECTIONS}


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_document_names_the_insured_and_prices_each_covered_section(
    quotes: dict[str, uw.Quote], draft: RatingTables, name: str
) -> None:
    quote = quotes[name]
    text = _text(render_quote_document(quote, tables=draft))
    assert quote.submission.institution in text
    assert quote.submission.lab_name in text
    premium = quote.premium
    for section in quote.terms.sections:
        row = f"{SECTION_LABELS[section.value]} "
        assert row in text, section
        assert _money(premium.by_section[section.value]) in text.split(row, 1)[1], section
    covered = [section.value for section in quote.terms.sections]
    assert sum(premium.by_section[section] for section in covered) == premium.total
    assert f"Premium before tax {_money(premium.total)}" in text
    assert f"Premium tax (VAT) at 6% {_money(premium.tax)}" in text
    assert f"Total payable {_money(premium.total_with_tax)}" in text
    assert premium.total_with_tax == premium.total + premium.tax


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_conditions_that_apply_and_no_others(
    quotes: dict[str, uw.Quote], draft: RatingTables, name: str
) -> None:
    text = _text(render_quote_document(quotes[name], tables=draft))
    for condition in draft.rules.conditions:
        shown = condition.text in text
        assert shown == (condition.id in APPLYING[name]), condition.id
    assert "Subjectivities: to be met before cover starts." in text
    assert "Conditions of cover: they apply while the policy runs." in text


def test_the_terms_read_as_a_person_writes_them(
    quotes: dict[str, uw.Quote], draft: RatingTables
) -> None:
    # The biobank's terms (examples/bsl3_biobank.json): a percentage deductible with a minimum
    # and a maximum, a franchise, a time-limited research interruption, a policy aggregate.
    text = _text(render_quote_document(quotes["bsl3_biobank"], tables=draft))
    assert "10% of each loss, at least CNY 50,000 and at most CNY 500,000" in text
    assert "CNY 5,000,000 each occurrence; CNY 8,000,000 in the annual aggregate" in text
    assert "CNY 20,000 each loss (franchise: a loss above it is paid in full)" in text
    assert "Waiting period 1 day; indemnity period 12 months" in text
    assert "Annual aggregate limit, all sections CNY 50,000,000" in text
    assert "Annual aggregate deductible CNY 50,000" in text
    assert "Total insured value CNY 40,000,000" in text


def test_validity_status_and_the_premiums_standard_error_are_stated(
    quotes: dict[str, uw.Quote], draft: RatingTables
) -> None:
    quote = quotes["chemistry_high_hazard"]
    text = _text(render_quote_document(quote, tables=draft, quote_id="Q-42"))
    assert f"Open until {quote.valid_until:%Y-%m-%d %H:%M} UTC" in text
    assert "Quotation Q-42" in text
    assert "Status: referred. Awaiting approval by a senior underwriter" in text
    assert f"simulating {YEARS:,} years" in text
    assert f"its standard error is {_money(quote.premium.standard_error)}" in text
    assert "Draft rating tables" not in text  # 2026.3 is released


def test_a_quotation_on_draft_tables_says_it_is_not_for_a_client(draft_root: Path) -> None:
    tables = load_rating_tables("2099.1", root=draft_root)
    quote = _quote("physics_low_hazard", tables)
    text = _text(render_quote_document(quote, tables=tables))
    assert "Draft rating tables 2099.1" in text
    assert "not for a client" in text


@pytest.mark.parametrize("version", ["2026.1", "2026.2"])
def test_released_tables_say_plainly_that_they_have_no_conditions(version: str) -> None:
    tables = load_rating_tables(version)
    quote = _quote("physics_low_hazard", tables)
    text = _text(render_quote_document(quote, tables=tables))
    assert f"There are no conditions in tables {version}" in text
    assert "Draft rating tables" not in text


def test_chinese_and_latin_names_are_shown_as_given(chinese: uw.Quote, draft: RatingTables) -> None:
    page = render_quote_document(chinese, tables=draft)
    assert '<meta charset="utf-8">' in page
    assert CHINESE_INSTITUTION in page
    assert CHINESE_LAB in page


def test_submission_text_is_escaped(quotes: dict[str, uw.Quote], draft: RatingTables) -> None:
    hostile = _renamed(
        quotes["physics_low_hazard"],
        lab_name="<script>alert('lab')</script>",
        institution='"><img src=x onerror=alert(1)>',
    )
    page = render_quote_document(hostile, tables=draft)
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#39;lab&#39;)&lt;/script&gt;" in page
    assert "<script>alert('lab')</script>" in _text(page)


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("quoted", "Status: quoted. An offer of insurance on the terms below, open until"),
        ("approved", "Status: approved. Approved by the insurer's underwriting authority"),
        ("expired", "Status: expired. This quotation expired at"),
        ("superseded", "Status: superseded. This quotation has been replaced by a revised one"),
    ],
)
def test_the_status_of_the_record_is_stated(
    quotes: dict[str, uw.Quote], draft: RatingTables, status: QuoteStatus, says: str
) -> None:
    text = _text(
        render_quote_document(quotes["chemistry_high_hazard"], tables=draft, status=status)
    )
    assert says in text


def test_a_bound_quote_names_its_policy(quotes: dict[str, uw.Quote], draft: RatingTables) -> None:
    text = _text(
        render_quote_document(
            quotes["physics_low_hazard"],
            tables=draft,
            status="bound",
            policy_number="LAB-2027-0001",
            period=(dt.date(2027, 1, 1), dt.date(2028, 1, 1)),
        )
    )
    assert text.startswith("Confirmation of cover")
    assert "Cover is bound under policy LAB-2027-0001, from 2027-01-01 to 2028-01-01." in text
    assert "Open until" not in text  # a policy, no longer a quotation


def test_a_declined_quote_gives_its_reasons_and_no_price(
    quotes: dict[str, uw.Quote], draft: RatingTables
) -> None:
    submission = quotes["bsl3_biobank"].submission.model_copy(update={"biosafety_level": 4})
    request = _request("bsl3_biobank")
    declined = uw.quote(submission, request.terms, tables=draft, n_years=YEARS)
    assert declined.decision.outcome == "declined"
    text = _text(render_quote_document(declined, tables=draft))
    assert text.startswith("Declined")
    assert "Biosafety level 4 laboratories are outside the appetite of this product." in text
    assert "Total payable" not in text
    assert "Premium before tax" not in text
    assert "C04_BSL3_ACCREDITATION" in text  # BSL-4 is at least 3: the condition still applies


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"status": "pending"}, "status 'pending' is not one of quoted, referred, approved"),
        ({"status": "bound"}, "status 'bound' needs the policy_number"),
        ({"policy_number": "P-1"}, "policy_number and period belong to a bound quote"),
    ],
)
def test_a_status_that_cannot_be_is_refused(
    quotes: dict[str, uw.Quote],
    draft: RatingTables,
    arguments: dict[str, str],
    message: str,
) -> None:
    quote = quotes["physics_low_hazard"]
    with pytest.raises(ValueError, match=re.escape(message)):
        render_quote_document(quote, tables=draft, **arguments)  # type: ignore[arg-type]


def test_the_statuses_are_the_workflows_states() -> None:
    assert set(STATUSES) == {
        "quoted", "referred", "approved", "declined", "bound", "expired", "superseded"
    }  # fmt: skip


def test_the_tables_must_be_the_quotes(quotes: dict[str, uw.Quote]) -> None:
    with pytest.raises(ValueError, match=r"tables 2026\.2 are not the quote's: .* 2026\.3"):
        render_quote_document(quotes["physics_low_hazard"], tables=load_rating_tables("2026.2"))


# ------------------------------------------------------------------------------ the PDF


def _why_no_pdf() -> str | None:
    """Why this machine cannot render the PDF with Chinese text; ``None`` when it can."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError, Warning) as error:
        # Warning: the tests turn warnings into errors, and WeasyPrint warns when it finds Pango
        # but not HarfBuzz's subsetter.
        return (
            "WeasyPrint cannot load Debian's Pango and HarfBuzz (apt-get install libpango-1.0-0 "
            f"libpangoft2-1.0-0 libharfbuzz-subset0): {error}"
        )
    fc_list = shutil.which("fc-list")
    fonts = (
        subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True).stdout
        if fc_list
        else ""
    )
    if not fonts.strip():
        return "no font covers Chinese (fc-list :lang=zh is empty): apt-get install fonts-noto-cjk"
    return None


@pytest.fixture(scope="module")
def pdf_machine() -> None:
    why = _why_no_pdf()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must render the PDF, and .ci/run installs what it needs: {why}")
    pytest.skip(f"the PDF cannot be rendered here: {why}")


def _pdf_text(pdf: bytes) -> tuple[str, set[str]]:
    """The PDF's text without any white space (lines break anywhere), and its fonts' names."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(page.extract_text() for page in reader.pages)
    fonts: set[str] = set()
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for font in resources.get_object()["/Font"].values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    return re.sub(r"\s+", "", text), fonts


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.usefixtures("pdf_machine")
@pytest.mark.parametrize("name", EXAMPLES)
def test_the_pdf_reads_as_the_document(
    quotes: dict[str, uw.Quote], draft: RatingTables, name: str
) -> None:
    quote = quotes[name]
    pdf = quote_document_pdf(quote, tables=draft)
    assert pdf.startswith(b"%PDF-")
    text, _fonts = _pdf_text(pdf)
    assert _squeezed(quote.submission.institution) in text
    assert _squeezed(quote.submission.lab_name) in text
    for section in quote.terms.sections:
        assert _squeezed(SECTION_LABELS[section.value]) in text, section
        assert _squeezed(_money(quote.premium.by_section[section.value])) in text, section
    assert _squeezed(f"Total payable {_money(quote.premium.total_with_tax)}") in text
    for condition in draft.rules.conditions:
        shown = _squeezed(condition.text) in text
        assert shown == (condition.id in APPLYING[name]), condition.id


@pytest.mark.usefixtures("pdf_machine")
def test_the_pdf_shows_chinese_names_in_a_cjk_font(chinese: uw.Quote, draft: RatingTables) -> None:
    text, fonts = _pdf_text(quote_document_pdf(chinese, tables=draft))
    assert CHINESE_INSTITUTION in text
    assert CHINESE_LAB in text
    assert any("CJK" in font for font in fonts), fonts


def test_without_weasyprint_the_pdf_says_what_to_install(
    quotes: dict[str, uw.Quote], draft: RatingTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint now fails
    with pytest.raises(
        ImportError, match=re.escape("apt-get install libpango-1.0-0 libpangoft2-1.0-0")
    ):
        quote_document_pdf(quotes["physics_low_hazard"], tables=draft)


@pytest.mark.parametrize("name", EXAMPLES)
def test_section_premiums_are_whole_yuan_adding_up_to_the_premium(
    quotes: dict[str, uw.Quote], draft: RatingTables, name: str
) -> None:
    """A client reads whole yuan: the sections' premiums are rounded by largest remainder, so
    they still add up to the premium before tax."""
    base = quotes[name]
    # An offered premium (as the workflow's quote_as_offered makes it) splits into fractions.
    by_section = {key: value * 1.37 for key, value in base.premium.by_section.items()}
    total = float(round(sum(by_section.values())))
    premium = dataclasses.replace(base.premium, by_section=by_section, total=total)
    quote = dataclasses.replace(base, premium=premium)
    assert any(value != round(value) for value in by_section.values())
    text = _text(render_quote_document(quote, tables=draft))
    cover = text.split("Cover and premium by section", 1)[1].split("Terms of the whole policy")[0]
    amounts = re.findall(r"CNY ([\d,]+(?:\.\d+)?)\s*(?=\S*\s*(?:[A-Z]|$))", cover)
    assert not [a for a in amounts if "." in a], amounts
    premiums = [
        float(match.replace(",", ""))
        for match in re.findall(r"CNY ([\d,.]+)\s+(?:[A-Z][a-z]|$)", cover + " ")
    ]
    assert premiums, cover
    assert sum(premiums[-len(quote.terms.sections) :]) == quote.premium.total
