"""Schema migrations hold: all or nothing, many processes at once, newer schemas refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import credlti
from credlti.adapters.sql import (
    SCHEMA_VERSION,
    SqlLaunchStorage,
    create_engine,
    current_version,
    metadata,
    upgrade,
)
from credlti.adapters.sql._migrations import MIGRATIONS, apply_migrations
from credlti.errors import StorageSchemaTooNewError, StorageUnavailableError
from credlti.lti import Deployment, Registration

SRC = str(Path(credlti.__file__).resolve().parents[1])
REGISTRATION = Registration(
    issuer="https://platform.example.edu",
    client_id="tool-1",
    auth_endpoint="https://platform.example.edu/auth",
    jwks_uri="https://platform.example.edu/jwks",
)
LTI_TABLES = {"credlti_registrations", "credlti_deployments", "credlti_nonces"}
# A host object whose name a real step of migration 2 needs (the audit events index).
CLASHING_INDEX = "ix_credlti_audit_events_credential"


@pytest.fixture(name="url", params=["sqlite", "postgresql"])
def _url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        yield request.getfixturevalue("fresh_postgres_url")


@pytest.fixture(name="engine")
def _engine(url: str) -> Iterator[Engine]:
    engine = create_engine(url)
    yield engine
    engine.dispose()


def _credlti_tables(engine: Engine) -> set[str]:
    return {name for name in sa.inspect(engine).get_table_names() if name.startswith("credlti_")}


def _version_rows(engine: Engine) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, version FROM credlti_schema_version"))
        return [(int(row[0]), int(row[1])) for row in rows]


def _assert_complete_schema(engine: Engine) -> None:
    """Every table and every index of the current metadata exists; one version row."""
    inspector = sa.inspect(engine)
    assert set(metadata.tables) <= set(inspector.get_table_names())
    for table in metadata.sorted_tables:
        expected = {index.name for index in table.indexes}
        assert expected <= _index_names(engine, table.name)
    assert _version_rows(engine) == [(1, SCHEMA_VERSION)]


def _index_names(engine: Engine, table: str) -> set[str]:
    """The table's index names from the catalog (SQLAlchemy skips expression indexes)."""
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = :t"
    )
    with engine.connect() as conn:
        return {str(name) for name in conn.execute(sa.text(query), {"t": table}).scalars()}


def _at_version_1_with_rows(engine: Engine) -> None:
    assert upgrade(engine, target=1) == 1
    storage = SqlLaunchStorage(engine)
    storage.add_registration(REGISTRATION)
    storage.add_deployment(REGISTRATION, Deployment(deployment_id="d-1"))


def _assert_still_version_1_with_rows(engine: Engine) -> None:
    assert current_version(engine) == 1
    assert _credlti_tables(engine) == {*LTI_TABLES, "credlti_schema_version"}
    storage = SqlLaunchStorage(engine)
    assert storage.get_registration(REGISTRATION.issuer, None) == REGISTRATION
    assert storage.get_deployment(REGISTRATION, "d-1") == Deployment(deployment_id="d-1")


def _extra_table_then_fail(conn: Connection) -> None:
    """A step that creates a table and an index, then fails."""
    conn.exec_driver_sql("CREATE TABLE credlti_extra (id INTEGER PRIMARY KEY, note TEXT)")
    conn.exec_driver_sql("CREATE INDEX ix_credlti_extra_note ON credlti_extra (note)")
    msg = "step 4 failed half-way"
    raise RuntimeError(msg)


def _extra_table(conn: Connection) -> None:
    conn.exec_driver_sql("CREATE TABLE credlti_extra (id INTEGER PRIMARY KEY)")


# --------------------------------------------------------------------------- all or nothing


@pytest.mark.parametrize("start", [0, 1])
def test_a_failing_step_leaves_the_previous_version_intact(engine: Engine, start: int) -> None:
    """A step failing after DDL rolls back every step of the run, the version row too."""
    if start == 1:
        _at_version_1_with_rows(engine)

    with pytest.raises(RuntimeError, match="half-way"):
        apply_migrations(engine, [*MIGRATIONS, _extra_table_then_fail])

    if start == 1:
        _assert_still_version_1_with_rows(engine)
    else:
        assert current_version(engine) == 0
        assert _credlti_tables(engine) == set()
    assert upgrade(engine) == SCHEMA_VERSION
    _assert_complete_schema(engine)
    assert "credlti_extra" not in _credlti_tables(engine)


