"""The underwriting workflow over HTTP: one lab from quote to renewal and rate monitoring.

The app serves tables 2026.3 (the version with schedule credits and offer bands), on
its own SQLite file. The service's clock is a dependency (``get_clock``) that the tests move
forward to expire a quote. Quote bodies are the example labs at ``target_relative_error`` 0.1,
so that each quote takes a fraction of a second.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import underwriting as uw
from api.main import create_app
from api.routes import get_clock
from api.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROBLEM_JSON = "application/problem+json"
# Every debit of the tables' schedule: +55 %, beyond the senior underwriter's band (+50 %):
# only the chief underwriter may approve it.
ALL_DEBITS = {
    "survey_poor_housekeeping": 0.15,
    "survey_maintenance_overdue": 0.10,
    "values_concentrated": 0.15,
    "management_change": 0.05,
    "information_incomplete": 0.10,
}


class Clock:
    """The service's now: the real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@pytest.fixture(scope="module")
def tables() -> uw.RatingTables:
    return uw.load_rating_tables("2026.3")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(tmp_path: Path, tables: uw.RatingTables, clock: Clock) -> FastAPI:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/uw.db",
        max_quote_years=60_000,
        max_concurrent_simulations_per_principal=100,
        max_simulations_per_minute_per_principal=100_000,
    )
    app = create_app(settings, tables=tables)
    app.dependency_overrides[get_clock] = lambda: clock
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def key(app: FastAPI, principal: str, role: str) -> dict[str, str]:
    secret, _ = app.state.store.create_key(principal, role)
    return {"Authorization": f"Bearer {secret}"}


def example(name: str = "physics_low_hazard") -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))
    body["target_relative_error"] = 0.1
    return body


