"""SQL implementations of the credentials-vault ports (SQLAlchemy Core).

:class:`SqlVaultStore` maps each repository of a unit of work to one table and runs
the unit of work in one database transaction. The audit sink, OAuth client registry
and step-activity lookup of this module *join* the store's open transaction when they
are called inside it (same engine, same thread or asyncio task), so an audit row is
committed or rolled back together with the change it describes.

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
import hashlib
import os
import secrets as _secrets
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from credlti._crypto import NONCE_BYTES, KeyRing, associated_data
from credlti.adapters.sql._errors import read, storage_errors, transaction
from credlti.adapters.sql._schema import (
    audit_events,
    credentials,
    oauth_clients,
    oauth_tokens,
    project_shares,
    step_activity,
    transfer_tokens,
)
from credlti.credentials._records import (
    AuditAction,
    AuditEvent,
    ClientAuthMethod,
    CredentialRow,
    OAuthClient,
    OAuthTokenRow,
    ProjectShare,
    ScrubbedRow,
    TransferStatus,
    TransferTokenRow,
)
from credlti.errors import ConfigurationError, StorageConflictError, StorageUnavailableError

__all__ = ["SqlAuditSink", "SqlOAuthClientRegistry", "SqlStepActivity", "SqlVaultStore"]

# Rows per ``IN (...)`` list: well under SQLite's and PostgreSQL's parameter limits.
_IN_CHUNK = 500


# --------------------------------------------------------------------------- conversions


def _ts(value: datetime) -> float:
    return value.timestamp()


def _ts_or_none(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, timezone.utc)


def _dt_or_none(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _bytes_or_none(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _credential_values(row: CredentialRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "schema": row.schema,
        "owner_id": row.owner_id,
        "body_ciphertext": row.body_ciphertext,
        "production": row.production,
        "external_id": row.external_id,
        "transfer_status": None if row.transfer_status is None else row.transfer_status.value,
        "scheduled_deletion": _ts_or_none(row.scheduled_deletion),
        "oauth_client_id": row.oauth_client_id,
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
    }


def _credential(m: sa.RowMapping) -> CredentialRow:
    status = m["transfer_status"]
    return CredentialRow(
        id=m["id"],
        name=m["name"],
        schema=m["schema"],
        owner_id=m["owner_id"],
        body_ciphertext=_bytes_or_none(m["body_ciphertext"]),
        production=bool(m["production"]),
        external_id=m["external_id"],
        transfer_status=None if status is None else TransferStatus(status),
        scheduled_deletion=_dt_or_none(m["scheduled_deletion"]),
        oauth_client_id=m["oauth_client_id"],
        created_at=_dt(m["created_at"]),
        updated_at=_dt(m["updated_at"]),
    )


def _share(m: sa.RowMapping) -> ProjectShare:
    return ProjectShare(
        id=m["id"],
        credential_id=m["credential_id"],
        project_id=m["project_id"],
        created_at=_dt(m["created_at"]),
    )


def _token_values(row: OAuthTokenRow) -> dict[str, Any]:
    return {
        "credential_id": row.credential_id,
        "client_id": row.client_id,
        "ciphertext": row.ciphertext,
        "token_type": row.token_type,
        "scopes": list(row.scopes),
        "expires_at": _ts_or_none(row.expires_at),
        "last_refreshed": _ts(row.last_refreshed),
        "version": row.version,
    }


def _token(m: sa.RowMapping) -> OAuthTokenRow:
    return OAuthTokenRow(
        credential_id=m["credential_id"],
        client_id=m["client_id"],
        ciphertext=bytes(m["ciphertext"]),
        token_type=m["token_type"],
        scopes=tuple(m["scopes"]),
        expires_at=_dt_or_none(m["expires_at"]),
        last_refreshed=_dt(m["last_refreshed"]),
        version=int(m["version"]),
    )


def _transfer(m: sa.RowMapping) -> TransferTokenRow:
    return TransferTokenRow(
        id=m["id"],
        credential_id=m["credential_id"],
        owner_id=m["owner_id"],
        receiver_id=m["receiver_id"],
        token_hash=bytes(m["token_hash"]),
        created_at=_dt(m["created_at"]),
        expires_at=_dt(m["expires_at"]),
    )


def _audit_values(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "action": event.action.value,
        "credential_id": event.credential_id,
        "actor_id": event.actor_id,
        "at": _ts(event.at),
        "changes": dict(event.changes),
        "metadata": dict(event.metadata),
        "item_type": event.item_type,
    }


def _audit(m: sa.RowMapping) -> AuditEvent:
    return AuditEvent(
        id=m["id"],
        action=AuditAction(m["action"]),
        credential_id=m["credential_id"],
        actor_id=m["actor_id"],
        at=_dt(m["at"]),
        changes=m["changes"],
        metadata=m["metadata"],
        item_type=m["item_type"],
    )


def _insert_ignoring_conflicts(conn: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """Insert a row unless it breaks a uniqueness rule; True if it was inserted.

    ``ON CONFLICT DO NOTHING`` keeps a PostgreSQL transaction usable after a
    duplicate (a failed statement would abort it), so a conflict is reported without
    poisoning the unit of work.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        statement: sa.Executable = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - other dialects: the unique index decides
        statement = table.insert()
    # rowcount of an INSERT is only kept on request (SQLAlchemy 2.0.28+).
    statement = statement.execution_options(preserve_rowcount=True)
    return bool(conn.execute(statement, values).rowcount == 1)


