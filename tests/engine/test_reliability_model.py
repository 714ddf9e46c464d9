"""Model fuzzing: hostile submissions, policy terms and rating-table rows.

Every input is either accepted and quoted (on a thousand simulated years), or refused: by a
pydantic validation error naming the field, by a domain error (``UnderwritingError``) naming the
value, or, for rating tables, by a ``RatingTableError`` naming the file, the row and the field.
Never another exception, and never NaN or an infinity anywhere in a quote: premium, its splits,
the worksheet, metrics, options.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import math
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import underwriting as uw
from underwriting.errors import RatingTableError, UnderwritingError
from underwriting.rating import write_manifest_hashes

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "rating_tables" / "2026.1"
EXAMPLE_NAMES = ("physics_low_hazard", "chemistry_high_hazard", "bsl3_biobank")
YEARS = 1_000
MAX_EVENTS = 2_000_000
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SECTION_FIELDS = tuple(uw.SectionTerms.model_fields)
SECTIONS = tuple(section.value for section in uw.Section)


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.1")


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "examples" / f"{name}.json").read_text("utf-8"))
    return body


EXAMPLES = {name: example(name) for name in EXAMPLE_NAMES}


# --------------------------------------------------------------------------- strategies


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value in a JSON document (containers included)."""
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaf_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaf_paths(item, (*prefix, index))


EXTRA_PATHS = [
    *[("terms", "sections", section, name) for section in SECTIONS for name in SECTION_FIELDS],
    ("terms", "aggregate_deductible"),
    ("terms", "share"),
    ("terms", "sections", "unknown_section"),
    ("submission", "biosafety_level"),
    ("submission", "chemicals", "explosive"),
    ("submission", "chemicals", "explosives_manufacturing"),
    ("submission", "unknown_field"),
    ("target_relative_error",),
    ("seed",),
    ("options",),
]

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [0, -1, 1, 1e-300, 5e-324, 1e308, 2**53 + 1, 2**63, 2**128, 100_000, 1_000_000, 0.5]
    ),
    st.sampled_from(["", "I", "IV", "chemical_synthesis", "none", "monthly", "2024-02-30"]),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=2),
    st.dictionaries(st.sampled_from(["a", "deductible", "limit"]), st.integers(), max_size=2),
)


def set_path(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set ``path`` in ``document`` to ``value``, creating dictionaries on the way."""
    node: Any = document
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(part, {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return
        if not isinstance(node, dict | list):
            return
    fits_list = isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)
    if isinstance(node, dict) or fits_list:
        node[path[-1]] = value


def delete_path(document: dict[str, Any], path: tuple[Any, ...]) -> None:
    node: Any = document
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


@st.composite
def mutated_requests(draw: st.DrawFn) -> dict[str, Any]:
    """An example request with one to four fields replaced by hostile values or removed."""
    document = copy.deepcopy(EXAMPLES[draw(st.sampled_from(EXAMPLE_NAMES))])
    paths = [*leaf_paths(document), *EXTRA_PATHS]
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(paths))
        current = get_path(document, path)
        how = draw(st.sampled_from(["delete", "hostile", "hostile", "plausible", "plausible"]))
        if how == "delete":
            delete_path(document, path)
        elif how == "plausible" and isinstance(current, bool):
            set_path(document, path, not current)
        elif how == "plausible" and isinstance(current, int | float):
            factor = draw(st.sampled_from([0, 0.5, 2, 10, 1_000]))
            set_path(document, path, type(current)(current * factor))
        else:
            set_path(document, path, draw(HOSTILE))
    return document


def get_path(document: Any, path: tuple[Any, ...]) -> Any:
    node = document
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def bounded(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats in ``[low, high]``, edges included, weighted to the edges."""
    return st.one_of(
        st.sampled_from([low, high]), st.floats(min_value=low, max_value=high, allow_nan=False)
    )


AMOUNT = bounded(0.0, 1e15)


@st.composite
def extreme_valid_requests(draw: st.DrawFn) -> dict[str, Any]:
    """An example request whose numbers are pushed to the ends of what the schema allows."""
    document = copy.deepcopy(EXAMPLES[draw(st.sampled_from(EXAMPLE_NAMES))])
    submission = document["submission"]
    submission["area_m2"] = draw(bounded(1e-6, 1_000_000))
    submission["floor"] = draw(st.integers(min_value=-10, max_value=200))
    submission["headcount"] = draw(st.integers(min_value=1, max_value=100_000))
    submission["student_share"] = draw(bounded(0.0, 1.0))
    submission["hazard_grade"] = draw(st.sampled_from(["I", "II", "III", "IV"]))
    submission["biosafety_level"] = draw(st.sampled_from([None, 1, 2, 3, 4]))
    for name in submission["values"]:
        submission["values"][name] = draw(AMOUNT)
    submission["equipment_schedule"] = []
    chemicals = submission["chemicals"]
    chemicals["flammable_liquids_litres"] = draw(bounded(0.0, 1e9))
    for gas in ("flammable", "toxic", "oxidising", "inert"):
        chemicals["gas_cylinders"][gas] = draw(st.integers(min_value=0, max_value=10_000))
    for flag in ("pyrophoric", "water_reactive", "explosive", "acutely_toxic"):
        chemicals[flag] = draw(st.booleans())
    cold = submission["cold_storage"]
    cold["ultra_low_freezers"] = draw(st.integers(min_value=0, max_value=1_000))
    cold["ln2_dewars"] = draw(st.integers(min_value=0, max_value=1_000))
    history = submission["claims_history"]
    history["years_observed"] = draw(bounded(1e-9, 100.0))
    for claim in history["claims"]:
        claim["amount"] = draw(AMOUNT)
    for terms in document["terms"]["sections"].values():
        for name in ("deductible", "limit", "aggregate_limit"):
            if name in terms:
                terms[name] = draw(AMOUNT)
    document["terms"]["aggregate_deductible"] = draw(AMOUNT)
    document["terms"]["share"] = draw(bounded(1e-9, 1.0))
    document["target_relative_error"] = draw(st.sampled_from([None, 1e-12, 0.5, 0.999999]))
    return document


# --------------------------------------------------------------------------- checks


def non_finite(value: Any, path: str = "quote") -> list[str]:
    """Paths of every NaN or infinite number inside a quote (dataclasses, models, arrays)."""
    if isinstance(value, bool | str | int) or value is None:
        return []
    if isinstance(value, float | np.floating):
        return [] if math.isfinite(value) else [f"{path} = {value}"]
    if isinstance(value, np.ndarray):
        return [] if np.isfinite(value).all() else [f"{path} has non-finite entries"]
    if isinstance(value, BaseModel):
        return [
            bad
            for name in type(value).model_fields
            for bad in non_finite(getattr(value, name), f"{path}.{name}")
        ]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            bad
            for field in dataclasses.fields(value)
            if field.name != "result"
            for bad in non_finite(getattr(value, field.name), f"{path}.{field.name}")
        ]
    if isinstance(value, Mapping):
        return [bad for key, item in value.items() for bad in non_finite(item, f"{path}.{key}")]
    if isinstance(value, tuple | list):
        return [bad for i, item in enumerate(value) for bad in non_finite(item, f"{path}[{i}]")]
    return []


