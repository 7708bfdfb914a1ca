"""OAuth refresh single flight through Redis: Vault(locks=RedisLockTable), AsyncVault too.

Two "workers" (two vaults with their own in-process lock tables) share one store
whose named lock does not hold across them, as a store without cross-process locks
would; with the Redis lock table passed as ``locks=`` they still make one token
request between them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import redis
import redis.asyncio

from credlti.adapters.memory import (
    AsyncMemoryOAuthClientRegistry,
    AsyncMemoryVaultStore,
    MemoryOAuthClientRegistry,
    MemoryVaultStore,
)
from credlti.adapters.redis import (
    AsyncRedisLocks,
    AsyncRedisLockTable,
    RedisLocks,
    RedisLockTable,
)
from credlti.credentials import AsyncVault, KeyRing, Vault
from credlti.testing import FrozenClock

from ...credentials.backends import GOOGLE
from ...credentials.helpers import KEY1

OAUTH = {
    "name": "gmail",
    "schema": "oauth",
    "owner_id": "alice",
    "body": {},
    "oauth_client_id": "google",
    "oauth_token": {
        "access_token": "at-0",
        "refresh_token": "rt-0",
        "scope": "mail.read",
        "expires_in": 60,
    },
}


class UnlockedStore(MemoryVaultStore):
    """A memory store whose named lock holds nothing (no cross-process locking)."""

    @contextmanager
    def lock(self, key: str, *, timeout: float) -> Iterator[None]:
        yield


class AsyncUnlockedStore(AsyncMemoryVaultStore):
    """The async twin of :class:`UnlockedStore`."""

    @asynccontextmanager
    async def lock(self, key: str, *, timeout: float) -> AsyncIterator[None]:
        yield


def test_sync_vaults_refresh_once_through_redis_locks(
    redis_client: redis.Redis, prefix: str
) -> None:
    requests: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        time.sleep(0.2)  # the other worker arrives meanwhile
        return httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})

    store, clock, clients = UnlockedStore(), FrozenClock(), MemoryOAuthClientRegistry()
    clients.add(GOOGLE)

    def worker() -> Vault:
        return Vault(
            store=store,
            keyring=KeyRing([KEY1]),
            oauth_clients=clients,
            http_client=httpx.Client(transport=httpx.MockTransport(endpoint)),
            clock=clock,
            locks=RedisLockTable(RedisLocks(redis_client, prefix=prefix), timeout=10),
        )

    first, second = worker(), worker()
    cred = first.create_credential(OAUTH)
    clock.advance(600)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda v=v: results.append(v.maybe_refresh_token(cred.id)))
        for v in (first, second)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(requests) == 1
    assert {r.oauth_token.access_token for r in results} == {"at-1"}


def test_async_vaults_refresh_once_through_redis_locks(redis_url: str, prefix: str) -> None:
    requests: list[httpx.Request] = []

    async def endpoint(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        await asyncio.sleep(0.2)
        return httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})

    async def main() -> set[str]:
        client = redis.asyncio.Redis.from_url(redis_url)
        store, clock = AsyncUnlockedStore(), FrozenClock()
        clients = AsyncMemoryOAuthClientRegistry()
        clients.sync.add(GOOGLE)

        def worker() -> AsyncVault:
            return AsyncVault(
                store=store,
                keyring=KeyRing([KEY1]),
                oauth_clients=clients,
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(endpoint)),
                clock=clock,
                locks=AsyncRedisLockTable(AsyncRedisLocks(client, prefix=prefix), timeout=10),
            )

        first, second = worker(), worker()
        try:
            cred = await first.create_credential(OAUTH)
            clock.advance(600)
            results = await asyncio.gather(
                first.maybe_refresh_token(cred.id), second.maybe_refresh_token(cred.id)
            )
            return {r.oauth_token.access_token for r in results if r.oauth_token}
        finally:
            await client.aclose()

    assert asyncio.run(main()) == {"at-1"}
    assert len(requests) == 1
