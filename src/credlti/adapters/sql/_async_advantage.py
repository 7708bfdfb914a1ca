"""Async SQL adapters for LTI Advantage: the sync adapters' tables and sealing, awaited."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import datetime

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credlti._crypto import NONCE_BYTES
from credlti.adapters.sql._advantage import (
    _ALL_KEYS,
    _SEALED_TOKENS,
    _cache_key,
    _now,
    _opened_keys,
    _opened_token,
    _sealed_token,
    _stale_keys,
    _stale_tokens,
    _token_delete,
)
from credlti.adapters.sql._aio import aread, atransaction
from credlti.adapters.sql._schema import service_tokens, tool_keys
from credlti.credentials import KeyRing
from credlti.lti._tokens import ServiceToken, TokenCacheKey
from credlti.lti.keys import ToolKey, open_key, seal_key

__all__ = ["AsyncSqlServiceTokenCache", "AsyncSqlToolKeyStore"]


@attrs.define
class AsyncSqlToolKeyStore:
    """The tool's signing keys in ``credlti_tool_keys``, for asyncio servers.

    The async twin of :class:`~credlti.adapters.sql.SqlToolKeyStore` (same table,
    same sealing with the vault's key ring); satisfies
    :class:`credlti.ports.AsyncToolKeyStore`. Opening and sealing a key (parsing
    and checking an RSA key costs tens of milliseconds of CPU) run in a worker
    thread, so they do not hold the event loop either.

    Args:
        engine: An async engine (see :func:`credlti.adapters.sql.open_async_engine`).
        ring: The vault's key ring: the primary key encrypts, any key decrypts.
        random_bytes: ``n -> n random bytes`` for GCM nonces; injectable for tests.
    """

    engine: AsyncEngine
    _ring: KeyRing = attrs.field(repr=False, alias="ring")
    _random: Callable[[int], bytes] = attrs.field(
        default=secrets.token_bytes, repr=False, alias="random_bytes"
    )

    async def list_keys(self) -> list[ToolKey]:
        """Every key (decrypted), oldest first."""
        async with aread(self.engine, "reading tool keys") as conn:
            rows = (await conn.execute(_ALL_KEYS)).all()
        return await asyncio.to_thread(_opened_keys, rows, self._ring)

    async def get_key(self, kid: str) -> ToolKey | None:
        """The key with *kid* (decrypted), or ``None``."""
        query = sa.select(tool_keys.c.ciphertext).where(tool_keys.c.kid == kid)
        async with aread(self.engine, "reading a tool key") as conn:
            blob = (await conn.execute(query)).scalar_one_or_none()
        if blob is None:
            return None
        return await asyncio.to_thread(open_key, blob, self._ring, kid=kid)

    async def save_key(self, key: ToolKey) -> None:
        """Insert the key, or replace the stored key with the same kid."""
        blob = await asyncio.to_thread(seal_key, key, self._ring, nonce=self._random(NONCE_BYTES))
        values = {"ciphertext": blob, "updated_at": _now()}
        async with atransaction(self.engine, "saving a tool key") as conn:
            changed = await conn.execute(
                tool_keys.update().where(tool_keys.c.kid == key.kid).values(**values)
            )
            if not changed.rowcount:
                await conn.execute(tool_keys.insert().values(kid=key.kid, **values))

    async def delete_key(self, kid: str) -> bool:
        """Delete the key; True if it existed."""
        async with atransaction(self.engine, "deleting a tool key") as conn:
            deleted = await conn.execute(tool_keys.delete().where(tool_keys.c.kid == kid))
        return bool(deleted.rowcount)

    async def reencrypt(self) -> int:
        """Rewrite the keys sealed under an older ring key; return how many changed."""
        async with aread(self.engine, "reading tool keys") as conn:
            rows = (await conn.execute(_ALL_KEYS)).all()
        stale = await asyncio.to_thread(_stale_keys, rows, self._ring)
        for key in stale:
            await self.save_key(key)
        return len(stale)


@attrs.define
class AsyncSqlServiceTokenCache:
    """Advantage access tokens in ``credlti_service_tokens``, for asyncio servers.

    The async twin of :class:`~credlti.adapters.sql.SqlServiceTokenCache` (same
    rows, the access token sealed with the vault's key ring); satisfies
    :class:`credlti.ports.AsyncServiceTokenCache`.

    Args:
        engine: An async engine.
        ring: The vault's key ring.
        random_bytes: ``n -> n random bytes`` for GCM nonces; injectable for tests.
    """

    engine: AsyncEngine
    _ring: KeyRing = attrs.field(repr=False, alias="ring")
    _random: Callable[[int], bytes] = attrs.field(
        default=secrets.token_bytes, repr=False, alias="random_bytes"
    )

    async def get_token(self, key: TokenCacheKey) -> ServiceToken | None:
        """The cached token for *key*, or ``None``."""
        cache_key = _cache_key(key)
        query = sa.select(service_tokens).where(service_tokens.c.cache_key == cache_key)
        async with aread(self.engine, "reading a service token") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _opened_token(row, cache_key, self._ring)

    async def put_token(self, key: TokenCacheKey, token: ServiceToken) -> None:
        """Store *token* under *key*, replacing any older one."""
        cache_key = _cache_key(key)
        values = _sealed_token(key, cache_key, token, self._ring, self._random(NONCE_BYTES))
        async with atransaction(self.engine, "storing a service token") as conn:
            changed = await conn.execute(
                service_tokens.update()
                .where(service_tokens.c.cache_key == cache_key)
                .values(**values)
            )
            if not changed.rowcount:
                await conn.execute(service_tokens.insert().values(cache_key=cache_key, **values))

    async def delete_token(self, key: TokenCacheKey, *, only: ServiceToken | None = None) -> bool:
        """Drop the token under *key* (only if it is *only*, when given), in one statement."""
        async with atransaction(self.engine, "deleting a service token") as conn:
            deleted = await conn.execute(_token_delete(key, only))
        return bool(deleted.rowcount)

    async def sweep(self, now: datetime) -> int:
        """Delete tokens that expired before *now*; return how many."""
        expired = service_tokens.delete().where(service_tokens.c.expires_at <= now.timestamp())
        async with atransaction(self.engine, "sweeping service tokens") as conn:
            return int((await conn.execute(expired)).rowcount)

    async def reencrypt(self) -> int:
        """Async twin of ``SqlServiceTokenCache.reencrypt``: reseal under the primary key."""
        async with aread(self.engine, "reading service tokens") as conn:
            rows = (await conn.execute(_SEALED_TOKENS)).all()
        statements = _stale_tokens(rows, self._ring, self._random)
        if not statements:
            return 0
        async with atransaction(self.engine, "re-encrypting service tokens") as conn:
            return sum([int((await conn.execute(statement)).rowcount) for statement in statements])
