"""Frequency and severity distributions, sampled by inverse CDF from given uniforms.

Every distribution is a frozen pydantic model with a ``family`` tag, so scenario definitions in
rating tables and JSON requests can name them (``{"family": "lognormal", "mu": 10, "sigma": 1.5}``).
Sampling never draws its own randomness: it maps survival probabilities ``q`` in ``(0, 1)`` (or
standard normal deviates ``z``) to values, monotonically. That is what makes results reproducible
and comparable across runs (common random numbers): the same ``q`` always gives the same count or
amount, a higher rate never gives fewer events and a larger scale never gives a smaller amount.

Example
-------
>>> import numpy as np
>>> sev = LogNormal.from_median_p95(median=150_000, p95=3_000_000)
>>> round(float(sev.isf(np.array([0.5]))[0]))
150000
>>> Poisson(rate=2.0).counts(np.array([0.99, 0.5, 1e-9])).tolist()
[0, 2, 15]
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Annotated, Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat
from scipy import special

try:  # Boost's negative binomial survival function, which scipy.stats.nbinom.sf evaluates:
    # called directly, so that importing the package does not import scipy.stats (about 45 MiB
    # and most of the import time). tests/model/test_distributions.py pins the equality.
    from scipy.special._ufuncs import _nbinom_sf
except ImportError:  # pragma: no cover - another scipy layout: the public function
    _nbinom_sf = None

from underwriting.errors import SimulationLimitError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_Z95 = float(special.ndtri(0.95))
_SMALLEST_SURVIVAL = 2.0**-54
"""Below the smallest uniform the generator produces (2**-53): the count table stops there."""
_MAX_TABLE = 50_000_000


MAX_SCALE = 1e15
"""Largest scale of a severity (currency, or days, or a damage ratio): far beyond any lab."""
MAX_LOG_SCALE = 35.0
"""Largest ``|mu|`` of a lognormal: ``exp(35)`` is about 1.6e15."""
MAX_SIGMA = 5.0
"""Largest lognormal ``sigma``: a 95th percentile about 3,700 times the median."""
MAX_GAMMA_SHAPE = 1e6
MIN_PARETO_ALPHA = 0.5
"""Smallest Pareto tail index. These bounds are the parameter domain: within them the largest
draw from one uniform (at 2**-53, a normal deviate of about 8.3), its square and its fourth power
stay finite in float64, so no simulated loss or metric becomes infinite or NaN. A partially
correlated impact mixes two normal deviates (``sqrt(rho) * f + sqrt(1 - rho) * e``, up to about
11.7 in principle); with both at their extremes, a Pareto of tail index near 0.5 at the largest
scales could still overflow the fourth power, at a probability below 1e-30 per draw."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- frequencies


class _Frequency(_Model):
    """Annual event counts, sampled through a table of survival probabilities."""

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def variance(self) -> float:
        raise NotImplementedError

    def _survival(self, k: IntArray) -> FloatArray:
        raise NotImplementedError

    def scaled(self, multiplier: float) -> Self:
        """The same distribution with its expected count multiplied by ``multiplier``."""
        return self.with_rate(self.mean * multiplier)

    def with_rate(self, rate: float) -> Self:
        """The same distribution with expected count ``rate`` (a new instance: the cached count
        table must not be carried over, as ``model_copy`` would)."""
        return type(self).model_validate({**self.model_dump(), "rate": rate})

    @cached_property
    def survival_table(self) -> FloatArray:
        """``P(N > k)`` for ``k = 0, 1, ...`` until it falls below 2**-54, shape ``(K,)``."""
        if self.mean == 0:
            return np.zeros(0)
        size = max(32, int(self.mean + 12 * math.sqrt(self.variance) + 32))
        while True:
            if size > _MAX_TABLE:
                raise SimulationLimitError(
                    f"expected count {self.mean:g} per year is too large to simulate "
                    f"(the count table would exceed {_MAX_TABLE:,} entries)"
                )
            sf = self._survival(np.arange(size, dtype=np.int64))
            if sf[-1] < _SMALLEST_SURVIVAL:
                cut = int(np.searchsorted(-sf, -_SMALLEST_SURVIVAL, side="left"))
                return np.ascontiguousarray(sf[: cut + 1])
            size *= 2

    def counts(self, q: FloatArray) -> IntArray:
        """Event counts for survival probabilities ``q`` in ``(0, 1)``: ``N = #{k: P(N>k) > q}``.

        Non-decreasing in the rate for a fixed ``q`` (the survival function of a Poisson or
        negative binomial count rises with its mean), and non-increasing in ``q``.
        """
        table = self.survival_table
        if table.size == 0:
            return np.zeros(q.shape, dtype=np.int64)
        ascending = table[::-1]
        return (table.size - np.searchsorted(ascending, q, side="left")).astype(np.int64)


