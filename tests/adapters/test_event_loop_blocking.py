"""No storage call of the async adapters blocks the event loop.

PostgreSQL and Redis answer through :func:`tests.slow_proxy.slow_proxy`: every answer
is held back :data:`DELAY`, and then until the test's event loop has run again since
the answer arrived (a heartbeat task on the loop tells the proxy). A storage call
that waits for the database *on* the loop (a blocking socket read) can therefore not
get its answer: the proxy gives it up after ``GATE_TIMEOUT`` and counts a stall, and
the test fails. That check is exact, whatever the machine's load. Each scenario also
runs under asyncio's debug mode with a small ``slow_callback_duration``: asyncio
reports every task step that held the loop longer ("Executing <Task ...> took 0.6
seconds"), and a step that held it :data:`BLOCKED` or longer fails the test too (the
check for SQLite, where aiosqlite's thread answers without a proxy). Launches run
through :class:`~credlti.lti.AsyncTool`, vault operations through
:class:`~credlti.credentials.AsyncVault`, on the async SQL adapters (PostgreSQL
through the proxy, SQLite files through aiosqlite), the async Redis stores and the
async memory adapters. The
last tests prove the checks bite: the sync SQL adapter behind ``async def`` methods
(what asyncio servers got before the async adapters) stalls the proxy, and a store
that sleeps on the loop is reported by asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx
import pytest
import redis.asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credlti.adapters.memory import (
    AsyncMemoryAuditSink,
    AsyncMemoryLaunchSessionStore,
    AsyncMemoryNotifier,
    AsyncMemoryOAuthClientRegistry,
    AsyncMemoryStepActivity,
    AsyncMemoryUserDirectory,
    AsyncMemoryVaultStore,
)
from credlti.adapters.redis import (
    AsyncRedisLaunchSessionStore,
    AsyncRedisNonceStore,
    AsyncRedisServiceTokenCache,
)
from credlti.adapters.sql import (
    AsyncSqlAuditSink,
    AsyncSqlLaunchSessionStore,
    AsyncSqlLaunchStorage,
    AsyncSqlOAuthClientRegistry,
    AsyncSqlServiceTokenCache,
    AsyncSqlStepActivity,
    AsyncSqlToolKeyStore,
    AsyncSqlVaultStore,
    SqlLaunchStorage,
    create_engine,
    open_async_engine,
    upgrade,
)
from credlti.credentials import AsyncVault, EncryptionKey, KeyRing, VaultUser
from credlti.errors import NonceReusedError
from credlti.lti import AsyncTool, Deployment, Registration
from credlti.lti.keys import KeyState, ToolKey, generate_key
from credlti.lti.services import ServiceToken, TokenCacheKey
from credlti.testing import SimulatedPlatform
from tests.slow_proxy import LoopGate, slow_proxy

#: How long the proxy holds back every answer of PostgreSQL and Redis.
DELAY = 0.05
#: asyncio reports every task step that holds the loop longer than this.
REPORT_ABOVE = 0.02
#: A step holding the loop this long fails the test. Far above any CPU step of a
#: launch or a vault call, and above what a loaded machine adds by not running us.
BLOCKED = 0.5

RING = KeyRing([EncryptionKey(id="k1", material=bytes(range(32)))])
LAUNCH_URL = "https://tool.example.com/launch"
_RUNS = itertools.count()
_TOOK = re.compile(r"took (\d+\.\d+) seconds")

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- the watch


class _Steps(logging.Handler):
    """Collects asyncio's debug-mode reports of slow task steps."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        found = _TOOK.search(message)
        if message.startswith("Executing") and found:
            self.reports.append((float(found.group(1)), message))


@attrs.frozen
class Watch:
    """What a watched run saw: answers that waited for a blocked loop, long steps."""

    stalls: int
    blocked: list[tuple[float, str]]

    def problems(self) -> str:
        lines = [f"{took:.3f} s: {message}" for took, message in self.blocked]
        if self.stalls:
            lines.insert(0, f"{self.stalls} database answer(s) waited for a blocked event loop")
        return "\n".join(lines)


