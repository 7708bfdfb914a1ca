"""The default :class:`~credlti.lti.ports.ServiceTokenCache`: tokens in process memory.

It lives here, next to the service-token client that uses it by default, so the
client needs no adapter; :mod:`credlti.adapters.memory` re-exports it for hosts.
"""

from __future__ import annotations

import threading

import attrs

from credlti.lti._tokens import ServiceToken, TokenCacheKey

__all__ = ["AsyncMemoryServiceTokenCache", "MemoryServiceTokenCache"]


@attrs.define
class MemoryServiceTokenCache:
    """Service tokens in a dict (thread-safe, per process).

    Entries are replaced on put and dropped on delete. Expired tokens are not
    purged eagerly: a key holds at most one token, and the number of keys is
    bounded by registrations x scope sets.
    """

    _tokens: dict[TokenCacheKey, ServiceToken] = attrs.field(factory=dict, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def get_token(self, key: TokenCacheKey) -> ServiceToken | None:
        """The cached token for *key*, or ``None``."""
        with self._lock:
            return self._tokens.get(key)

    def put_token(self, key: TokenCacheKey, token: ServiceToken) -> None:
        """Store *token* under *key*."""
        with self._lock:
            self._tokens[key] = token

    def delete_token(self, key: TokenCacheKey, *, only: ServiceToken | None = None) -> bool:
        """Drop the token under *key* (only if it is *only*, when given)."""
        with self._lock:
            stored = self._tokens.get(key)
            if stored is None or (only is not None and not stored.same_token(only)):
                return False
            del self._tokens[key]
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)


@attrs.define(init=False)
class AsyncMemoryServiceTokenCache:
    """The async form of :class:`MemoryServiceTokenCache` (the async clients' default).

    Its methods never wait (a dict under a short lock), so they are safe on the
    event loop.
    """

    _cache: MemoryServiceTokenCache = attrs.field(repr=False)

    def __init__(self) -> None:
        self._cache = MemoryServiceTokenCache()

    @classmethod
    def over(cls, cache: MemoryServiceTokenCache) -> AsyncMemoryServiceTokenCache:
        """The async form of an existing memory cache (both see the same tokens)."""
        made = cls.__new__(cls)
        made._cache = cache
        return made

    async def get_token(self, key: TokenCacheKey) -> ServiceToken | None:
        """The cached token for *key*, or ``None``."""
        return self._cache.get_token(key)

    async def put_token(self, key: TokenCacheKey, token: ServiceToken) -> None:
        """Store *token* under *key*."""
        self._cache.put_token(key, token)

    async def delete_token(self, key: TokenCacheKey, *, only: ServiceToken | None = None) -> bool:
        """Drop the token under *key* (only if it is *only*, when given)."""
        return self._cache.delete_token(key, only=only)

    def __len__(self) -> int:
        return len(self._cache)
