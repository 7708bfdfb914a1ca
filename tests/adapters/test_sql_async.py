"""The async SQL vault adapters against the vault contract suites, and async specifics.

The LTI adapters' async forms run in the two-form contracts of ``test_sql_launch``,
``test_sql_sessions`` and ``test_advantage_stores``. Here each async vault adapter
runs the vault suites through the blocking view of ``async_bridge`` (its coroutines
awaited on one background loop), on SQLite files and in-memory databases (aiosqlite)
and on PostgreSQL (psycopg's async driver), plus the async-only vault tests and what
is specific to the async engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credlti.adapters.sql import (
    AsyncSqlAuditSink,
    AsyncSqlLaunchStorage,
    AsyncSqlOAuthClientRegistry,
    AsyncSqlStepActivity,
    AsyncSqlVaultStore,
    open_async_engine,
    upgrade_async,
)
from credlti.adapters.sql._launch import SWEEP_BATCH, SWEEP_EVERY
from credlti.credentials import EncryptionKey, KeyRing, OAuthClient
from credlti.errors import ConfigurationError, StorageUnavailableError
from credlti.lti import Registration

from .async_bridge import blocking, run_blocking
from .nonce_contract import T0, registration
from .vault_contract import (
    AsyncVaultStoreContract,
    AuditSinkContract,
    OAuthClientRegistryContract,
    StepActivityContract,
)

KEYRING = KeyRing([EncryptionKey(id="k1", material=bytes(range(32)))])


@pytest.fixture(name="async_engine", params=["sqlite-file", "sqlite-memory", "postgresql"])
def _async_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AsyncEngine]:
    """An upgraded, empty database behind an async engine (used on the bridge loop)."""
    if request.param == "sqlite-file":
        url = f"sqlite:///{tmp_path / 'async.db'}"
    elif request.param == "sqlite-memory":
        url = "sqlite://"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = open_async_engine(url)
    run_blocking(upgrade_async(engine))
    yield engine
    run_blocking(engine.dispose())


def _count(engine: AsyncEngine, table: str) -> int:
    async def count() -> int:
        async with engine.connect() as conn:
            found = await conn.exec_driver_sql(f"SELECT count(*) FROM {table}")  # noqa: S608
            return int(found.scalar_one())

    return run_blocking(count())


# --------------------------------------------------------------------------- vault


class TestAsyncSqlVaultStore(AsyncVaultStoreContract):
    @pytest.fixture
    def make_async_store(self, async_engine: AsyncEngine) -> Callable[[], AsyncSqlVaultStore]:
        return lambda: AsyncSqlVaultStore(async_engine)


class TestAsyncSqlStepActivity(StepActivityContract):
    @pytest.fixture
    def make_activity(self, async_engine: AsyncEngine) -> Callable[[list[str]], Any]:
        def make(ids: list[str]) -> Any:
            activity = blocking(AsyncSqlStepActivity(async_engine))
            for credential_id in ids:
                activity.record(credential_id)
            return activity

        return make


class TestAsyncSqlAuditSink(AuditSinkContract):
    @pytest.fixture
    def make_audit(self, async_engine: AsyncEngine) -> Callable[[], Any]:
        return lambda: blocking(AsyncSqlAuditSink(async_engine))


class TestAsyncSqlOAuthClients(OAuthClientRegistryContract):
    @pytest.fixture
    def make_clients(self, async_engine: AsyncEngine) -> Callable[[list[OAuthClient]], Any]:
        def make(clients: list[OAuthClient]) -> Any:
            registry = blocking(AsyncSqlOAuthClientRegistry(async_engine, KEYRING))
            for client in clients:
                registry.add(client)
            return registry

        return make


# --------------------------------------------------------------------------- specifics


def test_audit_events_join_the_async_unit_of_work(async_engine: AsyncEngine) -> None:
    """An event recorded inside a rolled-back unit of work leaves no row."""
    from credlti.credentials import AuditAction, AuditEvent

    from .vault_contract import row

    store, audit = AsyncSqlVaultStore(async_engine), AsyncSqlAuditSink(async_engine)

    def event(i: str) -> AuditEvent:
        return AuditEvent(id=i, action=AuditAction.CREATED, credential_id="a", actor_id="u", at=T0)

    async def scenario() -> list[str]:
        with pytest.raises(RuntimeError):  # noqa: PT012
            async with store.transaction() as tx:
                await tx.credentials.add(row("a"))
                await audit.record(event("e1"))
                raise RuntimeError
        async with store.transaction() as tx:
            await tx.credentials.add(row("a"))
            await audit.record(event("e2"))
            inside = [e.id for e in await audit.events_for("a")]
        assert inside == ["e2"]
        return [e.id for e in await audit.events_for("a")]

    assert run_blocking(scenario()) == ["e2"]


def test_stores_sweep_a_bounded_batch_of_expired_nonces(async_engine: AsyncEngine) -> None:
    """Every SWEEP_EVERY stores delete up to SWEEP_BATCH expired nonces, as the sync one."""
    storage = AsyncSqlLaunchStorage(async_engine)
    record = registration()

    async def scenario() -> None:
        for n in range(SWEEP_BATCH):
            await storage.store_nonce(f"old-{n}", record, expires_at=T0, now=T0)
        later = T0 + timedelta(seconds=1)
        for n in range(SWEEP_EVERY):
            await storage.store_nonce(
                f"new-{n}", record, expires_at=later + timedelta(seconds=60), now=later
            )

    run_blocking(scenario())
    # SWEEP_BATCH + SWEEP_EVERY stores: at least one sweep of SWEEP_BATCH expired nonces.
    assert _count(async_engine, "credlti_nonces") <= SWEEP_EVERY
    assert run_blocking(storage.sweep_nonces(T0 + timedelta(hours=1))) == SWEEP_EVERY


def test_open_async_engine_picks_the_async_drivers(tmp_path: Path) -> None:
    """sqlite:// opens through aiosqlite, postgresql:// through psycopg's async driver."""
    engine = open_async_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert engine.dialect.driver == "aiosqlite"
    asyncio.run(engine.dispose())
    engine = open_async_engine("postgresql://user:secret@localhost/db")
    assert engine.dialect.driver == "psycopg"
    assert engine.dialect.is_async
    asyncio.run(engine.dispose())


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", "cannot be parsed"),
        ("sqlite+pysqlite:///secret.db", "no asyncio support"),
        ("nosuchdb://u:secret@localhost/db", "unknown database dialect"),
    ],
)
def test_open_async_engine_refuses_bad_urls(url: str, words: str) -> None:
    """Bad URLs and sync-only drivers are ConfigurationErrors that never show the password."""
    with pytest.raises(ConfigurationError, match=words) as caught:
        open_async_engine(url)
    assert "secret" not in str(caught.value)


