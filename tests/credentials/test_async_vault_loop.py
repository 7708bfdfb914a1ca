"""AsyncVault never blocks the event loop while its ports are slow.

The loop runs in debug mode with a small ``slow_callback_duration``: asyncio logs
every step of a task that held the loop longer than that. A scenario (create, share,
list, transfer, refresh, schedule deletion, purge) runs against stores and ports
that answer slowly but asynchronously; no step may hold the loop. The same scenario
against a store that sleeps synchronously is caught, which shows the check works.

Another async store joins with one entry in :data:`STORES` (a factory taking the
delay each call should add).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from credlti.adapters.memory import (
    AsyncMemoryAuditSink,
    AsyncMemoryOAuthClientRegistry,
    AsyncMemoryUserDirectory,
    AsyncMemoryVaultStore,
)
from credlti.credentials import AsyncVault, KeyRing, ProjectRef, VaultUser
from credlti.testing import FrozenClock

from .backends import GOOGLE
from .helpers import KEY1

SLOW = 0.05  # each port call waits this long (without blocking)
LIMIT = 0.04  # a loop step longer than this is reported (a blocking call takes SLOW)


class Slow:
    """Wraps an async port: every coroutine method first awaits *delay* (or sleeps, if *block*)."""

    def __init__(self, inner: Any, delay: float, *, block: bool = False) -> None:
        self._inner, self._delay, self._block = inner, delay, block

    async def _wait(self) -> None:
        if self._block:
            time.sleep(self._delay)  # what a sync driver inside an async adapter does
        else:
            await asyncio.sleep(self._delay)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name in {"credentials", "shares", "oauth_tokens", "transfers"}:
            return Slow(value, self._delay, block=self._block)
        if name == "transaction":
            return lambda: self._transaction(value())
        if name == "scan_credentials":
            return lambda **kw: self._scan(value(**kw))
        if name == "lock" or not asyncio.iscoroutinefunction(value):
            return value

        async def call(*args: Any, **kwargs: Any) -> Any:
            await self._wait()
            return await value(*args, **kwargs)

        return call

    @asynccontextmanager
    async def _transaction(self, manager: Any) -> AsyncIterator[Any]:
        await self._wait()
        async with manager as session:
            yield Slow(session, self._delay, block=self._block)

    async def _scan(self, rows: AsyncIterator[Any]) -> AsyncIterator[Any]:
        await self._wait()
        async for row in rows:
            yield row


#: Async stores under test: name -> factory(delay, block) of an AsyncVaultStore.
STORES: dict[str, Callable[[float, bool], Any]] = {
    "memory": lambda delay, block: Slow(AsyncMemoryVaultStore(), delay, block=block),
}


async def _scenario(store: Any, delay: float, block: bool) -> None:
    directory = AsyncMemoryUserDirectory()
    for uid in ("alice", "bob"):
        directory.sync.add_user(VaultUser(id=uid, email=f"{uid}@example.org"), projects=["p1"])
    clients = AsyncMemoryOAuthClientRegistry()
    clients.sync.add(GOOGLE)

    async def endpoint(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(delay)
        return httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})

    clock = FrozenClock()
    vault = AsyncVault(
        store=store,
        keyring=KeyRing([KEY1]),
        directory=Slow(directory, delay, block=block),
        audit=Slow(AsyncMemoryAuditSink(), delay, block=block),
        oauth_clients=Slow(clients, delay, block=block),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(endpoint)),
        clock=clock,
    )
    cred = await vault.create_credential(
        {
            "name": "db",
            "schema": "raw",
            "owner_id": "alice",
            "body": {"password": "pw"},
            "project_ids": ["p1"],
        }
    )
    await vault.list_credentials(ProjectRef(id="p1"))
    pending = await vault.initiate_credential_transfer(
        VaultUser(id="alice", email="alice@example.org"),
        VaultUser(id="bob", email="bob@example.org"),
        cred,
    )
    await vault.confirm_transfer(cred.id, "bob", "alice", pending.token)
    oauth = await vault.create_credential(
        {
            "name": "mail",
            "schema": "oauth",
            "owner_id": "alice",
            "body": {},
            "oauth_client_id": "google",
            "oauth_token": {"access_token": "a", "refresh_token": "r", "scope": "s"},
        }
    )
    clock.advance(7200)
    await asyncio.gather(*(vault.maybe_refresh_token(oauth.id) for _ in range(3)))
    await vault.schedule_credential_deletion(cred.id)
    await vault.purge_deleted()
    await vault.aclose()


def _slow_steps(
    store: Any, delay: float, block: bool, caplog: pytest.LogCaptureFixture
) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop = asyncio.new_event_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = LIMIT
        try:
            loop.run_until_complete(_scenario(store, delay, block))
        finally:
            loop.close()
    return [r.getMessage() for r in caplog.records if "took" in r.getMessage()]


@pytest.mark.parametrize("name", sorted(STORES))
def test_slow_ports_never_block_the_loop(name: str, caplog: pytest.LogCaptureFixture) -> None:
    assert _slow_steps(STORES[name](SLOW, False), SLOW, False, caplog) == []


def test_a_blocking_store_is_caught(caplog: pytest.LogCaptureFixture) -> None:
    """The check works: a store that sleeps synchronously is reported."""
    assert _slow_steps(STORES["memory"](SLOW, True), SLOW, True, caplog)
