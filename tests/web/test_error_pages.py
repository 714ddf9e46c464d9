"""Errors of the pages are pages: the navigation, a plain message and the status; the API's
paths keep their problem details (application/problem+json)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from workbench_app import client, csrf_of, form_fields, signed_in, web_app

from api.limits import SimulationLimiter

__all__ = ["client", "csrf_of", "signed_in", "web_app"]  # the fixtures these tests use

SignIn = Callable[[str], TestClient]
Keys = tuple[FastAPI, dict[str, str]]
NAVIGATION = '<nav aria-label="Main">'


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/no-such-page", "Not Found"),
        ("/quotes/00000000-0000-0000-0000-000000000000", "No quote with this id."),
        ("/policies/not-a-policy", "No policy with this id."),
    ],
)
def test_a_page_not_found_is_a_page_with_the_navigation(
    signed_in: SignIn, path: str, message: str
) -> None:
    answer = signed_in("wang").get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert NAVIGATION in answer.text
    assert '<h1 id="error-h">Not found</h1>' in answer.text
    assert f'<p role="alert" id="error-message">{message}</p>' in answer.text
    assert "Sign out" in answer.text  # the session holds: the page knows who is signed in


def test_the_api_keeps_problem_details_for_its_errors(
    web_app: Keys, client: TestClient, signed_in: SignIn
) -> None:
    browser = signed_in("wang")  # a session cookie does not make the API answer pages
    for path in ("/v1/no-such-thing", "/v1/quotes/00000000-0000-0000-0000-000000000000"):
        answer = browser.get(path, headers={"Authorization": f"Bearer {web_app[1]['wang']}"})
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == 404


def test_over_the_simulation_limit_a_page_answers_429_with_when_to_retry(
    web_app: Keys, signed_in: SignIn
) -> None:
    app, keys = web_app
    app.state.limiter = SimulationLimiter(max_concurrent=2, per_minute=1)
    wang = signed_in("wang")
    form = form_fields(wang.get("/quotes/new?example=physics_low_hazard").text, "quote-form")
    assert wang.post("/quotes/new", data=form).status_code == 303  # the minute's one quote
    form = form_fields(wang.get("/quotes/new?example=physics_low_hazard").text, "quote-form")
    answer = wang.post("/quotes/new", data=form)
    assert answer.status_code == 429
    assert answer.headers["content-type"].startswith("text/html")
    retry = int(answer.headers["retry-after"])
    assert 1 <= retry <= 60
    assert NAVIGATION in answer.text
    assert "Too many requests at once" in answer.text
    assert "UW_MAX_SIMULATIONS_PER_MINUTE_PER_PRINCIPAL = 1" in answer.text
    assert f"Try again in {retry} second" in answer.text
    api = signed_in("li").post(
        "/v1/quotes",
        json={"submission": {}, "terms": {}},
        headers={"Authorization": f"Bearer {keys['wang']}"},
    )
    assert api.headers["content-type"] == "application/problem+json"  # the API: still JSON


def test_an_unexpected_error_on_a_page_is_a_500_page_telling_nothing_of_its_cause(
    signed_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api import records

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("secret detail of the store")

    wang = signed_in("wang")
    monkeypatch.setattr(records, "policies", broken)
    answer = wang.get("/policies")
    assert answer.status_code == 500
    assert NAVIGATION in answer.text
    assert "Something went wrong" in answer.text
    assert "secret detail" not in answer.text
