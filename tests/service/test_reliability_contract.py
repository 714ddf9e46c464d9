"""Contract fuzzing: schemathesis sends generated requests to every endpoint of the app's OpenAPI.

Valid requests (that fit the schema) and invalid ones (that break it), each with a key of one of
the four roles, a wrong key, a revoked key or none; path parameters are often the id of a stored
quote (of this principal or of another) or the served tables version, so that the success paths
run too. Every response must be a documented status with a documented content type and a body
that conforms to the schema; no 5xx, ever. The number of requests sent is printed.

The app runs in process (ASGI) with quotes cut to a few thousand simulated years, so that a valid
quote costs milliseconds and the run stays around a minute.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import underwriting as uw
from api.main import create_app
from api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TABLES_VERSION = "2026.1"
ROLES = ("underwriter", "senior_underwriter", "chief_underwriter", "actuary", "admin")
MINIMUM_REQUESTS = 2_000
EXAMPLES = {GenerationMode.POSITIVE: 160, GenerationMode.NEGATIVE: 90}
"""Generated cases per operation and mode (fewer where the schema allows fewer)."""

WORKFLOW_OPERATIONS = frozenset(
    {
        "POST /v1/quotes/{quote_id}/revisions",
        "POST /v1/quotes/{quote_id}/offer",
        "POST /v1/quotes/{quote_id}/bind",
        "POST /v1/policies/{policy_id}/renewal",
    }
)
"""The workflow's operations that change what they aim at, left out of the fuzzing below (see
the test); its reading operations (history, document, policies, rate monitoring) are fuzzed."""

# Invalid data must be refused (negative_data_rejection) and valid data accepted
# (positive_data_acceptance): the schema says what the service enforces.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def beyond_the_schema(response: Any) -> bool:
    """Whether a 422 refuses a request for a rule OpenAPI cannot state, so that a request the
    schema allows may still be refused (docs/reliability.md, "Contract fuzzing"):

    - a rule across fields (pydantic's model validators, "Value error, ..."): the equipment
      schedule within values.equipment, a deductible given both as an amount and a percentage,
      a deductible above its limit, exactly one of submission and profile, ...;
    - a rule of the domain or of the rating tables ("Cannot underwrite this request"): the time
      budget of simulated events (a setting, times the request's expected events), a lab
      category without rates, an infinite-mean severity that nothing caps, ...

    Everything else a generated valid request is refused for is a discrepancy the schema must
    fix, and fails the test.
    """
    if response.status_code != 422:
        return False
    problem = response.json()
    if problem.get("title") == "Cannot underwrite this request":
        return True
    messages = [str(error.get("message", "")) for error in problem.get("errors") or []]
    across = [m for m in messages if m.startswith("Value error, ")]
    # A list whose every item failed such a rule is also too short "after validation": that
    # count follows from the items' errors, it is not a rule of its own.
    return bool(across) and all(m in across or "after validation" in m for m in messages)


def cheap_settings(path: Path) -> Settings:
    """Quotes of at most 1,000 simulated years; at most 2 million events per request."""
    return Settings(
        database_url=f"sqlite:///{path}/uw.db",
        max_quote_years=1_000,
        max_simulation_years=2_000,
        max_simulated_events=2_000_000,
        # Thousands of generated requests from a few keys in a minute: not the limits' test.
        max_concurrent_simulations_per_principal=100,
        max_simulations_per_minute_per_principal=1_000_000,
    )


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "examples" / f"{name}.json").read_text("utf-8"))
    body["target_relative_error"] = 0.2
    return body


REFERENCE_PROFILE = {
    "scenarios": [
        {
            "id": "ref",
            "frequency": {"family": "poisson", "rate": 2.0},
            "severity": {"family": "lognormal", "mu": 10.0, "sigma": 1.5},
            "section": "property",
        }
    ]
}


def within_the_cap(body: Any, *, reference: bool) -> Any:
    """A generated simulation body with ``n_years`` under the cap and one source, if it can be;
    with ``reference``, the generated source and terms are replaced by valid ones.

    The cap is a setting, not part of the schema: left alone, nearly every generated simulation
    asks for more years than allowed, and a generated profile rarely passes the cross-field
    checks, so only the refusals would be exercised.
    """
    if not isinstance(body, dict):
        return body
    changed = dict(body)
    if reference:
        changed.pop("submission", None)
        changed["profile"] = REFERENCE_PROFILE
        changed["terms"] = {"sections": {"property": {"deductible": 10_000}}}
    if isinstance(changed.get("n_years"), int) and changed["n_years"] > 0:
        changed["n_years"] = 1 + changed["n_years"] % 2_000
    if changed.get("submission") is not None and changed.get("profile") is not None:
        del changed["profile"]
    return changed


class Service:
    """The app with a key per role, a wrong and a revoked key, and stored quotes to aim at."""

    def __init__(self, app: FastAPI, client: TestClient) -> None:
        self.app = app
        self.client = client
        store = app.state.store
        self.credentials: list[str | None] = []
        for role in ROLES:
            key, _ = store.create_key(f"{role}-1", role)
            self.credentials += [f"Bearer {key}"] * 2  # valid keys are most of the traffic
        revoked, record = store.create_key("underwriter-1", "underwriter")
        store.revoke_key(record.id)
        self.credentials += [f"Bearer {revoked}", "Bearer uwk_" + "x" * 43, None]
        underwriter = self.credentials[2 * ROLES.index("underwriter")]
        admin = self.credentials[2 * ROLES.index("admin")]
        assert underwriter is not None
        assert admin is not None
        self.quote_ids = [
            self._post(client, underwriter, "physics_low_hazard"),
            self._post(client, underwriter, "bsl3_biobank"),
            self._post(client, admin, "bsl3_biobank"),
        ]
        # A policy to aim the policy reads at: an underwriter's quote, bound.
        bound = self._post(client, underwriter, "physics_low_hazard")
        policy = client.post(f"/v1/quotes/{bound}/bind", headers={"Authorization": underwriter})
        assert policy.status_code == 201, policy.text
        self.policy_ids: list[str] = [policy.json()["id"]]

    @staticmethod
    def _post(client: TestClient, authorization: str, name: str) -> str:
        response = client.post(
            "/v1/quotes", json=example(name), headers={"Authorization": authorization}
        )
        assert response.status_code == 201, response.text
        quote_id: str = response.json()["id"]
        return quote_id


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tables = uw.load_rating_tables(TABLES_VERSION)
    app = create_app(cheap_settings(tmp_path_factory.mktemp("contract")), tables=tables)
    with TestClient(app) as client:  # runs the lifespan: tables and store in app.state
        yield Service(app, client)


def fuzz(
    service: Service,
    operation: Any,
    mode: GenerationMode,
    sent: Counter[tuple[str, int]],
    beyond: Counter[str],
) -> None:
    """Send ``operation``'s generated cases of ``mode``; count each response in ``sent``, and in
    ``beyond`` the 422s for rules the schema cannot state (``beyond_the_schema``)."""

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        credential=st.sampled_from(service.credentials),
        target=st.sampled_from([*service.quote_ids, None]),
    )
    def run(case: Any, credential: str | None, target: str | None) -> None:
        headers = dict(case.headers or {})
        headers.pop("Authorization", None)
        if credential is not None:
            headers["Authorization"] = credential
        case.headers = headers
        if target is not None and "quote_id" in (case.path_parameters or {}):
            case.path_parameters = {**case.path_parameters, "quote_id": target}
        if target is not None and "policy_id" in (case.path_parameters or {}):
            case.path_parameters = {**case.path_parameters, "policy_id": service.policy_ids[0]}
        if target is not None and "version" in (case.path_parameters or {}):
            case.path_parameters = {**case.path_parameters, "version": TABLES_VERSION}
        if target is not None and operation.path == "/v1/simulations":
            reference = target == service.quote_ids[0]
            case.body = within_the_cap(case.body, reference=reference)
        response = case.call()
        sent[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)
        if not beyond_the_schema(response):
            case.validate_response(response, checks=[positive_data_acceptance])
        else:
            beyond[operation.label] += 1

    run()


def test_generated_requests_conform_to_the_contract(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.app)
    sent: Counter[tuple[str, int]] = Counter()
    beyond: Counter[str] = Counter()
    every = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(every) == 15 + len(WORKFLOW_OPERATIONS)
    # The workflow's changing operations (revise, offer, bind, renew) would use up the quotes and
    # policies they aim at; they are tested through their journeys (test_workflow_api.py), not
    # fuzzed here yet.
    operations = [operation for operation in every if operation.label not in WORKFLOW_OPERATIONS]
    assert len(operations) == 15

    for operation in operations:
        has_inputs = bool(operation.path_parameters or operation.query or operation.body)
        modes = [GenerationMode.POSITIVE]
        if has_inputs or operation.headers:
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            fuzz(service, operation, mode, sent, beyond)

    total = sum(sent.values())
    by_status = Counter[int]()
    for (_, status), count in sent.items():
        by_status[status] += count
    with capsys.disabled():
        print(
            f"\ncontract fuzzing: {total:,} requests over {len(operations)} operations; "
            f"statuses {dict(sorted(by_status.items()))}; 422s for rules beyond the schema "
            f"(across fields, domain, budget) {dict(sorted(beyond.items()))}"
        )
    assert total >= MINIMUM_REQUESTS
    labels = {label for label, _ in sent}
    assert labels == {operation.label for operation in operations}
    for label in labels - {"GET /healthz", "GET /readyz"}:
        assert {status for (name, status) in sent if name == label} >= {401}, label
    successes = {label for (label, status) in sent if status < 300}
    assert successes == labels, "every endpoint answered a generated request with success"


def test_a_body_that_is_not_utf8_is_422_naming_the_body(service: Service) -> None:
    authorization = service.credentials[0]
    assert authorization is not None
    response = service.client.post(
        "/v1/quotes",
        content=b'{"lab": "\xff"}',
        headers={"Authorization": authorization, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == "(body)"
    assert "UTF-8" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"lab": "\\ud927"}',
        b'{"submission": {"lab_id": "\\udc00"}, "terms": {"sections": {"\\ud800": {}}}}',
    ],
)
def test_an_escaped_lone_surrogate_is_echoed_in_a_422_not_a_500(
    service: Service, body: bytes
) -> None:
    """JSON may escape half a surrogate pair; the error echoes it escaped, as valid JSON."""
    authorization = service.credentials[0]
    assert authorization is not None
    response = service.client.post(
        "/v1/quotes",
        content=body,
        headers={"Authorization": authorization, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "\\ud" in response.text
    assert response.json()["errors"]
