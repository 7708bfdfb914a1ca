"""Facades and their ports: the form (sync or async) is checked, the host's types inferred.

This module is also a typing test: mypy (strict, over tests/) checks every
``assert_type`` below, so ``Tool(storage)`` / ``AsyncTool(storage)`` must infer the
host's registration and deployment types from the storage without annotations.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import attrs
import pytest
from typing_extensions import assert_type

from credlti.adapters.memory import (
    AsyncMemoryLaunchSessionStore,
    AsyncMemoryLaunchStorage,
    AsyncMemoryLti1p1Secrets,
    AsyncMemoryServiceTokenCache,
    MemoryLaunchSessionStore,
    MemoryLaunchStorage,
    MemoryLti1p1Secrets,
    MemoryServiceTokenCache,
)
from credlti.lti import AsyncTool, Deployment, LaunchContext, Registration, Tool
from credlti.lti.ports import NonceStatus
from credlti.lti.registration import AsyncDynamicRegistration, DynamicRegistration, ToolSettings
from credlti.lti.services import AsyncServiceTokenClient, ServiceTokenClient
from credlti.testing import SimulatedPlatform

from .helpers import LAUNCH_URL

SETTINGS = ToolSettings(
    client_name="Typed tool",
    initiate_login_uri="https://tool.example.com/login",
    redirect_uris=("https://tool.example.com/launch",),
    jwks_uri="https://tool.example.com/jwks",
    target_link_uri="https://tool.example.com/launch",
)


@attrs.frozen
class MyRegistration:
    """A host's registration row."""

    record: Registration
    tenant: str = "t-1"

    def to_registration(self) -> Registration:
        """The credlti record."""
        return self.record


@attrs.frozen
class MyDeployment:
    """A host's deployment row."""

    record: Deployment

    def to_deployment(self) -> Deployment:
        """The credlti record."""
        return self.record


class MyStore:
    """A host's own sync storage, typed with its own row classes."""

    def __init__(self, platform: SimulatedPlatform) -> None:
        self.registration = MyRegistration(platform.registration)
        self.deployment = MyDeployment(platform.deployment)
        self.nonces = MemoryLaunchStorage[Any, Any]()

    def get_registration(self, issuer: str, client_id: str | None) -> MyRegistration | None:
        found = self.registration.record
        return self.registration if (issuer, client_id) == (found.issuer, found.client_id) else None

    def get_deployment(self, registration: Registration, deployment_id: str) -> MyDeployment | None:
        return self.deployment if deployment_id == self.deployment.record.deployment_id else None

    def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        self.nonces.store_nonce(nonce, registration, expires_at=expires_at, now=now)

    def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        return self.nonces.validate_nonce(nonce, registration, now=now)


class MyAsyncStore:
    """The same host storage with ``async def`` methods."""

    def __init__(self, platform: SimulatedPlatform) -> None:
        self.sync = MyStore(platform)

    async def get_registration(self, issuer: str, client_id: str | None) -> MyRegistration | None:
        return self.sync.get_registration(issuer, client_id)

    async def get_deployment(
        self, registration: Registration, deployment_id: str
    ) -> MyDeployment | None:
        return self.sync.get_deployment(registration, deployment_id)

    async def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        self.sync.store_nonce(nonce, registration, expires_at=expires_at, now=now)

    async def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        return self.sync.validate_nonce(nonce, registration, now=now)


# ----------------------------------------------------------------------------- inference


def test_tool_infers_the_hosts_types_from_its_storage(platform: SimulatedPlatform) -> None:
    """Tool(MyStore) is a Tool[MyRegistration, MyDeployment]; its launches carry the rows."""
    tool = platform.tool(MyStore(platform))  # the kit's helper is untyped: build it directly too
    typed = Tool(MyStore(platform), clock=platform.clock, http_client=platform.http_client())
    assert_type(typed, Tool[MyRegistration, MyDeployment])

    redirect = typed.handle_login(platform.login_params(), LAUNCH_URL)
    launch = typed.handle_callback(platform.launch(redirect), redirect.cookie_value)

    assert_type(launch, LaunchContext[MyRegistration, MyDeployment])
    assert_type(launch.registration, MyRegistration)
    assert launch.registration.tenant == "t-1"
    assert isinstance(launch.deployment, MyDeployment)
    tool.close()
    typed.close()


def test_async_tool_infers_the_hosts_types_from_its_storage(platform: SimulatedPlatform) -> None:
    """AsyncTool(MyAsyncStore) is an AsyncTool[MyRegistration, MyDeployment]."""

    async def main() -> None:
        tool = AsyncTool(
            MyAsyncStore(platform), clock=platform.clock, http_client=platform.async_http_client()
        )
        assert_type(tool, AsyncTool[MyRegistration, MyDeployment])
        redirect = await tool.handle_login(platform.login_params(), LAUNCH_URL)
        launch = await tool.handle_callback(platform.launch(redirect), redirect.cookie_value)
        assert_type(launch, LaunchContext[MyRegistration, MyDeployment])
        assert launch.registration.tenant == "t-1"
        handle = await tool.save_launch(launch)
        assert_type(await tool.load_launch(handle), LaunchContext[MyRegistration, MyDeployment])
        await tool.aclose()

    asyncio.run(main())


