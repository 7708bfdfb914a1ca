"""The async SQL vault's unit of work: the sync repositories' statements, awaited.

Each repository method runs the statement the sync one runs (prebuilt SQL on the
driver connection for the hot paths, SQLAlchemy Core for the rest), with the same id
checks, row mapping and errors; the purge chunk is the same flow. The open session
of each engine is kept per asyncio task so the other async vault ports join it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Sequence
from contextvars import ContextVar
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from credlti._effects import arun
from credlti.adapters._ids import check_ids, usable
from credlti.adapters.sql._aio import AsyncRaw, aread, atransaction
from credlti.adapters.sql._errors import storage_errors
from credlti.adapters.sql._schema import project_shares, transfer_tokens
from credlti.adapters.sql._vault_repos import (
    _CAS_TOKEN,
    _CREDENTIAL_EXISTS,
    _DELETE_CREDENTIAL,
    _DELETE_SHARE,
    _DELETE_SHARES_OF,
    _DELETE_TOKEN,
    _DELETE_TRANSFERS,
    _GET_SHARE,
    _TRANSFERS_OF,
    _add_conflict,
    _audit_batch,
    _find_query,
    _insert_ignoring_statement,
    _scrub_flow,
    _share_conflict,
    _token_upsert,
    _update_conflict,
    _update_params,
    _usable_ids,
)
from credlti.adapters.sql._vault_rows import (
    _credential,
    _share,
    _share_values,
    _token_values,
    _transfer,
    _transfer_values,
)
from credlti.adapters.sql._vault_sql import (
    ADD_CREDENTIAL,
    GET_CREDENTIAL,
    GET_TOKEN,
    ID_BY_NAME,
    LOCK_CREDENTIAL,
    SHARES_OF,
    SHARES_OF_MANY,
    TOKENS_OF_MANY,
    UPDATE_CREDENTIAL,
    credential_params,
    credential_row,
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

__all__ = ["AsyncSession", "async_active", "async_use"]


def _str(row: Sequence[object]) -> str:
    return str(row[0])


class _AsyncCredentials:
    """:class:`~credlti.ports.AsyncCredentialRepository` on ``credlti_credentials``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, credential_id: str) -> CredentialRow | None:
        if not usable(credential_id):
            return None
        found = await self._s.raw.fetch(
            GET_CREDENTIAL, (credential_id,), "reading a credential", credential_row
        )
        return found[0] if found else None

    async def get_for_update(self, credential_id: str) -> CredentialRow | None:
        if not usable(credential_id):
            return None
        found = await self._s.raw.fetch(
            LOCK_CREDENTIAL, (credential_id,), "locking a credential", credential_row
        )
        return found[0] if found else None

    async def _exists(self, credential_id: str) -> bool:
        found = await self._s.conn.execute(_CREDENTIAL_EXISTS, {"id": credential_id})
        return found.first() is not None

    async def add(self, row: CredentialRow) -> None:
        check_ids("adding a credential", id=row.id, owner_id=row.owner_id, name=row.name)
        action = "adding a credential"
        cur = await self._s.raw.execute(ADD_CREDENTIAL, credential_params(row), action)
        if cur.rowcount == 1:
            return
        with storage_errors(action):
            id_taken = await self._exists(row.id)
        raise _add_conflict(id_taken)

    async def update(self, row: CredentialRow) -> None:
        check_ids("updating a credential", id=row.id, owner_id=row.owner_id, name=row.name)
        action = "updating a credential"
        cur = await self._s.raw.execute(UPDATE_CREDENTIAL, _update_params(row), action)
        if cur.rowcount == 1:
            return
        with storage_errors(action):
            exists = await self._exists(row.id)
        raise _update_conflict(exists)

    async def delete(self, credential_id: str) -> bool:
        if not usable(credential_id):
            return False
        params = {"id": credential_id}
        with storage_errors("deleting a credential"):
            if self._s.cascade_by_hand:
                for statement in (_DELETE_SHARES_OF, _DELETE_TOKEN, _DELETE_TRANSFERS):
                    await self._s.conn.execute(statement, params)
            return bool((await self._s.conn.execute(_DELETE_CREDENTIAL, params)).rowcount)

    async def scrub_due(
        self, credential_ids: Sequence[str], *, now: datetime, delete: Collection[str]
    ) -> list[ScrubbedRow]:
        flow = _scrub_flow(
            credential_ids,
            now=now,
            delete=delete,
            cascade_by_hand=self._s.cascade_by_hand,
            dialect=self._s.raw.dialect,
        )
        return await arun(flow, self._s.raw.perform)

    async def find_by_name(self, owner_id: str, name: str) -> str | None:
        if not usable(owner_id, name):
            return None
        found = await self._s.raw.fetch(
            ID_BY_NAME, (owner_id, name), "looking a credential name up", _str
        )
        return found[0] if found else None

    async def find(
        self, *, owner_id: str | None = None, project_id: str | None = None
    ) -> list[CredentialRow]:
        if not usable(*(i for i in (owner_id, project_id) if i is not None)):
            return []
        with storage_errors("listing credentials"):
            rows = await self._s.conn.execute(_find_query(owner_id, project_id))
            return [_credential(r._mapping) for r in rows]


