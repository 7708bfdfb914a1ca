"""The async SQL adapters satisfy the async ports: checked statically by mypy (strict).

Each assignment below type-checks only if the adapter has every method of the port
with a compatible signature (``async def`` where the port's is); the test also runs,
checking at run time that every port method is a coroutine function on the adapter.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

from credlti.adapters.sql import (
    AsyncSqlAuditSink,
    AsyncSqlLaunchSessionStore,
    AsyncSqlLaunchStorage,
    AsyncSqlOAuthClientRegistry,
    AsyncSqlServiceTokenCache,
    AsyncSqlStepActivity,
    AsyncSqlToolKeyStore,
    AsyncSqlVaultStore,
    open_async_engine,
)
from credlti.credentials import EncryptionKey, KeyRing
from credlti.lti import AsyncTool, Deployment, Registration
from credlti.ports import (
    AsyncAuditSink,
    AsyncCredentialRepository,
    AsyncLaunchSessionStore,
    AsyncLaunchStorage,
    AsyncNonceStore,
    AsyncOAuthClientRegistry,
    AsyncOAuthTokenRepository,
    AsyncRegistrationStore,
    AsyncServiceTokenCache,
    AsyncShareRepository,
    AsyncStepActivity,
    AsyncToolKeyStore,
    AsyncTransferTokenRepository,
    AsyncVaultSession,
    AsyncVaultStore,
)

RING = KeyRing([EncryptionKey(id="k1", material=bytes(range(32)))])


def test_async_sql_adapters_satisfy_the_async_ports(tmp_path: Path) -> None:
    engine = open_async_engine(f"sqlite:///{tmp_path / 'ports.db'}")
    storage = AsyncSqlLaunchStorage(engine)

    launch: AsyncLaunchStorage[Registration, Deployment] = storage
    registrations: AsyncRegistrationStore[Registration, Deployment] = storage
    nonces: AsyncNonceStore = storage
    sessions: AsyncLaunchSessionStore = AsyncSqlLaunchSessionStore(engine)
    keys: AsyncToolKeyStore = AsyncSqlToolKeyStore(engine, RING)
    tokens: AsyncServiceTokenCache = AsyncSqlServiceTokenCache(engine, RING)
    store: AsyncVaultStore = AsyncSqlVaultStore(engine)
    audit: AsyncAuditSink = AsyncSqlAuditSink(engine)
    activity: AsyncStepActivity = AsyncSqlStepActivity(engine)
    clients: AsyncOAuthClientRegistry = AsyncSqlOAuthClientRegistry(engine, RING)

    # An AsyncTool on the SQL storage infers the SQL adapter's record types.
    tool = AsyncTool(storage, sessions=sessions)
    typed: AsyncTool[Registration, Deployment] = tool

    ports: list[tuple[Any, type]] = [
        (launch, AsyncLaunchStorage),
        (registrations, AsyncRegistrationStore),
        (nonces, AsyncNonceStore),
        (sessions, AsyncLaunchSessionStore),
        (keys, AsyncToolKeyStore),
        (tokens, AsyncServiceTokenCache),
        (audit, AsyncAuditSink),
        (activity, AsyncStepActivity),
        (clients, AsyncOAuthClientRegistry),
    ]
    for adapter, port in ports:
        for name, member in vars(port).items():
            if inspect.iscoroutinefunction(member):
                assert inspect.iscoroutinefunction(getattr(adapter, name)), (adapter, name)
    assert callable(store.transaction)
    assert typed is tool
    asyncio.run(tool.aclose())


async def _session_repositories(store: AsyncSqlVaultStore) -> None:
    """Statically: a unit of work's session and repositories are the async ports."""
    async with store.transaction() as tx:
        session: AsyncVaultSession = tx
        credentials: AsyncCredentialRepository = tx.credentials
        shares: AsyncShareRepository = tx.shares
        oauth_tokens: AsyncOAuthTokenRepository = tx.oauth_tokens
        transfers: AsyncTransferTokenRepository = tx.transfers
        assert all(port is not None for port in (session, credentials, shares))
        assert oauth_tokens is not None
        assert transfers is not None


def test_session_repositories_are_checked_statically() -> None:
    assert inspect.iscoroutinefunction(_session_repositories)