@pytest.mark.parametrize("start", [0, 1])
def test_a_real_step_failing_rolls_back_and_a_rerun_creates_every_index(
    engine: Engine, start: int
) -> None:
    """A host index named like credlti's makes migration 2 fail; nothing of it remains.

    Once the clash is removed, the re-run applies the whole migration, indexes included
    (it used to record the version with the tables but without their indexes).
    """
    if start == 1:
        _at_version_1_with_rows(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE host_events (id INTEGER PRIMARY KEY, kind TEXT)")
        conn.exec_driver_sql(f"CREATE INDEX {CLASHING_INDEX} ON host_events (kind)")

    with pytest.raises(StorageUnavailableError, match="upgrading the schema failed"):
        upgrade(engine)

    if start == 1:
        _assert_still_version_1_with_rows(engine)
    else:
        assert current_version(engine) == 0
        assert _credlti_tables(engine) == set()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {CLASHING_INDEX}")
    assert upgrade(engine) == SCHEMA_VERSION
    _assert_complete_schema(engine)


def test_sqlite_engine_that_begins_its_own_transactions(tmp_path: Path) -> None:
    """An engine using SQLAlchemy's explicit-BEGIN recipe still migrates all or nothing."""
    engine = create_engine(f"sqlite:///{tmp_path / 'recipe.db'}")

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    try:
        with pytest.raises(RuntimeError):
            apply_migrations(engine, [*MIGRATIONS, _extra_table_then_fail])
        assert _credlti_tables(engine) == set()
        assert apply_migrations(engine, MIGRATIONS) == (0, SCHEMA_VERSION)
        _assert_complete_schema(engine)
    finally:
        engine.dispose()


def test_apply_migrations_reports_before_and_after(engine: Engine) -> None:
    """The runner returns (before, after); a lower target never downgrades."""
    assert apply_migrations(engine, MIGRATIONS, target=1) == (1 - 1, 1)
    assert apply_migrations(engine, MIGRATIONS) == (1, SCHEMA_VERSION)
    assert apply_migrations(engine, MIGRATIONS, target=1) == (SCHEMA_VERSION, SCHEMA_VERSION)
    assert upgrade(engine, target=0) == SCHEMA_VERSION
    assert _version_rows(engine) == [(1, SCHEMA_VERSION)]


# --------------------------------------------------------------------------- newer schema


def _newer_database(engine: Engine) -> int:
    """Upgrade with one more migration than this credlti has, as a newer credlti would."""
    newer = SCHEMA_VERSION + 1
    assert apply_migrations(engine, [*MIGRATIONS, _extra_table]) == (0, newer)
    return newer


def test_a_newer_schema_is_refused_by_upgrade(engine: Engine) -> None:
    """upgrade() raises StorageSchemaTooNewError and leaves the database as it was."""
    newer = _newer_database(engine)

    with pytest.raises(StorageSchemaTooNewError) as info:
        upgrade(engine)

    assert info.value.code == "storage_schema_too_new"
    assert dict(info.value.details) == {"found": newer, "supported": SCHEMA_VERSION}
    assert f"version {newer}, newer than version {SCHEMA_VERSION}" in str(info.value)
    assert current_version(engine) == newer
    assert _version_rows(engine) == [(1, newer)]
    assert "credlti_extra" in _credlti_tables(engine)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real entry point, ``python -m credlti``, with this checkout's source."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "credlti", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("action", ["status", "upgrade"])
def test_a_newer_schema_is_refused_by_the_cli(url: str, engine: Engine, action: str) -> None:
    """`credlti db status|upgrade` on a newer schema: exit 3, one line, nothing changed."""
    newer = _newer_database(engine)

    result = _cli("db", action, "--url", url)

    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        f"error: the database schema is at version {newer}, newer than version "
        f"{SCHEMA_VERSION}, the newest this credlti knows"
    )
    assert _version_rows(engine) == [(1, newer)]


def test_cli_database_errors_are_one_line(url: str, engine: Engine) -> None:
    """A statement failing in the database is one line and exit 1, never a traceback."""
    with engine.begin() as conn:  # a version table credlti cannot read
        conn.exec_driver_sql("CREATE TABLE credlti_schema_version (other TEXT)")

    result = _cli("db", "status", "--url", url)

    assert result.returncode == 1
    assert result.stderr.startswith("error: reading the schema version failed in the database")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- many processes

_CHILD = """
import sys, time
from pathlib import Path

import credlti.adapters.sql._migrations  # loaded before the start signal
from credlti.cli import main

url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
deadline = time.monotonic() + 120
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.002)
raise SystemExit(main(["db", "upgrade", "--url", url]))
"""