def run_watched(scenario: Callable[[], Awaitable[None]], gate: LoopGate | None = None) -> Watch:
    """Run *scenario* twice in debug mode, the proxies' gate armed; what the runs showed.

    Long steps count in the second run only: the first warms up what happens once per
    process (imports on first use, first connections, statement compilation), CPU
    work rather than waiting. Stalls count in both.
    """
    gate = gate or LoopGate()
    steps = _Steps()
    logger = logging.getLogger("asyncio")
    logger.addHandler(steps)
    try:

        async def main() -> None:
            loop = asyncio.get_running_loop()
            async with gate.watching():
                loop.slow_callback_duration = 3600.0
                await scenario()
                loop.slow_callback_duration = REPORT_ABOVE
                await scenario()

        asyncio.run(main(), debug=True)
    finally:
        logger.removeHandler(steps)
    blocked = [(took, message) for took, message in steps.reports if took >= BLOCKED]
    return Watch(stalls=gate.stalls, blocked=blocked)


def assert_never_blocked(
    scenario: Callable[[], Awaitable[None]], gate: LoopGate | None = None
) -> None:
    """Fail, with what was seen, if *scenario* ever blocked the loop."""
    watch = run_watched(scenario, gate)
    assert watch.stalls == 0, watch.problems()
    assert watch.blocked == [], watch.problems()


# --------------------------------------------------------------------------- backends


@contextlib.contextmanager
def _slow_postgres(url: str, gate: LoopGate) -> Iterator[str]:
    """*url* (upgraded) reached through the slow, gated proxy."""
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    parsed = sa.make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or 5432
    with slow_proxy(host, port, delay=DELAY, gate=gate) as proxied:
        yield parsed.set(host="127.0.0.1", port=proxied).render_as_string(hide_password=False)


@contextlib.contextmanager
def _slow_redis(url: str, gate: LoopGate) -> Iterator[str]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    with slow_proxy(host, port, delay=DELAY, gate=gate) as proxied:
        yield f"redis://127.0.0.1:{proxied}{parts.path}"


@pytest.fixture(name="gate")
def _gate() -> LoopGate:
    return LoopGate()


