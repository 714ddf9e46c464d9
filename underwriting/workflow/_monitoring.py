"""Rate monitoring: the book's risk-adjusted rate change and adequacy by month, lab category and
underwriter, the view Lloyd's asks of its managing agents in Minimum Standard MS3 (Price and
Rate Monitoring; docs/renewal.md).

Pure functions over plain records. Aggregates are ratios of sums, so a large policy counts for
more than a small one (premium weighting):

- rate change (renewals only): ``sum(P1) / sum(P0 * T3 / T0) - 1``, the renewal premiums over
  what the renewed risks would have cost at the expiring rates; equivalently, each renewal's
  ``1 + RARC`` weighted by its risk-adjusted expiring premium ``P0 * T3 / T0``;
- adequacy: ``sum(premium) / sum(technical)``; equivalently, each policy's adequacy weighted by
  its technical premium. Given for all business, for renewals and for new business apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from underwriting.errors import UnderwritingError
from underwriting.workflow._renewal import Renewal

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

_RENEWAL_FIELDS = ("expiring_premium", "expiring_technical", "like_for_like_technical")


@dataclass(frozen=True, slots=True)
class RateRecord:
    """One policy written: a renewal (with its RARC inputs) or new business (without).

    Attributes
    ----------
    month
        When it was written, ``"YYYY-MM"``.
    lab_category, underwriter
        What it is grouped by.
    premium
        The premium written (offered or bound), currency: ``P1`` for a renewal.
    technical
        Its technical premium (``T4`` for a renewal, on the tables it was priced with).
    expiring_premium, expiring_technical, like_for_like_technical
        Renewals only (all three, or none for new business): ``P0``, ``T0`` and ``T3``, the
        renewed risk on the expiring tables (:class:`Renewal`).
    """

    month: str
    lab_category: str
    underwriter: str
    premium: float
    technical: float
    expiring_premium: float | None = None
    expiring_technical: float | None = None
    like_for_like_technical: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.month, str) or not _MONTH.fullmatch(self.month):
            raise UnderwritingError(
                f"month is {self.month!r}; it must be a month written YYYY-MM, e.g. '2027-01'"
            )
        for name in ("lab_category", "underwriter"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise UnderwritingError(f"{name} is {value!r}; it must be a non-empty text")
        for name in ("premium", "technical"):
            _check_amount(name, getattr(self, name))
        given = [name for name in _RENEWAL_FIELDS if getattr(self, name) is not None]
        if given and len(given) != len(_RENEWAL_FIELDS):
            missing = [name for name in _RENEWAL_FIELDS if name not in given]
            raise UnderwritingError(
                f"a renewal record needs {', '.join(_RENEWAL_FIELDS)}; {', '.join(missing)} "
                "missing (new business gives none of them)"
            )
        for name in given:
            _check_amount(name, getattr(self, name))

    @property
    def kind(self) -> Literal["renewal", "new_business"]:
        """``renewal`` when the record carries its expiring figures, else ``new_business``."""
        return "renewal" if self.expiring_premium is not None else "new_business"

    @property
    def adequacy(self) -> float:
        """``premium / technical``."""
        return self.premium / self.technical

    @property
    def risk_adjusted_expiring_premium(self) -> float | None:
        """``P0 * T3 / T0``: the expiring premium carried to the renewed risk; ``None`` for new
        business."""
        if (
            self.expiring_premium is None
            or self.expiring_technical is None
            or self.like_for_like_technical is None
        ):
            return None
        return self.expiring_premium * self.like_for_like_technical / self.expiring_technical

    @property
    def rate_change(self) -> float | None:
        """The risk-adjusted rate change ``P1 / (P0 * T3 / T0) - 1``; ``None`` for new business."""
        adjusted = self.risk_adjusted_expiring_premium
        return None if adjusted is None else self.premium / adjusted - 1

    @classmethod
    def from_renewal(cls, renewal: Renewal, *, month: str, underwriter: str) -> RateRecord:
        """The record of a priced renewal (lab category from its submission)."""
        return cls(
            month=month,
            lab_category=renewal.renewal.submission.lab_category.value,
            underwriter=underwriter,
            premium=renewal.renewal_premium,
            technical=renewal.renewal.premium.technical,
            expiring_premium=renewal.expiring_premium,
            expiring_technical=renewal.expiring.premium.technical,
            like_for_like_technical=renewal.like_for_like.premium.technical,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RateRecord:
        """A record from a dictionary with the same keys; an unknown key is an error naming it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UnderwritingError(
                f"unknown field(s) {', '.join(map(repr, unknown))} in a rate record; allowed: "
                f"{', '.join(sorted(known))}"
            )
        missing = sorted(
            f.name for f in fields(cls) if f.name not in data and f.name not in _RENEWAL_FIELDS
        )
        if missing:
            raise UnderwritingError(f"a rate record needs {', '.join(missing)}")
        return cls(**data)


def _check_amount(name: str, amount: Any) -> None:
    if not (
        isinstance(amount, int | float)
        and not isinstance(amount, bool)
        and math.isfinite(amount)
        and amount > 0
    ):
        raise UnderwritingError(f"{name} is {amount!r}; it must be a positive finite amount")


