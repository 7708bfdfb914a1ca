"""The framework integrations, each through its framework's own test client.

Every test runs against the Flask blueprint, the Starlette routes and the Django
URL patterns with their defaults, driven as a browser would by
tests/contrib/drivers.py against a :class:`~credlti.testing.SimulatedPlatform`.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.contrib._web import LtiSettings
from credlti.errors import ConfigurationError
from credlti.lti import Deployment, Registration, state_cookie_name
from credlti.lti.keys import KeySet, KeyState, generate_key
from credlti.lti.registration import (
    AsyncDynamicRegistration,
    DynamicRegistration,
    ToolMessage,
    ToolSettings,
)
from credlti.testing import SimulatedPlatform
from tests.contrib.drivers import (
    BASE,
    DjangoDriver,
    Driver,
    FlaskDriver,
    Reply,
    StarletteDriver,
)
from tests.lti.registration_platform import SpecPlatform
from tests.lti.test_registration import TOKEN, platform_for

KINDS = ["flask", "starlette", "django"]
KEY = generate_key(now=SimulatedPlatform().clock(), state=KeyState.CURRENT)


def make_driver(
    kind: str,
    platform: SimulatedPlatform,
    *,
    registrar: Any = None,
    settings: LtiSettings | None = None,
    prefix: str = "",
    asynchronous: bool = False,
    **tool_options: Any,
) -> Driver:
    """The integration of *kind* with its defaults, around a tool wired to *platform*."""
    tool_options.setdefault("keys", KeySet([KEY]))
    if kind == "flask":
        from flask import Flask

        from credlti.contrib.flask import lti_blueprint

        app = Flask("test")
        tool = platform.tool(**tool_options)
        app.register_blueprint(
            lti_blueprint(tool, registrar=registrar, settings=settings, url_prefix=prefix or None)
        )
        driver: Driver = FlaskDriver(app)
    elif kind == "starlette":
        from starlette.applications import Starlette
        from starlette.routing import Mount

        from credlti.contrib.starlette import lti_router, lti_routes

        atool = platform.async_tool(**tool_options)
        if prefix:
            routes: list[Any] = [
                Mount(prefix, lti_router(atool, registrar=registrar, settings=settings))
            ]
        else:
            routes = lti_routes(atool, registrar=registrar, settings=settings)
        driver = StarletteDriver(Starlette(routes=routes))
    else:
        from django.urls import include, path

        from credlti.contrib.django import lti_urlpatterns

        any_tool = (
            platform.async_tool(**tool_options) if asynchronous else platform.tool(**tool_options)
        )
        patterns = lti_urlpatterns(any_tool, registrar=registrar, settings=settings)
        if prefix:
            patterns = [path(prefix.strip("/") + "/", include((patterns, "lti")))]
        driver = DjangoDriver(patterns, prefix=prefix)
    driver.launch_url = f"{BASE}{prefix}/launch" + ("/" if kind == "django" else "")
    return driver


@pytest.fixture(name="app", params=KINDS)
def _app(request: pytest.FixtureRequest, platform: SimulatedPlatform) -> Iterator[Driver]:
    driver = make_driver(request.param, platform)
    yield driver
    driver.close()


def _path(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _launch(
    app: Driver, platform: SimulatedPlatform, prefix: str = "", **kwargs: Any
) -> tuple[Reply, Reply]:
    """Login, the platform's POST and the page: (the POST's reply, the page)."""
    login = app.get(f"{prefix}/login", platform.login_params(target_link_uri=app.launch_url))
    assert login.status == 302, login.text
    assert login.location is not None
    posted = app.post(f"{prefix}/launch", platform.launch(login.location, **kwargs))
    assert posted.status == 303, posted.text
    assert posted.location is not None
    return posted, app.get(_path(posted.location))


def _hidden_inputs(page: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {html.unescape(k): html.unescape(v) for k, v in found}


def _csp(reply: Reply) -> str:
    (policy,) = reply.headers_named("Content-Security-Policy")
    return policy


# ----------------------------------------------------------------------------- login and launch


def test_login_by_get_and_post_sets_a_partitioned_state_cookie(
    app: Driver, platform: SimulatedPlatform
) -> None:
    for reply in (
        app.get("/login", platform.login_params()),
        app.post("/login", platform.login_params()),
    ):
        assert reply.status == 302, reply.text
        assert reply.location is not None
        query = platform.authorize(reply.location)
        assert query["redirect_uri"] == app.launch_url
        (cookie,) = reply.set_cookies
        name, _, rest = cookie.partition("=")
        assert name == state_cookie_name(query["state"])
        for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/"):
            assert attribute in rest.split("; ")
        assert reply.header("Cache-Control") == "no-store"
        assert "frame-ancestors *" in _csp(reply)


def test_launch_page_is_framable_and_not_cached(app: Driver, platform: SimulatedPlatform) -> None:
    posted, page = _launch(app, platform)
    assert page.status == 200
    assert "Ada Lovelace (user-1)" in page.text
    assert "Introduction to Computing" in page.text
    # Django's XFrameOptionsMiddleware is installed: the views are exempt from it.
    assert page.header("X-Frame-Options") is None
    assert posted.header("X-Frame-Options") is None
    assert _csp(page) == "frame-ancestors *"
    assert page.header("Cache-Control") == "no-store"
    cleared, kept = posted.set_cookies
    assert "Max-Age=0" in cleared
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Max-Age=3600"):
        assert attribute in kept.split("; ")


@pytest.mark.parametrize("kind", KINDS)
def test_frame_ancestors_and_cookie_settings(kind: str, platform: SimulatedPlatform) -> None:
    settings = LtiSettings(
        frame_ancestors=("https://platform.example.edu",), launch_ttl=600, partitioned=False
    )
    app = make_driver(kind, platform, settings=settings)
    try:
        posted, page = _launch(app, platform)
        assert _csp(page) == "frame-ancestors https://platform.example.edu"
        assert _csp(posted) == "frame-ancestors https://platform.example.edu"
        kept = posted.set_cookies[-1].split("; ")
        assert "Max-Age=600" in kept
        assert "Partitioned" not in kept
    finally:
        app.close()


def test_settings_check_themselves() -> None:
    for bad in [(), ("a;b",), ("two words",), ("",)]:
        with pytest.raises(ConfigurationError):
            LtiSettings(frame_ancestors=bad)
    for ttl in (0, -1, True):
        with pytest.raises(ConfigurationError):
            LtiSettings(launch_ttl=ttl)


@pytest.mark.parametrize("kind", KINDS)
def test_mounted_under_a_prefix(kind: str, platform: SimulatedPlatform) -> None:
    app = make_driver(kind, platform, prefix="/lti")
    try:
        login = app.get("/lti/login", platform.login_params(target_link_uri=app.launch_url))
        assert login.location is not None
        assert platform.authorize(login.location)["redirect_uri"] == app.launch_url
        _, page = _launch(app, platform, prefix="/lti")
        assert page.status == 200
        assert "Ada Lovelace" in page.text
    finally:
        app.close()


def test_django_async_views_with_an_async_tool(platform: SimulatedPlatform) -> None:
    app = make_driver("django", platform, asynchronous=True)
    _, page = _launch(app, platform)
    assert page.status == 200
    assert "Ada Lovelace (user-1)" in page.text
    assert app.get("/launch", {"launch_id": "nope"}).status == 404
    assert app.get("/jwks.json").status == 200


def test_django_csrf_stays_on_for_other_views(platform: SimulatedPlatform) -> None:
    """Only the LTI views are exempt: the project's own POST views keep Django's check."""
    from django.http import HttpResponse
    from django.urls import path

    from credlti.contrib.django import lti_urlpatterns

    def own(request: Any) -> HttpResponse:
        return HttpResponse("ok")

    app = DjangoDriver([*lti_urlpatterns(platform.tool()), path("page/", own)])
    assert app.post("/page", {}).status == 403
    assert app.post("/login", platform.login_params()).status == 302


# ----------------------------------------------------------------------------- follow-up requests


def test_the_launch_reopens_only_with_its_cookie(app: Driver, platform: SimulatedPlatform) -> None:
    posted, page = _launch(app, platform)
    assert posted.location is not None
    assert page.status == 200
    assert app.get(_path(posted.location)).status == 200  # a reload reopens it again
    app.fresh()
    reply = app.get(_path(posted.location))
    assert reply.status == 404
    assert "<code>launch_not_open</code>" in reply.text


def test_errors_show_code_and_status_and_nothing_secret(
    app: Driver, platform: SimulatedPlatform
) -> None:
    login = app.get("/login", platform.login_params(target_link_uri=app.launch_url))
    assert login.location is not None
    form = platform.launch(login.location)
    app.fresh()  # the state cookie is gone
    reply = app.post("/launch", form)
    assert reply.status == 401
    assert "<code>state_mismatch</code>" in reply.text
    assert form["id_token"] not in reply.text
    assert form["state"] not in reply.text
    assert reply.header("Cache-Control") == "no-store"
    assert reply.header("X-Frame-Options") is None
    assert "frame-ancestors *" in _csp(reply)


# ----------------------------------------------------------------------------- deep linking


def _deep_link_page(app: Driver, platform: SimulatedPlatform) -> tuple[Reply, dict[str, str]]:
    _, page = _launch(app, platform, message_type="LtiDeepLinkingRequest")
    assert page.status == 200, page.text
    fields = _hidden_inputs(page.text)
    assert set(fields) == {"launch_id", "credlti_token"}
    return page, fields


def test_deep_link_round_trip(app: Driver, platform: SimulatedPlatform) -> None:
    platform.trust_tool_keys(_jwks())
    _, fields = _deep_link_page(app, platform)
    reply = app.post("/deep-link", fields)
    assert reply.status == 200, reply.text
    (nonce,) = re.findall(r"script-src 'nonce-([^']+)'", _csp(reply))
    assert f'nonce="{nonce}"' in reply.text
    assert f'action="{platform.issuer}/deep_links"' in reply.text
    (jwt,) = re.findall(r'name="JWT" value="([^"]+)"', reply.text)
    (item,) = platform.verify_deep_linking_response(jwt)
    assert item["type"] == "ltiResourceLink"
    assert reply.header("X-Frame-Options") is None


def _jwks() -> dict[str, Any]:
    from credlti.lti.keys import jwks

    return jwks(KeySet([KEY]))


def test_deep_link_form_needs_its_token_and_its_launch(
    app: Driver, platform: SimulatedPlatform
) -> None:
    _, fields = _deep_link_page(app, platform)
    for changed, status, code in [
        ({"credlti_token": ""}, 403, "form_token_invalid"),
        ({"credlti_token": fields["credlti_token"][::-1]}, 403, "form_token_invalid"),
        ({"launch_id": "0" * 32}, 404, "launch_not_open"),
        ({"launch_id": "a;b"}, 404, "launch_not_open"),
    ]:
        reply = app.post("/deep-link", {**fields, **changed})
        assert reply.status == status, changed
        assert f"<code>{code}</code>" in reply.text
    app.fresh()  # another browser: the token alone opens nothing
    reply = app.post("/deep-link", fields)
    assert reply.status == 404


def test_a_cookieless_form_carries_the_handle(app: Driver, platform: SimulatedPlatform) -> None:
    """Without cookies the page's forms carry the handle itself (never a URL)."""
    platform.trust_tool_keys(_jwks())
    posted, _ = _launch(app, platform, message_type="LtiDeepLinkingRequest")
    assert posted.location is not None
    launch_id = parse_qs(urlsplit(posted.location).query)["launch_id"][0]
    (handle,) = [v for n, v in app_cookies(posted) if n.endswith(launch_id)]
    assert handle not in posted.location
    app.fresh()  # a browser that kept no cookie
    reply = app.post("/deep-link", {"launch_id": launch_id, "credlti_launch": handle})
    assert reply.status == 200, reply.text
    assert 'name="JWT"' in reply.text
    bad = app.post("/deep-link", {"launch_id": launch_id, "credlti_launch": "x" * 43})
    assert bad.status == 401
    assert "<code>launch_session_not_found</code>" in bad.text


