"""Checks on identifiers that arrive from outside (URLs, forms, tokens) before storage.

Every adapter must treat an id the same way, whatever its backend accepts: SQLite
stores NUL and any length, PostgreSQL refuses NUL in text and the drivers refuse lone
surrogates. So ids are checked once, here, before they reach a port.
"""

from __future__ import annotations

__all__ = ["MAX_ID_LENGTH", "id_problem"]

#: The longest identifier credlti stores (a VARCHAR(255) column on every backend).
MAX_ID_LENGTH = 255


def id_problem(value: object, *, max_length: int = MAX_ID_LENGTH) -> str | None:
    """Why *value* cannot be an identifier, or ``None`` when it can.

    An identifier is non-empty text of at most *max_length* characters, encodable as
    UTF-8 (no lone surrogates), without control characters (NUL, CR, LF...). The
    reason never repeats the value.
    """
    if not isinstance(value, str):
        return f"must be text, not {type(value).__name__}"
    if not value:
        return "must not be empty"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if not value.isprintable():
        # isprintable() is False for controls, separators other than space, and
        # surrogates; tell the two cases apart for the message.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid text (it holds a lone surrogate)"
        return "must not hold control or separator characters"
    return None
