"""A quote request: the lab submission, the policy terms asked for, and how to quote them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from underwriting.model import SeedText, Submission
from underwriting.terms import PolicyTerms, cover_problems


def _quotable(terms: PolicyTerms) -> PolicyTerms:
    problems = cover_problems(terms)
    if problems:
        raise ValueError("; ".join(problems))
    return terms


QuotableTerms = Annotated[PolicyTerms, AfterValidator(_quotable)]
"""Policy terms that give cover: :func:`underwriting.terms.cover_problems` finds nothing."""

OptionLabel = Annotated[str, Field(min_length=1, max_length=80, pattern=r"\S")]
"""The caller's name for an option ("higher deductible"): not blank, at most 80 characters."""


def option_labels(labels: tuple[str, ...], count: int) -> tuple[str, ...]:
    """The label of each of ``count`` options: the caller's, then ``option N`` for the rest."""
    return tuple(labels[n] if n < len(labels) else f"option {n + 1}" for n in range(count))


class QuoteRequest(BaseModel):
    """``{"submission": {...}, "terms": {...}}``, as sent by an underwriter or kept in a file.

    Optional: ``options`` (alternative terms priced on the same events), ``option_labels`` (the
    caller's name for each option, in order; an option without one is ``option N``), ``seed``
    (a decimal string: 128-bit integers lose precision in JavaScript clients) and
    ``target_relative_error`` (precision of the technical premium).

    The terms and every option must give cover (:func:`underwriting.terms.cover_problems`): no
    empty ``sections``, no limit of 0, no deductible above its limit, no waiting period as long
    as the indemnity period.

    Example
    -------
    >>> import json, pathlib
    >>> text = pathlib.Path("examples/physics_low_hazard.json").read_text()
    >>> QuoteRequest.model_validate_json(text).submission.lab_category.value
    'physics_engineering'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    submission: Submission
    terms: QuotableTerms
    options: tuple[QuotableTerms, ...] = Field(default=(), max_length=20)
    seed: SeedText | None = None
    target_relative_error: float | None = Field(default=None, gt=0, lt=1)
    option_labels: tuple[OptionLabel, ...] = Field(default=(), max_length=20)

    @model_validator(mode="after")
    def _labels_name_options(self) -> Self:
        if len(self.option_labels) > len(self.options):
            raise ValueError(
                f"option_labels has {len(self.option_labels)} labels for "
                f"{len(self.options)} options: give at most one label per option"
            )
        labels = option_labels(self.option_labels, len(self.options))
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(
                f"option_labels: each option needs its own label; repeated: {repeated}"
            )
        return self

    @model_serializer(mode="wrap")
    def _without_empty_labels(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A request without labels serialises as before they existed, so that the hash of a
        # stored request (an idempotency key's) does not change.
        data = handler(self)
        if isinstance(data, dict) and not self.option_labels:
            data.pop("option_labels", None)
        return data


def as_request(
    subject: QuoteRequest | Submission, terms: PolicyTerms | None, function: str
) -> QuoteRequest:
    """The one calling convention: a :class:`QuoteRequest`, or a submission and its terms.

    ``function`` names the caller in the ``TypeError`` raised for anything else.
    """
    if isinstance(subject, QuoteRequest):
        if terms is not None:
            raise TypeError(
                f"{function}(request, ...): a QuoteRequest carries its own terms; pass either a "
                "request, or a submission and its terms, not a request and terms"
            )
        return subject
    if isinstance(subject, Submission):
        if not isinstance(terms, PolicyTerms):
            raise TypeError(
                f"{function}(submission, terms, ...): the submission needs its PolicyTerms next, "
                f"got {type(terms).__name__}"
            )
        return QuoteRequest(submission=subject, terms=terms)
    raise TypeError(
        f"{function}() quotes a QuoteRequest, or a Submission followed by its PolicyTerms; got "
        f"{type(subject).__name__}"
    )


def split_subject(
    arguments: Sequence[Any], names: Sequence[str], function: str
) -> tuple[QuoteRequest, tuple[Any, ...]]:
    """``(request, *rest)`` or ``(submission, terms, *rest)`` as the request and ``rest``.

    ``names`` are the names of ``rest`` (for the error raised when their count is wrong).
    """
    if not arguments:
        raise TypeError(f"{function}() needs a QuoteRequest, or a Submission and its PolicyTerms")
    subject, *rest = arguments
    if isinstance(subject, Submission):
        request = as_request(subject, rest[0] if rest else None, function)
        rest = rest[1:]
    else:
        request = as_request(subject, None, function)
    if len(rest) != len(names):
        wanted = ", ".join(names)
        raise TypeError(
            f"{function}(request, {wanted}) or {function}(submission, terms, {wanted}): got "
            f"{len(rest)} argument(s) after the lab instead of {len(names)}"
        )
    return request, tuple(rest)
