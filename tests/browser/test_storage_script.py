"""The platform-storage script in a real headless Chromium, against a scripted platform.

The platform runs on ``http://127.0.0.1:<port>``, the tool on ``http://localhost:<port>``
in its iframe (tests/browser/storage_harness.py). Each test sets how the platform
answers the LTI Client Side postMessages and checks what the tool's pages do: store
and read the binding, ignore answers from another origin or with another message id,
time out, fall back to the cookie or to the "open in a new window" page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, FrameLocator, Locator, Page

from credlti.lti import _storage_pages

from .storage_harness import Scenario, Sites, start_sites

pytestmark = pytest.mark.browser

#: Script timeouts for these tests (the pages read them when built): generous, as the
#: test machine may be loaded, and still short enough that timeout cases cost little.
CAPABILITIES_MS = 3000
STORAGE_MS = 5000


@pytest.fixture(autouse=True)
def _short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_storage_pages, "CAPABILITIES_TIMEOUT_MS", CAPABILITIES_MS)
    monkeypatch.setattr(_storage_pages, "STORAGE_TIMEOUT_MS", STORAGE_MS)


@pytest.fixture(name="sites")
def _sites() -> Iterator[Sites]:
    """Platform and tool; the tool sets no state cookie (as if the browser dropped it)."""
    with start_sites(set_cookie=False) as sites:
        yield sites


@pytest.fixture(name="cookie_sites")
def _cookie_sites() -> Iterator[Sites]:
    """Platform and tool; the tool sets its partitioned state cookie at login."""
    with start_sites(set_cookie=True) as sites:
        yield sites


def _open(page: Page, sites: Sites, scenario: Scenario, **kwargs: Any) -> list[str]:
    """Open the course page; return the console errors it will collect (CSP reports)."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(sites.platform.course_url(sites.tool, scenario, **kwargs))
    return errors


def _tool(page: Page) -> FrameLocator:
    """The tool's iframe (a locator: it follows the frame across its navigations)."""
    return page.frame_locator("iframe[name=tool]")


def _wait_status(page: Page, status: str) -> Locator:
    """Wait until the tool frame's page is marked *status*; return its root element."""
    root = _tool(page).locator(f"html[data-credlti='{status}']")
    root.wait_for(state="attached", timeout=30_000)
    return root


def _tool_url(page: Page) -> str:
    frame = page.frame(name="tool")
    assert frame is not None
    return frame.url


def _launched(page: Page, how: str, sites: Sites) -> None:
    """Wait until the tool completed the launch *how* (its own record), then see the page."""
    deadline = time.monotonic() + 30
    while not sites.tool.finished() and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    if sites.tool.finished() != [{"how": how, "sub": "user-1"}]:
        pytest.fail(f"no launch via {how}: tool {sites.tool.events}, platform {_log(page)}")
    launched = _tool(page).locator("#launched")
    assert launched.inner_text() == f"Launched via {how} as user-1"


def _log(page: Page) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = page.evaluate("window.__log || []")
    return log


def _stored(page: Page) -> dict[str, str]:
    store: dict[str, str] = page.evaluate("window.__store || {}")
    return store


def _no_csp_errors(errors: list[str]) -> None:
    assert not [e for e in errors if "Content Security Policy" in e], errors


# --------------------------------------------------------------------------- happy paths


def test_named_frame_from_capabilities_carries_the_whole_launch(
    page_factory: Any, sites: Sites
) -> None:
    page = page_factory()
    errors = _open(page, sites, Scenario(frame="post_message_forwarding"))
    _launched(page, "storage", sites)
    _no_csp_errors(errors)
    # The binding went to the forwarding frame, keyed by the state, from the tool's origin.
    (key, value), *rest = _stored(page).items()
    assert not rest
    assert key.startswith(sites.tool.base_url + " credlti_state_")
    assert value.startswith("v3.")
    storage = [e for e in _log(page) if e["subject"] in ("lti.put_data", "lti.get_data")]
    assert [(e["role"], e["subject"]) for e in storage] == [
        ("forwarder", "lti.put_data"),
        ("forwarder", "lti.get_data"),
    ]
    assert all(e["origin"] == sites.tool.base_url for e in _log(page))
    assert len({e["message_id"] for e in _log(page)}) == len(_log(page))  # ids never reused
    assert [name for name, _ in sites.tool.events] == ["login", "pending", "launched"]


def test_parent_storage_without_a_capabilities_answer(page_factory: Any, sites: Sites) -> None:
    page = page_factory()
    _open(page, sites, Scenario(caps="silent"))
    _launched(page, "storage", sites)
    assert {e["role"] for e in _log(page)} == {"top"}


