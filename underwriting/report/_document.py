"""The quotation document for the client, as HTML and as PDF.

What a client reads: the insured and the laboratory, the cover of each section (deductibles,
limits, waiting and indemnity periods), the premium of each section, the tax and the total
payable in the tables' currency, how long the quotation is open, the subjectivities and
conditions of the rating tables that apply, and where the quotation stands (quoted, referred,
approved, declined, bound, expired or superseded).

The page is a Jinja2 template (``templates/quote_document.html``, autoescaped: a lab name is text,
never markup) filled with strings this module formats, so the template only lays them out. The
HTML is self-contained (its style inline, no script, no external resource), for a browser and
for the PDF alike. The PDF is WeasyPrint's rendering of that HTML: WeasyPrint is imported inside
:func:`quote_document_pdf` and needs Debian's Pango (``libpango-1.0-0``, ``libpangoft2-1.0-0``)
and HarfBuzz's subsetter (``libharfbuzz-subset0``), and Chinese text needs a CJK font
(``fonts-noto-cjk``); the project's CI installs them.

Like the plots, this module imports no other stage: it reads the quote and the tables it is given.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import jinja2

    from underwriting.quote import Quote
    from underwriting.rating import RatingTables
    from underwriting.terms import SectionTerms

QuoteStatus = Literal[
    "quoted", "referred", "approved", "declined", "bound", "expired", "superseded"
]
"""Where a quotation stands: the quote's own decision, or a later state of its record."""

STATUSES: tuple[str, ...] = get_args(QuoteStatus)

SECTION_LABELS: Mapping[str, str] = {
    "property": "Property damage",
    "equipment_breakdown": "Equipment breakdown",
    "spoilage": "Spoilage of specimens",
    "research_interruption": "Research interruption",
    "liability": "Third-party liability",
    "pollution": "Pollution clean-up",
    "employee_injury": "Employee injury",
}
"""How the document names each coverage section."""

_CATEGORY_LABELS: Mapping[str, str] = {
    "chemical_synthesis": "Chemical synthesis",
    "biological": "Biological",
    "materials_energy": "Materials and energy",
    "physics_engineering": "Physics and engineering",
    "clean_room": "Clean room",
    "teaching": "Teaching",
}

_HAZARD_GRADES: Mapping[str, str] = {
    "I": "I (major)",
    "II": "II (high)",
    "III": "III (medium)",
    "IV": "IV (low)",
}

_TITLES: Mapping[str, str] = {
    "quoted": "Quotation",
    "referred": "Quotation, referred",
    "approved": "Quotation",
    "declined": "Declined",
    "bound": "Confirmation of cover",
    "expired": "Quotation, expired",
    "superseded": "Quotation, superseded",
}

_OPEN = frozenset({"quoted", "referred", "approved"})
"""The statuses in which the quotation is still open, until ``valid_until``."""

_DASH = "\N{EN DASH}"


@dataclass(frozen=True, slots=True)
class _Row:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class _CoverRow:
    section: str
    deductible: str
    limit: str
    periods: str
    premium: str


@dataclass(frozen=True, slots=True)
class _Statement:
    id: str
    text: str


def _amount(value: float) -> str:
    """Whole amounts with thousands separators; cents only where there are any."""
    return f"{value:,.0f}" if value == round(value) else f"{value:,.2f}"


def _percent(share: float) -> str:
    """``0.1`` as ``10%``, ``0.125`` as ``12.5%``."""
    return f"{share * 100:.4g}%"


def _count(value: float, unit: str) -> str:
    return f"{value:g} {unit}" if value == 1 else f"{value:g} {unit}s"


class _Money:
    """Amounts for a person: the currency code, then the figure with thousands separators."""

    def __init__(self, currency: str) -> None:
        self.currency = currency

    def __call__(self, value: float) -> str:
        return f"{self.currency} {_amount(value)}"


def _deductible(terms: SectionTerms, money: _Money) -> str:
    if terms.deductible_percent_of_loss is not None:
        text = f"{_percent(terms.deductible_percent_of_loss)} of each loss"
        bounds = []
        if terms.deductible_minimum > 0:
            bounds.append(f"at least {money(terms.deductible_minimum)}")
        if terms.deductible_maximum is not None:
            bounds.append(f"at most {money(terms.deductible_maximum)}")
        if bounds:
            text += ", " + " and ".join(bounds)
    elif terms.deductible > 0:
        text = f"{money(terms.deductible)} each loss"
    else:
        return "None"
    if terms.franchise:
        text += " (franchise: a loss above it is paid in full)"
    return text