def assert_names_a_field(error: ValidationError) -> None:
    for detail in error.errors():
        named = ".".join(str(part) for part in detail["loc"])
        assert named or detail["msg"], detail
        if not named:  # a whole-model check: its message names the fields
            assert any(ch.isalpha() for ch in detail["msg"]), detail


def quote_or_refuse(document: dict[str, Any], tables: uw.RatingTables) -> uw.Quote | None:
    """Quote ``document`` or check that it is refused properly; the quote, or None if refused."""
    try:
        request = uw.QuoteRequest.model_validate(document)
    except ValidationError as error:
        assert_names_a_field(error)
        event("refused: validation error")
        return None
    try:
        quoted = uw.quote(
            request.submission,
            request.terms,
            tables=tables,
            seed=request.seed,
            options=request.options[:2],
            target_relative_error=request.target_relative_error,
            max_events=MAX_EVENTS,
            max_years=YEARS,
        )
    except UnderwritingError as error:
        refusal: UnderwritingError | None = error
    else:
        refusal = None
    if refusal is not None:
        assert str(refusal), "a domain refusal says why"
        event(f"refused: {type(refusal).__name__}")
        return None
    event("quoted")
    assert non_finite(quoted) == []
    assert quoted.provenance.n_years <= YEARS
    assert quoted.premium.total >= 0
    assert sum(quoted.premium.by_section.values()) == pytest.approx(quoted.premium.total, abs=1)
    json.dumps(quoted.to_dict(), allow_nan=False)
    return quoted


# --------------------------------------------------------------------------- requests


@settings(FUZZ, max_examples=120)
@given(document=mutated_requests())
def test_mutated_requests_are_quoted_or_refused_naming_the_field(
    document: dict[str, Any], tables: uw.RatingTables
) -> None:
    quote_or_refuse(document, tables)


@FUZZ
@given(document=extreme_valid_requests())
def test_extreme_valid_requests_are_quoted_with_finite_figures(
    document: dict[str, Any], tables: uw.RatingTables
) -> None:
    quote_or_refuse(document, tables)


