"""The SQL vault's unit of work: prepared statements and one repository per table.

A session holds the repositories of one unit of work on one connection; on SQLite it
starts holding the write lock. The open session of each engine is kept per thread
or asyncio task so the other vault ports join it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterator, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine

from credlti._effects import Flow, run
from credlti.adapters._ids import check_ids, usable
from credlti.adapters.sql._errors import read, storage_errors, transaction
from credlti.adapters.sql._raw import Sql
from credlti.adapters.sql._schema import (
    audit_events,
    credentials,
    oauth_tokens,
    project_shares,
    transfer_tokens,
)
from credlti.adapters.sql._vault_rows import (
    _credential,
    _share,
    _share_values,
    _token_values,
    _transfer,
    _transfer_values,
    _ts,
)
from credlti.adapters.sql._vault_sql import (
    ADD_CREDENTIAL,
    GET_CREDENTIAL,
    GET_TOKEN,
    ID_BY_NAME,
    INSERT_AUDIT,
    INSERT_AUDIT_ARRAYS,
    LOCK_CREDENTIAL,
    PURGE_DELETE,
    PURGE_DUE,
    PURGE_SCRUB,
    PURGE_SHARES,
    PURGE_TOKENS,
    PURGE_TRANSFERS,
    PURGE_WITH_TOKEN,
    SHARES_OF,
    SHARES_OF_MANY,
    TOKENS_OF_MANY,
    UPDATE_CREDENTIAL,
    Raw,
    RawExecute,
    RawFetch,
    _ByDialect,
    audit_params,
    credential_params,
    credential_row,
    ids_parameter,
    share_row,
    token_row,
)
from credlti.credentials._records import (
    AuditEvent,
    CredentialRow,
    OAuthTokenRow,
    ProjectShare,
    ScrubbedRow,
    TransferTokenRow,
)
from credlti.errors import StorageConflictError

#: PostgreSQL writes this many buffered audit rows or more as one array insert.
_ARRAY_INSERT_FROM = 32


def _insert_ignoring_statement(dialect: str, table: sa.Table) -> sa.Executable:
    """An insert into *table* that does nothing when it breaks a uniqueness rule.

    ``ON CONFLICT DO NOTHING`` keeps a PostgreSQL transaction usable after a
    duplicate (a failed statement would abort it), so a conflict is reported without
    poisoning the unit of work. Its rowcount says whether the row was inserted.
    """
    if dialect == "postgresql":
        statement: sa.Executable = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - other dialects: the unique index decides
        statement = table.insert()
    # rowcount of an INSERT is only kept on request (SQLAlchemy 2.0.28+).
    return statement.execution_options(preserve_rowcount=True)


def _insert_ignoring_conflicts(conn: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """Insert a row unless it breaks a uniqueness rule; True if it was inserted."""
    statement = _insert_ignoring_statement(conn.dialect.name, table)
    return bool(conn.execute(statement, values).rowcount == 1)


def _token_upsert(dialect: str, values: dict[str, Any]) -> sa.Executable:
    """Insert or replace a credential's OAuth token in one statement (PostgreSQL, SQLite)."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(oauth_tokens)
    update = {k: v for k, v in values.items() if k != "credential_id"}
    return insert.on_conflict_do_update(index_elements=["credential_id"], set_=update)


def _add_conflict(id_taken: bool) -> StorageConflictError:
    """Why adding a credential changed nothing: its id or its name is taken."""
    if id_taken:
        msg = "a credential with this id already exists"
        return StorageConflictError(msg, details={"field": "id"})
    msg = "the owner already has a credential with this name"
    return StorageConflictError(msg, details={"field": "name"})


def _update_conflict(exists: bool) -> StorageConflictError:
    """Why updating a credential changed nothing: it is gone, or the name is taken."""
    if not exists:
        msg = "the credential to update no longer exists"
        return StorageConflictError(msg, details={"field": "id"})
    msg = "the owner already has a credential with this name"
    return StorageConflictError(msg, details={"field": "name"})


def _update_params(row: CredentialRow) -> tuple[Any, ...]:
    """``UPDATE_CREDENTIAL``'s parameters: the new values, then the naming-rule check."""
    return (*credential_params(row)[1:], row.id, row.owner_id, row.name, row.id)


