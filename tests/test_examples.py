"""Drive the example tools end to end through their frameworks' test clients.

Each example (``examples/flask_tool.py``, ``examples/starlette_tool.py``,
``examples/django_tool.py``) is run
against a :class:`~credlti.testing.SimulatedPlatform`: login, redirect, the
platform's signed form POST, the launch page, and the error paths a real tool meets
(forged tokens, replays, blocked cookies, an LMS key-set outage). No network.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from credlti.adapters.memory import MemoryLaunchSessionStore, MemoryLaunchStorage
from credlti.lti import launch_session_cookie_name, state_cookie_name
from credlti.testing import LEARNER, BadLaunch, SimulatedPlatform
from tests.contrib.drivers import BASE, DjangoDriver, Driver, FlaskDriver, Reply, StarletteDriver

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (examples/ is not a package)."""
    module_name = f"credlti_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _example_driver(kind: str, platform: SimulatedPlatform, **tool_options: Any) -> Driver:
    """The example app of *kind* around a tool wired to *platform*, with its driver."""
    if kind == "flask":
        return FlaskDriver(_load("flask_tool").create_app(platform.tool(**tool_options)))
    if kind == "starlette":
        module = _load("starlette_tool")
        return StarletteDriver(module.create_app(platform.async_tool(**tool_options)))
    module = _load("django_tool")
    return DjangoDriver(module.urlpatterns_for(platform.tool(**tool_options)))


KINDS = ["flask", "starlette", "django"]


@pytest.fixture(name="tool_app", params=KINDS)
def _tool_app(request: pytest.FixtureRequest, platform: SimulatedPlatform) -> Iterator[Driver]:
    driver = _example_driver(request.param, platform)
    yield driver
    driver.close()


