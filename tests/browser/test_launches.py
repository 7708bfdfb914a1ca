"""LTI launches in a real headless Chromium: the dev platform on one origin, the tool on another.

The platform runs on ``http://127.0.0.1:P1`` and each tool on ``http://localhost:P2``:
two sites, so the tool's frame is third-party in every sense the browser knows.

1. Default settings: a launch, a grade that shows on the platform's page, a
   deep-linking round trip.
2. Every cookie of the tool's site blocked (partitioned ones too): the launch
   completes through platform storage (the LTI Client Side postMessages).
3. A replayed launch and a swapped state are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from playwright.sync_api import BrowserContext, Page, Request, Route

from credlti.testing import DevPlatform, serve_platform
from tests.browser.sites import EXAMPLES, Site, Sites

pytestmark = pytest.mark.browser


@pytest.fixture(name="platform", scope="module")
def _platform() -> Iterator[DevPlatform]:
    with serve_platform(port=0) as platform:
        yield platform


@pytest.fixture(name="sites", scope="module")
def _sites(platform: DevPlatform) -> Iterator[Sites]:
    sites = Sites(platform)
    yield sites
    sites.close()


@pytest.fixture(name="site", params=["core", *EXAMPLES])
def _site(request: pytest.FixtureRequest, sites: Sites) -> Site:
    """Each tool: the hand-written core one, then every framework integration's example."""
    return sites.get(request.param)


def course_url(platform: DevPlatform, site: Site, **params: str) -> str:
    query = {"tool": str(site.number), "role": "learner", "message": "resource", **params}
    return f"{platform.base_url}/course?{urlencode(query)}"


def launch_posts(page: Page, site: Site) -> list[Request]:
    """Record the form POSTs the browser sends to the tool's launch URL."""
    posts: list[Request] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url == site.launch_url:
            posts.append(request)

    page.on("request", record)
    return posts


def scores(platform: DevPlatform, site: Site) -> list[dict[str, Any]]:
    tool = platform.state()["tools"][site.number - 1]
    return [s for item in tool["line_items"] for s in item["scores"]]


def test_launch_grade_and_deep_link_with_default_settings(
    page: Page, platform: DevPlatform, site: Site
) -> None:
    page.goto(course_url(platform, site))
    frame = page.frame_locator("#tool")
    frame.get_by_text(site.launched_text).wait_for()
    assert "Grace Hopper" in frame.locator("body").inner_text()

    before = len(scores(platform, site))
    frame.locator(site.grade_button).click()
    frame.get_by_text(site.graded_text).wait_for()
    page.goto(f"{platform.base_url}/grades")
    assert len(scores(platform, site)) == before + 1
    assert scores(platform, site)[-1]["userId"] == "learner-1"
    assert "learner-1" in page.locator("body").inner_text()

    page.goto(course_url(platform, site, role="instructor", message="deep"))
    frame = page.frame_locator("#tool")
    frame.locator(site.deep_link_button).click()
    frame.locator("#count").wait_for()
    received = frame.locator("body").inner_text()
    assert "Deep-linking items received" in received
    page.goto(f"{platform.base_url}/grades")
    tool = platform.state()["tools"][site.number - 1]
    assert tool["deep_link_items"], "the platform received no deep-link item"
    assert tool["deep_link_items"][-1]["title"] in page.locator("body").inner_text()


def test_launch_through_platform_storage_with_every_tool_cookie_blocked(
    blocked_page: Page, blocked_cookies_context: BrowserContext, platform: DevPlatform, site: Site
) -> None:
    page = blocked_page
    offered: list[str] = []
    page.on(
        "response",
        lambda r: (
            offered.extend(
                h["value"] for h in r.headers_array() if h["name"].lower() == "set-cookie"
            )
            if r.url.startswith(site.base_url)
            else None
        ),
    )
    page.goto(course_url(platform, site))
    frame = page.frame_locator("#tool")
    frame.get_by_text(site.launched_text).wait_for()
    assert "Grace Hopper" in frame.locator("body").inner_text()
    # The tool offered its state cookie, and it never reached the browser's jar: the
    # launch rode on platform storage.
    assert any(cookie.startswith("credlti-state-") for cookie in offered), offered
    tool_cookies = [c for c in blocked_cookies_context.cookies() if c["domain"] == "localhost"]
    assert tool_cookies == []
    log = page.frame(name="post_message_forwarding")
    assert log is not None
    subjects = [entry["subject"] for entry in log.evaluate("window.credltiStorageLog")]
    assert "lti.put_data" in subjects
    assert "lti.get_data" in subjects


