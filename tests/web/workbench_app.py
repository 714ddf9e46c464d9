"""Fixtures of the web tests, imported by them: the pages on an app of their own (a SQLite
file, tables 2026.3, a key per person of ``PEOPLE``), and TestClients signed in with
one of those keys (``signed_in``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import underwriting as uw
from api.main import create_app
from api.settings import Settings
from api.store import Store

PEOPLE = {
    "wang": "underwriter",
    "zhao": "underwriter",
    "li": "senior_underwriter",
    "chen": "chief_underwriter",
    "sun": "actuary",
}


def _csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def csrf_of() -> Callable[[str], str]:
    """The CSRF token of the first form of a page's HTML."""
    return _csrf_of


@pytest.fixture
def web_app(tmp_path: Path) -> tuple[FastAPI, dict[str, str]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/uw.db",
        max_concurrent_simulations_per_principal=10,
    )
    store = Store(settings.database_url)
    store.create_schema()
    keys = {name: store.create_key(name, role)[0] for name, role in PEOPLE.items()}
    # Tables 2026.3: the first with schedule credits and offer bands.
    return create_app(settings, store=store, tables=uw.load_rating_tables("2026.3")), keys


@pytest.fixture
def client(web_app: tuple[FastAPI, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(web_app[0], follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def signed_in(
    web_app: tuple[FastAPI, dict[str, str]],
) -> Iterator[Callable[[str], TestClient]]:
    """A function: the name of a person (``PEOPLE``) to a client signed in with their key."""
    app, keys = web_app
    opened: list[TestClient] = []

    def sign_in(name: str) -> TestClient:
        test_client = TestClient(app, follow_redirects=False)
        test_client.__enter__()
        opened.append(test_client)
        token = _csrf_of(test_client.get("/signin").text)
        answer = test_client.post("/signin", data={"api_key": keys[name], "csrf_token": token})
        assert answer.status_code == 303, answer.text
        return test_client

    yield sign_in
    for test_client in opened:
        test_client.__exit__(None, None, None)


class _FormReader(HTMLParser):
    """The fields of one form as a browser sends them: text and hidden inputs, ticked boxes,
    the selected option of each select, text areas."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("file", "submit"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select, self._first_option = name, None
        elif tag == "option" and self._select is not None:
            if self._first_option is None:
                self._first_option = a.get("value", "")
                self.fields.setdefault(self._select, self._first_option)
            if "selected" in a:
                self.fields[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea] += data


def form_fields(html: str, form_id: str) -> dict[str, str]:
    """What the browser would send of the form ``form_id`` of a page, as its defaults stand."""
    reader = _FormReader(form_id)
    reader.feed(html)
    assert reader.fields, f"the page has no form {form_id!r} with fields"
    return reader.fields