# --------------------------------------------------------------------------- statements
#
# Built once: SQLAlchemy then reuses their compiled form on every call.

_c = credentials.c
_GET_CREDENTIAL = sa.select(credentials).where(_c.id == sa.bindparam("id"))
_LOCK_CREDENTIAL = _GET_CREDENTIAL.with_for_update()
_CREDENTIAL_EXISTS = sa.select(sa.literal(1)).where(_c.id == sa.bindparam("id"))
_other = credentials.alias("other")
_UPDATE_CREDENTIAL = (
    credentials.update()
    .where(_c.id == sa.bindparam("key"))
    .where(
        ~sa.select(sa.literal(1))
        .where(
            (_other.c.owner_id == sa.bindparam("check_owner"))
            & (_other.c.name == sa.bindparam("check_name"))
            & (_other.c.id != sa.bindparam("key"))
        )
        .exists()
    )
)
_DELETE_CREDENTIAL = credentials.delete().where(_c.id == sa.bindparam("id"))
_SHARES_OF = (
    sa.select(project_shares)
    .where(project_shares.c.credential_id == sa.bindparam("id"))
    .order_by(project_shares.c.created_at, project_shares.c.id)
)
_DELETE_SHARES_OF = project_shares.delete().where(
    project_shares.c.credential_id == sa.bindparam("id")
)
_GET_SHARE = sa.select(project_shares).where(project_shares.c.id == sa.bindparam("id"))
_DELETE_SHARE = project_shares.delete().where(project_shares.c.id == sa.bindparam("id"))
_GET_TOKEN = sa.select(oauth_tokens).where(oauth_tokens.c.credential_id == sa.bindparam("id"))
_DELETE_TOKEN = oauth_tokens.delete().where(oauth_tokens.c.credential_id == sa.bindparam("id"))
_CAS_TOKEN = oauth_tokens.update().where(
    (oauth_tokens.c.credential_id == sa.bindparam("key"))
    & (oauth_tokens.c.version == sa.bindparam("expected"))
)
_TRANSFERS_OF = (
    sa.select(transfer_tokens)
    .where(transfer_tokens.c.credential_id == sa.bindparam("id"))
    .order_by(transfer_tokens.c.created_at, transfer_tokens.c.id)
)
_DELETE_TRANSFERS = transfer_tokens.delete().where(
    transfer_tokens.c.credential_id == sa.bindparam("id")
)
_AUDIT_FOR = (
    sa.select(audit_events)
    .where(audit_events.c.credential_id == sa.bindparam("id"))
    .order_by(audit_events.c.seq)
)


# --------------------------------------------------------------------------- repositories


