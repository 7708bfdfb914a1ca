"""AsyncVault: the same decisions as Vault, awaited; its locks, units of work and errors.

The parity test runs one scenario (create, share, update, transfer, OAuth refresh
against the loopback provider, schedule deletion, purge) through a Vault and an
AsyncVault with the same clock, ids and randomness, and compares every result, the
stored rows, the audit rows and the notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import types
from collections.abc import AsyncIterator, Callable, Generator, Hashable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

import attrs
import httpx
import pytest

from credlti._effects import AsyncLocks, SyncLocks
from credlti.adapters.memory import (
    AsyncMemoryAuditSink,
    AsyncMemoryNotifier,
    AsyncMemoryOAuthClientRegistry,
    AsyncMemoryUserDirectory,
    AsyncMemoryVaultStore,
    MemoryAuditSink,
    MemoryNotifier,
    MemoryOAuthClientRegistry,
    MemoryUserDirectory,
    MemoryVaultStore,
)
from credlti.credentials import (
    AsyncVault,
    AuditAction,
    Credential,
    KeyRing,
    ProjectRef,
    Vault,
    VaultUser,
)
from credlti.errors import (
    ConfigurationError,
    CredentialNotFoundError,
    CredentialValidationError,
    CredltiError,
    StorageUnavailableError,
)
from credlti.testing import FrozenClock

from . import oauth_server
from .async_helpers import AsyncKit, make_async_kit
from .helpers import KEY1, PG_BODY, json_response
from .oauth_server import LoopbackProvider
from .oauth_world import loop_client

ALICE = VaultUser(id="alice", email="alice@example.org")
BOB = VaultUser(id="bob", email="bob@example.org")
SECRETS = ("pg-S3cret-pass", "at-original", "rt-original", "client-S3cret")

# ----------------------------------------------------------------------------- parity

Step = tuple[str, tuple[Any, ...], dict[str, Any]]
ADVANCE = "advance the clock"


def scenario() -> Generator[Step, Any, None]:
    """The steps, each ``(vault method, args, kwargs)``; the result is sent back."""
    pg: Credential = yield (
        "create_credential",
        ({"name": "db", "schema": "postgresql", "owner_id": "alice", "body": dict(PG_BODY)},),
        {},
    )
    oauth: Credential = yield (
        "create_credential",
        (
            {
                "name": "mail",
                "schema": "oauth",
                "owner_id": "alice",
                "body": {"apiVersion": "v1"},
                "oauth_client_id": "loop",
                "oauth_token": {
                    "access_token": "at-seed",
                    "refresh_token": "rt-seed",
                    "token_type": "Bearer",
                    "scope": "openid mail.read",
                    "expires_in": 60,
                },
            },
        ),
        {"actor_id": "admin"},
    )
    yield "update_credential", (pg, {"name": "db-main", "project_ids": ["p1"]}), {}
    yield "list_credentials", (ProjectRef(id="p1"),), {}
    yield "sensitive_values_for", (pg.id,), {}
    pending = yield "initiate_credential_transfer", (ALICE, BOB, pg.id), {}
    yield "confirm_transfer", (pg.id, "bob", "alice", pending.token), {}
    yield ADVANCE, (600,), {}
    yield "maybe_refresh_token", (oauth.id,), {"actor_id": "worker"}
    yield "maybe_refresh_token", (oauth,), {}  # fresh now: no request
    yield "schedule_credential_deletion", (pg.id,), {"actor_id": "bob"}
    yield "schedule_credential_deletion", (oauth,), {}
    yield "purge_deleted", (), {}
    yield "get_credential", (pg.id,), {}
    yield "list_credentials", (BOB,), {}
    yield "get_credential_or_raise", ("missing",), {}


def _ids() -> Callable[[], str]:
    counter = itertools.count()
    return lambda: f"id-{next(counter):04d}"


def _random() -> Callable[[int], bytes]:
    counter = itertools.count()

    def random_bytes(n: int) -> bytes:
        seed = hashlib.sha256(str(next(counter)).encode()).digest()
        return (seed * (n // 32 + 1))[:n]

    return random_bytes


@pytest.fixture(name="provider")
def _provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackProvider]:
    with LoopbackProvider() as provider:
        yield provider


def _deterministic_provider(provider: LoopbackProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reset the provider: known refresh token, tokens numbered from 0 (same for both runs)."""
    counter = itertools.count()
    fake = types.SimpleNamespace(token_urlsafe=lambda n=16: f"issued-{next(counter)}")
    monkeypatch.setattr(oauth_server, "secrets", fake)
    provider.refresh_tokens.clear()
    provider.refresh_tokens["rt-seed"] = "openid mail.read"


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except CredltiError as exc:
        return (type(exc).__name__, exc.code, str(exc))


