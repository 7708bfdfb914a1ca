"""The async engine, and its transactions and hot paths with typed errors.

The async adapters run the same SQL as the sync ones: the SQLAlchemy Core statements
of the colder paths through an :class:`~sqlalchemy.ext.asyncio.AsyncConnection`, and
the prebuilt hot-path statements (``_raw``, ``_vault_sql``) on the pooled connection's
own async driver (psycopg's ``AsyncConnection``, aiosqlite's ``Connection``), awaited
directly, without SQLAlchemy's per-call work. Errors map to the same typed errors, by
the same functions, as on the sync paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.util import greenlet_spawn

from credlti.adapters.sql._errors import storage_errors
from credlti.adapters.sql._migrations import SCHEMA_VERSION, upgrade
from credlti.adapters.sql._raw import Sql, _failure
from credlti.adapters.sql._schema import (
    _engine_settings,
    _missing_driver,
    _unknown_driver,
    install_sqlite_pragmas,
)
from credlti.adapters.sql._vault_sql import RawFetch, ids_parameter
from credlti.errors import ConfigurationError

if TYPE_CHECKING:
    from credlti.adapters.sql._vault_sql import RawExecute, _ByDialect

__all__ = [
    "AsyncRaw",
    "araw",
    "aread",
    "atransaction",
    "open_async_engine",
    "raw_of",
    "upgrade_async",
]

# The async driver for each dialect credlti supports (psycopg 3 has both forms).
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}


def open_async_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an asyncio engine with the settings credlti's adapters rely on.

    The async twin of :func:`credlti.adapters.sql.create_engine`: the same pool
    sizes, SQLite pragmas (foreign keys, busy timeout, write-ahead logging) and
    errors. A ``sqlite://`` URL opens through aiosqlite, a ``postgresql://`` or
    ``postgresql+psycopg://`` one through psycopg's async driver; the async adapters
    (:class:`~credlti.adapters.sql.AsyncSqlLaunchStorage`, ...) take this engine.

    The schema is the sync adapters' one: create or upgrade it with
    :func:`credlti.adapters.sql.upgrade` (``credlti db upgrade --url ...``), an
    operator step that runs through a sync engine.

    No connection is opened here: an unreachable database is reported by the first
    operation (:class:`~credlti.errors.StorageUnavailableError`).

    Raises:
        ConfigurationError: *url* is not a database URL, names a dialect or driver
            SQLAlchemy does not know, a driver without asyncio support, or one that
            is not installed. The message never repeats the URL.
    """
    memory = _engine_settings(url, kwargs)
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if parsed.drivername == backend and backend in _ASYNC_DRIVERS:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[backend])
    try:
        engine = create_async_engine(parsed, **kwargs)
    except sa_exc.NoSuchModuleError as exc:
        raise _unknown_driver(url) from exc
    except ImportError as exc:
        raise _missing_driver(url, exc) from exc
    except sa_exc.InvalidRequestError as exc:  # a sync-only driver
        msg = (
            f"the database driver {parsed.drivername!r} has no asyncio support; use "
            "postgresql+psycopg:// or sqlite+aiosqlite:// URLs with open_async_engine"
        )
        raise ConfigurationError(msg, details={"driver": parsed.drivername}) from exc
    if engine.dialect.name == "sqlite":
        install_sqlite_pragmas(engine.sync_engine, memory=memory)
    return engine


async def upgrade_async(engine: AsyncEngine, *, target: int = SCHEMA_VERSION) -> int:
    """:func:`~credlti.adapters.sql.upgrade` run through an async engine; the new version.

    The same migrations in the same single transaction, awaited: for an in-memory
    SQLite database (only reachable through its own engine) and for applications
    that upgrade at start-up. Operators run ``credlti db upgrade --url ...`` instead.

    Raises:
        StorageSchemaTooNewError: The database is at a newer version than this credlti.
        StorageUnavailableError: The database cannot be reached, or a statement failed.
    """
    async with _serialised(engine):
        version: int = await greenlet_spawn(upgrade, engine.sync_engine, target=target)
    return version


# --------------------------------------------------------------------------- serialising

# In-memory SQLite has one shared connection (StaticPool): one task at a time uses it.
# The lock is re-entrant within a task (a vault unit of work that reads through
# another port joins it instead of waiting for itself).
_LOCKS: weakref.WeakKeyDictionary[AsyncEngine, tuple[asyncio.AbstractEventLoop, asyncio.Lock]]
_LOCKS = weakref.WeakKeyDictionary()
_HELD: ContextVar[frozenset[int]] = ContextVar("credlti_sql_async_held", default=frozenset())


@contextlib.asynccontextmanager
async def _serialised(engine: AsyncEngine) -> AsyncIterator[None]:
    if engine.dialect.name != "sqlite" or not isinstance(engine.sync_engine.pool, StaticPool):
        yield
        return
    held = _HELD.get()
    if id(engine) in held:
        yield
        return
    loop = asyncio.get_running_loop()
    entry = _LOCKS.get(engine)
    if entry is None or entry[0] is not loop:
        entry = _LOCKS[engine] = (loop, asyncio.Lock())
    async with entry[1]:
        token = _HELD.set(held | {id(engine)})
        try:
            yield
        finally:
            _HELD.reset(token)


# --------------------------------------------------------------------------- Core paths


