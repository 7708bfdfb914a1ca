"""SQL schema, migrations, the `credlti db` command and storage-error typing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from credlti.adapters.sql import (
    SCHEMA_VERSION,
    SqlLaunchStorage,
    create_engine,
    current_version,
    metadata,
    upgrade,
)
from credlti.cli import main
from credlti.errors import ConfigurationError, StorageConflictError, StorageUnavailableError
from credlti.lti import Deployment, Registration

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
REGISTRATION = Registration(
    issuer="https://platform.example.edu",
    client_id="tool-1",
    auth_endpoint="https://platform.example.edu/auth",
    jwks_uri="https://platform.example.edu/jwks",
)


@pytest.fixture(name="url", params=["sqlite", "postgresql"])
def _url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'schema.db'}"
    else:
        yield request.getfixturevalue("fresh_postgres_url")


def test_metadata_tables_are_prefixed() -> None:
    """Every table credlti owns is prefixed, so it can live in a host database."""
    assert metadata.tables
    assert all(name.startswith("credlti_") for name in metadata.tables)


def test_upgrade_creates_every_table_and_is_idempotent(url: str) -> None:
    """upgrade() brings an empty database to SCHEMA_VERSION; a second run changes nothing."""
    engine = create_engine(url)
    try:
        assert current_version(engine) == 0

        assert upgrade(engine) == SCHEMA_VERSION
        assert upgrade(engine) == SCHEMA_VERSION

        tables = set(sa.inspect(engine).get_table_names())
        assert set(metadata.tables) <= tables
        assert current_version(engine) == SCHEMA_VERSION
    finally:
        engine.dispose()


def test_upgrade_rejects_unknown_target(tmp_path: Path) -> None:
    """Asking for a version that does not exist is a programming error."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ValueError, match="target must be between"):
        upgrade(engine, target=SCHEMA_VERSION + 1)
    engine.dispose()


def test_duplicate_nonce_is_a_storage_conflict(url: str) -> None:
    """Storing one nonce twice raises StorageConflictError and keeps the first row."""
    engine = create_engine(url)
    upgrade(engine)
    storage = SqlLaunchStorage(engine)
    storage.add_registration(REGISTRATION)
    expires = NOW + timedelta(minutes=5)
    storage.store_nonce("n-1", REGISTRATION, expires_at=expires, now=NOW)

    with pytest.raises(StorageConflictError) as info:
        storage.store_nonce("n-1", REGISTRATION, expires_at=expires, now=NOW)

    assert info.value.code == "storage_conflict"
    assert "n-1" not in str(info.value)
    assert storage.validate_nonce("n-1", REGISTRATION, now=NOW).value == "consumed"
    engine.dispose()


def test_unreachable_postgres_is_storage_unavailable() -> None:
    """A database that cannot be reached raises StorageUnavailableError, not a driver error."""
    engine = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    storage = SqlLaunchStorage(engine)

    with pytest.raises(StorageUnavailableError) as info:
        storage.get_registration(REGISTRATION.issuer, None)

    assert info.value.http_status == 503
    engine.dispose()


def test_missing_tables_are_storage_unavailable_with_a_hint(tmp_path: Path) -> None:
    """Using the adapter before `db upgrade` says to run the upgrade."""
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    storage = SqlLaunchStorage(engine)

    with pytest.raises(StorageUnavailableError, match="credlti db upgrade"):
        storage.get_registration(REGISTRATION.issuer, "tool-1")
    engine.dispose()