class _Credentials:
    """:class:`~credlti.ports.CredentialRepository` on ``credlti_credentials``."""

    def __init__(self, session: _Session) -> None:
        self._s = session

    def _fetch(
        self, statement: sa.Executable, credential_id: str, action: str
    ) -> CredentialRow | None:
        with storage_errors(action):
            found = self._s.conn.execute(statement, {"id": credential_id}).first()
        return None if found is None else _credential(found._mapping)

    def get(self, credential_id: str) -> CredentialRow | None:
        return self._fetch(_GET_CREDENTIAL, credential_id, "reading a credential")

    def get_for_update(self, credential_id: str) -> CredentialRow | None:
        # PostgreSQL: FOR UPDATE row lock. SQLite: the unit of work already holds the
        # database's write lock (BEGIN IMMEDIATE), and FOR UPDATE is not rendered.
        return self._fetch(_LOCK_CREDENTIAL, credential_id, "locking a credential")

    def _exists(self, credential_id: str) -> bool:
        return self._s.conn.execute(_CREDENTIAL_EXISTS, {"id": credential_id}).first() is not None

    def add(self, row: CredentialRow) -> None:
        with storage_errors("adding a credential"):
            if _insert_ignoring_conflicts(self._s.conn, credentials, _credential_values(row)):
                return
            field = "id" if self._exists(row.id) else "name"
        message = (
            "a credential with this id already exists"
            if field == "id"
            else "the owner already has a credential with this name"
        )
        raise StorageConflictError(message, details={"field": field})

    def update(self, row: CredentialRow) -> None:
        # The SET clause comes from the column-named parameters.
        params = _credential_values(row)
        del params["id"]
        params.update(key=row.id, check_owner=row.owner_id, check_name=row.name)
        with storage_errors("updating a credential"):
            if self._s.conn.execute(_UPDATE_CREDENTIAL, params).rowcount == 1:
                return
            exists = self._exists(row.id)
        if not exists:
            msg = "the credential to update no longer exists"
            raise StorageConflictError(msg, details={"field": "id"})
        msg = "the owner already has a credential with this name"
        raise StorageConflictError(msg, details={"field": "name"})

    def delete(self, credential_id: str) -> bool:
        # Shares, token and transfer tokens go by ON DELETE CASCADE.
        params = {"id": credential_id}
        with storage_errors("deleting a credential"):
            if self._s.cascade_by_hand:
                for statement in (_DELETE_SHARES_OF, _DELETE_TOKEN, _DELETE_TRANSFERS):
                    self._s.conn.execute(statement, params)
            return bool(self._s.conn.execute(_DELETE_CREDENTIAL, params).rowcount)

    def scrub_due(
        self, credential_ids: Sequence[str], *, now: datetime, delete: Collection[str]
    ) -> list[ScrubbedRow]:
        out: list[ScrubbedRow] = []
        for start in range(0, len(credential_ids), _IN_CHUNK):
            chunk = credential_ids[start : start + _IN_CHUNK]
            out += self._scrub_chunk(chunk, now=now, delete=delete)
        return out

    def _scrub_chunk(
        self, credential_ids: Sequence[str], *, now: datetime, delete: Collection[str]
    ) -> list[ScrubbedRow]:
        # Set-based: lock the chunk's due rows, then a few statements for all of them.
        ts, conn = _ts(now), self._s.conn
        due_query = (
            sa.select(_c.id, _c.body_ciphertext.is_not(None).label("has_body"))
            .where(
                _c.id.in_(list(credential_ids))
                & _c.scheduled_deletion.is_not(None)
                & (_c.scheduled_deletion <= ts)
            )
            .with_for_update()
        )
        with storage_errors("purging credentials"):
            due = {row.id: bool(row.has_body) for row in conn.execute(due_query)}
            if not due:
                return []
            ids = list(due)
            token_of = oauth_tokens.c.credential_id
            with_token = set(conn.execute(sa.select(token_of).where(token_of.in_(ids))).scalars())
            conn.execute(oauth_tokens.delete().where(token_of.in_(ids)))
            conn.execute(transfer_tokens.delete().where(transfer_tokens.c.credential_id.in_(ids)))
            doomed = [i for i in ids if i in delete]
            if doomed:
                if self._s.cascade_by_hand:
                    shares_of = project_shares.c.credential_id
                    conn.execute(project_shares.delete().where(shares_of.in_(doomed)))
                conn.execute(credentials.delete().where(_c.id.in_(doomed)))
            scrub = [i for i in ids if i not in delete and (due[i] or i in with_token)]
            if scrub:
                conn.execute(
                    credentials.update()
                    .where(_c.id.in_(scrub))
                    .values(body_ciphertext=None, updated_at=ts)
                )
        return [
            ScrubbedRow(i, due[i] or i in with_token, i in delete)
            for i in credential_ids
            if i in due
        ]

    def find(
        self, *, owner_id: str | None = None, project_id: str | None = None
    ) -> list[CredentialRow]:
        query = sa.select(credentials)
        if owner_id is not None:
            query = query.where(_c.owner_id == owner_id)
        if project_id is not None:
            shared = sa.select(project_shares.c.credential_id).where(
                project_shares.c.project_id == project_id
            )
            query = query.where(_c.id.in_(shared))
        query = query.order_by(sa.func.lower(_c.name), _c.id)
        with storage_errors("listing credentials"):
            return [_credential(r._mapping) for r in self._s.conn.execute(query)]