@contextlib.asynccontextmanager
async def atransaction(engine: AsyncEngine, action: str) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction: committed on success, rolled back on any error."""
    async with _serialised(engine):
        with storage_errors(action):
            async with engine.begin() as conn:
                yield conn


@contextlib.asynccontextmanager
async def aread(engine: AsyncEngine, action: str) -> AsyncIterator[AsyncConnection]:
    """A connection for reads (its implicit transaction is rolled back at the end)."""
    async with _serialised(engine):
        with storage_errors(action):
            async with engine.connect() as conn:
                yield conn


# --------------------------------------------------------------------------- hot paths


class AsyncRaw:
    """Runs prebuilt statements on an async driver connection (psycopg or aiosqlite).

    The async twin of ``_vault_sql.Raw``: same statements, same error mapping.
    """

    __slots__ = ("_dialect", "_driver", "_error", "_qmark", "_sync_engine")

    def __init__(self, driver: Any, engine: AsyncEngine) -> None:
        self._driver = driver
        self._dialect = engine.dialect.name
        self._qmark = engine.dialect.paramstyle == "qmark"
        self._error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._sync_engine = engine.sync_engine

    def _text(self, statement: Sql | _ByDialect) -> str:
        sql = statement if isinstance(statement, Sql) else statement.texts[self._dialect]
        return sql.qmark if self._qmark else sql.format

    def failure(self, action: str, exc: Exception) -> Exception:
        """The typed error for a driver exception (never with the driver's message)."""
        return _failure(action, exc, self._sync_engine)

    async def execute(self, statement: Sql | _ByDialect, params: Sequence[Any], action: str) -> Any:
        """Execute once; return the cursor (fetch from it, read its rowcount)."""
        try:
            return await self._driver.execute(self._text(statement), params)
        except self._error as exc:
            raise self.failure(action, exc) from exc

    async def executemany(
        self, statement: Sql | _ByDialect, rows: Sequence[Sequence[Any]], action: str
    ) -> None:
        """Execute for every parameter row."""
        text = self._text(statement)
        try:
            if self._dialect == "sqlite":
                await self._driver.executemany(text, rows)
            else:
                async with self._driver.cursor() as cur:
                    await cur.executemany(text, rows)
        except self._error as exc:
            raise self.failure(action, exc) from exc

    async def fetch(
        self,
        statement: Sql | _ByDialect,
        params: Sequence[Any],
        action: str,
        decode: Callable[[Sequence[Any]], Any],
    ) -> list[Any]:
        """The decoded rows of a query."""
        try:
            cur = await self._driver.execute(self._text(statement), params)
            rows = await cur.fetchall()
        except self._error as exc:
            raise self.failure(action, exc) from exc
        return [decode(row) for row in rows]

    async def fetchone(
        self, statement: Sql | _ByDialect, params: Sequence[Any], action: str
    ) -> Any:
        """The first row of a query as a tuple, or ``None``."""
        try:
            cur = await self._driver.execute(self._text(statement), params)
            return await cur.fetchone()
        except self._error as exc:
            raise self.failure(action, exc) from exc

    @property
    def dialect(self) -> str:
        """The database's dialect name (``sqlite``, ``postgresql``)."""
        return self._dialect

    def in_ids(
        self, statement: Sql | _ByDialect, ids: Sequence[str]
    ) -> tuple[Sql, tuple[Any, ...]]:
        """*statement* with its id list as one parameter (as ``Raw.in_ids``)."""
        return ids_parameter(statement, ids, self._dialect)

    async def perform(self, effect: RawFetch | RawExecute) -> Any:
        """Carry out a ``RawFetch`` or ``RawExecute`` effect of a flow (as ``Raw.perform``)."""
        if type(effect) is RawFetch:
            return await self.fetch(effect.statement, effect.params, effect.action, effect.decode)
        return int((await self.execute(effect.statement, effect.params, effect.action)).rowcount)


async def raw_of(conn: AsyncConnection) -> AsyncRaw:
    """The hot-path runner on *conn*'s own driver connection (same transaction)."""
    pooled = await conn.get_raw_connection()
    return AsyncRaw(pooled.driver_connection, conn.engine)


@contextlib.asynccontextmanager
async def araw(engine: AsyncEngine, action: str) -> AsyncIterator[AsyncRaw]:
    """Prebuilt statements in a transaction: committed on success, rolled back on error.

    One pool checkout, then the statements and the commit awaited on the driver.
    Driver messages never reach the error text (they can hold bound parameters).
    """
    async with _serialised(engine):
        try:
            pooled = await engine.raw_connection()
        except Exception as exc:
            raise _failure(action, exc, engine.sync_engine) from exc
        driver: Any = pooled.driver_connection
        raw = AsyncRaw(driver, engine)
        try:
            yield raw
            await driver.commit()
        except raw._error as exc:
            with contextlib.suppress(Exception):
                await driver.rollback()
            raise raw.failure(action, exc) from exc
        except BaseException:
            with contextlib.suppress(Exception):
                await driver.rollback()
            raise
        finally:
            await _give_back(pooled)


async def _give_back(pooled: Any) -> None:
    """Return a checked-out connection to the pool; drop it if that fails."""
    try:
        await greenlet_spawn(pooled.close)
    except Exception:  # a broken connection: never mask the block's own outcome
        with contextlib.suppress(Exception):
            await greenlet_spawn(pooled.invalidate)
