"""Cross-process single-flight locks on Redis: ``SET NX PX`` with an owner token.

Acquisition is one flow (try, look at the time, wait with backoff, try again...)
driven by the sync or the async driver of :mod:`credlti._effects`, so the polling
and give-up rules exist once.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from typing import Any

import attrs
import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script

from credlti._effects import Flow, arun, run
from credlti.adapters.redis._codec import (
    DEFAULT_PREFIX,
    DELETE_IF_EQUAL,
    check_prefix,
    lock_key,
    lock_name,
)
from credlti.adapters.redis._errors import REDIS_ERRORS, storage_error
from credlti.errors import ConfigurationError, StorageUnavailableError

__all__ = ["AsyncRedisLockTable", "AsyncRedisLocks", "RedisLockTable", "RedisLocks"]

#: The first wait between two attempts, and the longest (the wait doubles).
_FIRST_WAIT = 0.005
_LONGEST_WAIT = 0.25
_TOKEN_BYTES = 16


@attrs.frozen
class _TryAcquire:
    """Effect: ``SET key token NX PX lease_ms``; the result is True if it was set."""

    key: str
    token: str = attrs.field(repr=False)
    lease_ms: int


@attrs.frozen
class _Elapsed:
    """Effect: a monotonic clock reading, in seconds."""


@attrs.frozen
class _Wait:
    """Effect: sleep between half and all of *seconds* (jitter spreads the waiters)."""

    seconds: float


def _acquire(key: str, token: str, *, timeout: float, lease_ms: int) -> Flow[None]:
    """Try to take the lock until *timeout* seconds have passed, waiting longer each time."""
    start: float = yield _Elapsed()
    wait = _FIRST_WAIT
    while True:
        if (yield _TryAcquire(key, token, lease_ms)):
            return
        waited = (yield _Elapsed()) - start
        if waited >= timeout:
            msg = (
                f"a Redis lock was still held by another process after {timeout:g} s; "
                "try again later (a holder that died frees it when its lease ends)"
            )
            raise StorageUnavailableError(
                msg, details={"action": "acquiring a lock", "timeout": timeout}
            )
        yield _Wait(min(wait, timeout - waited))
        wait = min(wait * 2, _LONGEST_WAIT)


def _checked(timeout: float, lease: float) -> int:
    if not timeout >= 0:
        msg = "a lock's timeout must be a number of seconds >= 0"
        raise ConfigurationError(msg)
    if not lease > 0:
        msg = "a lock's lease must be a number of seconds > 0"
        raise ConfigurationError(msg)
    return max(1, round(lease * 1000))


def _jitter(random_bytes: Callable[[int], bytes], seconds: float) -> float:
    fraction = int.from_bytes(random_bytes(2), "big") / 0xFFFF
    return seconds * (0.5 + fraction / 2)


@attrs.define
class RedisLocks:
    """Named locks shared by every process that uses the same Redis (single flight).

    ``with locks.lock("token:" + url):`` runs the block in at most one process (or
    thread) at a time. Taking a lock is ``SET NX PX`` with a random owner token;
    releasing it deletes the key only if it still holds that token (one Lua
    script), so a process never frees another's lock.

    **The lease.** A lock is held for at most *lease* seconds and is not renewed:
    a holder that crashes frees it when the lease ends, and a block that runs
    longer than the lease may overlap with the next holder (its release then
    deletes nothing). Choose a lease longer than the slowest block, e.g. the
    HTTP timeout of the token request it guards.

    Args:
        client: A ``redis.Redis`` client.
        prefix: Prepended to every key (printable ASCII).
        random_bytes: ``n -> n random bytes`` for owner tokens and wait jitter.
    """

    _client: redis.Redis = attrs.field(repr=False, alias="client")
    prefix: str = attrs.field(default=DEFAULT_PREFIX, converter=check_prefix)
    _random: Callable[[int], bytes] = attrs.field(
        default=secrets.token_bytes, repr=False, alias="random_bytes"
    )
    _release: Script = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._release = self._client.register_script(DELETE_IF_EQUAL)

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float = 10.0, lease: float = 30.0) -> Iterator[None]:
        """Hold the lock *name* for the ``with`` block.

        Args:
            name: Any string; it is hashed into the key.
            timeout: How long to wait for another holder, in seconds (0: try once).
            lease: How long the lock lasts at most, in seconds (see the class notes).

        Raises:
            StorageUnavailableError: The lock was not free within *timeout*, or Redis
                failed (``details["action"]`` says which).
            ConfigurationError: *timeout* is negative or *lease* is not positive.
        """
        lease_ms = _checked(timeout, lease)
        key = lock_key(self.prefix, name)
        token = self._random(_TOKEN_BYTES).hex()
        run(_acquire(key, token, timeout=timeout, lease_ms=lease_ms), self._perform)
        try:
            yield
        finally:
            try:
                self._release(keys=[key], args=[token])
            except REDIS_ERRORS as exc:
                raise storage_error(exc, "releasing a lock") from exc

    def _perform(self, effect: Any) -> Any:
        cls = type(effect)
        if cls is _TryAcquire:
            try:
                return bool(self._client.set(effect.key, effect.token, nx=True, px=effect.lease_ms))
            except REDIS_ERRORS as exc:
                raise storage_error(exc, "acquiring a lock") from exc
        if cls is _Elapsed:
            return time.monotonic()
        time.sleep(_jitter(self._random, effect.seconds))
        return None


@attrs.define
class AsyncRedisLocks:
    """The asyncio twin of :class:`RedisLocks`: ``async with locks.lock(name):``.

    Same keys, tokens and lease; waiting awaits ``asyncio.sleep`` and never blocks
    the event loop.

    Args:
        client: A ``redis.asyncio.Redis`` client.
        prefix: Prepended to every key (printable ASCII).
        random_bytes: ``n -> n random bytes`` for owner tokens and wait jitter.
    """

    _client: redis.asyncio.Redis = attrs.field(repr=False, alias="client")
    prefix: str = attrs.field(default=DEFAULT_PREFIX, converter=check_prefix)
    _random: Callable[[int], bytes] = attrs.field(
        default=secrets.token_bytes, repr=False, alias="random_bytes"
    )
    _release: AsyncScript = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._release = self._client.register_script(DELETE_IF_EQUAL)

    @contextlib.asynccontextmanager
    async def lock(
        self, name: str, *, timeout: float = 10.0, lease: float = 30.0
    ) -> AsyncIterator[None]:
        """Hold the lock *name* for the ``async with`` block (see :meth:`RedisLocks.lock`).

        Raises:
            StorageUnavailableError: The lock was not free within *timeout*, or Redis failed.
            ConfigurationError: *timeout* is negative or *lease* is not positive.
        """
        lease_ms = _checked(timeout, lease)
        key = lock_key(self.prefix, name)
        token = self._random(_TOKEN_BYTES).hex()
        await arun(_acquire(key, token, timeout=timeout, lease_ms=lease_ms), self._perform)
        try:
            yield
        finally:
            try:
                await self._release(keys=[key], args=[token])
            except REDIS_ERRORS as exc:
                raise storage_error(exc, "releasing a lock") from exc

    async def _perform(self, effect: Any) -> Any:
        cls = type(effect)
        if cls is _TryAcquire:
            try:
                return bool(
                    await self._client.set(effect.key, effect.token, nx=True, px=effect.lease_ms)
                )
            except REDIS_ERRORS as exc:
                raise storage_error(exc, "acquiring a lock") from exc
        if cls is _Elapsed:
            return time.monotonic()
        await asyncio.sleep(_jitter(self._random, effect.seconds))
        return None


@attrs.frozen
class RedisLockTable:
    """:class:`RedisLocks` as a lock table for ``Tool(locks=...)``: single flight across processes.

    The tool and the service-token client take their single-flight locks (one
    platform key-set fetch per URL, one token request per cache key) from a lock
    table; the default holds within one process. Pass this one, on the Redis every
    worker shares, and with a shared token cache (:class:`RedisServiceTokenCache`)
    the whole fleet sends one token request where each worker would send its own::

        locks = RedisLockTable(RedisLocks(client, prefix="myapp:"))
        tool = Tool(storage, token_cache=cache, locks=locks, ...)

    A lock key (a tuple such as ``("jwks", url)``) becomes a lock name by
    :func:`~credlti.adapters.redis._codec.lock_name`: canonical JSON of its parts,
    the same in every process.

    Args:
        locks: The Redis locks.
        timeout: How long to wait for another process's fetch, in seconds; past it
            the call fails with :class:`~credlti.errors.StorageUnavailableError`.
        lease: How long a lock lasts at most; longer than the slowest HTTP call
            it guards (the token request's timeout).
    """

    _locks: RedisLocks = attrs.field(alias="locks")
    timeout: float = 30.0
    lease: float = 60.0

    def __attrs_post_init__(self) -> None:
        _checked(self.timeout, self.lease)

    def get(self, key: Hashable) -> contextlib.AbstractContextManager[None]:
        """A context manager holding the Redis lock for *key*."""
        return self._locks.lock(lock_name(key), timeout=self.timeout, lease=self.lease)


@attrs.frozen
class AsyncRedisLockTable:
    """The asyncio twin of :class:`RedisLockTable`, for ``AsyncTool(locks=...)``.

    Args:
        locks: The async Redis locks.
        timeout: How long to wait for another process's fetch, in seconds.
        lease: How long a lock lasts at most.
    """

    _locks: AsyncRedisLocks = attrs.field(alias="locks")
    timeout: float = 30.0
    lease: float = 60.0

    def __attrs_post_init__(self) -> None:
        _checked(self.timeout, self.lease)

    def get(self, key: Hashable) -> contextlib.AbstractAsyncContextManager[None]:
        """An async context manager holding the Redis lock for *key*."""
        return self._locks.lock(lock_name(key), timeout=self.timeout, lease=self.lease)