def _limit(terms: SectionTerms, money: _Money) -> str:
    parts = []
    if terms.limit is not None:
        parts.append(f"{money(terms.limit)} each occurrence")
    if terms.limit_percent_of_loss is not None:
        parts.append(f"{_percent(terms.limit_percent_of_loss)} of each loss")
    if terms.aggregate_limit is not None:
        parts.append(f"{money(terms.aggregate_limit)} in the annual aggregate")
    return "; ".join(parts) if parts else "No section limit"


def _periods(section: str, terms: SectionTerms) -> str:
    if section != "research_interruption":
        return _DASH
    waiting = (
        f"waiting period {_count(terms.waiting_period_days, 'day')}"
        if terms.waiting_period_days > 0
        else "no waiting period"
    )
    indemnity = (
        f"indemnity period {_count(terms.indemnity_period_months, 'month')}"
        if terms.indemnity_period_months is not None
        else "no indemnity period"
    )
    return f"{waiting[0].upper()}{waiting[1:]}; {indemnity}"


def _when(moment: dt.datetime) -> str:
    """A timestamp as a date and time in UTC, the same for every reader."""
    utc = moment.astimezone(dt.UTC) if moment.tzinfo is not None else moment
    return f"{utc:%Y-%m-%d %H:%M} UTC"


def _check_status(
    status: str, policy_number: str | None, period: tuple[dt.date, dt.date] | None
) -> None:
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if status == "bound" and not policy_number:
        raise ValueError("status 'bound' needs the policy_number of the policy it created")
    if status != "bound" and (policy_number is not None or period is not None):
        raise ValueError(
            f"policy_number and period belong to a bound quote, not to status {status!r}"
        )
    if period is not None and period[1] <= period[0]:
        raise ValueError(f"period ends {period[1]}, not after it starts ({period[0]})")


def _status_line(
    quote: Quote,
    status: str,
    policy_number: str | None,
    period: tuple[dt.date, dt.date] | None,
) -> str:
    open_until = _when(quote.valid_until)
    authority = (quote.decision.authority_required or "senior underwriter").replace("_", " ")
    lines = {
        "quoted": f"An offer of insurance on the terms below, open until {open_until}.",
        "approved": "Approved by the insurer's underwriting authority: an offer of insurance on "
        f"the terms below, open until {open_until}.",
        "referred": f"Awaiting approval by a {authority}: not yet an offer of insurance. The "
        "insurer will confirm it, or amend it, before it can be accepted.",
        "declined": "The insurer declines to offer insurance for this laboratory.",
        "bound": f"Cover is bound under policy {policy_number}"
        + (f", from {period[0]:%Y-%m-%d} to {period[1]:%Y-%m-%d}." if period else "."),
        "expired": f"This quotation expired at {open_until} and is no longer an offer; ask for "
        "a new quotation.",
        "superseded": "This quotation has been replaced by a revised one and is no longer an "
        "offer.",
    }
    return lines[status]


def _insured(quote: Quote) -> list[_Row]:
    submission = quote.submission
    rows = [
        _Row("Institution", submission.institution or _DASH),
        _Row("Laboratory", submission.lab_name or submission.lab_id),
        _Row("Laboratory reference", submission.lab_id),
        _Row("Site", submission.site_id),
        _Row("Category", _CATEGORY_LABELS.get(submission.lab_category, submission.lab_category)),
        _Row("Hazard grade", _HAZARD_GRADES.get(submission.hazard_grade, submission.hazard_grade)),
        _Row(
            "Biosafety level",
            f"BSL-{submission.biosafety_level}" if submission.biosafety_level else "None",
        ),
        _Row("Floor area", f"{_amount(submission.area_m2)} m²"),
        _Row("Floor", f"{submission.floor}"),
        _Row("People working in the laboratory", f"{submission.headcount:,}"),
    ]
    return rows


def _sums_insured(quote: Quote, money: _Money) -> list[_Row]:
    values = quote.submission.values
    return [
        _Row("Building improvements", money(values.building_improvements)),
        _Row("Contents", money(values.contents)),
        _Row("Scientific equipment", money(values.equipment)),
        _Row("Specimens (re-creation cost)", money(values.specimens)),
        _Row("Total insured value", money(values.total_insured_value)),
        _Row(
            "Annual research expenditure (research interruption)",
            money(values.annual_research_spend),
        ),
    ]


