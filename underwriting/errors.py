"""Exceptions raised by the underwriting engine.

The tree::

    UnderwritingError            anything the domain cannot do
    ├── RatingTableError         a rating table is missing, corrupt or inconsistent
    │                            (names the file, the row and the field)
    ├── ProfileError             a submission cannot be turned into a risk profile
    ├── TermsError               policy terms cannot be applied to the losses given
    ├── SimulationLimitError     a simulation would be too large (events or years)
    ├── ExactMethodError         the exact (FFT) method does not apply to a profile or terms
    │                            (names each scenario or term that stops it)
    └── WorkflowError            an action on a quote record that its state, its validity or the
        │                        actor's authority does not allow
        ├── TransitionError      the quote's state does not allow the action (names the state,
        │                        the action and the states that allow it)
        ├── AuthorityError       the actor's role lacks the authority the action needs
        ├── QuoteExpiredError    the quote is past its valid_until (names the date)
        ├── OfferError           an offered premium the tables do not allow (names the reason,
        │                        the value, what is allowed and the tables version)
        └── RevisionError        a revision the parent quote does not allow

Shape and type problems in inputs are pydantic ``ValidationError`` at the boundary, not these.
Declines and referrals are results with reasons, never exceptions. Input that is legal but
suspicious is accepted with an :class:`UnderwritingWarning` carried in the result.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnderwritingError(Exception):
    """Base class of every domain error raised by the engine."""


class RatingTableError(UnderwritingError):
    """A rating table cannot be used.

    Parameters
    ----------
    message
        What is wrong and what is allowed.
    file, row, field
        Where it is wrong: the file name inside the tables version, the 1-based data row (the
        header is row 0 for CSV files) and the field name, each ``None`` when not applicable.
    version
        The rating-tables version being loaded.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        version: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.field = field
        self.version = version
        where = []
        if version is not None:
            where.append(f"tables {version}")
        if file is not None:
            where.append(file)
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ProfileError(UnderwritingError):
    """A submission cannot be rated with the tables given."""


class HeavyTailError(ProfileError):
    """A severity has an infinite mean and nothing caps the insured loss: no price exists.

    ``field`` is the dotted path of the severity's tail parameter
    (``"profile.scenarios[0].impacts[0].severity.alpha"``), ``value`` its value.
    """

    def __init__(self, message: str, *, field: str, value: float) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class TermsError(UnderwritingError):
    """Policy terms cannot be applied to the event losses given."""


class SimulationLimitError(UnderwritingError):
    """A simulation would need more events or memory than allowed."""


class ExactMethodError(UnderwritingError):
    """The exact method (:func:`underwriting.engine.exact`) does not apply: the message names
    each scenario or term that stops it and what would allow it. Simulate instead."""


class WorkflowError(UnderwritingError):
    """An action on a quote record that its state, its validity or the actor's authority does not
    allow. ``status`` is the quote's state, ``action`` the action attempted."""

    def __init__(self, message: str, *, status: str, action: str) -> None:
        super().__init__(message)
        self.status = status
        self.action = action


class TransitionError(WorkflowError):
    """The quote's state does not allow the action; ``allowed_from`` are the states that do."""

    def __init__(
        self, message: str, *, status: str, action: str, allowed_from: tuple[str, ...]
    ) -> None:
        super().__init__(message, status=status, action=action)
        self.allowed_from = allowed_from


class AuthorityError(WorkflowError):
    """The actor's role lacks the authority the action needs (``required``; ``role`` held)."""

    def __init__(
        self, message: str, *, status: str, action: str, role: str, required: str | None
    ) -> None:
        super().__init__(message, status=status, action=action)
        self.role = role
        self.required = required


class QuoteExpiredError(WorkflowError):
    """The quote is past its ``valid_until``: it can no longer be decided, offered or bound."""

    def __init__(self, message: str, *, status: str, action: str, valid_until: str) -> None:
        super().__init__(message, status=status, action=action)
        self.valid_until = valid_until


class OfferError(WorkflowError):
    """An offered premium the rating tables do not allow: an unknown reason, a credit outside its
    range, a total no authority may approve, or tables without schedule credits."""


class RevisionError(WorkflowError):
    """A revision the parent quote does not allow (a patch that changes its seed)."""


@dataclass(frozen=True, slots=True)
class UnderwritingWarning:
    """Input or a result that is legal but suspicious: machine-readable, shown with the quote.

    Attributes
    ----------
    code
        A stable identifier clients may switch on (``"CLAIM_OUTSIDE_WINDOW"``).
    message
        One sentence a person understands: what was seen and what it does to the price.
    field
        The dotted path of the input concerned (``"submission.claims_history.claims[0].date"``),
        or ``None`` when the warning is about a result.
    value
        The value found there, when it is a scalar.
    """

    code: str
    message: str
    field: str | None = None
    value: str | int | float | bool | None = None

    def to_dict(self) -> dict[str, str | int | float | bool | None]:
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "value": self.value,
        }
