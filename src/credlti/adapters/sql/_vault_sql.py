"""The vault's hot statements as prebuilt SQL text, and their rows decoded from tuples.

Creating, reading and updating one credential run these on the unit of work's own
DB-API connection (same transaction as the SQLAlchemy statements of the colder
paths), skipping SQLAlchemy's per-call statement work; see ``_raw``.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
from sqlalchemy.engine import Connection, Engine

from credlti.adapters.sql._raw import Sql, _failure
from credlti.adapters.sql._vault_rows import _dt, _dt_or_none, _ts, _ts_or_none
from credlti.credentials._records import (
    AuditEvent,
    CredentialRow,
    OAuthTokenRow,
    ProjectShare,
    TransferStatus,
)

__all__ = [
    "ADD_CREDENTIAL",
    "GET_CREDENTIAL",
    "GET_TOKEN",
    "ID_BY_NAME",
    "INSERT_AUDIT",
    "INSERT_AUDIT_ARRAYS",
    "INSERT_PURGED",
    "LOCK_CREDENTIAL",
    "PURGE_DELETE",
    "PURGE_DUE",
    "PURGE_SCRUB",
    "PURGE_SHARES",
    "PURGE_TOKENS",
    "PURGE_TRANSFERS",
    "PURGE_WITH_TOKEN",
    "SCAN",
    "SHARES_OF",
    "SHARES_OF_MANY",
    "TOKENS_OF_MANY",
    "UPDATE_CREDENTIAL",
    "Raw",
    "RawExecute",
    "RawFetch",
    "audit_params",
    "credential_params",
    "credential_row",
    "ids_parameter",
    "share_row",
    "token_row",
]


class _ByDialect:
    """One statement per dialect (PostgreSQL row locks and JSON casts differ)."""

    def __init__(self, sqlite: str, postgresql: str) -> None:
        self.texts = {"sqlite": Sql(sqlite), "postgresql": Sql(postgresql)}


# Credential columns, in the order of credential_params and credential_row.
GET_CREDENTIAL = Sql(
    'SELECT id, name, "schema", owner_id, body_ciphertext, production, external_id,'
    " transfer_status, scheduled_deletion, oauth_client_id, created_at, updated_at"
    " FROM credlti_credentials WHERE id = ?"
)
# PostgreSQL: a row lock to the end of the transaction. SQLite: the unit of work already
# holds the database's write lock (BEGIN IMMEDIATE).
LOCK_CREDENTIAL = _ByDialect(GET_CREDENTIAL.qmark, GET_CREDENTIAL.qmark + " FOR UPDATE")
ID_BY_NAME = Sql("SELECT id FROM credlti_credentials WHERE owner_id = ? AND name = ?")
# ON CONFLICT DO NOTHING: a duplicate is reported without aborting a PostgreSQL transaction.
ADD_CREDENTIAL = Sql(
    'INSERT INTO credlti_credentials (id, name, "schema", owner_id, body_ciphertext,'
    " production, external_id, transfer_status, scheduled_deletion, oauth_client_id,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
# The naming rule checked in the same statement, so a taken name changes nothing.
UPDATE_CREDENTIAL = Sql(
    'UPDATE credlti_credentials SET name = ?, "schema" = ?, owner_id = ?, body_ciphertext = ?,'
    " production = ?, external_id = ?, transfer_status = ?, scheduled_deletion = ?,"
    " oauth_client_id = ?, created_at = ?, updated_at = ? WHERE id = ? AND NOT EXISTS ("
    " SELECT 1 FROM credlti_credentials other WHERE other.owner_id = ? AND other.name = ?"
    " AND other.id <> ?)"
)
GET_TOKEN = Sql(
    "SELECT credential_id, client_id, ciphertext, token_type, scopes, expires_at,"
    " last_refreshed, version FROM credlti_oauth_tokens WHERE credential_id = ?"
)
SHARES_OF = Sql(
    "SELECT id, credential_id, project_id, created_at FROM credlti_project_shares"
    " WHERE credential_id = ? ORDER BY created_at, id"
)
SHARES_OF_MANY = Sql(
    "SELECT id, credential_id, project_id, created_at FROM credlti_project_shares"
    " WHERE credential_id IN ({ids}) ORDER BY created_at, id"
)
TOKENS_OF_MANY = Sql(
    "SELECT credential_id, client_id, ciphertext, token_type, scopes, expires_at,"
    " last_refreshed, version FROM credlti_oauth_tokens WHERE credential_id IN ({ids})"
)
_AUDIT = (
    "INSERT INTO credlti_audit_events (id, action, credential_id, actor_id, at, changes,"
    ' "metadata", item_type) VALUES (?, ?, ?, ?, ?, {json}, {json}, ?)'
)
INSERT_AUDIT = _ByDialect(_AUDIT.format(json="?"), _AUDIT.format(json="CAST(? AS JSON)"))
#: PostgreSQL: many audit rows in one statement, one array parameter per column (in
#: ``audit_params`` order), inserted in array order so ``seq`` keeps it.
INSERT_AUDIT_ARRAYS = Sql(
    "INSERT INTO credlti_audit_events (id, action, credential_id, actor_id, at, changes,"
    ' "metadata", item_type) SELECT u.id, u.action, u.cid, u.actor, u.at,'
    " CAST(u.changes AS JSON), CAST(u.meta AS JSON), u.item FROM unnest(CAST(? AS TEXT[]),"
    " CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS FLOAT8[]),"
    " CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[])) WITH ORDINALITY"
    " AS u(id, action, cid, actor, at, changes, meta, item, n) ORDER BY u.n"
)


# A purge batch's "purged" events in one statement, for a list of credential ids passed
# as one parameter (a JSON array on SQLite, a text array on PostgreSQL); the database
# picks the event ids (random UUIDs). Parameters: at, metadata JSON, ids.
INSERT_PURGED = _ByDialect(
    "INSERT INTO credlti_audit_events (id, action, credential_id, actor_id, at, changes,"
    " \"metadata\", item_type) SELECT lower(hex(randomblob(4))) || '-'"
    " || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-'"
    " || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)"
    " || '-' || lower(hex(randomblob(6))), 'purged', j.value, NULL, ?, '{}', ?, 'credential'"
    " FROM json_each(?) AS j ORDER BY j.key",
    "INSERT INTO credlti_audit_events (id, action, credential_id, actor_id, at, changes,"
    " \"metadata\", item_type) SELECT CAST(gen_random_uuid() AS TEXT), 'purged', u.cid,"
    " NULL, ?, CAST('{}' AS JSON), CAST(? AS JSON), 'credential'"
    " FROM unnest(CAST(? AS TEXT[])) WITH ORDINALITY AS u(cid, n) ORDER BY u.n",
)


# Keyset-paginated scan (the purge's batches): by id, optionally after an id, optionally
# only due rows. Keyed by (after an id?, due only?).
_SCAN_BASE = GET_CREDENTIAL.qmark.removesuffix(" WHERE id = ?")
SCAN: dict[tuple[bool, bool], Sql] = {
    (after, due): Sql(
        _SCAN_BASE
        + (" WHERE " if after or due else "")
        + " AND ".join(
            ([("id > ?")] if after else []) + (["scheduled_deletion <= ?"] if due else [])
        )
        + " ORDER BY id LIMIT ?"
    )
    for after in (False, True)
    for due in (False, True)
}

# Purge statements over a list of ids (``{ids}``: bound as one list, see Raw.in_ids).
PURGE_DUE = _ByDialect(
    "SELECT id, body_ciphertext IS NOT NULL FROM credlti_credentials WHERE id IN ({ids})"
    " AND scheduled_deletion IS NOT NULL AND scheduled_deletion <= ?",
    "SELECT id, body_ciphertext IS NOT NULL FROM credlti_credentials WHERE id IN ({ids})"
    " AND scheduled_deletion IS NOT NULL AND scheduled_deletion <= ? FOR UPDATE",
)
PURGE_WITH_TOKEN = Sql(
    "SELECT credential_id FROM credlti_oauth_tokens WHERE credential_id IN ({ids})"
)
PURGE_TOKENS = Sql("DELETE FROM credlti_oauth_tokens WHERE credential_id IN ({ids})")
PURGE_TRANSFERS = Sql("DELETE FROM credlti_transfer_tokens WHERE credential_id IN ({ids})")
PURGE_SHARES = Sql("DELETE FROM credlti_project_shares WHERE credential_id IN ({ids})")
PURGE_DELETE = Sql("DELETE FROM credlti_credentials WHERE id IN ({ids})")
PURGE_SCRUB = Sql(
    "UPDATE credlti_credentials SET body_ciphertext = NULL, updated_at = ? WHERE id IN ({ids})"
)


@functools.lru_cache(maxsize=256)
def _as_list_parameter(text: str, dialect: str) -> Sql:
    # SQLite: the ids as one JSON array parameter; PostgreSQL: as one text[] parameter.
    if dialect == "postgresql":
        return Sql(text.replace(" IN ({ids})", " = ANY(CAST(? AS TEXT[]))"))
    return Sql(text.replace("({ids})", "(SELECT value FROM json_each(?))"))


def ids_parameter(
    statement: Sql | _ByDialect, ids: Sequence[str], dialect: str
) -> tuple[Sql, tuple[Any, ...]]:
    """*statement* with its ``IN ({ids})`` list bound as one parameter, and that parameter.

    Any number of ids in one statement: a JSON array read with ``json_each`` on
    SQLite, ``= ANY`` over a text array on PostgreSQL (no per-id placeholders).
    """
    sql = statement if isinstance(statement, Sql) else statement.texts[dialect]
    listed: Any = list(ids) if dialect == "postgresql" else json.dumps(list(ids))
    return _as_list_parameter(sql.qmark, dialect), (listed,)


@attrs.frozen
class RawFetch:
    """Effect: the decoded rows (a list) of a prebuilt query, in the unit of work."""

    statement: Sql | _ByDialect
    params: Sequence[Any]
    action: str
    decode: Callable[[Sequence[Any]], Any]


@attrs.frozen
class RawExecute:
    """Effect: run a prebuilt statement in the unit of work; the result is its row count."""

    statement: Sql | _ByDialect
    params: Sequence[Any]
    action: str


class Raw:
    """Runs prebuilt statements on a DB-API connection (pooled, or a SQLAlchemy one's).

    Driver errors become the same typed errors as on the SQLAlchemy paths (their
    messages, which can hold bound parameters, never reach the error text).
    """

    __slots__ = ("_cursor", "_dbapi", "_dialect", "_engine", "_error", "_qmark")

    def __init__(self, conn: Connection) -> None:
        self._setup(conn.connection, conn.engine)

    @classmethod
    def on(cls, dbapi_connection: Any, engine: Engine) -> Raw:
        """Statements on *dbapi_connection*, a pooled connection of *engine*."""
        raw = cls.__new__(cls)
        raw._setup(dbapi_connection, engine)
        return raw

    def _setup(self, dbapi_connection: Any, engine: Engine) -> None:
        self._dbapi = dbapi_connection
        self._engine = engine
        dialect = engine.dialect
        self._dialect = dialect.name
        self._qmark = dialect.paramstyle == "qmark"
        self._error: type[Exception] = dialect.loaded_dbapi.Error
        self._cursor: Any = None

    def _text(self, statement: Sql | _ByDialect) -> str:
        sql = statement if isinstance(statement, Sql) else statement.texts[self._dialect]
        return sql.qmark if self._qmark else sql.format

    def _cur(self) -> Any:
        if self._cursor is None:
            self._cursor = self._dbapi.cursor()
        return self._cursor

    def execute(self, statement: Sql | _ByDialect, params: Sequence[Any], action: str) -> Any:
        """Execute once; return the cursor (fetch from it, read its rowcount)."""
        cur = self._cur()
        try:
            cur.execute(self._text(statement), params)
        except self._error as exc:
            raise _failure(action, exc, self._engine) from exc
        return cur

    @property
    def dialect(self) -> str:
        """The database's dialect name (``sqlite``, ``postgresql``)."""
        return self._dialect

    def in_ids(
        self, statement: Sql | _ByDialect, ids: Sequence[str]
    ) -> tuple[Sql, tuple[Any, ...]]:
        """*statement* with its ``IN ({ids})`` list bound as one parameter, and that parameter.

        Any number of ids in one statement: a JSON array read with ``json_each`` on
        SQLite, ``= ANY`` over a text array on PostgreSQL (no per-id placeholders).
        """
        return ids_parameter(statement, ids, self._dialect)

    def executemany(
        self, statement: Sql | _ByDialect, rows: Sequence[Sequence[Any]], action: str
    ) -> None:
        """Execute for every parameter row."""
        cur = self._cur()
        try:
            cur.executemany(self._text(statement), rows)
        except self._error as exc:
            raise _failure(action, exc, self._engine) from exc

    def fetch(
        self,
        statement: Sql | _ByDialect,
        params: Sequence[Any],
        action: str,
        decode: Callable[[Sequence[Any]], Any],
    ) -> Iterator[Any]:
        """The decoded rows of a query."""
        cur = self.execute(statement, params, action)
        try:
            rows = cur.fetchall()
        except self._error as exc:
            raise _failure(action, exc, self._engine) from exc
        return (decode(row) for row in rows)

    def perform(self, effect: RawFetch | RawExecute) -> Any:
        """Carry out a :class:`RawFetch` or :class:`RawExecute` effect of a flow."""
        if type(effect) is RawFetch:
            return list(self.fetch(effect.statement, effect.params, effect.action, effect.decode))
        return int(self.execute(effect.statement, effect.params, effect.action).rowcount)

    def close(self) -> None:
        """Close the cursor (the connection stays with its transaction)."""
        if self._cursor is not None:
            cursor, self._cursor = self._cursor, None
            with contextlib.suppress(self._error):
                cursor.close()


# --------------------------------------------------------------------------- rows


def credential_params(row: CredentialRow) -> tuple[Any, ...]:
    """The row's values in the column order of ``ADD_CREDENTIAL``."""
    status = row.transfer_status
    return (
        row.id,
        row.name,
        row.schema,
        row.owner_id,
        row.body_ciphertext,
        row.production,
        row.external_id,
        None if status is None else status.value,
        _ts_or_none(row.scheduled_deletion),
        row.oauth_client_id,
        _ts(row.created_at),
        _ts(row.updated_at),
    )


def credential_row(r: Sequence[Any]) -> CredentialRow:
    """A credential row from a ``GET_CREDENTIAL`` tuple."""
    return CredentialRow(
        id=r[0],
        name=r[1],
        schema=r[2],
        owner_id=r[3],
        body_ciphertext=None if r[4] is None else bytes(r[4]),
        production=bool(r[5]),
        external_id=r[6],
        transfer_status=None if r[7] is None else TransferStatus(r[7]),
        scheduled_deletion=_dt_or_none(r[8]),
        oauth_client_id=r[9],
        created_at=_dt(r[10]),
        updated_at=_dt(r[11]),
    )


def _json(value: Any) -> Any:
    """A JSON column's value: SQLite hands back its text, psycopg the parsed value."""
    return json.loads(value) if isinstance(value, str) else value


def token_row(r: Sequence[Any]) -> OAuthTokenRow:
    """A token row from a ``GET_TOKEN`` tuple."""
    return OAuthTokenRow(
        credential_id=r[0],
        client_id=r[1],
        ciphertext=bytes(r[2]),
        token_type=r[3],
        scopes=tuple(_json(r[4])),
        expires_at=_dt_or_none(r[5]),
        last_refreshed=_dt(r[6]),
        version=int(r[7]),
    )


def share_row(r: Sequence[Any]) -> ProjectShare:
    """A share from a ``SHARES_OF`` tuple."""
    return ProjectShare(id=r[0], credential_id=r[1], project_id=r[2], created_at=_dt(r[3]))


@functools.lru_cache(maxsize=256)
def _dumps_flat(items: tuple[tuple[str, type, Any], ...]) -> str:
    return json.dumps({k: v for k, _, v in items})


def _dumps(value: Any) -> str:
    # Flat, hashable mappings (a purge's {"deleted": ...}) repeat: encode each once.
    # The value's type is in the key, so True, 1 and 1.0 stay apart.
    if not value:
        return "{}"
    try:
        return _dumps_flat(tuple((k, type(v), v) for k, v in value.items()))
    except TypeError:  # a nested list or mapping: not hashable
        return json.dumps(dict(value))


def audit_params(event: AuditEvent) -> tuple[Any, ...]:
    """An audit event's values in ``INSERT_AUDIT`` order (JSON columns as text)."""
    return (
        event.id,
        event.action.value,
        event.credential_id,
        event.actor_id,
        _ts(event.at),
        _dumps(event.changes),
        _dumps(event.metadata),
        event.item_type,
    )
