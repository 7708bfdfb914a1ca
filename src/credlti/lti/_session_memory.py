"""The default :class:`~credlti.lti.ports.LaunchSessionStore`: sessions in process memory.

It lives here, next to the facades that use it by default, so the tool needs no
adapter; :mod:`credlti.adapters.memory` re-exports it for hosts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

import attrs

from credlti.errors import ConfigurationError

__all__ = ["AsyncMemoryLaunchSessionStore", "MemoryLaunchSessionStore"]

#: Sweep expired sessions once this many have been saved since the last sweep.
_SWEEP_EVERY = 1024


def _positive(_inst: object, _attr: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = "max_sessions must be a positive integer"
        raise ConfigurationError(msg)


@attrs.define
class MemoryLaunchSessionStore:
    """Launch sessions in a dict: thread-safe, bounded, **per process**.

    A launch saved in one worker process cannot be reopened in another: with
    several workers, give the tool a shared store (SQL or Redis). When full, the
    oldest saved session is dropped first (its user launches again). Expired
    sessions are swept every 1024 saves, against the latest time a load saw.

    Args:
        max_sessions: The most sessions held at once.
    """

    max_sessions: int = attrs.field(default=100_000, validator=_positive)
    # key -> (expires_at timestamp, sealed bytes), in save order.
    _items: OrderedDict[str, tuple[float, bytes]] = attrs.field(
        factory=OrderedDict, init=False, repr=False
    )
    _saved_since_sweep: int = attrs.field(default=0, init=False, repr=False)
    # Time only moves forward: the latest "now" a load saw drives the sweep.
    _last_now: float = attrs.field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
        """Store *data* under *key* until *expires_at* (replacing an older value)."""
        entry = (expires_at.timestamp(), bytes(data))
        with self._lock:
            self._items[key] = entry
            self._items.move_to_end(key)
            self._saved_since_sweep += 1
            if self._saved_since_sweep >= _SWEEP_EVERY:
                self._sweep(self._last_now)
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)

    def load(self, key: str, *, now: datetime) -> bytes | None:
        """The bytes under *key*, or ``None`` if missing or expired at *now*."""
        ts = now.timestamp()
        with self._lock:
            self._last_now = max(self._last_now, ts)
            entry = self._items.get(key)
            if entry is None:
                return None
            if entry[0] <= ts:
                del self._items[key]
                return None
            return entry[1]

    def delete(self, key: str) -> bool:
        """Drop the entry under *key*; True if there was one."""
        with self._lock:
            return self._items.pop(key, None) is not None

    def sweep(self, now: datetime) -> int:
        """Drop every session expired at *now*; return how many."""
        with self._lock:
            return self._sweep(now.timestamp())

    def _sweep(self, ts: float) -> int:
        # Called with the lock held.
        dead = [key for key, (expiry, _) in self._items.items() if expiry <= ts]
        for key in dead:
            del self._items[key]
        self._saved_since_sweep = 0
        return len(dead)

    def __len__(self) -> int:
        """The number of sessions held (expired ones until swept)."""
        with self._lock:
            return len(self._items)


@attrs.define(init=False)
class AsyncMemoryLaunchSessionStore:
    """The async form of :class:`MemoryLaunchSessionStore` (the default of ``AsyncTool``).

    Its methods never wait (a dict under a lock held for microseconds), so they
    are safe on the event loop. Same arguments as the sync form.
    """

    _store: MemoryLaunchSessionStore = attrs.field(repr=False)

    def __init__(self, max_sessions: int = 100_000) -> None:
        self._store = MemoryLaunchSessionStore(max_sessions)

    @classmethod
    def over(cls, store: MemoryLaunchSessionStore) -> AsyncMemoryLaunchSessionStore:
        """The async form of an existing memory store (both see the same sessions)."""
        made = cls.__new__(cls)
        made._store = store
        return made

    @property
    def max_sessions(self) -> int:
        """The most sessions held at once."""
        return self._store.max_sessions

    async def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
        """Store *data* under *key* until *expires_at* (replacing an older value)."""
        self._store.save(key, data, expires_at=expires_at)

    async def load(self, key: str, *, now: datetime) -> bytes | None:
        """The bytes under *key*, or ``None`` if missing or expired at *now*."""
        return self._store.load(key, now=now)

    async def delete(self, key: str) -> bool:
        """Drop the entry under *key*; True if there was one."""
        return self._store.delete(key)

    async def sweep(self, now: datetime) -> int:
        """Drop every session expired at *now*; return how many."""
        return self._store.sweep(now)

    def __len__(self) -> int:
        """The number of sessions held (expired ones until swept)."""
        return len(self._store)