def _scrub_flow(
    credential_ids: Sequence[str],
    *,
    now: datetime,
    delete: Collection[str],
    cascade_by_hand: bool,
    dialect: str,
) -> Flow[list[ScrubbedRow]]:
    """One purge batch, set-based: lock the batch's due rows, then a few statements.

    Each statement takes the ids as one list parameter, whatever the batch size. A
    flow of :class:`RawFetch` / :class:`RawExecute` effects, driven by the sync and
    the async unit of work alike.
    """
    ts, action = _ts(now), "purging credentials"
    if not usable(*credential_ids):
        credential_ids = [i for i in credential_ids if usable(i)]

    def listed(statement: Sql | _ByDialect, ids: Sequence[str]) -> tuple[Sql, tuple[Any, ...]]:
        return ids_parameter(statement, ids, dialect)

    statement, params = listed(PURGE_DUE, credential_ids)
    due_rows = yield RawFetch(statement, (*params, ts), action, lambda r: (r[0], bool(r[1])))
    due = dict(due_rows)
    if not due:
        return []
    ids = list(due)
    with_token = set((yield RawFetch(*listed(PURGE_WITH_TOKEN, ids), action, _first)))
    if with_token:
        yield RawExecute(*listed(PURGE_TOKENS, ids), action)
    yield RawExecute(*listed(PURGE_TRANSFERS, ids), action)
    doomed = [i for i in ids if i in delete]
    if doomed:
        if cascade_by_hand:
            yield RawExecute(*listed(PURGE_SHARES, doomed), action)
        yield RawExecute(*listed(PURGE_DELETE, doomed), action)
    scrub = [i for i in ids if i not in delete and (due[i] or i in with_token)]
    if scrub:
        statement, params = listed(PURGE_SCRUB, scrub)
        yield RawExecute(statement, (ts, *params), action)
    return [
        ScrubbedRow(i, due[i] or i in with_token, i in delete) for i in credential_ids if i in due
    ]


def activity_query(
    column: sa.ColumnElement[Any], ids: Sequence[str], dialect: str
) -> tuple[sa.Select[Any], dict[str, Any]]:
    """Which of *ids* appear in *column*: one query, the ids as one list parameter.

    A JSON array read with ``json_each`` on SQLite, a text array with ``= ANY`` on
    PostgreSQL, whatever their number.
    """
    if dialect == "postgresql":
        listed: Any = list(ids)
        among = column == sa.any_(sa.cast(sa.bindparam("ids"), ARRAY(sa.Text)))
    else:
        listed = json.dumps(list(ids))
        values: sa.Select[Any] = sa.select(sa.literal_column("value")).select_from(
            sa.func.json_each(sa.bindparam("ids"))
        )
        among = column.in_(values.scalar_subquery())
    return sa.select(column).where(among).distinct(), {"ids": listed}


def purged_event_params(
    credential_ids: Sequence[str], *, deleted: Collection[str], at: datetime, dialect: str
) -> list[tuple[Any, ...]]:
    """``INSERT_PURGED``'s parameters for a purge batch: one row per outcome (deleted, kept).

    Raises:
        StorageInvalidIdError: An id is unusable (nothing is to be written).
    """
    if not usable(*credential_ids):
        for credential_id in credential_ids:
            check_ids("recording purge events", credential_id=credential_id)
    gone = set(deleted)
    groups = (
        ('{"deleted": true}', [i for i in credential_ids if i in gone]),
        ('{"deleted": false}', [i for i in credential_ids if i not in gone]),
    )
    ts = _ts(at)
    return [
        (ts, metadata_json, list(ids) if dialect == "postgresql" else json.dumps(ids))
        for metadata_json, ids in groups
        if ids
    ]


def _share_conflict() -> StorageConflictError:
    msg = "credential already added to this project"
    return StorageConflictError(msg, details={"field": "project_id"})


