"""The vault port contracts on SQL: SQLite (file and memory) and PostgreSQL.

Only factories live here; the tests are those of ``vault_contract.py``, the same ones
the memory adapters pass. SQL-specific behaviour is in ``test_sql_vault_*.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

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


@pytest.fixture(name="engine", params=["sqlite-file", "sqlite-memory", "postgresql"])
def _engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An upgraded, empty database on each backend."""
    if request.param == "sqlite-file":
        url = f"sqlite:///{tmp_path / 'vault.db'}"
    elif request.param == "sqlite-memory":
        url = "sqlite://"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = create_engine(url)
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