def app_cookies(reply: Reply) -> list[tuple[str, str]]:
    pairs = [c.split("; ")[0].partition("=") for c in reply.set_cookies]
    return [(name, value) for name, _, value in pairs]


def test_a_resource_link_launch_cannot_return_items(
    app: Driver, platform: SimulatedPlatform
) -> None:
    posted, _ = _launch(app, platform)
    assert posted.location is not None
    launch_id = parse_qs(urlsplit(posted.location).query)["launch_id"][0]
    (value,) = [v for n, v in app_cookies(posted) if n.endswith(launch_id)]
    from credlti.contrib._web import form_token

    reply = app.post("/deep-link", {"launch_id": launch_id, "credlti_token": form_token(value)})
    assert reply.status == 400
    assert "<code>not_a_deep_linking_launch</code>" in reply.text


# ----------------------------------------------------------------------------- keys


def test_jwks_serves_public_keys_only(app: Driver) -> None:
    reply = app.get("/jwks.json")
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("Cache-Control") == "public, max-age=3600"
    (key,) = httpx.Response(200, content=reply.text).json()["keys"]
    assert key["kid"] == KEY.kid
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


@pytest.mark.parametrize("kind", KINDS)
def test_jwks_without_keys_is_a_configuration_error(kind: str, platform: SimulatedPlatform) -> None:
    app = make_driver(kind, platform, keys=None)
    try:
        reply = app.get("/jwks.json")
        assert reply.status == 500
        assert "<code>configuration_error</code>" in reply.text
    finally:
        app.close()


