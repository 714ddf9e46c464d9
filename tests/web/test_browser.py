"""The workbench in headless Chromium (Debian's, driven by Playwright), through the journey an
underwriter and a senior make: sign in, quote the chemistry example, add an option, offer a
premium beyond the band (referred), the senior approves, the underwriter binds and downloads the
client's document, and another underwriter's key sees nothing of it.

Every page is checked for console errors, uncaught exceptions and failed requests (a response
of 400 or more that the step did not expect), and saved as a screenshot at 1280 px and at a
phone's 390 px under the test's temporary folder (``UW_SCREENSHOTS`` names another folder). The
time from clicking "Quote" to the quote's page is printed (run with ``-s`` or ``-rP``).

Skipped, saying why, without Playwright or a Chromium; under ``CI=true`` they fail instead
(``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import underwriting as uw
from api.main import create_app
from api.settings import Settings
from api.store import Store

pytestmark = pytest.mark.browser

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _chromium() -> str:
    """The system browser's path, or the reason there is none (skipped; failed under CI)."""
    given = os.environ.get("UW_CHROMIUM")
    found = given or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright is not installed: pip install -e '.[test]'"
    if found is None:
        reason = "no Chromium found (apt-get install chromium, or set UW_CHROMIUM)"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    assert found is not None
    return found


class Server:
    """The service on a free port, in a thread of this process, with tables 2026.3
    (the first with schedule credits and offer bands)."""

    def __init__(self, folder: Path) -> None:
        settings = Settings(database_url=f"sqlite:///{folder}/uw.db")
        self.store = Store(settings.database_url)
        self.store.create_schema()
        self.keys = {
            name: self.store.create_key(name, role)[0]
            for name, role in (
                ("wang", "underwriter"),
                ("li", "senior_underwriter"),
                ("zhao", "underwriter"),
            )
        }
        app = create_app(settings, store=self.store, tables=uw.load_rating_tables("2026.3"))
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _chromium()
    with Server(tmp_path_factory.mktemp("workbench")) as running:
        yield running


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("UW_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Watched:
    """A browser page whose console errors, uncaught errors and failed requests are kept."""

    def __init__(self, browser: Any, base: str, screenshots: Path, who: str) -> None:
        self.context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.expected: set[int] = set()
        self.screenshots = screenshots
        self.who = who
        self.page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.method} {r.url}"))
        self.page.on("response", self._response)

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.status not in self.expected:
            self.problems.append(f"{response.status}: {response.request.method} {response.url}")

    def check(self) -> None:
        # Images load after the page: wait for them before judging.
        self.page.wait_for_load_state("networkidle")
        assert not self.problems, self.problems

    def shoot(self, name: str) -> None:
        self.check()
        self.page.screenshot(path=self.screenshots / f"{name}.png", full_page=True)
        self.page.set_viewport_size({"width": 390, "height": 844})
        self.page.screenshot(path=self.screenshots / f"{name}-phone.png", full_page=True)
        self.page.set_viewport_size({"width": 1280, "height": 900})

    def sign_in(self, key: str, then: str) -> None:
        self.page.goto(then)
        assert "/signin" in self.page.url
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(re.compile(re.escape(then) + "$"))


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


def _boxes(locator: Any) -> list[dict[str, float]]:
    return [locator.nth(i).bounding_box() for i in range(locator.count())]


