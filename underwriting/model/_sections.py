"""The coverage sections of a laboratory all-risk policy (docs/sources.md#design-risk-model)."""

from __future__ import annotations

from enum import StrEnum


class Section(StrEnum):
    """A coverage section. The order of members is the column order of loss matrices."""

    PROPERTY = "property"
    """Property damage: building improvements, contents and equipment."""
    EQUIPMENT_BREAKDOWN = "equipment_breakdown"
    """Mechanical or electrical breakdown of scientific equipment (incl. magnet quench)."""
    SPOILAGE = "spoilage"
    """Spoilage of specimens and research materials (change in controlled environment)."""
    RESEARCH_INTERRUPTION = "research_interruption"
    """Extra expense / loss of research funding while the lab cannot work."""
    LIABILITY = "liability"
    """Third-party liability (visitors, students, contractors, neighbours)."""
    POLLUTION = "pollution"
    """Sudden and accidental pollution clean-up."""
    EMPLOYEE_INJURY = "employee_injury"
    """Researchers' personal accident / employer's liability."""


SECTIONS: tuple[Section, ...] = tuple(Section)
"""All sections, in column order."""

SECTION_INDEX: dict[Section, int] = {section: i for i, section in enumerate(SECTIONS)}
"""Column of each section in a loss matrix of shape ``(n, len(SECTIONS))``."""