def _path(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _login(app: Driver, platform: SimulatedPlatform, **kwargs: Any) -> Reply:
    reply = app.get("/login", platform.login_params(**kwargs))
    assert reply.status == 302, reply.text
    return reply


def _launch(app: Driver, platform: SimulatedPlatform, **kwargs: Any) -> Reply:
    """A full good launch; return the final page."""
    login = _login(app, platform)
    assert login.location is not None
    posted = app.post("/launch", platform.launch(login.location, **kwargs))
    assert posted.status == 303, posted.text
    assert posted.location is not None
    return app.get(_path(posted.location))


# ----------------------------------------------------------------------------- good launches


def test_login_redirects_to_platform_and_binds_state(
    tool_app: Driver, platform: SimulatedPlatform
) -> None:
    reply = _login(tool_app, platform)
    assert reply.location is not None
    query = platform.authorize(reply.location)  # the platform accepts the request
    assert query["redirect_uri"] == tool_app.launch_url
    (cookie,) = reply.set_cookies
    name, _, rest = cookie.partition("=")
    assert name == state_cookie_name(query["state"])
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/"):
        assert attribute in rest.split("; ")


def test_login_accepts_form_post(tool_app: Driver, platform: SimulatedPlatform) -> None:
    reply = tool_app.post("/login", platform.login_params())
    assert reply.status == 302
    assert reply.location is not None
    assert reply.location.startswith(platform.auth_endpoint)


def test_launch_shows_user_roles_and_course(tool_app: Driver, platform: SimulatedPlatform) -> None:
    page = _launch(tool_app, platform)
    assert page.status == 200
    assert "Ada Lovelace (user-1)" in page.text
    assert "context:Instructor" in page.text
    assert "Introduction to Computing" in page.text


def test_launch_redirects_to_signed_target_and_clears_state_cookie(
    tool_app: Driver, platform: SimulatedPlatform
) -> None:
    target = f"{BASE}/launch?quiz=7"
    login = _login(tool_app, platform, target_link_uri=target)
    assert login.location is not None
    posted = tool_app.post("/launch", platform.launch(login.location, roles=[LEARNER]))
    assert posted.status == 303
    assert posted.location is not None
    assert posted.location.startswith(f"{target}&launch_id=")
    state = platform.authorize(login.location)["state"]
    cleared, kept = posted.set_cookies
    assert cleared.startswith(f"{state_cookie_name(state)}=;")
    assert "Max-Age=0" in cleared
    launch_id = parse_qs(urlsplit(posted.location).query)["launch_id"][0]
    assert kept.startswith(f"{launch_session_cookie_name(launch_id)}=")
    page = tool_app.get(_path(posted.location))
    assert "context:Learner" in page.text
    assert "Instructor</dt><dd>no" in page.text


def test_two_tabs_launch_independently(tool_app: Driver, platform: SimulatedPlatform) -> None:
    first, second = _login(tool_app, platform), _login(tool_app, platform)
    assert first.location is not None
    assert second.location is not None
    # Finish the second tab first: per-state cookie names keep both bindings alive.
    for login in (second, first):
        assert login.location is not None
        posted = tool_app.post("/launch", platform.launch(login.location))
        assert posted.status == 303, posted.text
    assert _launch(tool_app, platform).status == 200


def test_unknown_launch_id_is_404(tool_app: Driver) -> None:
    assert tool_app.get("/launch", {"launch_id": "nope"}).status == 404
    assert tool_app.get("/launch", {"launch_id": "a;b=c"}).status == 404
    assert tool_app.get("/launch").status == 404


# ----------------------------------------------------------------------------- launch sessions


def _session_cookie(posted: Reply) -> tuple[str, str, list[str]]:
    """The launch-session cookie the launch set: (name, handle, attributes)."""
    (cookie,) = [c for c in posted.set_cookies if c.startswith("credlti-launch")]
    pair, *attributes = cookie.split("; ")
    name, _, handle = pair.partition("=")
    return name, handle, attributes


def test_the_handle_lives_in_an_http_only_cookie_never_the_url(
    tool_app: Driver, platform: SimulatedPlatform
) -> None:
    """The launch URL names the launch; only the HttpOnly cookie can reopen it."""
    login = _login(tool_app, platform)
    assert login.location is not None
    posted = tool_app.post("/launch", platform.launch(login.location))
    assert posted.location is not None

    name, handle, attributes = _session_cookie(posted)

    assert len(handle) == 43
    assert handle not in posted.location
    launch_id = parse_qs(urlsplit(posted.location).query)["launch_id"][0]
    assert name == launch_session_cookie_name(launch_id)
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/"):
        assert attribute in attributes
    assert "Max-Age=3600" in attributes
    page = tool_app.get(_path(posted.location))
    assert "Ada Lovelace" in page.text
    # The same URL in another browser (no cookie) shows nothing.
    tool_app.fresh()
    assert tool_app.get(_path(posted.location)).status == 404


def test_an_altered_or_expired_session_cookie_is_401(
    tool_app: Driver, platform: SimulatedPlatform
) -> None:
    """A forged handle, or a launch past its ttl, answers 401 launch_session_not_found."""
    login = _login(tool_app, platform)
    assert login.location is not None
    posted = tool_app.post("/launch", platform.launch(login.location))
    assert posted.location is not None
    name, handle, _ = _session_cookie(posted)
    forged = ("B" if handle[0] == "A" else "A") + handle[1:]

    tool_app.set_cookie(name, forged)
    reply = tool_app.get(_path(posted.location))
    assert reply.status == 401
    assert "launch_session_not_found" in reply.text
    platform.clock.advance(3600)
    tool_app.set_cookie(name, handle)
    reply = tool_app.get(_path(posted.location))
    assert reply.status == 401
    assert "launch_session_not_found" in reply.text


@pytest.mark.parametrize("kind", KINDS)
def test_a_launch_validated_by_one_worker_opens_on_another(
    kind: str, platform: SimulatedPlatform
) -> None:
    """Two app instances (two workers) sharing storage, sessions and secret."""
    storage: MemoryLaunchStorage[Any, Any] = MemoryLaunchStorage()
    platform.install(storage)
    shared: dict[str, Any] = {
        "storage": storage,
        "sessions": MemoryLaunchSessionStore(),
        "state_secret": b"w" * 32,
    }
    first = _example_driver(kind, platform, **shared)
    second = _example_driver(kind, platform, **shared)
    try:
        login = _login(first, platform)
        assert login.location is not None
        posted = first.post("/launch", platform.launch(login.location))
        assert posted.location is not None
        name, handle, _ = _session_cookie(posted)

        second.set_cookie(name, handle)  # the same browser, its next request on worker two
        page = second.get(_path(posted.location))

        assert page.status == 200, page.text
        assert "Ada Lovelace (user-1)" in page.text
        assert "Introduction to Computing" in page.text
    finally:
        first.close()
        second.close()


# ----------------------------------------------------------------------------- failures


def test_forged_launch_is_401_with_code_and_warning(
    tool_app: Driver, platform: SimulatedPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    login = _login(tool_app, platform)
    assert login.location is not None
    form = platform.bad_launch(login.location, BadLaunch.TAMPERED)
    with caplog.at_level(logging.INFO, logger="credlti.contrib"):
        reply = tool_app.post("/launch", form)
    assert reply.status == 401
    assert "signature_invalid" in reply.text
    assert "could not be verified" in reply.text
    (record,) = [r for r in caplog.records if r.name == "credlti.contrib"]
    assert record.levelno == logging.WARNING
    assert form["id_token"] not in caplog.text  # tokens never reach the log
    assert form["id_token"] not in reply.text


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        (BadLaunch.EXPIRED, 401, "token_expired"),
        (BadLaunch.ALG_NONE, 401, "algorithm_not_allowed"),
        (BadLaunch.WRONG_AUDIENCE, 401, "audience_mismatch"),
        (BadLaunch.NO_ROLES, 400, "missing_claim"),
        (BadLaunch.UNKNOWN_DEPLOYMENT, 400, "deployment_not_found"),
        (BadLaunch.GARBAGE, 400, "malformed_token"),
    ],
)
def test_bad_launches_map_to_status_and_code(
    tool_app: Driver, platform: SimulatedPlatform, kind: BadLaunch, status: int, code: str
) -> None:
    login = _login(tool_app, platform)
    assert login.location is not None
    reply = tool_app.post("/launch", platform.bad_launch(login.location, kind))
    assert reply.status == status
    assert f"<code>{code}</code>" in reply.text


