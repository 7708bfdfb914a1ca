"""Connections and transactions with typed errors (and serialised in-memory SQLite)."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator

import sqlalchemy.exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from credlti.errors import StorageConflictError, StorageUnavailableError

__all__ = ["read", "storage_errors", "transaction"]

# In-memory SQLite shares one DBAPI connection between threads (StaticPool), and a
# sqlite3 connection must not be used by two threads at once: serialise per engine.
_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _engine_lock(engine: Engine) -> contextlib.AbstractContextManager[object]:
    if engine.dialect.name != "sqlite" or not isinstance(engine.pool, StaticPool):
        return contextlib.nullcontext()
    with _LOCKS_GUARD:
        lock = _LOCKS.get(engine)
        if lock is None:
            lock = _LOCKS[engine] = threading.RLock()
    return lock


@contextlib.contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Run a block, turning database exceptions into typed credlti errors.

    Messages name the action and the exception class only: driver messages can
    contain bound parameters, which may be secrets.
    """
    try:
        yield
    except sa_exc.IntegrityError as exc:
        msg = f"{action} broke a uniqueness or integrity rule; nothing was changed"
        raise StorageConflictError(msg, details={"action": action}) from exc
    except sa_exc.SQLAlchemyError as exc:
        msg = (
            f"{action} failed in the database ({type(exc).__name__}); nothing was changed. "
            "Check that the database is reachable and its schema is upgraded "
            "(credlti db upgrade --url ...)"
        )
        raise StorageUnavailableError(msg, details={"action": action}) from exc


@contextlib.contextmanager
def transaction(engine: Engine, action: str) -> Iterator[Connection]:
    """A connection in a transaction: committed on success, rolled back on any error."""
    with _engine_lock(engine), storage_errors(action), engine.begin() as conn:
        yield conn


@contextlib.contextmanager
def read(engine: Engine, action: str) -> Iterator[Connection]:
    """A connection for reads (its implicit transaction is rolled back at the end)."""
    with _engine_lock(engine), storage_errors(action), engine.connect() as conn:
        yield conn
