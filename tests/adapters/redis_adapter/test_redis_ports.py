"""The Redis adapters satisfy the ports in both forms (mypy checks the assignments).

No server is needed: building an adapter does not connect.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import redis
import redis.asyncio

from credlti.adapters.redis import (
    AsyncRedisLaunchSessionStore,
    AsyncRedisNonceStore,
    AsyncRedisServiceTokenCache,
    RedisLaunchSessionStore,
    RedisNonceStore,
    RedisServiceTokenCache,
)
from credlti.credentials import EncryptionKey, KeyRing
from credlti.lti._port_kind import check_port
from credlti.ports import (
    AsyncLaunchSessionStore,
    AsyncNonceStore,
    AsyncServiceTokenCache,
    LaunchSessionStore,
    NonceStore,
    ServiceTokenCache,
)

RING = KeyRing([EncryptionKey(id="k1", material=secrets.token_bytes(32))])
NONCES = ("store_nonce", "validate_nonce")
SESSIONS = ("save", "load", "delete")
TOKENS = ("get_token", "put_token", "delete_token")


def sync_adapters() -> list[tuple[object, tuple[str, ...]]]:
    """The sync adapters, each assigned to its port (statically checked)."""
    client = redis.Redis(port=1)
    nonces: NonceStore = RedisNonceStore(client)
    sessions: LaunchSessionStore = RedisLaunchSessionStore(client)
    tokens: ServiceTokenCache = RedisServiceTokenCache(client, ring=RING)
    return [(nonces, NONCES), (sessions, SESSIONS), (tokens, TOKENS)]


def async_adapters() -> list[tuple[object, tuple[str, ...]]]:
    """The async adapters, each assigned to its async port (statically checked)."""
    client = redis.asyncio.Redis(port=1)
    nonces: AsyncNonceStore = AsyncRedisNonceStore(client)
    sessions: AsyncLaunchSessionStore = AsyncRedisLaunchSessionStore(client)
    tokens: AsyncServiceTokenCache = AsyncRedisServiceTokenCache(client, ring=RING)
    return [(nonces, NONCES), (sessions, SESSIONS), (tokens, TOKENS)]


@pytest.mark.parametrize(("adapter", "methods"), sync_adapters())
def test_sync_redis_adapters_have_plain_methods(adapter: Any, methods: tuple[str, ...]) -> None:
    """What ``Tool`` checks when it is built."""
    check_port(adapter, methods, asynchronous=False, what="a Redis port", owner="Tool")


@pytest.mark.parametrize(("adapter", "methods"), async_adapters())
def test_async_redis_adapters_have_async_methods(adapter: Any, methods: tuple[str, ...]) -> None:
    """What ``AsyncTool`` checks when it is built."""
    check_port(adapter, methods, asynchronous=True, what="a Redis port", owner="AsyncTool")