def ok(response: httpx2.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text[:2_000]
    return response.json()


def problem(response: httpx2.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    detail: str = body["detail"]
    return detail


def test_a_new_quote_is_answered_as_a_later_get_shows_it(client: TestClient, app: FastAPI) -> None:
    """``POST /v1/quotes`` answers from the record it just stored, without reading it back or
    looking up decisions, policies and renewals: the answer must be what ``GET`` shows."""
    wang = key(app, "wang", "underwriter")
    created = ok(client.post("/v1/quotes", json=example(), headers=wang), 201)
    assert ok(client.get(f"/v1/quotes/{created['id']}", headers=wang)) == created
    for lab in ("chemistry_high_hazard", "bsl3_biobank"):
        answer = ok(client.post("/v1/quotes", json=example(lab), headers=wang), 201)
        assert ok(client.get(f"/v1/quotes/{answer['id']}", headers=wang)) == answer


def test_one_lab_from_quote_to_renewal_and_rate_monitoring(
    client: TestClient, app: FastAPI, tables: uw.RatingTables
) -> None:
    wang = key(app, "wang", "underwriter")
    li = key(app, "li", "senior_underwriter")
    chen = key(app, "chen", "chief_underwriter")
    zhao = key(app, "zhao", "underwriter")  # a stranger: sees none of wang's work
    actuary = key(app, "qian", "actuary")

    # Quote: the record holds everything quoted.
    first = ok(client.post("/v1/quotes", json=example(), headers=wang), 201)
    assert first["status"] == "quoted"
    assert first["request"]["submission"]["lab_id"] == "PHY-OPT-201"
    assert first["currency"] == tables.currency
    assert first["technical_premium"]["currency"] == tables.currency
    assert first["premium"]["currency"] == tables.currency
    assert set(first["available_actions"]) >= {"bind", "offer", "refer", "supersede"}
    history = ok(client.get(f"/v1/quotes/{first['id']}/history", headers=wang))
    assert [(e["sequence"], e["action"], e["actor"]) for e in history] == [(1, "create", "wang")]

    # Revision by a JSON merge patch: a new quote on the parent's events, the parent superseded.
    patch = {"terms": {"sections": {"property": {"deductible": 50_000}}}}
    revised = ok(
        client.post(
            f"/v1/quotes/{first['id']}/revisions",
            content=json.dumps(patch),
            headers={**wang, "Content-Type": "application/merge-patch+json"},
        ),
        201,
    )
    assert revised["changed"] == ["/terms/sections/property/deductible"]
    assert revised["parent_id"] == first["id"]
    change = revised["technical_difference"]
    assert change["value"] < 0, "a higher deductible costs less"
    own_error = revised["quote"]["premium"]["standard_error"]
    assert 0 < change["standard_error"] < own_error / 3, "paired: far below either premium's own"
    child = revised["quote"]
    assert child["parent_id"] == first["id"]
    assert child["provenance"]["seed"] == first["provenance"]["seed"]
    assert child["provenance"]["n_years"] == first["provenance"]["n_years"]
    parent = ok(client.get(f"/v1/quotes/{first['id']}", headers=wang))
    assert parent["status"] == "superseded"
    assert parent["superseded_by"] == child["id"]
    detail = problem(client.post(f"/v1/quotes/{first['id']}/bind", headers=wang), 409)
    assert "superseded" in detail
    assert "quoted or approved" in detail, "names the states that allow binding"

    # An offer beyond every band but the chief's: referred to the chief underwriter.
    offered = ok(
        client.post(
            f"/v1/quotes/{child['id']}/offer",
            json={"credits": ALL_DEBITS, "note": "survey findings"},
            headers=wang,
        )
    )
    assert offered["status"] == "referred"
    assert offered["referral"]["authority"] == "chief_underwriter"
    assert "OFFER_BEYOND_BAND" in {r["code"] for r in offered["referral"]["reasons"]}
    technical = offered["technical_premium"]["amount"]
    assert offered["offer"]["total_adjustment"] == pytest.approx(0.55)
    assert offered["offered_premium"]["amount"] == pytest.approx(technical * 1.55, abs=1.0)
    assert offered["adequacy_ratio"] == pytest.approx(1.55, abs=1e-3)

    # The wrong authority is refused; the right one approves.
    decision = {"decision": "approve", "note": "survey actions agreed"}
    refused = client.post(f"/v1/quotes/{child['id']}/decision", json=decision, headers=li)
    assert "'chief_underwriter'" in problem(refused, 403)
    approved = ok(client.post(f"/v1/quotes/{child['id']}/decision", json=decision, headers=chen))
    assert approved["status"] == "approved"
    assert approved["referral_decision"]["decided_by"] == "chen"

    # Bind: a policy at the offered premium; a retry answers the same policy.
    bound = client.post(f"/v1/quotes/{child['id']}/bind", headers=wang)
    policy = ok(bound, 201)
    assert bound.headers["Location"] == f"/v1/policies/{policy['id']}"
    assert policy["bound_premium"] == offered["offered_premium"]
    assert policy["policy_number"].startswith("LAB-")
    start = dt.date.fromisoformat(policy["period_start"])
    assert dt.date.fromisoformat(policy["period_end"]) == start.replace(
        year=start.year + 1
    ) - dt.timedelta(days=1)
    retried = client.post(f"/v1/quotes/{child['id']}/bind", headers=wang)
    assert ok(retried)["id"] == policy["id"]
    assert retried.headers["Idempotent-Replayed"] == "true"
    listed = ok(client.get("/v1/policies", headers=wang))["items"]
    assert [p["id"] for p in listed] == [policy["id"]]
    assert ok(client.get("/v1/policies", headers=zhao))["items"] == []
    assert ok(client.get(f"/v1/quotes/{child['id']}", headers=wang))["policy_id"] == policy["id"]
    actions = [e["action"] for e in ok(client.get(f"/v1/quotes/{child['id']}/history", headers=li))]
    assert actions == ["create", "offer", "approve", "bind"]

    # The client's document, from the stored record: HTML and PDF.
    html = client.get(f"/v1/quotes/{child['id']}/document", headers=wang)
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    assert "Ultrafast Laser Spectroscopy Laboratory" in html.text
    assert policy["policy_number"] in html.text
    assert f"{offered['offered_premium']['amount']:,.0f}" in html.text, "the offered premium"
    pdf = client.get(
        f"/v1/quotes/{child['id']}/document", headers={**wang, "Accept": "application/pdf"}
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    as_query = client.get(f"/v1/quotes/{child['id']}/document?format=pdf", headers=wang)
    assert as_query.content.startswith(b"%PDF")

    # Renewal with 10 % more equipment: the decomposition, each step with its paired error.
    renewed = example()
    renewed["submission"]["values"]["equipment"] *= 1.1
    renewal = ok(
        client.post(
            f"/v1/policies/{policy['id']}/renewal", json={"request": renewed}, headers=wang
        ),
        201,
    )
    steps = {step["name"]: step for step in renewal["decomposition"]["steps"]}
    assert list(steps) == ["exposure", "terms", "claims_experience", "tables_version"]
    exposure = steps["exposure"]["technical_change"]
    assert exposure["value"] > 0
    assert 0 < exposure["standard_error"] < exposure["value"]
    assert steps["tables_version"]["technical_change"] == {
        "name": "technical premium difference",
        "value": 0.0,
        "standard_error": 0.0,
    }, "same tables: exactly no change"
    total = renewal["decomposition"]["technical_change"]["value"]
    assert math.isclose(
        sum(s["technical_change"]["value"] for s in steps.values()), total, abs_tol=1e-6
    )
    decomposition = renewal["decomposition"]
    assert decomposition["expiring_premium"] == policy["bound_premium"]["amount"]
    assert decomposition["rate_change"]["standard_error"] > 0
    renewal_quote = renewal["quote"]
    assert renewal_quote["renews_policy_id"] == policy["id"]
    assert renewal_quote["provenance"]["seed"] == child["provenance"]["seed"]
    renewed_policy = ok(client.post(f"/v1/quotes/{renewal_quote['id']}/bind", headers=wang), 201)
    assert renewed_policy["renews_policy_id"] == policy["id"]

    # Rate monitoring: the renewal's RARC and the book's adequacy.
    report = ok(client.get("/v1/reports/rate-monitoring", headers=actuary))
    assert report["policies"] == 2
    book = report["book"]
    assert (book["renewals"], book["new_business"]) == (1, 1)
    assert book["rate_change"] == pytest.approx(decomposition["rate_change"]["value"])
    assert [g["key"] for g in report["by_underwriter"]] == ["wang"]
    assert [g["key"] for g in report["by_lab_category"]] == ["physics_engineering"]
    assert ok(client.get("/v1/reports/rate-monitoring", headers=zhao))["policies"] == 0

    # The stranger gets 404 on each of wang's quotes and policies.
    aimed: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/v1/quotes/{child['id']}", None),
        ("GET", f"/v1/quotes/{child['id']}/history", None),
        ("GET", f"/v1/quotes/{child['id']}/document", None),
        ("POST", f"/v1/quotes/{renewal_quote['id']}/revisions", patch),
        ("POST", f"/v1/quotes/{renewal_quote['id']}/offer", {"credits": {}}),
        ("POST", f"/v1/quotes/{renewal_quote['id']}/bind", None),
        ("GET", f"/v1/policies/{policy['id']}", None),
        ("POST", f"/v1/policies/{policy['id']}/renewal", None),
    ]
    for method, url, body in aimed:
        response = client.request(method, url, json=body, headers=zhao)
        assert "No " in problem(response, 404), (method, url)


def test_an_expired_quote_cannot_be_decided_or_bound(
    client: TestClient, app: FastAPI, clock: Clock
) -> None:
    wang = key(app, "wang", "underwriter")
    chen = key(app, "chen", "chief_underwriter")
    quoted = ok(client.post("/v1/quotes", json=example(), headers=wang), 201)
    other = ok(client.post("/v1/quotes", json=example(), headers=wang), 201)
    referred = ok(
        client.post(f"/v1/quotes/{quoted['id']}/offer", json={"credits": ALL_DEBITS}, headers=wang)
    )
    assert referred["status"] == "referred"
    valid_until = dt.datetime.fromisoformat(quoted["valid_until"])
    clock.offset = valid_until - dt.datetime.now(dt.UTC) + dt.timedelta(days=1)

    seen = ok(client.get(f"/v1/quotes/{quoted['id']}", headers=wang))
    assert seen["status"] == "expired"
    assert seen["available_actions"] == ["expire", "supersede"]
    date = valid_until.isoformat(timespec="seconds")
    decision = {"decision": "approve", "note": "late"}
    decided = client.post(f"/v1/quotes/{quoted['id']}/decision", json=decision, headers=chen)
    assert date in problem(decided, 409)
    # The other quote was made a moment later: its own date (the two may straddle a second).
    other_date = dt.datetime.fromisoformat(other["valid_until"]).isoformat(timespec="seconds")
    assert other_date in problem(client.post(f"/v1/quotes/{other['id']}/bind", headers=wang), 409)
    assert ok(client.get("/v1/policies", headers=wang))["items"] == []


def test_idempotency_keys_on_revision_bind_and_renewal(client: TestClient, app: FastAPI) -> None:
    wang = key(app, "wang", "underwriter")
    quoted = ok(client.post("/v1/quotes", json=example(), headers=wang), 201)
    patch = {"terms": {"sections": {"property": {"deductible": 20_000}}}}
    url = f"/v1/quotes/{quoted['id']}/revisions"
    headers = {**wang, "Idempotency-Key": "rev-1"}
    made = ok(client.post(url, json=patch, headers=headers), 201)
    again = client.post(url, json=patch, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ok(again, 201) == made, "the same quote, changes and difference"
    other = {"terms": {"sections": {"property": {"deductible": 30_000}}}}
    assert "different request" in problem(client.post(url, json=other, headers=headers), 409)

    bound = ok(
        client.post(
            f"/v1/quotes/{made['quote']['id']}/bind", headers={**wang, "Idempotency-Key": "b-1"}
        ),
        201,
    )
    renewal_url = f"/v1/policies/{bound['id']}/renewal"
    renewal_headers = {**wang, "Idempotency-Key": "ren-1"}
    renewal = ok(client.post(renewal_url, headers=renewal_headers), 201)
    replayed = client.post(renewal_url, headers=renewal_headers)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert ok(replayed, 201) == renewal
    # Nothing changed: every step of the decomposition is exactly 0 and the RARC is 0.
    assert all(s["technical_change"]["value"] == 0 for s in renewal["decomposition"]["steps"])
    assert renewal["decomposition"]["rate_change"]["value"] == pytest.approx(0.0, abs=1e-12)


def test_workflow_errors_are_problem_details_naming_what_is_wrong(
    client: TestClient, app: FastAPI
) -> None:
    wang = key(app, "wang", "underwriter")
    quoted = ok(client.post("/v1/quotes", json=example(), headers=wang), 201)
    offer_url = f"/v1/quotes/{quoted['id']}/offer"
    unknown = client.post(offer_url, json={"credits": {"nice_people": -0.05}}, headers=wang)
    assert "'nice_people'" in problem(unknown, 422)
    too_far = client.post(
        offer_url, json={"credits": {"survey_excellent_housekeeping": -0.5}}, headers=wang
    )
    assert "outside its range" in problem(too_far, 422)
    seed = {"seed": "12345"}
    revision = client.post(f"/v1/quotes/{quoted['id']}/revisions", json=seed, headers=wang)
    assert "seed" in problem(revision, 422)
    invalid = {"terms": {"sections": {"property": {"deductible": -5}}}}
    bad = client.post(f"/v1/quotes/{quoted['id']}/revisions", json=invalid, headers=wang)
    assert "deductible" in problem(bad, 422)
    early = client.post(
        f"/v1/quotes/{quoted['id']}/bind", json={"period_start": "2000-01-01"}, headers=wang
    )
    assert "period_start" in problem(early, 422)
