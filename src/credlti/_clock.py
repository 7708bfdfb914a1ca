"""The clock type every facade takes (``clock=``) and the default clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

__all__ = ["Clock", "utc_now"]

#: A clock returns the current time as a timezone-aware datetime.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: the current UTC time."""
    return datetime.now(timezone.utc)
