"""A quote request: the lab submission and the policy terms asked for."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from underwriting.submission import Submission
from underwriting.terms import PolicyTerms


class QuoteRequest(BaseModel):
    """``{"submission": {...}, "terms": {...}}``, as sent by an underwriter or kept in a file.

    Example
    -------
    >>> import json, pathlib
    >>> text = pathlib.Path("examples/physics_low_hazard.json").read_text()
    >>> QuoteRequest.model_validate_json(text).submission.lab_category.value
    'physics_engineering'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    submission: Submission
    terms: PolicyTerms
