"""Hot paths on the bare DB-API connection: prebuilt SQL, one checkout, typed errors.

SQLAlchemy Core builds, caches and compiles a statement on every call; for the few
statements that run on every launch (nonce store and consume) that costs more than
the database does. These run as fixed SQL text on a DB-API connection (pooled, or on
SQLite files the thread's own), with the same error mapping as the Core paths.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool, QueuePool

from credlti.adapters.sql._errors import _engine_lock
from credlti.errors import StorageConflictError, StorageUnavailableError

__all__ = ["Sql", "cursor"]


class Sql:
    """One statement written with ``?`` placeholders, rendered for each driver once."""

    __slots__ = ("format", "qmark")

    def __init__(self, text: str) -> None:
        self.qmark = " ".join(text.split())
        self.format = self.qmark.replace("%", "%%").replace("?", "%s")

    def for_engine(self, engine: Engine) -> str:
        """The text in the driver's parameter style (``?`` or ``%s``)."""
        style = engine.dialect.paramstyle
        return self.qmark if style == "qmark" else self.format


def _failure(action: str, exc: Exception, engine: Engine) -> Exception:
    integrity = getattr(engine.dialect.dbapi, "IntegrityError", ())
    if integrity and isinstance(exc, integrity):
        msg = f"{action} broke a uniqueness or integrity rule; nothing was changed"
        return StorageConflictError(msg, details={"action": action})
    msg = (
        f"{action} failed in the database ({type(exc).__name__}); nothing was changed. "
        "Check that the database is reachable and its schema is upgraded "
        "(credlti db upgrade --url ...)"
    )
    return StorageUnavailableError(msg, details={"action": action})


class _ThreadConnection(threading.local):
    """This thread's own connection to one SQLite database file (see :func:`cursor`).

    Holds the bare DB-API connection and a weak reference to the pool it came from,
    never the engine: an engine that is dropped takes its slots, and so these
    connections, with it.
    """

    connection: Any = None
    pool: weakref.ref[Any] | None = None
    pid: int = 0
    busy: bool = False


#: Each engine's slot, or ``None`` for an engine that is not a SQLite file (decided once).
_THREAD_CONNECTIONS: weakref.WeakKeyDictionary[Engine, _ThreadConnection | None] = (
    weakref.WeakKeyDictionary()
)
_UNSEEN: Any = object()
_THREAD_CONNECTIONS_GUARD = threading.Lock()
#: Connections inherited through fork(): never used, closed or collected in the child
#: (closing one there could checkpoint or remove the parent's write-ahead log).
_INHERITED: list[Any] = []


def _sqlite_file(engine: Engine) -> bool:
    """Whether *engine* is SQLite on a database file with a connection-per-checkout pool.

    In-memory databases live inside their connection (``StaticPool``, or SQLAlchemy's
    default ``SingletonThreadPool`` for ``sqlite://``): taking one out of its pool
    would leave the others an empty database.
    """
    if engine.dialect.name != "sqlite" or not isinstance(engine.pool, (QueuePool, NullPool)):
        return False
    database = engine.url.database or ""
    if database in {"", ":memory:"} or "mode=memory" in database:
        return False
    return engine.url.query.get("mode") != "memory"


def _per_thread(engine: Engine) -> _ThreadConnection | None:
    """The per-thread connection slot of a SQLite *file* engine, else ``None``."""
    slot = _THREAD_CONNECTIONS.get(engine, _UNSEEN)
    if slot is _UNSEEN:
        with _THREAD_CONNECTIONS_GUARD:
            made = _ThreadConnection() if _sqlite_file(engine) else None
            slot = _THREAD_CONNECTIONS.setdefault(engine, made)
    return slot  # type: ignore[no-any-return]


def _thread_connection(engine: Engine, slot: _ThreadConnection) -> Any:
    """This thread's connection of *slot*, (re)made from *engine*'s pool when needed.

    It is made like any pooled connection (the engine's connect events run) and then
    detached from the pool, so it never counts against the pool's size; it is closed
    when its thread ends or the engine is dropped, and replaced after
    ``engine.dispose()`` (a new pool) or a fork.
    """
    connection, pid = slot.connection, os.getpid()
    pool = slot.pool() if slot.pool is not None else None
    if connection is not None and pool is engine.pool and slot.pid == pid:
        return connection
    if connection is not None:
        if slot.pid == pid:
            with contextlib.suppress(Exception):
                connection.close()
        else:
            _INHERITED.append(connection)
        slot.connection = None
    pooled = engine.raw_connection()
    pooled.detach()
    connection = pooled.dbapi_connection
    slot.connection, slot.pool, slot.pid = connection, weakref.ref(engine.pool), pid
    return connection


@contextlib.contextmanager
def cursor(engine: Engine, action: str) -> Iterator[Any]:
    """A DB-API cursor in a transaction: committed on success, rolled back on error.

    On a SQLite database file each thread keeps one connection for these short
    transactions (a pool checkout costs as much as the statement); elsewhere, and
    when this thread is already inside one, the connection comes from the pool and
    goes back to it. Driver messages never reach the error text (they can hold bound
    parameters).
    """
    slot = _per_thread(engine)
    own = slot if slot is not None and not slot.busy else None  # this thread's, free
    dbapi_error = engine.dialect.loaded_dbapi.Error
    with contextlib.nullcontext() if own is not None else _engine_lock(engine):
        if own is not None:
            own.busy = True
        try:
            try:
                connection = (
                    engine.raw_connection() if own is None else _thread_connection(engine, own)
                )
            except Exception as exc:
                raise _failure(action, exc, engine) from exc
            failed = True
            try:
                cur = connection.cursor()
                try:
                    yield cur
                finally:
                    cur.close()
                connection.commit()
                failed = False
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    connection.rollback()
                if isinstance(exc, dbapi_error):
                    raise _failure(action, exc, engine) from exc
                raise
            finally:
                if own is None:
                    connection.close()  # back to the pool
                elif failed:
                    # It may be unusable after a failure: the next call makes a new one.
                    with contextlib.suppress(Exception):
                        connection.close()
                    own.connection = None
        finally:
            if own is not None:
                own.busy = False