def _find_query(owner_id: str | None, project_id: str | None) -> sa.Select[Any]:
    """Credentials owned by and/or shared with, in listing order (``lower(name)``, id)."""
    query = sa.select(credentials)
    if owner_id is not None:
        query = query.where(credentials.c.owner_id == owner_id)
    if project_id is not None:
        shared = sa.select(project_shares.c.credential_id).where(
            project_shares.c.project_id == project_id
        )
        query = query.where(credentials.c.id.in_(shared))
    return query.order_by(sa.func.lower(credentials.c.name), credentials.c.id)


def _first(row: Sequence[Any]) -> Any:
    return row[0]


def _audit_batch(events: Sequence[AuditEvent], dialect: str) -> tuple[Sql | _ByDialect, Any, bool]:
    """How to insert buffered audit rows: (statement, parameters, executemany?).

    PostgreSQL writes a large batch (a purge's rows) as one array insert.
    """
    rows = [audit_params(event) for event in events]
    if len(rows) >= _ARRAY_INSERT_FROM and dialect == "postgresql":
        columns = [list(column) for column in zip(*rows, strict=True)]
        return INSERT_AUDIT_ARRAYS, columns, False
    return INSERT_AUDIT, rows, True


# --------------------------------------------------------------------------- statements
#
# Built once: SQLAlchemy then reuses their compiled form on every call.

_c = credentials.c
_GET_CREDENTIAL = sa.select(credentials).where(_c.id == sa.bindparam("id"))
_LOCK_CREDENTIAL = _GET_CREDENTIAL.with_for_update()
_ID_BY_NAME = sa.select(_c.id).where(
    (_c.owner_id == sa.bindparam("owner")) & (_c.name == sa.bindparam("name"))
)
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

    def get(self, credential_id: str) -> CredentialRow | None:
        if not usable(credential_id):
            return None
        found = self._s.raw.fetch(
            GET_CREDENTIAL, (credential_id,), "reading a credential", credential_row
        )
        return next(found, None)

    def get_for_update(self, credential_id: str) -> CredentialRow | None:
        if not usable(credential_id):
            return None
        # PostgreSQL: FOR UPDATE row lock. SQLite: the unit of work already holds the
        # database's write lock (BEGIN IMMEDIATE).
        found = self._s.raw.fetch(
            LOCK_CREDENTIAL, (credential_id,), "locking a credential", credential_row
        )
        return next(found, None)

    def _exists(self, credential_id: str) -> bool:
        return self._s.conn.execute(_CREDENTIAL_EXISTS, {"id": credential_id}).first() is not None

    def add(self, row: CredentialRow) -> None:
        check_ids("adding a credential", id=row.id, owner_id=row.owner_id, name=row.name)
        action = "adding a credential"
        if self._s.raw.execute(ADD_CREDENTIAL, credential_params(row), action).rowcount == 1:
            return
        with storage_errors(action):
            id_taken = self._exists(row.id)
        raise _add_conflict(id_taken)

    def update(self, row: CredentialRow) -> None:
        check_ids("updating a credential", id=row.id, owner_id=row.owner_id, name=row.name)
        action = "updating a credential"
        if self._s.raw.execute(UPDATE_CREDENTIAL, _update_params(row), action).rowcount == 1:
            return
        with storage_errors(action):
            exists = self._exists(row.id)
        raise _update_conflict(exists)

    def delete(self, credential_id: str) -> bool:
        if not usable(credential_id):
            return False
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
        flow = _scrub_flow(
            credential_ids,
            now=now,
            delete=delete,
            cascade_by_hand=self._s.cascade_by_hand,
            dialect=self._s.raw.dialect,
        )
        return run(flow, self._s.raw.perform)

    def find_by_name(self, owner_id: str, name: str) -> str | None:
        if not usable(owner_id, name):
            return None
        found = self._s.raw.fetch(
            ID_BY_NAME, (owner_id, name), "looking a credential name up", lambda r: str(r[0])
        )
        return next(found, None)

    def find(
        self, *, owner_id: str | None = None, project_id: str | None = None
    ) -> list[CredentialRow]:
        if not usable(*(i for i in (owner_id, project_id) if i is not None)):
            return []
        query = _find_query(owner_id, project_id)
        with storage_errors("listing credentials"):
            return [_credential(r._mapping) for r in self._s.conn.execute(query)]


