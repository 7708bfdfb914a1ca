"""Telemetry of the OAuth authorization-code flow: completion, code exchange, userinfo."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from credlti._telemetry import DURATION_METRIC
from credlti.credentials._authorize import (
    AUTHORIZATION_SPAN,
    CODE_EXCHANGE_SPAN,
    USERINFO_SPAN,
)
from credlti.errors import AuthorizationStateError, OAuthProviderRejectedError
from tests.otel import Exported, detach, exported

from .oauth_server import LoopbackProvider, Response
from .oauth_world import World, make_world


@pytest.fixture(name="otel")
def _otel() -> Iterator[Exported]:
    yield exported()
    detach()


@pytest.fixture(name="world")
def _world() -> Iterator[World]:
    with LoopbackProvider() as provider:
        yield from make_world(provider)
    assert provider.violations == []


def _flow_secrets(world: World, params: dict[str, str]) -> list[str]:
    """Every secret value the flow handled: client secret, code, state, verifier, tokens."""
    provider = world.provider
    values = [provider.client_secret, params["code"], params["state"]]
    values += [*provider.access_tokens, *provider.refresh_tokens, *provider.grants]
    values += [grant.challenge for grant in provider.grants.values()]
    return values


def test_completion_is_a_span_with_the_exchange_inside(world: World, otel: Exported) -> None:
    """complete(): the authorization span, the code exchange and userinfo as its children,
    a duration point, and no secret in any exported attribute."""
    request = world.begin()
    pending = next(iter(world.pending._items.values()))
    params = world.consent(request)

    result = world.authorizer.complete(params, user_id="alice")

    (completion,) = otel.finished(AUTHORIZATION_SPAN)
    assert completion.attributes == {
        "credlti.client_id": "loop",
        "credlti.credential_id": result.credential.id,
        "credlti.result": "created",
        "credlti.outcome": "ok",
    }
    (exchange,) = otel.finished(CODE_EXCHANGE_SPAN)
    (userinfo,) = otel.finished(USERINFO_SPAN)
    for child in (exchange, userinfo):
        assert child.parent is not None
        assert child.parent.span_id == completion.context.span_id
        assert child.attributes == {
            "server.address": "127.0.0.1",
            "http.response.status_code": 200,
            "credlti.outcome": "ok",
        }
    durations = [
        attributes
        for attributes, _ in otel.points(DURATION_METRIC)
        if attributes.get("credlti.operation") == AUTHORIZATION_SPAN
    ]
    assert durations == [
        {
            "credlti.operation": AUTHORIZATION_SPAN,
            "credlti.client_id": "loop",
            "credlti.result": "created",
            "credlti.outcome": "ok",
        }
    ]
    otel.assert_no_secret([*_flow_secrets(world, params), pending.code_verifier])


def test_a_refused_exchange_carries_the_error_code(world: World, otel: Exported) -> None:
    """The provider refuses the code: the exchange span has its status, the completion
    span the error code."""

    def refuse() -> Response:
        return 400, {"Content-Type": "application/json"}, b'{"error":"invalid_grant"}'

    world.provider.token_override = refuse
    params = world.consent(world.begin())

    with pytest.raises(OAuthProviderRejectedError) as caught:
        world.authorizer.complete(params, user_id="alice")

    (completion,) = otel.finished(AUTHORIZATION_SPAN)
    assert completion.attributes == {
        "credlti.outcome": "error",
        "credlti.error_code": caught.value.code,
    }
    (exchange,) = otel.finished(CODE_EXCHANGE_SPAN)
    assert exchange.attributes is not None
    assert exchange.attributes["http.response.status_code"] == 400
    assert otel.finished(USERINFO_SPAN) == []
    otel.assert_no_secret(_flow_secrets(world, params))


def test_a_replayed_state_fails_before_any_exchange(world: World, otel: Exported) -> None:
    params = world.consent(world.begin())
    world.authorizer.complete(params, user_id="alice")
    otel.spans.clear()

    with pytest.raises(AuthorizationStateError) as caught:
        world.authorizer.complete(params, user_id="alice")

    (completion,) = otel.finished(AUTHORIZATION_SPAN)
    assert completion.attributes is not None
    assert completion.attributes["credlti.error_code"] == caught.value.code
    assert otel.finished(CODE_EXCHANGE_SPAN) == []
    otel.assert_no_secret(_flow_secrets(world, params))


def test_the_async_authorizer_has_the_same_spans(world: World, otel: Exported) -> None:
    async def main() -> Any:
        async with httpx.AsyncClient() as http:
            authorizer = world.async_authorizer(http)
            request = await authorizer.begin(
                "loop", user_id="alice", redirect_uri=world.provider.redirect_uri, name="async"
            )
            response = await http.get(request.url)
            params = dict(parse_qsl(urlsplit(response.headers["location"]).query))
            return params, await authorizer.complete(params, user_id="alice")

    params, result = asyncio.run(main())

    (completion,) = otel.finished(AUTHORIZATION_SPAN)
    assert completion.attributes is not None
    assert completion.attributes["credlti.credential_id"] == result.credential.id
    (exchange,) = otel.finished(CODE_EXCHANGE_SPAN)
    assert exchange.parent is not None
    assert exchange.parent.span_id == completion.context.span_id
    otel.assert_no_secret(_flow_secrets(world, params))
