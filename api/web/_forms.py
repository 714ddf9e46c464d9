"""The quote request as an HTML form, and the form back to a request: fields read from the
pydantic models, so the form has every field the API takes, with its limits and help text, and
its messages are the API's own validation errors.

A field's form name is its path in the request's JSON, dotted (``submission.values.equipment``,
``submission.equipment_schedule.0.value``, ``terms.sections.property.limit``). Reading a form
back builds that JSON and validates it with :class:`underwriting.QuoteRequest`: nothing is
checked here that the model does not check.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt, MaxLen
from pydantic import BaseModel, ValidationError

import underwriting as uw

SURVEY: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("lab", "The lab", ("lab_id", "lab_name", "institution", "site_id", "lab_category")),
    (
        "premises",
        "Premises and people",
        ("hazard_grade", "area_m2", "floor", "construction", "headcount", "student_share"),
    ),
    ("values", "Sums insured", ("values",)),
    ("equipment", "Scheduled equipment", ("equipment_schedule",)),
    ("chemicals", "Chemicals and gases", ("chemicals",)),
    ("biology", "Biosafety and cold storage", ("biosafety_level", "cold_storage")),
    ("protections", "Protections and management", ("protections",)),
    ("hazards", "Natural hazards", ("natural_hazards",)),
    ("claims", "Claims history", ("claims_history",)),
)
"""The submission in the order a survey reads: (anchor, heading, fields)."""

EXTRA_ROWS = 2
"""Blank rows offered under a list (equipment, claims) for new entries."""

_UNITS = {
    "_m2": "m²",
    "_days": "days",
    "_months": "months",
    "_years": "years",
    "_litres": "litres",
    "_share": "fraction 0-1",
    "_percent_of_loss": "fraction of the loss, 0-1",
}
_MONEY = (
    "value",
    "amount",
    "deductible",
    "limit",
    "minimum",
    "maximum",
    "spend",
    "building_improvements",
    "contents",
    "equipment",
    "specimens",
)
_SHOWN_MAXIMUM = 1e12
"""A maximum above this is a guard against overflow (``MAX_AMOUNT``), not a limit a person
needs to read: it is not shown."""


@dataclass
class Field:
    """One form control."""

    name: str
    label: str
    kind: Literal["text", "number", "integer", "select", "checkbox", "date"]
    value: Any
    help: str = ""
    unit: str = ""
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    max_length: int | None = None
    error: str = ""

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")

    @property
    def limits(self) -> str:
        """The allowed range as a person reads it (``above 0, at most 1,000,000``)."""
        parts = []
        if self.minimum is not None:
            parts.append(f"{'above' if self.exclusive_minimum else 'at least'} {self.minimum:g}")
        if self.maximum is not None and self.maximum < _SHOWN_MAXIMUM:
            parts.append(f"at most {self.maximum:,.10g}")
        return ", ".join(parts)


@dataclass
class Table:
    """A list of records (the equipment schedule, the claims): one row of fields each."""

    name: str
    label: str
    help: str
    columns: tuple[str, ...]
    rows: list[list[Field]]
    error: str = ""


@dataclass
class Group:
    """A fieldset: a heading, its fields and its tables."""

    anchor: str
    heading: str
    help: str = ""
    items: list[Field | Table | Group] = field(default_factory=list)
    error: str = ""
    toggle: Field | None = None


def _words(name: str) -> str:
    text = name.removesuffix("_m2").replace("_", " ")
    return text[:1].upper() + text[1:]


def _unit(name: str, currency: str) -> str:
    for suffix, unit in _UNITS.items():
        if name.endswith(suffix):
            return unit
    if any(name == word or name.endswith(f"_{word}") for word in _MONEY):
        return currency
    return ""


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _control(
    name: str, key: str, info: Any, value: Any, currency: str, errors: Mapping[str, str]
) -> Field:
    annotation, optional = _strip_optional(info.annotation)
    # NonNegativeFloat and the like carry their bounds in the annotation's metadata.
    metadata = [*info.metadata]
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata.extend(extra)
    control = Field(
        name=name,
        label=_words(key),
        kind="text",
        value="" if value is None else value,
        help=info.description or "",
        unit=_unit(key, currency),
        required=info.is_required(),
        error=errors.get(name, ""),
    )
    for bound in metadata:
        if isinstance(bound, Ge):
            control.minimum = float(bound.ge)  # type: ignore[arg-type]
        elif isinstance(bound, Gt):
            control.minimum, control.exclusive_minimum = float(bound.gt), True  # type: ignore[arg-type]
        elif isinstance(bound, Le):
            control.maximum = float(bound.le)  # type: ignore[arg-type]
        elif isinstance(bound, Lt):
            control.maximum = float(bound.lt)  # type: ignore[arg-type]
        elif isinstance(bound, MaxLen):
            control.max_length = bound.max_length
    if annotation is bool:
        control.kind = "checkbox"
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        control.kind = "select"
        control.choices = tuple((str(m.value), _words(str(m.value))) for m in annotation)
    elif typing.get_origin(annotation) is Literal:
        control.kind = "select"
        control.choices = tuple((str(v), _words(str(v))) for v in typing.get_args(annotation))
    elif annotation is int:
        control.kind = "integer"
    elif annotation is float:
        control.kind = "number"
    elif annotation is dt.date:
        control.kind = "date"
    if control.kind == "select" and optional:
        control.choices = (("", "none"), *control.choices)
    if isinstance(control.value, Enum):
        control.value = control.value.value
    return control


def _model_items(
    model: type[BaseModel],
    data: Mapping[str, Any],
    prefix: str,
    currency: str,
    errors: Mapping[str, str],
    only: tuple[str, ...] | None = None,
) -> Iterator[Field | Table | Group]:
    for key in only or tuple(model.model_fields):
        info = model.model_fields[key]
        name = f"{prefix}.{key}"
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        value = data.get(key, default)
        annotation, _ = _strip_optional(info.annotation)
        nested = _model_of(annotation)
        if nested is not None:
            given = value.model_dump(mode="json") if isinstance(value, BaseModel) else value or {}
            yield Group(
                anchor=name,
                heading=_words(key),
                help=info.description or (nested.__doc__ or "").split("\n")[0],
                items=list(_model_items(nested, given, name, currency, errors)),
                error=errors.get(name, ""),
            )
            continue
        if typing.get_origin(annotation) is tuple:
            row_model = _model_of(typing.get_args(annotation)[0])
            if row_model is not None:
                yield _table(key, name, row_model, value or (), info, currency, errors)
                continue
        yield _control(name, key, info, value, currency, errors)


def _table(
    key: str,
    name: str,
    row_model: type[BaseModel],
    rows: Any,
    info: Any,
    currency: str,
    errors: Mapping[str, str],
) -> Table:
    given = [r.model_dump(mode="json") if isinstance(r, BaseModel) else dict(r) for r in rows]
    given += [{}] * EXTRA_ROWS
    built = []
    for index, row in enumerate(given):
        cells = []
        for column, column_info in row_model.model_fields.items():
            cell = _control(
                f"{name}.{index}.{column}",
                column,
                column_info,
                row.get(column),
                currency,
                errors,
            )
            # A blank row is left out, so no cell of a list is required on its own.
            cell.required = False
            cells.append(cell)
        built.append(cells)
    return Table(
        name=name,
        label=_words(key),
        help=info.description
        or (row_model.__doc__ or "").split("\n")[0]
        + f" Leave a row blank to leave it out; {EXTRA_ROWS} blank rows for new entries.",
        columns=tuple(_words(c) for c in row_model.model_fields),
        rows=built,
        error=errors.get(name, ""),
    )


def submission_groups(
    submission: Mapping[str, Any], currency: str, errors: Mapping[str, str]
) -> list[Group]:
    """The submission's fields grouped as a survey reads, with values and messages."""
    groups = []
    for anchor, heading, keys in SURVEY:
        items = list(
            _model_items(uw.Submission, submission, "submission", currency, errors, only=keys)
        )
        # A group holding one nested model shows that model's fields directly.
        if len(items) == 1 and isinstance(items[0], Group):
            inner = items[0]
            groups.append(Group(anchor, heading, inner.help, inner.items, inner.error))
        else:
            groups.append(Group(anchor, heading, "", items))
    return groups


