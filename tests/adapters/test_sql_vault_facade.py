"""The Vault facade on the SQL adapters: atomicity, row locks, purge batches, typed errors."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from credlti.adapters.memory import MemoryNotifier, MemoryUserDirectory, MemoryVaultStore
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
    AuditAction,
    AuditEvent,
    Credential,
    CredentialRow,
    EncryptionKey,
    KeyRing,
    OAuthClient,
    ProjectRef,
    ProjectShare,
    TransferStatus,
    Vault,
    VaultUser,
)
from credlti.errors import (
    CredentialValidationError,
    StorageConflictError,
    StorageUnavailableError,
)
from credlti.testing import FrozenClock

KEY = EncryptionKey(id="k1", material=bytes(range(32)))
SECRET = "pg-S3cret-pass-7f1d"
PG_BODY = {"host": "db", "port": "5432", "database": "app", "user": "svc", "password": SECRET}
UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def _url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite-file":
        return f"sqlite:///{tmp_path / 'vault.db'}"
    if backend == "sqlite-memory":
        return "sqlite://"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture(name="engine", params=["sqlite-file", "sqlite-memory", "postgresql"])
def _engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An upgraded, empty database on each backend."""
    engine = create_engine(_url(request.param, tmp_path, request))
    upgrade(engine)
    yield engine
    engine.dispose()


class FailingAudit:
    """An audit sink that raises on one action while armed (failure injection)."""

    def __init__(self, inner: SqlAuditSink, fail_on: AuditAction) -> None:
        self.inner, self.fail_on, self.armed = inner, fail_on, True

    def record(self, event: AuditEvent) -> None:
        if self.armed and event.action is self.fail_on:
            raise StorageUnavailableError("injected: the audit database went away")
        self.inner.record(event)

    def events_for(self, credential_id: str) -> list[AuditEvent]:
        return self.inner.events_for(credential_id)


@attrs.define
class Kit:
    """A vault wired to the SQL adapters (users and notices stay in memory)."""

    engine: Engine
    vault: Vault
    store: SqlVaultStore
    audit: SqlAuditSink
    activity: SqlStepActivity
    clients: SqlOAuthClientRegistry
    notifier: MemoryNotifier
    clock: FrozenClock
    alice: VaultUser
    bob: VaultUser

    def pg(self, name: str = "db", **extra: Any) -> Credential:
        attrs_ = {"name": name, "schema": "postgresql", "owner_id": "alice", "body": PG_BODY}
        return self.vault.create_credential({**attrs_, **extra})


def _no_provider(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500)


def make_kit(engine: Engine, *, audit: Any = None, http: httpx.Client | None = None) -> Kit:
    """A SQL-backed vault with users alice and bob (both in projects p1 and p2)."""
    directory = MemoryUserDirectory()
    alice = directory.add_user(VaultUser(id="alice", email="alice@example.org"), projects=["p1"])
    bob = directory.add_user(VaultUser(id="bob", email="bob@example.org"), projects=["p1", "p2"])
    keyring = KeyRing([KEY])
    store, sink = SqlVaultStore(engine), SqlAuditSink(engine)
    activity, clients = SqlStepActivity(engine), SqlOAuthClientRegistry(engine, keyring)
    notifier, clock = MemoryNotifier(), FrozenClock()
    vault = Vault(
        store=store,
        keyring=keyring,
        directory=directory,
        notifier=notifier,
        audit=audit or sink,
        activity=activity,
        oauth_clients=clients,
        http_client=http
        or httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))),
        clock=clock,
    )
    return Kit(engine, vault, store, sink, activity, clients, notifier, clock, alice, bob)


