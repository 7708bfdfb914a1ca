"""The LaunchStorage contract on SQL: SQLite (file and memory) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from credlti.adapters.sql import SqlLaunchStorage, create_engine, upgrade
from credlti.lti import Deployment, Registration
from tests.adapters.launch_contract import LaunchStorageContract


def _storage(url: str) -> Iterator[SqlLaunchStorage]:
    engine = create_engine(url)
    upgrade(engine)
    try:
        yield SqlLaunchStorage(engine)
    finally:
        engine.dispose()


class _SqlContract(LaunchStorageContract):
    """SQL adapters return equal records (rebuilt from rows), not the same objects.

    The async form (``AsyncSqlLaunchStorage``) runs the same contract once this class
    has an ``async_storage`` fixture building it on the database of ``storage``.
    """

    #: One store in 64 deletes up to 256 expired nonces.
    flood_slack = 128

    def add_registration(self, storage: Any, record: Registration) -> Any:
        storage.add_registration(record)
        return record

    def add_deployment(self, storage: Any, record: Registration, deployment: Deployment) -> Any:
        storage.add_deployment(record, deployment)
        return deployment

    def assert_same_host(self, expected: Any, actual: Any) -> None:
        assert actual == expected

    def count_nonces(self, storage: Any) -> int:
        with storage.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM credlti_nonces").scalar())

    def test_list_registrations_with_deployments_and_remove_one(
        self, storage: SqlLaunchStorage
    ) -> None:
        """Operators list every registration with its deployments and remove one deployment."""
        first = Registration(
            issuer="https://b.example.edu",
            client_id="c-1",
            auth_endpoint="https://b.example.edu/auth",
            jwks_uri="https://b.example.edu/jwks",
        )
        second = Registration(
            issuer="https://a.example.edu",
            client_id="c-2",
            auth_endpoint="https://a.example.edu/auth",
            jwks_uri="https://a.example.edu/jwks",
        )
        assert storage.list_registrations() == []
        storage.add_registration(first)
        storage.add_registration(second)
        for deployment_id in ("d-2", "d-1"):
            storage.add_deployment(first, Deployment(deployment_id=deployment_id))

        assert storage.list_registrations() == [
            (second, []),
            (first, [Deployment(deployment_id="d-1"), Deployment(deployment_id="d-2")]),
        ]
        assert storage.remove_deployment(first, "d-1") is True
        assert storage.remove_deployment(first, "d-1") is False
        assert storage.remove_deployment(second, "x" * 300) is False
        assert storage.list_registrations()[1] == (first, [Deployment(deployment_id="d-2")])


class TestSqliteFileLaunchStorage(_SqlContract):
    """The contract on a SQLite database file."""

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[SqlLaunchStorage]:
        yield from _storage(f"sqlite:///{tmp_path / 'launch.db'}")


class TestSqliteMemoryLaunchStorage(_SqlContract):
    """The contract on an in-memory SQLite database shared by threads."""

    @pytest.fixture
    def storage(self) -> Iterator[SqlLaunchStorage]:
        yield from _storage("sqlite://")


class TestPostgresLaunchStorage(_SqlContract):
    """The contract on a real PostgreSQL 15 server."""

    @pytest.fixture
    def storage(self, fresh_postgres_url: str) -> Iterator[SqlLaunchStorage]:
        yield from _storage(fresh_postgres_url)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_auto_registered_deployment_is_created_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """auto_register_deployments creates an unknown deployment once, idempotently."""
    url = (
        f"sqlite:///{tmp_path / 'auto.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    engine = create_engine(url)
    upgrade(engine)
    record = Registration(
        issuer="https://lms.example.edu",
        client_id="client-1",
        auth_endpoint="https://lms.example.edu/auth",
        jwks_uri="https://lms.example.edu/jwks",
    )
    strict = SqlLaunchStorage(engine)
    auto = SqlLaunchStorage(engine, auto_register_deployments=True)
    strict.add_registration(record)

    assert strict.get_deployment(record, "new-1") is None
    assert auto.get_deployment(record, "new-1") == Deployment(deployment_id="new-1")
    assert auto.get_deployment(record, "new-1") == Deployment(deployment_id="new-1")
    assert strict.get_deployment(record, "new-1") == Deployment(deployment_id="new-1")
    other = Registration(
        issuer="https://unknown.example.edu",
        client_id="client-1",
        auth_endpoint="https://unknown.example.edu/auth",
        jwks_uri="https://unknown.example.edu/jwks",
    )
    assert auto.get_deployment(other, "new-1") is None
    engine.dispose()