class _AsyncShares:
    """:class:`~credlti.ports.AsyncShareRepository` on ``credlti_project_shares``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, share: ProjectShare) -> None:
        check_ids(
            "sharing a credential",
            id=share.id,
            credential_id=share.credential_id,
            project_id=share.project_id,
        )
        statement = _insert_ignoring_statement(self._s.conn.dialect.name, project_shares)
        with storage_errors("sharing a credential with a project"):
            inserted = await self._s.conn.execute(statement, _share_values(share))
        if inserted.rowcount != 1:
            raise _share_conflict()

    async def remove(self, share_id: str) -> bool:
        if not usable(share_id):
            return False
        with storage_errors("removing a project share"):
            return bool((await self._s.conn.execute(_DELETE_SHARE, {"id": share_id})).rowcount)

    async def get(self, share_id: str) -> ProjectShare | None:
        if not usable(share_id):
            return None
        with storage_errors("reading a project share"):
            found = (await self._s.conn.execute(_GET_SHARE, {"id": share_id})).first()
        return None if found is None else _share(found._mapping)

    async def for_credential(self, credential_id: str) -> list[ProjectShare]:
        if not usable(credential_id):
            return []
        return await self._s.raw.fetch(
            SHARES_OF, (credential_id,), "reading project shares", share_row
        )

    async def for_credentials(self, credential_ids: Sequence[str]) -> dict[str, list[ProjectShare]]:
        out: dict[str, list[ProjectShare]] = {}
        ids = _usable_ids(credential_ids)
        if ids:
            statement, listed = self._s.raw.in_ids(SHARES_OF_MANY, ids)
            for share in await self._s.raw.fetch(
                statement, listed, "reading project shares", share_row
            ):
                out.setdefault(share.credential_id, []).append(share)
        return out


class _AsyncTokens:
    """:class:`~credlti.ports.AsyncOAuthTokenRepository` on ``credlti_oauth_tokens``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, credential_id: str) -> OAuthTokenRow | None:
        if not usable(credential_id):
            return None
        found = await self._s.raw.fetch(
            GET_TOKEN, (credential_id,), "reading an OAuth token", token_row
        )
        return found[0] if found else None

    async def get_many(self, credential_ids: Sequence[str]) -> dict[str, OAuthTokenRow]:
        out: dict[str, OAuthTokenRow] = {}
        ids = _usable_ids(credential_ids)
        if ids:
            statement, listed = self._s.raw.in_ids(TOKENS_OF_MANY, ids)
            for row in await self._s.raw.fetch(
                statement, listed, "reading OAuth tokens", token_row
            ):
                out[row.credential_id] = row
        return out

    async def put(self, row: OAuthTokenRow) -> None:
        check_ids("storing an OAuth token", credential_id=row.credential_id)
        values = _token_values(row)
        with storage_errors("storing an OAuth token"):
            await self._s.conn.execute(_token_upsert(self._s.conn.dialect.name, values), values)

    async def compare_and_set(self, row: OAuthTokenRow, *, expected_version: int) -> bool:
        if not usable(row.credential_id):
            return False
        params = _token_values(row)
        del params["credential_id"]
        params.update(key=row.credential_id, expected=expected_version)
        with storage_errors("replacing an OAuth token"):
            return bool((await self._s.conn.execute(_CAS_TOKEN, params)).rowcount == 1)

    async def delete(self, credential_id: str) -> bool:
        if not usable(credential_id):
            return False
        with storage_errors("deleting an OAuth token"):
            deleted = await self._s.conn.execute(_DELETE_TOKEN, {"id": credential_id})
            return bool(deleted.rowcount)