class Poisson(_Frequency):
    """Poisson annual count with ``rate`` events per year."""

    family: Literal["poisson"] = "poisson"
    rate: float = Field(ge=0, allow_inf_nan=False, description="expected events per year")

    @property
    def mean(self) -> float:
        return self.rate

    @property
    def variance(self) -> float:
        return self.rate

    def _survival(self, k: IntArray) -> FloatArray:
        # scipy.stats.poisson.sf(k, rate) is this function (Cephes' pdtrc) for k >= 0.
        return np.asarray(special.pdtrc(k, self.rate), dtype=np.float64)


class NegativeBinomial(_Frequency):
    """Negative binomial annual count: Poisson with a gamma-distributed rate.

    ``rate`` is the expected count per year and ``rate_cv`` the coefficient of variation of the
    uncertain rate (the gamma mixing distribution), so ``Var N = rate + (rate_cv * rate)**2``.
    """

    family: Literal["negative_binomial"] = "negative_binomial"
    rate: float = Field(ge=0, allow_inf_nan=False, description="expected events per year")
    rate_cv: PositiveFloat = Field(
        allow_inf_nan=False, description="coefficient of variation of the rate"
    )

    @property
    def mean(self) -> float:
        return self.rate

    @property
    def variance(self) -> float:
        return self.rate + (self.rate_cv * self.rate) ** 2

    def _survival(self, k: IntArray) -> FloatArray:
        n = 1.0 / self.rate_cv**2
        p = n / (n + self.rate)
        if _nbinom_sf is None:  # pragma: no cover
            from scipy import stats

            return np.asarray(stats.nbinom.sf(k, n, p), dtype=np.float64)
        return np.asarray(_nbinom_sf(k.astype(np.float64), n, p), dtype=np.float64)


class Fixed(_Frequency):
    """Exactly ``count`` events every year: a forced event for stress tests ("what if a fire
    happens this year?")."""

    family: Literal["fixed"] = "fixed"
    count: int = Field(ge=0, le=1_000)

    @property
    def mean(self) -> float:
        return float(self.count)

    @property
    def variance(self) -> float:
        return 0.0

    def _survival(self, k: IntArray) -> FloatArray:
        return (k < self.count).astype(np.float64)

    @cached_property
    def survival_table(self) -> FloatArray:
        return np.ones(self.count)

    def with_rate(self, rate: float) -> Self:
        if rate != self.count:
            raise ValueError(f"a fixed count of {self.count} events cannot take rate {rate}")
        return self


class AtLeastOne(_Frequency):
    """The count of ``base`` in a year known to have at least one event: ``P(N > k | N >= 1)``
    is ``P(N > k) / P(N > 0)`` (``base``'s own table, so the same draws for the same uniforms
    above the first step). The stratum of a stratified quote in which a rare scenario occurs
    (``underwriting.engine.rare_strata``)."""

    family: Literal["at_least_one"] = "at_least_one"
    base: Poisson | NegativeBinomial = Field(discriminator="family")

    @property
    def mean(self) -> float:
        return float(self.survival_table.sum())

    @property
    def variance(self) -> float:
        table = self.survival_table
        return float(np.dot(2.0 * np.arange(table.size), table)) + self.mean - self.mean**2

    @cached_property
    def survival_table(self) -> FloatArray:
        table = self.base.survival_table
        if table.size == 0:
            raise ValueError("a count with no events cannot be conditioned on at least one")
        conditioned = table / table[0]
        conditioned[0] = 1.0
        return np.ascontiguousarray(conditioned)

    def with_rate(self, rate: float) -> Self:
        raise ValueError("a count conditioned on at least one event has no rate to change")


Frequency = Annotated[Poisson | NegativeBinomial | Fixed, Field(discriminator="family")]
"""The counts a profile is written with. :class:`AtLeastOne` is not among them: the engine
makes it for a stratum (``underwriting.engine.rare_strata``), and no request or table names
it."""


# --------------------------------------------------------------------------- severities