class _Shares:
    """:class:`~credlti.ports.ShareRepository` on ``credlti_project_shares``."""

    def __init__(self, session: _Session) -> None:
        self._s = session

    def add(self, share: ProjectShare) -> None:
        values = {
            "id": share.id,
            "credential_id": share.credential_id,
            "project_id": share.project_id,
            "created_at": _ts(share.created_at),
        }
        with storage_errors("sharing a credential with a project"):
            inserted = _insert_ignoring_conflicts(self._s.conn, project_shares, values)
        if not inserted:
            msg = "credential already added to this project"
            raise StorageConflictError(msg, details={"field": "project_id"})

    def remove(self, share_id: str) -> bool:
        with storage_errors("removing a project share"):
            return bool(self._s.conn.execute(_DELETE_SHARE, {"id": share_id}).rowcount)

    def get(self, share_id: str) -> ProjectShare | None:
        with storage_errors("reading a project share"):
            found = self._s.conn.execute(_GET_SHARE, {"id": share_id}).first()
        return None if found is None else _share(found._mapping)

    def for_credential(self, credential_id: str) -> list[ProjectShare]:
        with storage_errors("reading project shares"):
            return [
                _share(r._mapping) for r in self._s.conn.execute(_SHARES_OF, {"id": credential_id})
            ]


class _Tokens:
    """:class:`~credlti.ports.OAuthTokenRepository` on ``credlti_oauth_tokens``."""

    def __init__(self, session: _Session) -> None:
        self._s = session

    def get(self, credential_id: str) -> OAuthTokenRow | None:
        with storage_errors("reading an OAuth token"):
            found = self._s.conn.execute(_GET_TOKEN, {"id": credential_id}).first()
        return None if found is None else _token(found._mapping)

    def put(self, row: OAuthTokenRow) -> None:
        values = _token_values(row)
        conn = self._s.conn
        with storage_errors("storing an OAuth token"):
            dialect = conn.dialect.name
            if dialect in {"postgresql", "sqlite"}:
                insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
                    oauth_tokens
                )
                update = {k: v for k, v in values.items() if k != "credential_id"}
                conn.execute(
                    insert.on_conflict_do_update(index_elements=["credential_id"], set_=update),
                    values,
                )
            else:  # pragma: no cover - other dialects: delete, then insert
                conn.execute(_DELETE_TOKEN, {"id": row.credential_id})
                conn.execute(oauth_tokens.insert(), values)

    def compare_and_set(self, row: OAuthTokenRow, *, expected_version: int) -> bool:
        params = _token_values(row)
        del params["credential_id"]
        params.update(key=row.credential_id, expected=expected_version)
        with storage_errors("replacing an OAuth token"):
            return bool(self._s.conn.execute(_CAS_TOKEN, params).rowcount == 1)

    def delete(self, credential_id: str) -> bool:
        with storage_errors("deleting an OAuth token"):
            return bool(self._s.conn.execute(_DELETE_TOKEN, {"id": credential_id}).rowcount)


class _Transfers:
    """:class:`~credlti.ports.TransferTokenRepository` on ``credlti_transfer_tokens``."""

    def __init__(self, session: _Session) -> None:
        self._s = session

    def add(self, row: TransferTokenRow) -> None:
        values = {
            "id": row.id,
            "credential_id": row.credential_id,
            "owner_id": row.owner_id,
            "receiver_id": row.receiver_id,
            "token_hash": row.token_hash,
            "created_at": _ts(row.created_at),
            "expires_at": _ts(row.expires_at),
        }
        with storage_errors("storing a transfer token"):
            self._s.conn.execute(transfer_tokens.insert(), values)

    def for_credential(self, credential_id: str) -> list[TransferTokenRow]:
        with storage_errors("reading transfer tokens"):
            rows = self._s.conn.execute(_TRANSFERS_OF, {"id": credential_id})
            return [_transfer(r._mapping) for r in rows]

    def delete_for_credential(self, credential_id: str) -> int:
        with storage_errors("deleting transfer tokens"):
            return int(self._s.conn.execute(_DELETE_TRANSFERS, {"id": credential_id}).rowcount)