def _usable_ids(credential_ids: Sequence[str]) -> list[str]:
    """The distinct usable ids, in their first order."""
    return [i for i in dict.fromkeys(credential_ids) if usable(i)]


class _Shares:
    """:class:`~credlti.ports.ShareRepository` on ``credlti_project_shares``."""

    def __init__(self, session: _Session) -> None:
        self._s = session

    def add(self, share: ProjectShare) -> None:
        check_ids(
            "sharing a credential",
            id=share.id,
            credential_id=share.credential_id,
            project_id=share.project_id,
        )
        with storage_errors("sharing a credential with a project"):
            inserted = _insert_ignoring_conflicts(
                self._s.conn, project_shares, _share_values(share)
            )
        if not inserted:
            raise _share_conflict()

    def remove(self, share_id: str) -> bool:
        if not usable(share_id):
            return False
        with storage_errors("removing a project share"):
            return bool(self._s.conn.execute(_DELETE_SHARE, {"id": share_id}).rowcount)

    def get(self, share_id: str) -> ProjectShare | None:
        if not usable(share_id):
            return None
        with storage_errors("reading a project share"):
            found = self._s.conn.execute(_GET_SHARE, {"id": share_id}).first()
        return None if found is None else _share(found._mapping)

    def for_credential(self, credential_id: str) -> list[ProjectShare]:
        if not usable(credential_id):
            return []
        return list(
            self._s.raw.fetch(SHARES_OF, (credential_id,), "reading project shares", share_row)
        )

    def for_credentials(self, credential_ids: Sequence[str]) -> dict[str, list[ProjectShare]]:
        out: dict[str, list[ProjectShare]] = {}
        ids = _usable_ids(credential_ids)
        if ids:
            statement, listed = self._s.raw.in_ids(SHARES_OF_MANY, ids)
            for share in self._s.raw.fetch(statement, listed, "reading project shares", share_row):
                out.setdefault(share.credential_id, []).append(share)
        return out


class _Tokens:
    """:class:`~credlti.ports.OAuthTokenRepository` on ``credlti_oauth_tokens``."""

    def __init__(self, session: _Session) -> None:
        self._s = session

    def get(self, credential_id: str) -> OAuthTokenRow | None:
        if not usable(credential_id):
            return None
        found = self._s.raw.fetch(GET_TOKEN, (credential_id,), "reading an OAuth token", token_row)
        return next(found, None)

    def get_many(self, credential_ids: Sequence[str]) -> dict[str, OAuthTokenRow]:
        out: dict[str, OAuthTokenRow] = {}
        ids = _usable_ids(credential_ids)
        if ids:
            statement, listed = self._s.raw.in_ids(TOKENS_OF_MANY, ids)
            for row in self._s.raw.fetch(statement, listed, "reading OAuth tokens", token_row):
                out[row.credential_id] = row
        return out

    def put(self, row: OAuthTokenRow) -> None:
        check_ids("storing an OAuth token", credential_id=row.credential_id)
        values = _token_values(row)
        conn = self._s.conn
        with storage_errors("storing an OAuth token"):
            dialect = conn.dialect.name
            if dialect in {"postgresql", "sqlite"}:
                conn.execute(_token_upsert(dialect, values), values)
            else:  # pragma: no cover - other dialects: delete, then insert
                conn.execute(_DELETE_TOKEN, {"id": row.credential_id})
                conn.execute(oauth_tokens.insert(), values)

    def compare_and_set(self, row: OAuthTokenRow, *, expected_version: int) -> bool:
        if not usable(row.credential_id):
            return False
        params = _token_values(row)
        del params["credential_id"]
        params.update(key=row.credential_id, expected=expected_version)
        with storage_errors("replacing an OAuth token"):
            return bool(self._s.conn.execute(_CAS_TOKEN, params).rowcount == 1)

    def delete(self, credential_id: str) -> bool:
        if not usable(credential_id):
            return False
        with storage_errors("deleting an OAuth token"):
            return bool(self._s.conn.execute(_DELETE_TOKEN, {"id": credential_id}).rowcount)