class _Severity(_Model):
    """A positive severity (amount, damage ratio or days), sampled by inverse survival."""

    def isf(self, q: FloatArray) -> FloatArray:
        """Inverse survival function: the ``x`` with ``P(X > x) = q``, elementwise."""
        raise NotImplementedError

    def sf(self, x: FloatArray) -> FloatArray:
        """Survival function ``P(X > x)``, elementwise (the exact method's discretisation)."""
        raise NotImplementedError

    def from_normal(self, z: FloatArray) -> FloatArray:
        """The value at standard normal deviate ``z`` (a Gaussian copula's marginal)."""
        return self.isf(special.ndtr(-z))

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def tail_index(self) -> float:
        """Moments of order below this are finite, the others infinite (``inf``: all finite).

        The mean is infinite when it is at most 1, the variance when it is at most 2.
        """
        return math.inf

    @property
    def tail_parameter(self) -> str | None:
        """The parameter that sets :attr:`tail_index` (``None`` when every moment is finite)."""
        return None


class LogNormal(_Severity):
    """Lognormal severity: ``log X ~ Normal(mu, sigma**2)``."""

    family: Literal["lognormal"] = "lognormal"
    mu: float = Field(ge=-MAX_LOG_SCALE, le=MAX_LOG_SCALE, allow_inf_nan=False)
    sigma: PositiveFloat = Field(le=MAX_SIGMA, allow_inf_nan=False)

    @classmethod
    def from_median_p95(cls, median: float, p95: float) -> LogNormal:
        """The lognormal with the given median and 95th percentile, LN(m, p95).

        The notation of the scenario table, docs/sources.md#research-5.
        """
        if not 0 < median < p95:
            raise ValueError(f"need 0 < median < p95, got median={median}, p95={p95}")
        return cls(mu=math.log(median), sigma=math.log(p95 / median) / _Z95)

    def isf(self, q: FloatArray) -> FloatArray:
        return np.asarray(np.exp(self.mu - self.sigma * special.ndtri(q)), dtype=np.float64)

    def sf(self, x: FloatArray) -> FloatArray:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(x, 0.0)) - self.mu) / self.sigma
        return np.asarray(special.ndtr(-z), dtype=np.float64)

    def from_normal(self, z: FloatArray) -> FloatArray:
        return np.exp(self.mu + self.sigma * z)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    def limited_expected_value(self, limit: float) -> float:
        """``E[min(X, limit)]`` in closed form (Klugman, Panjer and Willmot, Loss Models, A.4)."""
        if limit <= 0:
            return 0.0
        if math.isinf(limit):
            return self.mean
        log_limit = math.log(limit)
        below = special.ndtr((log_limit - self.mu - self.sigma**2) / self.sigma)
        survival = special.ndtr(-(log_limit - self.mu) / self.sigma)
        return float(self.mean * below + limit * survival)


class Gamma(_Severity):
    """Gamma severity with ``shape`` and ``scale`` (mean ``shape * scale``)."""

    family: Literal["gamma"] = "gamma"
    shape: PositiveFloat = Field(le=MAX_GAMMA_SHAPE, allow_inf_nan=False)
    scale: PositiveFloat = Field(le=MAX_SCALE, allow_inf_nan=False)

    def isf(self, q: FloatArray) -> FloatArray:
        return np.asarray(self.scale * special.gammainccinv(self.shape, q), dtype=np.float64)

    def sf(self, x: FloatArray) -> FloatArray:
        x = np.asarray(x, dtype=np.float64)
        return np.asarray(
            special.gammaincc(self.shape, np.maximum(x, 0.0) / self.scale), dtype=np.float64
        )

    @property
    def mean(self) -> float:
        return self.shape * self.scale


class Pareto(_Severity):
    """Single-parameter (type I) Pareto: ``P(X > x) = (scale / x)**alpha`` for ``x >= scale``."""

    family: Literal["pareto"] = "pareto"
    alpha: float = Field(ge=MIN_PARETO_ALPHA, allow_inf_nan=False, description="tail index")
    scale: PositiveFloat = Field(le=MAX_SCALE, allow_inf_nan=False, description="smallest value")

    def isf(self, q: FloatArray) -> FloatArray:
        return np.asarray(self.scale * q ** (-1.0 / self.alpha), dtype=np.float64)

    def sf(self, x: FloatArray) -> FloatArray:
        x = np.asarray(x, dtype=np.float64)
        ratio = self.scale / np.maximum(x, self.scale)
        return np.asarray(ratio**self.alpha, dtype=np.float64)

    @property
    def mean(self) -> float:
        return math.inf if self.alpha <= 1 else self.alpha * self.scale / (self.alpha - 1)

    @property
    def tail_index(self) -> float:
        """``alpha``: ``E[X**k]`` is finite for ``k < alpha`` only."""
        return self.alpha

    @property
    def tail_parameter(self) -> str | None:
        return "alpha"


