"""The vault's token-endpoint calls end at ``VaultConfig.http_deadline``.

A provider that sends its headers at once and then a body byte every 0.2 s never
trips the per-read timeout; only the overall deadline ends the refresh, as a
:class:`~credlti.errors.TemporaryRefreshError` (sync, and async through the
resolver).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from credlti.adapters.memory import (
    MemoryOAuthClientRegistry,
    MemoryUserDirectory,
    MemoryVaultStore,
)
from credlti.credentials import (
    AsyncCredentialResolver,
    Credential,
    KeyRing,
    OAuthClient,
    ResolveStatus,
    Vault,
    VaultConfig,
    VaultUser,
)
from credlti.errors import ConfigurationError, TemporaryRefreshError
from credlti.testing import FrozenClock
from tests.lti.test_service_deadline import DripServer

from .helpers import KEY1

DEADLINE = 1.0
TOLERANCE = 0.8


@pytest.fixture(name="drip")
def _drip() -> Iterator[DripServer]:
    server = DripServer()
    yield server
    server.stop.set()
    server.thread.join(timeout=2)


def _vault(drip: DripServer, http: httpx.Client) -> tuple[Vault, Credential, FrozenClock]:
    directory = MemoryUserDirectory()
    directory.add_user(VaultUser(id="alice", email="alice@example.org"), projects=["p1"])
    clock = FrozenClock()
    clients = MemoryOAuthClientRegistry()
    clients.add(
        OAuthClient(
            id="drip",
            client_id="cid",
            client_secret="csecret",
            token_endpoint=f"{drip.url}/token",
        )
    )
    vault = Vault(
        store=MemoryVaultStore(),
        keyring=KeyRing([KEY1]),
        directory=directory,
        oauth_clients=clients,
        http_client=http,
        clock=clock,
        config=VaultConfig(http_timeout=5.0, http_deadline=DEADLINE, max_response_bytes=1 << 20),
    )
    credential = vault.create_credential(
        {
            "name": "mail",
            "schema": "oauth",
            "owner_id": "alice",
            "body": {},
            "oauth_client_id": "drip",
            "oauth_token": {
                "access_token": "old",
                "refresh_token": "rt",
                "token_type": "Bearer",
                "scope": "mail.read",
                "expires_in": 60,
            },
        }
    )
    return vault, credential, clock


def test_the_deadline_defaults_to_30_seconds_and_must_be_positive() -> None:
    assert VaultConfig().http_deadline == 30.0
    bad: Any
    for bad in (0, -1.0, math.nan, math.inf, None, True, "30"):
        with pytest.raises(ConfigurationError) as caught:
            VaultConfig(http_deadline=bad)
        assert caught.value.details == {"field": "http_deadline"}


def test_a_dripping_refresh_fails_at_the_deadline(drip: DripServer) -> None:
    with httpx.Client() as http:
        vault, credential, _clock = _vault(drip, http)
        started = time.monotonic()
        with pytest.raises(TemporaryRefreshError) as caught:
            vault.maybe_refresh_token(credential)
        elapsed = time.monotonic() - started
    assert DEADLINE <= elapsed < DEADLINE + TOLERANCE
    assert "deadline" in caught.value.message


def test_an_async_resolve_against_a_dripping_provider_ends_at_the_deadline(
    drip: DripServer,
) -> None:
    with httpx.Client() as http:
        vault, credential, clock = _vault(drip, http)

        async def main() -> tuple[float, Any]:
            async with httpx.AsyncClient() as ahttp:
                resolver = AsyncCredentialResolver(vault, http_client=ahttp, clock=clock)
                started = time.monotonic()
                result = await resolver.resolve(credential.id)
                return time.monotonic() - started, result

        elapsed, result = asyncio.run(main())
    assert result.status is ResolveStatus.TEMPORARILY_UNAVAILABLE
    assert isinstance(result.error, TemporaryRefreshError)
    assert DEADLINE <= elapsed < DEADLINE + TOLERANCE
