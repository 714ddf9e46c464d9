"""The lab submission: what an underwriter knows about one laboratory (the exposure).

A frozen pydantic model that refuses unknown fields and impossible values (negative amounts, a
share above 1, a biosafety level that does not exist), naming the field. Amounts are in the
policy currency, the rating tables' (``RatingTables.currency``).

Example
-------
>>> sub = Submission(lab_id="PHY-101", site_id="main-campus", lab_category="physics_engineering",
...                  hazard_grade="IV", area_m2=120, floor=2, construction="fire_resistive",
...                  headcount=8, student_share=0.5,
...                  values=Values(building_improvements=1e6, contents=5e5, equipment=4e6))
>>> sub.values.total_insured_value
5500000.0
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)

MAX_AMOUNT = 1e15
"""Largest amount (currency) or quantity a submission may state: far beyond any laboratory, and
small enough that sums of values and the squares of simulated losses stay finite."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LabCategory(StrEnum):
    """The dominant activity of the lab.

    Sources: docs/sources.md#research-2-1 and docs/sources.md#research-2-8.
    """

    CHEMICAL_SYNTHESIS = "chemical_synthesis"
    BIOLOGICAL = "biological"
    MATERIALS_ENERGY = "materials_energy"
    PHYSICS_ENGINEERING = "physics_engineering"
    CLEAN_ROOM = "clean_room"
    TEACHING = "teaching"


HazardGrade = Literal["I", "II", "III", "IV"]
"""China's 2024 university lab grading (教科信〔2024〕4号): I major, II high, III medium, IV low."""

Construction = Literal["fire_resistive", "non_combustible", "ordinary", "combustible"]
InspectionRegime = Literal["none", "annual", "quarterly", "monthly"]
BiosafetyLevel = Literal[1, 2, 3, 4]


class Values(_Model):
    """Sums insured and the research budget, in the policy currency."""

    building_improvements: NonNegativeFloat = Field(default=0.0, le=MAX_AMOUNT, allow_inf_nan=False)
    contents: NonNegativeFloat = Field(default=0.0, le=MAX_AMOUNT, allow_inf_nan=False)
    equipment: NonNegativeFloat = Field(default=0.0, le=MAX_AMOUNT, allow_inf_nan=False)
    specimens: NonNegativeFloat = Field(
        default=0.0, le=MAX_AMOUNT, allow_inf_nan=False, description="specimens at re-creation cost"
    )
    annual_research_spend: NonNegativeFloat = Field(
        default=0.0, le=MAX_AMOUNT, allow_inf_nan=False, description="for research interruption"
    )

    @property
    def property_value(self) -> float:
        """Value exposed to property damage: building improvements, contents and equipment."""
        return self.building_improvements + self.contents + self.equipment

    @property
    def total_insured_value(self) -> float:
        """Property value plus specimens (research interruption is a time element, not a TIV)."""
        return self.property_value + self.specimens


class EquipmentItem(_Model):
    """One scheduled instrument."""

    type: str = Field(min_length=1, max_length=200)
    value: NonNegativeFloat = Field(le=MAX_AMOUNT, allow_inf_nan=False)
    age_years: NonNegativeFloat = Field(allow_inf_nan=False, le=100)
    cryogenic_magnet: bool = Field(default=False, description="NMR/MRI superconducting magnet")


class GasCylinders(_Model):
    """Gas cylinders on hand, by class."""

    flammable: NonNegativeInt = Field(default=0, description="including hydrogen")
    toxic: NonNegativeInt = 0
    oxidising: NonNegativeInt = 0
    inert: NonNegativeInt = 0


class ChemicalInventory(_Model):
    """Hazardous chemicals on hand (docs/sources.md#research-2-3)."""

    flammable_liquids_litres: NonNegativeFloat = Field(
        default=0.0, le=MAX_AMOUNT, allow_inf_nan=False
    )
    gas_cylinders: GasCylinders = GasCylinders()
    pyrophoric: bool = False
    water_reactive: bool = False
    explosive: bool = False
    acutely_toxic: bool = False
    explosives_manufacturing: bool = Field(
        default=False, description="the lab manufactures explosives (not only holds them)"
    )


