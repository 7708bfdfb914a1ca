"""The dev platform's HTTP endpoints, without a browser (``credlti platform serve``).

A real :class:`credlti.lti.Tool` launches against it over HTTP on the wall clock; its
JWKS is served by tests/browser/devtool.py on another port, so the token endpoint
and the deep-link return verify real assertions fetched from a real URL.
"""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc import jwt

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.errors import RegistrationRejectedError
from credlti.lti import LaunchContext
from credlti.lti.registration import DynamicRegistration, ToolSettings
from credlti.lti.services import SCOPE_LINEITEM, SCOPE_SCORE, Score
from credlti.testing import DevPlatform, SimulatedPlatformError, WallClock, serve_platform
from tests.browser.devtool import DevTool, serve_tool

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(name="live", scope="module")
def _live() -> Iterator[tuple[DevPlatform, DevTool]]:
    with serve_platform(port=0) as platform, serve_tool("127.0.0.1") as tool:
        tool.install(platform)
        yield platform, tool


def _form(page: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {name: html.unescape(value) for name, value in fields}


def _login(platform: DevPlatform, tool: DevTool, **kwargs: str) -> dict[str, str]:
    dev = platform.tools[0]
    url = platform.login_url(
        dev,
        role=kwargs.get("role", "learner"),
        message=kwargs.get("message", "resource"),
        storage="none",
    )
    return dict(parse_qsl(urlsplit(url).query))


def _launch(platform: DevPlatform, tool: DevTool, **kwargs: str) -> LaunchContext[Any, Any]:
    redirect = tool.tool.handle_login(_login(platform, tool, **kwargs), tool.urls["launch_url"])
    answer = httpx.get(redirect.url)  # the browser follows the tool's redirect
    assert answer.status_code == 200, answer.text
    form = _form(answer.text)
    assert set(form) == {"id_token", "state"}
    return tool.tool.handle_callback(form, redirect.cookie_value)


def test_launch_form_answers_like_the_auth_endpoint(live: tuple[DevPlatform, DevTool]) -> None:
    platform, tool = live
    params = _login(platform, tool)
    params["lti_storage_target"] = "_parent"
    redirect = tool.tool.handle_login(params, tool.urls["launch_url"])
    form = platform.launch_form(redirect.url)
    assert form["state"] == dict(parse_qsl(urlsplit(redirect.url).query))["state"]
    assert tool.tool.handle_callback(form, redirect.cookie_value).claims.subject == "learner-1"
    with pytest.raises(SimulatedPlatformError, match="redirect_uri is not registered"):
        platform.launch_form(redirect.url.replace("%2Flaunch", "%2Felsewhere"))


# --------------------------------------------------------------------------- clock


def test_wall_clock_follows_the_real_time_and_can_be_shifted() -> None:
    clock = WallClock()
    assert abs((clock() - datetime.now(timezone.utc)).total_seconds()) < 2
    clock.advance(3600)
    assert 3598 < (clock() - datetime.now(timezone.utc)).total_seconds() < 3602


# --------------------------------------------------------------------------- launches


def test_a_real_tool_launches_grades_and_reads_the_roster(
    live: tuple[DevPlatform, DevTool],
) -> None:
    platform, tool = live
    launch = _launch(platform, tool)
    assert launch.claims.subject == "learner-1"
    assert launch.claims.roles.is_learner
    assert launch.claims.issuer == platform.base_url
    ags = launch.claims.ags
    assert ags is not None
    assert ags.lineitem is not None
    score = Score(
        user_id="learner-1",
        score_given=9,
        score_maximum=10,
        activity_progress="Completed",
        grading_progress="FullyGraded",
    )
    tool.tool.grades(launch).post_score(score, ags.lineitem)
    scores = platform.tools[0].platform.services.scores(ags.lineitem)
    assert [s["scoreGiven"] for s in scores][-1] == 9
    members = {m.user_id for m in tool.tool.roster(launch).list_members()}
    assert members == {"instructor-1", "learner-1"}
    page = httpx.get(f"{platform.base_url}/grades").text
    assert "learner-1" in page
    assert "Week 1 quiz" in page


def test_the_deep_link_return_verifies_and_records_the_items(
    live: tuple[DevPlatform, DevTool],
) -> None:
    platform, tool = live
    launch = _launch(platform, tool, role="instructor", message="deep")
    assert launch.claims.message_type == "LtiDeepLinkingRequest"
    from credlti.lti.deep_linking import Link

    response = tool.tool.deep_link_response(launch, [Link(url="https://example.org/a", title="A")])
    answer = httpx.post(response.return_url, data={"JWT": response.jwt})
    assert answer.status_code == 200
    assert "1 item(s)" in answer.text
    assert platform.tools[0].deep_link_items[-1]["title"] == "A"
    replay = httpx.post(response.return_url, data={"JWT": response.jwt})
    assert replay.status_code == 400
    assert "replay" in replay.text
    bad = httpx.post(response.return_url, data={"JWT": "not-a-jwt"})
    assert bad.status_code == 400


# --------------------------------------------------------------------------- auth endpoint


def _auth_params(platform: DevPlatform, tool: DevTool) -> dict[str, str]:
    redirect = tool.tool.handle_login(_login(platform, tool), tool.urls["launch_url"])
    return dict(parse_qsl(urlsplit(redirect.url).query))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"client_id": "someone-else"}, "unknown client_id"),
        ({"redirect_uri": "http://127.0.0.1:9/steal"}, "redirect_uri is not registered"),
        ({"login_hint": "learner-1:never-issued"}, "login_hint is unknown"),
        ({"nonce": None}, "lacks 'nonce'"),
        ({"state": None}, "lacks 'state'"),
        ({"lti_message_hint": "changed"}, "lti_message_hint was not echoed"),
        ({"response_type": "code"}, "response_type"),
        ({"scope": "email"}, "scope"),
    ],
)
def test_the_auth_endpoint_refuses_a_bad_request_without_posting_anything(
    live: tuple[DevPlatform, DevTool], change: dict[str, str | None], reason: str
) -> None:
    platform, tool = live
    params = _auth_params(platform, tool)
    for name, value in change.items():
        if value is None:
            params.pop(name)
        else:
            params[name] = value
    answer = httpx.get(f"{platform.base_url}/auth", params=params)
    assert answer.status_code == 400
    assert reason in html.unescape(answer.text)
    assert 'name="id_token"' not in answer.text


