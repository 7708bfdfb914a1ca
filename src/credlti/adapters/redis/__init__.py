"""Redis adapters (extra ``[redis]``): nonces, service tokens and locks for many workers.

Install with ``pip install "credlti[redis]"`` (redis-py, with its asyncio client).
Every adapter takes a client you build (``redis.Redis.from_url(...)`` or
``redis.asyncio.Redis.from_url(...)``) and comes in a sync and an async form:

- :class:`RedisNonceStore` / :class:`AsyncRedisNonceStore`: launch nonces, stored
  with their expiry and consumed atomically by one Lua script;
- :class:`RedisServiceTokenCache` / :class:`AsyncRedisServiceTokenCache`: Advantage
  access tokens, encrypted with the vault's key ring, expiring with the token;
- :class:`RedisLaunchSessionStore` / :class:`AsyncRedisLaunchSessionStore`: saved
  launches (``tool.save_launch``), readable from every worker until they expire;
- :class:`RedisLocks` / :class:`AsyncRedisLocks`: named cross-process locks with a
  lease, for single flight (one token request for the whole fleet);
  :class:`RedisLockTable` / :class:`AsyncRedisLockTable` hand them to a tool or a
  service-token client as ``locks=``.

Keys are ``<prefix><kind>:<sha256>`` (default prefix ``credlti:``). Every redis-py
failure is raised as :class:`~credlti.errors.StorageUnavailableError` (or
:class:`~credlti.errors.StorageConflictError`), naming no address or password.
"""

from __future__ import annotations

try:
    import redis as _redis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    msg = (
        "credlti.adapters.redis needs redis-py: install the extra with "
        '`pip install "credlti[redis]"`'
    )
    raise ImportError(msg) from exc

from credlti.adapters.redis._locks import (
    AsyncRedisLocks,
    AsyncRedisLockTable,
    RedisLocks,
    RedisLockTable,
)
from credlti.adapters.redis._nonces import AsyncRedisNonceStore, RedisNonceStore
from credlti.adapters.redis._sessions import AsyncRedisLaunchSessionStore, RedisLaunchSessionStore
from credlti.adapters.redis._tokens import AsyncRedisServiceTokenCache, RedisServiceTokenCache

__all__ = [
    "AsyncRedisLaunchSessionStore",
    "AsyncRedisLockTable",
    "AsyncRedisLocks",
    "AsyncRedisNonceStore",
    "AsyncRedisServiceTokenCache",
    "RedisLaunchSessionStore",
    "RedisLockTable",
    "RedisLocks",
    "RedisNonceStore",
    "RedisServiceTokenCache",
]