class ColdStorage(_Model):
    """Freezers and cryogenic storage (docs/sources.md#research-2-7)."""

    ultra_low_freezers: NonNegativeInt = 0
    ln2_dewars: NonNegativeInt = 0
    remote_alarm: bool = False
    backup_power: bool = False
    backup_freezer: bool = False


class Protections(_Model):
    """Fire and safety protections and management.

    Sources: docs/sources.md#research-2-5 and docs/sources.md#research-2-6.
    """

    sprinklers: bool = False
    fire_detection: bool = False
    gas_detection: bool = False
    certified_fume_hoods: bool = False
    flammable_cabinets: bool = False
    safety_training: bool = False
    inspection_regime: InspectionRegime = "none"


class NaturalHazards(_Model):
    """Natural-hazard exposure of the site."""

    flood_zone: bool = False
    typhoon_zone: bool = False
    earthquake_zone: bool = False
    critical_assets_below_ground: bool = Field(
        default=False, description="freezers, generators or animals in a basement"
    )


class Claim(_Model):
    """One past claim."""

    scenario: str = Field(min_length=1, description="scenario id from the rating tables")
    date: dt.date
    amount: NonNegativeFloat = Field(le=MAX_AMOUNT, allow_inf_nan=False)


class ClaimsHistory(_Model):
    """The lab's own claims experience."""

    years_observed: NonNegativeFloat = Field(default=0.0, le=100, allow_inf_nan=False)
    claims: tuple[Claim, ...] = ()

    @model_validator(mode="after")
    def _claims_need_years(self) -> Self:
        if self.claims and self.years_observed == 0:
            raise ValueError("claims are listed but years_observed is 0; give the years observed")
        return self


class Submission(_Model):
    """Everything the engine needs to know about one laboratory."""

    lab_id: str = Field(min_length=1, max_length=100)
    lab_name: str = Field(default="", max_length=200)
    institution: str = Field(default="", max_length=200)
    site_id: str = Field(min_length=1, max_length=100, description="labs on one site share events")
    lab_category: LabCategory
    hazard_grade: HazardGrade
    area_m2: float = Field(gt=0, le=1_000_000, allow_inf_nan=False)
    floor: int = Field(ge=-10, le=200, description="floor level; negative below ground")
    construction: Construction
    headcount: PositiveInt = Field(le=100_000)
    student_share: float = Field(
        ge=0, le=1, allow_inf_nan=False, description="share of students or new entrants"
    )
    values: Values
    equipment_schedule: tuple[EquipmentItem, ...] = ()
    chemicals: ChemicalInventory = ChemicalInventory()
    biosafety_level: BiosafetyLevel | None = Field(
        default=None, description="1-4, or null for no biological agents"
    )
    cold_storage: ColdStorage = ColdStorage()
    protections: Protections = Protections()
    natural_hazards: NaturalHazards = NaturalHazards()
    claims_history: ClaimsHistory = ClaimsHistory()

    @model_validator(mode="after")
    def _schedule_within_equipment_value(self) -> Self:
        scheduled = sum(item.value for item in self.equipment_schedule)
        if scheduled > self.values.equipment * (1 + 1e-9):
            raise ValueError(
                # ``:,`` is the shortest exact form: 0.33 reads 0.33, not 0 (``:,.0f`` did).
                f"equipment_schedule totals {scheduled:,} but values.equipment is "
                f"{self.values.equipment:,}; the schedule must be part of the equipment value"
            )
        return self

    @property
    def cryogenic_magnets(self) -> int:
        """Number of scheduled superconducting magnets."""
        return sum(1 for item in self.equipment_schedule if item.cryogenic_magnet)

    @property
    def equipment_age_years(self) -> float:
        """Value-weighted mean age of the scheduled equipment (0 without a schedule)."""
        total = sum(item.value for item in self.equipment_schedule)
        if total == 0:
            return 0.0
        return sum(item.value * item.age_years for item in self.equipment_schedule) / total
