"""The overall deadline holds against a slow-drip peer (a real socket on 127.0.0.1).

The server sends its headers at once, then one body byte every 0.2 s: every read
succeeds well within its timeout, so only the overall deadline can end the call.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from credlti._effects import run
from credlti._http import RemoteCallFailed, check_deadline, perform_sync, send_async, send_sync
from credlti.adapters.memory import AsyncMemoryServiceTokenCache, MemoryServiceTokenCache
from credlti.errors import ConfigurationError, KeySetFetchError, ServiceCallFailedError
from credlti.lti._jwks import JwksPolicy
from credlti.lti._platform_keys import KeyCache, key_flow
from credlti.lti._tokens import ServiceToken
from credlti.lti.keys import KeyState, generate_key
from credlti.lti.services import (
    SCOPE_NRPS_READONLY,
    AsyncServiceTokenClient,
    ServiceTokenClient,
    TokenPolicy,
)
from credlti.lti.services._oauth import TokenRequest
from credlti.testing import SimulatedPlatform

DEADLINE = 1.0
TOLERANCE = 0.6
KEY = generate_key(now=datetime(2026, 1, 1, tzinfo=timezone.utc), state=KeyState.CURRENT)


class DripServer:
    """Headers at once, then a byte every *interval* seconds; stops itself after *lifetime*."""

    def __init__(self, *, interval: float = 0.2, lifetime: float = 8.0) -> None:
        self.interval = interval
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.ends = time.monotonic() + lifetime
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.ends:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()
        self.sock.close()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1.0)
            try:
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n"
                )
                while not self.stop.is_set() and time.monotonic() < self.ends:
                    conn.sendall(b" ")
                    time.sleep(self.interval)
            except OSError:
                return


@pytest.fixture(name="drip")
def _drip() -> Iterator[DripServer]:
    server = DripServer()
    yield server
    server.stop.set()
    server.thread.join(timeout=2)


def test_send_sync_ends_at_the_deadline(drip: DripServer) -> None:
    """A body dripping slower than the deadline, faster than the read timeout: stopped."""
    started = time.monotonic()
    with httpx.Client() as client, pytest.raises(RemoteCallFailed) as caught:
        send_sync(client, "GET", drip.url, timeout=5.0, max_bytes=1 << 20, deadline=DEADLINE)
    elapsed = time.monotonic() - started
    assert DEADLINE <= elapsed < DEADLINE + TOLERANCE
    assert "deadline" in caught.value.reason


def test_send_async_ends_at_the_deadline(drip: DripServer) -> None:
    """The async sender cancels the whole exchange at the deadline."""

    async def main() -> float:
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            with pytest.raises(RemoteCallFailed):
                await send_async(
                    client, "GET", drip.url, timeout=5.0, max_bytes=1 << 20, deadline=DEADLINE
                )
        return time.monotonic() - started

    assert asyncio.run(main()) < DEADLINE + TOLERANCE


def test_a_key_set_fetch_ends_at_the_policy_deadline(drip: DripServer) -> None:
    """A launch's key fetch from a dripping key-set endpoint: KeySetFetchError in time."""
    cache = KeyCache(JwksPolicy(timeout=5.0, deadline=DEADLINE))
    started = time.monotonic()
    with httpx.Client() as client, pytest.raises(KeySetFetchError):
        run(
            key_flow(cache, f"{drip.url}/jwks", "kid-1", "RS256", 1000.0),
            lambda effect: perform_sync(client, effect),
        )
    assert time.monotonic() - started < DEADLINE + TOLERANCE


def _client_with_token(policy: TokenPolicy, registration: object, async_: bool = False) -> object:
    cache = MemoryServiceTokenCache()
    now = datetime.now(timezone.utc)
    request = TokenRequest.for_registration(registration, [SCOPE_NRPS_READONLY])  # type: ignore[arg-type]
    cache.put_token(
        request.cache_key(policy),
        ServiceToken(
            access_token="t", scopes=[SCOPE_NRPS_READONLY], expires_at=now + timedelta(hours=1)
        ),
    )
    if async_:
        async_cache = AsyncMemoryServiceTokenCache.over(cache)
        return AsyncServiceTokenClient(keys=KEY, cache=async_cache, policy=policy)
    return ServiceTokenClient(keys=KEY, cache=cache, policy=policy)


def test_a_service_call_ends_at_the_policy_deadline(drip: DripServer) -> None:
    """A service call against a dripping service: ServiceCallFailedError in time."""
    platform = SimulatedPlatform()
    policy = TokenPolicy(timeout=5.0, deadline=DEADLINE, allowed_origins=[drip.url])
    client = _client_with_token(policy, platform.registration)
    assert isinstance(client, ServiceTokenClient)
    started = time.monotonic()
    with client, pytest.raises(ServiceCallFailedError) as caught:
        client.request(
            "GET",
            f"{drip.url}/members",
            registration=platform.registration,
            scopes=[SCOPE_NRPS_READONLY],
        )
    assert time.monotonic() - started < DEADLINE + TOLERANCE
    assert "deadline" in caught.value.message


def test_an_async_service_call_ends_at_the_call_deadline(drip: DripServer) -> None:
    """request(deadline=...) overrides the policy's deadline for one call."""
    platform = SimulatedPlatform()
    policy = TokenPolicy(timeout=5.0, deadline=30.0, allowed_origins=[drip.url])
    client = _client_with_token(policy, platform.registration, async_=True)
    assert isinstance(client, AsyncServiceTokenClient)

    async def main() -> float:
        started = time.monotonic()
        async with client:
            with pytest.raises(ServiceCallFailedError):
                await client.request(
                    "GET",
                    f"{drip.url}/members",
                    registration=platform.registration,
                    scopes=[SCOPE_NRPS_READONLY],
                    deadline=DEADLINE,
                )
        return time.monotonic() - started

    assert asyncio.run(main()) < DEADLINE + TOLERANCE


def test_deadlines_must_be_positive_finite_numbers() -> None:
    """Zero, negative, NaN, infinite or boolean deadlines are configuration errors."""
    for bad in (0, -1, float("nan"), float("inf"), True):
        with pytest.raises(ConfigurationError):
            TokenPolicy(deadline=bad)
        with pytest.raises(ConfigurationError):
            JwksPolicy(deadline=bad)


@given(value=st.one_of(st.floats(allow_nan=True), st.integers(), st.booleans(), st.none()))
def test_check_deadline_accepts_only_positive_finite_numbers(value: object) -> None:
    """check_deadline returns None or a positive finite float, else raises ValueError."""
    try:
        result = check_deadline(value)  # type: ignore[arg-type]
    except ValueError:
        return
    assert result is None or (0 < result < float("inf"))


@given(value=st.one_of(st.floats(max_value=0), st.just(float("nan")), st.just(float("inf"))))
def test_a_hostile_call_deadline_is_a_configuration_error_before_any_request(value: float) -> None:
    """client.request(deadline=...) refuses zero, negative, NaN and infinite values up front."""
    platform = _PLATFORM
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    client = ServiceTokenClient(
        keys=KEY, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    with pytest.raises(ConfigurationError):
        client.request(
            "GET",
            "https://platform.example.edu/members",
            registration=platform.registration,
            scopes=[SCOPE_NRPS_READONLY],
            deadline=value,
        )
    assert sent == []


_PLATFORM = SimulatedPlatform()