def test_cli_db_status_and_upgrade(tmp_path: Path) -> None:
    """`credlti db status` reports pending work; `credlti db upgrade` does it."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    out = io.StringIO()

    assert main(["db", "status", "--url", url], out) == 1
    assert main(["db", "upgrade", "--url", url], out) == 0
    assert main(["db", "status", "--url", url], out) == 0

    lines = out.getvalue().splitlines()
    assert lines[0] == f"schema version 0 of {SCHEMA_VERSION} (upgrade needed)"
    assert lines[1] == f"schema upgraded from version 0 to {SCHEMA_VERSION}"
    assert lines[2] == f"schema version {SCHEMA_VERSION} of {SCHEMA_VERSION} (up to date)"


def test_cli_db_reports_unreachable_database(tmp_path: Path) -> None:
    """An unusable URL gives exit status 1 and a readable error, not a traceback."""
    out = io.StringIO()
    path = tmp_path / "missing-dir" / "x.db"

    assert main(["db", "upgrade", "--url", f"sqlite:///{path}"], out) == 1
    assert out.getvalue() == (
        f"error: cannot connect to the database (SQLite file {path}): "
        "OperationalError: unable to open database file\n"
    )


def _dump(engine: sa.engine.Engine, tables: list[str]) -> dict[str, list[tuple[object, ...]]]:
    """Every row of *tables*, sorted, for before/after comparisons."""
    with engine.connect() as conn:
        return {
            name: sorted(tuple(row) for row in conn.execute(sa.select(metadata.tables[name])))
            for name in tables
        }


LTI_TABLES = ["credlti_registrations", "credlti_deployments", "credlti_nonces"]
VAULT_TABLES = sorted(set(metadata.tables) - {*LTI_TABLES, "credlti_schema_version"})


def test_upgrade_from_version_1_keeps_every_lti_row(url: str) -> None:
    """A version-1 database with registrations, deployments and nonces upgrades intact."""
    engine = create_engine(url)
    try:
        assert upgrade(engine, target=1) == 1
        assert not set(VAULT_TABLES) & set(sa.inspect(engine).get_table_names())
        storage = SqlLaunchStorage(engine)
        other = Registration(
            issuer="https://other.example.edu",
            client_id="tool-2",
            auth_endpoint="https://other.example.edu/auth",
            jwks_uri="https://other.example.edu/jwks",
            token_endpoint="https://other.example.edu/token",
        )
        for record in (REGISTRATION, other):
            storage.add_registration(record)
            for deployment_id in ("d-1", "d-2"):
                storage.add_deployment(record, Deployment(deployment_id=deployment_id))
            for i in range(3):
                storage.store_nonce(
                    f"n-{i}", record, expires_at=NOW + timedelta(minutes=5), now=NOW
                )
        storage.validate_nonce("n-0", REGISTRATION, now=NOW)
        before = _dump(engine, LTI_TABLES)
        assert [len(before[t]) for t in LTI_TABLES] == [2, 4, 6]

        assert current_version(engine) == 1
        assert upgrade(engine) == SCHEMA_VERSION

        assert current_version(engine) == SCHEMA_VERSION
        assert _dump(engine, LTI_TABLES) == before
        assert _dump(engine, VAULT_TABLES) == {t: [] for t in VAULT_TABLES}
        assert storage.validate_nonce("n-0", REGISTRATION, now=NOW).value == "already_used"
        assert storage.validate_nonce("n-1", other, now=NOW).value == "consumed"
    finally:
        engine.dispose()


def test_cli_db_reports_and_applies_1_to_latest(url: str) -> None:
    """`credlti db status` on a version-1 database says 1 of N; `db upgrade` goes 1 -> N."""
    engine = create_engine(url)
    upgrade(engine, target=1)
    SqlLaunchStorage(engine).add_registration(REGISTRATION)
    engine.dispose()
    out = io.StringIO()

    assert main(["db", "status", "--url", url], out) == 1
    assert main(["db", "upgrade", "--url", url], out) == 0
    assert main(["db", "upgrade", "--url", url], out) == 0

    assert out.getvalue().splitlines() == [
        f"schema version 1 of {SCHEMA_VERSION} (upgrade needed)",
        f"schema upgraded from version 1 to {SCHEMA_VERSION}",
        f"schema already at version {SCHEMA_VERSION}; nothing to do",
    ]
    engine = create_engine(url)
    assert SqlLaunchStorage(engine).get_registration(REGISTRATION.issuer, None) == REGISTRATION
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nosuchdialect://x", "unknown database dialect or driver 'nosuchdialect'"),
        ("not a url", "the database URL cannot be parsed"),
        ("postgresql+psycopg://app:hunter2@db:port/app", "the database URL cannot be parsed"),
        ("postgresql+pg8000://app:hunter2@db/app", 'install "credlti[postgres]"'),
        ("mysql://app:hunter2@db/app", 'PostgreSQL (install "credlti[postgres]"'),
    ],
)
def test_create_engine_refuses_unusable_urls_with_configuration_errors(
    url: str, message: str
) -> None:
    """A bad URL, an unknown dialect or a missing driver is a ConfigurationError naming the
    extra to install, never a SQLAlchemy or import error, and never shows the password."""
    with pytest.raises(ConfigurationError) as info:
        create_engine(url)

    assert message in str(info.value)
    assert "hunter2" not in str(info.value)
    assert info.value.code == "configuration_error"


def test_unreachable_database_says_where_and_why() -> None:
    """current_version() and upgrade() on a closed port: StorageUnavailableError saying
    which database could not be reached and the driver's reason, without the password."""
    engine = create_engine("postgresql+psycopg://app:hunter2@127.0.0.1:1/app")
    try:
        for call in (current_version, upgrade):
            with pytest.raises(StorageUnavailableError) as info:
                call(engine)
            assert str(info.value).startswith(
                "cannot connect to the database (postgresql on 127.0.0.1:1, database app): "
                "OperationalError: "
            )
            assert "hunter2" not in str(info.value)
            assert info.value.details["database"] == "postgresql on 127.0.0.1:1, database app"
    finally:
        engine.dispose()