def test_the_auth_endpoint_answers_a_form_post_too(live: tuple[DevPlatform, DevTool]) -> None:
    platform, tool = live
    answer = httpx.post(f"{platform.base_url}/auth", data=_auth_params(platform, tool))
    assert answer.status_code == 200
    assert set(_form(answer.text)) == {"id_token", "state"}


# --------------------------------------------------------------------------- token endpoint


def _assertion(platform: DevPlatform, key: object, *, kid: str, **claims: object) -> str:
    now = int(time.time())
    payload = {
        "iss": platform.tools[0].client_id,
        "sub": platform.tools[0].client_id,
        "aud": f"{platform.base_url}/token",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    return jwt.encode({"alg": "RS256", "kid": kid}, payload, key)  # type: ignore[arg-type]


def _token(platform: DevPlatform, assertion: str) -> httpx.Response:
    return httpx.post(
        f"{platform.base_url}/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": f"{SCOPE_LINEITEM} {SCOPE_SCORE}",
        },
    )


def test_the_token_endpoint_checks_the_assertion_against_the_tools_jwks(
    live: tuple[DevPlatform, DevTool],
) -> None:
    platform, tool = live
    key = tool.keys.current
    private = key.private_jwk()
    from joserfc.jwk import RSAKey

    signing = RSAKey.import_key(dict(private))
    good = _assertion(platform, signing, kid=key.kid)
    answer = _token(platform, good)
    assert answer.status_code == 200, answer.text
    access = answer.json()["access_token"]
    assert _token(platform, good).json()["error"] == "invalid_client"  # jti replayed

    stranger = RSAKey.generate_key(2048, private=True)
    forged = _assertion(platform, stranger, kid=key.kid)
    assert "signature" in _token(platform, forged).json()["error_description"]
    unknown = _assertion(platform, signing, kid=key.kid, iss="nobody", sub="nobody")
    assert _token(platform, unknown).json()["error_description"] == "unknown client"
    stale = _assertion(
        platform, signing, kid=key.kid, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600
    )
    assert "expired" in _token(platform, stale).json()["error_description"]
    assert _token(platform, "garbage").status_code == 400

    # The services take the token (and nothing else).
    items = f"{platform.tools[0].platform.services.lineitems_url()}"
    accept = {"Accept": "application/vnd.ims.lis.v2.lineitemcontainer+json"}
    assert httpx.get(items, headers=accept).status_code == 401
    listed = httpx.get(items, headers={**accept, "Authorization": f"Bearer {access}"})
    assert listed.status_code == 200
    assert [i["label"] for i in listed.json()] == ["Week 1 quiz"]
    members = platform.tools[0].platform.services.memberships_url()
    nrps = {
        "Accept": "application/vnd.ims.lti-nrps.v2.membershipcontainer+json",
        "Authorization": f"Bearer {access}",
    }
    assert httpx.get(members, headers=nrps).status_code == 403  # no NRPS scope asked
    assert (
        httpx.get(f"{platform.base_url}/tools/99/api/lti/contexts/x/lineitems").status_code == 404
    )


# --------------------------------------------------------------------------- dynamic registration


