"""Renewing a policy from its page (TestClient): the renewal priced as the API prices it, its
decomposition shown with standard errors, the renewal quote offered and bound like any quote; a
form sent twice makes one renewal; bad JSON is answered beside the field."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from workbench_app import client, csrf_of, signed_in, web_app

__all__ = ["client", "csrf_of", "signed_in", "web_app"]  # the fixtures these tests use

ROOT = Path(__file__).resolve().parents[2]
SignIn = Callable[[str], TestClient]
CsrfOf = Callable[[str], str]
Keys = tuple[FastAPI, dict[str, str]]


def _bound_policy(client: TestClient, key: str) -> dict[str, Any]:
    """A policy of the physics example, quoted and bound through the API."""
    headers = {"Authorization": f"Bearer {key}"}
    request = json.loads((ROOT / "examples" / "physics_low_hazard.json").read_text())
    quote = client.post("/v1/quotes", json=request, headers=headers)
    assert quote.status_code == 201, quote.text
    policy = client.post(f"/v1/quotes/{quote.json()['id']}/bind", headers=headers)
    assert policy.status_code == 201, policy.text
    return dict(policy.json())


def _renew_form(page: str) -> dict[str, str]:
    """The renewal form's hidden fields and its JSON text, as the browser would send them."""
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    found = re.search(
        r'<textarea id="request_json" name="request_json"[^>]*>(.*?)</textarea>', page, re.S
    )
    assert found, "the policy's page has no renewal form"
    return {**fields, "request_json": html.unescape(found.group(1))}


def test_a_policy_is_renewed_from_its_page_with_the_decomposition_shown(
    web_app: Keys, client: TestClient, signed_in: SignIn, csrf_of: CsrfOf
) -> None:
    policy = _bound_policy(client, web_app[1]["wang"])
    wang = signed_in("wang")
    listed = wang.get("/policies").text
    assert f'href="/policies/{policy["id"]}#renew"' in listed
    page = wang.get(f"/policies/{policy['id']}")
    assert page.status_code == 200
    form = _renew_form(page.text)
    asked = json.loads(form["request_json"])
    assert asked["submission"]["lab_id"] == "PHY-OPT-201"  # the expiring request by default
    assert "seed" not in asked
    assert "options" not in asked
    equipment = asked["submission"]["values"]["equipment"]
    asked["submission"]["values"]["equipment"] = equipment * 1.2
    form["request_json"] = json.dumps(asked)

    answer = wang.post(f"/policies/{policy['id']}/renew", data=form)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/quotes/[0-9a-f-]{36}#renewal", location)
    renewal_id = location.split("/")[2].split("#")[0]
    # Sent twice (a double click, a retried POST): the same renewal, none made again.
    again = wang.post(f"/policies/{policy['id']}/renew", data=form)
    assert again.headers["location"] == location

    shown = wang.get(f"/quotes/{renewal_id}").text
    api = client.get(
        f"/v1/quotes/{renewal_id}", headers={"Authorization": f"Bearer {web_app[1]['wang']}"}
    ).json()
    assert api["renews_policy_id"] == policy["id"]
    section = shown[shown.index('id="renewal"') : shown.index('id="act-h"')]
    assert policy["policy_number"] in section
    for step in ("Expiring", "Exposure", "Terms", "Claims experience", "Tables version",
                 "Adequacy", "Renewal"):  # fmt: skip
        assert f'<th scope="row">{step}</th>' in section
    assert f"submission.values.equipment: {equipment:,.15g} → {equipment * 1.2:,.15g}" in section
    # every change carries its standard error: technical and price per step, the totals, RARC
    assert section.count('<span class="se">±') >= 2 * 4 + 4
    assert "Risk-adjusted rate change (RARC)" in section
    rarc = re.search(r'id="rarc">([+-]\d+\.\d)%<', section)
    assert rarc, section
    chart = wang.get(f"/quotes/{renewal_id}/charts/renewal.svg")
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert "Renewal price walk" in chart.text

    # The renewal quote is offered and bound like any quote.
    token = csrf_of(shown)
    offered = wang.post(
        f"/quotes/{renewal_id}/offer",
        data={"csrf_token": token, "credit.survey_excellent_housekeeping": "-5"},
    )
    assert offered.status_code == 303
    bound = wang.post(f"/quotes/{renewal_id}/bind", data={"csrf_token": token})
    assert bound.status_code == 303
    assert 'id="status">bound<' in wang.get(f"/quotes/{renewal_id}").text
    policies = wang.get("/policies").text
    assert "renews a policy: rate change" in policies
    renewals = wang.get(f"/policies/{policy['id']}").text
    assert f'href="/quotes/{renewal_id}#renewal"' in renewals


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text[:-3], "not JSON: "),
        (
            lambda text: text.replace('"lab_id": "PHY-OPT-201"', '"lab_id": ""'),
            "submission.lab_id: String should have at least 1 character",
        ),
        (
            lambda text: json.dumps({**json.loads(text), "options": [json.loads(text)["terms"]]}),
            "request.options: 1 option(s) given; a renewal prices the renewed terms only",
        ),
    ],
    ids=["not-json", "invalid-field", "options"],
)
def test_a_renewal_form_with_bad_json_is_answered_beside_the_field(
    web_app: Keys,
    client: TestClient,
    signed_in: SignIn,
    edit: Callable[[str], str],
    message: str,
) -> None:
    policy = _bound_policy(client, web_app[1]["wang"])
    wang = signed_in("wang")
    form = _renew_form(wang.get(f"/policies/{policy['id']}").text)
    form["request_json"] = edit(form["request_json"])
    answer = wang.post(f"/policies/{policy['id']}/renew", data=form)
    assert answer.status_code == 422
    error = re.search(r'<ul class="error" id="request_json-error">(.*?)</ul>', answer.text, re.S)
    assert error, answer.text
    assert message in error.group(1).replace("&#39;", "'")
    assert 'aria-invalid="true">' in answer.text  # the text area, kept as sent
    assert "/quotes/" not in answer.headers.get("location", "")


def test_another_underwriter_cannot_see_or_renew_the_policy(
    web_app: Keys, client: TestClient, signed_in: SignIn, csrf_of: CsrfOf
) -> None:
    policy = _bound_policy(client, web_app[1]["wang"])
    wang_form = _renew_form(signed_in("wang").get(f"/policies/{policy['id']}").text)
    zhao = signed_in("zhao")
    assert zhao.get(f"/policies/{policy['id']}").status_code == 404
    token = csrf_of(zhao.get("/policies").text)
    answer = zhao.post(f"/policies/{policy['id']}/renew", data={**wang_form, "csrf_token": token})
    assert answer.status_code == 404
    assert "PHY-OPT-201" not in answer.text
    assert signed_in("li").get(f"/policies/{policy['id']}").status_code == 200  # a senior sees it
