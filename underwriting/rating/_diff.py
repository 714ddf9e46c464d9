"""What changed between two versions of the rating tables: every number and setting, by file.

Prose (names, descriptions, sources, messages) is left out: a reviewer reads the numbers a new
version changes, added or removed. Repricing labs under both versions is
:func:`underwriting.analysis.reprice`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from underwriting.rating._flatten import Flat, flatten
from underwriting.rating._load import RatingTables

_PROSE = frozenset({"name", "description", "source", "message"})


def table_numbers(tables: RatingTables) -> dict[tuple[str, str], Flat]:
    """Every number and setting of a version, keyed by ``(file, item)``; prose left out.

    An item names the row and the field, e.g. ``("scenarios.toml", "fire.frequency")``,
    ``("relativities.csv", "hazard_grade=IV / contained_fire / frequency")``; lists of scalars
    are one ``", "``-joined value.
    """
    found: dict[tuple[str, str], Flat] = {("manifest.toml", "currency"): tables.currency}

    def add(file: str, prefix: str, value: Any) -> None:
        flat = flatten(value, prefix, lists="expand", skip=_PROSE)
        found.update({(file, item): v for item, v in flat.items()})

    add("scenarios.toml", "model", tables.model.model_dump(mode="json"))
    for scenario in tables.scenarios:
        data = scenario.model_dump(mode="json", exclude={"id", "impacts"})
        add("scenarios.toml", scenario.id, data)
        for impact in scenario.impacts:
            add(
                "scenarios.toml",
                f"{scenario.id} -> {impact.section.value}",
                impact.model_dump(mode="json", exclude={"section"}),
            )
    for cascade in tables.cascades:
        found[("scenarios.toml", f"cascade {cascade.parent} -> {cascade.child}")] = (
            cascade.probability
        )
    for (scenario_id, category), (rate, _source) in tables.base_rates.items():
        found[("base_frequencies.csv", f"{scenario_id} / {category.value}")] = rate
    for row in tables.relativities:
        item = f"{row.factor}={row.level} / {row.scenario} / {row.applies_to}"
        copies = sum(1 for file, name in found if file == "relativities.csv" and name == item)
        item += f" #{copies + 1}" if copies else ""
        found[("relativities.csv", item)] = row.relativity
        if row.lower is not None:
            upper = "inf" if row.upper is None else f"{row.upper:g}"
            found[("relativities.csv", f"{item} band")] = f"[{row.lower:g}, {upper})"
    add("pricing.toml", "", tables.pricing.model_dump(mode="json"))
    for rule in tables.rules.rules:
        for leaf in rule.leaves():
            value = leaf.value
            shown = ", ".join(str(v) for v in value) if isinstance(value, tuple) else value
            found[("rules.toml", f"{rule.code}: {leaf.fact} {leaf.op}")] = shown
        found[("rules.toml", f"{rule.code}: outcome")] = rule.outcome + (
            f" ({rule.authority})" if rule.authority else ""
        )
    return found


@dataclass(frozen=True, slots=True)
class TableChange:
    """A number or setting that differs between two versions of the rating tables.

    Attributes
    ----------
    file
        The tables file, e.g. ``relativities.csv``.
    item
        The row and field within it, as :func:`table_numbers` names them.
    old, new
        The value in each version; ``None`` where the version has no such item (see ``status``)
        or the setting is empty.
    status
        ``"changed"``, ``"added"`` (only in the new version) or ``"removed"`` (only in the old).
    """

    file: str
    item: str
    old: Flat
    new: Flat
    status: Literal["changed", "added", "removed"]

    @property
    def numeric(self) -> bool:
        """Whether both values are numbers (not flags): a relative change then means something."""
        return all(
            isinstance(value, int | float) and not isinstance(value, bool)
            for value in (self.old, self.new)
        )

    @property
    def relative_change(self) -> float | None:
        """``(new - old) / old`` of a changed number; ``None`` if not numeric or ``old`` is 0."""
        old, new = self.old, self.new
        if self.status != "changed" or not self.numeric or not old:
            return None
        if not isinstance(old, int | float) or not isinstance(new, int | float):
            return None
        return (float(new) - float(old)) / float(old)


def compare_tables(old: RatingTables, new: RatingTables) -> tuple[TableChange, ...]:
    """Every number and setting that differs between two versions, by file and item.

    Sorted by file, then item (case-insensitively); an empty tuple when no number changed.
    """
    before, after = table_numbers(old), table_numbers(new)
    changes = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0], k[1].lower())):
        present = (key in before, key in after)
        was, now = before.get(key), after.get(key)
        if present == (True, True) and was == now:
            continue
        status: Literal["changed", "added", "removed"] = "changed"
        if present == (True, False):
            status = "removed"
        elif present == (False, True):
            status = "added"
        changes.append(TableChange(key[0], key[1], was, now, status))
    return tuple(changes)
