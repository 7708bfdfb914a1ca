"""Launches through platform storage, through each framework integration.

The browser's script (it talks to the platform by postMessage) is played here by
the test: it reads the login page's configuration, keeps the binding as platform
storage would, and posts it back from the launch page's finish form.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from credlti.lti import storage_script
from credlti.testing import SimulatedPlatform
from tests.contrib.drivers import BASE, Driver, Reply
from tests.contrib.test_integrations import KINDS, _jwks, make_driver


@pytest.fixture(name="app", params=KINDS)
def _app(request: pytest.FixtureRequest, platform: SimulatedPlatform) -> Iterator[Driver]:
    driver = make_driver(request.param, platform)
    yield driver
    driver.close()


def _config(page: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="credlti-storage-config">(.*?)</script>', page
    )
    assert found is not None, page
    config: dict[str, Any] = json.loads(found.group(1))
    return config


def _inputs(page: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {html.unescape(k): html.unescape(v) for k, v in found}


def _csp(reply: Reply) -> str:
    (policy,) = reply.headers_named("Content-Security-Policy")
    return policy


def _storage_login(app: Driver, platform: SimulatedPlatform) -> tuple[Reply, dict[str, Any]]:
    params = platform.login_params(target_link_uri=app.launch_url)
    params["lti_storage_target"] = "_parent"
    reply = app.get("/login", params)
    assert reply.status == 200, reply.text
    return reply, _config(reply.text)


def _storage_launch(
    app: Driver, platform: SimulatedPlatform, **kwargs: Any
) -> tuple[Reply, dict[str, Any]]:
    """Login and launch without cookies; return the launch page and the login's config."""
    _, login = _storage_login(app, platform)
    app.fresh()  # the browser keeps no cookie at all
    form = {**platform.launch(login["next"], **kwargs), "lti_storage_target": "_parent"}
    page = app.post("/launch", form)
    assert page.status == 200, page.text
    return page, login


def test_login_answers_the_storage_page_and_still_sets_the_cookie(
    app: Driver, platform: SimulatedPlatform
) -> None:
    reply, config = _storage_login(app, platform)
    assert config["mode"] == "login"
    assert config["origin"] == "https://platform.example.edu"
    assert config["target"] == "_parent"
    platform.authorize(config["next"])  # the page goes on to the platform's auth request
    (cookie,) = reply.set_cookies
    assert config["value"] == cookie.split("; ")[0].partition("=")[2]
    assert "Partitioned" in cookie.split("; ")
    (nonce,) = re.findall(r"'nonce-([^']+)'", _csp(reply))
    assert f'<script nonce="{nonce}">{storage_script()}</script>' in reply.text
    assert "frame-ancestors *" in _csp(reply)
    assert reply.header("Cache-Control") == "no-store"
    assert reply.header("X-Frame-Options") is None


def test_a_launch_without_cookie_finishes_through_platform_storage(
    app: Driver, platform: SimulatedPlatform
) -> None:
    page, login = _storage_launch(app, platform)
    config = _config(page.text)
    assert config["mode"] == "launch"
    assert config["key"] == login["key"]
    assert 'id="credlti-finish"' in page.text
    action = re.search(r'<form id="credlti-finish" method="post" action="([^"]+)"', page.text)
    assert action is not None
    finish = html.unescape(action.group(1))
    assert finish == app.launch_url.rstrip("/") + "/finish"
    fields = {**_inputs(page.text), "credlti_binding": login["value"]}

    done = app.post(urlsplit(finish).path, fields)

    assert done.status == 200, done.text
    assert "Ada Lovelace (user-1)" in done.text
    assert done.header("X-Frame-Options") is None
    assert "frame-ancestors *" in _csp(done)
    (cookie,) = done.set_cookies  # set anyway, in case the browser keeps it
    assert cookie.startswith("credlti-launch")
    # A second finish of the same pending launch is refused.
    again = app.post(urlsplit(finish).path, fields)
    assert again.status == 401
    assert "<code>state_mismatch</code>" in again.text


def test_a_swapped_binding_does_not_finish(app: Driver, platform: SimulatedPlatform) -> None:
    page, _ = _storage_launch(app, platform)
    _, other = _storage_login(app, platform)  # another login's binding
    fields = {**_inputs(page.text), "credlti_binding": other["value"]}
    reply = app.post("/launch/finish", fields)
    assert reply.status == 401
    assert "<code>state_mismatch</code>" in reply.text
    assert other["value"] not in reply.text


def test_after_a_cookieless_launch_forms_carry_the_handle(
    app: Driver, platform: SimulatedPlatform
) -> None:
    platform.trust_tool_keys(_jwks())
    page, login = _storage_launch(app, platform, message_type="LtiDeepLinkingRequest")
    fields = {**_inputs(page.text), "credlti_binding": login["value"]}
    done = app.post("/launch/finish", fields)
    assert done.status == 200, done.text
    app.fresh()  # the session cookie was not kept either
    picker = _inputs(done.text)
    assert set(picker) == {"launch_id", "credlti_launch"}
    reply = app.post("/deep-link", picker)
    assert reply.status == 200, reply.text
    (jwt,) = re.findall(r'name="JWT" value="([^"]+)"', reply.text)
    assert platform.verify_deep_linking_response(jwt)


def test_neither_cookie_nor_storage_answers_the_fallback_page(
    app: Driver, platform: SimulatedPlatform
) -> None:
    login = app.get("/login", platform.login_params(target_link_uri=app.launch_url))
    assert login.location is not None
    form = platform.launch(login.location)
    app.fresh()
    reply = app.post("/launch", form)
    assert reply.status == 401
    assert 'id="credlti-fallback"' in reply.text
    assert "<code>state_mismatch</code>" in reply.text
    assert form["id_token"] not in reply.text
    assert "frame-ancestors *" in _csp(reply)


def test_a_replayed_storage_launch_is_refused(app: Driver, platform: SimulatedPlatform) -> None:
    _, login = _storage_login(app, platform)
    app.fresh()
    form = {**platform.launch(login["next"]), "lti_storage_target": "_parent"}
    assert app.post("/launch", form).status == 200
    replay = app.post("/launch", form)
    assert replay.status == 401
    assert "<code>nonce_reused</code>" in replay.text


def test_the_finish_url_follows_the_configured_launch_url(platform: SimulatedPlatform) -> None:
    from credlti.contrib._web import LtiSettings

    settings = LtiSettings(launch_url=f"{BASE}/launch")
    app = make_driver("flask", platform, settings=settings)
    page, _ = _storage_launch(app, platform)
    assert f'action="{BASE}/launch/finish"' in page.text


def test_django_async_views_finish_through_platform_storage(platform: SimulatedPlatform) -> None:
    app = make_driver("django", platform, asynchronous=True)
    page, login = _storage_launch(app, platform)
    fields = {**_inputs(page.text), "credlti_binding": login["value"]}
    done = app.post("/launch/finish", fields)
    assert done.status == 200, done.text
    assert "Ada Lovelace (user-1)" in done.text
