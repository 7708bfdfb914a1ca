"""Launch sessions in SQL: the port contract on SQLite and PostgreSQL, and the sweep."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from credlti.adapters.sql import (
    AsyncSqlLaunchSessionStore,
    SqlLaunchSessionStore,
    create_engine,
    upgrade,
)
from credlti.adapters.sql._sessions import SWEEP_BATCH, SWEEP_EVERY
from credlti.errors import StorageUnavailableError
from credlti.ports import LaunchSessionStore

from .session_contract import T0, LaunchSessionStoreContract, key
from .sql_async_engines import async_engine_for, dispose


def _store(url: str) -> Iterator[SqlLaunchSessionStore]:
    engine = create_engine(url)
    upgrade(engine)
    try:
        yield SqlLaunchSessionStore(engine)
    finally:
        engine.dispose()


def _count(store: SqlLaunchSessionStore) -> int:
    with store.engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT count(*) FROM credlti_launch_sessions")
        return int(found.scalar_one())


class _SqlSessionContract(LaunchSessionStoreContract):
    """The async form (``AsyncSqlLaunchSessionStore``) on the database of the sync one."""

    @pytest.fixture
    def async_session_store(
        self, session_store: SqlLaunchSessionStore, loop: asyncio.AbstractEventLoop
    ) -> Iterator[AsyncSqlLaunchSessionStore]:
        engine = async_engine_for(session_store.engine, loop)
        yield AsyncSqlLaunchSessionStore(engine)
        dispose(engine, loop)


class TestSqliteLaunchSessionStore(_SqlSessionContract):
    """The contract on a SQLite database file."""

    @pytest.fixture
    def session_store(self, tmp_path: Path) -> Iterator[SqlLaunchSessionStore]:
        yield from _store(f"sqlite:///{tmp_path / 'sessions.db'}")


class TestPostgresLaunchSessionStore(_SqlSessionContract):
    """The contract on a real PostgreSQL server."""

    @pytest.fixture
    def session_store(self, fresh_postgres_url: str) -> Iterator[SqlLaunchSessionStore]:
        yield from _store(fresh_postgres_url)


@pytest.fixture(name="store", params=["sqlite", "postgresql"])
def _any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLaunchSessionStore]:
    url = (
        f"sqlite:///{tmp_path / 'sweep.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    yield from _store(url)


def test_satisfies_the_port(tmp_path: Path) -> None:
    """The store has the port's shape (checked statically by mypy too)."""
    for store in _store(f"sqlite:///{tmp_path / 'port.db'}"):
        port: LaunchSessionStore = store
        assert callable(port.save)


def test_saves_sweep_a_bounded_batch_of_expired_sessions(store: SqlLaunchSessionStore) -> None:
    """Every SWEEP_EVERY saves delete up to SWEEP_BATCH sessions expired by the latest load."""
    for n in range(SWEEP_BATCH + 10):
        store.save(key(f"old-{n}"), b"x", expires_at=T0 + timedelta(seconds=10))
    assert store.load(key("none"), now=T0 + timedelta(seconds=20)) is None  # time moves on
    saved_old = SWEEP_BATCH + 10
    sweeps = 0
    for n in range(SWEEP_EVERY * 2):
        store.save(key(f"new-{n}"), b"y", expires_at=T0 + timedelta(hours=1))
        sweeps += (saved_old + n + 1) % SWEEP_EVERY == 0
    assert sweeps == 2
    left_old = max(0, saved_old - sweeps * SWEEP_BATCH)
    assert _count(store) == SWEEP_EVERY * 2 + left_old
    assert store.load(key("new-0"), now=T0 + timedelta(seconds=20)) == b"y"


def test_sweep_drops_every_expired_session(store: SqlLaunchSessionStore) -> None:
    """sweep(now) deletes what expired by then and says how many."""
    store.save(key("a"), b"x", expires_at=T0 + timedelta(seconds=10))
    store.save(key("b"), b"x", expires_at=T0 + timedelta(seconds=10))
    store.save(key("c"), b"x", expires_at=T0 + timedelta(hours=1))

    assert store.sweep(T0 + timedelta(seconds=10)) == 2
    assert _count(store) == 1
    assert store.load(key("c"), now=T0) == b"x"


def test_missing_table_is_storage_unavailable(tmp_path: Path) -> None:
    """A database that was never upgraded fails with a typed error, not a driver one."""
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    store = SqlLaunchSessionStore(engine)
    with pytest.raises(StorageUnavailableError):
        store.save(key("a"), b"x", expires_at=T0)
    with pytest.raises(StorageUnavailableError):
        store.load(key("a"), now=T0)
    engine.dispose()