def test_replayed_launch_is_rejected(tool_app: Driver, platform: SimulatedPlatform) -> None:
    login = _login(tool_app, platform)
    assert login.location is not None
    form = platform.launch(login.location)
    assert tool_app.post("/launch", form).status == 303
    # The state cookie was deleted: a replay in this browser fails the state check.
    replay = tool_app.post("/launch", form)
    assert replay.status == 401
    assert "state_mismatch" in replay.text


def test_blocked_cookie_is_401_state_mismatch(
    tool_app: Driver, platform: SimulatedPlatform
) -> None:
    login = _login(tool_app, platform)
    assert login.location is not None
    tool_app.fresh()  # the browser dropped the third-party cookie
    reply = tool_app.post("/launch", platform.launch(login.location))
    assert reply.status == 401
    assert "state_mismatch" in reply.text


def test_unknown_platform_is_400(tool_app: Driver, platform: SimulatedPlatform) -> None:
    params = {**platform.login_params(), "iss": "https://other-lms.example.org"}
    params.pop("client_id")
    reply = tool_app.get("/login", params)
    assert reply.status == 400
    assert "registration_not_found" in reply.text


def test_missing_login_parameter_is_400(tool_app: Driver, platform: SimulatedPlatform) -> None:
    params = platform.login_params()
    del params["login_hint"]
    reply = tool_app.get("/login", params)
    assert reply.status == 400
    assert "missing_parameter" in reply.text


