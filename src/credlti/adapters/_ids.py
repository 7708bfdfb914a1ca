"""Identifier checks every adapter applies at its entry points, the same on every backend.

SQLite would store NUL and any length, PostgreSQL refuses NUL in text and the drivers
refuse lone surrogates. So an adapter checks each identifier it is given before it
reaches storage: a lookup with an unusable id finds nothing, a write with one raises
:class:`~credlti.errors.StorageInvalidIdError`, whatever the backend.
"""

from __future__ import annotations

from credlti._text import MAX_ID_LENGTH, id_problem
from credlti.errors import StorageInvalidIdError

__all__ = ["ISSUER_MAX_LENGTH", "check_ids", "usable"]

#: Issuers are URLs: their column is longer than the other identifiers'.
ISSUER_MAX_LENGTH = 1024


def usable(*values: object, max_length: int = MAX_ID_LENGTH) -> bool:
    """True when every value is a usable identifier (lookups: False means "absent")."""
    return all(id_problem(value, max_length=max_length) is None for value in values)


def check_ids(action: str, max_length: int = MAX_ID_LENGTH, **fields: object) -> None:
    """Raise StorageInvalidIdError for the first unusable identifier among *fields*.

    ``None`` values are optional fields left empty and pass. The message names the
    field and the problem, never the value.
    """
    for field, value in fields.items():
        if value is None:
            continue
        problem = id_problem(value, max_length=max_length)
        if problem is not None:
            msg = f"{action}: {field} {problem}; nothing was changed"
            raise StorageInvalidIdError(msg, details={"field": field, "problem": problem})
