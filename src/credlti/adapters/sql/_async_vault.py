"""Async SQL implementations of the credentials-vault ports, for asyncio servers.

The async twins of ``_vault``: the same tables, statements, row mapping, id checks,
errors and concurrency rules (PostgreSQL row locks and advisory locks; SQLite
``BEGIN IMMEDIATE`` and byte-range locks), every database call awaited. Waiting for
a named lock polls with ``asyncio.sleep``, so a held lock never blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets as _secrets
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credlti._crypto import KeyRing
from credlti.adapters._ids import check_ids, usable
from credlti.adapters.sql._aio import araw, atransaction, raw_of
from credlti.adapters.sql._async_vault_repos import (
    _ACTIVE,
    AsyncSession,
    async_active,
    async_use,
)
from credlti.adapters.sql._errors import storage_errors
from credlti.adapters.sql._schema import audit_events, oauth_clients, step_activity
from credlti.adapters.sql._vault import (
    _ALL_CLIENTS,
    _SEALED_CLIENTS,
    _check_own_table,
    _ClientSealing,
    _reseal_client,
)
from credlti.adapters.sql._vault_locks import (
    _LOCAL_LOCKS,
    _lock_file,
    _lock_id,
    _lock_offset,
    _sqlite_database_file,
    _timed_out,
    _try_lock_byte,
    _unlock_byte,
)
from credlti.adapters.sql._vault_repos import (
    _AUDIT_FOR,
    _insert_ignoring_statement,
    activity_query,
    purged_event_params,
)
from credlti.adapters.sql._vault_rows import _audit, _audit_values, _ts
from credlti.adapters.sql._vault_sql import INSERT_PURGED, SCAN, credential_row
from credlti.adapters.sql._vault_uow import _begin_sqlite_writer
from credlti.credentials._records import AuditEvent, CredentialRow, OAuthClient

__all__ = [
    "AsyncSqlAuditSink",
    "AsyncSqlOAuthClientRegistry",
    "AsyncSqlStepActivity",
    "AsyncSqlVaultStore",
]


@attrs.define
class AsyncSqlVaultStore:
    """Credentials, shares, OAuth tokens and transfer tokens in SQL tables, for asyncio.

    The async twin of :class:`~credlti.adapters.sql.SqlVaultStore` (same tables, same
    unit-of-work and locking rules) on an engine from
    :func:`~credlti.adapters.sql.open_async_engine`; satisfies
    :class:`credlti.ports.AsyncVaultStore`. A unit of work is one database
    transaction (``async with store.transaction() as tx``); one opened inside
    another in the same asyncio task joins it.

    Args:
        engine: An async engine (see :func:`credlti.adapters.sql.open_async_engine`).
        lock_poll_interval: Longest sleep between attempts while waiting for a named
            lock held elsewhere.
    """

    engine: AsyncEngine
    lock_poll_interval: float = 0.05

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open (or join, in this task) a unit of work.

        Raises:
            StorageUnavailableError: The database failed or is unreachable.
            StorageConflictError: A write broke a uniqueness or integrity rule.
        """
        sessions = _ACTIVE.get() or {}
        outer = sessions.get(self.engine)
        if outer is not None:
            yield outer
            return
        async with atransaction(self.engine, "a vault unit of work") as conn:
            foreign_keys = True
            if self.engine.dialect.name == "sqlite":
                with storage_errors("starting a vault unit of work"):
                    foreign_keys = await conn.run_sync(_begin_sqlite_writer)
            session = AsyncSession(conn, await raw_of(conn), cascade_by_hand=not foreign_keys)
            token = _ACTIVE.set({**sessions, self.engine: session})
            try:
                yield session
                await session.flush_audit()
            finally:
                _ACTIVE.reset(token)

    async def scan_credentials(
        self, *, after_id: str | None, limit: int, due_before: datetime | None = None
    ) -> AsyncIterator[CredentialRow]:
        """Up to *limit* rows with ``id > after_id`` in id order (keyset pagination).

        With *due_before*, only rows whose ``scheduled_deletion <= due_before``. One
        indexed query per call; the rows are then handed out one at a time.
        """
        statement = SCAN[after_id is not None, due_before is not None]
        params: list[Any] = [] if after_id is None else [after_id]
        if due_before is not None:
            params.append(_ts(due_before))
        params.append(limit)
        action = "scanning credentials"
        async with async_use(self.engine, action, write=False) as conn:
            raw = await raw_of(conn)
            rows: list[CredentialRow] = await raw.fetch(statement, params, action, credential_row)
        for row in rows:
            yield row

    @contextlib.asynccontextmanager
    async def lock(self, key: str, *, timeout: float) -> AsyncIterator[None]:
        """Hold the named lock *key* for the block (single flight, e.g. OAuth refresh).

        The same locks as :meth:`SqlVaultStore.lock
        <credlti.adapters.sql.SqlVaultStore.lock>` (sync and async holders exclude
        each other), waited for without blocking the event loop.

        Raises:
            StorageUnavailableError: The lock was not free within *timeout* seconds,
                or the database failed.
        """
        if self.engine.dialect.name == "postgresql":
            async with self._advisory_lock(key, timeout):
                yield
            return
        deadline = time.monotonic() + timeout
        database = _sqlite_database_file(self.engine.sync_engine)
        poll = self.lock_poll_interval
        if database is None:
            async with _LOCAL_LOCKS.ahold((id(self.engine.sync_engine), key), timeout, poll) as got:
                if not got:
                    raise _timed_out(key, timeout)
                yield
            return
        offset = _lock_offset(key)
        async with _LOCAL_LOCKS.ahold((os.path.abspath(database), offset), timeout, poll) as got:
            if not got:
                raise _timed_out(key, timeout)
            fd = _lock_file(database)
            delay = 0.002
            while not _try_lock_byte(fd, offset):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _timed_out(key, timeout)
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, poll)
            try:
                yield
            finally:
                _unlock_byte(fd, offset)

    @contextlib.asynccontextmanager
    async def _advisory_lock(self, key: str, timeout: float) -> AsyncIterator[None]:
        lock_id = _lock_id(key)
        try_lock = sa.select(sa.func.pg_try_advisory_lock(lock_id))
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            # A waiter gives its connection back between attempts (as the sync store).
            with storage_errors("taking a lock"):
                conn = await self.engine.connect()
                try:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    got = bool((await conn.execute(try_lock)).scalar())
                except BaseException:
                    await conn.close()
                    raise
            if got:
                break
            await conn.close()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(key, timeout)
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, self.lock_poll_interval)
        try:
            yield
        finally:
            try:
                await conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_id)))
            except Exception:
                # Closing the session is what frees a session-level lock for sure.
                await conn.invalidate()
            finally:
                await conn.close()


