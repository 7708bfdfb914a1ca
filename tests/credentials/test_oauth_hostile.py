"""Hostile values at every new public OAuth entry point give a typed error, never a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlti.credentials import ResolveStatus
from credlti.errors import CredltiError, OAuthAuthorizationError

from .oauth_server import LoopbackProvider
from .oauth_world import World, error_text, make_world

_ANY_CHAR = st.characters(blacklist_categories=())
HOSTILE_TEXT = st.one_of(
    st.text(_ANY_CHAR, max_size=40),
    st.sampled_from(["", "\udc80", "a\x00b", " ", "state\n"]),
    st.sampled_from([300, 5_000, 100_000]).map(lambda n: "x" * n),
    st.sampled_from([300, 5_000]).map(lambda n: "é" * n),
)
HOSTILE = st.one_of(
    HOSTILE_TEXT,
    st.binary(max_size=20),
    st.integers(),
    st.floats(),
    st.none(),
    st.booleans(),
    st.lists(HOSTILE_TEXT, max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    st.just(object()),
)
PARAM_KEYS = st.one_of(
    st.sampled_from(["state", "code", "error", "error_description", "iss"]), HOSTILE
)
_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(name="world", scope="module")
def _world() -> Iterator[World]:
    with LoopbackProvider(max_requests=10_000, lifetime=300) as provider:
        yield from make_world(provider)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


@_SETTINGS
@given(params=st.dictionaries(PARAM_KEYS.filter(_hashable), HOSTILE, max_size=4), user=HOSTILE)
def test_complete_with_hostile_callbacks(world: World, params: dict[Any, Any], user: Any) -> None:
    """Arbitrary callback parameters and user ids: an OAuthAuthorizationError, nothing else."""
    with pytest.raises(CredltiError) as info:
        world.authorizer.complete(params, user_id=user)
    assert isinstance(info.value, OAuthAuthorizationError)
    text = error_text(info.value)
    for value in params.values():
        if isinstance(value, str) and len(value) > 12:
            assert value not in text


@_SETTINGS
@given(code=HOSTILE, extra=st.dictionaries(st.sampled_from(["error", "iss"]), HOSTILE, max_size=1))
def test_complete_with_a_valid_state_and_hostile_code(
    world: World, code: Any, extra: dict[str, Any]
) -> None:
    """A genuine state with a hostile code or error: a typed error and no secret in it."""
    request = world.begin()
    params = {**extra, "state": request.state, "code": code}
    with pytest.raises(CredltiError) as info:
        world.authorizer.complete(params, user_id="alice")
    text = error_text(info.value)
    assert request.state not in text
    assert world.provider.client_secret not in text
    if isinstance(code, str) and len(code) > 12:
        assert code not in text


@_SETTINGS
@given(
    field=st.sampled_from(
        [
            "client_id",
            "user_id",
            "redirect_uri",
            "name",
            "credential_id",
            "project_id",
            "optional_scopes",
            "extra_params",
        ]
    ),
    value=HOSTILE,
)
def test_begin_with_hostile_arguments(world: World, field: str, value: Any) -> None:
    """Every begin() argument: either a started authorization or a typed error."""
    args: dict[str, Any] = {
        "client_id": "loop",
        "user_id": "alice",
        "redirect_uri": world.provider.redirect_uri,
        "name": "mail",
    }
    args[field] = value
    client_id = args.pop("client_id")
    failure: CredltiError | None = None
    try:
        request = world.authorizer.begin(client_id, **args)
    except CredltiError as exc:
        failure = exc
    if failure is None:
        assert request.url.startswith(f"{world.provider.base}/authorize?")
    elif isinstance(value, str) and len(value) > 300:
        assert value not in error_text(failure)


@_SETTINGS
@given(credential_id=HOSTILE)
def test_resolvers_with_hostile_ids(world: World, credential_id: Any) -> None:
    """Sync and async resolvers answer not_found for any id that cannot exist."""
    assert world.resolver.resolve(credential_id).status is ResolveStatus.NOT_FOUND

    async def main() -> ResolveStatus:
        from credlti.credentials import AsyncCredentialResolver

        async with httpx.AsyncClient() as http:
            resolver = AsyncCredentialResolver(world.vault, http_client=http, clock=world.clock)
            return (await resolver.resolve(credential_id)).status

    assert asyncio.run(main()) is ResolveStatus.NOT_FOUND


@_SETTINGS
@given(params=st.dictionaries(PARAM_KEYS.filter(_hashable), HOSTILE, max_size=3), user=HOSTILE)
def test_async_complete_with_hostile_callbacks(
    world: World, params: dict[Any, Any], user: Any
) -> None:
    """The async authorizer refuses hostile callbacks with the same typed errors."""

    async def main() -> None:
        async with httpx.AsyncClient() as http:
            authorizer = world.async_authorizer(http)
            with pytest.raises(OAuthAuthorizationError):
                await authorizer.complete(params, user_id=user)
            with pytest.raises(CredltiError):
                await authorizer.begin("loop", user_id=user, redirect_uri=params, name=user)  # type: ignore[arg-type]

    asyncio.run(main())