def _whole_units(shares: Mapping[str, float]) -> dict[str, float]:
    """``shares`` in whole currency units that add up to their rounded sum (largest remainder)."""
    floors = {key: math.floor(value) for key, value in shares.items()}
    left = round(sum(shares.values())) - sum(floors.values())
    by_remainder = sorted(shares, key=lambda key: shares[key] - floors[key], reverse=True)
    for key in by_remainder[: max(left, 0)]:
        floors[key] += 1
    return {key: float(value) for key, value in floors.items()}


def _cover(quote: Quote, money: _Money) -> list[_CoverRow]:
    by_section = _whole_units(quote.premium.by_section)
    rows = []
    for section, label in SECTION_LABELS.items():
        terms = next((t for s, t in quote.terms.sections.items() if s.value == section), None)
        if terms is None:
            continue
        rows.append(
            _CoverRow(
                section=label,
                deductible=_deductible(terms, money),
                limit=_limit(terms, money),
                periods=_periods(section, terms),
                premium=money(by_section.get(section, 0.0)),
            )
        )
    return rows


def _not_covered(quote: Quote) -> list[str]:
    covered = {section.value for section in quote.terms.sections}
    return [label for section, label in SECTION_LABELS.items() if section not in covered]


def _policy_terms(quote: Quote, money: _Money) -> list[_Row]:
    terms = quote.terms
    return [
        _Row(
            "Annual aggregate limit, all sections",
            money(terms.aggregate_limit) if terms.aggregate_limit is not None else "None",
        ),
        _Row(
            "Annual aggregate deductible",
            money(terms.aggregate_deductible) if terms.aggregate_deductible > 0 else "None",
        ),
        _Row("The insurer's share of each loss", _percent(terms.share)),
    ]


def _premium(quote: Quote, tables: RatingTables, money: _Money) -> list[_Row]:
    premium = quote.premium
    rate = tables.pricing.premium.premium_tax_rate
    before_tax = "Premium before tax"
    if premium.minimum_applied:
        before_tax += " (the minimum premium)"
    return [
        _Row(before_tax, money(premium.total)),
        _Row(f"Premium tax (VAT) at {_percent(rate)}", money(premium.tax)),
        _Row("Total payable", money(premium.total_with_tax)),
    ]


def _statements(
    quote: Quote, tables: RatingTables
) -> tuple[list[_Statement], list[_Statement], str | None]:
    """The subjectivities and conditions that apply, and a sentence when there are none."""
    rules = tables.rules
    if not rules.conditions:
        return (
            [],
            [],
            (
                f"There are no conditions in tables {tables.version}: this quotation states no "
                "subjectivities and no conditions beyond the policy wording."
            ),
        )
    applying = rules.conditions_for(
        quote.submission,
        sections=[section.value for section in quote.terms.sections],
        referred_by=[r.code for r in quote.decision.reasons if r.outcome == "refer"],
    )
    if not applying:
        return (
            [],
            [],
            (
                f"None of the subjectivities and conditions of tables {tables.version} applies to "
                "this quotation."
            ),
        )
    subjectivities = [_Statement(c.id, c.text) for c in applying if c.kind == "subjectivity"]
    conditions = [_Statement(c.id, c.text) for c in applying if c.kind == "condition"]
    return subjectivities, conditions, None


def _provenance(quote: Quote, tables: RatingTables, money: _Money) -> str:
    premium = quote.premium
    provenance = quote.provenance
    error = (
        f"its standard error is {money(round(premium.standard_error))} "
        f"({premium.relative_error:.2%})"
        if math.isfinite(premium.standard_error)
        else "its standard error could not be estimated"
    )
    return (
        f"Priced with rating tables {tables.version} (effective {tables.effective_date}) and "
        f"lab-underwriting {provenance.package_version}, on {_when(provenance.created_at)}. The "
        f"technical premium, {money(round(premium.technical))}, was estimated by simulating "
        f"{provenance.n_years:,} years of losses{_strata_text(provenance.strata_years)} "
        f"(seed {provenance.seed}); {error}."
    )


