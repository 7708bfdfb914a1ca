"""Started OAuth authorizations kept in memory until their callback."""

from __future__ import annotations

import threading

import attrs

from credlti.credentials import PendingAuthorization

__all__ = ["AsyncMemoryPendingAuthorizations", "MemoryPendingAuthorizations"]


@attrs.define
class MemoryPendingAuthorizations:
    """Pending authorizations by state hash (satisfies ``PendingAuthorizationStore``).

    Bounded: expired records are dropped whenever one is added, and past
    *max_entries* the oldest go first. One process only: use a shared store (a
    table, a cache) when the callback may reach another worker.
    """

    max_entries: int = 10_000
    _items: dict[str, PendingAuthorization] = attrs.field(factory=dict, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def put(self, pending: PendingAuthorization) -> None:
        """Keep *pending* (replacing a record with the same key)."""
        with self._lock:
            now = pending.created_at
            for key in [k for k, v in self._items.items() if v.expires_at <= now]:
                del self._items[key]
            while len(self._items) >= self.max_entries:
                del self._items[next(iter(self._items))]
            self._items[pending.state_hash] = pending

    def take(self, state_hash: str) -> PendingAuthorization | None:
        """Remove and return the record, or ``None`` (each record is taken once)."""
        with self._lock:
            return self._items.pop(state_hash, None)

    def __len__(self) -> int:
        """How many authorizations are pending."""
        return len(self._items)


@attrs.define
class AsyncMemoryPendingAuthorizations:
    """Async twin of :class:`MemoryPendingAuthorizations` (``AsyncPendingAuthorizationStore``).

    Wraps the sync store, exposed as :attr:`sync`.
    """

    sync: MemoryPendingAuthorizations = attrs.field(factory=MemoryPendingAuthorizations)

    async def put(self, pending: PendingAuthorization) -> None:
        """Keep *pending* (replacing a record with the same key)."""
        self.sync.put(pending)

    async def take(self, state_hash: str) -> PendingAuthorization | None:
        """Remove and return the record, or ``None`` (each record is taken once)."""
        return self.sync.take(state_hash)

    def __len__(self) -> int:
        """How many authorizations are pending."""
        return len(self.sync)
