"""SQL implementations of the credentials-vault ports (SQLAlchemy Core).

:class:`SqlVaultStore` maps each repository of a unit of work to one table and runs
the unit of work in one database transaction. The audit sink, OAuth client registry
and step-activity lookup of this module *join* the store's open transaction when they
are called inside it (same engine, same thread or asyncio task), so an audit row is
committed or rolled back together with the change it describes. Row mapping lives in
``_vault_rows``, statements, repositories and the unit of work in ``_vault_repos``,
and the named-lock machinery in ``_vault_locks``.

Concurrency, per backend:

- **PostgreSQL**: ``get_for_update`` is ``SELECT ... FOR UPDATE`` (a row lock held to
  the end of the transaction); :meth:`SqlVaultStore.lock` is a session-level advisory
  lock (``pg_try_advisory_lock``) on a dedicated connection, so it holds across
  processes and machines.
- **SQLite**: a database has one writer at a time, so every unit of work starts with
  ``BEGIN IMMEDIATE`` (it takes the write lock up front and waits up to the busy
  timeout for it); ``get_for_update`` therefore serialises like a row lock, and no
  transaction can fail half-way because another writer got in between its read and
  its write. :meth:`SqlVaultStore.lock` is a thread lock plus, for database files on
  POSIX systems, a byte-range lock on ``<database>-credlti-locks`` so it also holds
  across processes.
"""

from __future__ import annotations

import contextlib
import os
import secrets as _secrets
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credlti._crypto import NONCE_BYTES, KeyRing, associated_data
from credlti.adapters._ids import check_ids, usable
from credlti.adapters.sql._errors import storage_errors, transaction
from credlti.adapters.sql._schema import (
    audit_events,
    oauth_clients,
    step_activity,
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
    _active,
    _insert_ignoring_conflicts,
    _use,
    activity_query,
    purged_event_params,
)
from credlti.adapters.sql._vault_rows import (
    _audit,
    _audit_values,
    _ts,
)
from credlti.adapters.sql._vault_sql import INSERT_PURGED, SCAN, Raw, credential_row
from credlti.adapters.sql._vault_uow import UnitOfWork
from credlti.credentials._records import (
    AuditEvent,
    ClientAuthMethod,
    CredentialRow,
    OAuthClient,
)
from credlti.errors import ConfigurationError, DecryptionError

__all__ = ["SqlAuditSink", "SqlOAuthClientRegistry", "SqlStepActivity", "SqlVaultStore"]


# --------------------------------------------------------------------------- the store


