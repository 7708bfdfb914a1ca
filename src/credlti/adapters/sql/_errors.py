"""Translate SQLAlchemy/DBAPI exceptions into credlti storage errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy.exc as sa_exc

from credlti.errors import StorageConflictError, StorageUnavailableError


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