def _transfer_rows(engine: Engine, credential_id: str) -> int:
    table = metadata.tables["credlti_transfer_tokens"]
    query = sa.select(sa.func.count()).where(table.c.credential_id == credential_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


# --------------------------------------------------------------------------- atomicity


def test_failed_confirm_transfer_keeps_old_owner_and_valid_token(engine: Engine) -> None:
    """An audit failure mid-confirmation rolls back: old owner, pending, token still works."""
    sink = FailingAudit(SqlAuditSink(engine), AuditAction.TRANSFER_COMPLETED)
    kit = make_kit(engine, audit=sink)
    cred = kit.pg(project_ids=["p1"])
    pending = kit.vault.initiate_credential_transfer(kit.alice, kit.bob, cred)

    with pytest.raises(StorageUnavailableError, match="injected"):
        kit.vault.confirm_transfer(cred.id, "bob", "alice", pending.token)

    after = kit.vault.get_credential_or_raise(cred.id)
    assert after.owner_id == "alice"
    assert after.transfer_status is TransferStatus.PENDING
    assert after.project_ids == {"p1"}
    assert _transfer_rows(engine, cred.id) == 1
    actions = [e.action for e in kit.audit.events_for(cred.id)]
    assert AuditAction.TRANSFER_COMPLETED not in actions
    assert kit.notifier.of_kind("transfer_completed") == []

    sink.armed = False
    done = kit.vault.confirm_transfer(cred.id, "bob", "alice", pending.token)

    assert done.owner_id == "bob"
    assert done.transfer_status is TransferStatus.COMPLETED
    assert _transfer_rows(engine, cred.id) == 0
    assert kit.audit.events_for(cred.id)[-1].action is AuditAction.TRANSFER_COMPLETED
    assert kit.vault.get_credential_or_raise(cred.id).owner_id == "bob"


def _confirm_then_die(url: str, credential_id: str, token: str) -> None:
    """Worker: confirm a transfer but kill the process right before the token delete."""
    engine = create_engine(url)
    seen: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _die(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.split("\n", 1)[0])
        if statement.startswith("DELETE FROM credlti_transfer_tokens"):
            # The ownership UPDATE runs as prebuilt SQL on the DB-API connection (no
            # SQLAlchemy event): read the row in the same, uncommitted transaction.
            mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
            probe = cursor.connection.cursor()
            probe.execute(
                f"SELECT owner_id FROM credlti_credentials WHERE id = {mark}",  # noqa: S608
                (credential_id,),
            )
            updated = probe.fetchone()[0] == "bob"
            os._exit(17 if updated else 18)  # no rollback, no cleanup: a crash

    make_kit(engine).vault.confirm_transfer(credential_id, "bob", "alice", token)
    os._exit(19)  # the hook did not fire


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
def test_process_killed_during_confirm_transfer_leaves_old_owner(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process dying after the ownership UPDATE, before commit, changes nothing."""
    url = _url(backend, tmp_path, request)
    engine = create_engine(url)
    upgrade(engine)
    kit = make_kit(engine)
    cred = kit.pg()
    pending = kit.vault.initiate_credential_transfer(kit.alice, kit.bob, cred)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    worker = multiprocessing.get_context("spawn").Process(
        target=_confirm_then_die, args=(url, cred.id, pending.token)
    )
    worker.start()
    worker.join(60)

    assert worker.exitcode == 17, "the worker must die after the UPDATE, before the commit"
    after = kit.vault.get_credential_or_raise(cred.id)
    assert (after.owner_id, after.transfer_status) == ("alice", TransferStatus.PENDING)
    assert _transfer_rows(engine, cred.id) == 1
    assert kit.vault.confirm_transfer(cred.id, "bob", "alice", pending.token).owner_id == "bob"
    engine.dispose()


def test_nested_units_of_work_join_and_roll_back_together(engine: Engine) -> None:
    """Vault calls inside get_credential_for_update join it; an error undoes all of them."""
    kit = make_kit(engine)
    cred = kit.pg()

    with pytest.raises(RuntimeError), kit.vault.get_credential_for_update(cred.id) as locked:  # noqa: PT012
        kit.vault.update_credential(locked, {"name": "renamed", "project_ids": ["p1"]})
        assert kit.vault.get_credential_or_raise(cred.id).name == "renamed"
        raise RuntimeError

    again = kit.vault.get_credential_or_raise(cred.id)
    assert (again.name, again.project_ids) == ("db", frozenset())
    assert [e.action for e in kit.audit.events_for(cred.id)] == [AuditAction.CREATED]


def test_creates_and_reads_build_no_sqlalchemy_connection(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot paths run on the pooled DB-API connection; a listing makes one, joined."""
    kit = make_kit(engine)
    made: list[Connection] = []
    real_init = Connection.__init__

    def counting_init(self: Connection, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "__init__", counting_init)  # SQLAlchemy's, counted
    cred = kit.pg()
    assert kit.vault.get_credential(cred.id) == cred
    kit.vault.update_credential(cred, {"name": "renamed", "body": PG_BODY})
    assert made == []
    with kit.store.transaction() as tx:
        assert [row.id for row in tx.credentials.find(owner_id="alice")] == [cred.id]
        assert [row.id for row in tx.credentials.find(owner_id="alice")] == [cred.id]
    assert len(made) == 1  # made on first use, then reused in the unit of work


def test_engines_with_listeners_or_options_open_units_of_work_through_sqlalchemy(
    engine: Engine,
) -> None:
    """Host listeners see each unit of work whole; its isolation level holds throughout."""
    isolation = "REPEATABLE READ" if engine.dialect.name == "postgresql" else "SERIALIZABLE"
    optioned = engine.execution_options(isolation_level=isolation)
    kit = make_kit(optioned)
    cred = kit.pg()
    with pytest.raises(RuntimeError), kit.store.transaction() as tx:  # noqa: PT012
        row = tx.credentials.get(cred.id)
        assert row is not None
        tx.credentials.update(attrs.evolve(row, name="undone"))  # prebuilt
        assert [r.name for r in tx.credentials.find(owner_id="alice")] == ["undone"]  # Core
        raise RuntimeError
    assert kit.vault.get_credential_or_raise(cred.id).name == "db"

    commits: list[Connection] = []

    def committed(conn: Connection) -> None:
        commits.append(conn)

    sa.event.listen(engine, "commit", committed)
    try:
        listened = make_kit(engine)
        listened.vault.update_credential(cred, {"name": "renamed"})
        assert len(commits) == 1
        assert listened.vault.get_credential_or_raise(cred.id).name == "renamed"
    finally:
        sa.event.remove(engine, "commit", committed)


def test_prebuilt_and_sqlalchemy_statements_commit_and_roll_back_together(
    engine: Engine,
) -> None:
    """One transaction: rows written through both paths go or stay together."""
    kit = make_kit(engine)
    cred = kit.pg()

    def write(name: str) -> None:
        with kit.store.transaction() as tx:
            row = tx.credentials.get(cred.id)
            assert row is not None
            tx.credentials.update(attrs.evolve(row, name=name))  # prebuilt statement
            tx.shares.add(  # a SQLAlchemy statement on the same DB-API connection
                ProjectShare(
                    id=f"s-{name}",
                    credential_id=cred.id,
                    project_id="p1",
                    created_at=row.created_at,
                )
            )
            if name == "undone":
                raise RuntimeError

    with pytest.raises(RuntimeError):
        write("undone")
    again = kit.vault.get_credential_or_raise(cred.id)
    assert (again.name, again.shares) == ("db", ())
    write("kept")
    again = kit.vault.get_credential_or_raise(cred.id)
    assert (again.name, [s.id for s in again.shares]) == ("kept", ["s-kept"])


# --------------------------------------------------------------------------- row locks


def test_get_credential_for_update_blocks_a_concurrent_writer(engine: Engine) -> None:
    """A writer waits for the row lock, then sees the holder's committed change."""
    kit = make_kit(engine)
    cred = kit.pg()
    locked, times = threading.Event(), {}
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            locked.wait(5)
            with kit.vault.get_credential_for_update(cred.id) as current:
                kit.vault.update_credential(current, {"name": current.name + "-b"})
            times["writer_done"] = time.monotonic()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    with kit.vault.get_credential_for_update(cred.id) as current:
        locked.set()
        time.sleep(0.3)
        kit.vault.update_credential(current, {"name": current.name + "-a"})
        times["holder_released"] = time.monotonic()
    thread.join(10)

    assert errors == []
    assert times["writer_done"] > times["holder_released"]
    assert kit.vault.get_credential_or_raise(cred.id).name == "db-a-b"


def test_read_modify_write_under_the_row_lock_loses_no_update(engine: Engine) -> None:
    """6 threads x 5 increments of a counter in the body: every increment survives."""
    kit = make_kit(engine)
    cred = kit.vault.create_credential(
        {"name": "counter", "schema": "raw", "owner_id": "alice", "body": {"n": 0}}
    )
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(5):
                with kit.vault.get_credential_for_update(cred.id) as current:
                    assert current.body is not None
                    kit.vault.update_credential(current, {"body": {"n": current.body["n"] + 1}})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    body = kit.vault.get_credential_or_raise(cred.id).body
    assert body == {"n": 30}


# --------------------------------------------------------------------------- purge


def _seed_due(store: Any, n: int, clock: FrozenClock, keyring: KeyRing) -> list[str]:
    """n credentials whose deletion is due, each with a share (rows only, no audit)."""
    ids = [f"cred-{i:05d}" for i in range(n)]
    due = clock() - timedelta(days=1)
    with store.transaction() as tx:
        for i, cid in enumerate(ids):
            tx.credentials.add(
                CredentialRow(
                    id=cid,
                    name=f"c{i}",
                    schema="raw",
                    owner_id=f"u{i % 7}",
                    body_ciphertext=keyring.encrypt(b"{}", cid.encode(), nonce=bytes(12)),
                    scheduled_deletion=due,
                    created_at=due,
                    updated_at=due,
                )
            )
            tx.shares.add(
                ProjectShare(id=f"s-{cid}", credential_id=cid, project_id="p1", created_at=due)
            )
    return ids


@attrs.define
class CountingStore:
    """Delegates to a store, noting the size of every scanned batch."""

    inner: SqlVaultStore
    batches: list[int] = attrs.field(factory=list)

    def transaction(self) -> Any:
        return self.inner.transaction()

    def scan_credentials(self, **kwargs: Any) -> list[CredentialRow]:
        rows = self.inner.scan_credentials(**kwargs)
        self.batches.append(len(rows))
        return rows

    def lock(self, key: str, *, timeout: float) -> Any:
        return self.inner.lock(key, timeout=timeout)


@pytest.mark.slow
def test_purge_works_in_batches_with_true_counts(engine: Engine) -> None:
    """3,000 due credentials, a third with step activity: batches of 500, counts as memory's."""
    kit = make_kit(engine)
    ids = _seed_due(kit.store, 3000, kit.clock, KeyRing([KEY]))
    with_activity = ids[::3]
    for cid in with_activity:
        kit.activity.record(cid)
    store = CountingStore(kit.store)
    vault = Vault(
        store=store, keyring=KeyRing([KEY]), activity=kit.activity, audit=kit.audit, clock=kit.clock
    )

    first = vault.purge_deleted(batch_size=500)
    second = vault.purge_deleted(batch_size=500)

    assert store.batches[:7] == [500] * 6 + [0]
    assert (first.scrubbed, first.deleted, first.kept) == (3000, 2000, 1000)
    assert (second.scrubbed, second.deleted, second.kept) == (0, 0, 1000)
    memory = MemoryVaultStore()
    _seed_due(memory, 3000, kit.clock, KeyRing([KEY]))
    mem_vault = Vault(
        store=memory,
        keyring=KeyRing([KEY]),
        activity=kit.activity,  # the same activity lookup
        clock=kit.clock,
    )
    assert mem_vault.purge_deleted(batch_size=500) == first
    with engine.connect() as conn:
        counts = {
            name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for name, t in metadata.tables.items()
            if name in {"credlti_credentials", "credlti_project_shares", "credlti_audit_events"}
        }
        bodies = conn.execute(
            sa.select(sa.func.count()).where(
                metadata.tables["credlti_credentials"].c.body_ciphertext.is_not(None)
            )
        ).scalar_one()
    assert counts == {
        "credlti_credentials": 1000,
        "credlti_project_shares": 1000,  # kept rows keep their (scrubbed) shares
        "credlti_audit_events": 3000,
    }
    assert bodies == 0


# --------------------------------------------------------------------------- typed errors


def test_constraint_violations_are_storage_conflicts(engine: Engine) -> None:
    """Duplicate ids and a share of a missing credential raise StorageConflictError."""
    kit = make_kit(engine)
    cred = kit.pg()
    event = kit.audit.events_for(cred.id)[0]

    with pytest.raises(StorageConflictError) as info:
        kit.audit.record(event)
    assert info.value.code == "storage_conflict"
    with pytest.raises(StorageConflictError), kit.store.transaction() as tx:
        tx.shares.add(
            ProjectShare(id="s", credential_id="nope", project_id="p", created_at=kit.clock())
        )
    with pytest.raises(StorageConflictError), kit.store.transaction():
        kit.audit.record(attrs.evolve(event, credential_id="other"))
    assert len(kit.audit.events_for(cred.id)) == 1
    assert kit.vault.get_credential_or_raise(cred.id) == cred


def test_concurrent_creates_with_one_name_give_one_credential(engine: Engine) -> None:
    """Racing creates of one (owner, name): one wins, the others get the name error."""
    kit = make_kit(engine)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def create() -> None:
        barrier.wait(5)
        try:
            kit.pg(name="same")
            outcomes.append("created")
        except CredentialValidationError as exc:
            outcomes.append("/".join(e.path for e in exc.field_errors) + " taken")

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["created"] + ["name taken"] * 3
    assert len(kit.vault.list_credentials(kit.alice)) == 1


def test_unreachable_database_is_storage_unavailable() -> None:
    """Every SQL vault adapter turns a dead server into StorageUnavailableError."""
    engine = create_engine(UNREACHABLE, connect_args={"connect_timeout": 2})
    kit = make_kit(engine)
    event = AuditEvent(
        id="e", action=AuditAction.CREATED, credential_id="c", actor_id=None, at=kit.clock()
    )
    calls: list[Callable[[], object]] = [
        lambda: kit.store.transaction().__enter__(),
        lambda: kit.store.scan_credentials(after_id=None, limit=10),
        lambda: kit.store.lock("k", timeout=1).__enter__(),
        lambda: kit.audit.record(event),
        lambda: kit.audit.events_for("c"),
        lambda: kit.clients.get_client("c"),
        lambda: kit.activity.with_activity(["c"]),
        lambda: kit.vault.get_credential("c"),
        lambda: kit.pg(),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailableError) as info:
            call()
        assert info.value.http_status == 503
        assert "nobody" not in str(info.value)
    engine.dispose()


def test_missing_vault_tables_say_to_upgrade(tmp_path: Path) -> None:
    """A version-1 database (no vault tables) fails with the `credlti db upgrade` hint."""
    engine = create_engine(f"sqlite:///{tmp_path / 'v1.db'}")
    upgrade(engine, target=1)

    with pytest.raises(StorageUnavailableError, match="credlti db upgrade"):
        make_kit(engine).vault.get_credential("c")
    engine.dispose()


# --------------------------------------------------------------------------- secrets at rest


def test_no_secret_is_stored_in_clear(tmp_path: Path) -> None:
    """After create, share, token refresh, transfer and purge, no table or file holds a secret."""
    path = tmp_path / "secrets.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    provider = httpx.MockTransport(
        lambda r: httpx.Response(200, json={"access_token": "at-REFRESHED-9", "expires_in": 3600})
    )
    kit = make_kit(engine, http=httpx.Client(transport=provider))
    kit.clients.add(
        OAuthClient(
            id="google",
            client_id="client-1",
            client_secret="client-S3cret-42",
            token_endpoint="https://oauth.example.org/token",
        )
    )
    cred = kit.pg(project_ids=["p1"])
    oauth = kit.vault.create_credential(
        {
            "name": "mail",
            "schema": "oauth",
            "owner_id": "alice",
            "body": {"apiVersion": "v1"},
            "oauth_client_id": "google",
            "oauth_token": {
                "access_token": "at-ORIGINAL-1",
                "refresh_token": "rt-ORIGINAL-2",
                "scope": "mail.read",
                "expires_in": 60,
            },
        }
    )
    assert kit.vault.maybe_refresh_token(oauth).oauth_token is not None
    pending = kit.vault.initiate_credential_transfer(kit.alice, kit.bob, cred)
    kit.vault.update_credential(cred, {"body": {**PG_BODY, "password": "second-S3cret"}})
    kit.vault.schedule_credential_deletion(oauth)
    kit.vault.purge_deleted()
    engine.dispose()

    secrets = [
        SECRET,
        "second-S3cret",
        "at-ORIGINAL-1",
        "rt-ORIGINAL-2",
        "at-REFRESHED-9",
        "client-S3cret-42",
        pending.token,
    ]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("secrets.db"))
    assert raw
    assert not [s for s in secrets if s.encode() in raw]
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        dumped = repr([conn.execute(sa.select(t)).all() for t in metadata.sorted_tables])
    engine.dispose()
    assert not [s for s in secrets if s in dumped]
    assert "client-1" in dumped  # the dump is real


