"""A controllable clock for tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs

__all__ = ["FrozenClock"]


@attrs.define
class FrozenClock:
    """A clock that only moves when told to. Pass it as ``clock=`` to tools and stores.

    Example::

        clock = FrozenClock()
        clock.advance(301)   # five minutes and a second later
    """

    now: datetime = attrs.field(factory=lambda: datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc))

    def __call__(self) -> datetime:
        """Return the current simulated time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative value)."""
        self.now += timedelta(seconds=seconds)
