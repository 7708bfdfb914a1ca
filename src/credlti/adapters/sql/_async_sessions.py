"""Async SQL :class:`~credlti.ports.AsyncLaunchSessionStore`: the sync store's SQL, awaited."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime

import attrs
from sqlalchemy.ext.asyncio import AsyncEngine

from credlti.adapters.sql._aio import araw
from credlti.adapters.sql._sessions import (
    _DELETE,
    _LOAD,
    _SAVE,
    _SWEEP_ALL,
    _SWEEP_SOME,
    SWEEP_BATCH,
    SWEEP_EVERY,
)

__all__ = ["AsyncSqlLaunchSessionStore"]


@attrs.define
class AsyncSqlLaunchSessionStore:
    """Saved launches in ``credlti_launch_sessions``, for asyncio servers.

    The async twin of :class:`~credlti.adapters.sql.SqlLaunchSessionStore` (same
    table, statements and amortised sweep); satisfies
    :class:`credlti.ports.AsyncLaunchSessionStore`. Pass it to an async tool as
    ``AsyncTool(storage, sessions=AsyncSqlLaunchSessionStore(engine))``.

    Args:
        engine: An async engine (see :func:`credlti.adapters.sql.open_async_engine`).
    """

    engine: AsyncEngine
    _saves: Iterator[int] = attrs.field(factory=itertools.count, init=False, repr=False)
    # The latest "now" a load or sweep passed: the amortised sweep's cut-off.
    _latest_now: float = attrs.field(default=0.0, init=False, repr=False)

    async def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
        """Store *data* under *key* until *expires_at*, replacing any older value.

        Raises:
            StorageUnavailableError: The database failed or could not be reached.
        """
        sweep = next(self._saves) % SWEEP_EVERY == SWEEP_EVERY - 1
        action = "saving a launch session"
        async with araw(self.engine, action) as raw:
            await raw.execute(_SAVE, (key, bytes(data), expires_at.timestamp()), action)
            if sweep and self._latest_now:
                await raw.execute(_SWEEP_SOME, (self._latest_now, SWEEP_BATCH), action)

    async def load(self, key: str, *, now: datetime) -> bytes | None:
        """The bytes under *key*, or ``None`` if there are none or they expired by *now*.

        Raises:
            StorageUnavailableError: The database failed or could not be reached.
        """
        ts = now.timestamp()
        self._latest_now = max(self._latest_now, ts)
        action = "loading a launch session"
        async with araw(self.engine, action) as raw:
            row = await raw.fetchone(_LOAD, (key, ts), action)
        return None if row is None else bytes(row[0])

    async def delete(self, key: str) -> bool:
        """Drop the entry under *key*; True if one was dropped.

        Raises:
            StorageUnavailableError: The database failed or could not be reached.
        """
        action = "deleting a launch session"
        async with araw(self.engine, action) as raw:
            cur = await raw.execute(_DELETE, (key,), action)
            return bool(cur.rowcount)

    async def sweep(self, now: datetime) -> int:
        """Delete every session that expired by *now*; return how many.

        Raises:
            StorageUnavailableError: The database failed or could not be reached.
        """
        ts = now.timestamp()
        self._latest_now = max(self._latest_now, ts)
        action = "sweeping launch sessions"
        async with araw(self.engine, action) as raw:
            cur = await raw.execute(_SWEEP_ALL, (ts,), action)
            return int(cur.rowcount)
