"""Launch sessions in Redis: the port contract, sync and async, and Redis-only behaviour."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio

from credlti.adapters.redis import AsyncRedisLaunchSessionStore, RedisLaunchSessionStore
from credlti.errors import StorageUnavailableError
from credlti.ports import LaunchSessionStore
from credlti.testing import FrozenClock

from ..session_contract import T0, LaunchSessionStoreContract, key

T = TypeVar("T")


class TestRedisLaunchSessionStore(LaunchSessionStoreContract):
    """``RedisLaunchSessionStore`` and its async form satisfy the contract."""

    @pytest.fixture
    def session_store(self, redis_client: redis.Redis, prefix: str) -> RedisLaunchSessionStore:
        """A store under a fresh prefix; its TTL clock is the contract's T0."""
        return RedisLaunchSessionStore(redis_client, prefix=prefix, clock=lambda: T0)

    @pytest.fixture
    def async_session_store(
        self, async_client: redis.asyncio.Redis, prefix: str
    ) -> AsyncRedisLaunchSessionStore:
        """The async store under a fresh prefix, on the test's loop."""
        return AsyncRedisLaunchSessionStore(async_client, prefix=prefix, clock=lambda: T0)


def test_satisfies_the_port(redis_client: redis.Redis) -> None:
    """The sync store has the port's shape (checked statically by mypy too)."""
    store: LaunchSessionStore = RedisLaunchSessionStore(redis_client)
    assert callable(store.load)


def test_key_value_and_ttl(redis_client: redis.Redis, prefix: str) -> None:
    """``<prefix>session:<key>``; the value ends with the bytes; the TTL follows the clock."""
    clock = FrozenClock(T0)
    store = RedisLaunchSessionStore(redis_client, prefix=prefix, clock=clock)
    store.save(key("a"), b"sealed", expires_at=T0 + timedelta(seconds=90))

    stored: Any = redis_client.get(f"{prefix}session:{key('a')}")
    assert stored.endswith(b"sealed")
    assert 89_000 < int(redis_client.pttl(f"{prefix}session:{key('a')}")) <= 90_000


def test_ttl_is_at_least_a_second_and_expiry_follows_now(
    redis_client: redis.Redis, prefix: str
) -> None:
    """Saved late (already expired by the store's clock): kept a second, loaded as None."""
    store = RedisLaunchSessionStore(
        redis_client, prefix=prefix, clock=lambda: T0 + timedelta(hours=1)
    )
    store.save(key("a"), b"x", expires_at=T0 + timedelta(seconds=5))

    assert int(redis_client.pttl(f"{prefix}session:{key('a')}")) > 0
    assert store.load(key("a"), now=T0) == b"x"
    assert store.load(key("a"), now=T0 + timedelta(seconds=5)) is None


def test_a_foreign_key_is_hashed_and_a_malformed_value_is_none(
    redis_client: redis.Redis, prefix: str
) -> None:
    """Keys that are not digests never reach Redis raw; junk values load as None."""
    store = RedisLaunchSessionStore(redis_client, prefix=prefix, clock=lambda: T0)
    store.save("*\x00 not a digest", b"x", expires_at=T0 + timedelta(hours=1))
    assert store.load("*\x00 not a digest", now=T0) == b"x"
    assert all(b"*" not in name for name in redis_client.keys(f"{prefix}*"))

    redis_client.set(f"{prefix}session:{key('junk')}", b"abc")
    assert store.load(key("junk"), now=T0) is None


def test_redis_failures_are_typed() -> None:
    """A server that cannot be reached is a StorageUnavailableError naming no address."""
    client = redis.Redis(port=1, socket_connect_timeout=0.2)
    store = RedisLaunchSessionStore(client)
    for call in (
        lambda: store.save(key("a"), b"x", expires_at=T0),
        lambda: store.load(key("a"), now=T0),
        lambda: store.delete(key("a")),
    ):
        with pytest.raises(StorageUnavailableError) as info:
            call()
        assert "localhost" not in info.value.message


def test_async_failures_are_typed(loop: asyncio.AbstractEventLoop) -> None:
    """The async store raises the same typed error."""
    client = redis.asyncio.Redis(port=1, socket_connect_timeout=0.2)
    store = AsyncRedisLaunchSessionStore(client)
    with pytest.raises(StorageUnavailableError):
        loop.run_until_complete(store.load(key("a"), now=T0))
    with pytest.raises(StorageUnavailableError):
        loop.run_until_complete(store.save(key("a"), b"x", expires_at=T0))
    with pytest.raises(StorageUnavailableError):
        loop.run_until_complete(store.delete(key("a")))
    loop.run_until_complete(client.aclose())
