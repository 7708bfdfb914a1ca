"""Score timestamps that strictly increase per (line item, user) for a whole tool.

A platform keeps a score only if its timestamp is later than the one it holds
(AGS §3.4.5). One :class:`ScoreTimestamps` belongs to a service-token client, so
every grade service built on that client (one per launch, resource link or
course) shares it: two posts in one millisecond for one (line item, user) get
distinct, increasing timestamps wherever they come from.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta, timezone

import attrs

from credlti.lti.services._ags_records import format_timestamp, invalid_field, truncate_ms

__all__ = ["ScoreTimestamps"]

_MS = timedelta(milliseconds=1)
_SECOND = timedelta(seconds=1)


@attrs.define
class ScoreTimestamps:
    """Per (line item, user) monotonic millisecond timestamps, bounded in size.

    Args:
        max_pairs: Most (line item, user) pairs remembered (least recently used
            pairs are forgotten first).
    """

    max_pairs: int = 10_000
    _last: OrderedDict[tuple[str, str], datetime] = attrs.field(factory=OrderedDict, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def _remember(self, key: tuple[str, str], when: datetime) -> None:
        self._last[key] = when
        self._last.move_to_end(key)
        while len(self._last) > self.max_pairs:
            self._last.popitem(last=False)

    def stamp(self, key: tuple[str, str], requested: datetime | None, now: datetime) -> datetime:
        """The timestamp for a new score: *requested*, else *now*, to the millisecond.

        An automatic stamp is moved 1 ms past the previous one for *key* if needed.

        Raises:
            InvalidServiceRecordError: An explicit *requested* time is not after the
                previous score's for *key*.
        """
        explicit = requested is not None
        when = truncate_ms((requested or now).astimezone(timezone.utc))
        with self._lock:
            last = self._last.get(key)
            if last is not None and when <= last:
                if explicit:
                    msg = (
                        f"must be later than the previous score's {format_timestamp(last)} "
                        "for this line item and user (the platform ignores older ones)"
                    )
                    raise invalid_field("timestamp", msg, "AGS §3.4.5")
                when = last + _MS
            self._remember(key, when)
        return when

    def next_second(self, key: tuple[str, str], refused: datetime) -> datetime:
        """A timestamp on the whole second after *refused* (and after any later stamp).

        For platforms that compare timestamps to the second: the retry of a score
        refused as stale.
        """
        when = refused.replace(microsecond=0) + _SECOND
        with self._lock:
            last = self._last.get(key)
            if last is not None and when <= last:
                when = last.replace(microsecond=0) + _SECOND
            self._remember(key, when)
        return when