async def _aoutcome(call: Callable[[], Any]) -> Any:
    try:
        return await call()
    except CredltiError as exc:
        return (type(exc).__name__, exc.code, str(exc))


def test_vault_and_async_vault_agree_on_every_step(
    provider: LoopbackProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One scenario through Vault and AsyncVault: same results, rows, audit rows, notices."""
    users = [(ALICE, ["p1"]), (BOB, ["p1"])]

    # ---- sync
    _deterministic_provider(provider, monkeypatch)
    directory = MemoryUserDirectory()
    for user, projects in users:
        directory.add_user(user, projects=projects)
    clients = MemoryOAuthClientRegistry()
    clients.add(loop_client(provider))
    store, audit, notifier, clock = (
        MemoryVaultStore(),
        MemoryAuditSink(),
        MemoryNotifier(),
        FrozenClock(),
    )
    with httpx.Client() as http:
        vault = Vault(
            store=store,
            keyring=KeyRing([KEY1]),
            directory=directory,
            notifier=notifier,
            audit=audit,
            oauth_clients=clients,
            http_client=http,
            clock=clock,
            random_bytes=_random(),
            new_id=_ids(),
        )
        results: list[Any] = []
        steps = scenario()
        step = next(steps)
        with contextlib.suppress(StopIteration):  # the scenario's last step was taken
            while True:
                name, args, kwargs = step
                if name == ADVANCE:
                    clock.advance(args[0])
                    result = None
                else:
                    result = _outcome(lambda: getattr(vault, name)(*args, **kwargs))  # noqa: B023
                results.append(result)
                step = steps.send(result)
    sync_requests = len(provider.access_tokens)

    # ---- async
    _deterministic_provider(provider, monkeypatch)
    provider.access_tokens.clear()
    adirectory = AsyncMemoryUserDirectory()
    for user, projects in users:
        adirectory.sync.add_user(user, projects=projects)
    aclients = AsyncMemoryOAuthClientRegistry()
    aclients.sync.add(loop_client(provider))
    astore, aaudit, anotifier, aclock = (
        AsyncMemoryVaultStore(),
        AsyncMemoryAuditSink(),
        AsyncMemoryNotifier(),
        FrozenClock(),
    )

    async def run_async() -> list[Any]:
        async with httpx.AsyncClient() as ahttp:
            avault = AsyncVault(
                store=astore,
                keyring=KeyRing([KEY1]),
                directory=adirectory,
                notifier=anotifier,
                audit=aaudit,
                oauth_clients=aclients,
                http_client=ahttp,
                clock=aclock,
                random_bytes=_random(),
                new_id=_ids(),
            )
            out: list[Any] = []
            steps = scenario()
            step = next(steps)
            with contextlib.suppress(StopIteration):  # the scenario's last step was taken
                while True:
                    name, args, kwargs = step
                    if name == ADVANCE:
                        aclock.advance(args[0])
                        result = None
                    else:
                        method = getattr(avault, name)
                        result = await _aoutcome(lambda: method(*args, **kwargs))  # noqa: B023
                    out.append(result)
                    step = steps.send(result)
            return out

    async_results = asyncio.run(run_async())

    assert async_results == results
    assert len(results) == 16
    assert results[8].oauth_token.access_token == "at-issued-0"  # refreshed over HTTP
    assert results[-1][0] == "CredentialNotFoundError"
    assert len(provider.access_tokens) == sync_requests == 1
    assert astore._t.rows == store._t.rows
    assert astore._t.shares == store._t.shares
    assert astore._t.tokens == store._t.tokens
    assert aaudit.sync.events == audit.events
    assert {AuditAction.TOKEN_REFRESHED, AuditAction.PURGED} <= {e.action for e in audit.events}
    assert anotifier.sync.sent == notifier.sent
    assert provider.violations == []


# ----------------------------------------------------------------------------- locks


@attrs.define
class RecordingLocks:
    """A lock table that records the keys it was asked for (sync and async forms)."""

    keys: list[Hashable] = attrs.field(factory=list)
    sync: SyncLocks = attrs.field(factory=SyncLocks)

    def get(self, key: Hashable) -> AbstractContextManager[Any]:
        self.keys.append(key)
        return self.sync.get(key)


@attrs.define
class AsyncRecordingLocks:
    keys: list[Hashable] = attrs.field(factory=list)
    inner: AsyncLocks = attrs.field(factory=AsyncLocks)

    @asynccontextmanager
    async def get(self, key: Hashable) -> AsyncIterator[None]:
        self.keys.append(key)
        async with self.inner.get(key):
            yield


def _oauth_attrs() -> dict[str, Any]:
    return {
        "name": "gmail",
        "schema": "oauth",
        "owner_id": "alice",
        "body": {"apiVersion": "v1"},
        "oauth_client_id": "google",
        "oauth_token": {
            "access_token": "at-original",
            "refresh_token": "rt-original",
            "scope": "mail.read",
            "expires_in": 3600,
        },
    }


def test_vault_takes_the_refresh_lock_from_its_lock_table() -> None:
    """Vault(locks=...): the OAuth refresh's single-flight lock comes from that table."""
    from .helpers import make_kit

    kit = make_kit()
    table = RecordingLocks()
    vault = Vault(
        store=MemoryVaultStore(),
        keyring=KeyRing([KEY1]),
        oauth_clients=kit.clients,
        http_client=httpx.Client(transport=httpx.MockTransport(kit.provider)),
        clock=kit.clock,
        locks=table,
    )
    cred = vault.create_credential(_oauth_attrs())
    kit.clock.advance(3600)
    fresh = vault.maybe_refresh_token(cred)
    assert fresh.oauth_token is not None
    assert fresh.oauth_token.access_token == "at-1"
    assert table.keys == [f"oauth-refresh:{cred.id}"]
    assert isinstance(Vault(store=MemoryVaultStore(), keyring=KeyRing([KEY1]))._locks, SyncLocks)


def test_async_vault_takes_the_refresh_lock_from_its_lock_table() -> None:
    """AsyncVault(locks=...): the async single-flight lock comes from that table."""
    table = AsyncRecordingLocks()
    kit = make_async_kit(locks=table)

    async def main() -> None:
        cred = await kit.vault.create_credential(_oauth_attrs())
        kit.clock.advance(3600)
        fresh = await kit.vault.maybe_refresh_token(cred)
        assert fresh.oauth_token is not None
        assert fresh.oauth_token.access_token == "at-1"
        assert table.keys == [f"oauth-refresh:{cred.id}"]
        await kit.vault.aclose()

    asyncio.run(main())
    assert isinstance(make_async_kit().vault._locks, AsyncLocks)


def test_concurrent_async_refreshes_make_one_request() -> None:
    """Ten tasks refreshing one credential at once: one token request, one audit row."""
    requests: list[httpx.Request] = []

    async def slow_endpoint(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        await asyncio.sleep(0.05)  # the other tasks arrive meanwhile
        return httpx.Response(200, json={"access_token": "at-shared", "expires_in": 3600})

    kit = make_async_kit(
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(slow_endpoint))
    )

    async def main() -> list[Credential]:
        cred = await kit.vault.create_credential(_oauth_attrs())
        kit.clock.advance(3600)
        return await asyncio.gather(*(kit.vault.maybe_refresh_token(cred.id) for _ in range(10)))

    results = asyncio.run(main())
    assert len(requests) == 1
    assert {r.oauth_token.access_token for r in results if r.oauth_token} == {"at-shared"}
    refreshed = [e for e in kit.audit.sync.events if e.action is AuditAction.TOKEN_REFRESHED]
    assert len(refreshed) == 1


def test_refresh_waits_on_the_store_lock_asynchronously() -> None:
    """A refresh while another holder has the store's named lock times out cleanly."""
    kit = make_async_kit()

    async def main() -> None:
        cred = await kit.vault.create_credential(_oauth_attrs())
        kit.clock.advance(3600)
        async with kit.store.lock(f"oauth-refresh:{cred.id}", timeout=1):
            with pytest.raises(StorageUnavailableError):
                await asyncio.wait_for(kit.vault.maybe_refresh_token(cred), timeout=5)

    kit.vault.config = attrs.evolve(kit.vault.config, refresh_lock_timeout=0.05)
    asyncio.run(main())
    assert kit.provider.requests == []


# ----------------------------------------------------------------------------- units of work


def test_for_update_block_is_one_unit_of_work() -> None:
    """Calls awaited inside ``get_credential_for_update`` join it; an error undoes them."""
    kit = make_async_kit()

    async def main() -> tuple[str, str]:
        cred = await kit.vault.create_credential(
            {"name": "db", "schema": "raw", "owner_id": "alice", "body": {"a": "b"}}
        )
        async with kit.vault.get_credential_for_update(cred.id) as locked:
            await kit.vault.update_credential(locked, {"name": locked.name + " old"})
        with pytest.raises(RuntimeError):  # noqa: PT012
            async with kit.vault.get_credential_for_update(cred.id) as locked:
                await kit.vault.update_credential(locked, {"name": "rolled back"})
                raise RuntimeError
        after = await kit.vault.get_credential_or_raise(cred.id)
        return cred.name, after.name

    assert asyncio.run(main()) == ("db", "db old")


def test_batches_are_async_iterators() -> None:
    """purge_deleted_batches and reencrypt_batches hand out running totals with async for."""
    kit = make_async_kit()

    async def main() -> tuple[list[Any], list[Any]]:
        for i in range(3):
            cred = await kit.vault.create_credential(
                {"name": f"c{i}", "schema": "raw", "owner_id": "alice", "body": {"k": "v"}}
            )
            await kit.vault.schedule_credential_deletion(cred)
        purged = [r async for r in kit.vault.purge_deleted_batches(batch_size=2)]
        rewritten = [r async for r in kit.vault.reencrypt_batches(batch_size=2)]
        return purged, rewritten

    purged, rewritten = asyncio.run(main())
    assert [(r.scrubbed, r.deleted) for r in purged] == [(2, 2), (3, 3)]
    assert rewritten == []
    assert len(kit.store) == 0


def test_store_that_fails_to_open_is_unavailable() -> None:
    """A store failing to open a unit of work: StorageUnavailableError (as Vault's)."""

    class Broken:
        down = True

        @asynccontextmanager
        async def transaction(self) -> AsyncIterator[Any]:
            if self.down:
                raise OSError("db down: password=hunter2")
            yield None

        async def scan_credentials(self, **_: Any) -> AsyncIterator[Any]:
            if self.down:
                raise OSError("db down")
            yield None

        @asynccontextmanager
        async def lock(self, key: str, *, timeout: float) -> AsyncIterator[None]:
            yield

    vault = AsyncVault(store=Broken(), keyring=KeyRing([KEY1]))

    async def main() -> None:
        await vault.create_credential(
            {"name": "db", "schema": "raw", "owner_id": "alice", "body": {}}
        )

    with pytest.raises(StorageUnavailableError) as info:
        asyncio.run(main())
    assert isinstance(info.value.__cause__, OSError)  # a storage error keeps its driver's
    assert "hunter2" not in str(info.value) + repr(info.value)


def test_transfers_need_a_directory() -> None:
    """Without a directory the transfer methods raise ConfigurationError, as Vault's do."""
    vault = AsyncVault(store=AsyncMemoryVaultStore(), keyring=KeyRing([KEY1]))
    with pytest.raises(ConfigurationError):
        asyncio.run(vault.initiate_credential_transfer(ALICE, BOB, "some-id"))
    with pytest.raises(CredentialNotFoundError):
        asyncio.run(vault.revoke_transfer("some-id", "alice"))
    asyncio.run(vault.aclose())


def test_pure_methods_stay_plain() -> None:
    """get_schema and transfer_form do no IO: plain methods, as on Vault."""
    vault = AsyncVault(store=AsyncMemoryVaultStore(), keyring=KeyRing([KEY1]))
    assert vault.get_schema("raw").name == "raw"
    assert vault.transfer_form("bob@example.org").email == "bob@example.org"


# ----------------------------------------------------------------------------- secrets


def test_reprs_audit_and_logs_hold_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    """As test_no_secret_leaks for Vault: create, update, refresh, transfer, purge."""
    caplog.set_level(logging.DEBUG)
    kit: AsyncKit = make_async_kit()

    async def main() -> tuple[list[str], str]:
        pg = await kit.vault.create_credential(
            {
                "name": "db",
                "schema": "postgresql",
                "owner_id": "alice",
                "body": dict(PG_BODY),
                "project_ids": ["p1"],
            }
        )
        oauth = await kit.vault.create_credential(_oauth_attrs())
        await kit.vault.update_credential(
            pg,
            {"body": {"host": "h", "database": "d", "user": "u", "password": "pg-S3cret-pass2"}},
        )
        kit.clock.advance(3600)
        kit.provider.responses.append(
            json_response(401, {"error": "invalid_client", "error_description": "client-S3cret"})
        )
        with pytest.raises(CredltiError) as info:
            await kit.vault.maybe_refresh_token(oauth)
        pending = await kit.vault.initiate_credential_transfer(kit.alice, kit.bob, pg)
        await kit.vault.schedule_credential_deletion(oauth)
        await kit.vault.purge_deleted()
        with pytest.raises(CredentialValidationError) as bad:
            await kit.vault.create_credential(
                {
                    "name": "x",
                    "schema": "postgresql",
                    "owner_id": "alice",
                    "body": {"host": "h", "database": "d", "user": "u", "port": "pg-S3cret-pass"},
                }
            )
        texts = [
            repr(pg),
            repr(oauth),
            repr(oauth.oauth_token),
            repr(kit.vault),
            repr(pending),
            repr(kit.store),
            repr(kit.notifier),
            repr(kit.clients),
            str(info.value),
            repr(info.value),
            repr(info.value.details),
            str(bad.value) + repr(bad.value.details) + repr(bad.value.field_errors),
            *(repr(e) for e in kit.audit.sync.events),
        ]
        return texts, pending.token

    texts, token = asyncio.run(main())
    blob = "\n".join([*texts, caplog.text])
    for secret in (*SECRETS, "pg-S3cret-pass2", token):
        assert secret not in blob


def test_errors_leave_without_the_flow_frames() -> None:
    """An AsyncVault error's traceback holds no frame of the flows (their locals hold plaintext)."""
    kit = make_async_kit()

    async def main() -> None:
        await kit.vault.create_credential(
            {"name": "db", "schema": "postgresql", "owner_id": "alice", "body": {"port": "x"}}
        )

    with pytest.raises(CredentialValidationError) as info:
        asyncio.run(main())
    frames = [str(entry.path) for entry in info.traceback]
    assert not [f for f in frames if "_flows_" in f or "_effects" in f]
    assert info.value.__context__ is None


# ----------------------------------------------------------------------------- resolver


def test_async_resolver_over_an_async_vault() -> None:
    """AsyncCredentialResolver(AsyncVault): awaited loads and refreshes, one request."""
    from credlti.credentials import AsyncCredentialResolver, ResolveStatus

    kit = make_async_kit()
    resolver = AsyncCredentialResolver(kit.vault, clock=kit.clock)

    async def main() -> list[Any]:
        cred = await kit.vault.create_credential(_oauth_attrs())
        kit.clock.advance(3600)
        found = await asyncio.gather(*(resolver.resolve(cred.id) for _ in range(4)))
        kit.provider.responses.append(
            json_response(503, {"error": "later"}, **{"Retry-After": "7"})
        )
        kit.clock.advance(7200)
        busy = await resolver.resolve(cred.id)
        missing = await resolver.resolve("\x00")
        await resolver.aclose()
        return [*found, busy, missing]

    *found, busy, missing = asyncio.run(main())
    assert len(kit.provider.requests) == 2
    assert {r.body["access_token"] for r in found} == {"at-1"}
    assert busy.temporarily_unavailable
    assert busy.retry_after == 7.0
    assert missing.status is ResolveStatus.NOT_FOUND


# ----------------------------------------------------------------------------- telemetry


def test_telemetry_spans_as_for_vault() -> None:
    """The same spans as Vault: operations, the refresh request inside, purge batches."""
    from credlti.credentials._vault_handlers import PURGED_METRIC
    from tests.otel import detach, exported

    otel = exported()
    try:
        kit = make_async_kit()

        async def main() -> str:
            cred = await kit.vault.create_credential(_oauth_attrs())
            with pytest.raises(CredltiError):
                await kit.vault.get_credential_or_raise("no-such-credential")
            kit.clock.advance(3600)
            await kit.vault.maybe_refresh_token(cred, actor_id="worker")
            for name in ("a", "b", "c"):
                other = await kit.vault.create_credential(
                    {"name": name, "schema": "raw", "owner_id": "alice", "body": {"k": "v"}}
                )
                await kit.vault.schedule_credential_deletion(other)
            await kit.vault.purge_deleted(batch_size=2)
            return cred.id

        cid = asyncio.run(main())
        create = otel.finished("credlti.credentials.create_credential")[0]
        assert create.attributes == {
            "credlti.operation": "create_credential",
            "credlti.credential_id": cid,
            "credlti.outcome": "ok",
        }
        (failed,) = otel.finished("credlti.credentials.get_credential_or_raise")
        assert failed.attributes is not None
        assert failed.attributes["credlti.error_code"] == "credential_not_found"
        (operation,) = otel.finished("credlti.credentials.maybe_refresh_token")
        (request,) = otel.finished("credlti.credentials.oauth_refresh")
        assert request.parent is not None
        assert request.parent.span_id == operation.context.span_id
        assert request.attributes == {
            "server.address": "oauth.example.org",
            "http.response.status_code": 200,
            "credlti.outcome": "ok",
        }
        batches = otel.finished("credlti.credentials.purge_batch")
        assert [b.attributes["credlti.deleted"] for b in batches if b.attributes] == [2, 1]
        assert otel.counted(PURGED_METRIC, credlti__action="deleted") == 3
        otel.assert_no_secret([*SECRETS, "at-1"])
    finally:
        detach()


# ----------------------------------------------------------------------------- authorizer


def test_async_authorizer_over_an_async_vault(provider: LoopbackProvider) -> None:
    """AsyncOAuthAuthorizer(AsyncVault, async ports): the code flow stores into the vault."""
    from urllib.parse import parse_qsl, urlsplit

    from credlti.adapters.memory import (
        AsyncMemoryPendingAuthorizations,
        MemoryPendingAuthorizations,
    )
    from credlti.credentials import AsyncOAuthAuthorizer
    from credlti.errors import AuthorizationStateError

    directory = AsyncMemoryUserDirectory()
    directory.sync.add_user(ALICE, projects=["p1"])
    clients = AsyncMemoryOAuthClientRegistry()
    clients.sync.add(loop_client(provider))
    pending = AsyncMemoryPendingAuthorizations()
    clock = FrozenClock()

    async def main() -> tuple[Credential, Credential | None]:
        async with httpx.AsyncClient() as http:
            vault = AsyncVault(
                store=AsyncMemoryVaultStore(),
                keyring=KeyRing([KEY1]),
                directory=directory,
                oauth_clients=clients,
                http_client=http,
                clock=clock,
            )
            authorizer = AsyncOAuthAuthorizer(
                vault=vault, oauth_clients=clients, pending=pending, http_client=http, clock=clock
            )
            request = await authorizer.begin(
                "loop", user_id="alice", redirect_uri=provider.redirect_uri, name="mail"
            )
            assert len(pending) == 1
            response = await http.get(request.url)
            params = dict(parse_qsl(urlsplit(response.headers["location"]).query))
            result = await authorizer.complete(params, user_id="alice")
            with pytest.raises(AuthorizationStateError):
                await authorizer.complete(params, user_id="alice")
            return result.credential, await vault.get_credential(result.credential.id)

    created, stored = asyncio.run(main())
    assert stored is not None
    assert stored.oauth_token is not None
    assert stored == created
    assert provider.violations == []

    sync_vault = Vault(store=MemoryVaultStore(), keyring=KeyRing([KEY1]))
    async_vault = AsyncVault(store=AsyncMemoryVaultStore(), keyring=KeyRing([KEY1]))
    with pytest.raises(ConfigurationError):  # an AsyncVault with a sync pending store
        AsyncOAuthAuthorizer(
            vault=async_vault, oauth_clients=clients, pending=MemoryPendingAuthorizations()
        )
    with pytest.raises(ConfigurationError):  # a Vault with async ports
        AsyncOAuthAuthorizer(vault=sync_vault, oauth_clients=clients, pending=pending)
