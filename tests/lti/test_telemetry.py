"""Telemetry of the LTI side: spans, metrics and log records, and no secret in them."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from credlti import _telemetry
from credlti._effects import SyncLocks, run
from credlti._http import RemoteCallFailed, RemoteResponse
from credlti.errors import CredltiError
from credlti.lti import JwksPolicy, LaunchContext, Tool
from credlti.lti._platform_keys import KEY_SET_LOOKUPS, KeyCache, key_flow
from credlti.lti.keys import KeyState, generate_key
from credlti.lti.services import SCOPE_NRPS_READONLY, LineItem, ServiceToken, TokenPolicy
from credlti.lti.services._oauth import TokenRequest
from credlti.lti.services._token_flow import (
    TOKEN_LOOKUPS,
    CacheGet,
    TokenContext,
    acquire_token_flow,
)
from credlti.testing import SimulatedPlatform
from tests.otel import Exported, detach, exported

LAUNCH_URL = "https://tool.example.com/launch"
KEY = generate_key(now=datetime(2026, 1, 1, tzinfo=timezone.utc), state=KeyState.CURRENT)


@pytest.fixture(name="otel")
def _otel() -> Iterator[Exported]:
    yield exported()
    detach()


def _payload(id_token: str) -> dict[str, Any]:
    part = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def _launch(
    platform: SimulatedPlatform, tool: Tool[Any, Any], secrets: list[str], **claims: Any
) -> LaunchContext[Any, Any]:
    """Log in and launch; every secret value of the exchange is added to *secrets*."""
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    form = platform.launch(redirect, claims=claims)
    secrets += [redirect.cookie_value, form["state"], form["id_token"]]
    secrets.append(_payload(form["id_token"])["nonce"])
    return tool.handle_callback(form, redirect.cookie_value)


def test_login_and_launch_spans_carry_ids_and_outcome(
    platform: SimulatedPlatform, otel: Exported
) -> None:
    """credlti.lti.login and credlti.lti.launch: issuer, client id, deployment, message type."""
    secrets: list[str] = []
    launch = _launch(platform, platform.tool(), secrets)

    (login,) = otel.finished("credlti.lti.login")
    (span,) = otel.finished("credlti.lti.launch")
    assert login.attributes is not None
    assert span.attributes is not None
    assert login.attributes["credlti.issuer"] == platform.issuer
    assert login.attributes["credlti.outcome"] == "ok"
    assert dict(span.attributes) == {
        "credlti.issuer": platform.issuer,
        "credlti.client_id": platform.client_id,
        "credlti.deployment_id": launch.claims.deployment_id,
        "credlti.message_type": "LtiResourceLinkRequest",
        "credlti.outcome": "ok",
    }
    (fetch,) = otel.finished("credlti.lti.key_set.fetch")
    assert fetch.parent is not None
    assert fetch.parent.span_id == span.context.span_id
    assert fetch.attributes == {
        "server.address": "platform.example.edu",
        "http.response.status_code": 200,
        "credlti.outcome": "ok",
    }
    durations = otel.points(_telemetry.DURATION_METRIC)
    operations = {attributes["credlti.operation"] for attributes, _ in durations}
    assert {"credlti.lti.login", "credlti.lti.launch", "credlti.lti.key_set.fetch"} <= operations
    otel.assert_no_secret(secrets)


def test_a_failed_launch_carries_its_error_code(
    platform: SimulatedPlatform, otel: Exported
) -> None:
    """A replayed launch form: outcome error, the error's code, the ids known so far."""
    tool = platform.tool()
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    form = platform.launch(redirect)
    tool.handle_callback(form, redirect.cookie_value)
    with pytest.raises(CredltiError) as caught:
        tool.handle_callback(form, redirect.cookie_value)

    failed = otel.finished("credlti.lti.launch")[-1]
    assert failed.attributes is not None
    assert failed.attributes["credlti.outcome"] == "error"
    assert failed.attributes["credlti.error_code"] == caught.value.code
    assert failed.attributes["credlti.issuer"] == platform.issuer
    assert not failed.status.is_ok
    errors = [
        a
        for a, _ in otel.points(_telemetry.DURATION_METRIC)
        if a["credlti.operation"] == "credlti.lti.launch" and a["credlti.outcome"] == "error"
    ]
    assert errors == [
        {
            "credlti.operation": "credlti.lti.launch",
            "credlti.outcome": "error",
            "credlti.error_code": caught.value.code,
            "credlti.issuer": platform.issuer,
            "credlti.client_id": platform.client_id,
        }
    ]
    payload = _payload(form["id_token"])
    otel.assert_no_secret([redirect.cookie_value, form["id_token"], payload["nonce"]])