@attrs.define
class SqlVaultStore:
    """Credentials, project shares, OAuth tokens and transfer tokens in SQL tables.

    Satisfies :class:`credlti.ports.VaultStore` on SQLite (file or memory) and
    PostgreSQL; the tables are created by :func:`credlti.adapters.sql.upgrade`. Safe to
    share between threads; on PostgreSQL (and SQLite files) between processes too.

    A unit of work is one database transaction: everything done through one
    ``with store.transaction() as tx`` block commits together or not at all (a failed
    statement, an exception in the block, or a dropped connection leaves no partial
    state). A transaction opened inside another one on the same thread (or asyncio
    task) joins it. Deleting a credential cascades to its shares, token and transfer
    tokens by foreign keys.

    Args:
        engine: A SQLAlchemy engine, ideally from
            :func:`credlti.adapters.sql.create_engine` (SQLite pragmas, WAL, one shared
            connection for in-memory databases).
        lock_poll_interval: Longest sleep between attempts while waiting for a named
            lock held elsewhere (PostgreSQL and SQLite files).
    """

    engine: Engine
    lock_poll_interval: float = 0.05

    def transaction(self) -> UnitOfWork:
        """Open (or join, on this thread / task) a unit of work: ``with store.transaction() as tx``.

        Raises:
            StorageUnavailableError: The database failed or is unreachable.
            StorageConflictError: A write broke a uniqueness or integrity rule.
        """
        return UnitOfWork(self.engine)

    def scan_credentials(
        self, *, after_id: str | None, limit: int, due_before: datetime | None = None
    ) -> list[CredentialRow]:
        """Up to *limit* rows with ``id > after_id`` in id order (keyset pagination).

        With *due_before*, only rows whose ``scheduled_deletion <= due_before``. Each
        call is one indexed query, so a purge of any size keeps memory bounded.
        """
        statement = SCAN[after_id is not None, due_before is not None]
        params: list[Any] = [] if after_id is None else [after_id]
        if due_before is not None:
            params.append(_ts(due_before))
        params.append(limit)
        action = "scanning credentials"
        with _use(self.engine, action, write=False) as conn:
            raw = Raw(conn)
            try:
                return list(raw.fetch(statement, params, action, credential_row))
            finally:
                raw.close()

    @contextlib.contextmanager
    def lock(self, key: str, *, timeout: float) -> Iterator[None]:
        """Hold the named lock *key* for the block (single flight, e.g. OAuth refresh).

        PostgreSQL: a session-level advisory lock on a dedicated pooled connection
        (held across processes; the server drops it if this process dies). SQLite: a
        thread lock, plus a POSIX byte-range lock for database files.

        Raises:
            StorageUnavailableError: The lock was not free within *timeout* seconds,
                or the database failed.
        """
        if self.engine.dialect.name == "postgresql":
            with self._advisory_lock(key, timeout):
                yield
            return
        deadline = time.monotonic() + timeout
        database = _sqlite_database_file(self.engine)
        if database is None:
            with _LOCAL_LOCKS.hold((id(self.engine), key), timeout) as acquired:
                if not acquired:
                    raise _timed_out(key, timeout)
                yield
            return
        offset = _lock_offset(key)
        # Keyed by the byte offset: two keys sharing one byte serialise, never overlap.
        with _LOCAL_LOCKS.hold((os.path.abspath(database), offset), timeout) as acquired:
            if not acquired:
                raise _timed_out(key, timeout)
            fd = _lock_file(database)
            delay = 0.002
            while not _try_lock_byte(fd, offset):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _timed_out(key, timeout)
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, self.lock_poll_interval)
            try:
                yield
            finally:
                _unlock_byte(fd, offset)

    @contextlib.contextmanager
    def _advisory_lock(self, key: str, timeout: float) -> Iterator[None]:
        lock_id = _lock_id(key)
        try_lock = sa.select(sa.func.pg_try_advisory_lock(lock_id))
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            # A waiter gives its connection back between attempts, so any number of
            # waiting threads never exhausts the pool the holder needs.
            with storage_errors("taking a lock"):
                conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                try:
                    got = bool(conn.execute(try_lock).scalar())
                except BaseException:
                    conn.close()
                    raise
            if got:
                break
            conn.close()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(key, timeout)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, self.lock_poll_interval)
        try:
            yield
        finally:
            try:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_id)))
            except Exception:
                # Never mask the block's own error; closing the session is what
                # frees a session-level lock for sure.
                conn.invalidate()
            finally:
                conn.close()


# --------------------------------------------------------------------------- other ports


