"""Advantage service tokens in Redis, sealed with the vault's key ring."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import attrs
import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script

from credlti._clock import Clock, utc_now
from credlti._crypto import NONCE_BYTES, KeyRing
from credlti.adapters.redis._codec import (
    COMPARE_AND_DELETE,
    DEFAULT_PREFIX,
    check_prefix,
    open_token,
    seal_token,
    token_digest,
    token_key,
    ttl_ms,
)
from credlti.adapters.redis._errors import REDIS_ERRORS, storage_error
from credlti.lti._tokens import ServiceToken, TokenCacheKey

__all__ = ["AsyncRedisServiceTokenCache", "RedisServiceTokenCache"]


@attrs.define
class RedisServiceTokenCache:
    """Advantage access tokens in Redis, shared by every worker process.

    Satisfies :class:`credlti.ports.ServiceTokenCache`. Each token is one Redis
    string: the SHA-256 of the access token (for the conditional delete) and an
    AES-256-GCM ciphertext of the whole token (access token, scopes, expiry) under
    the key ring's primary key, bound to its cache key by associated data, so no
    token is ever stored in clear and a value copied to another key fails to open.
    The Redis TTL ends at the token's expiry (at least one second), measured from
    *clock*. ``delete_token(key, only=token)`` is one atomic compare-and-delete.

    Args:
        client: A ``redis.Redis`` client.
        ring: The vault's key ring: the primary key encrypts, any key decrypts.
        prefix: Prepended to every key (printable ASCII).
        clock: The tool's clock, for the TTL.
        random_bytes: ``n -> n random bytes`` for GCM nonces; injectable for tests.
    """

    _client: redis.Redis = attrs.field(repr=False, alias="client")
    _ring: KeyRing = attrs.field(repr=False, alias="ring")
    prefix: str = attrs.field(default=DEFAULT_PREFIX, converter=check_prefix)
    _clock: Clock = attrs.field(default=utc_now, repr=False, alias="clock")
    _random: Callable[[int], bytes] = attrs.field(
        default=secrets.token_bytes, repr=False, alias="random_bytes"
    )
    _delete_if: Script = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._delete_if = self._client.register_script(COMPARE_AND_DELETE)

    def get_token(self, key: TokenCacheKey) -> ServiceToken | None:
        """The cached token for *key* (decrypted), or ``None``.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
            DecryptionError: The stored value does not open with the key ring.
        """
        try:
            stored = self._client.get(token_key(self.prefix, key))
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "reading a service token") from exc
        return None if stored is None else open_token(key, stored, self._ring)

    def put_token(self, key: TokenCacheKey, token: ServiceToken) -> None:
        """Store *token* under *key* (encrypted), replacing any older one, until it expires.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        value = seal_token(key, token, self._ring, self._random(NONCE_BYTES))
        ttl = ttl_ms(token.expires_at, self._clock())
        try:
            self._client.set(token_key(self.prefix, key), value, px=ttl)
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "storing a service token") from exc

    def delete_token(self, key: TokenCacheKey, *, only: ServiceToken | None = None) -> bool:
        """Drop the token under *key* (only if it is *only*, when given), atomically.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        name = token_key(self.prefix, key)
        try:
            if only is None:
                deleted = self._client.delete(name)
            else:
                deleted = self._delete_if(keys=[name], args=[token_digest(only.access_token) + ":"])
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "deleting a service token") from exc
        return bool(deleted)


@attrs.define
class AsyncRedisServiceTokenCache:
    """The asyncio twin of :class:`RedisServiceTokenCache`, on ``redis.asyncio.Redis``.

    Same keys, values and guarantees; ``get_token``, ``put_token`` and
    ``delete_token`` are coroutines.

    Args:
        client: A ``redis.asyncio.Redis`` client.
        ring: The vault's key ring.
        prefix: Prepended to every key (printable ASCII).
        clock: The tool's clock, for the TTL.
        random_bytes: ``n -> n random bytes`` for GCM nonces; injectable for tests.
    """

    _client: redis.asyncio.Redis = attrs.field(repr=False, alias="client")
    _ring: KeyRing = attrs.field(repr=False, alias="ring")
    prefix: str = attrs.field(default=DEFAULT_PREFIX, converter=check_prefix)
    _clock: Clock = attrs.field(default=utc_now, repr=False, alias="clock")
    _random: Callable[[int], bytes] = attrs.field(
        default=secrets.token_bytes, repr=False, alias="random_bytes"
    )
    _delete_if: AsyncScript = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._delete_if = self._client.register_script(COMPARE_AND_DELETE)

    async def get_token(self, key: TokenCacheKey) -> ServiceToken | None:
        """The cached token for *key* (decrypted), or ``None``.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
            DecryptionError: The stored value does not open with the key ring.
        """
        try:
            stored = await self._client.get(token_key(self.prefix, key))
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "reading a service token") from exc
        return None if stored is None else open_token(key, stored, self._ring)

    async def put_token(self, key: TokenCacheKey, token: ServiceToken) -> None:
        """Store *token* under *key* (encrypted), replacing any older one, until it expires.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        value = seal_token(key, token, self._ring, self._random(NONCE_BYTES))
        ttl = ttl_ms(token.expires_at, self._clock())
        try:
            await self._client.set(token_key(self.prefix, key), value, px=ttl)
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "storing a service token") from exc

    async def delete_token(self, key: TokenCacheKey, *, only: ServiceToken | None = None) -> bool:
        """Drop the token under *key* (only if it is *only*, when given), atomically.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        name = token_key(self.prefix, key)
        try:
            if only is None:
                deleted = await self._client.delete(name)
            else:
                digest = token_digest(only.access_token) + ":"
                deleted = await self._delete_if(keys=[name], args=[digest])
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "deleting a service token") from exc
        return bool(deleted)
