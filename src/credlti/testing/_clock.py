"""A controllable clock for tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs

__all__ = ["FrozenClock", "WallClock"]


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


@attrs.define
class WallClock(FrozenClock):
    """A clock that follows the real time; :meth:`advance` shifts it by an offset.

    The live dev platform (``credlti platform serve``) runs on it: the launches it
    signs are valid now, for tools that check them against their own wall clock.
    ``now`` holds the time the clock was made; calling the clock reads the real time.
    """

    now: datetime = attrs.field(factory=lambda: datetime.now(timezone.utc))
    offset: timedelta = attrs.field(factory=timedelta)

    def __call__(self) -> datetime:
        """Return the real current time plus the offset."""
        return datetime.now(timezone.utc) + self.offset

    def advance(self, seconds: float) -> None:
        """Shift the clock forward (or back, with a negative value)."""
        self.offset += timedelta(seconds=seconds)
