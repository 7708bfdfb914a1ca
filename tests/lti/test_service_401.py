"""A service that keeps answering 401 must not cost a token request per call."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

import httpx

from credlti._effects import SyncLocks, run
from credlti._http import HttpRequest, RemoteResponse
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import (
    SCOPE_NRPS_READONLY,
    AsyncServiceTokenClient,
    ServiceToken,
    ServiceTokenClient,
    TokenPolicy,
)
from credlti.lti.services._call_flow import Caller, RefusedTokens, ServiceCall, call_flow
from credlti.lti.services._destinations import Destinations
from credlti.lti.services._token_flow import (
    CacheDelete,
    CacheGet,
    CachePut,
    SigningKeyFor,
    TokenContext,
)
from credlti.testing import SimulatedPlatform

KEY = generate_key(now=datetime(2026, 1, 1, tzinfo=timezone.utc), state=KeyState.CURRENT)
SERVICE = "https://platform.example.edu/api/roster"


def _platform_and_handler(refuse: list[bool]) -> tuple[SimulatedPlatform, httpx.MockTransport]:
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == SERVICE:
            return httpx.Response(401 if refuse[0] else 200, json={"ok": not refuse[0]})
        return platform.handle_request(request)

    return platform, httpx.MockTransport(handler)


def test_persistent_401_renews_once_per_token_lifetime() -> None:
    """10 calls to a service denying the tool: one renewal, then plain 401s."""
    refuse = [True]
    platform, transport = _platform_and_handler(refuse)
    client = ServiceTokenClient(
        keys=KEY, http_client=httpx.Client(transport=transport), clock=platform.clock
    )

    statuses = [
        client.request(
            "GET", SERVICE, registration=platform.registration, scopes=[SCOPE_NRPS_READONLY]
        ).status_code
        for _ in range(10)
    ]

    assert statuses == [401] * 10
    assert platform.token_requests == 2  # the first token, and one renewal

    refuse[0] = False  # the platform fixes the tool's access
    platform.clock.advance(3600)  # the refused token expires
    status = client.request(
        "GET", SERVICE, registration=platform.registration, scopes=[SCOPE_NRPS_READONLY]
    ).status_code
    assert status == 200
    assert platform.token_requests == 3


def test_a_single_401_is_still_retried_with_a_new_token() -> None:
    """A 401 for a token the platform revoked: renew and succeed, as before."""
    refuse = [False]
    platform, transport = _platform_and_handler(refuse)
    client = ServiceTokenClient(
        keys=KEY, http_client=httpx.Client(transport=transport), clock=platform.clock
    )
    first = client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == SERVICE:
            calls.append(request.headers["authorization"])
            stale = request.headers["authorization"] == first.authorization
            return httpx.Response(401 if stale else 200)
        return platform.handle_request(request)

    client = ServiceTokenClient(
        keys=KEY,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=platform.clock,
        cache=client.cache,
    )

    response = client.request(
        "GET", SERVICE, registration=platform.registration, scopes=[SCOPE_NRPS_READONLY]
    )

    assert response.status_code == 200
    assert len(calls) == 2
    assert calls[0] != calls[1]


def test_async_client_has_the_same_guard() -> None:
    """The async client also stops renewing after a refused renewal."""
    platform, transport = _platform_and_handler([True])

    async def main() -> list[int]:
        client = AsyncServiceTokenClient(
            keys=KEY, http_client=httpx.AsyncClient(transport=transport), clock=platform.clock
        )
        return [
            (
                await client.request(
                    "GET",
                    SERVICE,
                    registration=platform.registration,
                    scopes=[SCOPE_NRPS_READONLY],
                )
            ).status_code
            for _ in range(5)
        ]

    assert asyncio.run(main()) == [401] * 5
    assert platform.token_requests == 2


def test_the_401_renewal_is_flow_logic() -> None:
    """call_flow alone: 401 -> drop the token from the cache, get another, send again."""
    platform = SimulatedPlatform()
    now = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
    tokens = iter(["first", "second"])
    cache: dict[object, ServiceToken] = {}
    sent: list[str] = []
    done: list[str] = []

    def perform(effect: object) -> object:
        done.append(type(effect).__name__)
        if isinstance(effect, CacheGet):
            return cache.get(effect.key)
        if isinstance(effect, CachePut):
            cache[effect.key] = effect.token
            return None
        if isinstance(effect, CacheDelete):
            return cache.pop(effect.key, None) is not None
        if isinstance(effect, SigningKeyFor):
            return KEY
        assert isinstance(effect, HttpRequest)
        if effect.method == "POST":
            body = {"access_token": next(tokens), "token_type": "Bearer", "expires_in": 3600}
            return RemoteResponse(200, httpx.Headers(), json.dumps(body).encode())
        assert effect.headers is not None
        sent.append(effect.headers["Authorization"])
        status = 401 if effect.headers["Authorization"] == "Bearer first" else 200
        return RemoteResponse(status, httpx.Headers(), b"{}")

    caller = Caller(
        registration=platform.registration,
        tokens=TokenContext(policy=TokenPolicy(), clock=lambda: now, random_bytes=bytes),
        refused=RefusedTokens(),
        destinations=Destinations.for_registration(
            platform.registration, allowed=frozenset(), same_site=True
        ),
    )
    call = ServiceCall(
        method="GET",
        url=SERVICE,
        scopes=frozenset({SCOPE_NRPS_READONLY}),
        require=frozenset({SCOPE_NRPS_READONLY}),
    )

    response = run(call_flow(call, caller), perform, locks=SyncLocks())

    assert response.status_code == 200
    assert sent == ["Bearer first", "Bearer second"]
    assert "CacheDelete" in done
    assert [t.access_token for t in cache.values()] == ["second"]


def test_no_hand_written_effect_loop_in_the_services() -> None:
    """Only credlti._effects drives flows: no module of the services catches StopIteration."""
    import credlti.lti.services as services

    for path in Path(services.__path__[0]).glob("*.py"):
        assert "StopIteration" not in path.read_text(encoding="utf-8"), path.name
