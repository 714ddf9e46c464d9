"""The compiled engine's scalar functions: the hash, the normal quantile, severities, impacts.

Plain Python that numba compiles on first use (``_year_loop.compiled``) and inlines into the year
loop; nothing here allocates. Integer constants are uint64 so that numba keeps the hash in 64-bit
unsigned arithmetic, wrapping as NumPy's does. The hash and the draw dimensions are those of
:mod:`underwriting.engine._randomness`, where the NumPy engine's live: both engines draw the very
same uniforms, bit for bit. The terms' scalar form lives with the terms models and their NumPy
form, in :mod:`underwriting.terms` (``SCALAR_TERMS``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from underwriting.engine._plan import DAMAGE_RATIO, DOWNTIME, LOGNORMAL, PARETO
from underwriting.engine._randomness import (
    DIM_HIT,
    DIM_SEVERITY,
    GAMMA,
    M1,
    M2,
    S11,
    S16,
    S27,
    S30,
    S31,
    TO_UNIT,
)
from underwriting.model import SECTION_INDEX, Section
from underwriting.terms import occurrence_terms

_SQRT1_2 = math.sqrt(0.5)
RESEARCH_INTERRUPTION = SECTION_INDEX[Section.RESEARCH_INTERRUPTION]
"""The column of the section that downtime impacts pay in."""

HELPERS = (
    "mix",
    "year_state",
    "count_word",
    "uniform",
    "ndtri",
    "severity",
    "impacts",
)
"""The functions compiled and inlined, in an order where each one's callees come first."""


def mix(z: np.uint64) -> np.uint64:
    """SplitMix64's finaliser of one word (``_randomness._mix`` elementwise)."""
    z = z ^ (z >> S30)
    z = z * M1
    z = z ^ (z >> S27)
    z = z * M2
    return z ^ (z >> S31)


def year_state(low: np.uint64, high: np.uint64, year: int) -> np.uint64:
    """A stream's hash state of one year (``_randomness.year_states``)."""
    z = np.uint64(year) * GAMMA + low
    return mix(mix(z) ^ high)


def count_word(state: np.uint64) -> np.uint64:
    """The 53-bit hash word of a year's count uniform: ``uniform(state, 0, 0)`` before scaling.

    Event 0 and dimension 0 hash to 0 (``mix(0) == 0``), so only the state is mixed.
    """
    return mix(state) >> S11


def uniform(state: np.uint64, event: int, dimension: int) -> float:
    """The uniform of ``(year state, event, dimension)`` (``_randomness.uniforms_from_states``)."""
    z = ((np.uint64(event) << S16) | np.uint64(dimension)) * GAMMA
    z = mix(mix(z) ^ state) >> S11
    return (float(z) + 0.5) * TO_UNIT


