"""The service-token cache contract on Redis (sync and async); nothing stored in clear."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
import redis.asyncio

from credlti.adapters.redis import AsyncRedisServiceTokenCache, RedisServiceTokenCache
from credlti.credentials import EncryptionKey, KeyRing
from credlti.errors import DecryptionError
from credlti.lti.keys import KeyState, generate_key
from credlti.lti.services import SCOPE_NRPS_READONLY
from credlti.testing import SimulatedPlatform
from tests.adapters.advantage_contract import T0, ServiceTokenCacheContract, cache_key, token

RING = KeyRing([EncryptionKey(id="k1", material=secrets.token_bytes(32))])


class TestRedisServiceTokenCache(ServiceTokenCacheContract):
    """The contract on RedisServiceTokenCache and AsyncRedisServiceTokenCache."""

    @pytest.fixture
    def token_cache(self, redis_client: redis.Redis, prefix: str) -> RedisServiceTokenCache:
        return RedisServiceTokenCache(redis_client, ring=RING, prefix=prefix, clock=lambda: T0)

    @pytest.fixture
    def async_token_cache(
        self, async_client: redis.asyncio.Redis, prefix: str
    ) -> AsyncRedisServiceTokenCache:
        return AsyncRedisServiceTokenCache(async_client, ring=RING, prefix=prefix, clock=lambda: T0)


class TestRedisServiceTokenCacheDecodingResponses(ServiceTokenCacheContract):
    """The contract on a client built with ``decode_responses=True`` (values come as str)."""

    @pytest.fixture
    def token_cache(self, redis_url: str, prefix: str) -> Iterator[RedisServiceTokenCache]:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        yield RedisServiceTokenCache(client, ring=RING, prefix=prefix, clock=lambda: T0)
        client.close()


def _stored(client: redis.Redis, prefix: str) -> dict[bytes, bytes]:
    stored = {}
    for name in client.scan_iter(prefix + "*"):
        value = client.get(name) or b""
        assert isinstance(name, bytes)
        assert isinstance(value, bytes)
        stored[name] = value
    return stored


def test_no_token_in_clear_in_any_key_or_value(redis_client: redis.Redis, prefix: str) -> None:
    """Scan every key: neither the access token nor the scopes nor the issuer appear."""
    cache = RedisServiceTokenCache(redis_client, ring=RING, prefix=prefix, clock=lambda: T0)
    secret = "tok-" + secrets.token_hex(16)
    cache.put_token(cache_key(), token(secret))
    cache.put_token(cache_key(deployment_id="d-1"), token(secret + "-2"))

    stored = _stored(redis_client, prefix)
    assert len(stored) == 2
    for name, value in stored.items():
        blob = name + value
        for clear in (secret, "lms.example", "lti-ags", "Bearer"):
            assert clear.encode() not in blob
        assert name.decode().startswith(prefix + "token:")


def test_the_ttl_ends_at_the_tokens_expiry(redis_client: redis.Redis, prefix: str) -> None:
    """The key expires with the token (measured from the cache's clock), at least 1 s."""
    cache = RedisServiceTokenCache(redis_client, ring=RING, prefix=prefix, clock=lambda: T0)
    cache.put_token(cache_key(), token(minutes=60))
    cache.put_token(cache_key(deployment_id="old"), token(minutes=-5))
    ttls = sorted(redis_client.pttl(name) for name in redis_client.scan_iter(prefix + "*"))
    assert 0 < ttls[0] <= 1000
    assert 3_599_000 < ttls[1] <= 3_600_000


def test_a_value_moved_to_another_key_fails_to_open(redis_client: redis.Redis, prefix: str) -> None:
    """The ciphertext is bound to its cache key: copied elsewhere it is a DecryptionError."""
    cache = RedisServiceTokenCache(redis_client, ring=RING, prefix=prefix, clock=lambda: T0)
    cache.put_token(cache_key(), token("a"))
    cache.put_token(cache_key(deployment_id="d"), token("b"))
    first, second = sorted(redis_client.scan_iter(prefix + "*"))
    one, two = redis_client.get(first) or b"", redis_client.get(second) or b""
    redis_client.set(first, two, keepttl=True)
    redis_client.set(second, one, keepttl=True)
    with pytest.raises(DecryptionError):
        cache.get_token(cache_key())
    with pytest.raises(DecryptionError):
        cache.get_token(cache_key(deployment_id="d"))


def test_another_key_ring_cannot_read_the_cache(redis_client: redis.Redis, prefix: str) -> None:
    """Without the key, a stored token does not open."""
    RedisServiceTokenCache(redis_client, ring=RING, prefix=prefix, clock=lambda: T0).put_token(
        cache_key(), token()
    )
    other = KeyRing([EncryptionKey(id="k1", material=secrets.token_bytes(32))])
    with pytest.raises(DecryptionError):
        RedisServiceTokenCache(redis_client, ring=other, prefix=prefix).get_token(cache_key())


def test_workers_sharing_the_redis_cache_request_one_token(
    redis_client: redis.Redis, prefix: str
) -> None:
    """Two Tools (two workers) on one Redis cache: one token request for both."""
    platform = SimulatedPlatform()
    key = generate_key(now=platform.clock(), state=KeyState.CURRENT)
    workers = [
        platform.tool(
            keys=key,
            token_cache=RedisServiceTokenCache(
                redis_client, ring=RING, prefix=prefix, clock=platform.clock
            ),
        )
        for _ in range(2)
    ]
    platform.trust_tool_keys(workers[0].jwks())
    tokens = [w.services.get_token(platform.registration, [SCOPE_NRPS_READONLY]) for w in workers]
    assert tokens[0] == tokens[1]
    assert platform.token_requests == 1
    assert tokens[0].expires_at > platform.clock() + timedelta(seconds=60)
