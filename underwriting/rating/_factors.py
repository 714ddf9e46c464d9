"""The rating factors and exposure bases a submission offers to the rating tables.

This module says *which* characteristics of a lab can be rated and how each is read off a
:class:`~underwriting.model.Submission`; the rating tables say *how much* each level is worth.
No relativity lives here.

A factor is either categorical (its level is a string such as ``"yes"``, ``"III"``) or numeric
(its level is a number, matched to a band ``[lower, upper)`` of ``relativities.csv``).
An exposure basis is the number of units that a scenario's base rate is quoted per.

Example
-------
>>> from underwriting.model import Submission, Values
>>> sub = Submission(lab_id="L1", site_id="S1", lab_category="teaching", hazard_grade="IV",
...                  area_m2=80, floor=1, construction="ordinary", headcount=30,
...                  student_share=0.9, values=Values(contents=1e5))
>>> FACTORS["sprinklers"].level(sub), EXPOSURES["headcount"](sub)
('no', 30.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from underwriting.model import Submission

FactorKind = Literal["categorical", "numeric"]


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


@dataclass(frozen=True, slots=True)
class Factor:
    """One rating factor: its kind, the levels it may take (categorical) and how to read it."""

    name: str
    kind: FactorKind
    read: Callable[[Submission], str | float]
    description: str
    levels: tuple[str, ...] = ()

    def level(self, submission: Submission) -> str | float:
        """This factor's level for ``submission``."""
        return self.read(submission)


_YES_NO = ("yes", "no")


def _flag(name: str, read: Callable[[Submission], bool], description: str) -> Factor:
    return Factor(name, "categorical", lambda s: _yes_no(read(s)), description, _YES_NO)


_FACTOR_LIST: tuple[Factor, ...] = (
    Factor(
        "hazard_grade",
        "categorical",
        lambda s: s.hazard_grade,
        "MOE 2024 lab grade I (major) to IV (low)",
        ("I", "II", "III", "IV"),
    ),
    Factor(
        "construction",
        "categorical",
        lambda s: s.construction,
        "construction class of the building",
        ("fire_resistive", "non_combustible", "ordinary", "combustible"),
    ),
    Factor("floor", "numeric", lambda s: float(s.floor), "floor level (negative below ground)"),
    Factor(
        "student_share",
        "numeric",
        lambda s: s.student_share,
        "share of students or new entrants in the headcount",
    ),
    Factor(
        "flammable_liquids_litres",
        "numeric",
        lambda s: s.chemicals.flammable_liquids_litres,
        "flammable liquids on hand, litres",
    ),
    Factor(
        "flammable_liquids_per_10m2",
        "numeric",
        lambda s: 10.0 * s.chemicals.flammable_liquids_litres / s.area_m2,
        "flammable liquids in litres per 10 m2 (NFPA 45 style density)",
    ),
    Factor(
        "flammable_gas_cylinders",
        "numeric",
        lambda s: float(s.chemicals.gas_cylinders.flammable),
        "flammable gas cylinders (incl. hydrogen)",
    ),
    Factor(
        "toxic_gas_cylinders",
        "numeric",
        lambda s: float(s.chemicals.gas_cylinders.toxic),
        "toxic gas cylinders",
    ),
    Factor(
        "oxidising_gas_cylinders",
        "numeric",
        lambda s: float(s.chemicals.gas_cylinders.oxidising),
        "oxidising gas cylinders",
    ),
    _flag("pyrophoric", lambda s: s.chemicals.pyrophoric, "pyrophoric chemicals on hand"),
    _flag("water_reactive", lambda s: s.chemicals.water_reactive, "water-reactive chemicals"),
    _flag("explosive", lambda s: s.chemicals.explosive, "potentially explosive chemicals"),
    _flag("acutely_toxic", lambda s: s.chemicals.acutely_toxic, "acutely toxic chemicals"),
    Factor(
        "biosafety_level",
        "categorical",
        lambda s: "none" if s.biosafety_level is None else str(s.biosafety_level),
        "biosafety level, or none",
        ("none", "1", "2", "3", "4"),
    ),
    _flag("sprinklers", lambda s: s.protections.sprinklers, "automatic sprinklers"),
    _flag("fire_detection", lambda s: s.protections.fire_detection, "automatic fire detection"),
    _flag("gas_detection", lambda s: s.protections.gas_detection, "gas detection"),
    _flag(
        "certified_fume_hoods",
        lambda s: s.protections.certified_fume_hoods,
        "fume hoods certified within the year",
    ),
    _flag("flammable_cabinets", lambda s: s.protections.flammable_cabinets, "flammable cabinets"),
    _flag("safety_training", lambda s: s.protections.safety_training, "documented training"),
    Factor(
        "inspection_regime",
        "categorical",
        lambda s: s.protections.inspection_regime,
        "how often the lab is inspected",
        ("none", "annual", "quarterly", "monthly"),
    ),
    _flag("remote_alarm", lambda s: s.cold_storage.remote_alarm, "remote freezer alarm"),
    _flag("backup_power", lambda s: s.cold_storage.backup_power, "backup power for cold storage"),
    _flag("backup_freezer", lambda s: s.cold_storage.backup_freezer, "backup freezer capacity"),
    _flag("flood_zone", lambda s: s.natural_hazards.flood_zone, "site in a flood zone"),
    _flag("typhoon_zone", lambda s: s.natural_hazards.typhoon_zone, "site in a typhoon zone"),
    _flag(
        "earthquake_zone", lambda s: s.natural_hazards.earthquake_zone, "site in an earthquake zone"
    ),
    _flag(
        "critical_assets_below_ground",
        lambda s: s.natural_hazards.critical_assets_below_ground,
        "freezers, generators or animals below ground",
    ),
    Factor(
        "cryogenic_magnets",
        "numeric",
        lambda s: float(s.cryogenic_magnets),
        "scheduled superconducting magnets (NMR/MRI)",
    ),
    Factor(
        "equipment_age_years",
        "numeric",
        lambda s: s.equipment_age_years,
        "value-weighted mean age of scheduled equipment, years",
    ),
    Factor(
        "scheduled_equipment_age_years",
        "numeric",
        lambda s: s.equipment_age_years if s.equipment_schedule else math.inf,
        "value-weighted mean age of scheduled equipment, years; without a schedule unknown, "
        "read as infinite (the oldest band): missing data earns no discount",
    ),
    Factor(
        "scheduled_cryogenic_magnets",
        "numeric",
        lambda s: float(s.cryogenic_magnets) if s.equipment_schedule else math.inf,
        "scheduled superconducting magnets; without a schedule unknown, read as infinite "
        "(the highest band)",
    ),
)

FACTORS: dict[str, Factor] = {factor.name: factor for factor in _FACTOR_LIST}
"""Every rating factor, by name."""

EXPOSURES: dict[str, Callable[[Submission], float]] = {
    "lab": lambda s: 1.0,
    "headcount": lambda s: float(s.headcount),
    "cold_storage_units": lambda s: float(
        s.cold_storage.ultra_low_freezers + s.cold_storage.ln2_dewars
    ),
    "equipment_value_millions": lambda s: s.values.equipment / 1e6,
}
"""Exposure bases: a scenario's base rate is per unit of one of these."""