class LogNormalGPD(_Severity):
    """A lognormal body spliced to a generalised Pareto tail above ``threshold``.

    Below the threshold the distribution is the lognormal ``(mu, sigma)``; above it, the
    conditional excess is GPD with shape ``xi`` and scale ``tail_scale``, carrying the
    lognormal's own probability of exceeding the threshold. Without ``tail_scale`` the scale
    makes the density continuous at the threshold: ``(1 - F(u)) / f(u)``.
    """

    family: Literal["lognormal_gpd"] = "lognormal_gpd"
    mu: float = Field(ge=-MAX_LOG_SCALE, le=MAX_LOG_SCALE, allow_inf_nan=False)
    sigma: PositiveFloat = Field(le=MAX_SIGMA, allow_inf_nan=False)
    threshold: PositiveFloat = Field(le=MAX_SCALE, allow_inf_nan=False)
    xi: float = Field(ge=0, lt=1, allow_inf_nan=False, description="GPD shape (tail heaviness)")
    tail_scale: PositiveFloat | None = Field(default=None, le=MAX_SCALE, allow_inf_nan=False)

    @classmethod
    def from_median_p95(
        cls, median: float, p95: float, *, threshold: float, xi: float
    ) -> LogNormalGPD:
        """Body LN(median, p95) as in docs/sources.md#research-5, tail GPD(threshold, xi)."""
        body = LogNormal.from_median_p95(median, p95)
        return cls(mu=body.mu, sigma=body.sigma, threshold=threshold, xi=xi)

    @property
    def _threshold_z(self) -> float:
        return (math.log(self.threshold) - self.mu) / self.sigma

    @property
    def tail_probability(self) -> float:
        """``P(X > threshold)``."""
        return float(special.ndtr(-self._threshold_z))

    @property
    def beta(self) -> float:
        """The GPD scale in use."""
        if self.tail_scale is not None:
            return self.tail_scale
        density = math.exp(-0.5 * self._threshold_z**2) / (
            self.threshold * self.sigma * math.sqrt(2 * math.pi)
        )
        return self.tail_probability / density

    def isf(self, q: FloatArray) -> FloatArray:
        tail = self.tail_probability
        body = np.exp(self.mu - self.sigma * special.ndtri(q))
        ratio = np.minimum(q / tail, 1.0)
        if self.xi == 0:
            excess = -self.beta * np.log(ratio)
        else:
            excess = self.beta / self.xi * (ratio ** (-self.xi) - 1.0)
        return np.where(q < tail, self.threshold + excess, np.minimum(body, self.threshold))

    def sf(self, x: FloatArray) -> FloatArray:
        x = np.asarray(x, dtype=np.float64)
        body = LogNormal(mu=self.mu, sigma=self.sigma).sf(np.minimum(x, self.threshold))
        excess = np.maximum(x - self.threshold, 0.0) / self.beta
        if self.xi == 0:
            tail = self.tail_probability * np.exp(-excess)
        else:
            tail = self.tail_probability * (1.0 + self.xi * excess) ** (-1.0 / self.xi)
        return np.asarray(np.where(x > self.threshold, tail, body), dtype=np.float64)

    @property
    def mean(self) -> float:
        body = LogNormal(mu=self.mu, sigma=self.sigma)
        below = body.limited_expected_value(self.threshold) - self.threshold * self.tail_probability
        return below + self.tail_probability * (self.threshold + self.beta / (1 - self.xi))

    @property
    def tail_index(self) -> float:
        """``1 / xi``: a GPD tail has ``E[X**k]`` finite for ``k < 1 / xi`` only (all if 0)."""
        return math.inf if self.xi == 0 else 1.0 / self.xi

    @property
    def tail_parameter(self) -> str | None:
        return None if self.xi == 0 else "xi"


Severity = Annotated[LogNormal | Gamma | Pareto | LogNormalGPD, Field(discriminator="family")]
