"""On SQLite files the launch hot paths keep one connection per thread, safely.

Each thread reuses its own connection for nonce and launch-session statements (no
pool checkout per statement); these connections never count against the pool, are
replaced after ``engine.dispose()``, after a failure and in a forked child, and a
statement run while the thread's connection is busy takes a pooled one instead.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credlti.adapters.sql import SqlLaunchStorage, create_engine, upgrade
from credlti.adapters.sql._raw import cursor
from credlti.errors import StorageConflictError
from credlti.lti import Registration
from credlti.ports import NonceStatus

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
LATER = NOW + timedelta(minutes=10)
REGISTRATION = Registration(
    issuer="https://platform.example.edu",
    client_id="tool-1",
    auth_endpoint="https://platform.example.edu/auth",
    jwks_uri="https://platform.example.edu/jwks",
)


@pytest.fixture(name="engine")
def _engine(tmp_path: Path) -> Iterator[Engine]:
    # A pool of one and no overflow: any connection the hot path kept checked out
    # would starve every other user of the engine.
    engine = create_engine(
        f"sqlite:///{tmp_path / 'launch.db'}", pool_size=1, max_overflow=0, pool_timeout=2
    )
    upgrade(engine)
    SqlLaunchStorage(engine).add_registration(REGISTRATION)
    yield engine
    engine.dispose()


def _connection_of(engine: Engine) -> Any:
    with cursor(engine, "looking") as cur:
        return cur.connection  # the sqlite3 connection the statement ran on


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM credlti_nonces").scalar_one())


def test_a_thread_reuses_its_connection_and_threads_do_not_share(engine: Engine) -> None:
    first, second = _connection_of(engine), _connection_of(engine)
    assert first is second
    assert isinstance(first, sqlite3.Connection)
    others: list[Any] = []
    thread = threading.Thread(target=lambda: others.append(_connection_of(engine)))
    thread.start()
    thread.join()
    assert others[0] is not first


def test_thread_connections_never_use_up_the_pool(engine: Engine) -> None:
    storage = SqlLaunchStorage(engine)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work(index: int) -> None:
        try:
            start.wait()
            for i in range(20):
                nonce = f"t{index}-{i}"
                storage.store_nonce(nonce, REGISTRATION, expires_at=LATER, now=NOW)
                status = storage.validate_nonce(nonce, REGISTRATION, now=NOW)
                assert status is NonceStatus.CONSUMED
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _count(engine) == 120
    # The single pooled connection is still free for everyone else.
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1


def test_dispose_replaces_the_threads_connection(engine: Engine) -> None:
    before = _connection_of(engine)
    engine.dispose()
    after = _connection_of(engine)
    assert after is not before
    with pytest.raises(sqlite3.ProgrammingError):
        before.execute("SELECT 1")  # closed
    assert SqlLaunchStorage(engine).validate_nonce("none", REGISTRATION, now=NOW) is (
        NonceStatus.NOT_FOUND
    )


def test_a_failure_rolls_back_and_the_next_call_gets_a_fresh_connection(
    engine: Engine,
) -> None:
    storage = SqlLaunchStorage(engine)
    storage.store_nonce("dup", REGISTRATION, expires_at=LATER, now=NOW)
    before = _connection_of(engine)
    with pytest.raises(StorageConflictError):
        storage.store_nonce("dup", REGISTRATION, expires_at=LATER, now=NOW)
    assert _connection_of(engine) is not before
    assert storage.validate_nonce("dup", REGISTRATION, now=NOW) is NonceStatus.CONSUMED
    assert _count(engine) == 1


def test_a_statement_inside_the_threads_transaction_uses_its_own(engine: Engine) -> None:
    """Nested use never commits (or rolls back) the outer block's work."""
    insert = "INSERT INTO credlti_nonces (issuer, client_id, nonce, expires_at) VALUES (?, ?, ?, ?)"
    mine = _connection_of(engine)
    with pytest.raises(RuntimeError), cursor(engine, "outer") as outer:  # noqa: PT012
        assert outer.connection is mine
        outer.execute(insert, (REGISTRATION.issuer, REGISTRATION.client_id, "outer", 1e12))
        with cursor(engine, "inner") as inner:
            assert inner.connection is not mine  # a pooled one
            inner.execute("SELECT count(*) FROM credlti_nonces")
            assert inner.fetchone()[0] == 0  # the outer insert is not committed
        raise RuntimeError
    assert _count(engine) == 0  # the outer block was rolled back
    assert _connection_of(engine) is not mine  # and its connection replaced
    SqlLaunchStorage(engine).store_nonce("after", REGISTRATION, expires_at=LATER, now=NOW)
    assert _count(engine) == 1


def _child(results: Any) -> None:
    try:
        storage = _INHERITED_STORAGE[0]
        # SQLAlchemy's recipe for an engine inherited through fork: a fresh pool, the
        # parent's connections left alone.
        storage.engine.dispose(close=False)
        storage.store_nonce("child", REGISTRATION, expires_at=LATER, now=NOW)
        status = storage.validate_nonce("child", REGISTRATION, now=NOW)
        results.put(status.name)
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put(repr(exc))


_INHERITED_STORAGE: list[SqlLaunchStorage] = []


def test_a_forked_child_makes_its_own_connection(engine: Engine) -> None:
    storage = SqlLaunchStorage(engine)
    storage.store_nonce("parent", REGISTRATION, expires_at=LATER, now=NOW)
    parent_connection = _connection_of(engine)
    _INHERITED_STORAGE[:] = [storage]
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_child, args=(results,))
    child.start()
    outcome = results.get(timeout=30)
    child.join(timeout=30)
    _INHERITED_STORAGE.clear()
    assert outcome == "CONSUMED"
    assert child.exitcode == 0
    # The parent's connection is untouched and still works.
    assert _connection_of(engine) is parent_connection
    assert storage.validate_nonce("parent", REGISTRATION, now=NOW) is NonceStatus.CONSUMED
    assert _count(engine) == 2


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_a_host_in_memory_engine_keeps_its_one_database(url: str) -> None:
    """SQLAlchemy's own engine for sqlite:// holds the database in its connection."""
    engine = sa.create_engine(url)  # SingletonThreadPool: one connection per thread
    try:
        upgrade(engine)
        storage = SqlLaunchStorage(engine)
        storage.add_registration(REGISTRATION)
        storage.store_nonce("n", REGISTRATION, expires_at=LATER, now=NOW)
        assert storage.validate_nonce("n", REGISTRATION, now=NOW) is NonceStatus.CONSUMED
        assert _count(engine) == 1  # the same database, tables and row
    finally:
        engine.dispose()


def _open_files(path: Path) -> int:
    """How many of this process's file descriptors are open on *path* (Linux)."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path))


def test_dropping_an_engine_closes_its_thread_connections(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    SqlLaunchStorage(engine).add_registration(REGISTRATION)
    SqlLaunchStorage(engine).store_nonce("n", REGISTRATION, expires_at=LATER, now=NOW)
    assert _open_files(path) >= 1  # this thread's connection
    watched = weakref.ref(engine)
    engine.dispose()  # closes the pool's connections, not this thread's
    assert _open_files(path) >= 1
    del engine
    gc.collect()
    assert watched() is None  # nothing of ours keeps the engine alive
    gc.collect()  # the connection and its statement cache form a cycle of their own
    assert _open_files(path) == 0  # and its thread's connection went with it