def test_replayed_launch_is_refused(page: Page, platform: DevPlatform, site: Site) -> None:
    posts = launch_posts(page, site)
    page.goto(course_url(platform, site))
    frame = page.frame_locator("#tool")
    frame.get_by_text(site.launched_text).wait_for()
    assert len(posts) == 1
    form = dict(parse_qsl(posts[0].post_data or ""))
    assert set(form) >= {"id_token", "state"}

    # The same form, posted again by the same browser into the same frame.
    with page.expect_response(
        lambda r: r.url == site.launch_url and r.request.method == "POST"
    ) as replay:
        page.evaluate(
            """([action, fields]) => {
                const form = document.createElement("form");
                form.method = "post"; form.action = action; form.target = "tool-frame";
                for (const [name, value] of Object.entries(fields)) {
                    const input = document.createElement("input");
                    input.type = "hidden"; input.name = name; input.value = value;
                    form.appendChild(input);
                }
                document.body.appendChild(form);
                form.submit();
            }""",
            [site.launch_url, form],
        )
    assert replay.value.status in (400, 401, 403)
    assert site.launched_text not in frame.locator("body").inner_text()


def test_swapped_state_is_refused(page: Page, platform: DevPlatform, site: Site) -> None:
    # A first login whose launch never reaches the tool: its state cookie is set.
    page.route(site.launch_url, lambda route: route.fulfill(status=204, body=""))
    with page.expect_response(lambda r: r.url == site.launch_url and r.status == 204) as first:
        page.goto(course_url(platform, site))
    held = dict(parse_qsl(first.value.request.post_data or ""))
    assert set(held) >= {"id_token", "state"}
    page.unroute(site.launch_url)
    sent: list[dict[str, str]] = []

    def swap_state(route: Route) -> None:
        # The second launch's signed id_token, with the first login's state.
        form = dict(parse_qsl(route.request.post_data or ""))
        form["state"] = held["state"]
        sent.append(form)
        route.continue_(post_data=urlencode(form))

    page.route(site.launch_url, swap_state)
    with page.expect_response(
        lambda r: r.url == site.launch_url and r.request.method == "POST"
    ) as swapped:
        page.goto(course_url(platform, site))
    assert len(sent) == 1
    assert sent[0]["state"] == held["state"]
    assert sent[0]["id_token"] != held["id_token"]
    assert swapped.value.status in (400, 401, 403)
    frame = page.frame_locator("#tool")
    frame.locator("body").wait_for()
    assert site.launched_text not in frame.locator("body").inner_text()


def test_dynamic_registration_then_launch(page: Page, platform: DevPlatform, site: Site) -> None:
    before = len(platform.tools)
    page.goto(f"{platform.base_url}/")
    page.locator("input[name=url]").fill(site.register_url)
    with page.expect_navigation(url=f"{platform.base_url}/", timeout=20_000):
        # The tool's page runs in a frame and posts org.imsglobal.lti.close when done.
        page.get_by_role("button", name="Start dynamic registration").click()
    assert len(platform.tools) == before + 1
    registered = platform.tools[-1]
    assert registered.login_url.startswith(site.base_url)
    assert registered.client_id in page.locator("body").inner_text()

    page.goto(course_url(platform, site, tool=str(registered.number)))
    frame = page.frame_locator("#tool")
    frame.get_by_text(site.launched_text).wait_for()
    assert "Grace Hopper" in frame.locator("body").inner_text()