def test_dynamic_registration_with_a_single_use_token() -> None:
    with serve_platform(port=0) as platform:
        config = httpx.get(f"{platform.base_url}/.well-known/openid-configuration").json()
        assert config["issuer"] == platform.base_url
        assert config["registration_endpoint"] == f"{platform.base_url}/registrations"

        url = platform.registration_url("http://localhost:9/register?x=1")
        assert url.startswith("http://localhost:9/register?x=1&openid_configuration=")
        params = dict(parse_qsl(urlsplit(url).query))
        base = "http://localhost:9"
        settings = ToolSettings(
            client_name="Registered tool",
            initiate_login_uri=f"{base}/login",
            redirect_uris=[f"{base}/launch"],
            jwks_uri=f"{base}/jwks",
            target_link_uri=f"{base}/launch",
        )
        storage: MemoryLaunchStorage[Any, Any] = MemoryLaunchStorage()
        result = DynamicRegistration(settings, storage, allow_loopback=True).register(params)
        [tool] = platform.tools
        assert result.registration.client_id == tool.client_id
        assert result.deployment is not None
        assert result.deployment.deployment_id == tool.deployment_id
        assert tool.login_url == f"{base}/login"
        assert tool.jwks_url == f"{base}/jwks"

        with pytest.raises(RegistrationRejectedError):  # the token is single use
            DynamicRegistration(settings, storage, allow_loopback=True).register(params)
        endpoint = f"{platform.base_url}/registrations"
        assert httpx.post(endpoint, json={}).status_code == 401
        token = platform.new_registration_token()
        headers = {"Authorization": f"Bearer {token}"}
        refused = httpx.post(endpoint, json={"application_type": "native"}, headers=headers)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_client_metadata"
        assert httpx.post(endpoint, json={}, headers=headers).status_code == 401  # used up
        assert len(platform.tools) == 1


def test_registration_by_the_home_page_form() -> None:
    with serve_platform(port=0) as platform:
        base = platform.base_url
        form = {
            "name": "Form tool",
            "login_url": "http://localhost:9/login",
            "launch_url": "http://localhost:9/launch",
            "jwks_url": "http://localhost:9/jwks",
        }
        answer = httpx.post(f"{base}/tools", data=form)
        assert answer.status_code == 303
        assert platform.tools[0].name == "Form tool"
        assert platform.tools[0].deployment_id == "deployment-1"
        again = httpx.post(
            f"{base}/tools", data={**form, "client_id": "mine", "deployment_id": "d-7"}
        )
        assert again.status_code == 303
        assert (platform.tools[1].client_id, platform.tools[1].deployment_id) == ("mine", "d-7")
        taken = httpx.post(f"{base}/tools", data={**form, "client_id": "mine"})
        assert taken.status_code == 400
        assert "dev-tool-1" in httpx.get(base).text
        bad = httpx.post(f"{base}/tools", data={**form, "jwks_url": "ftp://x"})
        assert bad.status_code == 400
        page = httpx.get(f"{base}/register", params={"url": "http://localhost:9/register"})
        assert "registration_token=" in page.text
        assert "org.imsglobal.lti.close" in page.text
        course = httpx.get(f"{base}/course", params={"tool": "1"})
        assert 'name="post_message_forwarding"' in course.text
        assert "lti_storage_target=post_message_forwarding" in html.unescape(course.text)
        assert httpx.get(f"{base}/course", params={"tool": "7"}).status_code == 404
        assert httpx.get(f"{base}/course", params={"storage": "x y"}).status_code == 400
        frame = httpx.get(f"{base}/storage-frame").text
        assert "http://localhost:9" in frame
        assert httpx.get(f"{base}/nowhere").status_code == 404
        assert httpx.delete(f"{base}/").status_code == 405
        jwks = httpx.get(f"{base}/.well-known/jwks.json").json()
        assert [k["kid"] for k in jwks["keys"]] == [t.platform.kid for t in platform.tools]


# --------------------------------------------------------------------------- command line


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONUNBUFFERED": "1"}


def test_platform_serve_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "credlti", "platform", "serve", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert "--port" in done.stdout
    assert "--host" in done.stdout
    assert "--tool-login-url" in done.stdout


def test_platform_serve_starts_answers_and_stops_on_ctrl_c() -> None:
    command = [
        sys.executable,
        "-m",
        "credlti",
        "platform",
        "serve",
        "--port",
        "0",
        "--tool-name",
        "CLI tool",
        "--tool-login-url",
        "http://localhost:9/login",
        "--tool-launch-url",
        "http://localhost:9/launch",
        "--tool-jwks-url",
        "http://localhost:9/jwks",
        "--tool-client-id",
        "my-client",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    ) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+) ", first)
        assert match, first
        base = match[1]
        lines = [process.stdout.readline() for _ in range(6)]
        assert any("client id my-client" in line for line in lines), lines
        assert httpx.get(f"{base}/api/state").json()["tools"][0]["client_id"] == "my-client"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        rest = process.stdout.read()
        assert "stopped" in rest
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()


def test_platform_serve_refuses_half_a_tool_and_a_taken_port() -> None:
    half = subprocess.run(
        [
            sys.executable,
            "-m",
            "credlti",
            "platform",
            "serve",
            "--port",
            "0",
            "--tool-login-url",
            "http://localhost:9/login",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert half.returncode == 2
    assert "go together" in half.stderr
    with serve_platform(port=0) as platform:
        port = urlsplit(platform.base_url).port
        taken = subprocess.run(
            [sys.executable, "-m", "credlti", "platform", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
            check=False,
        )
    assert taken.returncode == 2
    assert "cannot listen" in taken.stderr