@dataclass(frozen=True, slots=True)
class RateGroup:
    """The book's figures for one month, lab category, underwriter, or in all.

    Attributes
    ----------
    key
        The month, lab category or underwriter; ``"all"`` for the whole book.
    renewals, new_business
        How many records of each.
    premium, technical
        Sums over every record (currency).
    renewal_premium, expiring_premium, risk_adjusted_expiring_premium
        Sums over the renewals of ``P1``, ``P0`` and ``P0 * T3 / T0``.
    rate_change
        ``renewal_premium / risk_adjusted_expiring_premium - 1``; ``None`` without renewals.
    adequacy
        ``premium / technical`` over every record.
    renewal_adequacy, new_business_adequacy
        The same over renewals and over new business; ``None`` where there are none.
    """

    key: str
    renewals: int
    new_business: int
    premium: float
    technical: float
    renewal_premium: float
    expiring_premium: float
    risk_adjusted_expiring_premium: float
    rate_change: float | None
    adequacy: float
    renewal_adequacy: float | None
    new_business_adequacy: float | None

    @property
    def count(self) -> int:
        """Records in the group."""
        return self.renewals + self.new_business


@dataclass(frozen=True, slots=True)
class RateMonitoring:
    """Rate change and adequacy of a book, in all and by month, lab category and underwriter.

    Each grouping is sorted by its key.
    """

    book: RateGroup
    by_month: tuple[RateGroup, ...]
    by_lab_category: tuple[RateGroup, ...]
    by_underwriter: tuple[RateGroup, ...]

    def summary(self) -> str:
        """The four tables a person reads (RARC and adequacy as percentages and ratios)."""
        lines = [
            "RARC: renewal premium / risk-adjusted expiring premium - 1; adequacy: premium / "
            "technical (sums: premium-weighted)"
        ]
        for title, groups in (
            ("book", (self.book,)),
            ("by month", self.by_month),
            ("by lab category", self.by_lab_category),
            ("by underwriter", self.by_underwriter),
        ):
            lines.append(title)
            for group in groups:
                rarc = "-" if group.rate_change is None else f"{group.rate_change:+.1%}"
                lines.append(
                    f"  {group.key:<22} renewals {group.renewals:>4}  new {group.new_business:>4}"
                    f"  RARC {rarc:>7}  adequacy {group.adequacy:.3f}"
                )
        return "\n".join(lines)


def _group(key: str, records: list[RateRecord]) -> RateGroup:
    renewals = [r for r in records if r.kind == "renewal"]
    new = [r for r in records if r.kind == "new_business"]
    adjusted = sum(r.risk_adjusted_expiring_premium or 0.0 for r in renewals)
    renewal_premium = sum(r.premium for r in renewals)

    def adequacy(subset: list[RateRecord]) -> float | None:
        if not subset:
            return None
        return sum(r.premium for r in subset) / sum(r.technical for r in subset)

    premium = sum(r.premium for r in records)
    technical = sum(r.technical for r in records)
    return RateGroup(
        key=key,
        renewals=len(renewals),
        new_business=len(new),
        premium=premium,
        technical=technical,
        renewal_premium=renewal_premium,
        expiring_premium=sum(r.expiring_premium or 0.0 for r in renewals),
        risk_adjusted_expiring_premium=adjusted,
        rate_change=renewal_premium / adjusted - 1 if renewals else None,
        adequacy=premium / technical,
        renewal_adequacy=adequacy(renewals),
        new_business_adequacy=adequacy(new),
    )


def _grouped(records: list[RateRecord], key: Callable[[RateRecord], str]) -> tuple[RateGroup, ...]:
    groups: dict[str, list[RateRecord]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    return tuple(_group(name, groups[name]) for name in sorted(groups))


def monitor_rates(records: Iterable[RateRecord | Mapping[str, Any]]) -> RateMonitoring:
    """Aggregate renewals and new business into the rate-monitoring view.

    Parameters
    ----------
    records
        :class:`RateRecord` or dictionaries with its fields (renewals with ``expiring_premium``,
        ``expiring_technical`` and ``like_for_like_technical``).

    Raises
    ------
    UnderwritingError
        If there are no records, or a record is malformed (naming the record and the field).

    Example
    -------
    >>> book = monitor_rates([
    ...     {"month": "2027-01", "lab_category": "teaching", "underwriter": "li",
    ...      "premium": 110.0, "technical": 100.0, "expiring_premium": 100.0,
    ...      "expiring_technical": 100.0, "like_for_like_technical": 100.0},
    ...     {"month": "2027-01", "lab_category": "teaching", "underwriter": "li",
    ...      "premium": 90.0, "technical": 100.0}])
    >>> round(book.book.rate_change, 10), book.book.adequacy, book.book.count
    (0.1, 1.0, 2)
    """
    checked: list[RateRecord] = []
    for number, record in enumerate(records):
        try:
            checked.append(
                record if isinstance(record, RateRecord) else RateRecord.from_mapping(record)
            )
        except (UnderwritingError, TypeError) as error:
            raise UnderwritingError(f"records[{number}]: {error}") from error
    if not checked:
        raise UnderwritingError("no records to monitor: give at least one renewal or new policy")
    return RateMonitoring(
        book=_group("all", checked),
        by_month=_grouped(checked, lambda r: r.month),
        by_lab_category=_grouped(checked, lambda r: r.lab_category),
        by_underwriter=_grouped(checked, lambda r: r.underwriter),
    )