def test_key_set_outage_is_502(
    tool_app: Driver, platform: SimulatedPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    login = _login(tool_app, platform)
    assert login.location is not None
    platform.jwks_status = 503  # the LMS key-set endpoint is down, nothing cached yet
    with caplog.at_level(logging.INFO, logger="credlti.contrib"):
        reply = tool_app.post("/launch", platform.launch(login.location))
    assert reply.status == 502
    assert "key_set_fetch_failed" in reply.text
    ours = [r for r in caplog.records if r.name == "credlti.contrib"]
    assert ours[-1].levelno == logging.ERROR


def test_platform_error_response_is_401(tool_app: Driver, platform: SimulatedPlatform) -> None:
    login = _login(tool_app, platform)
    assert login.location is not None
    state = parse_qs(urlsplit(login.location).query)["state"][0]
    form = {"error": "login_required", "error_description": "no session", "state": state}
    reply = tool_app.post("/launch", form)
    assert reply.status == 401
    assert "platform_authentication_failed" in reply.text


# ----------------------------------------------------------------------------- the demos


@pytest.mark.parametrize("name", ["flask_tool", "starlette_tool", "django_tool"])
def test_demo_runs(name: str) -> None:
    page = _load(name).demo()
    assert "Ada Lovelace" in page
    assert "Introduction to Computing" in page


# ----------------------------------------------------------------------------- the tools' own pages


def _keyed_driver(kind: str, platform: SimulatedPlatform) -> Driver:
    """An example app whose tool has a signing key the platform trusts."""
    from credlti.lti.keys import KeySet, KeyState, generate_key, jwks

    keys = KeySet([generate_key(now=platform.clock(), state=KeyState.CURRENT)])
    platform.trust_tool_keys(jwks(keys))
    return _example_driver(kind, platform, keys=keys)


def _fields(page: str) -> dict[str, str]:
    import html
    import re

    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {html.unescape(k): html.unescape(v) for k, v in found}


@pytest.mark.parametrize("kind", KINDS)
def test_deep_link_picker_returns_the_chosen_title(kind: str, platform: SimulatedPlatform) -> None:
    import re

    app = _keyed_driver(kind, platform)
    try:
        login = _login(app, platform, target_link_uri=app.launch_url)
        assert login.location is not None
        form = platform.launch(login.location, message_type="LtiDeepLinkingRequest")
        posted = app.post("/launch", form)
        assert posted.location is not None
        page = app.get(_path(posted.location))
        assert 'id="add"' in page.text
        reply = app.post("/deep-link", {**_fields(page.text), "title": "Chapter 2 quiz"})
        assert reply.status == 200, reply.text
        (jwt,) = re.findall(r'name="JWT" value="([^"]+)"', reply.text)
        (item,) = platform.verify_deep_linking_response(jwt)
        assert item == {"type": "ltiResourceLink", "title": "Chapter 2 quiz"}
    finally:
        app.close()


@pytest.mark.parametrize("kind", KINDS)
def test_grade_form_posts_a_score_to_the_platform(kind: str, platform: SimulatedPlatform) -> None:
    app = _keyed_driver(kind, platform)
    line_item = platform.services.add_line_item("Week 1 quiz", 10)
    try:
        login = _login(app, platform)
        assert login.location is not None
        claims = platform.services.ags_claim(lineitem=line_item)
        posted = app.post("/launch", platform.launch(login.location, claims=claims))
        assert posted.location is not None
        page = app.get(_path(posted.location))
        assert 'id="grade"' in page.text
        fields = _fields(page.text)
        reply = app.post("/grade", {**fields, "score": "7"})
        assert reply.status == 200, reply.text
        assert "Score 7/10 sent." in reply.text
        (score,) = platform.services.scores(line_item)
        assert score["scoreGiven"] == 7
        assert score["userId"] == "user-1"
        # A forged form (no token of the page) posts nothing.
        forged = app.post("/grade", {"launch_id": fields["launch_id"], "score": "10"})
        assert forged.status == 403
        assert "<code>form_token_invalid</code>" in forged.text
        assert len(platform.services.scores(line_item)) == 1
    finally:
        app.close()