def ndtri(p: float) -> float:
    """The standard normal quantile (Wichura 1988, algorithm AS241, as CPython's statistics)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (
            (
                (
                    (
                        (
                            (
                                (2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r
                                + 6.7265770927008700853e4
                            )
                            * r
                            + 4.5921953931549871457e4
                        )
                        * r
                        + 1.3731693765509461125e4
                    )
                    * r
                    + 1.9715909503065514427e3
                )
                * r
                + 1.3314166789178437745e2
            )
            * r
            + 3.3871328727963666080e0
        ) * q
        den = (
            (
                (
                    (
                        (
                            (5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r
                            + 3.9307895800092710610e4
                        )
                        * r
                        + 2.1213794301586595867e4
                    )
                    * r
                    + 5.3941960214247511077e3
                )
                * r
                + 6.8718700749205790830e2
            )
            * r
            + 4.2313330701600911252e1
        ) * r + 1.0
        return num / den
    r = p if q <= 0.0 else 1.0 - p
    if r <= 0.0:
        return -math.inf if q < 0.0 else math.inf
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r = r - 1.6
        num = (
            (
                (
                    (
                        (
                            (7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                            + 2.41780725177450611770e-1
                        )
                        * r
                        + 1.27045825245236838258e0
                    )
                    * r
                    + 3.64784832476320460504e0
                )
                * r
                + 5.76949722146069140550e0
            )
            * r
            + 4.63033784615654529590e0
        ) * r + 1.42343711074968357734e0
        den = (
            (
                (
                    (
                        (
                            (1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                            + 1.51986665636164571966e-2
                        )
                        * r
                        + 1.48103976427480074590e-1
                    )
                    * r
                    + 6.89767334985100004550e-1
                )
                * r
                + 1.67638483018380384940e0
            )
            * r
            + 2.05319162663775882187e0
        ) * r + 1.0
    else:
        r = r - 5.0
        num = (
            (
                (
                    (
                        (
                            (2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                            + 1.24266094738807843860e-3
                        )
                        * r
                        + 2.65321895265761230930e-2
                    )
                    * r
                    + 2.96560571828504891230e-1
                )
                * r
                + 1.78482653991729133580e0
            )
            * r
            + 5.46378491116411436990e0
        ) * r + 6.65790464350110377720e0
        den = (
            (
                (
                    (
                        (
                            (2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                            + 1.84631831751005468180e-5
                        )
                        * r
                        + 7.86869131145613259100e-4
                    )
                    * r
                    + 1.48753612908506148525e-2
                )
                * r
                + 1.36929880922735805310e-1
            )
            * r
            + 5.99832206555887937690e-1
        ) * r + 1.0
    x = num / den
    return -x if q < 0.0 else x


def severity(impact: Any, z: float) -> float:
    """The severity of an ``IMPACT`` record at standard normal deviate ``z`` (``from_normal``)."""
    family = impact["family"]
    if family == LOGNORMAL:
        return float(math.exp(impact["mu"] + impact["sigma"] * z))
    q = 0.5 * math.erfc(z * _SQRT1_2)  # P(X > x) = ndtr(-z)
    if family == PARETO:
        return float(impact["pareto_scale"] * q ** (-1.0 / impact["alpha"]))
    mu, sigma, threshold = impact["mu"], impact["sigma"], impact["threshold"]
    xi, beta, tail = impact["xi"], impact["beta"], impact["tail_probability"]
    if q < tail:
        ratio = min(q / tail, 1.0)
        excess = -beta * math.log(ratio) if xi == 0.0 else beta / xi * (ratio ** (-xi) - 1.0)
        return float(threshold + excess)
    return float(min(math.exp(mu - sigma * ndtri(q)), threshold))


def impacts(
    records: Any,
    first: int,
    last: int,
    state: np.uint64,
    factor_state: np.uint64,
    event: int,
    base: int,
    ground_up: Any,
    caps: Any,
    control_terms: Any,
    control_share: float,
) -> tuple[float, float, float, float]:
    """Add impacts ``first .. last - 1`` of one event into ``ground_up``: ``(daily cost,
    downtime, control, control squared)``. The NumPy engine's ``_numpy._draw_impacts``, one
    event at a time.

    The control is the sum over the impacts hit of ``control_share`` times the per-occurrence
    terms ``control_terms[0, section]`` (the quote's main terms) applied to the impact's own
    capped loss (``_control``: its mean is known exactly, which makes it a control variate);
    ``control_share`` 0 (a share is never 0) asks for no control, and it stays 0.
    """
    daily_cost = 0.0
    downtime = 0.0
    control = 0.0
    control_squared = 0.0
    event_factor = math.nan  # drawn when an impact hit first needs it
    for i in range(first, last):
        impact = records[i]
        column = impact["section"]
        basis = impact["basis"]
        hit_probability = impact["probability"]
        if hit_probability < 1.0 and not (
            uniform(state, event, base + DIM_HIT + 2 * column) < hit_probability
        ):
            # Not hit: a zero severity, as the NumPy engine's; its draws are not needed.
            amount = 0.0
        else:
            rho = impact["factor_loading_squared"]
            if rho != 0.0 and math.isnan(event_factor):
                event_factor = ndtri(uniform(factor_state, event, base))
            if rho == 1.0:
                z = event_factor
            else:
                own = ndtri(uniform(state, event, base + DIM_SEVERITY + 2 * column))
                if rho == 0.0:
                    z = own
                else:
                    z = math.sqrt(rho) * event_factor + math.sqrt(1.0 - rho) * own
            amount = severity(impact, z) * impact["severity_scale"]
        if basis == DAMAGE_RATIO:
            loss = impact["value"] * min(amount, 1.0)
            ground_up[column] += loss
            days = 0.0
            daily = 0.0
        elif basis == DOWNTIME:
            days = min(amount, impact["max_days"])
            downtime = max(downtime, days)
            daily = impact["value"]
            daily_cost = daily
            column = RESEARCH_INTERRUPTION
            loss = days * daily
        else:
            loss = min(amount, impact["value"])
            ground_up[column] += loss
            days = 0.0
            daily = 0.0
        # The control: this impact's own loss through the main terms' per-occurrence terms
        # (research interruption counts downtime only, as the events' ground-up does).
        if (
            control_share > 0.0
            and amount > 0.0
            and control_terms[0, column]["covered"]
            and (basis == DOWNTIME or column != RESEARCH_INTERRUPTION)
        ):
            paid = control_share * occurrence_terms(
                min(loss, caps[column]), days, daily, control_terms[0, column]
            )
            control += paid
            control_squared += paid * paid
    return daily_cost, downtime, control, control_squared