def terms_groups(terms: Mapping[str, Any], currency: str, errors: Mapping[str, str]) -> list[Group]:
    """One fieldset per section (with a box to cover it or not), then the policy's own terms."""
    sections = terms.get("sections") or {}
    groups = []
    for section in uw.Section:
        name = f"terms.sections.{section.value}"
        given = sections.get(section.value)
        toggle = Field(
            name=f"{name}.covered",
            label=f"Cover {_words(section.value).lower()}",
            kind="checkbox",
            value=given is not None,
        )
        groups.append(
            Group(
                anchor=name,
                heading=_words(section.value),
                items=list(_model_items(uw.SectionTerms, given or {}, name, currency, errors)),
                error=errors.get(name, ""),
                toggle=toggle,
            )
        )
    policy_keys = tuple(k for k in uw.PolicyTerms.model_fields if k != "sections")
    groups.append(
        Group(
            "terms.policy",
            "Policy terms",
            "Terms over all sections together.",
            list(_model_items(uw.PolicyTerms, terms, "terms", currency, errors, only=policy_keys)),
            error=errors.get("terms.sections", "") or errors.get("terms", ""),
        )
    )
    return groups


def quoting_fields(request: Mapping[str, Any], errors: Mapping[str, str]) -> list[Field]:
    """The request's own settings: its seed and target precision."""
    fields = uw.QuoteRequest.model_fields
    return [
        _control(f"request.{key}", key, fields[key], request.get(key), "", errors)
        for key in ("target_relative_error", "seed")
    ]