def _strata_text(strata_years: Mapping[str, int]) -> str:
    """The years of a premium from stratified years, for the document's sentence."""
    if not strata_years:
        return ""
    return (
        f" and {sum(strata_years.values()):,} more in {len(strata_years)} strata by rare scenario"
    )


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("underwriting.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_quote_document(
    quote: Quote,
    *,
    tables: RatingTables,
    status: QuoteStatus | None = None,
    quote_id: str | None = None,
    policy_number: str | None = None,
    period: tuple[dt.date, dt.date] | None = None,
) -> str:
    """The quotation document for the client, as one self-contained HTML page.

    Parameters
    ----------
    quote
        A quote (:func:`underwriting.quote`).
    tables
        The rating tables of the quote's version (its currency, tax rate, subjectivities and
        conditions).
    status
        Where the quotation stands: ``quoted``, ``referred``, ``approved``, ``declined``,
        ``bound``, ``expired`` or ``superseded``; the quote's own decision when ``None``.
    quote_id
        The reference of the quote's record, shown to the client when given.
    policy_number, period
        The policy a bound quote created and its period (start, end); only for ``bound``, which
        needs ``policy_number``.

    Returns
    -------
    str
        The HTML page; every text from the submission is escaped.

    Raises
    ------
    ValueError
        If ``tables`` are not the quote's version, or ``status``, ``policy_number`` or ``period``
        are not allowed (the message names the value and what is allowed).

    Example
    -------
    >>> import pathlib
    >>> import underwriting as uw
    >>> from underwriting.rating import load_rating_tables
    >>> from underwriting.report import render_quote_document
    >>> request = uw.QuoteRequest.model_validate_json(
    ...     pathlib.Path("examples/physics_low_hazard.json").read_text())
    >>> tables = load_rating_tables("2026.2")
    >>> quote = uw.quote(request.submission, request.terms, tables=tables, n_years=20_000)
    >>> html = render_quote_document(quote, tables=tables, quote_id="Q-1")
    >>> "Ultrafast Laser Spectroscopy Laboratory" in html, "There are no conditions" in html
    (True, True)
    """
    if tables.version != quote.provenance.tables_version:
        raise ValueError(
            f"tables {tables.version} are not the quote's: it was priced with tables "
            f"{quote.provenance.tables_version}; pass those"
        )
    chosen = status or quote.decision.outcome
    _check_status(chosen, policy_number, period)
    money = _Money(tables.currency)
    subjectivities, conditions, no_conditions = _statements(quote, tables)
    declined = chosen == "declined"
    template = _environment().get_template("quote_document.html")
    return template.render(
        title=_TITLES[chosen],
        status=chosen,
        status_line=_status_line(quote, chosen, policy_number, period),
        reasons=[r.message for r in quote.decision.reasons] if declined else [],
        draft=tables.draft,
        version=tables.version,
        quote_id=quote_id,
        policy_number=policy_number,
        created=_when(quote.provenance.created_at),
        valid_until=_when(quote.valid_until) if chosen in _OPEN else None,
        insured=_insured(quote),
        sums_insured=_sums_insured(quote, money),
        cover=_cover(quote, money),
        not_covered=_not_covered(quote),
        policy_terms=_policy_terms(quote, money),
        show_premium=not declined,
        premium=[] if declined else _premium(quote, tables, money),
        subjectivities=subjectivities,
        conditions=conditions,
        no_conditions=no_conditions,
        provenance=_provenance(quote, tables, money),
    )


def quote_document_pdf(
    quote: Quote,
    *,
    tables: RatingTables,
    status: QuoteStatus | None = None,
    quote_id: str | None = None,
    policy_number: str | None = None,
    period: tuple[dt.date, dt.date] | None = None,
) -> bytes:
    """The quotation document as a PDF (A4): :func:`render_quote_document` rendered by WeasyPrint.

    Parameters are those of :func:`render_quote_document`.

    Raises
    ------
    ImportError
        If WeasyPrint or Debian's Pango, which it loads, is missing (the message says what to
        install). Without a CJK font (Debian's ``fonts-noto-cjk``) the PDF renders, but Chinese
        text shows as empty boxes.
    ValueError
        As :func:`render_quote_document`.
    """
    html = render_quote_document(
        quote,
        tables=tables,
        status=status,
        quote_id=quote_id,
        policy_number=policy_number,
        period=period,
    )
    try:
        import weasyprint
    except (ImportError, OSError) as error:
        # OSError: WeasyPrint is installed but cannot load Pango, a system library.
        raise ImportError(
            "the PDF needs WeasyPrint and Debian's Pango (apt-get install libpango-1.0-0 "
            "libpangoft2-1.0-0 libharfbuzz-subset0), and a CJK font for Chinese text "
            f"(fonts-noto-cjk): {error}"
        ) from error
    # Without a target, write_pdf returns the document's bytes.
    return bytes(weasyprint.HTML(string=html).write_pdf())