def test_the_memory_storages_carry_their_type_parameters() -> None:
    """A typed memory storage (sync or async) types the tool it is given."""
    storage = MemoryLaunchStorage[MyRegistration, MyDeployment]()
    tool = Tool(storage)
    assert_type(tool, Tool[MyRegistration, MyDeployment])
    async_storage = AsyncMemoryLaunchStorage[MyRegistration, MyDeployment]()
    async_tool = AsyncTool(async_storage)
    assert_type(async_tool, AsyncTool[MyRegistration, MyDeployment])
    assert_type(async_storage.sync, MemoryLaunchStorage[MyRegistration, MyDeployment])
    tool.close()
    asyncio.run(async_tool.aclose())


# ----------------------------------------------------------------------------- forms


def test_async_tool_refuses_sync_ports_when_built() -> None:
    """A sync port given to AsyncTool is a TypeError naming the port and its async form."""
    with pytest.raises(
        TypeError, match=r"MemoryLaunchStorage\.get_registration is not `async def`"
    ):
        AsyncTool(MemoryLaunchStorage())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AsyncMemoryLaunchStorage"):
        AsyncTool(MemoryLaunchStorage())  # type: ignore[arg-type]
    storage = AsyncMemoryLaunchStorage[Any, Any]()
    bad: list[tuple[str, object]] = [
        ("nonce_store", MemoryLaunchStorage()),
        ("sessions", MemoryLaunchSessionStore()),
        ("token_cache", MemoryServiceTokenCache()),
        ("lti1p1_secrets", MemoryLti1p1Secrets()),
    ]
    for name, port in bad:
        with pytest.raises(TypeError, match="is not `async def`"):
            AsyncTool(storage, **{name: port})  # type: ignore[arg-type]


def test_tool_refuses_async_ports_when_built() -> None:
    """And the other way round: Tool never gets a coroutine it would not await."""
    with pytest.raises(TypeError, match=r"get_registration is `async def`"):
        Tool(AsyncMemoryLaunchStorage())  # type: ignore[arg-type]
    storage = MemoryLaunchStorage[Any, Any]()
    bad: list[tuple[str, object]] = [
        ("nonce_store", AsyncMemoryLaunchStorage()),
        ("sessions", AsyncMemoryLaunchSessionStore()),
        ("token_cache", AsyncMemoryServiceTokenCache()),
        ("lti1p1_secrets", AsyncMemoryLti1p1Secrets()),
    ]
    for name, port in bad:
        with pytest.raises(TypeError, match="is `async def`"):
            Tool(storage, **{name: port})  # type: ignore[arg-type]


def test_a_registration_store_without_nonces_needs_a_nonce_store(
    platform: SimulatedPlatform,
) -> None:
    """storage= without nonce methods is refused unless nonce_store= is given."""

    class Registrations:
        def get_registration(self, issuer: str, client_id: str | None) -> Registration | None:
            return None

        def get_deployment(self, registration: Registration, deployment_id: str) -> None:
            return None

    with pytest.raises(TypeError, match=r"has no store_nonce\(\) method"):
        Tool(Registrations())
    Tool(Registrations(), nonce_store=MemoryLaunchStorage()).close()


def test_service_clients_and_registration_check_their_ports() -> None:
    """The token clients and dynamic registration refuse a port of the other form."""
    from credlti.lti.keys import KeyState, generate_key

    key = generate_key(now=datetime(2026, 1, 1).astimezone(), state=KeyState.CURRENT)
    with pytest.raises(TypeError, match="is not `async def`"):
        AsyncServiceTokenClient(keys=key, cache=MemoryServiceTokenCache())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is `async def`"):
        ServiceTokenClient(keys=key, cache=AsyncMemoryServiceTokenCache())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is not `async def`"):
        AsyncDynamicRegistration(SETTINGS, MemoryLaunchStorage())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is `async def`"):
        DynamicRegistration(SETTINGS, AsyncMemoryLaunchStorage())  # type: ignore[arg-type]
    client = AsyncServiceTokenClient(keys=key)
    assert isinstance(client.cache, AsyncMemoryServiceTokenCache)
    asyncio.run(client.aclose())


def test_async_tools_await_a_shared_async_token_cache(platform: SimulatedPlatform) -> None:
    """Two AsyncTools (two workers) on one async cache that yields: one token request."""
    from credlti.lti.keys import KeyState, generate_key
    from credlti.lti.services import SCOPE_NRPS_READONLY, ServiceToken, TokenCacheKey

    class YieldingCache:
        """An async cache that gives the loop a turn on every call (as a network one)."""

        def __init__(self) -> None:
            self.inner = AsyncMemoryServiceTokenCache()
            self.calls = 0

        async def get_token(self, key: TokenCacheKey) -> ServiceToken | None:
            self.calls += 1
            await asyncio.sleep(0)
            return await self.inner.get_token(key)

        async def put_token(self, key: TokenCacheKey, token: ServiceToken) -> None:
            self.calls += 1
            await asyncio.sleep(0)
            await self.inner.put_token(key, token)

        async def delete_token(
            self, key: TokenCacheKey, *, only: ServiceToken | None = None
        ) -> bool:
            self.calls += 1
            await asyncio.sleep(0)
            return await self.inner.delete_token(key, only=only)

    key = generate_key(now=platform.clock(), state=KeyState.CURRENT)
    cache = YieldingCache()

    async def main() -> list[ServiceToken]:
        workers = [platform.async_tool(keys=key, token_cache=cache) for _ in range(2)]
        platform.trust_tool_keys(workers[0].jwks())
        tokens = [
            await w.services.get_token(platform.registration, [SCOPE_NRPS_READONLY])
            for w in workers
        ]
        for worker in workers:
            await worker.aclose()
        return tokens

    first, second = asyncio.run(main())
    assert first == second
    assert platform.token_requests == 1
    assert cache.calls >= 3  # looked up, stored, found by the second worker
