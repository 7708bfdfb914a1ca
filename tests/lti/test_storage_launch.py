"""Cookieless launches, server side: ``lti_storage_target``, the pages, start and finish.

The login's state binding travels through platform storage instead of a cookie:
``handle_login`` reads ``lti_storage_target``, ``LoginRedirect.login_page`` stores the
binding, ``start_storage_launch`` validates the launch POST without it (consuming the
nonce) and keeps it pending, ``finish_storage_launch`` checks the binding the page read
back. These tests attack every step; the script itself is tested in a real browser
(tests/browser/test_storage_script.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlti.adapters.memory import MemoryLaunchSessionStore, MemoryLaunchStorage
from credlti.errors import (
    ConfigurationError,
    CredltiError,
    DeploymentNotFoundError,
    InvalidParameterError,
    LaunchSessionNotFoundError,
    NonceMismatchError,
    NonceNotFoundError,
    NonceReusedError,
    StateExpiredError,
    StateMismatchError,
    TargetLinkUriMismatchError,
)
from credlti.lti import (
    LaunchContext,
    LoginRedirect,
    StorageLaunch,
    Tool,
    fallback_page,
    page_headers,
    storage_script,
)
from credlti.lti._claims import TARGET_LINK_URI
from credlti.lti._state import LoginState, mac_key, open_state, seal_state
from credlti.lti._storage_launch import PENDING_TTL, pending_key
from credlti.testing import BadLaunch, FrozenClock, SimulatedPlatform

from .helpers import LAUNCH_URL, SECRET_A, SECRET_B, expect_error

FINISH_URL = "https://tool.example.com/launch/finish"


# --------------------------------------------------------------------------- helpers


class _Page(HTMLParser):
    """Collects the scripts, hidden inputs and forms of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.inputs: dict[str, str] = {}
        self.forms: list[dict[str, str | None]] = []
        self._script: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self._script, self._text = found, []
        elif tag == "input" and found.get("type") == "hidden":
            self.inputs[found.get("name") or ""] = found.get("value") or ""
        elif tag == "form":
            self.forms.append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._text.append(data)


def parse_page(page: str) -> tuple[_Page, dict[str, Any]]:
    """The parsed page and its script configuration; demands exactly the two scripts."""
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    assert len(parsed.scripts) == 2, "a page carries its config block and one script"
    (config_attrs, config_text), (script_attrs, script_text) = parsed.scripts
    assert config_attrs == {"type": "application/json", "id": "credlti-storage-config"}
    assert script_text == storage_script()
    assert set(script_attrs) <= {"nonce"}
    assert "<" not in config_text
    assert ">" not in config_text
    assert "&" not in config_text
    config = json.loads(config_text)
    assert isinstance(config, dict)
    return parsed, config


def storage_login(
    tool: Tool[Any, Any], platform: SimulatedPlatform, target: str = "_parent", **kwargs: Any
) -> LoginRedirect:
    params = platform.login_params(**kwargs)
    params["lti_storage_target"] = target
    return tool.handle_login(params, LAUNCH_URL)


def storage_form(form: Mapping[str, str], target: str = "_parent") -> dict[str, str]:
    return {**form, "lti_storage_target": target}


def finish_form(pending: StorageLaunch | str, binding: str | None) -> dict[str, str]:
    handle = pending.pending if isinstance(pending, StorageLaunch) else pending
    form = {"credlti_pending": handle}
    if binding is not None:
        form["credlti_binding"] = binding
    return form


@pytest.fixture(name="tool")
def _tool(platform: SimulatedPlatform) -> Tool[Any, Any]:
    return platform.tool(state_secret=SECRET_A)


# --------------------------------------------------------------------------- the login


@pytest.mark.parametrize("target", ["_parent", "post_message_forwarding", "frame-1", "a.b_c", "x"])
def test_login_reads_a_safe_storage_target(
    tool: Tool[Any, Any], platform: SimulatedPlatform, target: str
) -> None:
    redirect = storage_login(tool, platform, target)
    assert redirect.storage_target == target
    assert "lti_storage_target" not in redirect.url  # never added to the auth request
    assert "lti_storage_target" not in redirect.login_params