@attrs.define
class AsyncSqlAuditSink:
    """Append-only audit events in ``credlti_audit_events``, for asyncio.

    The async twin of :class:`~credlti.adapters.sql.SqlAuditSink`; satisfies
    :class:`credlti.ports.AsyncAuditSink`. Inside an :class:`AsyncSqlVaultStore`
    unit of work on the same engine (and task), events are written in that
    transaction, at commit; outside one, each event is committed on its own.

    Args:
        engine: The async engine (the store's, to share its transactions).
    """

    engine: AsyncEngine

    async def record(self, event: AuditEvent) -> None:
        """Append one event.

        Raises:
            StorageConflictError: An event with this id exists.
            StorageUnavailableError: The database failed.
        """
        check_ids(
            "recording an audit event",
            id=event.id,
            credential_id=event.credential_id,
            actor_id=event.actor_id,
        )
        session = async_active(self.engine)
        if session is not None:
            session.pending_audit.append(event)
            return
        async with atransaction(self.engine, "recording an audit event") as conn:
            await conn.execute(audit_events.insert(), _audit_values(event))

    async def record_purged(
        self, credential_ids: Sequence[str], *, deleted: Collection[str], at: datetime
    ) -> None:
        """Append the ``purged`` event of each credential a purge batch handled.

        As :meth:`SqlAuditSink.record_purged <credlti.adapters.sql.SqlAuditSink.record_purged>`:
        one ``INSERT ... SELECT`` per outcome, the ids as one parameter.

        Raises:
            StorageInvalidIdError: An id is unusable (nothing is written).
            StorageUnavailableError: The database failed.
        """
        dialect = self.engine.dialect.name
        rows = purged_event_params(credential_ids, deleted=deleted, at=at, dialect=dialect)
        action = "recording purge events"
        session = async_active(self.engine)
        if session is not None:
            await session.flush_audit()  # keep the events in the order they were recorded
            for params in rows:
                await session.raw.execute(INSERT_PURGED, params, action)
            return
        async with araw(self.engine, action) as raw:
            for params in rows:
                await raw.execute(INSERT_PURGED, params, action)

    async def events_for(self, credential_id: str) -> list[AuditEvent]:
        """The credential's events, oldest first."""
        if not usable(credential_id):
            return []
        session = async_active(self.engine)
        if session is not None:
            await session.flush_audit()
        async with async_use(self.engine, "reading audit events", write=False) as conn:
            rows = await conn.execute(_AUDIT_FOR, {"id": credential_id})
            return [_audit(r._mapping) for r in rows]