def test_a_refusal_names_the_field_value_and_rule() -> None:
    document = copy.deepcopy(EXAMPLES["physics_low_hazard"])
    document["submission"]["values"]["equipment"] = -5
    document["terms"]["share"] = 1.5
    with pytest.raises(ValidationError) as raised:
        uw.QuoteRequest.model_validate(document)
    errors = {".".join(map(str, e["loc"])): e for e in raised.value.errors()}
    assert errors["submission.values.equipment"]["input"] == -5
    assert "greater than or equal to 0" in errors["submission.values.equipment"]["msg"]
    assert errors["terms.share"]["input"] == 1.5


# --------------------------------------------------------------------------- terms


TERM_VALUES = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, 1e308])
)


@st.composite
def section_terms_documents(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(SECTION_FIELDS), max_size=5, unique=True))
    document: dict[str, Any] = {}
    for name in names:
        if name == "franchise":
            document[name] = draw(st.booleans())
        else:
            document[name] = draw(TERM_VALUES)
    return document


GROUND_UP = np.array([0.0, 1.0, 5e3, 2e4, 3e5, 8e5, 4e6, 1e9])
EVENTS = uw.EventLossTable.from_section_losses(
    year=np.array([0, 0, 1, 1, 2, 3, 3, 4]), section="property", ground_up=GROUND_UP, n_years=5
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    section=section_terms_documents(),
    aggregate_limit=TERM_VALUES,
    aggregate_deductible=TERM_VALUES,
    share=TERM_VALUES,
)
def test_policy_terms_are_refused_naming_the_field_or_pay_between_zero_and_ground_up(
    section: dict[str, Any], aggregate_limit: Any, aggregate_deductible: Any, share: Any
) -> None:
    document: dict[str, Any] = {"sections": {"property": section}}
    for name, value in (
        ("aggregate_limit", aggregate_limit),
        ("aggregate_deductible", aggregate_deductible),
        ("share", share),
    ):
        if value is not None:
            document[name] = value
    try:
        terms = uw.PolicyTerms.model_validate(document)
    except ValidationError as error:
        assert_names_a_field(error)
        return
    insured = uw.apply_terms(EVENTS, terms)
    assert np.isfinite(insured.annual).all()
    assert (insured.annual >= 0).all()
    ground_up_years = np.bincount(EVENTS.year, weights=GROUND_UP, minlength=5)
    assert (insured.annual <= ground_up_years * (1 + 1e-12)).all()


# --------------------------------------------------------------------------- rating tables


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    path.write_text(out.getvalue(), encoding="utf-8")


CELL_VALUES = st.one_of(
    st.sampled_from(
        ["", "-1", "-0.5", "0", "nan", "inf", "-inf", "1e400", "1e-320", "abc", "*", "I", "1"]
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(alphabet="abcdefghij_0123456789.-", max_size=8),
)
CSV_FILES = ("base_frequencies.csv", "relativities.csv")


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(file=st.sampled_from(CSV_FILES), data=st.data())
def test_a_mutated_table_row_loads_and_quotes_finitely_or_is_named(file: str, data: Any) -> None:
    header, rows = read_rows(SOURCE / file)
    row = data.draw(st.integers(min_value=1, max_value=len(rows)), label="row")
    column = data.draw(st.sampled_from(header), label="column")
    value = data.draw(CELL_VALUES, label="value")
    rows[row - 1][header.index(column)] = value
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        shutil.copytree(SOURCE, root / "2026.1")
        write_rows(root / "2026.1" / file, header, rows)
        write_manifest_hashes(root / "2026.1")
        try:
            tables = uw.load_rating_tables("2026.1", root=root)
        except RatingTableError as error:
            refusal: RatingTableError | None = error
        else:
            refusal = None
    if refusal is not None:
        assert refusal.file == file, str(refusal)
        assert refusal.version == "2026.1"
        assert refusal.row is not None or refusal.field is not None, str(refusal)
        assert file in str(refusal)
        event("table refused")
        return
    quote_or_refuse(EXAMPLES["chemistry_high_hazard"], tables)


@pytest.mark.parametrize(
    ("column", "value"), [("rate", "-0.01"), ("rate", "nan"), ("rate", "inf"), ("rate", "x")]
)
def test_a_bad_base_rate_is_named_by_file_row_and_field(
    tmp_path: Path, column: str, value: str
) -> None:
    header, rows = read_rows(SOURCE / "base_frequencies.csv")
    rows[6][header.index(column)] = value
    shutil.copytree(SOURCE, tmp_path / "2026.1")
    write_rows(tmp_path / "2026.1" / "base_frequencies.csv", header, rows)
    write_manifest_hashes(tmp_path / "2026.1")
    with pytest.raises(RatingTableError) as raised:
        uw.load_rating_tables("2026.1", root=tmp_path)
    assert (raised.value.file, raised.value.row, raised.value.field) == (
        "base_frequencies.csv",
        7,
        column,
    )
    assert value in str(raised.value)