@pytest.fixture(name="backend", params=["postgresql", "sqlite"])
def _backend(request: pytest.FixtureRequest, tmp_path: Path, gate: LoopGate) -> Iterator[str]:
    """A database URL: PostgreSQL through the gated proxy, or a SQLite file (aiosqlite)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'loop.db'}"
        upgrade(create_engine(url))
        yield url
        return
    with _slow_postgres(request.getfixturevalue("fresh_postgres_url"), gate) as url:
        yield url


# --------------------------------------------------------------------------- scenarios


async def _launches(tool: AsyncTool[Any, Any], platform: SimulatedPlatform, count: int) -> None:
    """*count* concurrent launches: validate, save, reopen, end, and a refused replay."""

    async def one() -> None:
        redirect = await tool.handle_login(platform.login_params(), LAUNCH_URL)
        form = platform.launch(redirect)
        launch = await tool.handle_callback(form, redirect.cookie_value)
        handle = await tool.save_launch(launch)
        reopened = await tool.load_launch(handle)
        assert reopened.claims == launch.claims
        assert await tool.end_launch(handle) is True
        with pytest.raises(NonceReusedError):
            await tool.handle_callback(form, redirect.cookie_value)

    await asyncio.gather(*(one() for _ in range(count)))


async def _install(storage: AsyncSqlLaunchStorage, platform: SimulatedPlatform) -> None:
    await storage.add_registration(platform.registration)
    await storage.add_deployment(platform.registration, platform.deployment)


async def _tokens_and_keys(
    cache: Any, keys: AsyncSqlToolKeyStore | None, tool_key: ToolKey | None
) -> None:
    """The service-token cache and the tool-key store: a put, a get, a conditional delete."""
    key = TokenCacheKey(
        issuer="https://lms.example.edu",
        client_id="c",
        token_url="https://lms.example.edu/token",
        scopes=frozenset({"s"}),
    )
    token = ServiceToken(
        access_token="at", scopes=frozenset({"s"}), expires_at=_now() + timedelta(hours=1)
    )
    await cache.put_token(key, token)
    assert await cache.get_token(key) == token
    assert await cache.delete_token(key, only=token) is True
    if keys is not None and tool_key is not None:
        await keys.save_key(tool_key)
        assert [k.kid for k in await keys.list_keys()] == [tool_key.kid]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def test_async_tool_on_async_sql_never_blocks_the_loop(
    backend: str, gate: LoopGate, platform: SimulatedPlatform
) -> None:
    """Launches on AsyncSqlLaunchStorage + AsyncSqlLaunchSessionStore, Advantage stores."""
    tool_key = generate_key(now=_now(), state=KeyState.CURRENT)  # CPU work, off the watch

    async def scenario() -> None:
        engine = open_async_engine(backend)
        storage = AsyncSqlLaunchStorage(engine)
        await _install(storage, platform)
        tool = AsyncTool(
            storage,
            sessions=AsyncSqlLaunchSessionStore(engine),
            http_client=platform.async_http_client(),
            clock=platform.clock,
        )
        await _launches(tool, platform, 3)
        await _tokens_and_keys(
            AsyncSqlServiceTokenCache(engine, RING), AsyncSqlToolKeyStore(engine, RING), tool_key
        )
        await tool.aclose()
        await engine.dispose()

    assert_never_blocked(scenario, gate)


def test_async_tool_on_redis_never_blocks_the_loop(
    redis_url: str, fresh_postgres_url: str, platform: SimulatedPlatform
) -> None:
    """Nonces, launch sessions and service tokens in Redis (registrations in PostgreSQL)."""
    gate = LoopGate()
    with _slow_postgres(fresh_postgres_url, gate) as pg_url, _slow_redis(redis_url, gate) as r:

        async def scenario() -> None:
            engine = open_async_engine(pg_url)
            client = redis.asyncio.Redis.from_url(r)
            storage = AsyncSqlLaunchStorage(engine)
            await _install(storage, platform)
            tool = AsyncTool(
                storage,
                nonce_store=AsyncRedisNonceStore(client),
                sessions=AsyncRedisLaunchSessionStore(client),
                http_client=platform.async_http_client(),
                clock=platform.clock,
            )
            await _launches(tool, platform, 3)
            await _tokens_and_keys(AsyncRedisServiceTokenCache(client, RING), None, None)
            await tool.aclose()
            await client.aclose()
            await engine.dispose()

        assert_never_blocked(scenario, gate)


def _no_provider(request: httpx.Request) -> httpx.Response:
    """The OAuth provider the vault never needs here (no OAuth credentials)."""
    return httpx.Response(404)


@contextlib.asynccontextmanager
async def _async_vault(engine: AsyncEngine, store: Any = None) -> AsyncIterator[AsyncVault]:
    """An AsyncVault on *engine*: the async SQL store (unless *store*) and host ports."""
    directory = AsyncMemoryUserDirectory()
    directory.sync.add_user(VaultUser(id="alice", email="alice@example.org"), projects=["p1"])
    vault = AsyncVault(
        store=store or AsyncSqlVaultStore(engine),
        keyring=RING,
        directory=directory,
        notifier=AsyncMemoryNotifier(),
        audit=AsyncSqlAuditSink(engine),
        activity=AsyncSqlStepActivity(engine),
        oauth_clients=AsyncSqlOAuthClientRegistry(engine, RING),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(_no_provider)),
    )
    try:
        yield vault
    finally:
        await vault.aclose()


async def _vault_work(vault: AsyncVault, store: Any) -> None:
    """Create, read, list, update under a row lock, a named lock, schedule and purge."""
    run = next(_RUNS)
    body = {
        "host": "db.example.org",
        "port": "5432",
        "database": "app",
        "user": "u",
        "password": "p",
    }
    created = await asyncio.gather(
        *(
            vault.create_credential(
                {
                    "name": f"db-{run}-{i}",
                    "schema": "postgresql",
                    "owner_id": "alice",
                    "body": body,
                    "project_ids": ["p1"],
                }
            )
            for i in range(3)
        )
    )
    assert (await vault.get_credential(created[0].id)) is not None
    alice = VaultUser(id="alice", email="alice@example.org")
    assert len(await vault.list_credentials(alice)) >= 3
    async with vault.get_credential_for_update(created[0].id) as fresh:
        await vault.update_credential(fresh, {"name": f"renamed-{run}"})
    async with store.lock("refresh", timeout=5):  # a read under the lock does not wait for it
        assert (await vault.get_credential(created[2].id)) is not None
    await vault.schedule_credential_deletion(created[1].id)
    await vault.purge_deleted()
    assert await vault.get_credential(created[1].id) is None


def test_async_vault_on_async_sql_never_blocks_the_loop(backend: str, gate: LoopGate) -> None:
    """AsyncVault on AsyncSqlVaultStore and the async SQL host ports."""

    async def scenario() -> None:
        engine = open_async_engine(backend)
        store = AsyncSqlVaultStore(engine)
        async with _async_vault(engine, store) as vault:
            await _vault_work(vault, store)
        await engine.dispose()

    assert_never_blocked(scenario, gate)


def test_async_memory_adapters_never_block_the_loop(platform: SimulatedPlatform) -> None:
    """The async memory adapters, for completeness: AsyncTool and AsyncVault on them."""

    async def scenario() -> None:
        tool = platform.async_tool(sessions=AsyncMemoryLaunchSessionStore())
        await _launches(tool, platform, 3)
        await tool.aclose()
        store = AsyncMemoryVaultStore()
        directory = AsyncMemoryUserDirectory()
        directory.sync.add_user(VaultUser(id="alice", email="alice@example.org"), projects=["p1"])
        vault = AsyncVault(
            store=store,
            keyring=RING,
            directory=directory,
            notifier=AsyncMemoryNotifier(),
            audit=AsyncMemoryAuditSink(),
            activity=AsyncMemoryStepActivity(),
            oauth_clients=AsyncMemoryOAuthClientRegistry(),
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(_no_provider)),
        )
        await _vault_work(vault, store)
        await vault.aclose()

    assert_never_blocked(scenario)


# --------------------------------------------------------------------------- the check bites


class _SyncSqlBehindAsync:
    """The sync SQL adapter behind ``async def`` methods: every call blocks the loop."""

    def __init__(self, storage: SqlLaunchStorage) -> None:
        self.sync = storage

    async def get_registration(self, issuer: str, client_id: str | None) -> Registration | None:
        return self.sync.get_registration(issuer, client_id)

    async def get_deployment(
        self, registration: Registration, deployment_id: str
    ) -> Deployment | None:
        return self.sync.get_deployment(registration, deployment_id)

    async def store_nonce(self, nonce: str, registration: Registration, **kwargs: Any) -> None:
        self.sync.store_nonce(nonce, registration, **kwargs)

    async def validate_nonce(self, nonce: str, registration: Registration, **kwargs: Any) -> Any:
        return self.sync.validate_nonce(nonce, registration, **kwargs)


def test_a_blocking_launch_storage_is_caught(
    fresh_postgres_url: str, platform: SimulatedPlatform
) -> None:
    """The sync SQL adapter behind ``async def`` (what the issue reported) stalls the proxy."""
    gate = LoopGate()
    with _slow_postgres(fresh_postgres_url, gate) as url:
        engine = create_engine(url)
        platform.install(SqlLaunchStorage(engine))  # connected before the gate is armed

        async def scenario() -> None:
            storage = _SyncSqlBehindAsync(SqlLaunchStorage(engine))
            tool = AsyncTool(
                storage, http_client=platform.async_http_client(), clock=platform.clock
            )
            await tool.handle_login(platform.login_params(), LAUNCH_URL)
            await tool.aclose()

        watch = run_watched(scenario, gate)
        engine.dispose()
    assert watch.stalls > 0, "a storage that waits for PostgreSQL on the loop was not caught"
    with pytest.raises(AssertionError, match="waited for a blocked event loop"):
        assert watch.stalls == 0, watch.problems()


class _SleepyStore:
    """An async vault store whose units of work start with ``time.sleep``."""

    def __init__(self, inner: AsyncSqlVaultStore) -> None:
        self.inner = inner

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        time.sleep(2 * BLOCKED)  # the point of this test: the loop waits
        async with self.inner.transaction() as tx:
            yield tx

    def scan_credentials(self, **kwargs: Any) -> Any:
        return self.inner.scan_credentials(**kwargs)

    def lock(self, key: str, *, timeout: float) -> Any:
        return self.inner.lock(key, timeout=timeout)


def test_a_blocking_vault_store_is_caught(tmp_path: Path) -> None:
    """A store that sleeps on the loop fails the check, even on a fast local database."""
    url = f"sqlite:///{tmp_path / 'sleepy.db'}"
    upgrade(create_engine(url))

    async def scenario() -> None:
        engine = open_async_engine(url)
        store = _SleepyStore(AsyncSqlVaultStore(engine))
        async with _async_vault(engine, store) as vault:
            assert await vault.get_credential("absent") is None  # one unit of work
        await engine.dispose()

    with pytest.raises(AssertionError, match=r"s: Executing <Task.* took \d"):
        assert_never_blocked(scenario)