def test_key_set_lookups_count_miss_hit_and_refetch(
    platform: SimulatedPlatform, otel: Exported
) -> None:
    """First launch misses, the next hits, a rotated key forces a refetch."""
    tool = platform.tool()
    secrets: list[str] = []
    _launch(platform, tool, secrets)
    _launch(platform, tool, secrets)
    platform.rotate_keys()
    _launch(platform, tool, secrets)

    assert otel.counted(KEY_SET_LOOKUPS, credlti__result="miss") == 1
    assert otel.counted(KEY_SET_LOOKUPS, credlti__result="hit") == 1
    assert otel.counted(KEY_SET_LOOKUPS, credlti__result="refetch") == 1
    assert len(otel.finished("credlti.lti.key_set.fetch")) == 2
    otel.assert_no_secret(secrets)


class _KeySetServer:
    def __init__(self, platform: SimulatedPlatform) -> None:
        self.platform, self.fail = platform, False

    def perform(self, effect: Any) -> Any:
        if self.fail:
            raise RemoteCallFailed("connection refused")
        body = json.dumps(self.platform.jwks()).encode()
        headers = httpx.Headers({"cache-control": "max-age=300"})
        return RemoteResponse(status_code=200, headers=headers, body=body)


def test_key_set_lookups_count_stale_and_wait(platform: SimulatedPlatform, otel: Exported) -> None:
    """A failed refresh served from the expired copy counts stale; a fetch done while
    waiting for the lock counts wait."""
    cache = KeyCache(JwksPolicy())
    server = _KeySetServer(platform)
    uri, kid = platform.jwks_uri, platform.kid
    run(key_flow(cache, uri, kid, "RS256", 1000.0), server.perform, locks=SyncLocks())
    server.fail = True
    run(key_flow(cache, uri, kid, "RS256", 1301.0), server.perform, locks=SyncLocks())
    assert otel.counted(KEY_SET_LOOKUPS, credlti__result="stale") == 1

    # Two lookups miss together; the second finds the key once it holds the lock.
    server.fail = False
    fresh = KeyCache(JwksPolicy())
    first = key_flow(fresh, uri, kid, "RS256", 1.0)
    second = key_flow(fresh, uri, kid, "RS256", 1.0)
    locked_first, locked_second = next(first), next(second)
    run(locked_first.flow, server.perform)
    run(locked_second.flow, server.perform)
    assert otel.counted(KEY_SET_LOOKUPS, credlti__result="miss") == 3  # one cold one above
    assert otel.counted(KEY_SET_LOOKUPS, credlti__result="wait") == 1


def test_token_requests_cache_hits_and_service_calls(
    platform: SimulatedPlatform, otel: Exported
) -> None:
    """A token request, then a cache hit; each AGS call is a span with method, kind, status."""
    tool = platform.tool(keys=KEY)
    platform.trust_tool_keys(tool.jwks())
    secrets: list[str] = []
    launch = _launch(platform, tool, secrets, **platform.services.ags_claim())
    grades = tool.grades(launch)
    item = grades.create_line_item(LineItem(label="Quiz 1", score_maximum=10))
    grades.list_line_items()
    secrets += list(platform._access_tokens)  # every access token the platform issued
    assert secrets[-1]

    assert otel.counted(TOKEN_LOOKUPS, credlti__result="request") == 1
    assert otel.counted(TOKEN_LOOKUPS, credlti__result="hit") == 1
    (request,) = otel.finished("credlti.lti.services.token_request")
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    calls = otel.finished("credlti.lti.services.call")
    assert [dict(c.attributes or {}) for c in calls] == [
        {
            "server.address": "platform.example.edu",
            "http.request.method": "POST",
            "credlti.service": "ags.lineitem",
            "http.response.status_code": 201,
            "credlti.outcome": "ok",
        },
        {
            "server.address": "platform.example.edu",
            "http.request.method": "GET",
            "credlti.service": "ags.lineitem",
            "http.response.status_code": 200,
            "credlti.outcome": "ok",
        },
    ]
    assert item.id
    otel.assert_no_secret(secrets)


def test_a_roster_call_is_an_nrps_span(platform: SimulatedPlatform, otel: Exported) -> None:
    """NRPS membership calls are marked nrps.membership."""
    tool = platform.tool(keys=KEY)
    platform.trust_tool_keys(tool.jwks())
    launch = _launch(platform, tool, [], **platform.services.nrps_claim())
    tool.roster(launch).list_members()
    kinds = {(c.attributes or {}).get("credlti.service") for c in otel.finished()}
    assert "nrps.membership" in kinds
    assert SCOPE_NRPS_READONLY not in set(otel.attribute_values())