def test_older_org_imsglobal_subjects(page_factory: Any, sites: Sites) -> None:
    page = page_factory()
    _open(page, sites, Scenario(caps="legacy", frame="post_message_forwarding"))
    _launched(page, "storage", sites)
    subjects = {e["subject"] for e in _log(page) if e["role"] == "forwarder"}
    assert subjects == {"org.imsglobal.lti.put_data", "org.imsglobal.lti.get_data"}


def test_the_cookie_still_works_when_the_platform_cannot_store(
    page_factory: Any, cookie_sites: Sites
) -> None:
    page = page_factory()
    _open(page, cookie_sites, Scenario(caps="no_put"))
    _launched(page, "cookie", cookie_sites)  # the partitioned state cookie came back
    assert not [e for e in _log(page) if "data" in e["subject"]]  # nothing was stored


# --------------------------------------------------------------------------- hostile answers


def test_answers_from_another_origin_are_ignored(page_factory: Any, sites: Sites) -> None:
    """The attacker frame answers get_data with the right id and a forged binding."""
    page = page_factory()
    _open(page, sites, Scenario(get="silent", attacker=("get",)))
    root = _wait_status(page, "fallback")
    assert root.get_attribute("data-credlti-reason") == "timeout"
    assert _tool(page).locator("#credlti-fallback").is_visible()
    assert not [name for name, _ in sites.tool.events if name in ("launched", "error")]


def test_a_forged_put_answer_does_not_count_as_stored(page_factory: Any, sites: Sites) -> None:
    page = page_factory()
    _open(page, sites, Scenario(put="silent", attacker=("put",)))
    # Not stored, but this frame keeps cookies: the login goes on by the cookie path,
    # and the launch (no cookie was set by this tool) then finds no binding.
    _wait_status(page, "fallback")
    assert sites.tool.finished() == []
    assert _tool_url(page).startswith(sites.tool.base_url + "/launch")


def test_answers_with_another_message_id_are_ignored(page_factory: Any, sites: Sites) -> None:
    page = page_factory()
    _open(page, sites, Scenario(get="wrong_id"))
    root = _wait_status(page, "fallback")
    assert root.get_attribute("data-credlti-reason") == "timeout"
    assert sites.tool.finished() == []


def test_an_error_answer_shows_the_fallback(page_factory: Any, sites: Sites) -> None:
    page = page_factory()
    _open(page, sites, Scenario(get="error"))
    root = _wait_status(page, "fallback")
    assert root.get_attribute("data-credlti-reason") == "error:storage_exhausted"
    assert sites.tool.finished() == []


# --------------------------------------------------------------------------- no storage


def test_timeout_then_cookie_path(page_factory: Any, cookie_sites: Sites) -> None:
    page = page_factory()
    _open(page, cookie_sites, Scenario(caps="silent", put="silent"))
    _launched(page, "cookie", cookie_sites)


def _blocked(context: BrowserContext, screenshots: list[BrowserContext]) -> Page:
    screenshots.append(context)
    return context.new_page()


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        (Scenario(caps="silent", put="silent"), "timeout"),
        (Scenario(caps="no_put"), "unsupported"),
        (Scenario(put="error"), "error:storage_exhausted"),
        (Scenario(put="wrong_id"), "timeout"),
    ],
)
def test_no_storage_and_no_cookies_shows_the_new_window_fallback(
    blocked_cookies_context: BrowserContext,
    screenshot_on_failure: list[BrowserContext],
    cookie_sites: Sites,
    scenario: Scenario,
    reason: str,
) -> None:
    page = _blocked(blocked_cookies_context, screenshot_on_failure)
    try:
        _open(page, cookie_sites, scenario)
        root = _wait_status(page, "fallback")
        assert root.get_attribute("data-credlti-reason") == reason
        button = _tool(page).get_by_role("button", name="Open in a new window")
        assert button.is_visible()
        assert not _tool(page).locator("#credlti-status").is_visible()
        with page.expect_popup() as popup:
            button.click()
        popup.value.wait_for_load_state()
        logins = [data for name, data in cookie_sites.tool.events if name == "login"]
        assert logins[-1]["method"] == "POST"
        assert "lti_storage_target" not in logins[-1]["params"]
        assert logins[-1]["params"]["login_hint"] == logins[0]["params"]["login_hint"]
        popup.value.close()
    finally:
        page.close()


def test_storage_works_with_every_cookie_blocked(
    blocked_cookies_context: BrowserContext,
    screenshot_on_failure: list[BrowserContext],
    cookie_sites: Sites,
) -> None:
    page = _blocked(blocked_cookies_context, screenshot_on_failure)
    try:
        errors = _open(page, cookie_sites, Scenario(frame="post_message_forwarding"))
        _launched(page, "storage", cookie_sites)
        _no_csp_errors(errors)
    finally:
        page.close()