class _Transfers:
    """:class:`~credlti.ports.TransferTokenRepository` on ``credlti_transfer_tokens``."""

    def __init__(self, session: _Session) -> None:
        self._s = session

    def add(self, row: TransferTokenRow) -> None:
        check_ids(
            "storing a transfer token",
            id=row.id,
            credential_id=row.credential_id,
            owner_id=row.owner_id,
            receiver_id=row.receiver_id,
        )
        with storage_errors("storing a transfer token"):
            self._s.conn.execute(transfer_tokens.insert(), _transfer_values(row))

    def for_credential(self, credential_id: str) -> list[TransferTokenRow]:
        if not usable(credential_id):
            return []
        with storage_errors("reading transfer tokens"):
            rows = self._s.conn.execute(_TRANSFERS_OF, {"id": credential_id})
            return [_transfer(r._mapping) for r in rows]

    def delete_for_credential(self, credential_id: str) -> int:
        if not usable(credential_id):
            return 0
        with storage_errors("deleting transfer tokens"):
            return int(self._s.conn.execute(_DELETE_TRANSFERS, {"id": credential_id}).rowcount)


class _Session:
    """The repositories of one unit of work, all on one connection and transaction.

    The transaction runs on a pooled DB-API connection: the hot statements go to it
    directly (:class:`Raw`), and a SQLAlchemy connection over the same DB-API
    connection is made only when a colder path needs one (:attr:`conn`), so a unit
    of work that creates or reads a credential never builds one.
    """

    def __init__(
        self,
        engine: Engine,
        dbapi_connection: Any,
        *,
        conn: Connection | None = None,
        cascade_by_hand: bool = False,
    ) -> None:
        self.engine = engine
        #: The pooled DB-API connection the unit of work runs on.
        self.dbapi_connection = dbapi_connection
        self._conn = conn
        #: SQLite with foreign keys off: delete a credential's children explicitly.
        self.cascade_by_hand = cascade_by_hand
        #: Audit events recorded in this unit of work, inserted in one batch at commit.
        self.pending_audit: list[AuditEvent] = []
        #: Prebuilt statements on this unit of work's DB-API connection (the hot paths).
        self.raw = Raw.on(dbapi_connection, engine)
        self.credentials = _Credentials(self)
        self.shares = _Shares(self)
        self.oauth_tokens = _Tokens(self)
        self.transfers = _Transfers(self)

    @property
    def conn(self) -> Connection:
        """A SQLAlchemy connection in this unit of work's transaction (made on first use)."""
        if self._conn is None:
            # Over the same DB-API connection, so in the same transaction. (Engines
            # with listeners or execution options open the unit of work through
            # SQLAlchemy instead, so none of theirs runs in the middle of it.)
            self._conn = Connection(self.engine, connection=self.dbapi_connection)
        return self._conn

    def flush_audit(self) -> None:
        """Insert the buffered audit rows (before commit, or before reading them)."""
        if self.pending_audit:
            events, self.pending_audit = self.pending_audit, []
            statement, params, many = _audit_batch(events, self.raw.dialect)
            action = "recording audit events"
            if many:
                self.raw.executemany(statement, params, action)
            else:
                self.raw.execute(statement, params, action)

    def commit(self) -> None:
        """Commit the unit of work (through SQLAlchemy when it has a connection)."""
        if self._conn is not None and self._conn.in_transaction():
            self._conn.commit()
        else:
            self.dbapi_connection.commit()

    def rollback(self) -> None:
        """Roll the unit of work back; a connection that cannot is dropped from the pool."""
        try:
            if self._conn is not None and self._conn.in_transaction():
                self._conn.rollback()
            else:
                self.dbapi_connection.rollback()
        except Exception as exc:
            # A broken connection (the server restarted, the network dropped it) must
            # not go back to the pool for the next unit of work.
            with contextlib.suppress(Exception):
                self.dbapi_connection.invalidate(exc)

    def close(self) -> None:
        """Close the cursor and hand the connection back to the pool."""
        self.raw.close()
        if self._conn is not None:
            self._conn.close()  # closes its DB-API connection too
        else:
            self.dbapi_connection.close()


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