class _Session:
    """The repositories of one unit of work, all on one connection and transaction."""

    def __init__(self, conn: Connection, *, cascade_by_hand: bool = False) -> None:
        self.conn = conn
        #: SQLite with foreign keys off: delete a credential's children explicitly.
        self.cascade_by_hand = cascade_by_hand
        #: Audit rows recorded in this unit of work, inserted in one batch at commit.
        self.pending_audit: list[dict[str, Any]] = []
        self.credentials = _Credentials(self)
        self.shares = _Shares(self)
        self.oauth_tokens = _Tokens(self)
        self.transfers = _Transfers(self)

    def flush_audit(self) -> None:
        """Insert the buffered audit rows (before commit, or before reading them)."""
        if self.pending_audit:
            rows, self.pending_audit = self.pending_audit, []
            with storage_errors("recording audit events"):
                self.conn.execute(audit_events.insert(), rows)


# A write that changes nothing but takes SQLite's write lock (see _begin_sqlite_writer).
_TAKE_WRITE_LOCK = credentials.update().where(_c.id.is_(None)).values(id=_c.id)


def _begin_sqlite_writer(conn: Connection) -> bool:
    """Start the SQLite unit of work holding the write lock; return whether FKs are on.

    Normally: ``PRAGMA foreign_keys=ON`` (cascades need it, whatever engine the host
    built; it is ignored inside a transaction) then ``BEGIN IMMEDIATE``. When the
    engine has already begun the transaction itself (SQLAlchemy's ``BEGIN`` event
    recipe, or sqlite3's ``autocommit=False``), a first write that changes nothing
    takes the same lock.
    """
    if not getattr(conn.connection.dbapi_connection, "in_transaction", False):
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return True
    conn.execute(_TAKE_WRITE_LOCK)
    return bool(conn.exec_driver_sql("PRAGMA foreign_keys").scalar())


# The open unit of work of each engine in this thread / asyncio task.
_ACTIVE: ContextVar[dict[Engine, _Session] | None] = ContextVar(
    "credlti_sql_vault_sessions", default=None
)


def _active(engine: Engine) -> _Session | None:
    sessions = _ACTIVE.get()
    return None if sessions is None else sessions.get(engine)


@contextlib.contextmanager
def _use(engine: Engine, action: str, *, write: bool) -> Iterator[Connection]:
    """The connection of the open unit of work on *engine*, else a short one of our own."""
    session = _active(engine)
    if session is not None:
        with storage_errors(action):
            yield session.conn
        return
    with (transaction if write else read)(engine, action) as conn:
        yield conn


# --------------------------------------------------------------------------- named locks


def _lock_id(key: str) -> int:
    """A stable signed 64-bit id for an advisory lock (PostgreSQL's bigint)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"credlti-lock").digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_offset(key: str) -> int:
    """A byte offset (below 2**31) for a POSIX byte-range lock."""
    digest = hashlib.blake2b(key.encode(), digest_size=4, person=b"credlti-lock").digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


class _LocalLocks:
    """Reference-counted thread locks by identity (entries vanish when unused)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[object, list[Any]] = {}

    @contextlib.contextmanager
    def hold(self, ident: object, timeout: float) -> Iterator[bool]:
        with self._guard:
            entry = self._locks.setdefault(ident, [threading.Lock(), 0])
            entry[1] += 1
        lock: threading.Lock = entry[0]
        acquired = lock.acquire(timeout=max(timeout, 0))
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[ident]


_LOCAL_LOCKS = _LocalLocks()
_LOCK_FILES: dict[str, int] = {}
_LOCK_FILES_GUARD = threading.Lock()


