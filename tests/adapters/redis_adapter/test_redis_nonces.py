"""The nonce contract on memory and on Redis (sync and async), and racing replays."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio

from credlti.adapters.memory import AsyncMemoryLaunchStorage, MemoryLaunchStorage
from credlti.adapters.redis import AsyncRedisNonceStore, RedisNonceStore
from credlti.errors import NonceReusedError
from credlti.lti import Tool
from credlti.ports import NonceStatus
from credlti.testing import SimulatedPlatform
from tests.adapters.nonce_contract import T0, NonceStoreContract, registration


class TestMemoryNonces(NonceStoreContract):
    """The contract on the memory adapter (the reference behaviour), both forms."""

    @pytest.fixture
    def nonce_store(self) -> MemoryLaunchStorage[Any, Any]:
        return MemoryLaunchStorage()

    @pytest.fixture
    def async_nonce_store(self) -> AsyncMemoryLaunchStorage[Any, Any]:
        return AsyncMemoryLaunchStorage()


class TestRedisNonces(NonceStoreContract):
    """The contract on RedisNonceStore and AsyncRedisNonceStore."""

    @pytest.fixture
    def nonce_store(self, redis_client: redis.Redis, prefix: str) -> RedisNonceStore:
        return RedisNonceStore(redis_client, prefix=prefix)

    @pytest.fixture
    def async_nonce_store(
        self, async_client: redis.asyncio.Redis, prefix: str
    ) -> AsyncRedisNonceStore:
        return AsyncRedisNonceStore(async_client, prefix=prefix)


def test_eight_coroutines_replaying_one_nonce_consume_it_once(
    async_client: redis.asyncio.Redis, prefix: str, loop: asyncio.AbstractEventLoop
) -> None:
    """Eight concurrent coroutines (eight connections): exactly one CONSUMED."""
    store = AsyncRedisNonceStore(async_client, prefix=prefix)
    record = registration()

    async def race() -> list[NonceStatus]:
        await store.store_nonce("n", record, expires_at=T0.replace(hour=13), now=T0)
        return list(
            await asyncio.gather(*(store.validate_nonce("n", record, now=T0) for _ in range(8)))
        )

    results = loop.run_until_complete(race())
    assert results.count(NonceStatus.CONSUMED) == 1
    assert results.count(NonceStatus.ALREADY_USED) == 7


def test_keys_are_hashed_under_the_prefix_with_a_ttl(
    redis_client: redis.Redis, prefix: str
) -> None:
    """One key per nonce: <prefix>nonce:<sha256>, with a TTL of expires_at - now."""
    store = RedisNonceStore(redis_client, prefix=prefix)
    store.store_nonce("n-1", registration(), expires_at=T0.replace(minute=10), now=T0)
    keys = redis_client.keys(prefix + "*")
    assert len(keys) == 1
    name = keys[0] if isinstance(keys[0], str) else keys[0].decode()
    assert name.startswith(prefix + "nonce:")
    assert len(name) == len(prefix + "nonce:") + 64
    assert "n-1" not in name
    assert 599_000 < redis_client.pttl(name) <= 600_000


def test_without_now_the_ttl_comes_from_the_stores_clock(
    redis_client: redis.Redis, prefix: str
) -> None:
    """The port's older form (no now=) still works: the store's clock gives the TTL."""
    store = RedisNonceStore(redis_client, prefix=prefix, clock=lambda: T0)
    store.store_nonce("n-1", registration(), expires_at=T0.replace(minute=5))
    (name,) = redis_client.keys(prefix + "*")
    assert 299_000 < redis_client.pttl(name) <= 300_000
    assert store.validate_nonce("n-1", registration(), now=T0) is NonceStatus.CONSUMED


def test_a_tool_with_redis_nonces_refuses_a_replayed_launch(
    redis_client: redis.Redis, prefix: str
) -> None:
    """Two Tools (two workers) sharing Redis nonces: a launch replayed on the other fails."""
    platform = SimulatedPlatform()
    workers: list[Tool[Any, Any]] = [
        platform.tool(
            state_secret=b"s" * 32,
            nonce_store=RedisNonceStore(redis_client, prefix=prefix, clock=platform.clock),
        )
        for _ in range(2)
    ]
    redirect = workers[0].handle_login(platform.login_params(), "https://tool.example.com/launch")
    form = platform.launch(redirect)
    launch = workers[1].handle_callback(form, redirect.cookie_value)
    assert launch.registration.to_registration() == platform.registration.to_registration()
    with pytest.raises(NonceReusedError):
        workers[0].handle_callback(form, redirect.cookie_value)


def test_an_async_tool_with_async_redis_nonces_refuses_a_replay(
    async_client: redis.asyncio.Redis, prefix: str, loop: asyncio.AbstractEventLoop
) -> None:
    """AsyncTool awaits AsyncRedisNonceStore: a launch validates once, its replay fails."""
    platform = SimulatedPlatform()

    async def scenario() -> None:
        async with platform.async_tool(
            nonce_store=AsyncRedisNonceStore(async_client, prefix=prefix, clock=platform.clock)
        ) as tool:
            redirect = await tool.handle_login(
                platform.login_params(), "https://tool.example.com/launch"
            )
            form = platform.launch(redirect)
            await tool.handle_callback(form, redirect.cookie_value)
            with pytest.raises(NonceReusedError):
                await tool.handle_callback(form, redirect.cookie_value)

    loop.run_until_complete(scenario())
