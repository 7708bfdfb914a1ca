"""Concurrent replays: exactly one launch wins, sync (threads) and async (gather)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import pytest

from credlti.adapters.memory import AsyncMemoryLaunchStorage, MemoryLaunchStorage
from credlti.errors import (
    NonceReusedError,
    StorageUnavailableError,
    TokenExpiredError,
)
from credlti.lti import AsyncTool, LaunchClaims, LaunchContext, LoginRedirect, Registration, Tool
from credlti.ports import NonceStatus
from credlti.testing import BadLaunch, SimulatedPlatform

from .helpers import LAUNCH_URL, START, expect_error, login, storage_for

WORKERS = 8


@pytest.fixture(scope="module", name="plat")
def _plat() -> SimulatedPlatform:
    """One platform (one RSA keygen) for the module; tests never touch its keys."""
    return SimulatedPlatform()


@pytest.fixture(autouse=True)
def _reset_clock(plat: SimulatedPlatform) -> Iterator[None]:
    plat.clock.now = START
    yield
    plat.clock.now = START


def _outcome(results: list[object]) -> tuple[list[LaunchContext[Any, Any]], list[object]]:
    launches = [r for r in results if isinstance(r, LaunchContext)]
    others = [r for r in results if not isinstance(r, LaunchContext)]
    return launches, others


def _assert_one_winner(results: list[object]) -> None:
    assert len(results) == WORKERS
    launches, others = _outcome(results)
    assert len(launches) == 1, results
    assert len(others) == WORKERS - 1
    for loser in others:
        assert type(loser) is NonceReusedError, repr(loser)
        assert loser.code == "nonce_reused"


def _race(tool: Tool[Any, Any], jobs: Sequence[tuple[Mapping[str, str], str]]) -> list[object]:
    """Run one handle_callback per job, all released at once by a barrier."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = []
    guard = threading.Lock()

    def work(form: Mapping[str, str], cookie: str) -> None:
        barrier.wait(timeout=10)
        try:
            out: object = tool.handle_callback(form, cookie)
        except Exception as exc:  # collected and asserted on by the caller
            out = exc
        with guard:
            results.append(out)

    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


# --------------------------------------------------------------------------- threads


def test_threads_replaying_one_launch_yield_one_launch(plat: SimulatedPlatform) -> None:
    """8 threads posting the same launch at once: one LaunchContext, seven NonceReusedError."""
    tool = plat.tool()
    for _ in range(5):  # several rounds, the first one with a cold key cache
        redirect = login(tool, plat)
        form = plat.launch(redirect)
        _assert_one_winner(_race(tool, [(form, redirect.cookie_value)] * WORKERS))
    assert tool.key_set_fetches == 1  # single-flight key fetch under the cold-cache race


def test_threads_with_distinct_launches_all_succeed(plat: SimulatedPlatform) -> None:
    """Concurrent independent launches do not interfere: each gets its own LaunchContext."""
    tool = plat.tool()
    redirects = [login(tool, plat) for _ in range(WORKERS)]
    jobs = [(plat.launch(r), r.cookie_value) for r in redirects]
    results = _race(tool, jobs)
    launches, others = _outcome(results)
    assert others == []
    assert len({launch.claims.nonce for launch in launches}) == WORKERS
    assert len({launch.launch_id for launch in launches}) == WORKERS


# --------------------------------------------------------------------------- asyncio


@attrs.define
class AsyncStorage:
    """An ``async def`` storage that yields to the loop before every call."""

    inner: MemoryLaunchStorage[Any, Any]
    fail: bool = False

    async def _tick(self) -> None:
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionResetError("redis went away")

    async def get_registration(self, issuer: str, client_id: str | None) -> Any:
        await self._tick()
        return self.inner.get_registration(issuer, client_id)

    async def get_deployment(self, registration: Registration, deployment_id: str) -> Any:
        await self._tick()
        return self.inner.get_deployment(registration, deployment_id)

    async def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        await self._tick()
        self.inner.store_nonce(nonce, registration, expires_at=expires_at, now=now)

    async def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        await self._tick()
        return self.inner.validate_nonce(nonce, registration, now=now)


def _async_tool(plat: SimulatedPlatform, storage: Any = None) -> AsyncTool[Any, Any]:
    return AsyncTool(
        storage if storage is not None else AsyncMemoryLaunchStorage.over(storage_for(plat)),
        clock=plat.clock,
        http_client=plat.async_http_client(),
    )


