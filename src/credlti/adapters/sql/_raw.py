"""Hot paths on the bare DB-API connection: prebuilt SQL, one checkout, typed errors.

SQLAlchemy Core builds, caches and compiles a statement on every call; for the few
statements that run on every launch (nonce store and consume) that costs more than
the database does. These run as fixed SQL text on the pooled DB-API connection
(``engine.raw_connection()``), with the same error mapping as the Core paths.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Engine

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


@contextlib.contextmanager
def cursor(engine: Engine, action: str) -> Iterator[Any]:
    """A DB-API cursor in a transaction: committed on success, rolled back on error.

    Driver messages never reach the error text (they can hold bound parameters).
    """
    dbapi_error = engine.dialect.loaded_dbapi.Error
    with _engine_lock(engine):
        try:
            connection = engine.raw_connection()
        except Exception as exc:
            raise _failure(action, exc, engine) from exc
        try:
            cur = connection.cursor()
            try:
                yield cur
            finally:
                cur.close()
            connection.commit()
        except dbapi_error as exc:
            with contextlib.suppress(Exception):
                connection.rollback()
            raise _failure(action, exc, engine) from exc
        except BaseException:
            with contextlib.suppress(Exception):
                connection.rollback()
            raise
        finally:
            connection.close()  # back to the pool