class _AsyncTransfers:
    """:class:`~credlti.ports.AsyncTransferTokenRepository` on ``credlti_transfer_tokens``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, row: TransferTokenRow) -> None:
        check_ids(
            "storing a transfer token",
            id=row.id,
            credential_id=row.credential_id,
            owner_id=row.owner_id,
            receiver_id=row.receiver_id,
        )
        with storage_errors("storing a transfer token"):
            await self._s.conn.execute(transfer_tokens.insert(), _transfer_values(row))

    async def for_credential(self, credential_id: str) -> list[TransferTokenRow]:
        if not usable(credential_id):
            return []
        with storage_errors("reading transfer tokens"):
            rows = await self._s.conn.execute(_TRANSFERS_OF, {"id": credential_id})
            return [_transfer(r._mapping) for r in rows]

    async def delete_for_credential(self, credential_id: str) -> int:
        if not usable(credential_id):
            return 0
        with storage_errors("deleting transfer tokens"):
            deleted = await self._s.conn.execute(_DELETE_TRANSFERS, {"id": credential_id})
            return int(deleted.rowcount)


class AsyncSession:
    """The repositories of one async unit of work, all on one connection and transaction."""

    def __init__(
        self, conn: AsyncConnection, raw: AsyncRaw, *, cascade_by_hand: bool = False
    ) -> None:
        self.conn = conn
        #: SQLite with foreign keys off: delete a credential's children explicitly.
        self.cascade_by_hand = cascade_by_hand
        #: Audit events recorded in this unit of work, inserted in one batch at commit.
        self.pending_audit: list[AuditEvent] = []
        #: Prebuilt statements on this connection's driver connection (the hot paths).
        self.raw = raw
        self._credentials = _AsyncCredentials(self)
        self._shares = _AsyncShares(self)
        self._tokens = _AsyncTokens(self)
        self._transfers = _AsyncTransfers(self)

    @property
    def credentials(self) -> _AsyncCredentials:
        """Credential rows."""
        return self._credentials

    @property
    def shares(self) -> _AsyncShares:
        """Project shares."""
        return self._shares

    @property
    def oauth_tokens(self) -> _AsyncTokens:
        """OAuth tokens."""
        return self._tokens

    @property
    def transfers(self) -> _AsyncTransfers:
        """Transfer tokens."""
        return self._transfers

    async def flush_audit(self) -> None:
        """Insert the buffered audit rows (before commit, or before reading them)."""
        if self.pending_audit:
            events, self.pending_audit = self.pending_audit, []
            statement, params, many = _audit_batch(events, self.conn.dialect.name)
            action = "recording audit events"
            if many:
                await self.raw.executemany(statement, params, action)
            else:
                await self.raw.execute(statement, params, action)


# The open unit of work of each async engine in this asyncio task.
_ACTIVE: ContextVar[dict[AsyncEngine, AsyncSession] | None] = ContextVar(
    "credlti_sql_async_vault_sessions", default=None
)


def async_active(engine: AsyncEngine) -> AsyncSession | None:
    """The unit of work open on *engine* in this task, if any."""
    sessions = _ACTIVE.get()
    return None if sessions is None else sessions.get(engine)


@contextlib.asynccontextmanager
async def async_use(
    engine: AsyncEngine, action: str, *, write: bool
) -> AsyncIterator[AsyncConnection]:
    """The connection of the open unit of work on *engine*, else a short one of our own."""
    session = async_active(engine)
    if session is not None:
        with storage_errors(action):
            yield session.conn
        return
    async with (atransaction if write else aread)(engine, action) as conn:
        yield conn
