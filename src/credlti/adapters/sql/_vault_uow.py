"""The SQL vault's unit of work: a transaction on a pooled DB-API connection.

:class:`UnitOfWork` opens one (or joins the open one of this thread / task), starts
SQLite's as the writer, registers its session for the other vault ports to join, and
commits or rolls back; it is a class rather than a generator because it runs on every
vault call.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from credlti.adapters.sql._errors import _engine_lock
from credlti.adapters.sql._raw import Sql, _failure
from credlti.adapters.sql._vault_repos import _ACTIVE, _Session
from credlti.adapters.sql._vault_sql import Raw

__all__ = ["UnitOfWork", "begin_sqlite_writer"]


_BEGIN_IMMEDIATE = Sql("BEGIN IMMEDIATE")
_FOREIGN_KEYS_ON = Sql("PRAGMA foreign_keys=ON")
_FOREIGN_KEYS = Sql("PRAGMA foreign_keys")
# A write that changes nothing but takes SQLite's write lock (see begin_sqlite_writer).
_TAKE_WRITE_LOCK = Sql("UPDATE credlti_credentials SET id = id WHERE id IS NULL")


def begin_sqlite_writer(raw: Raw, pooled: Any) -> bool:
    """Start the SQLite unit of work holding the write lock; return whether FKs are on.

    Normally: ``PRAGMA foreign_keys=ON`` (cascades need it, whatever engine the host
    built; it is ignored inside a transaction) then ``BEGIN IMMEDIATE``, on *raw*'s
    connection, the pooled connection *pooled*. When the transaction has begun
    already (SQLAlchemy's ``BEGIN`` event recipe, or sqlite3's ``autocommit=False``),
    a first write that changes nothing takes the same lock.
    """
    action = "starting a vault unit of work"
    if not getattr(pooled.dbapi_connection, "in_transaction", False):
        info = pooled.info  # kept with the DB-API connection across checkouts
        if not info.get("credlti_foreign_keys"):
            raw.execute(_FOREIGN_KEYS_ON, (), action)
            info["credlti_foreign_keys"] = True
        raw.execute(_BEGIN_IMMEDIATE, (), action)
        return True
    raw.execute(_TAKE_WRITE_LOCK, (), action)
    return bool(next(raw.fetch(_FOREIGN_KEYS, (), action, lambda r: r[0]), 0))


def _begin_sqlite_writer(conn: Connection) -> bool:
    """:func:`begin_sqlite_writer` on a SQLAlchemy connection (the async store's)."""
    raw = Raw(conn)
    try:
        return begin_sqlite_writer(raw, conn.connection)
    finally:
        raw.close()


def _typed(action: str, exc: BaseException, engine: Engine) -> Exception | None:
    """The typed storage error for a driver or SQLAlchemy failure, else ``None``.

    Messages name the action and the exception class, never the driver's message.
    """
    if isinstance(exc, sa.exc.DBAPIError) and isinstance(exc.orig, Exception):
        return _failure(action, exc.orig, engine)
    if isinstance(exc, (sa.exc.SQLAlchemyError, engine.dialect.loaded_dbapi.Error)):
        return _failure(action, exc, engine)
    return None


class UnitOfWork:
    """One vault unit of work on a pooled connection, as a context manager.

    Entering opens it (joining the open one of this thread / task on the same
    engine instead, when there is one) and registers its session; leaving commits,
    or rolls back on any exception. SQLite units of work start holding the write
    lock. Failures to connect, begin or commit, and driver errors in the block,
    become typed storage errors. (A class, not a generator: it is on every call.)
    """

    __slots__ = ("_engine", "_lock", "_session", "_token")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._session: _Session | None = None

    def __enter__(self) -> _Session:
        engine = self._engine
        sessions = _ACTIVE.get() or {}
        outer = sessions.get(engine)
        if outer is not None:
            return outer
        self._lock = _engine_lock(engine)
        self._lock.__enter__()
        try:
            session = self._session = self._open()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        self._token = _ACTIVE.set({**sessions, engine: session})
        return session

    def _open(self) -> _Session:
        engine, action = self._engine, "a vault unit of work"
        conn: Connection | None = None
        try:
            if engine._has_events or engine._execution_options:
                # Through SQLAlchemy, so the host's connection listeners (e.g. the SQLite
                # BEGIN recipe, tracing) and execution options (isolation level) apply
                # from the start, as they would to any connection of theirs.
                conn = engine.connect()
                conn.begin()
                pooled = conn.connection
            else:
                pooled = engine.raw_connection()
        except Exception as exc:
            if conn is not None:
                conn.close()
            mapped = _typed(action, exc, engine)
            if mapped is None:
                raise
            raise mapped from exc
        session = _Session(engine, pooled, conn=conn)
        if engine.dialect.name == "sqlite":
            try:
                session.cascade_by_hand = not begin_sqlite_writer(session.raw, pooled)
            except BaseException:
                session.rollback()
                session.close()
                raise
        return session

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        session = self._session
        if session is None:
            return  # joined an outer unit of work: it commits or rolls back
        self._session = None
        try:
            try:
                if exc is None:
                    session.flush_audit()
                    session.raw.close()
                    session.commit()
            except Exception as failure:
                session.rollback()
                mapped = _typed("a vault unit of work", failure, self._engine)
                if mapped is None:
                    raise
                raise mapped from failure
            if exc is not None:
                session.rollback()
                mapped = _typed("a vault unit of work", exc, self._engine)
                if mapped is not None:
                    raise mapped from exc
        finally:
            try:
                _ACTIVE.reset(self._token)
            finally:
                try:
                    session.close()
                finally:
                    self._lock.__exit__(None, None, None)