def test_listing_a_project_costs_the_same_statements_whatever_the_shares(
    tmp_path: Path,
) -> None:
    """A project listing runs a fixed number of statements: it does not grow with the
    number of credentials listed nor with how many projects each is shared with."""

    def statements_for(credentials: int, extra_projects: int) -> tuple[int, int]:
        engine = create_engine(f"sqlite:///{tmp_path / f'list-{credentials}-{extra_projects}.db'}")
        upgrade(engine)
        kit = make_kit(engine)
        projects = ["p1", *(f"x{i}" for i in range(extra_projects))]
        for i in range(credentials):
            cid = kit.pg(f"db{i}", project_ids=["p1"]).id
            with kit.store.transaction() as tx:  # projects alice cannot reach
                for p in projects[1:]:
                    tx.shares.add(
                        ProjectShare(
                            id=f"{cid}-{p}", credential_id=cid, project_id=p, created_at=kit.clock()
                        )
                    )
        engine.dispose()
        seen: list[str] = []
        sa.event.listen(engine, "connect", lambda dbapi, _: dbapi.set_trace_callback(seen.append))
        listed = kit.vault.list_credentials(ProjectRef(id="p1"))
        engine.dispose()
        assert all(len(c.shares) == len(projects) for c in listed)
        return len(listed), sum(not s.lstrip().upper().startswith("PRAGMA") for s in seen)

    small = statements_for(2, 0)
    large = statements_for(12, 25)
    assert (small[0], large[0]) == (2, 12)
    assert 0 < small[1] == large[1], (small, large)