@attrs.define
class SqlAuditSink:
    """Append-only audit events in ``credlti_audit_events``.

    Satisfies :class:`credlti.ports.AuditSink`. Inside a :class:`SqlVaultStore` unit of
    work on the same engine, events are written in that transaction (batched, at
    commit): a rolled-back change leaves no audit row, and a failing insert aborts
    the change. Outside one, each event is committed on its own. Rows hold what the
    vault puts in :class:`~credlti.credentials.AuditEvent` -- ids, actions, public
    fields -- never a secret; there is no update or delete.

    Args:
        engine: The engine (the store's, to share its transactions).
    """

    engine: Engine

    def record(self, event: AuditEvent) -> None:
        """Append one event.

        Raises:
            StorageConflictError: An event with this id exists (at commit, in a unit
                of work).
            StorageUnavailableError: The database failed.
        """
        check_ids(
            "recording an audit event",
            id=event.id,
            credential_id=event.credential_id,
            actor_id=event.actor_id,
        )
        session = _active(self.engine)
        if session is not None:
            session.pending_audit.append(event)
            return
        with transaction(self.engine, "recording an audit event") as conn:
            conn.execute(audit_events.insert(), _audit_values(event))

    def record_purged(
        self, credential_ids: Sequence[str], *, deleted: Collection[str], at: datetime
    ) -> None:
        """Append the ``purged`` event of each credential a purge batch handled.

        One ``INSERT ... SELECT`` per outcome (deleted or kept) over the ids passed
        as a single parameter; the database picks the event ids (random UUIDs).

        Raises:
            StorageInvalidIdError: An id is unusable (nothing is written).
            StorageUnavailableError: The database failed.
        """
        dialect = self.engine.dialect.name
        rows = purged_event_params(credential_ids, deleted=deleted, at=at, dialect=dialect)
        action = "recording purge events"
        session = _active(self.engine)
        with contextlib.ExitStack() as stack:
            if session is not None:
                session.flush_audit()  # keep the events in the order they were recorded
                raw = session.raw
            else:
                raw = Raw(stack.enter_context(transaction(self.engine, action)))
                stack.callback(raw.close)
            for params in rows:
                raw.execute(INSERT_PURGED, params, action)

    def events_for(self, credential_id: str) -> list[AuditEvent]:
        """The credential's events, oldest first."""
        if not usable(credential_id):
            return []
        session = _active(self.engine)
        if session is not None:
            session.flush_audit()
        with _use(self.engine, "reading audit events", write=False) as conn:
            return [_audit(r._mapping) for r in conn.execute(_AUDIT_FOR, {"id": credential_id})]


_SEALED_CLIENTS = sa.select(oauth_clients).where(
    oauth_clients.c.client_secret_ciphertext.is_not(None)
)


def _reseal_client(client_id: str, ciphertext: bytes) -> sa.Update:
    return (
        oauth_clients.update()
        .where(oauth_clients.c.id == client_id)
        .values(client_secret_ciphertext=ciphertext)
    )


_SEALED_FORMAT = 2
"""Version of the JSON object sealed in ``client_secret_ciphertext``."""


def _sealed_fields(client: OAuthClient) -> dict[str, Any]:
    """The JSON object sealed for *client*: its secret and authorization metadata."""
    return {
        "v": _SEALED_FORMAT,
        "secret": client.client_secret,
        "authorization_endpoint": client.authorization_endpoint,
        "userinfo_endpoint": client.userinfo_endpoint,
        "mandatory_scopes": list(client.mandatory_scopes),
        "optional_scopes": list(client.optional_scopes),
        "is_global": client.is_global,
        "project_ids": sorted(client.project_ids),
    }


def _unsealed_fields(client_id: str, document: Any) -> dict[str, Any]:
    """``OAuthClient`` keyword arguments from an opened sealed value.

    Two formats exist: a bare JSON string (the secret alone, written before the
    metadata was stored) and the versioned object of :func:`_sealed_fields`.
    """
    if isinstance(document, str):
        return {"client_secret": document}
    if isinstance(document, dict) and document.get("v") == _SEALED_FORMAT:
        with contextlib.suppress(KeyError, TypeError):
            return {
                "client_secret": document["secret"],
                "authorization_endpoint": document["authorization_endpoint"],
                "userinfo_endpoint": document["userinfo_endpoint"],
                "mandatory_scopes": tuple(document["mandatory_scopes"]),
                "optional_scopes": tuple(document["optional_scopes"]),
                "is_global": bool(document["is_global"]),
                "project_ids": frozenset(document["project_ids"]),
            }
    msg = "the sealed OAuth client record has an unknown format"
    raise DecryptionError(msg, details={"client": client_id})


