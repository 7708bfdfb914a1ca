"""Browser fixtures: one headless Chromium per session, a screenshot of every failure.

The browser is Debian's ``chromium`` (``scripts/bootstrap.sh`` installs it when it
is missing and may), driven by Playwright without any browser download. Without it
the browser tests FAIL, never skip: a suite that silently skips them proves nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

CHROMIUM_ENV = "CREDLTI_CHROMIUM"
SCREENSHOTS_ENV = "CREDLTI_SCREENSHOTS"
_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# With site isolation, Playwright now and then loses track of a cross-site iframe that
# Debian's Chromium runs out of process: the frame's new document stays invisible to it
# (seen as time-outs on elements the screenshot shows). Without the site-isolation
# trial, frames stay in view. Cookies, storage partitioning and postMessage origins do
# not depend on processes, so what the tests prove is unchanged.
CHROMIUM_ARGS = ["--disable-site-isolation-trials"]


def chromium_path() -> str:
    """Where Chromium is; fails the test with how to install it when it is missing."""
    configured = os.environ.get(CHROMIUM_ENV)
    for candidate in (configured, *_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "Chromium is not installed: the browser tests need it. Install Debian's package "
        "(`apt-get install chromium`; scripts/bootstrap.sh does it as root) or set "
        f"{CHROMIUM_ENV} to a Chromium binary.",
        pytrace=False,
    )


def screenshot_dir() -> Path:
    """Where failure screenshots go (``CREDLTI_SCREENSHOTS``, default build/screenshots)."""
    default = Path(__file__).resolve().parents[2] / "build" / "screenshots"
    return Path(os.environ.get(SCREENSHOTS_ENV) or default)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's report on the item, for the screenshot-on-failure fixtures."""
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _screenshot_on_failure(request: pytest.FixtureRequest, context: BrowserContext) -> None:
    report = getattr(request.node, "rep_call", None)
    if report is None or not report.failed:
        return
    folder = screenshot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    for number, page in enumerate(context.pages):
        path = folder / f"{name}-{number}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
        except Exception as exc:
            print(f"screenshot of {page.url} failed: {exc}")
        else:
            print(f"screenshot: {path}")


@pytest.fixture(name="playwright", scope="package")
def _playwright() -> Iterator[Playwright]:
    # Package scope, not session: Playwright's sync driver runs an event loop in this
    # thread while it is open, and code under test later in the session (Django's
    # async_to_sync, for one) refuses to run inside a running loop. The browser tests
    # run one after the other, so this is still one browser for all of them.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(name="browser", scope="package")
def _browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for all the browser tests."""
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture(name="page")
def _page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context (default settings: third-party cookies allowed) and page."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    _screenshot_on_failure(request, context)
    context.close()


@pytest.fixture(name="blocked_cookies_context", scope="package")
def _blocked_cookies_context(playwright: Playwright) -> Iterator[BrowserContext]:
    """A Chromium profile that blocks third-party cookies AND every cookie of ``localhost``.

    Blocking third-party cookies alone still lets partitioned (CHIPS) cookies through;
    the site exception for ``localhost`` (where the tools run) blocks those too, as the
    strictest browsers and enterprise policies do. Preferences only load with a
    profile, so this is a persistent context (a second browser process).
    """
    with tempfile.TemporaryDirectory(prefix="credlti-chromium-") as profile:
        (Path(profile) / "Default").mkdir()
        preferences = {
            "profile": {
                "cookie_controls_mode": 1,
                "block_third_party_cookies": True,
                "content_settings": {
                    "exceptions": {"cookies": {"[*.]localhost,*": {"setting": 2}}}
                },
            }
        }
        (Path(profile) / "Default" / "Preferences").write_text(json.dumps(preferences))
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        context.set_default_timeout(15_000)
        yield context
        context.close()


@pytest.fixture(name="blocked_page")
def _blocked_page(
    blocked_cookies_context: BrowserContext, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A page of the cookie-blocking profile."""
    page = blocked_cookies_context.new_page()
    yield page
    _screenshot_on_failure(request, blocked_cookies_context)
    page.close()


# --------------------------------------------------------------------------- pages on demand


@pytest.fixture(name="screenshot_on_failure")
def _screenshot_fixture(request: pytest.FixtureRequest) -> Iterator[list[BrowserContext]]:
    """A list to put your own browser contexts in (e.g. a persistent one).

    If the test fails, every page of each listed context is screenshotted into
    :func:`screenshot_dir` (``CREDLTI_SCREENSHOTS``, default build/screenshots) after
    the test; close the contexts yourself, after this fixture's teardown.
    ``page_factory`` pages are screenshotted by ``page_factory`` itself.
    """
    contexts: list[BrowserContext] = []
    yield contexts
    for context in contexts:
        _screenshot_on_failure(request, context)


@pytest.fixture(name="page_factory")
def _page_factory(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``page_factory(**context_options) -> Page``: a page in a fresh context of ``browser``.

    Options go to ``browser.new_context`` (default settings otherwise: third-party
    cookies allowed). If the test fails, every page of these contexts is
    screenshotted (as ``screenshot_on_failure`` does); all are closed after the test.
    """
    contexts: list[BrowserContext] = []

    def new_page(**options: Any) -> Page:
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        _screenshot_on_failure(request, context)
        context.close()