def _lock_file(database: str) -> int:
    """The process-wide descriptor of ``<database>-credlti-locks`` (never closed).

    POSIX record locks belong to the process and vanish when *any* descriptor of the
    file is closed, so each process opens the file once and keeps it open.
    """
    path = os.path.abspath(database) + "-credlti-locks"
    with _LOCK_FILES_GUARD:
        fd = _LOCK_FILES.get(path)
        if fd is None:
            fd = _LOCK_FILES[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return fd


if sys.platform == "win32":  # pragma: no cover - no POSIX record locks

    def _sqlite_database_file(engine: Engine) -> str | None:
        return None  # the named lock is process-local

    def _try_lock_byte(fd: int, offset: int) -> bool:
        return True

    def _unlock_byte(fd: int, offset: int) -> None:
        return None

else:
    import fcntl

    def _sqlite_database_file(engine: Engine) -> str | None:
        database = engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        if "mode=memory" in str(engine.url):
            return None
        return database

    def _try_lock_byte(fd: int, offset: int) -> bool:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except OSError:
            return False
        return True

    def _unlock_byte(fd: int, offset: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)


def _timed_out(key: str, timeout: float) -> StorageUnavailableError:
    msg = f"timed out after {timeout}s waiting for lock {key!r}"
    return StorageUnavailableError(msg, details={"lock": key})


# --------------------------------------------------------------------------- the store


@attrs.define
class SqlVaultStore:
    """Credentials, project shares, OAuth tokens and transfer tokens in SQL tables.

    Satisfies :class:`credlti.ports.VaultStore` on SQLite (file or memory) and
    PostgreSQL; the tables are created by :func:`credlti.adapters.sql.upgrade` (schema
    version 2). Safe to share between threads; on PostgreSQL (and SQLite files) between
    processes too.

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

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_Session]:
        """Open (or join, on this thread / task) a unit of work.

        Raises:
            StorageUnavailableError: The database failed or is unreachable.
            StorageConflictError: A write broke a uniqueness or integrity rule.
        """
        sessions = _ACTIVE.get() or {}
        outer = sessions.get(self.engine)
        if outer is not None:
            yield outer
            return
        sqlite_db = self.engine.dialect.name == "sqlite"
        with transaction(self.engine, "a vault unit of work") as conn:
            foreign_keys = True
            if sqlite_db:
                with storage_errors("starting a vault unit of work"):
                    foreign_keys = _begin_sqlite_writer(conn)
            session = _Session(conn, cascade_by_hand=not foreign_keys)
            token = _ACTIVE.set({**sessions, self.engine: session})
            try:
                yield session
                session.flush_audit()
            finally:
                _ACTIVE.reset(token)

    def scan_credentials(
        self, *, after_id: str | None, limit: int, due_before: datetime | None = None
    ) -> list[CredentialRow]:
        """Up to *limit* rows with ``id > after_id`` in id order (keyset pagination).

        With *due_before*, only rows whose ``scheduled_deletion <= due_before``. Each
        call is one indexed query, so a purge of any size keeps memory bounded.
        """
        query = sa.select(credentials)
        if after_id is not None:
            query = query.where(_c.id > after_id)
        if due_before is not None:
            query = query.where(_c.scheduled_deletion <= _ts(due_before))
        query = query.order_by(_c.id).limit(limit)
        with _use(self.engine, "scanning credentials", write=False) as conn:
            return [_credential(r._mapping) for r in conn.execute(query)]

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
        values = _audit_values(event)
        session = _active(self.engine)
        if session is not None:
            session.pending_audit.append(values)
            return
        with transaction(self.engine, "recording an audit event") as conn:
            conn.execute(audit_events.insert(), values)

    def events_for(self, credential_id: str) -> list[AuditEvent]:
        """The credential's events, oldest first."""
        session = _active(self.engine)
        if session is not None:
            session.flush_audit()
        with _use(self.engine, "reading audit events", write=False) as conn:
            return [_audit(r._mapping) for r in conn.execute(_AUDIT_FOR, {"id": credential_id})]


@attrs.define
class SqlOAuthClientRegistry:
    """OAuth clients in ``credlti_oauth_clients``, client secrets encrypted at rest.

    Satisfies :class:`credlti.ports.OAuthClientRegistry`. Each client secret is
    AES-256-GCM ciphertext under *keyring* (use the vault's), bound by associated data
    to the client's id, so a copied ciphertext does not open in another row.

    Args:
        engine: The engine.
        keyring: Encrypts and decrypts client secrets (the primary key encrypts).
        random_bytes: ``n -> n random bytes`` for nonces (injectable for tests).
    """

    engine: Engine
    keyring: KeyRing = attrs.field(repr=False)
    random_bytes: Callable[[int], bytes] = attrs.field(
        default=_secrets.token_bytes, repr=False, kw_only=True
    )

    def _seal(self, client_id: str, secret: str | None) -> bytes | None:
        if secret is None:
            return None
        aad = associated_data("oauth_client", client_id, "client_secret")
        return self.keyring.encrypt_json(secret, aad, nonce=self.random_bytes(NONCE_BYTES))

    def _open(self, client_id: str, ciphertext: Any) -> str | None:
        if ciphertext is None:
            return None
        aad = associated_data("oauth_client", client_id, "client_secret")
        return str(self.keyring.decrypt_json(bytes(ciphertext), aad))

    def add(self, client: OAuthClient) -> OAuthClient:
        """Register (or replace) a client; returns it."""
        values = {
            "client_id": client.client_id,
            "client_secret_ciphertext": self._seal(client.id, client.client_secret),
            "token_endpoint": client.token_endpoint,
            "revocation_endpoint": client.revocation_endpoint,
            "auth_method": client.auth_method.value,
            "name": client.name,
        }
        key = oauth_clients.c.id == client.id
        with _use(self.engine, "registering an OAuth client", write=True) as conn:
            if conn.execute(oauth_clients.update().where(key).values(**values)).rowcount == 0:
                conn.execute(oauth_clients.insert().values(id=client.id, **values))
        return client

    def remove(self, client_id: str) -> bool:
        """Remove a client; True if it existed."""
        with _use(self.engine, "removing an OAuth client", write=True) as conn:
            deleted = conn.execute(oauth_clients.delete().where(oauth_clients.c.id == client_id))
            return bool(deleted.rowcount)

    def get_client(self, client_id: str) -> OAuthClient | None:
        """Return the client registered under *client_id* (our id), or ``None``.

        Raises:
            DecryptionError: The secret was made with a key missing from the ring.
        """
        query = sa.select(oauth_clients).where(oauth_clients.c.id == client_id)
        with _use(self.engine, "reading an OAuth client", write=False) as conn:
            found = conn.execute(query).first()
        if found is None:
            return None
        m = found._mapping
        return OAuthClient(
            id=m["id"],
            client_id=m["client_id"],
            client_secret=self._open(m["id"], m["client_secret_ciphertext"]),
            token_endpoint=m["token_endpoint"],
            revocation_endpoint=m["revocation_endpoint"],
            auth_method=ClientAuthMethod(m["auth_method"]),
            name=m["name"],
        )

    def reencrypt(self) -> int:
        """Rewrite every client secret not sealed by the primary key; return how many."""
        query = sa.select(oauth_clients.c.id, oauth_clients.c.client_secret_ciphertext).where(
            oauth_clients.c.client_secret_ciphertext.is_not(None)
        )
        count = 0
        with _use(self.engine, "re-encrypting OAuth client secrets", write=True) as conn:
            for client_id, blob in conn.execute(query).all():
                if self.keyring.key_id_of(bytes(blob)) == self.keyring.primary_id:
                    continue
                sealed = self._seal(client_id, self._open(client_id, blob))
                conn.execute(
                    oauth_clients.update()
                    .where(oauth_clients.c.id == client_id)
                    .values(client_secret_ciphertext=sealed)
                )
                count += 1
        return count


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
        if self.column.table is not step_activity:
            msg = f"{action} writes credlti_step_activity; record runs in your own table instead"
            raise ConfigurationError(msg)

    def record(self, credential_id: str) -> None:
        """Note that a step used *credential_id* (idempotent)."""
        self._own_table("record()")
        with _use(self.engine, "recording step activity", write=True) as conn:
            _insert_ignoring_conflicts(conn, step_activity, {"credential_id": credential_id})

    def clear(self, credential_id: str) -> None:
        """Forget the credential's activity (as run retention would)."""
        self._own_table("clear()")
        statement = step_activity.delete().where(step_activity.c.credential_id == credential_id)
        with _use(self.engine, "clearing step activity", write=True) as conn:
            conn.execute(statement)

    def has_activity(self, credential_id: str) -> bool:
        """True if any step used the credential."""
        return bool(self.with_activity([credential_id]))

    def with_activity(self, credential_ids: Sequence[str]) -> set[str]:
        """The subset of *credential_ids* with activity (one query per 500 ids)."""
        ids = list(dict.fromkeys(credential_ids))
        found: set[str] = set()
        with _use(self.engine, "reading step activity", write=False) as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                query = sa.select(self.column).where(self.column.in_(chunk)).distinct()
                found.update(conn.execute(query).scalars())
        return found