def test_an_unreachable_database_is_storage_unavailable() -> None:
    """Connection failures are typed errors on the async paths too (hot and Core)."""
    engine = open_async_engine("postgresql://nobody@127.0.0.1:1/none", connect_args={})
    storage = AsyncSqlLaunchStorage(engine)
    record = registration()

    async def scenario() -> None:
        with pytest.raises(StorageUnavailableError, match="storing a nonce"):
            await storage.store_nonce("n", record, expires_at=T0, now=T0)
        with pytest.raises(StorageUnavailableError, match="reading a registration"):
            await storage.get_registration(record.issuer, record.client_id)
        await engine.dispose()

    asyncio.run(scenario())


def test_sync_and_async_adapters_share_one_database(tmp_path: Path) -> None:
    """A registration added by the sync adapter is read by the async one, and back."""
    from credlti.adapters.sql import SqlLaunchStorage, create_engine, upgrade

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    sync_engine = create_engine(url)
    upgrade(sync_engine)
    record = Registration(
        issuer="https://lms.example.edu",
        client_id="c",
        auth_endpoint="https://lms.example.edu/auth",
        jwks_uri="https://lms.example.edu/jwks",
    )
    SqlLaunchStorage(sync_engine).add_registration(record)
    engine = open_async_engine(url)

    async def scenario() -> Registration | None:
        storage = AsyncSqlLaunchStorage(engine)
        found = await storage.get_registration(record.issuer, None)
        await storage.store_nonce("n-1", record, expires_at=T0 + timedelta(seconds=9), now=T0)
        await engine.dispose()
        return found

    assert asyncio.run(scenario()) == record
    with sync_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT nonce FROM credlti_nonces")).scalar_one() == "n-1"
    sync_engine.dispose()
