"""Async in-memory implementations of the credentials-vault ports, for :class:`AsyncVault`.

:class:`AsyncMemoryVaultStore` keeps the same tables as
:class:`~credlti.adapters.memory.MemoryVaultStore` and serialises units of work with
an :class:`asyncio.Lock`; a transaction opened inside another in the same task (or a
task it started) joins it, and a failing step is rolled back with the undo log. Use
one store from one event loop at a time. The host ports (directory, activity,
notifier, audit, clients) wrap their sync memory twins, which they expose as
``sync`` for seeding and inspection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import attrs

from credlti.adapters.memory._vault import (
    MemoryAuditSink,
    MemoryNotifier,
    MemoryOAuthClientRegistry,
    MemoryStepActivity,
    MemoryUserDirectory,
    _Credentials,
    _Session,
    _Shares,
    _Tables,
    _Tokens,
    _Transfers,
    _Undo,
    scan,
)
from credlti.credentials._records import (
    AuditEvent,
    Credential,
    CredentialRow,
    OAuthClient,
    OAuthTokenRow,
    ProjectShare,
    ScrubbedRow,
    TransferTokenRow,
    VaultUser,
)
from credlti.errors import StorageUnavailableError

__all__ = [
    "AsyncMemoryAuditSink",
    "AsyncMemoryNotifier",
    "AsyncMemoryOAuthClientRegistry",
    "AsyncMemoryStepActivity",
    "AsyncMemoryUserDirectory",
    "AsyncMemoryVaultStore",
]


class _AsyncCredentials:
    def __init__(self, sync: _Credentials) -> None:
        self._sync = sync

    async def get(self, credential_id: str) -> CredentialRow | None:
        return self._sync.get(credential_id)

    async def get_for_update(self, credential_id: str) -> CredentialRow | None:
        return self._sync.get_for_update(credential_id)

    async def add(self, row: CredentialRow) -> None:
        self._sync.add(row)

    async def update(self, row: CredentialRow) -> None:
        self._sync.update(row)

    async def delete(self, credential_id: str) -> bool:
        return self._sync.delete(credential_id)

    async def find_by_name(self, owner_id: str, name: str) -> str | None:
        return self._sync.find_by_name(owner_id, name)

    async def find(
        self, *, owner_id: str | None = None, project_id: str | None = None
    ) -> list[CredentialRow]:
        return self._sync.find(owner_id=owner_id, project_id=project_id)

    async def scrub_due(
        self, credential_ids: Sequence[str], *, now: datetime, delete: Collection[str]
    ) -> list[ScrubbedRow]:
        return self._sync.scrub_due(credential_ids, now=now, delete=delete)


class _AsyncShares:
    def __init__(self, sync: _Shares) -> None:
        self._sync = sync

    async def add(self, share: ProjectShare) -> None:
        self._sync.add(share)

    async def remove(self, share_id: str) -> bool:
        return self._sync.remove(share_id)

    async def get(self, share_id: str) -> ProjectShare | None:
        return self._sync.get(share_id)

    async def for_credentials(self, credential_ids: Sequence[str]) -> dict[str, list[ProjectShare]]:
        return self._sync.for_credentials(credential_ids)

    async def for_credential(self, credential_id: str) -> list[ProjectShare]:
        return self._sync.for_credential(credential_id)


class _AsyncTokens:
    def __init__(self, sync: _Tokens) -> None:
        self._sync = sync

    async def get(self, credential_id: str) -> OAuthTokenRow | None:
        return self._sync.get(credential_id)

    async def get_many(self, credential_ids: Sequence[str]) -> dict[str, OAuthTokenRow]:
        return self._sync.get_many(credential_ids)

    async def put(self, row: OAuthTokenRow) -> None:
        self._sync.put(row)

    async def compare_and_set(self, row: OAuthTokenRow, *, expected_version: int) -> bool:
        return self._sync.compare_and_set(row, expected_version=expected_version)

    async def delete(self, credential_id: str) -> bool:
        return self._sync.delete(credential_id)


class _AsyncTransfers:
    def __init__(self, sync: _Transfers) -> None:
        self._sync = sync

    async def add(self, row: TransferTokenRow) -> None:
        self._sync.add(row)

    async def for_credential(self, credential_id: str) -> list[TransferTokenRow]:
        return self._sync.for_credential(credential_id)

    async def delete_for_credential(self, credential_id: str) -> int:
        return self._sync.delete_for_credential(credential_id)


@attrs.frozen
class _AsyncSession:
    credentials: _AsyncCredentials
    shares: _AsyncShares
    oauth_tokens: _AsyncTokens
    transfers: _AsyncTransfers


#: The units of work open in this context: ``(store, session)`` pairs, innermost last.
_OPEN: ContextVar[tuple[tuple[object, _AsyncSession], ...]] = ContextVar(
    "credlti_memory_vault_open", default=()
)


def _session(t: _Tables, undo: list[_Undo]) -> _AsyncSession:
    sync = _Session(_Credentials(t, undo), _Shares(t, undo), _Tokens(t, undo), _Transfers(t, undo))
    return _AsyncSession(
        _AsyncCredentials(sync.credentials),
        _AsyncShares(sync.shares),
        _AsyncTokens(sync.oauth_tokens),
        _AsyncTransfers(sync.transfers),
    )


def _abandon(lock: asyncio.Lock, acquiring: asyncio.Future[Any]) -> None:
    """Give up waiting for *lock*: cancel the attempt, or release it if it got the lock."""

    def release_if_held(attempt: asyncio.Future[Any]) -> None:
        if not attempt.cancelled() and attempt.exception() is None:
            lock.release()

    if acquiring.done():
        release_if_held(acquiring)
    else:
        acquiring.cancel()
        acquiring.add_done_callback(release_if_held)


@attrs.define(eq=False)
class AsyncMemoryVaultStore:
    """Async twin of :class:`~credlti.adapters.memory.MemoryVaultStore`.

    Satisfies :class:`credlti.ports.AsyncVaultStore`: the same tables, cascades and
    id checks; ``async with store.transaction() as tx`` is one unit of work.
    """

    _t: _Tables = attrs.field(factory=_Tables, init=False, repr=False)
    _tx_lock: asyncio.Lock | None = attrs.field(default=None, init=False, repr=False)
    _named: dict[str, asyncio.Lock] = attrs.field(factory=dict, init=False, repr=False)

    def _lock(self) -> asyncio.Lock:
        if self._tx_lock is None:
            self._tx_lock = asyncio.Lock()
        return self._tx_lock

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_AsyncSession]:
        """Open (or join, in the same task) a unit of work."""
        opened = _OPEN.get()
        outer = next((s for store, s in reversed(opened) if store is self), None)
        if outer is not None:
            yield outer
            return
        async with self._lock():
            undo: list[_Undo] = []
            session = _session(self._t, undo)
            mark = _OPEN.set((*opened, (self, session)))
            try:
                yield session
            except BaseException:
                for step in reversed(undo):
                    step()
                raise
            finally:
                _OPEN.reset(mark)

    async def scan_credentials(
        self, *, after_id: str | None, limit: int, due_before: datetime | None = None
    ) -> AsyncIterator[CredentialRow]:
        """Up to *limit* rows after *after_id* in id order (optionally only due ones)."""
        for row in scan(self._t, after_id=after_id, limit=limit, due_before=due_before):
            yield row

    @asynccontextmanager
    async def lock(self, key: str, *, timeout: float) -> AsyncIterator[None]:
        """Hold the named lock *key* for the ``async with`` block."""
        lock = self._named.setdefault(key, asyncio.Lock())
        acquiring = asyncio.ensure_future(lock.acquire())
        try:
            await asyncio.wait({acquiring}, timeout=timeout)
        except BaseException:  # cancelled while waiting: never keep the lock
            _abandon(lock, acquiring)
            raise
        if not acquiring.done():
            _abandon(lock, acquiring)
            msg = f"timed out after {timeout}s waiting for lock {key!r}"
            raise StorageUnavailableError(msg)
        try:
            yield
        finally:
            lock.release()

    def __len__(self) -> int:
        """The number of credential rows."""
        return len(self._t.rows)


@attrs.define
class AsyncMemoryUserDirectory:
    """Async twin of :class:`~credlti.adapters.memory.MemoryUserDirectory`.

    Seed it through :attr:`sync` (``add_user``, ``grant``, ``revoke``).
    """

    sync: MemoryUserDirectory = attrs.field(factory=MemoryUserDirectory)

    async def get_user(self, user_id: str) -> VaultUser | None:
        """Return the user, or ``None``."""
        return self.sync.get_user(user_id)

    async def get_user_by_email(self, email: str) -> VaultUser | None:
        """Return the user with this email (case-insensitive), or ``None``."""
        return self.sync.get_user_by_email(email)

    async def accessible_projects(self, user_id: str) -> frozenset[str]:
        """Ids of the projects the user may access."""
        return self.sync.accessible_projects(user_id)


@attrs.define
class AsyncMemoryStepActivity:
    """Async twin of :class:`~credlti.adapters.memory.MemoryStepActivity` (seed :attr:`sync`)."""

    sync: MemoryStepActivity = attrs.field(factory=MemoryStepActivity)

    async def has_activity(self, credential_id: str) -> bool:
        """True if any step used the credential."""
        return self.sync.has_activity(credential_id)

    async def with_activity(self, credential_ids: Sequence[str]) -> set[str]:
        """The subset of ids with activity."""
        return self.sync.with_activity(credential_ids)


@attrs.define
class AsyncMemoryNotifier:
    """Async twin of :class:`~credlti.adapters.memory.MemoryNotifier` (notices in ``sync.sent``)."""

    sync: MemoryNotifier = attrs.field(factory=MemoryNotifier)

    async def transfer_requested(
        self,
        *,
        credential: Credential,
        owner: VaultUser,
        receiver: VaultUser,
        token: str,
        expires_at: datetime,
    ) -> None:
        """Record the confirmation request sent to the owner."""
        self.sync.transfer_requested(
            credential=credential,
            owner=owner,
            receiver=receiver,
            token=token,
            expires_at=expires_at,
        )

    async def transfer_completed(
        self, *, credential: Credential, owner: VaultUser, receiver: VaultUser
    ) -> None:
        """Record the completion notice to both sides."""
        self.sync.transfer_completed(credential=credential, owner=owner, receiver=receiver)

    async def transfer_revoked(
        self, *, credential: Credential, owner: VaultUser, receiver: VaultUser | None
    ) -> None:
        """Record the revocation notice."""
        self.sync.transfer_revoked(credential=credential, owner=owner, receiver=receiver)

    async def deletion_scheduled(
        self, *, credential: Credential, owner: VaultUser | None, purge_at: datetime
    ) -> None:
        """Record the deletion notice to the owner."""
        self.sync.deletion_scheduled(credential=credential, owner=owner, purge_at=purge_at)


@attrs.define
class AsyncMemoryAuditSink:
    """Async twin of :class:`~credlti.adapters.memory.MemoryAuditSink` (see ``sync.events``)."""

    sync: MemoryAuditSink = attrs.field(factory=MemoryAuditSink)

    async def record(self, event: AuditEvent) -> None:
        """Append one event."""
        self.sync.record(event)

    async def record_purged(
        self, credential_ids: Sequence[str], *, deleted: Collection[str], at: datetime
    ) -> None:
        """Append the ``purged`` event of each credential a purge batch handled."""
        self.sync.record_purged(credential_ids, deleted=deleted, at=at)

    async def events_for(self, credential_id: str) -> list[AuditEvent]:
        """The credential's events, oldest first."""
        return self.sync.events_for(credential_id)


@attrs.define
class AsyncMemoryOAuthClientRegistry:
    """Async twin of :class:`~credlti.adapters.memory.MemoryOAuthClientRegistry`.

    Register clients through :attr:`sync` (``add``).
    """

    sync: MemoryOAuthClientRegistry = attrs.field(factory=MemoryOAuthClientRegistry)

    async def get_client(self, client_id: str) -> OAuthClient | None:
        """Return the client, or ``None``."""
        return self.sync.get_client(client_id)