# --------------------------------------------------------------------------- reading back


def _set(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _lists(node: Any) -> Any:
    """Dictionaries keyed 0, 1, ... become lists, blank rows (every cell empty) left out."""
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        rows = [converted[key] for key in sorted(converted, key=int)]
        return [row for row in rows if not _blank(row)]
    return converted


def _blank(row: Any) -> bool:
    if isinstance(row, dict):
        return all(_blank(value) for value in row.values())
    return row in ("", None, False)


def _number(text: str) -> Any:
    """A number if it reads as one; else the text, for the model to refuse naming the field."""
    cleaned = text.replace(",", "").strip()
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        return float(cleaned)
    except ValueError:
        return text


def request_from_form(form: Mapping[str, str], checkboxes: set[str]) -> dict[str, Any]:
    """The request's JSON from the posted fields (dotted names); ``checkboxes`` are the names of
    every checkbox the form showed, so an unticked one reads ``false``.

    An empty text is left out (the model's default applies, or it says the field is required);
    an uncovered section is left out of ``terms.sections``.
    """
    tree: dict[str, Any] = {}
    for name in checkboxes:
        if not name.endswith(".covered"):
            _set(tree, name.split("."), name in form)
    for name, raw in form.items():
        if name in checkboxes or name == "csrf_token" or "." not in name:
            continue
        text = raw.strip()
        if text == "":
            continue
        _set(tree, name.split("."), _number(text) if _looks_numeric(name) else text)
    tree = _lists(tree)
    sections = tree.get("terms", {}).get("sections", {})
    for section in list(sections):
        if f"terms.sections.{section}.covered" not in form:
            del sections[section]
    for name in checkboxes:
        section = name.removesuffix(".covered").rsplit(".", 1)[-1]
        if name.endswith(".covered") and name in form:
            sections.setdefault(section, {})
    request = tree.pop("request", {})
    return {**tree, **request}


_TEXT_FIELDS = {
    "lab_id",
    "lab_name",
    "institution",
    "site_id",
    "type",
    "scenario",
    "date",
    "seed",
    "lab_category",
    "hazard_grade",
    "construction",
    "inspection_regime",
}


def _looks_numeric(name: str) -> bool:
    return name.rsplit(".", 1)[-1] not in _TEXT_FIELDS


def errors_by_field(error: ValidationError) -> dict[str, str]:
    """The model's messages by form name (``submission.values.equipment``); a message about a
    whole model (a cross-field rule) goes to that model's name."""
    found: dict[str, str] = {}
    for problem in error.errors():
        location = [str(part) for part in problem["loc"]]
        # A union's member names itself in the location (``function-after[...]``): drop it.
        location = [part for part in location if "[" not in part]
        if location and location[0] in ("target_relative_error", "seed"):
            location = ["request", *location]
        name = ".".join(location) or "request"
        message = problem["msg"].removeprefix("Value error, ")
        if "input" in problem and not isinstance(problem["input"], dict | list):
            message += f" (got {problem['input']!r})"
        found[name] = f"{found[name]}; {message}" if name in found else message
    return found


def checkbox_names(groups: list[Group]) -> str:
    """The names of every checkbox of ``groups``, space-separated (a hidden field carries them,
    so that an unticked box reads ``false`` and not 'left out')."""
    names: list[str] = []

    def walk(item: Field | Table | Group) -> None:
        if isinstance(item, Group):
            if item.toggle is not None:
                names.append(item.toggle.name)
            for inner in item.items:
                walk(inner)
        elif isinstance(item, Table):
            for row in item.rows:
                for cell in row:
                    walk(cell)
        elif item.kind == "checkbox":
            names.append(item.name)

    for group in groups:
        walk(group)
    return " ".join(names)
