"""A quote request: the lab submission, the policy terms asked for, and how to quote them."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from underwriting.model import SeedText, Submission
from underwriting.terms import PolicyTerms, cover_problems


def _quotable(terms: PolicyTerms) -> PolicyTerms:
    problems = cover_problems(terms)
    if problems:
        raise ValueError("; ".join(problems))
    return terms


QuotableTerms = Annotated[PolicyTerms, AfterValidator(_quotable)]
"""Policy terms that give cover: :func:`underwriting.terms.cover_problems` finds nothing."""


class QuoteRequest(BaseModel):
    """``{"submission": {...}, "terms": {...}}``, as sent by an underwriter or kept in a file.

    Optional: ``options`` (alternative terms priced on the same events), ``seed`` (a decimal
    string: 128-bit integers lose precision in JavaScript clients) and
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