def test_many_audit_events_in_one_unit_of_work_keep_their_order(engine: Engine) -> None:
    """A unit of work's buffered events (a purge batch: PostgreSQL writes them as one
    array insert) are stored whole, in order; a duplicate id aborts the unit of work."""
    store, sink = SqlVaultStore(engine), SqlAuditSink(engine)
    at = FrozenClock()()
    events = [
        AuditEvent(
            id=f"e{i:03d}",
            action=AuditAction.PURGED,
            credential_id="c1",
            actor_id=None if i % 2 else "alice",
            at=at + timedelta(seconds=i),
            changes={"name": {"from": "a", "to": "b"}} if i == 7 else {},
            metadata={"deleted": bool(i % 3)},
        )
        for i in range(40)
    ]
    with store.transaction():
        for event in events:
            sink.record(event)
    assert sink.events_for("c1") == events

    def with_a_duplicate() -> None:
        with store.transaction():
            for i in range(40):
                sink.record(attrs.evolve(events[0], id=f"f{i:03d}", credential_id="c2"))
            sink.record(events[5])

    with pytest.raises(StorageConflictError):
        with_a_duplicate()
    assert sink.events_for("c2") == []


def test_record_purged_joins_the_unit_of_work(engine: Engine) -> None:
    """Inside a unit of work the purge events commit or roll back with the change."""
    store, sink = SqlVaultStore(engine), SqlAuditSink(engine)
    at = FrozenClock()()

    def rolled_back() -> None:
        with store.transaction():
            sink.record_purged(["c1", "c2"], deleted={"c1"}, at=at)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        rolled_back()
    assert sink.events_for("c1") == []
    with store.transaction():
        sink.record(
            AuditEvent(
                id="first", action=AuditAction.CREATED, credential_id="c1", actor_id="a", at=at
            )
        )
        sink.record_purged(["c1", "c2"], deleted={"c1"}, at=at)
    assert [e.action for e in sink.events_for("c1")] == [AuditAction.CREATED, AuditAction.PURGED]
    assert sink.events_for("c2")[0].metadata == {"deleted": False}