def test_log_records_carry_the_same_fields(
    platform: SimulatedPlatform, otel: Exported, caplog: pytest.LogCaptureFixture
) -> None:
    """With DEBUG on the credlti.telemetry logger: one record per span end and count."""
    with caplog.at_level(logging.DEBUG, logger="credlti.telemetry"):
        secrets: list[str] = []
        _launch(platform, platform.tool(), secrets)
    records = [r for r in caplog.records if r.name == "credlti.telemetry"]
    launch = [r for r in records if getattr(r, "credlti_event", None) == "credlti.lti.launch"]
    assert len(launch) == 1
    fields = launch[0].credlti_attributes  # type: ignore[attr-defined]
    assert fields["credlti.outcome"] == "ok"
    assert fields["credlti.issuer"] == platform.issuer
    assert launch[0].credlti_duration_ms >= 0  # type: ignore[attr-defined]
    assert any(getattr(r, "credlti_event", None) == KEY_SET_LOOKUPS for r in records)
    for record in records:
        text = record.getMessage() + repr(record.__dict__)
        assert not any(secret in text for secret in secrets)
    assert otel.finished("credlti.lti.launch")


def test_unknown_attribute_keys_are_refused() -> None:
    """Only allow-listed keys: a new attribute must be added (and reviewed) on purpose."""
    with pytest.raises(ValueError, match="not allow-listed"):
        _telemetry.Span("x", {"credlti.state": "abc"})


def test_without_opentelemetry_nothing_breaks() -> None:
    """With the API unimportable: no span, no error, and the log adapter still works."""
    script = textwrap.dedent(
        """
        import logging, sys
        sys.modules["opentelemetry"] = None
        from credlti import _telemetry
        from credlti.testing import SimulatedPlatform
        platform = SimulatedPlatform()
        tool = platform.tool()
        redirect = tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
        tool.handle_callback(platform.launch(redirect), redirect.cookie_value)
        assert not _telemetry.enabled()
        assert _telemetry._State.tracer is None
        with _telemetry.span("credlti.lti.launch") as span:
            span.set("credlti.outcome", "ok")
        _telemetry.count("credlti.lti.key_set.lookups", {"credlti.result": "hit"})
        seen = []
        handler = logging.Handler()
        handler.emit = seen.append
        logger = logging.getLogger("credlti.telemetry")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        assert _telemetry.enabled()
        redirect = tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
        tool.handle_callback(platform.launch(redirect), redirect.cookie_value)
        events = [r.credlti_event for r in seen]
        assert "credlti.lti.launch" in events, events
        assert "opentelemetry.trace" not in sys.modules
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_token_found_after_waiting_for_the_lock_counts_wait(
    platform: SimulatedPlatform, otel: Exported
) -> None:
    """Single flight: a caller that missed, then found the token under the lock, waited."""
    now = platform.clock()
    token = ServiceToken(
        access_token="waited-token",
        scopes=[SCOPE_NRPS_READONLY],
        expires_at=now + timedelta(hours=1),
    )
    request = TokenRequest.for_registration(platform.registration, [SCOPE_NRPS_READONLY])
    context = TokenContext(policy=TokenPolicy(), clock=platform.clock, random_bytes=bytes)
    answers = iter([None, token])  # a miss outside the lock, the token stored meanwhile

    def perform(effect: Any) -> Any:
        assert type(effect) is CacheGet
        return next(answers)

    found = run(
        acquire_token_flow(request, platform.registration, context), perform, locks=SyncLocks()
    )
    assert found is token
    assert otel.counted(TOKEN_LOOKUPS, credlti__result="wait") == 1
    assert otel.counted(TOKEN_LOOKUPS, credlti__result="request") == 0


def test_async_launch_spans(platform: SimulatedPlatform, otel: Exported) -> None:
    """AsyncTool reports the same spans, the key-set fetch nested in the launch."""

    async def launch() -> None:
        tool = platform.async_tool()
        redirect = await tool.handle_login(platform.login_params(), LAUNCH_URL)
        await tool.handle_callback(platform.launch(redirect), redirect.cookie_value)
        with pytest.raises(CredltiError):
            await tool.handle_callback({"id_token": "x.y.z", "state": "s"}, "s")

    asyncio.run(launch())
    ok, failed = otel.finished("credlti.lti.launch")
    assert (ok.attributes or {})["credlti.outcome"] == "ok"
    assert (failed.attributes or {})["credlti.outcome"] == "error"
    (fetch,) = otel.finished("credlti.lti.key_set.fetch")
    assert fetch.parent is not None
    assert fetch.parent.span_id == ok.context.span_id
    assert len(otel.finished("credlti.lti.login")) == 1


def test_with_the_api_but_no_sdk_nothing_is_recorded() -> None:
    """The API alone (no provider set): disabled, until the host sets a provider."""
    script = textwrap.dedent(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from credlti import _telemetry
        assert not _telemetry.enabled()
        trace.set_tracer_provider(TracerProvider())
        assert _telemetry.enabled()
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
