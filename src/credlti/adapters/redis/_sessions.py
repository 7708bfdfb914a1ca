"""Saved launch sessions in Redis: the sealed bytes with their expiry in front."""

from __future__ import annotations

from datetime import datetime

import attrs
import redis
import redis.asyncio

from credlti._clock import Clock, utc_now
from credlti.adapters.redis._codec import (
    DEFAULT_PREFIX,
    check_prefix,
    micros,
    open_session,
    seal_session,
    session_key,
    ttl_ms,
)
from credlti.adapters.redis._errors import REDIS_ERRORS, storage_error

__all__ = ["AsyncRedisLaunchSessionStore", "RedisLaunchSessionStore"]


@attrs.define
class RedisLaunchSessionStore:
    """Saved launches in Redis, readable from every worker process.

    Satisfies :class:`credlti.ports.LaunchSessionStore`; pass it to a tool as
    ``Tool(storage, sessions=RedisLaunchSessionStore(client))``. Each session is one
    Redis string under ``<prefix>session:<key>`` (the key is already a SHA-256 digest
    of the browser's handle): eight bytes of expiry, then the tool's sealed bytes
    unchanged. ``load`` judges expiry by the tool's ``now``; the Redis TTL (measured
    from *clock*, at least one second) only collects entries nobody loads again.

    Args:
        client: A ``redis.Redis`` client.
        prefix: Prepended to every key (printable ASCII).
        clock: The wall clock the garbage-collection TTL is measured from.
    """

    _client: redis.Redis = attrs.field(repr=False, alias="client")
    prefix: str = attrs.field(default=DEFAULT_PREFIX, converter=check_prefix)
    _clock: Clock = attrs.field(default=utc_now, repr=False, alias="clock")

    def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
        """Store *data* under *key* until *expires_at*, replacing any older value.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        name = session_key(self.prefix, key)
        value = seal_session(data, expires_at)
        try:
            self._client.set(name, value, px=ttl_ms(expires_at, self._clock()))
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "saving a launch session") from exc

    def load(self, key: str, *, now: datetime) -> bytes | None:
        """The bytes under *key*, or ``None`` if there are none or they expired by *now*.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        try:
            stored = self._client.get(session_key(self.prefix, key))
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "loading a launch session") from exc
        return open_session(stored, micros(now))

    def delete(self, key: str) -> bool:
        """Drop the entry under *key*; True if one was dropped.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        try:
            return bool(self._client.delete(session_key(self.prefix, key)))
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "deleting a launch session") from exc


@attrs.define
class AsyncRedisLaunchSessionStore:
    """The asyncio twin of :class:`RedisLaunchSessionStore`, on ``redis.asyncio.Redis``.

    Same keys, values and expiry rules; every call awaits the server and never
    blocks the event loop. Pass it to :class:`~credlti.lti.AsyncTool` as ``sessions=``.

    Args:
        client: A ``redis.asyncio.Redis`` client.
        prefix: Prepended to every key (printable ASCII).
        clock: The wall clock the garbage-collection TTL is measured from.
    """

    _client: redis.asyncio.Redis = attrs.field(repr=False, alias="client")
    prefix: str = attrs.field(default=DEFAULT_PREFIX, converter=check_prefix)
    _clock: Clock = attrs.field(default=utc_now, repr=False, alias="clock")

    async def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
        """Store *data* under *key* until *expires_at*, replacing any older value.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        name = session_key(self.prefix, key)
        value = seal_session(data, expires_at)
        try:
            await self._client.set(name, value, px=ttl_ms(expires_at, self._clock()))
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "saving a launch session") from exc

    async def load(self, key: str, *, now: datetime) -> bytes | None:
        """The bytes under *key*, or ``None`` if there are none or they expired by *now*.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        try:
            stored = await self._client.get(session_key(self.prefix, key))
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "loading a launch session") from exc
        return open_session(stored, micros(now))

    async def delete(self, key: str) -> bool:
        """Drop the entry under *key*; True if one was dropped.

        Raises:
            StorageUnavailableError: Redis failed or could not be reached.
        """
        try:
            return bool(await self._client.delete(session_key(self.prefix, key)))
        except REDIS_ERRORS as exc:
            raise storage_error(exc, "deleting a launch session") from exc
