"""Launch nonces in Redis: stored with their expiry, consumed by one Lua script."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script

from credlti._clock import Clock, utc_now
from credlti.adapters.redis._codec import (
    CONSUME_NONCE,
    DEFAULT_PREFIX,
    check_prefix,
    micros,
    nonce_key,
    nonce_value,
    ttl_ms,
)
from credlti.adapters.redis._errors import REDIS_ERRORS, storage_error
from credlti.lti._records import Registration
from credlti.lti.ports import NonceStatus

__all__ = ["AsyncRedisNonceStore", "RedisNonceStore"]

_STATUS = {1: NonceStatus.CONSUMED, 2: NonceStatus.ALREADY_USED}


def _status(result: Any) -> NonceStatus:
    return _STATUS.get(int(result), NonceStatus.NOT_FOUND)


@attrs.define
class RedisNonceStore:
    """Launch nonces in Redis, shared by every worker process.

    Satisfies :class:`credlti.ports.NonceStore`; pass it to a tool as
    ``Tool(storage, nonce_store=RedisNonceStore(client))``. ``store_nonce`` is one
    ``SET`` (the expiry in the value, a Redis TTL for garbage collection);
    ``validate_nonce`` is one ``EVALSHA`` of a Lua script that checks the nonce and
    marks it used atomically, so two workers replaying one nonce get exactly one
    :attr:`~credlti.ports.NonceStatus.CONSUMED`. A used nonce stays until its expiry,
    so a replay is :attr:`~credlti.ports.NonceStatus.ALREADY_USED`. Validity is
    judged by the tool's ``now``, never by Redis's clock.

    Args:
        client: A ``redis.Redis`` client (its pool is shared by every call).
        prefix: Prepended to every key (printable ASCII), e.g. one per application.
        clock: Used for the TTL only when ``store_nonce`` is called without ``now``.
    """

    _client: redis.Redis = attrs.field(repr=False, alias="client")
    prefix: str = attrs.field(default=DEFAULT_PREFIX, converter=check_prefix)
    _clock: Clock = attrs.field(default=utc_now, repr=False, alias="clock")
    _consume: Script = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._consume = self._client.register_script(CONSUME_NONCE)

    def store_nonce(
        self,
        nonce: str,
        registration: Registration,
        *,
        expires_at: datetime,
        now: datetime | None = None,
    ) -> None:
        """Record that *nonce* was issued for *registration*, valid until *expires_at*.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        ttl = ttl_ms(expires_at, now if now is not None else self._clock())
        key = nonce_key(self.prefix, nonce, registration)
        try:
            self._client.set(key, nonce_value(expires_at), px=ttl)
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "storing a launch nonce") from exc

    def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        """Consume *nonce* atomically (one Lua script) and say whether that succeeded.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        key = nonce_key(self.prefix, nonce, registration)
        try:
            result = self._consume(keys=[key], args=[micros(now)])
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "consuming a launch nonce") from exc
        return _status(result)


@attrs.define
class AsyncRedisNonceStore:
    """The asyncio twin of :class:`RedisNonceStore`, on ``redis.asyncio.Redis``.

    Same keys, values and guarantees; every call awaits the server and never blocks
    the event loop. Pass it to :class:`~credlti.lti.AsyncTool` as ``nonce_store=``.

    Args:
        client: A ``redis.asyncio.Redis`` client.
        prefix: Prepended to every key (printable ASCII).
        clock: Used for the TTL only when ``store_nonce`` is called without ``now``.
    """

    _client: redis.asyncio.Redis = attrs.field(repr=False, alias="client")
    prefix: str = attrs.field(default=DEFAULT_PREFIX, converter=check_prefix)
    _clock: Clock = attrs.field(default=utc_now, repr=False, alias="clock")
    _consume: AsyncScript = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._consume = self._client.register_script(CONSUME_NONCE)

    async def store_nonce(
        self,
        nonce: str,
        registration: Registration,
        *,
        expires_at: datetime,
        now: datetime | None = None,
    ) -> None:
        """Record that *nonce* was issued for *registration*, valid until *expires_at*.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        ttl = ttl_ms(expires_at, now if now is not None else self._clock())
        key = nonce_key(self.prefix, nonce, registration)
        try:
            await self._client.set(key, nonce_value(expires_at), px=ttl)
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "storing a launch nonce") from exc

    async def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        """Consume *nonce* atomically (one Lua script) and say whether that succeeded.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        key = nonce_key(self.prefix, nonce, registration)
        try:
            result = await self._consume(keys=[key], args=[micros(now)])
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "consuming a launch nonce") from exc
        return _status(result)