@pytest.mark.parametrize("start", [0, 1])
def test_four_processes_upgrade_at_once(
    url: str, engine: Engine, start: int, tmp_path: Path
) -> None:
    """4 `credlti db upgrade` processes released together: one migrates, three wait and
    find nothing to do; the schema is complete with one version row."""
    if start == 1:
        _at_version_1_with_rows(engine)
        engine.dispose()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(4)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, url, str(flag), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for flag in ready
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()
        results = [child.communicate(timeout=180) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

    assert [child.returncode for child in children] == [0] * 4, results
    assert [stderr for _out, stderr in results] == [""] * 4
    assert sorted(out for out, _err in results) == sorted(
        [f"schema upgraded from version {start} to {SCHEMA_VERSION}\n"]
        + [f"schema already at version {SCHEMA_VERSION}; nothing to do\n"] * 3
    )
    _assert_complete_schema(engine)
    if start == 1:
        storage = SqlLaunchStorage(engine)
        assert storage.get_registration(REGISTRATION.issuer, None) == REGISTRATION


# --------------------------------------------------------------------------- version 4


def test_upgrade_from_3_keeps_every_row_and_adds_the_listing_index(engine: Engine) -> None:
    """Version 3 -> 4 adds the (owner_id, lower(name), id) index; every row stays."""
    from credlti.adapters.sql import SqlAuditSink, SqlVaultStore
    from credlti.credentials import EncryptionKey, KeyRing, Vault, VaultUser

    assert upgrade(engine, target=3) == 3
    with engine.begin() as conn:  # a version-3 database never had the index
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_credlti_credentials_owner_lower_name")
    keyring = KeyRing([EncryptionKey(id="k", material=bytes(32))])
    vault = Vault(store=SqlVaultStore(engine), keyring=keyring, audit=SqlAuditSink(engine))
    ids = [
        vault.create_credential(
            {"name": name, "schema": "raw", "owner_id": "u", "body": {"n": name}}
        ).id
        for name in ("b", "A", "c")
    ]
    # The tables of version 4 (later versions add more).
    tables = sorted(set(metadata.tables) - {"credlti_schema_version", "credlti_launch_sessions"})

    def dump() -> dict[str, list[tuple[object, ...]]]:
        with engine.connect() as conn:
            return {
                t: sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}")))  # noqa: S608
                for t in tables
            }

    before = dump()
    assert "ix_credlti_credentials_owner_lower_name" not in _index_names(
        engine, "credlti_credentials"
    )

    assert apply_migrations(engine, MIGRATIONS, target=4) == (3, 4)

    assert dump() == before
    assert "ix_credlti_credentials_owner_lower_name" in _index_names(engine, "credlti_credentials")
    assert upgrade(engine) == SCHEMA_VERSION
    _assert_complete_schema(engine)
    assert [c.id for c in vault.list_credentials(VaultUser(id="u", email="u@example.org"))] == [
        ids[1],
        ids[0],
        ids[2],
    ]
    vault.close()


# --------------------------------------------------------------------------- version 5


def test_upgrade_from_4_keeps_every_row_and_adds_the_session_table(engine: Engine) -> None:
    """Version 4 -> 5 adds credlti_launch_sessions; every row stays; sessions then work."""
    from datetime import datetime, timedelta, timezone

    from credlti.adapters.sql import SqlLaunchSessionStore

    assert upgrade(engine, target=4) == 4
    assert "credlti_launch_sessions" not in _credlti_tables(engine)
    storage = SqlLaunchStorage(engine)
    storage.add_registration(REGISTRATION)
    storage.add_deployment(REGISTRATION, Deployment(deployment_id="d-1"))
    tables = sorted(_credlti_tables(engine) - {"credlti_schema_version"})

    def dump() -> dict[str, list[tuple[object, ...]]]:
        with engine.connect() as conn:
            return {
                t: sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}")))  # noqa: S608
                for t in tables
            }

    before = dump()

    assert apply_migrations(engine, MIGRATIONS) == (4, 5)

    assert dump() == before
    assert "credlti_launch_sessions" in _credlti_tables(engine)
    assert "ix_credlti_launch_sessions_expires_at" in _index_names(
        engine, "credlti_launch_sessions"
    )
    _assert_complete_schema(engine)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    sessions = SqlLaunchSessionStore(engine)
    sessions.save("a" * 64, b"sealed", expires_at=now + timedelta(minutes=5))
    assert sessions.load("a" * 64, now=now) == b"sealed"
