"""The async twins of the vault test helpers: an AsyncVault on the async memory adapters.

:func:`make_async_kit` mirrors :func:`helpers.make_kit`; :func:`open_async_backend`
mirrors :func:`backends.open_backend` and hands out a :class:`backends.Backend` whose
``vault`` is a blocking view of an :class:`~credlti.credentials.AsyncVault` (see
``tests/adapters/async_bridge.py``), so the sync property tests drive it unchanged.
A new async store joins the property tests with one more branch in
:func:`open_async_backend` (and its name in :data:`ASYNC_BACKENDS`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import httpx

from credlti.adapters.memory import (
    AsyncMemoryAuditSink,
    AsyncMemoryNotifier,
    AsyncMemoryOAuthClientRegistry,
    AsyncMemoryStepActivity,
    AsyncMemoryUserDirectory,
    AsyncMemoryVaultStore,
    MemoryNotifier,
)
from credlti.credentials import AsyncVault, AuditEvent, KeyRing, VaultConfig, VaultUser
from credlti.testing import FrozenClock

from ..adapters.async_bridge import blocking
from .backends import GOOGLE, KEY, Backend, _token_endpoint
from .helpers import KEY1, Provider

ASYNC_BACKENDS = ("async-memory",)


@attrs.define
class AsyncKit:
    """An AsyncVault wired to async memory adapters, a frozen clock and a fake provider."""

    vault: AsyncVault
    store: AsyncMemoryVaultStore
    directory: AsyncMemoryUserDirectory
    notifier: AsyncMemoryNotifier
    audit: AsyncMemoryAuditSink
    activity: AsyncMemoryStepActivity
    clients: AsyncMemoryOAuthClientRegistry
    provider: Provider
    clock: FrozenClock
    alice: VaultUser
    bob: VaultUser


def make_async_kit(config: VaultConfig | None = None, **vault_extra: Any) -> AsyncKit:
    clock = FrozenClock()
    directory = AsyncMemoryUserDirectory()
    alice = directory.sync.add_user(
        VaultUser(id="alice", email="alice@example.org"), projects=["p1", "p2"]
    )
    bob = directory.sync.add_user(
        VaultUser(id="bob", email="Bob@Example.org"), projects=["p1", "p2"]
    )
    clients = AsyncMemoryOAuthClientRegistry()
    clients.sync.add(GOOGLE)
    provider = Provider()
    store = AsyncMemoryVaultStore()
    notifier, audit = AsyncMemoryNotifier(), AsyncMemoryAuditSink()
    activity = AsyncMemoryStepActivity()
    vault_extra.setdefault(
        "http_client", httpx.AsyncClient(transport=httpx.MockTransport(provider))
    )
    vault = AsyncVault(
        store=store,
        keyring=KeyRing([KEY1]),
        directory=directory,
        notifier=notifier,
        audit=audit,
        activity=activity,
        oauth_clients=clients,
        clock=clock,
        config=config,
        **vault_extra,
    )
    return AsyncKit(
        vault, store, directory, notifier, audit, activity, clients, provider, clock, alice, bob
    )


@attrs.define
class AsyncFlakyNotifier:
    """An async notifier whose sends fail while ``down``."""

    inner: MemoryNotifier = attrs.field(factory=MemoryNotifier)
    down: bool = False

    def __getattr__(self, kind: str) -> Any:
        send = getattr(self.inner, kind)

        async def call(**arguments: Any) -> None:
            if self.down:
                msg = "smtp.example.org: connection refused"
                raise RuntimeError(msg)
            send(**arguments)

        return call


@attrs.define
class AsyncTeeAudit:
    """Forwards to the real async sink and keeps a copy of every event (``recorded``)."""

    inner: Any
    recorded: list[AuditEvent] = attrs.field(factory=list)

    async def record(self, event: AuditEvent) -> None:
        await self.inner.record(event)
        self.recorded.append(event)

    async def events_for(self, credential_id: str) -> list[AuditEvent]:
        return list(await self.inner.events_for(credential_id))


def _memory_snapshot(store: AsyncMemoryVaultStore) -> Any:
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
def open_async_backend(name: str, *, config: VaultConfig | None = None) -> Iterator[Backend]:
    """An AsyncVault on *name* (blocking view), users as :func:`backends.open_backend`."""
    directory = AsyncMemoryUserDirectory()
    directory.sync.add_user(VaultUser(id="alice", email="alice@example.org"), projects=["p1", "p2"])
    directory.sync.add_user(VaultUser(id="bob", email="bob@example.org"), projects=["p1", "p2"])
    directory.sync.add_user(VaultUser(id="carol", email="carol@example.org"), projects=["p1"])
    notifier, clock = AsyncFlakyNotifier(), FrozenClock()
    http = httpx.AsyncClient(transport=httpx.MockTransport(_token_endpoint))
    if name != "async-memory":
        msg = f"no async backend {name!r}"
        raise ValueError(msg)
    store = AsyncMemoryVaultStore()
    audit = AsyncMemoryAuditSink()
    clients = AsyncMemoryOAuthClientRegistry()
    clients.sync.add(GOOGLE)
    tee = AsyncTeeAudit(audit)
    vault = AsyncVault(
        store=store,
        keyring=KeyRing([KEY]),
        directory=directory,
        notifier=notifier,
        audit=tee,
        activity=AsyncMemoryStepActivity(),
        oauth_clients=clients,
        http_client=http,
        clock=clock,
        config=config,
    )
    view = blocking(vault)
    try:
        yield Backend(
            name,
            view,
            directory.sync,
            notifier,  # type: ignore[arg-type]  # the async twin of FlakyNotifier
            clock,
            _memory_snapshot(store),
            lambda: list(audit.sync.events),
            tee,  # type: ignore[arg-type]  # the async twin of TeeAudit
        )
    finally:
        view.aclose()
