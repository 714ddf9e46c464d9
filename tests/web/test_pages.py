"""The workbench's pages through TestClient: signing in, CSRF, authorisation, the offline API
docs and the rating tables. The journeys in a real browser are in test_browser.py."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from workbench_app import client, csrf_of, form_fields, signed_in, web_app

__all__ = ["client", "csrf_of", "signed_in", "web_app"]  # the fixtures these tests use

CsrfOf = Callable[[str], str]
SignIn = Callable[[str], TestClient]


def test_a_page_without_a_session_asks_to_sign_in_and_comes_back(client: TestClient) -> None:
    answer = client.get("/tables?old=2026.1&new=2026.2")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Ftables%3Fold%3D2026.1%26new%3D2026.2"


def test_signing_in_sets_a_signed_http_only_lax_cookie_and_never_the_key(
    web_app: tuple[object, dict[str, str]], client: TestClient, csrf_of: CsrfOf
) -> None:
    key = web_app[1]["wang"]
    token = csrf_of(client.get("/signin").text)
    answer = client.post("/signin", data={"api_key": key, "csrf_token": token, "next": "/tables"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/tables"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert key.lower() not in cookie
    assert "wang" in client.get("/tables").text


def test_a_wrong_key_is_refused_on_the_page_and_signs_no_one_in(
    client: TestClient, csrf_of: CsrfOf
) -> None:
    token = csrf_of(client.get("/signin").text)
    answer = client.post("/signin", data={"api_key": "uwk_not-a-key", "csrf_token": token})
    assert answer.status_code == 401
    assert "not valid" in answer.text
    assert client.get("/tables").status_code == 303


def test_a_form_without_the_session_csrf_token_is_refused(
    web_app: tuple[object, dict[str, str]], client: TestClient
) -> None:
    client.get("/signin")
    answer = client.post("/signin", data={"api_key": web_app[1]["wang"], "csrf_token": "forged"})
    assert answer.status_code == 403
    assert "security token" in answer.text
    assert client.get("/tables").status_code == 303


def test_signing_out_ends_the_session(signed_in: SignIn, csrf_of: CsrfOf) -> None:
    browser = signed_in("wang")
    page = browser.get("/tables")
    assert page.status_code == 200
    answer = browser.post("/signout", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    assert browser.get("/tables").status_code == 303


def test_sign_in_goes_only_to_a_path_of_this_site(
    web_app: tuple[object, dict[str, str]], client: TestClient, csrf_of: CsrfOf
) -> None:
    token = csrf_of(client.get("/signin").text)
    answer = client.post(
        "/signin",
        data={"api_key": web_app[1]["wang"], "csrf_token": token, "next": "//evil.example/x"},
    )
    assert answer.headers["location"] == "/quotes"


def test_the_api_docs_load_swagger_ui_from_this_service(client: TestClient) -> None:
    for page, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = client.get(page)
        assert html.status_code == 200
        assert f'src="/static/docs/{script}"' in html.text
        assert "cdn" not in html.text.lower()
        assert "https://" not in html.text.replace("https://github.com", "")
        served = client.get(f"/static/docs/{script}")
        assert served.status_code == 200
        assert len(served.content) > 100_000
    assert client.get("/static/docs/swagger-ui.css").status_code == 200


def test_the_rating_tables_page_lists_versions_hashes_and_a_diff(signed_in: SignIn) -> None:
    browser = signed_in("sun")  # an actuary: the tables are for every signed-in role
    page = browser.get("/tables")
    assert page.status_code == 200
    for version in ("2026.1", "2026.2", "2026.3"):
        assert version in page.text
    assert "released" in page.text
    assert "draft" not in page.text  # no draft is served
    diff = browser.get("/tables", params={"old": "2026.1", "new": "2026.2"})
    assert "2 changes from 2026.1 to 2026.2" in diff.text
    assert "R08_IMPLAUSIBLE_EXPOSURE" in diff.text
    missing = browser.get("/tables", params={"old": "2026.2", "new": "1999.9"})
    assert missing.status_code == 404
    assert "1999.9" in missing.text


def test_a_new_quote_form_sent_twice_makes_one_quote(
    web_app: tuple[object, dict[str, str]], signed_in: SignIn
) -> None:
    wang = signed_in("wang")
    form = form_fields(wang.get("/quotes/new?example=physics_low_hazard").text, "quote-form")
    assert form["idempotency_key"]  # a one-time token, the store's Idempotency-Key
    first = wang.post("/quotes/new", data=form)
    second = wang.post("/quotes/new", data=form)  # a double click, or the browser's retry
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    assert wang.get("/quotes").text.count("PHY-OPT-201</a>") == 1
    # A fresh form is a fresh token: a second quote of the same lab is made on purpose.
    again = form_fields(wang.get("/quotes/new?example=physics_low_hazard").text, "quote-form")
    assert again["idempotency_key"] != form["idempotency_key"]
    assert wang.post("/quotes/new", data=again).headers["location"] != first.headers["location"]
    # The same token with other values (sent again after the back button): no quote is made;
    # the form comes back with the values, a new token and why.
    changed = {**form, "submission.headcount": "17"}
    answer = wang.post("/quotes/new", data=changed)
    assert answer.status_code == 409
    assert "sent before with other values" in answer.text
    assert form_fields(answer.text, "quote-form")["idempotency_key"] != form["idempotency_key"]
    assert wang.get("/quotes").text.count("PHY-OPT-201</a>") == 2