def test_the_journey_from_quote_to_bound_policy(
    server: Server, browser: Any, screenshots: Path
) -> None:
    wang = Watched(browser, server.url, screenshots, "wang")
    page = wang.page

    wang.sign_in(server.keys["wang"], "/quotes/new")
    page.get_by_label("An example lab").select_option("chemistry_high_hazard")
    page.get_by_role("button", name="Load example").click()
    assert page.get_by_label("Lab id").input_value() == "CHEM-SYN-305"
    assert page.get_by_label("Cover property").is_checked()
    # The equipment schedule is one fieldset (its group's), a table of labelled inputs.
    assert page.locator("#equipment fieldset").count() == 0
    assert page.get_by_label("Value (CNY), row 2").input_value() == "3500000"
    wang.shoot("01-new-quote")

    started = time.perf_counter()
    page.get_by_role("button", name="Quote", exact=True).click()
    page.wait_for_url(re.compile(r"/quotes/[0-9a-f-]{36}$"))
    page.locator("#status").wait_for()
    elapsed = time.perf_counter() - started
    print(f"\nclick 'Quote' to the quote's page shown: {elapsed:.2f} s")
    assert page.locator("#status").inner_text() == "referred"  # R05: high hazard, unprotected
    assert "R05_HIGH_HAZARD_UNPROTECTED" in page.locator("#decision").inner_text()
    first = page.url
    wang.shoot("02-quote-referred-by-rules")

    option = page.locator("#option-form")
    option.get_by_label("Section").select_option("equipment_breakdown")
    option.get_by_label("Change").select_option("deductible")
    option.get_by_label(re.compile("^To")).fill("100000")
    option.get_by_label("Label").fill("breakdown deductible 100k")
    option.get_by_role("button", name="Add option").click()
    page.wait_for_url(re.compile(r"/quotes/[0-9a-f-]{36}#options$"))
    assert page.url.split("#")[0] != first
    options = page.locator("#options table").inner_text()
    assert "breakdown deductible 100k" in options
    # A higher deductible costs less: a negative difference, with its paired standard error.
    row = page.locator("#options tr", has_text="breakdown deductible 100k").inner_text()
    assert re.search(r"\t-[\d,]+\t[\d,]+\t", row), row
    wang.shoot("03-quote-with-option")

    # -15% in schedule credits: beyond the underwriter's band (-10% to +25%).
    offer = page.locator("#offer-form")
    # The credits' inputs line up in rows however their labels wrap: three tops at 1280 px.
    tops = sorted({round(box["y"]) for box in _boxes(offer.locator("input[name^='credit.']"))})
    assert len(tops) == -(-offer.locator("input[name^='credit.']").count() // 3), tops
    offer.get_by_label(re.compile("^Survey: excellent housekeeping")).fill("-5")
    offer.get_by_label(re.compile("^Survey: protections beyond")).fill("-10")
    offer.get_by_role("button", name="Set offered premium").click()
    page.wait_for_url(re.compile(r"#decision$"))
    decision = page.locator("#decision").inner_text()
    assert "OFFER_BEYOND_BAND" in decision
    assert page.locator("#status").inner_text() == "referred"
    quote_url = page.url.split("#")[0]
    quote_path = quote_url.removeprefix(server.url)
    wang.shoot("04-offer-beyond-band-referred")

    senior = Watched(browser, server.url, screenshots, "li")
    senior.sign_in(server.keys["li"], "/referrals")
    card = senior.page.locator("article", has_text="CHEM-SYN-305")
    assert "OFFER_BEYOND_BAND" in card.inner_text()
    senior.shoot("05-referrals-senior")
    card.get_by_label("Note").fill("Survey seen; credits agreed.")
    card.get_by_role("button", name="Approve").click()
    senior.page.wait_for_url(re.compile(r"/referrals$"))
    assert senior.page.locator("#no-referrals").is_visible()
    senior.check()

    page.goto(quote_path)
    assert page.locator("#status").inner_text() == "approved"
    page.get_by_role("button", name="Bind").click()
    page.wait_for_url(re.compile(r"#decision$"))
    assert page.locator("#status").inner_text() == "bound"
    number = page.locator("#policy-number").inner_text()
    assert re.fullmatch(r"LAB-\d{4}-[0-9A-F]{8}", number), number
    history = page.locator("#history-h + div table").inner_text()
    for action in ("create", "offer", "approve", "bind"):
        assert action in history
    assert "Survey seen; credits agreed." in history
    wang.shoot("06-quote-bound")

    with page.expect_download() as download:
        page.locator("#document-pdf").click()
    saved = screenshots / "quotation.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    page.locator("#document-html").click()
    assert "CHEM-SYN-305" in page.content()
    assert number in page.content()
    wang.shoot("07-client-document")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than it
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    # A year on, the underwriter renews the policy: the lab's equipment grew by a tenth.
    page.goto(quote_path)
    page.get_by_role("link", name="Renew this policy").click()
    page.wait_for_url(re.compile(r"/policies/[0-9a-f-]{36}#renew$"))
    policy_path = page.url.removeprefix(server.url).split("#")[0]
    asked_field = page.get_by_label("Renewed submission and terms (JSON)")
    asked = json.loads(asked_field.input_value())
    assert asked["submission"]["lab_id"] == "CHEM-SYN-305"
    equipment = asked["submission"]["values"]["equipment"]
    asked["submission"]["values"]["equipment"] = equipment * 1.1
    asked_field.fill(json.dumps(asked, indent=2))
    wang.shoot("15-policy-renew")
    started = time.perf_counter()
    page.get_by_role("button", name="Price the renewal").click()
    page.wait_for_url(re.compile(r"/quotes/[0-9a-f-]{36}#renewal$"))
    elapsed = time.perf_counter() - started
    print(f"click 'Price the renewal' to the decomposition shown: {elapsed:.2f} s")
    steps = page.locator("#decomposition tbody th").all_inner_texts()
    assert steps == [
        "Expiring",
        "Exposure",
        "Terms",
        "Claims experience",
        "Tables version",
        "Adequacy",
        "Renewal",
    ]
    exposure = page.locator("#decomposition tr", has_text="Exposure").inner_text()
    assert f"submission.values.equipment: {equipment:,.15g} → {equipment * 1.1:,.15g}" in exposure
    assert re.search(r"\+[\d,]+ ± [\d,]+", exposure), exposure  # more equipment, more premium
    assert re.fullmatch(r"[+-]\d+\.\d%", page.locator("#rarc").inner_text())
    assert number in page.locator("#renewal").inner_text()
    renewal_path = page.url.removeprefix(server.url).split("#")[0]
    wang.shoot("16-renewal-decomposition")

    for path, name in (
        ("/quotes", "08-quotes"),
        ("/policies", "09-policies"),
        ("/monitoring", "10-rate-monitoring"),
        ("/tables?old=2026.1&new=2026.2", "11-rating-tables"),
    ):
        page.goto(path)
        wang.shoot(name)
    page.goto("/policies")
    assert "CHEM-SYN-305" in page.locator("main").inner_text()
    page.goto(policy_path)
    assert renewal_path in page.locator("#renewals-h + div table").inner_html()

    # Another underwriter: the quote, its charts and its document are not found; no list names it.
    stranger = Watched(browser, server.url, screenshots, "zhao")
    stranger.sign_in(server.keys["zhao"], "/quotes")
    assert "CHEM-SYN-305" not in stranger.page.content()
    stranger.expected = {404}
    for path in (
        quote_path,
        f"{quote_path}/document",
        f"{quote_path}/charts/ep-curve.svg",
        policy_path,
        renewal_path,
        f"{renewal_path}/charts/renewal.svg",
    ):
        answer = stranger.page.goto(path)
        assert answer is not None
        assert answer.status == 404
        assert "CHEM-SYN-305" not in stranger.page.content()
    # The browser reports each expected 404 on its console too: those, and only those, pass.
    assert all("status of 404" in problem for problem in stranger.problems), stranger.problems
    stranger.problems.clear()
    stranger.expected = set()
    for path in ("/policies", "/referrals", "/monitoring"):
        stranger.page.goto(path)
        assert "CHEM-SYN-305" not in stranger.page.content()
    stranger.shoot("12-stranger-sees-nothing")


def test_the_sign_in_page_and_the_offline_api_docs(
    server: Server, browser: Any, screenshots: Path
) -> None:
    visitor = Watched(browser, server.url, screenshots, "visitor")
    visitor.page.goto("/signin")
    visitor.shoot("00-sign-in")
    # The keyboard alone signs in: the key field has the focus, Tab reaches the button.
    assert visitor.page.evaluate("document.activeElement.id") == "api_key"
    visitor.page.keyboard.press("Tab")
    assert visitor.page.evaluate("document.activeElement.textContent") == "Sign in"
    visitor.page.goto("/docs")
    visitor.page.locator(".swagger-ui .info .title").wait_for()
    assert "underwriting API" in visitor.page.locator(".swagger-ui .info .title").inner_text()
    visitor.shoot("13-api-docs-offline")


def test_a_form_error_is_shown_beside_its_field(
    server: Server, browser: Any, screenshots: Path
) -> None:
    wang = Watched(browser, server.url, screenshots, "wang")
    wang.sign_in(server.keys["wang"], "/quotes/new?example=physics_low_hazard")
    wang.page.get_by_label("Student share").fill("1.5")
    wang.expected = {422}
    wang.page.get_by_role("button", name="Quote", exact=True).click()
    wang.page.wait_for_load_state()
    assert all("status of 422" in problem for problem in wang.problems), wang.problems
    wang.problems.clear()
    message = wang.page.locator("#f-submission-student_share-error").inner_text()
    assert "less than or equal to 1" in message
    assert wang.page.get_by_label("Student share").get_attribute("aria-invalid") == "true"
    wang.shoot("14-new-quote-with-error")