@pytest.mark.parametrize(
    "target",
    [
        "_top",
        "_blank",
        "_self",
        "_parentx",
        "-frame",
        ".frame",
        "a b",
        "frame<script>",
        "frame'",
        'frame"',
        "a" * 65,
        "främe",
        "frame\n",
    ],
)
def test_login_refuses_an_unsafe_storage_target(
    tool: Tool[Any, Any], platform: SimulatedPlatform, target: str
) -> None:
    exc = expect_error(
        lambda: storage_login(tool, platform, target),
        InvalidParameterError,
        "invalid_parameter",
        status=400,
    )
    assert exc.details["parameter"] == "lti_storage_target"


def test_login_without_storage_target_keeps_the_redirect(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    assert redirect.storage_target is None
    empty = platform.login_params()
    empty["lti_storage_target"] = ""
    assert tool.handle_login(empty, LAUNCH_URL).storage_target is None


def test_login_params_are_what_a_new_window_sends_again(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    params = platform.login_params(lti_deployment_id="deployment-1")
    params["lti_storage_target"] = "_parent"
    params["unrelated"] = "dropped"
    redirect = tool.handle_login(params, LAUNCH_URL)
    assert dict(redirect.login_params) == {
        k: v for k, v in params.items() if k not in ("lti_storage_target", "unrelated")
    }
    assert "login_params" not in repr(redirect)


def test_login_page_stores_the_binding_for_the_auth_endpoint_origin(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    redirect = storage_login(tool, platform, "post_message_forwarding")
    page = redirect.login_page(csp_nonce="n0nce+/=", login_url="https://tool.example.com/login")
    parsed, config = parse_page(page)
    assert config["mode"] == "login"
    assert config["origin"] == "https://platform.example.edu"  # the auth endpoint's origin
    assert config["target"] == "post_message_forwarding"
    assert config["key"] == "credlti_state_" + redirect.state
    assert config["value"] == redirect.cookie_value
    assert open_state(config["value"], (mac_key(SECRET_A),)).state == redirect.state
    assert config["next"] == redirect.url
    assert config["capabilities_timeout"] > 0
    assert config["timeout"] > 0
    assert parsed.scripts[1][0] == {"nonce": "n0nce+/="}
    # The fallback re-posts the login, without the storage target, in a new window.
    assert parsed.forms == [
        {"method": "post", "target": "_blank", "action": "https://tool.example.com/login"}
    ]
    assert parsed.inputs == dict(redirect.login_params)
    assert 'id="credlti-fallback" hidden' in page


def test_login_page_without_nonce_or_login_url(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    parsed, config = parse_page(redirect.login_page())
    assert config["target"] is None  # only the cookie check and the fallback
    assert parsed.scripts[1][0] == {}
    assert parsed.forms == [{"method": "post", "target": "_blank"}]


@pytest.mark.parametrize("nonce", ["", "a b", 'x"><script>', "a" * 129, "é"])
def test_pages_refuse_a_nonce_that_cannot_go_in_a_header(
    tool: Tool[Any, Any], platform: SimulatedPlatform, nonce: str
) -> None:
    redirect = storage_login(tool, platform)
    with pytest.raises(ValueError, match="csp_nonce"):
        redirect.login_page(csp_nonce=nonce)
    with pytest.raises(ValueError, match="csp_nonce"):
        page_headers(nonce)
    with pytest.raises(ValueError, match="csp_nonce"):
        fallback_page(csp_nonce=nonce)


def test_hostile_login_values_stay_inside_their_page_slots(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    breakout = "</script><script>alert(1)</script><!--\"'&\u2028"
    params = platform.login_params(login_hint="hint" + breakout, lti_message_hint=breakout)
    params["lti_storage_target"] = "_parent"
    redirect = tool.handle_login(params, LAUNCH_URL)
    page = redirect.login_page(login_url='https://tool.example.com/login?a="b"&c=</form>')
    parsed, config = parse_page(page)
    assert config["next"] == redirect.url
    assert parsed.inputs["login_hint"] == "hint" + breakout
    assert parsed.inputs["lti_message_hint"] == breakout
    assert parsed.forms[0]["action"] == 'https://tool.example.com/login?a="b"&c=</form>'
    assert page.count("<script") == 2
    assert page.count("</script>") == 2


# --------------------------------------------------------------------------- headers, pages


def test_page_headers_allow_only_the_package_script() -> None:
    digest = base64.b64encode(hashlib.sha256(storage_script().encode()).digest()).decode()
    headers = dict(page_headers())
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == (
        f"default-src 'none'; script-src 'sha256-{digest}'; base-uri 'none'; frame-ancestors *"
    )
    with_nonce = dict(page_headers("abc123", frame_ancestors=["https://lms.example.edu"]))
    policy = with_nonce["Content-Security-Policy"]
    assert f"script-src 'sha256-{digest}' 'nonce-abc123';" in policy
    assert policy.endswith("frame-ancestors https://lms.example.edu")


@pytest.mark.parametrize("ancestors", [[], ["https://a; script-src *"], ["'self' x"], [""], [3]])
def test_page_headers_refuse_odd_frame_ancestors(ancestors: Any) -> None:
    with pytest.raises(ValueError, match="frame_ancestors"):
        page_headers(frame_ancestors=ancestors)


def test_storage_script_is_small_and_plain() -> None:
    script = storage_script()
    assert len(script.encode()) < 12_000
    for forbidden in ("eval(", "new Function", "innerHTML", "document.write", "</script"):
        assert forbidden not in script
    assert "'*'" not in script
    assert '"*"' not in script
    assert "event.origin !== cfg.origin" in script


def test_fallback_page_with_and_without_a_login_url() -> None:
    page = fallback_page(
        "https://tool.example.com/login", {"iss": "https://p.example", "hint": '"><b>'}
    )
    parsed = _Page()
    parsed.feed(page)
    assert parsed.scripts == []
    assert parsed.forms == [
        {"method": "post", "target": "_blank", "action": "https://tool.example.com/login"}
    ]
    assert parsed.inputs == {"iss": "https://p.example", "hint": '"><b>'}
    assert "new window" in page
    text_only = fallback_page()
    assert "<form" not in text_only
    assert "new window" in text_only


# --------------------------------------------------------------------------- start and finish


def test_storage_launch_happy_path(tool: Tool[Any, Any], platform: SimulatedPlatform) -> None:
    redirect = storage_login(tool, platform, "post_message_forwarding")
    form = storage_form(platform.launch(redirect), "post_message_forwarding")
    pending = tool.start_storage_launch(form, finish_url=FINISH_URL)
    assert pending.state == redirect.state
    assert pending.storage_target == "post_message_forwarding"
    assert pending.platform_origin == "https://platform.example.edu"
    assert pending.finish_url == FINISH_URL
    assert pending.expires_at == platform.clock() + timedelta(seconds=PENDING_TTL)
    assert pending.pending not in repr(pending)
    parsed, config = parse_page(pending.page(csp_nonce="abc"))
    assert config == {
        "mode": "launch",
        "origin": "https://platform.example.edu",
        "target": "post_message_forwarding",
        "key": "credlti_state_" + redirect.state,
        "capabilities_timeout": config["capabilities_timeout"],
        "timeout": config["timeout"],
    }
    assert parsed.forms == [{"id": "credlti-finish", "method": "post", "action": FINISH_URL}]
    assert parsed.inputs == {"credlti_pending": pending.pending, "credlti_binding": ""}
    launch = tool.finish_storage_launch(
        finish_form(pending, redirect.cookie_value), origin="https://tool.example.com"
    )
    assert isinstance(launch, LaunchContext)
    assert launch.claims.subject == "user-1"
    assert (
        launch.claims.nonce
        == json.loads(base64.urlsafe_b64decode(form["id_token"].split(".")[1] + "=="))["nonce"]
    )
    assert launch.registration.to_registration() == platform.registration
    assert launch.deployment.to_deployment() == platform.deployment
    assert launch.validated_at == platform.clock()


def test_the_same_launch_through_a_cookie_is_identical(platform: SimulatedPlatform) -> None:
    tool = platform.tool(state_secret=SECRET_A)
    redirect = storage_login(tool, platform)
    form = platform.launch(redirect)
    by_storage = tool.finish_storage_launch(
        finish_form(
            tool.start_storage_launch(storage_form(form), finish_url=FINISH_URL),
            redirect.cookie_value,
        )
    )
    assert by_storage.raw["sub"] == "user-1"
    assert by_storage.claims.roles == tool_roles(platform)


def tool_roles(platform: SimulatedPlatform) -> Any:
    tool = platform.tool(state_secret=SECRET_B)
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    return tool.handle_callback(platform.launch(redirect), redirect.cookie_value).claims.roles


def test_no_storage_target_and_no_cookie_is_a_state_mismatch(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    redirect = storage_login(tool, platform)
    form = platform.launch(redirect)  # no lti_storage_target echoed
    exc = expect_error(
        lambda: tool.start_storage_launch(form, finish_url=FINISH_URL),
        StateMismatchError,
        "state_mismatch",
        status=401,
    )
    assert exc.details["reason"] == "no_binding"
    assert "fallback_page" in str(exc)
    # Nothing was consumed: the cookie path still works.
    assert tool.handle_callback(form, redirect.cookie_value).claims.subject == "user-1"


def test_start_refuses_an_unsafe_target_and_a_foreign_state(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    redirect = storage_login(tool, platform)
    form = platform.launch(redirect)
    expect_error(
        lambda: tool.start_storage_launch(storage_form(form, "_top"), finish_url=FINISH_URL),
        InvalidParameterError,
        "invalid_parameter",
    )
    for state in ("", "short", redirect.state + "x", "!" * 43):
        expect_error(
            partial(
                tool.start_storage_launch,
                storage_form({**form, "state": state}),
                finish_url=FINISH_URL,
            ),
            StateMismatchError,
            "state_mismatch",
        )
    with pytest.raises(ConfigurationError):
        tool.start_storage_launch(storage_form(form), finish_url="/relative")
    with pytest.raises(ConfigurationError):
        tool.start_storage_launch(storage_form(form), finish_url="http://tool.example.com/f")
    # None of these consumed the nonce.
    pending = tool.start_storage_launch(storage_form(form), finish_url=FINISH_URL)
    launch = tool.finish_storage_launch(finish_form(pending, redirect.cookie_value))
    assert launch.claims.subject == "user-1"


def test_start_consumes_the_nonce(tool: Tool[Any, Any], platform: SimulatedPlatform) -> None:
    redirect = storage_login(tool, platform)
    form = storage_form(platform.launch(redirect))
    tool.start_storage_launch(form, finish_url=FINISH_URL)
    # The platform's POST replayed: through storage, or with the cookie.
    expect_error(
        lambda: tool.start_storage_launch(form, finish_url=FINISH_URL),
        NonceReusedError,
        "nonce_reused",
    )
    expect_error(
        lambda: tool.handle_callback(form, redirect.cookie_value), NonceReusedError, "nonce_reused"
    )


def _refusal(tool: Tool[Any, Any], form: dict[str, str], binding: str) -> CredltiError:
    """The error of the storage path, at the start or at the finish."""
    try:
        pending = tool.start_storage_launch(form, finish_url=FINISH_URL)
        tool.finish_storage_launch(finish_form(pending, binding))
    except CredltiError as exc:
        return exc
    pytest.fail("the storage path accepted a bad launch")


# Bad tokens that the storage path refuses with another error than the cookie path,
# because it looks the registration up by the token's own (unverified) iss and aud,
# or learns the login's nonce and target link only at the finish.
_OTHER_ERROR = {
    BadLaunch.WRONG_ISSUER: "registration_not_found",
    BadLaunch.WRONG_AUDIENCE: "registration_not_found",
    BadLaunch.WRONG_AZP: "registration_not_found",
    BadLaunch.WRONG_NONCE: "nonce_not_found",
}


@pytest.mark.parametrize("kind", list(BadLaunch), ids=lambda k: k.value)
def test_every_launch_check_still_applies(platform: SimulatedPlatform, kind: BadLaunch) -> None:
    tool = platform.tool(state_secret=SECRET_A)
    redirect = storage_login(tool, platform)
    form = platform.bad_launch(redirect, kind)
    with pytest.raises(CredltiError) as by_cookie:
        tool.handle_callback(form, redirect.cookie_value)
    tool = platform.tool(state_secret=SECRET_A)
    redirect = storage_login(tool, platform)
    form = storage_form(platform.bad_launch(redirect, kind))
    by_storage = _refusal(tool, form, redirect.cookie_value)
    assert by_storage.code == _OTHER_ERROR.get(kind, by_cookie.value.code)
    assert by_storage.http_status == by_cookie.value.http_status or kind in _OTHER_ERROR
    if kind is not BadLaunch.WRONG_TARGET_LINK_URI:
        # A refused token burns no nonce: the real launch still goes through.
        pending = tool.start_storage_launch(
            storage_form(platform.launch(redirect)), finish_url=FINISH_URL
        )
        launch = tool.finish_storage_launch(finish_form(pending, redirect.cookie_value))
        assert launch.claims.subject == "user-1"


def test_finish_is_single_use(tool: Tool[Any, Any], platform: SimulatedPlatform) -> None:
    redirect = storage_login(tool, platform)
    pending = tool.start_storage_launch(
        storage_form(platform.launch(redirect)), finish_url=FINISH_URL
    )
    form = finish_form(pending, redirect.cookie_value)
    tool.finish_storage_launch(form)
    exc = expect_error(
        lambda: tool.finish_storage_launch(form), StateMismatchError, "state_mismatch"
    )
    assert pending.pending not in str(exc)


def test_a_stolen_handle_without_the_browser_binding_does_not_finish(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    redirect = storage_login(tool, platform)
    pending = tool.start_storage_launch(
        storage_form(platform.launch(redirect)), finish_url=FINISH_URL
    )
    for binding in (None, "", "v3.x.y", redirect.state):
        # Each attempt burns the pending launch: start again for the next one.
        stolen = finish_form(pending, binding)
        expect_error(
            partial(tool.finish_storage_launch, stolen),
            StateMismatchError,
            "state_mismatch",
        )
        real = finish_form(pending, redirect.cookie_value)
        expect_error(
            partial(tool.finish_storage_launch, real),
            StateMismatchError,
            "state_mismatch",
        )
        redirect = storage_login(tool, platform)
        pending = tool.start_storage_launch(
            storage_form(platform.launch(redirect)), finish_url=FINISH_URL
        )


def test_a_binding_from_another_login_does_not_finish(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    mine = storage_login(tool, platform)
    theirs = storage_login(tool, platform)  # another login (another tab, or the attacker's)
    pending = tool.start_storage_launch(storage_form(platform.launch(mine)), finish_url=FINISH_URL)
    expect_error(
        lambda: tool.finish_storage_launch(finish_form(pending, theirs.cookie_value)),
        StateMismatchError,
        "state_mismatch",
    )
    # The swapped attempt used the pending launch up.
    expect_error(
        lambda: tool.finish_storage_launch(finish_form(pending, mine.cookie_value)),
        StateMismatchError,
        "state_mismatch",
    )


def test_a_binding_from_another_tool_secret_does_not_finish(platform: SimulatedPlatform) -> None:
    other = platform.tool(state_secret=SECRET_B)
    tool = platform.tool(state_secret=SECRET_A, sessions=MemoryLaunchSessionStore())
    redirect = storage_login(tool, platform)
    foreign = storage_login(other, platform)
    pending = tool.start_storage_launch(
        storage_form(platform.launch(redirect)), finish_url=FINISH_URL
    )
    forged = seal_state(
        open_state(foreign.cookie_value, (mac_key(SECRET_B),))._replace(state=redirect.state),
        mac_key(SECRET_B),
    )
    expect_error(
        lambda: tool.finish_storage_launch(finish_form(pending, forged)),
        StateMismatchError,
        "state_mismatch",
    )


def _rebind(redirect: LoginRedirect, **changes: Any) -> str:
    """The redirect's binding with fields changed, sealed with the tool's own key."""
    login: LoginState = open_state(redirect.cookie_value, (mac_key(SECRET_A),))
    return seal_state(login._replace(**changes), mac_key(SECRET_A))


@pytest.mark.parametrize(
    ("changes", "error", "code"),
    [
        ({"nonce": "another-nonce"}, NonceMismatchError, "nonce_mismatch"),
        ({"issuer": "https://other.example.edu"}, StateMismatchError, "state_mismatch"),
        ({"client_id": "other-client"}, StateMismatchError, "state_mismatch"),
        ({"target_link_uri_digest": "x"}, TargetLinkUriMismatchError, "target_link_uri_mismatch"),
        ({"expires_at": 0}, StateExpiredError, "state_expired"),
    ],
)
def test_the_binding_is_tied_to_the_token(
    tool: Tool[Any, Any],
    platform: SimulatedPlatform,
    changes: dict[str, Any],
    error: type[CredltiError],
    code: str,
) -> None:
    redirect = storage_login(tool, platform)
    pending = tool.start_storage_launch(
        storage_form(platform.launch(redirect)), finish_url=FINISH_URL
    )
    expect_error(
        lambda: tool.finish_storage_launch(finish_form(pending, _rebind(redirect, **changes))),
        error,
        code,
    )


def test_the_login_target_link_is_checked_at_the_finish(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    redirect = storage_login(tool, platform)
    form = platform.launch(redirect, claims={TARGET_LINK_URI: "https://tool.example.com/other"})
    pending = tool.start_storage_launch(storage_form(form), finish_url=FINISH_URL)
    expect_error(
        lambda: tool.finish_storage_launch(finish_form(pending, redirect.cookie_value)),
        TargetLinkUriMismatchError,
        "target_link_uri_mismatch",
    )


def test_a_tampered_binding_does_not_finish(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    redirect = storage_login(tool, platform)
    value = redirect.cookie_value
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    pending = tool.start_storage_launch(
        storage_form(platform.launch(redirect)), finish_url=FINISH_URL
    )
    expect_error(
        lambda: tool.finish_storage_launch(finish_form(pending, flipped)),
        StateMismatchError,
        "state_mismatch",
    )


def test_expiry_of_the_pending_launch_and_of_the_login(platform: SimulatedPlatform) -> None:
    clock: FrozenClock = platform.clock
    tool = platform.tool(state_secret=SECRET_A)
    redirect = storage_login(tool, platform)
    pending = tool.start_storage_launch(
        storage_form(platform.launch(redirect)), finish_url=FINISH_URL
    )
    clock.advance(PENDING_TTL)
    expect_error(
        lambda: tool.finish_storage_launch(finish_form(pending, redirect.cookie_value)),
        StateMismatchError,
        "state_mismatch",
    )
    short = platform.tool(state_secret=SECRET_A, state_ttl=30)
    redirect = storage_login(short, platform)
    pending = short.start_storage_launch(
        storage_form(platform.launch(redirect)), finish_url=FINISH_URL
    )
    clock.advance(31)
    expect_error(
        lambda: short.finish_storage_launch(finish_form(pending, redirect.cookie_value)),
        StateExpiredError,
        "state_expired",
    )


def test_the_finish_origin_must_be_the_tool_s(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> None:
    for origin in ("https://evil.example.com", "null", "https://tool.example.com:8443", ""):
        redirect = storage_login(tool, platform)
        pending = tool.start_storage_launch(
            storage_form(platform.launch(redirect)), finish_url=FINISH_URL
        )
        form = finish_form(pending, redirect.cookie_value)
        expect_error(
            partial(tool.finish_storage_launch, form, origin=origin),
            StateMismatchError,
            "state_mismatch",
        )


def test_pending_launches_and_launch_sessions_do_not_mix(platform: SimulatedPlatform) -> None:
    sessions = MemoryLaunchSessionStore()
    tool = platform.tool(state_secret=SECRET_A, sessions=sessions)
    redirect = storage_login(tool, platform)
    pending = tool.start_storage_launch(
        storage_form(platform.launch(redirect)), finish_url=FINISH_URL
    )
    with pytest.raises(LaunchSessionNotFoundError):
        tool.load_launch(pending.pending)
    launch = tool.finish_storage_launch(finish_form(pending, redirect.cookie_value))
    handle = tool.save_launch(launch)
    expect_error(
        lambda: tool.finish_storage_launch(finish_form(handle, redirect.cookie_value)),
        StateMismatchError,
        "state_mismatch",
    )
    assert tool.load_launch(handle).claims.subject == "user-1"


class _Racing(MemoryLaunchSessionStore):
    """A store where another request always deletes first."""

    def delete(self, key: str) -> bool:
        super().delete(key)
        return False


class _Altered(MemoryLaunchSessionStore):
    """A store whose stored bytes were changed (or moved under another key)."""

    def load(self, key: str, *, now: datetime) -> bytes | None:
        data = super().load(key, now=now)
        return None if data is None else data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize("store", [_Racing, _Altered])
def test_store_races_and_tampering_do_not_finish(
    platform: SimulatedPlatform, store: type[MemoryLaunchSessionStore]
) -> None:
    tool = platform.tool(state_secret=SECRET_A, sessions=store())
    redirect = storage_login(tool, platform)
    pending = tool.start_storage_launch(
        storage_form(platform.launch(redirect)), finish_url=FINISH_URL
    )
    expect_error(
        lambda: tool.finish_storage_launch(finish_form(pending, redirect.cookie_value)),
        StateMismatchError,
        "state_mismatch",
    )


def test_the_pending_launch_is_sealed_under_a_digest_key(platform: SimulatedPlatform) -> None:
    sessions = MemoryLaunchSessionStore()
    tool = platform.tool(state_secret=SECRET_A, sessions=sessions)
    redirect = storage_login(tool, platform)
    form = storage_form(platform.launch(redirect))
    pending = tool.start_storage_launch(form, finish_url=FINISH_URL)
    key = pending_key(pending.pending)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    data = sessions.load(key, now=platform.clock())
    assert data is not None
    assert b"user-1" not in data
    assert pending.pending.encode() not in data
    assert form["id_token"].split(".")[1].encode() not in data


class _Forgetful(MemoryLaunchStorage[Any, Any]):
    """Registrations and deployments whose deployments can be deleted."""

    forget = False

    def get_deployment(self, registration: Any, deployment_id: str) -> Any:
        return None if self.forget else super().get_deployment(registration, deployment_id)


def test_a_removed_deployment_ends_the_pending_launch(platform: SimulatedPlatform) -> None:
    storage = _Forgetful()
    platform.install(storage)
    tool = platform.tool(storage, state_secret=SECRET_A)
    redirect = storage_login(tool, platform)
    pending = tool.start_storage_launch(
        storage_form(platform.launch(redirect)), finish_url=FINISH_URL
    )
    storage.forget = True  # the host deleted the deployment meanwhile
    expect_error(
        lambda: tool.finish_storage_launch(finish_form(pending, redirect.cookie_value)),
        DeploymentNotFoundError,
        "deployment_not_found",
    )


def test_async_tool_twins(platform: SimulatedPlatform) -> None:
    async def main() -> None:
        tool = platform.async_tool(state_secret=SECRET_A)
        params = {**platform.login_params(), "lti_storage_target": "_parent"}
        redirect = await tool.handle_login(params, LAUNCH_URL)
        assert redirect.storage_target == "_parent"
        form = storage_form(platform.launch(redirect))
        pending = await tool.start_storage_launch(form, finish_url=FINISH_URL)
        launch = await tool.finish_storage_launch(finish_form(pending, redirect.cookie_value))
        assert launch.claims.subject == "user-1"
        with pytest.raises(StateMismatchError):
            await tool.finish_storage_launch(finish_form(pending, redirect.cookie_value))
        with pytest.raises(NonceReusedError):
            await tool.start_storage_launch(form, finish_url=FINISH_URL)
        await tool.aclose()

    asyncio.run(main())


def test_an_unissued_nonce_is_refused_at_start(platform: SimulatedPlatform) -> None:
    issuing = platform.tool(state_secret=SECRET_A)
    other = platform.tool(state_secret=SECRET_A)  # its own nonce store
    redirect = storage_login(issuing, platform)
    expect_error(
        lambda: other.start_storage_launch(
            storage_form(platform.launch(redirect)), finish_url=FINISH_URL
        ),
        NonceNotFoundError,
        "nonce_not_found",
    )


# --------------------------------------------------------------------------- hostile input

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_PLATFORM = SimulatedPlatform()
_TOOL = _PLATFORM.tool(state_secret=SECRET_A)

_values = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        min_size=43,
        max_size=43,
    ),
    st.binary(max_size=20),
    st.integers(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


@pytest.mark.slow
@FUZZ
@given(pending=_values, binding=_values, extra=st.dictionaries(st.text(max_size=10), _values))
def test_finish_survives_any_form(pending: Any, binding: Any, extra: dict[str, Any]) -> None:
    form = {**extra, "credlti_pending": pending, "credlti_binding": binding}
    with pytest.raises(CredltiError) as caught:
        _TOOL.finish_storage_launch(form)
    assert caught.value.http_status in (400, 401)


@pytest.mark.slow
@FUZZ
@given(target=_values, state=_values)
def test_start_survives_any_target_and_state(target: Any, state: Any) -> None:
    redirect = storage_login(_TOOL, _PLATFORM)
    form: dict[str, Any] = {**_PLATFORM.launch(redirect), "lti_storage_target": target}
    if state is not None:
        form["state"] = state
    try:
        pending = _TOOL.start_storage_launch(form, finish_url=FINISH_URL)
    except CredltiError as exc:
        status = exc.http_status
        assert status in (400, 401)
    else:
        # A well-formed state that is not this login's passes the start; the finish
        # then needs the binding of that very state.
        assert pending.state == form["state"]
        assert pending.storage_target == target
        finished = finish_form(pending, redirect.cookie_value)
        if form["state"] == redirect.state:
            assert _TOOL.finish_storage_launch(finished).claims.subject == "user-1"
        else:
            with pytest.raises(StateMismatchError):
                _TOOL.finish_storage_launch(finished)


@pytest.mark.slow
@FUZZ
@given(
    hint=st.text(min_size=1, max_size=200).filter(lambda s: s.strip() != ""),
    message=st.text(max_size=200),
    nonce=st.from_regex(r"[A-Za-z0-9+/_=-]{1,40}", fullmatch=True),
)
def test_login_page_holds_any_login_value_in_place(hint: str, message: str, nonce: str) -> None:
    params = _PLATFORM.login_params(login_hint=hint, lti_message_hint=message)
    params["lti_storage_target"] = "_parent"
    try:
        redirect = _TOOL.handle_login(params, LAUNCH_URL)
    except CredltiError:
        return  # refused values never reach a page
    parsed, config = parse_page(redirect.login_page(csp_nonce=nonce))
    assert config["next"] == redirect.url
    assert config["value"] == redirect.cookie_value
    assert parsed.inputs == {
        k: v.replace("\r\n", "\n").replace("\r", "\n") for k, v in redirect.login_params.items()
    } or parsed.inputs == dict(redirect.login_params)
