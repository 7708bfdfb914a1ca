"""The vault port contracts on SQL: SQLite (file, memory, a host's engine) and PostgreSQL.

Only factories live here; the tests are those of ``vault_contract.py``, the same ones
the memory adapters pass. SQL-specific behaviour is in ``test_sql_vault_*.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from credlti.adapters.sql import (
    SqlAuditSink,
    SqlOAuthClientRegistry,
    SqlStepActivity,
    SqlVaultStore,
    create_engine,
    upgrade,
)
from credlti.credentials import EncryptionKey, KeyRing, OAuthClient

from .vault_contract import (
    AuditSinkContract,
    OAuthClientRegistryContract,
    StepActivityContract,
    VaultStoreContract,
)

KEYRING = KeyRing([EncryptionKey(id="k1", material=bytes(range(32)))])


def _host_engine(url: str) -> Engine:
    """A SQLite engine as a host may build it: SQLAlchemy's BEGIN recipe, no credlti pragmas."""
    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver never begins by itself
        dbapi_connection.execute("PRAGMA busy_timeout=30000")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


@pytest.fixture(
    name="engine", params=["sqlite-file", "sqlite-memory", "sqlite-host-engine", "postgresql"]
)
def _engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An upgraded, empty database on each backend."""
    if request.param == "sqlite-file":
        engine = create_engine(f"sqlite:///{tmp_path / 'vault.db'}")
    elif request.param == "sqlite-memory":
        engine = create_engine("sqlite://")
    elif request.param == "sqlite-host-engine":
        engine = _host_engine(f"sqlite:///{tmp_path / 'host.db'}")
    else:
        engine = create_engine(request.getfixturevalue("fresh_postgres_url"))
    upgrade(engine)
    yield engine
    engine.dispose()


class TestSqlVaultStore(VaultStoreContract):
    @pytest.fixture
    def make_store(self, engine: Engine) -> Callable[[], SqlVaultStore]:
        return lambda: SqlVaultStore(engine)


class TestSqlStepActivity(StepActivityContract):
    @pytest.fixture
    def make_activity(self, engine: Engine) -> Callable[[list[str]], SqlStepActivity]:
        def make(ids: list[str]) -> SqlStepActivity:
            activity = SqlStepActivity(engine)
            for credential_id in ids:
                activity.record(credential_id)
            return activity

        return make


class TestSqlAuditSink(AuditSinkContract):
    @pytest.fixture
    def make_audit(self, engine: Engine) -> Callable[[], SqlAuditSink]:
        return lambda: SqlAuditSink(engine)


class TestSqlOAuthClients(OAuthClientRegistryContract):
    @pytest.fixture
    def make_clients(self, engine: Engine) -> Callable[[list[OAuthClient]], SqlOAuthClientRegistry]:
        def make(clients: list[OAuthClient]) -> SqlOAuthClientRegistry:
            registry = SqlOAuthClientRegistry(engine, KEYRING)
            for client in clients:
                registry.add(client)
            return registry

        return make


def test_sql_client_registry_round_trips_every_field(engine: Engine) -> None:
    """Authorization-code metadata is stored and returned with the rest of the client."""
    registry = SqlOAuthClientRegistry(engine, KEYRING)
    plain = OAuthClient(id="g", client_id="cid", token_endpoint="https://idp.example/token")
    rich = OAuthClient(
        id="h",
        client_id="cid",
        token_endpoint="https://idp.example/token",
        authorization_endpoint="https://idp.example/authorize",
        mandatory_scopes=("mail.read",),
        is_global=False,
        project_ids=["p1"],
    )
    registry.add(plain)
    registry.add(rich)

    assert registry.get_client("g") == plain
    assert registry.get_client("h") == rich
    assert registry.clients_for_project("p1") == [plain, rich]
    assert registry.clients_for_project("p2") == [plain]