@pytest.mark.parametrize("storage_kind", ["memory", "async-storage"])
def test_async_gather_replaying_one_launch_yields_one_launch(
    storage_kind: str, plat: SimulatedPlatform
) -> None:
    """8 coroutines gathered on the same launch: one LaunchContext, seven NonceReusedError."""
    memory = storage_for(plat)
    async_memory = AsyncMemoryLaunchStorage.over(memory)
    tool = _async_tool(plat, async_memory if storage_kind == "memory" else AsyncStorage(memory))

    async def main() -> list[list[object]]:
        rounds: list[list[object]] = []
        for _ in range(3):
            redirect = await tool.handle_login(plat.login_params(), LAUNCH_URL)
            form = plat.launch(redirect)
            rounds.append(
                list(
                    await asyncio.gather(
                        *(
                            tool.handle_callback(form, redirect.cookie_value)
                            for _ in range(WORKERS)
                        ),
                        return_exceptions=True,
                    )
                )
            )
        return rounds

    for results in asyncio.run(main()):
        _assert_one_winner(results)
    assert tool.key_set_fetches == 1


def test_async_tool_happy_path(plat: SimulatedPlatform) -> None:
    """AsyncTool (from the platform kit): login then callback yields the typed launch."""
    tool = plat.async_tool()

    async def main() -> tuple[LoginRedirect, LaunchContext[Any, Any]]:
        redirect = await tool.handle_login(plat.login_params(), LAUNCH_URL)
        launch = await tool.handle_callback(plat.launch(redirect), redirect.cookie_value)
        return redirect, launch

    redirect, launch = asyncio.run(main())
    assert isinstance(launch, LaunchContext)
    assert launch.claims.subject == "user-1"
    assert launch.claims.roles.is_instructor
    assert launch.claims.nonce == plat.authorize(redirect)["nonce"]
    assert launch.registration == plat.registration
    assert launch.deployment == plat.deployment


def test_async_tool_rejects_a_bad_launch_and_keeps_the_nonce(plat: SimulatedPlatform) -> None:
    """AsyncTool raises the same typed errors: expired token, then replay after a success."""
    tool = plat.async_tool()

    async def main() -> None:
        redirect = await tool.handle_login(plat.login_params(), LAUNCH_URL)
        expired = plat.bad_launch(redirect, BadLaunch.EXPIRED)
        with pytest.raises(TokenExpiredError) as info:
            await tool.handle_callback(expired, redirect.cookie_value)
        assert type(info.value) is TokenExpiredError
        assert info.value.code == "token_expired"
        assert info.value.http_status == 401

        form = plat.launch(redirect)
        launch = await tool.handle_callback(form, redirect.cookie_value)
        assert isinstance(launch, LaunchContext)
        with pytest.raises(NonceReusedError) as replay:
            await tool.handle_callback(form, redirect.cookie_value)
        assert replay.value.code == "nonce_reused"

    asyncio.run(main())


def test_async_storage_failure_is_storage_unavailable(plat: SimulatedPlatform) -> None:
    """An async storage raising a plain exception surfaces as StorageUnavailableError."""
    storage = AsyncStorage(storage_for(plat), fail=True)
    tool = _async_tool(plat, storage)

    async def main() -> None:
        await tool.handle_login(plat.login_params(), LAUNCH_URL)

    exc = expect_error(
        lambda: asyncio.run(main()), StorageUnavailableError, "storage_unavailable", status=503
    )
    assert isinstance(exc.__cause__, ConnectionResetError)


def test_sync_and_async_tools_agree(plat: SimulatedPlatform) -> None:
    """The same launch validates to equal claims through Tool and AsyncTool."""
    sync_tool = plat.tool()
    redirect = login(sync_tool, plat)
    sync_claims = sync_tool.handle_callback(plat.launch(redirect), redirect.cookie_value).claims

    async_tool = plat.async_tool()

    async def main() -> LaunchContext[Any, Any]:
        again = await async_tool.handle_login(plat.login_params(), LAUNCH_URL)
        return await async_tool.handle_callback(plat.launch(again), again.cookie_value)

    async_claims = asyncio.run(main()).claims
    differing = {"nonce"}
    for name in LaunchClaims.FIELDS:
        if name not in differing:
            assert getattr(sync_claims, name) == getattr(async_claims, name), name
