"""The memory adapters satisfy the ports in both forms, statically and at run time.

mypy (strict, over tests/) checks the assignments below: each adapter class must be
a structural subtype of its port. The run-time half checks what the facades check
when they are built (``async def`` methods for an async port, plain ones for a sync
port), so an adapter of the wrong form cannot slip through either way.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from credlti.adapters.memory import (
    AsyncEncryptedToolKeyStore,
    AsyncMemoryLaunchSessionStore,
    AsyncMemoryLaunchStorage,
    AsyncMemoryLti1p1Secrets,
    AsyncMemoryServiceTokenCache,
    AsyncMemoryToolKeyStore,
    EncryptedToolKeyStore,
    MemoryLaunchSessionStore,
    MemoryLaunchStorage,
    MemoryLti1p1Secrets,
    MemoryServiceTokenCache,
    MemoryToolKeyStore,
)
from credlti.credentials import EncryptionKey, KeyRing
from credlti.lti import Deployment, Registration
from credlti.lti._port_kind import check_port
from credlti.ports import (
    AsyncLaunchSessionStore,
    AsyncLaunchStorage,
    AsyncLti1p1Secrets,
    AsyncNonceStore,
    AsyncRegistrationSink,
    AsyncRegistrationStore,
    AsyncServiceTokenCache,
    AsyncToolKeyStore,
    LaunchSessionStore,
    LaunchStorage,
    Lti1p1Secrets,
    NonceStore,
    RegistrationSink,
    RegistrationStore,
    ServiceTokenCache,
    ToolKeyStore,
)

RING = KeyRing([EncryptionKey(id="k1", material=secrets.token_bytes(32))])

#: Each port's methods, as the facades check them.
METHODS: dict[type[Any], tuple[str, ...]] = {
    RegistrationStore: ("get_registration", "get_deployment"),
    NonceStore: ("store_nonce", "validate_nonce"),
    RegistrationSink: (
        "get_registration",
        "add_registration",
        "add_deployment",
        "remove_registration",
    ),
    Lti1p1Secrets: ("get_lti1p1_secret",),
    LaunchSessionStore: ("save", "load", "delete"),
    ToolKeyStore: ("list_keys", "get_key", "save_key", "delete_key"),
    ServiceTokenCache: ("get_token", "put_token", "delete_token"),
}


def sync_ports() -> list[tuple[object, type[Any]]]:
    """Each sync memory adapter with the ports it satisfies (statically checked)."""
    storage: LaunchStorage[Registration, Deployment] = MemoryLaunchStorage[
        Registration, Deployment
    ]()
    sink: RegistrationSink = MemoryLaunchStorage[Registration, Deployment]()
    secrets_: Lti1p1Secrets = MemoryLti1p1Secrets()
    sessions: LaunchSessionStore = MemoryLaunchSessionStore()
    keys: ToolKeyStore = MemoryToolKeyStore()
    sealed: ToolKeyStore = EncryptedToolKeyStore(RING)
    tokens: ServiceTokenCache = MemoryServiceTokenCache()
    return [
        (storage, RegistrationStore),
        (storage, NonceStore),
        (sink, RegistrationSink),
        (secrets_, Lti1p1Secrets),
        (sessions, LaunchSessionStore),
        (keys, ToolKeyStore),
        (sealed, ToolKeyStore),
        (tokens, ServiceTokenCache),
    ]


def async_ports() -> list[tuple[object, type[Any]]]:
    """Each async memory adapter with the sync port whose async twin it satisfies."""
    storage: AsyncLaunchStorage[Registration, Deployment] = AsyncMemoryLaunchStorage[
        Registration, Deployment
    ]()
    registrations: AsyncRegistrationStore[Registration, Deployment] = storage
    nonces: AsyncNonceStore = storage
    sink: AsyncRegistrationSink = AsyncMemoryLaunchStorage[Registration, Deployment]()
    secrets_: AsyncLti1p1Secrets = AsyncMemoryLti1p1Secrets()
    sessions: AsyncLaunchSessionStore = AsyncMemoryLaunchSessionStore()
    keys: AsyncToolKeyStore = AsyncMemoryToolKeyStore()
    sealed: AsyncToolKeyStore = AsyncEncryptedToolKeyStore(RING)
    tokens: AsyncServiceTokenCache = AsyncMemoryServiceTokenCache()
    return [
        (registrations, RegistrationStore),
        (nonces, NonceStore),
        (sink, RegistrationSink),
        (secrets_, Lti1p1Secrets),
        (sessions, LaunchSessionStore),
        (keys, ToolKeyStore),
        (sealed, ToolKeyStore),
        (tokens, ServiceTokenCache),
    ]


@pytest.mark.parametrize(("adapter", "port"), sync_ports())
def test_sync_memory_adapters_have_plain_methods(adapter: object, port: type[Any]) -> None:
    """Every sync memory adapter's port methods are plain methods."""
    check_port(adapter, METHODS[port], asynchronous=False, what=port.__name__, owner="test")


@pytest.mark.parametrize(("adapter", "port"), async_ports())
def test_async_memory_adapters_have_async_methods(adapter: object, port: type[Any]) -> None:
    """Every async memory adapter's port methods are ``async def``."""
    check_port(adapter, METHODS[port], asynchronous=True, what=port.__name__, owner="test")


def test_async_forms_over_sync_ones_share_their_data() -> None:
    """``AsyncMemoryX.over(sync)`` sees (and changes) the sync adapter's data."""
    storage = MemoryLaunchStorage[Registration, Deployment]()
    record = Registration(
        issuer="https://lms.example.edu",
        client_id="c-1",
        auth_endpoint="https://lms.example.edu/auth",
        jwks_uri="https://lms.example.edu/jwks",
    )
    storage.add_registration(record)
    async_storage = AsyncMemoryLaunchStorage.over(storage)
    secrets_ = MemoryLti1p1Secrets({"key": "secret"})

    async def main() -> None:
        assert await async_storage.get_registration(record.issuer, "c-1") is record
        await async_storage.add_deployment(record, Deployment(deployment_id="d-1"))
        assert await AsyncMemoryLti1p1Secrets.over(secrets_).get_lti1p1_secret(record, "key")

    asyncio.run(main())
    assert storage.get_deployment(record, "d-1") == Deployment(deployment_id="d-1")
    assert async_storage.sync is storage
