"""One vault on each backend (memory, SQLite, PostgreSQL) with a snapshot of its store.

Used by the gate's property tests and the after-commit notice tests: the same
scenario runs on every backend, and ``snapshot()`` returns every stored row of the
vault's store (credentials, shares, OAuth tokens, transfer tokens) so a test can
check that a failed call changed nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import sqlalchemy as sa

from credlti.adapters.memory import (
    MemoryAuditSink,
    MemoryNotifier,
    MemoryOAuthClientRegistry,
    MemoryStepActivity,
    MemoryUserDirectory,
    MemoryVaultStore,
)
from credlti.adapters.sql import (
    SqlAuditSink,
    SqlOAuthClientRegistry,
    SqlStepActivity,
    SqlVaultStore,
    create_engine,
    metadata,
    upgrade,
)
from credlti.credentials import (
    AuditEvent,
    Credential,
    EncryptionKey,
    KeyRing,
    OAuthClient,
    Vault,
    VaultConfig,
    VaultUser,
)
from credlti.testing import FrozenClock

BACKENDS = ("memory", "sqlite", "postgresql")
KEY = EncryptionKey(id="k1", material=bytes(range(32)))
STORE_TABLES = (
    "credlti_credentials",
    "credlti_project_shares",
    "credlti_oauth_tokens",
    "credlti_transfer_tokens",
)
GOOGLE = OAuthClient(
    id="google",
    client_id="client-123",
    client_secret="client-S3cret",
    token_endpoint="https://oauth.example.org/token",
    revocation_endpoint="https://oauth.example.org/revoke",
)


@attrs.define
class FlakyNotifier:
    """A notifier whose sends fail while ``down`` (the host's mailer is down)."""

    inner: MemoryNotifier = attrs.field(factory=MemoryNotifier)
    down: bool = False

    def __getattr__(self, kind: str) -> Callable[..., None]:
        send = getattr(self.inner, kind)

        def call(**arguments: Any) -> None:
            if self.down:
                msg = "smtp.example.org: connection refused"
                raise RuntimeError(msg)
            send(**arguments)

        return call


@attrs.define
class TeeAudit:
    """Forwards to the real sink and keeps a copy of every event (``recorded``)."""

    inner: Any
    recorded: list[AuditEvent] = attrs.field(factory=list)

    def record(self, event: AuditEvent) -> None:
        self.inner.record(event)
        self.recorded.append(event)

    def events_for(self, credential_id: str) -> list[AuditEvent]:
        return list(self.inner.events_for(credential_id))


@attrs.define
class Backend:
    """A wired vault plus what the tests look at."""

    name: str
    vault: Vault
    directory: MemoryUserDirectory
    notifier: FlakyNotifier
    clock: FrozenClock
    snapshot: Callable[[], Any]
    audit_events: Callable[[], list[AuditEvent]]
    tee: TeeAudit

    def credential(self, body: dict[str, Any] | None = None, **extra: Any) -> Credential:
        """A fresh postgresql credential of alice (unique name), shared with p1."""
        attrs_: dict[str, Any] = {
            "name": f"c-{uuid.uuid4().hex[:12]}",
            "schema": "raw",
            "owner_id": "alice",
            "body": body or {"password": "pw"},
            "project_ids": ["p1"],
        }
        attrs_.update(extra)
        return self.vault.create_credential(attrs_)


def _token_endpoint(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"access_token": "fresh-at", "expires_in": 3600})


def _sql_snapshot(engine: sa.Engine) -> Callable[[], Any]:
    def snapshot() -> Any:
        out = {}
        with engine.connect() as conn:
            for name in STORE_TABLES:
                table = metadata.tables[name]
                rows = conn.execute(sa.select(table)).all()
                out[name] = sorted(tuple(map(repr, row)) for row in rows)
        return out

    return snapshot


def _memory_snapshot(store: MemoryVaultStore) -> Callable[[], Any]:
    def snapshot() -> Any:
        tables = store._t  # the stored rows themselves
        return {
            "rows": dict(tables.rows),
            "shares": dict(tables.shares),
            "tokens": dict(tables.tokens),
            "transfers": {k: dict(v) for k, v in tables.transfers.items() if v},
        }

    return snapshot


@contextmanager
def _database(name: str, tmp_path: Path, postgres_url: Callable[[], str]) -> Iterator[str | None]:
    if name == "memory":
        yield None
    elif name == "sqlite":
        # In memory (one shared database): the same SQL, no file sync per commit.
        yield "sqlite://"
    else:
        server = postgres_url()
        database = f"credlti_gate_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
        try:
            yield server.rsplit("/", 1)[0] + "/" + database
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.dispose()


@contextmanager
def open_backend(
    name: str,
    tmp_path: Path,
    postgres_url: Callable[[], str],
    *,
    config: VaultConfig | None = None,
) -> Iterator[Backend]:
    """A vault on *name* with users alice, bob (projects p1, p2) and carol (p1)."""
    directory = MemoryUserDirectory()
    directory.add_user(VaultUser(id="alice", email="alice@example.org"), projects=["p1", "p2"])
    directory.add_user(VaultUser(id="bob", email="bob@example.org"), projects=["p1", "p2"])
    directory.add_user(VaultUser(id="carol", email="carol@example.org"), projects=["p1"])
    keyring = KeyRing([KEY])
    notifier, clock = FlakyNotifier(), FrozenClock()
    http = httpx.Client(transport=httpx.MockTransport(_token_endpoint))
    with _database(name, tmp_path, postgres_url) as url:
        engine = None
        store: Any
        if url is None:
            store = MemoryVaultStore()
            audit: Any = MemoryAuditSink()
            activity: Any = MemoryStepActivity()
            clients: Any = MemoryOAuthClientRegistry()
            clients.add(GOOGLE)
            snapshot = _memory_snapshot(store)

            def events() -> list[AuditEvent]:
                return list(audit.events)
        else:
            engine = create_engine(url)
            upgrade(engine)
            store, sql_audit = SqlVaultStore(engine), SqlAuditSink(engine)
            audit = sql_audit
            activity = SqlStepActivity(engine)
            clients = SqlOAuthClientRegistry(engine, keyring)
            clients.add(GOOGLE)
            snapshot = _sql_snapshot(engine)
            table = metadata.tables["credlti_audit_events"]

            def events() -> list[AuditEvent]:
                with engine.connect() as conn:
                    ids = conn.execute(sa.select(table.c.credential_id).distinct()).scalars()
                    return [e for cid in list(ids) for e in sql_audit.events_for(cid)]

        tee = TeeAudit(audit)
        vault = Vault(
            store=store,
            keyring=keyring,
            directory=directory,
            notifier=notifier,
            audit=tee,
            activity=activity,
            oauth_clients=clients,
            http_client=http,
            clock=clock,
            config=config,
        )
        try:
            yield Backend(name, vault, directory, notifier, clock, snapshot, events, tee)
        finally:
            vault.close()
            http.close()
            if engine is not None:
                engine.dispose()
