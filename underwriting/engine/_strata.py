"""Strata of rare scenarios, for a premium estimated by stratified sampling.

A lab's premium is driven by scenarios that occur once in a few hundred years (a major fire, an
explosion, a natural catastrophe): a plain sample of years sees few of them, and most of its
error is whether it saw one more or one fewer. Stratified sampling splits the years by which of
those scenarios occur, at probabilities known exactly from their count distributions, and draws
each part on its own:

- the stratum ``(none)``: years in which no rare scenario has an event of its own, drawn from the
  profile with the rare scenarios' counts set to zero;
- one stratum per rare scenario ``r`` (in profile order): years in which ``r`` is the first rare
  scenario with an event, drawn with the earlier rare scenarios' counts at zero and ``r``'s
  count conditioned on at least one event (:class:`underwriting.model.AtLeastOne`).

These strata partition the years, and their probabilities, ``prod_{s < r} P(N_s = 0) P(N_r > 0)``
and ``prod_s P(N_s = 0)``, add up to one. Every other scenario, the cascades an event triggers
and the terms are those of the profile, so a stratum's years are the profile's years given the
stratum, and ``E[X] = sum_h P(h) E[X | h]`` for any function ``X`` of a year. A scenario is rare
when its chance of an event in a year is below the tables' threshold and its count is Poisson or
negative binomial; one that shares draws with another (a shared occurrence or stream) is not
stratified.

Each stratum draws from its own seed (:func:`stratum_seed`), so its years are independent of the
quote's own run and of the other strata, reproducible, and the same for every set of terms.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from underwriting.model import SEED_BITS, AtLeastOne, NegativeBinomial, Poisson
from underwriting.rating import RiskProfile, Scenario

NO_RARE_EVENT = "(none)"
"""The label of the stratum of years with no rare scenario's own event (no scenario id starts
with a parenthesis, so it is never a rare scenario's label)."""


@dataclass(frozen=True, slots=True)
class Stratum:
    """One part of the years: ``label`` (``"(none)"`` or the rare scenario's id), its exact
    ``probability`` and the ``profile`` that draws years given it."""

    label: str
    probability: float
    profile: RiskProfile


def _chance_of_an_event(scenario: Scenario) -> float:
    table = scenario.frequency.survival_table
    return float(table[0]) if table.size else 0.0


def rare_strata(profile: RiskProfile, below: float) -> tuple[Stratum, ...]:
    """The strata of ``profile`` on its scenarios with a chance of an event in a year in
    ``(0, below)``: ``()`` if it has none. The probabilities add up to one (to rounding)."""
    streams = Counter(s.stream_id for s in profile.scenarios)
    streams.update(s.occurrence.stream for s in profile.scenarios if s.occurrence is not None)
    rare = [
        s
        for s in profile.scenarios
        if s.occurrence is None
        and streams[s.stream_id] == 1
        and isinstance(s.frequency, Poisson | NegativeBinomial)
        and 0.0 < _chance_of_an_event(s) < below
    ]
    if not rare:
        return ()
    strata = []
    quiet: dict[str, Scenario] = {}  # the rare scenarios before, with no event
    none_before = 1.0
    for scenario in rare:
        chance = _chance_of_an_event(scenario)
        frequency = AtLeastOne(base=scenario.frequency)
        occurring = scenario.model_copy(update={"frequency": frequency})
        strata.append(
            Stratum(
                scenario.id,
                none_before * chance,
                _replaced(profile, {**quiet, scenario.id: occurring}),
            )
        )
        quiet[scenario.id] = scenario.model_copy(
            update={"frequency": scenario.frequency.with_rate(0.0)}
        )
        none_before *= 1.0 - chance
    return (Stratum(NO_RARE_EVENT, none_before, _replaced(profile, quiet)), *strata)


def _replaced(profile: RiskProfile, scenarios: dict[str, Scenario]) -> RiskProfile:
    return profile.model_copy(
        update={"scenarios": [scenarios.get(s.id, s) for s in profile.scenarios]}
    )


def stratum_seed(seed: int, label: str) -> int:
    """The seed of stratum ``label`` of a quote with ``seed``: a hash of both, so that every
    stratum draws its own years."""
    digest = hashlib.blake2b(f"stratum\x00{seed}\x00{label}".encode(), digest_size=32).digest()
    return int.from_bytes(digest, "little") % (1 << SEED_BITS)
