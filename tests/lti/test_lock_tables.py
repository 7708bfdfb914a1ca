"""The ``locks=`` tables of tools and service-token clients: where single flight locks."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Hashable
from typing import Any

from credlti._effects import AsyncLocks, AsyncLockTable, LockTable, SyncLocks
from credlti.lti.keys import KeySet, KeyState, generate_key, jwks
from credlti.lti.services import SCOPE_NRPS_READONLY, AsyncServiceTokenClient, ServiceTokenClient
from credlti.testing import SimulatedPlatform

LAUNCH_URL = "https://tool.example.com/launch"


class CountingLocks:
    """A sync lock table that records every key it was asked for."""

    def __init__(self) -> None:
        self.keys: list[Hashable] = []
        self._inner = SyncLocks()

    def get(self, key: Hashable) -> threading.Lock:
        self.keys.append(key)
        return self._inner.get(key)


class AsyncCountingLocks:
    """An async lock table that records every key it was asked for."""

    def __init__(self) -> None:
        self.keys: list[Hashable] = []
        self._inner = AsyncLocks()

    def get(self, key: Hashable) -> contextlib.AbstractAsyncContextManager[Any]:
        self.keys.append(key)
        return self._held(key)

    @contextlib.asynccontextmanager
    async def _held(self, key: Hashable) -> AsyncIterator[None]:
        async with self._inner.get(key):
            yield


def _kinds(keys: list[Hashable]) -> list[Any]:
    return [key[0] if isinstance(key, tuple) else key for key in keys]


def test_the_tool_fetches_platform_keys_under_its_lock_table(
    platform: SimulatedPlatform,
) -> None:
    """A launch's key-set fetch locks ("jwks", uri) in the table the host gave."""
    locks = CountingLocks()
    table: LockTable = locks
    tool = platform.tool(locks=table)
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    tool.handle_callback(platform.launch(redirect), redirect.cookie_value)

    assert ("jwks", platform.registration.jwks_uri) in locks.keys


def test_the_tools_service_client_shares_the_tools_lock_table(
    platform: SimulatedPlatform,
) -> None:
    """Token requests of tool.services lock ("service-token", key) in the same table."""
    key = generate_key(now=platform.clock(), state=KeyState.CURRENT)
    platform.trust_tool_keys(jwks([key]))
    locks = CountingLocks()
    tool = platform.tool(locks=locks, keys=KeySet([key]))

    tool.services.get_token(platform.registration, [SCOPE_NRPS_READONLY])

    assert "service-token" in _kinds(locks.keys)


def test_a_token_client_takes_a_lock_table(platform: SimulatedPlatform) -> None:
    """ServiceTokenClient(locks=...) asks that table, once per token request."""
    key = generate_key(now=platform.clock(), state=KeyState.CURRENT)
    platform.trust_tool_keys(jwks([key]))
    locks = CountingLocks()
    client = ServiceTokenClient(
        keys=KeySet([key]),
        clock=platform.clock,
        http_client=platform.http_client(),
        locks=locks,
    )
    client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    client.get_token(platform.registration, [SCOPE_NRPS_READONLY])  # cached: no lock

    assert _kinds(locks.keys) == ["service-token"]


def test_an_async_token_client_and_tool_take_an_async_lock_table(
    platform: SimulatedPlatform,
) -> None:
    """The async forms take async tables, for tokens and key sets alike."""
    key = generate_key(now=platform.clock(), state=KeyState.CURRENT)
    platform.trust_tool_keys(jwks([key]))

    async def main() -> tuple[list[Any], list[Any]]:
        client_locks, tool_locks = AsyncCountingLocks(), AsyncCountingLocks()
        table: AsyncLockTable = client_locks
        async with AsyncServiceTokenClient(
            keys=KeySet([key]),
            clock=platform.clock,
            http_client=platform.async_http_client(),
            locks=table,
        ) as client:
            await client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
        tool = platform.async_tool(locks=tool_locks)
        redirect = await tool.handle_login(platform.login_params(), LAUNCH_URL)
        await tool.handle_callback(platform.launch(redirect), redirect.cookie_value)
        await tool.aclose()
        return _kinds(client_locks.keys), _kinds(tool_locks.keys)

    client_kinds, tool_kinds = asyncio.run(main())
    assert client_kinds == ["service-token"]
    assert "jwks" in tool_kinds