# ----------------------------------------------------------------------------- registration


SETTINGS = ToolSettings(
    client_name="Quiz Tool",
    initiate_login_uri="https://tool.example.com/login",
    redirect_uris=("https://tool.example.com/launch",),
    jwks_uri="https://tool.example.com/jwks.json",
    target_link_uri="https://tool.example.com/launch",
    messages=(ToolMessage(type="LtiResourceLinkRequest", label="Quiz"),),
    claims=("iss", "sub", "name"),
)


def _registrar(kind: str, spec: SpecPlatform, storage: Any) -> Any:
    if kind == "starlette":
        client = httpx.AsyncClient(transport=spec.async_transport())
        return AsyncDynamicRegistration(SETTINGS, storage, http_client=client)
    return DynamicRegistration(
        SETTINGS, storage, http_client=httpx.Client(transport=spec.transport())
    )


@pytest.mark.parametrize("kind", KINDS)
def test_registration_view_registers_and_closes_the_window(
    kind: str, platform: SimulatedPlatform
) -> None:
    spec = platform_for("moodle")
    storage: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage()
    app = make_driver(kind, platform, registrar=_registrar(kind, spec, storage))
    query = {"openid_configuration": spec.configuration_url, "registration_token": TOKEN}
    try:
        reply = app.get("/register", query)
        assert reply.status == 200, reply.text
        assert "org.imsglobal.lti.close" in reply.text
        (nonce,) = re.findall(r"script-src 'nonce-([^']+)'", _csp(reply))
        assert f'nonce="{nonce}"' in reply.text
        assert reply.header("Cross-Origin-Opener-Policy") == "unsafe-none"
        assert spec.problems == []
        (sent,) = spec.registered
        issuer = spec.configuration["issuer"]
        ((stored_issuer, client_id),) = storage._registrations
        assert stored_issuer == issuer
        assert storage.get_registration(issuer, client_id) is not None
        assert sent["client_name"] == "Quiz Tool"

        replay = app.get("/register", query)  # the token works once
        assert "<code>registration_rejected</code>" in replay.text
        assert replay.status == 502  # the platform refused: a remote failure
        assert TOKEN not in replay.text
        assert app.get("/register", {}).status == 400
    finally:
        app.close()


def test_without_a_registrar_there_is_no_registration_route(app: Driver) -> None:
    assert app.get("/register", {"openid_configuration": "https://x"}).status == 404


# ----------------------------------------------------------------------------- packaging


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("credlti.contrib.flask", ["django", "starlette"]),
        ("credlti.contrib.starlette", ["django", "flask", "werkzeug"]),
        ("credlti.contrib.django", ["flask", "werkzeug", "starlette"]),
        ("credlti.contrib", ["flask", "werkzeug", "starlette", "django"]),
    ],
)
def test_each_integration_loads_only_its_framework(module: str, absent: list[str]) -> None:
    code = (
        f"import sys, {module}\n"
        f"loaded = [m for m in {absent!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
