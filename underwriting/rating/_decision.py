"""The underwriting decision: declarative rules from ``rules.toml``, evaluated without ``eval``.

A rule compares facts (the submission's fields, the simulated metrics, the premium and the
experience rating, by dotted name) with values from the tables. A firing ``decline`` rule declines
the quote; otherwise a firing ``refer`` rule refers it to the highest authority any firing rule
needs; otherwise it is quoted. Every firing rule is a reason: its code, a message a person
understands, and the figures that triggered it.

Example
-------
>>> from underwriting.rating import load_rating_tables
>>> rules = load_rating_tables("2026.1").rules
>>> decision = decide({"submission.biosafety_level": 4}, rules)
>>> decision.outcome, decision.reasons[0].code
('declined', 'D01_BSL4')
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from underwriting.rating._rules import Rule, RulesTable, Scalar, holds

Outcome = Literal["quoted", "referred", "declined"]
Fact = Scalar | None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a quote was declined or referred."""

    code: str
    outcome: Literal["decline", "refer"]
    message: str
    figures: Mapping[str, Fact]
    authority: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """``quoted``, ``referred`` (with the authority needed) or ``declined``, with the reasons."""

    outcome: Outcome
    reasons: tuple[Reason, ...] = ()
    authority_required: str | None = None
    rules_evaluated: tuple[str, ...] = field(default=())


class _PlainFormatter(string.Formatter):
    """``str.format`` restricted to plain names: no attribute or index access."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if not field_name.isidentifier():
            raise KeyError(field_name)
        return kwargs[field_name], field_name


def _figures(rule: Rule, facts: Mapping[str, Fact]) -> dict[str, Fact]:
    figures: dict[str, Fact] = {}
    for leaf in rule.leaves():
        name = leaf.fact.rsplit(".", 1)[-1]
        figures[name] = facts.get(leaf.fact)
        if not isinstance(leaf.value, tuple):
            figures[f"{name}_threshold"] = leaf.value
    for fact in rule.show:
        figures[fact.rsplit(".", 1)[-1]] = facts.get(fact)
    return figures


def _message(rule: Rule, figures: Mapping[str, Fact]) -> str:
    try:
        return _PlainFormatter().vformat(rule.message, (), dict(figures))
    except (KeyError, ValueError, TypeError, IndexError):
        # A figure is missing or of another type than the message expects: keep the text.
        return rule.message


def decide(facts: Mapping[str, Fact], rules: RulesTable) -> Decision:
    """Evaluate every rule on the facts and decide.

    Parameters
    ----------
    facts
        Dotted fact names (``"submission.values.total_insured_value"``) and their values.
    rules
        The rules table of the rating tables.
    """
    reasons = []
    for rule in rules.rules:
        if holds(rule.when, facts):
            figures = _figures(rule, facts)
            reasons.append(
                Reason(
                    code=rule.code,
                    outcome=rule.outcome,
                    message=_message(rule, figures),
                    figures=figures,
                    authority=rule.authority,
                )
            )
    evaluated = tuple(rule.code for rule in rules.rules)
    if any(reason.outcome == "decline" for reason in reasons):
        declines = tuple(reason for reason in reasons if reason.outcome == "decline")
        return Decision("declined", declines, None, evaluated)
    if reasons:
        levels = rules.authority_levels
        authority = max((r.authority for r in reasons if r.authority), key=levels.index)
        return Decision("referred", tuple(reasons), authority, evaluated)
    return Decision("quoted", (), None, evaluated)