class _ClientSealing:
    """Sealing and row mapping shared by the sync and async OAuth client registries."""

    keyring: KeyRing
    random_bytes: Callable[[int], bytes]

    def _seal(self, client_id: str, document: dict[str, Any]) -> bytes:
        aad = associated_data("oauth_client", client_id, "client_secret")
        return self.keyring.encrypt_json(document, aad, nonce=self.random_bytes(NONCE_BYTES))

    def _open(self, client_id: str, ciphertext: Any) -> dict[str, Any]:
        if ciphertext is None:
            return {}
        aad = associated_data("oauth_client", client_id, "client_secret")
        return _unsealed_fields(client_id, self.keyring.decrypt_json(bytes(ciphertext), aad))

    def _client(self, row: Any) -> OAuthClient:
        m = row._mapping
        return OAuthClient(
            id=m["id"],
            client_id=m["client_id"],
            token_endpoint=m["token_endpoint"],
            revocation_endpoint=m["revocation_endpoint"],
            auth_method=ClientAuthMethod(m["auth_method"]),
            name=m["name"],
            **self._open(m["id"], m["client_secret_ciphertext"]),
        )

    def _values(self, client: OAuthClient) -> dict[str, Any]:
        """The row of *client* (other than its id), the sealed fields sealed."""
        return {
            "client_id": client.client_id,
            "client_secret_ciphertext": self._seal(client.id, _sealed_fields(client)),
            "token_endpoint": client.token_endpoint,
            "revocation_endpoint": client.revocation_endpoint,
            "auth_method": client.auth_method.value,
            "name": client.name,
        }

    def _resealed(self, rows: Sequence[Any]) -> list[tuple[str, bytes]]:
        """``(client id, new ciphertext)`` of the rows sealed under an older ring key."""
        out = []
        for row in rows:
            if (
                self.keyring.key_id_of(bytes(row.client_secret_ciphertext))
                == self.keyring.primary_id
            ):
                continue
            client = self._client(row)
            out.append((client.id, self._seal(client.id, _sealed_fields(client))))
        return out

    def _available(self, rows: Sequence[Any], project_id: str | None) -> list[OAuthClient]:
        """The clients among *rows* usable in *project_id*, by name."""
        found = [c for c in map(self._client, rows) if c.available_in(project_id)]
        return sorted(found, key=lambda c: (c.name.lower(), c.id))


_ALL_CLIENTS = sa.select(oauth_clients).order_by(oauth_clients.c.id)


@attrs.define
class SqlOAuthClientRegistry(_ClientSealing):
    """OAuth clients in ``credlti_oauth_clients``, secrets and metadata encrypted at rest.

    Satisfies :class:`credlti.ports.OAuthClientRegistry`. The client secret and the
    authorization-code metadata (authorize and userinfo endpoints, scopes,
    per-project availability) are sealed together as one JSON object in
    ``client_secret_ciphertext``: AES-256-GCM under *keyring* (use the vault's),
    bound by associated data to the client's id, so a copied ciphertext does not
    open in another row. The metadata is therefore not queryable in SQL;
    :meth:`clients_for_project` decrypts every row.

    Args:
        engine: The engine.
        keyring: Encrypts and decrypts the sealed fields (the primary key encrypts).
        random_bytes: ``n -> n random bytes`` for nonces (injectable for tests).
    """

    engine: Engine
    keyring: KeyRing = attrs.field(repr=False)
    random_bytes: Callable[[int], bytes] = attrs.field(
        default=_secrets.token_bytes, repr=False, kw_only=True
    )

    def add(self, client: OAuthClient) -> OAuthClient:
        """Register (or replace) a client, every field of it; returns it."""
        check_ids("registering an OAuth client", id=client.id)
        values = self._values(client)
        key = oauth_clients.c.id == client.id
        with _use(self.engine, "registering an OAuth client", write=True) as conn:
            if conn.execute(oauth_clients.update().where(key).values(**values)).rowcount == 0:
                conn.execute(oauth_clients.insert().values(id=client.id, **values))
        return client

    def remove(self, client_id: str) -> bool:
        """Remove a client; True if it existed."""
        if not usable(client_id):
            return False
        with _use(self.engine, "removing an OAuth client", write=True) as conn:
            deleted = conn.execute(oauth_clients.delete().where(oauth_clients.c.id == client_id))
            return bool(deleted.rowcount)

    def get_client(self, client_id: str) -> OAuthClient | None:
        """Return the client registered under *client_id* (our id), or ``None``.

        Raises:
            DecryptionError: The sealed fields were made with a key missing from the
                ring, or do not open for this row (altered, or copied from another).
        """
        if not usable(client_id):
            return None
        query = sa.select(oauth_clients).where(oauth_clients.c.id == client_id)
        with _use(self.engine, "reading an OAuth client", write=False) as conn:
            found = conn.execute(query).first()
        return None if found is None else self._client(found)

    def clients_for_project(self, project_id: str | None) -> list[OAuthClient]:
        """Clients usable in *project_id* (global ones and the project's own), by name.

        Availability is sealed with the secret, so this reads and decrypts every
        registered client (one query, one decryption per client): fine for the
        tens or hundreds of clients a deployment registers, not meant for a hot loop
        over thousands.

        Raises:
            DecryptionError: A client's sealed fields do not open with the ring.
        """
        with _use(self.engine, "listing OAuth clients", write=False) as conn:
            rows = conn.execute(_ALL_CLIENTS).all()
        return self._available(rows, project_id)

    def reencrypt(self) -> int:
        """Reseal every client whose fields the primary key did not seal; return how many.

        The secret and metadata are kept (a row in the older secret-only format is
        rewritten in the current format). Rows with nothing sealed are left alone.
        """
        with _use(self.engine, "re-encrypting OAuth clients", write=True) as conn:
            resealed = self._resealed(conn.execute(_SEALED_CLIENTS).all())
            for client_id, ciphertext in resealed:
                conn.execute(_reseal_client(client_id, ciphertext))
        return len(resealed)


