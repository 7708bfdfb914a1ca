"""The runtime resolver: body merged with a fresh token, failures classified (sync and async)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from credlti.adapters.memory import MemoryOAuthClientRegistry
from credlti.credentials import (
    AsyncCredentialResolver,
    Credential,
    CredentialResolver,
    ResolvedCredential,
    ResolveStatus,
)
from credlti.errors import ReauthorizationRequiredError, TemporaryRefreshError

from .oauth_server import LoopbackProvider, Response
from .oauth_world import World, error_text, leaks, make_world


@pytest.fixture(name="provider")
def _provider() -> Iterator[LoopbackProvider]:
    with LoopbackProvider() as provider:
        yield provider
    assert provider.violations == []


@pytest.fixture(name="world")
def _world(provider: LoopbackProvider) -> Iterator[World]:
    yield from make_world(provider)


def _authorized(world: World) -> Credential:
    params = world.consent(world.begin())
    return world.authorizer.complete(params, user_id="alice").credential


def _expire(world: World) -> None:
    world.clock.advance(timedelta(minutes=56).total_seconds())


def _token_posts(world: World) -> int:
    return sum(1 for m, p in world.provider.requests if m == "POST" and p == "/token")


def test_resolves_oauth_body_with_token(world: World) -> None:
    """A fresh OAuth credential resolves without HTTP: body + token fields."""
    cred = _authorized(world)
    world.vault.update_credential(cred, {"body": {"apiVersion": "v2", "region": ""}})
    posts = _token_posts(world)
    result = world.resolver.resolve(cred.id)
    assert result.ok
    assert result.status is ResolveStatus.OK
    token = cred.oauth_token
    assert token is not None
    assert token.expires_at is not None
    assert result.body == {
        "apiVersion": "v2",
        "access_token": token.access_token,
        "refresh_token": token.refresh_token,
        "token_type": "Bearer",
        "scope": "openid mail.read",
        "expires_at": int(token.expires_at.timestamp()),
    }
    assert _token_posts(world) == posts
    assert token.access_token not in repr(result)


def test_resolves_plain_body_without_empty_values(world: World) -> None:
    """A non-OAuth credential resolves to its body minus top-level empty values."""
    cred = world.vault.create_credential(
        {
            "name": "raw",
            "schema": "raw",
            "owner_id": "alice",
            "body": {"key": "v", "empty": "", "none": None, "nested": {"e": ""}},
        }
    )
    result = world.resolver.resolve(cred.id)
    assert result.body == {"key": "v", "nested": {"e": ""}}


def test_refreshes_when_needed(world: World) -> None:
    """Near expiry the resolver refreshes through the vault (refresh grant at the provider)."""
    cred = _authorized(world)
    _expire(world)
    posts = _token_posts(world)
    result = world.resolver.resolve(cred.id, actor_id="worker")
    assert result.ok
    assert result.body is not None
    assert cred.oauth_token is not None
    assert result.body["access_token"] != cred.oauth_token.access_token
    assert result.body["access_token"] in world.provider.access_tokens
    assert result.body["refresh_token"] == cred.oauth_token.refresh_token
    assert _token_posts(world) == posts + 1
    again = world.resolver.resolve(cred.id)
    assert again.body == result.body
    assert _token_posts(world) == posts + 1


def test_needs_reauthorization(world: World) -> None:
    """A refused refresh token: needs_reauthorization, with the credential and the error."""
    cred = _authorized(world)
    world.provider.refresh_tokens.clear()
    _expire(world)
    result = world.resolver.resolve(cred.id)
    assert result.needs_reauthorization
    assert isinstance(result.error, ReauthorizationRequiredError)
    assert result.credential is not None
    assert result.body is None
    assert leaks(error_text(result.error), world) == []


def _unavailable() -> Response:
    return 503, {"Retry-After": "12", "Content-Type": "application/json"}, b"{}"


def test_temporarily_unavailable(world: World) -> None:
    """Provider trouble: temporarily_unavailable with retry_after."""
    cred = _authorized(world)
    world.provider.refresh_override = _unavailable
    _expire(world)
    result = world.resolver.resolve(cred.id)
    assert result.temporarily_unavailable
    assert result.retry_after == 12.0
    assert isinstance(result.error, TemporaryRefreshError)


def test_expired_token_without_client_needs_reauthorization(world: World) -> None:
    """A token that cannot be refreshed (client gone) and has expired is not handed out."""
    cred = _authorized(world)
    assert isinstance(world.clients, MemoryOAuthClientRegistry)
    world.clients._clients.pop("loop")
    world.clock.advance(timedelta(hours=2).total_seconds())
    result = world.resolver.resolve(cred.id)
    assert result.needs_reauthorization
    assert result.error is not None
    assert result.error.details["error"] == "no_usable_token"


@pytest.mark.parametrize(
    "bad", ["missing", "", "\udc80", "a\x00b", "x" * 10_000, None, 5, b"id", ["id"]]
)
def test_unknown_and_hostile_ids_are_not_found(world: World, bad: Any) -> None:
    """Any id that does not exist resolves to not_found, without raising."""
    result = world.resolver.resolve(bad)
    assert result.status is ResolveStatus.NOT_FOUND
    assert not result.ok
    assert len(result.credential_id) <= 255


def test_async_resolver_single_flight(world: World) -> None:
    """Concurrent async resolves of one expired credential make one refresh request."""
    cred = _authorized(world)
    _expire(world)
    posts = _token_posts(world)

    async def main() -> list[ResolvedCredential]:
        async with httpx.AsyncClient() as http:
            resolvers = [AsyncCredentialResolver(world.vault, http_client=http, clock=world.clock)]
            resolvers.append(
                AsyncCredentialResolver(world.vault, http_client=http, clock=world.clock)
            )
            return await asyncio.gather(*(resolvers[i % 2].resolve(cred.id) for i in range(6)))

    results = asyncio.run(main())
    assert all(r.ok for r in results)
    assert len({r.body["access_token"] for r in results if r.body}) == 1
    assert _token_posts(world) == posts + 1


def test_async_resolver_failures(world: World) -> None:
    """The async resolver classifies like the sync one and closes its own client."""
    cred = _authorized(world)
    world.provider.refresh_override = _unavailable
    _expire(world)

    async def main() -> tuple[ResolvedCredential, ResolvedCredential]:
        resolver = AsyncCredentialResolver(world.vault, clock=world.clock)
        try:
            return await resolver.resolve(cred.id), await resolver.resolve("\x00")
        finally:
            await resolver.aclose()

    busy, missing = asyncio.run(main())
    assert busy.temporarily_unavailable
    assert busy.retry_after == 12.0
    assert missing.status is ResolveStatus.NOT_FOUND


def test_resolver_clock_must_be_aware(world: World) -> None:
    """A naive clock is a configuration error, not a wrong answer."""
    from datetime import datetime

    from credlti.errors import ConfigurationError

    cred = _authorized(world)
    resolver = CredentialResolver(world.vault, clock=lambda: datetime(2026, 1, 1))
    with pytest.raises(ConfigurationError):
        resolver.resolve(cred.id)