@attrs.define
class AsyncSqlOAuthClientRegistry(_ClientSealing):
    """OAuth clients in ``credlti_oauth_clients``, for asyncio.

    The async twin of :class:`~credlti.adapters.sql.SqlOAuthClientRegistry` (same
    rows, same sealing); satisfies :class:`credlti.ports.AsyncOAuthClientRegistry`.

    Args:
        engine: The async engine.
        keyring: Encrypts and decrypts the sealed fields (the primary key encrypts).
        random_bytes: ``n -> n random bytes`` for nonces (injectable for tests).
    """

    engine: AsyncEngine
    keyring: KeyRing = attrs.field(repr=False)
    random_bytes: Callable[[int], bytes] = attrs.field(
        default=_secrets.token_bytes, repr=False, kw_only=True
    )

    async def add(self, client: OAuthClient) -> OAuthClient:
        """Register (or replace) a client, every field of it; returns it."""
        check_ids("registering an OAuth client", id=client.id)
        values = self._values(client)
        key = oauth_clients.c.id == client.id
        async with async_use(self.engine, "registering an OAuth client", write=True) as conn:
            changed = await conn.execute(oauth_clients.update().where(key).values(**values))
            if changed.rowcount == 0:
                await conn.execute(oauth_clients.insert().values(id=client.id, **values))
        return client

    async def remove(self, client_id: str) -> bool:
        """Remove a client; True if it existed."""
        if not usable(client_id):
            return False
        async with async_use(self.engine, "removing an OAuth client", write=True) as conn:
            deleted = await conn.execute(
                oauth_clients.delete().where(oauth_clients.c.id == client_id)
            )
            return bool(deleted.rowcount)

    async def get_client(self, client_id: str) -> OAuthClient | None:
        """Return the client registered under *client_id* (our id), or ``None``.

        Raises:
            DecryptionError: The sealed fields do not open with the ring.
        """
        if not usable(client_id):
            return None
        query = sa.select(oauth_clients).where(oauth_clients.c.id == client_id)
        async with async_use(self.engine, "reading an OAuth client", write=False) as conn:
            found = (await conn.execute(query)).first()
        return None if found is None else self._client(found)

    async def clients_for_project(self, project_id: str | None) -> list[OAuthClient]:
        """Clients usable in *project_id* (global ones and the project's own), by name."""
        async with async_use(self.engine, "listing OAuth clients", write=False) as conn:
            rows = (await conn.execute(_ALL_CLIENTS)).all()
        return self._available(rows, project_id)

    async def reencrypt(self) -> int:
        """Reseal every client whose fields the primary key did not seal; return how many.

        Async twin of ``SqlOAuthClientRegistry.reencrypt``.
        """
        async with async_use(self.engine, "re-encrypting OAuth clients", write=True) as conn:
            resealed = self._resealed((await conn.execute(_SEALED_CLIENTS)).all())
            for client_id, ciphertext in resealed:
                await conn.execute(_reseal_client(client_id, ciphertext))
        return len(resealed)


@attrs.define
class AsyncSqlStepActivity:
    """Which credentials runs used, for the purge, for asyncio.

    The async twin of :class:`~credlti.adapters.sql.SqlStepActivity`; satisfies
    :class:`credlti.ports.AsyncStepActivity`.

    Args:
        engine: The async engine.
        column: The column to look credential ids up in (default: the built-in table).
    """

    engine: AsyncEngine
    column: sa.Column[Any] = attrs.field(default=step_activity.c.credential_id)

    def _own_table(self, action: str) -> None:
        _check_own_table(self.column, action)

    async def record(self, credential_id: str) -> None:
        """Note that a step used *credential_id* (idempotent)."""
        check_ids("recording step activity", credential_id=credential_id)
        self._own_table("record()")
        statement = _insert_ignoring_statement(self.engine.dialect.name, step_activity)
        async with async_use(self.engine, "recording step activity", write=True) as conn:
            await conn.execute(statement, {"credential_id": credential_id})

    async def clear(self, credential_id: str) -> None:
        """Forget the credential's activity (as run retention would)."""
        if not usable(credential_id):
            return
        self._own_table("clear()")
        statement = step_activity.delete().where(step_activity.c.credential_id == credential_id)
        async with async_use(self.engine, "clearing step activity", write=True) as conn:
            await conn.execute(statement)

    async def has_activity(self, credential_id: str) -> bool:
        """True if any step used the credential."""
        if not usable(credential_id):
            return False
        return bool(await self.with_activity([credential_id]))

    async def with_activity(self, credential_ids: Sequence[str]) -> set[str]:
        """The subset of *credential_ids* with activity, in one query."""
        ids = [i for i in dict.fromkeys(credential_ids) if usable(i)]
        if not ids:
            return set()
        query, params = activity_query(self.column, ids, self.engine.dialect.name)
        async with async_use(self.engine, "reading step activity", write=False) as conn:
            return set((await conn.execute(query, params)).scalars())
