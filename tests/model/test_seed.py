"""The seed's domain, ``[0, 2**128)``, is stated once (underwriting.model) and read everywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

import underwriting as uw
from api.schemas import SimulationIn
from underwriting import engine, model
from underwriting.request import QuoteRequest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "physics_low_hazard.json"
LARGEST = 2**128 - 1
RANGE = r"seed must be in \[0, 2\*\*128\)"


def _request(seed: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return {**body, "seed": seed}


def test_the_seed_text_takes_digits_below_2_to_the_128() -> None:
    text = TypeAdapter(model.SeedText)
    assert text.validate_python(str(LARGEST)) == str(LARGEST)
    assert text.validate_python("0") == "0"
    with pytest.raises(ValidationError, match=RANGE):
        text.validate_python(str(2**128))
    for bad in ("", "-1", "1.5", "1_000", "twelve", "1" * 40):
        with pytest.raises(ValidationError):
            text.validate_python(bad)


def test_the_request_and_the_api_refuse_the_same_seeds_with_the_same_message() -> None:
    body = _request("0")
    simulation = {"submission": body["submission"], "terms": body["terms"], "n_years": 1_000}
    cases: list[tuple[type[QuoteRequest] | type[SimulationIn], dict[str, Any]]] = [
        (QuoteRequest, body),
        (SimulationIn, simulation),
    ]
    for schema, payload in cases:
        assert schema.model_validate({**payload, "seed": str(LARGEST)}).seed == str(LARGEST)
        with pytest.raises(ValidationError, match=RANGE) as raised:
            schema.model_validate({**payload, "seed": str(2**128)})
        assert raised.value.errors()[0]["loc"] == ("seed",)


def test_the_tables_and_the_engine_hold_the_same_domain() -> None:
    assert engine.check_seed is model.check_seed
    precision = uw.load_rating_tables().pricing.precision
    settings = type(precision)
    assert settings.model_validate({**precision.model_dump(), "default_seed": LARGEST})
    with pytest.raises(ValidationError, match="default_seed"):
        settings.model_validate({**precision.model_dump(), "default_seed": 2**128})
    with pytest.raises(ValueError, match=RANGE):
        model.check_seed(2**128)
    assert TypeAdapter(model.Seed).validate_python(LARGEST) == LARGEST