def _check_own_table(column: sa.Column[Any], action: str) -> None:
    """Refuse a write to the built-in activity table when the host's column is used."""
    if column.table is not step_activity:
        msg = f"{action} writes credlti_step_activity; record runs in your own table instead"
        raise ConfigurationError(msg)


@attrs.define
class SqlStepActivity:
    """Which credentials runs used, for the purge (:class:`credlti.ports.StepActivity`).

    By default it reads and writes ``credlti_step_activity``. Hosts that already
    record runs pass *column*: any column of their own tables holding credential ids
    (``runs.c.credential_id``); the lookups then query it directly, and
    :meth:`record` / :meth:`clear` (which write the built-in table) are refused.

    Args:
        engine: The engine.
        column: The column to look credential ids up in.
    """

    engine: Engine
    column: sa.Column[Any] = attrs.field(default=step_activity.c.credential_id)

    def _own_table(self, action: str) -> None:
        _check_own_table(self.column, action)

    def record(self, credential_id: str) -> None:
        """Note that a step used *credential_id* (idempotent)."""
        check_ids("recording step activity", credential_id=credential_id)
        self._own_table("record()")
        with _use(self.engine, "recording step activity", write=True) as conn:
            _insert_ignoring_conflicts(conn, step_activity, {"credential_id": credential_id})

    def clear(self, credential_id: str) -> None:
        """Forget the credential's activity (as run retention would)."""
        if not usable(credential_id):
            return
        self._own_table("clear()")
        statement = step_activity.delete().where(step_activity.c.credential_id == credential_id)
        with _use(self.engine, "clearing step activity", write=True) as conn:
            conn.execute(statement)

    def has_activity(self, credential_id: str) -> bool:
        """True if any step used the credential."""
        if not usable(credential_id):
            return False
        return bool(self.with_activity([credential_id]))

    def with_activity(self, credential_ids: Sequence[str]) -> set[str]:
        """The subset of *credential_ids* with activity, in one query.

        The ids are one list parameter (a JSON array read with ``json_each`` on
        SQLite, a text array with ``= ANY`` on PostgreSQL), whatever their number.
        """
        ids = [i for i in dict.fromkeys(credential_ids) if usable(i)]
        if not ids:
            return set()
        query, params = activity_query(self.column, ids, self.engine.dialect.name)
        with _use(self.engine, "reading step activity", write=False) as conn:
            return set(conn.execute(query, params).scalars())
