"""A service that keeps answering 401 must not cost a token request per call."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import httpx

from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import (
    SCOPE_NRPS_READONLY,
    AsyncServiceTokenClient,
    ServiceTokenClient,
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
