"""The launch flows on the one effect runtime: key resolution as a locked sub-flow, randomness."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from credlti._effects import Locked, SyncLocks, run
from credlti._http import HttpRequest, RemoteCallFailed, RemoteResponse
from credlti.errors import KeySetFetchError
from credlti.lti import JwksPolicy
from credlti.lti._platform_keys import KeyCache, key_flow
from credlti.testing import SimulatedPlatform

LAUNCH_URL = "https://tool.example.com/launch"


class _Platform:
    """Answers HttpRequest effects with the platform's key set, or fails on demand."""

    def __init__(self, platform: SimulatedPlatform) -> None:
        self.platform = platform
        self.seen: list[Any] = []
        self.fail = False

    def perform(self, effect: Any) -> Any:
        self.seen.append(effect)
        assert type(effect) is HttpRequest
        if self.fail:
            raise RemoteCallFailed("connection refused")
        body = json.dumps(self.platform.jwks()).encode()
        return RemoteResponse(
            status_code=200, headers=httpx.Headers({"cache-control": "max-age=300"}), body=body
        )


def test_warm_cache_answers_without_any_effect(platform: SimulatedPlatform) -> None:
    """After one fetch, resolving the same key yields no effect at all."""
    cache = KeyCache(JwksPolicy())
    remote = _Platform(platform)
    uri, now = platform.jwks_uri, 1000.0

    first = run(key_flow(cache, uri, platform.kid, "RS256", now), remote.perform)
    again = run(key_flow(cache, uri, platform.kid, "RS256", now + 1), remote.perform)

    assert again is first
    assert cache.warm(uri, platform.kid, "RS256", now + 1) is first
    assert len(remote.seen) == 1
    assert cache.fetches == 1


def test_a_miss_yields_one_locked_fetch_named_by_the_key_set_url(
    platform: SimulatedPlatform,
) -> None:
    """The fetch runs under Locked(("jwks", uri)) and is a GET of the key set."""
    cache = KeyCache(JwksPolicy())
    flow = key_flow(cache, platform.jwks_uri, platform.kid, "RS256", 1000.0)

    effect = next(flow)

    assert isinstance(effect, Locked)
    assert effect.key == ("jwks", platform.jwks_uri)
    request = next(effect.flow)
    assert isinstance(request, HttpRequest)
    assert (request.method, request.url) == ("GET", platform.jwks_uri)


def test_a_failed_fetch_is_thrown_into_the_flow_and_falls_back_to_stale_keys(
    platform: SimulatedPlatform,
) -> None:
    """RemoteCallFailed reaches the flow, which serves the expired copy within max_stale."""
    cache = KeyCache(JwksPolicy())
    remote = _Platform(platform)
    uri = platform.jwks_uri
    key = run(key_flow(cache, uri, platform.kid, "RS256", 1000.0), remote.perform)

    remote.fail = True
    later = 1000.0 + 301  # the cached copy has expired
    stale = run(key_flow(cache, uri, platform.kid, "RS256", later), remote.perform)

    assert stale is key
    assert cache.fetches == 2


def test_a_failed_fetch_on_a_cold_cache_is_a_key_set_fetch_error(
    platform: SimulatedPlatform,
) -> None:
    """No copy to fall back on: KeySetFetchError naming the reason."""
    remote = _Platform(platform)
    remote.fail = True
    flow = key_flow(KeyCache(JwksPolicy()), platform.jwks_uri, platform.kid, "RS256", 1.0)

    with pytest.raises(KeySetFetchError, match="connection refused"):
        run(flow, remote.perform, locks=SyncLocks())


def test_tool_draws_state_and_nonce_from_the_injected_randomness(
    platform: SimulatedPlatform,
) -> None:
    """random_bytes= is the only randomness of login (state, nonce) and deep linking."""
    calls: list[int] = []

    def random_bytes(size: int) -> bytes:
        calls.append(size)
        return bytes([len(calls)]) * size

    tool = platform.tool(random_bytes=random_bytes, state_secret=b"s" * 32)
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    launch = tool.handle_callback(platform.launch(redirect), redirect.cookie_value)

    expected_state = base64.urlsafe_b64encode(b"\x01" * 32).rstrip(b"=").decode()
    assert redirect.state == expected_state
    assert launch.claims.nonce == base64.urlsafe_b64encode(b"\x02" * 32).rstrip(b"=").decode()
    assert calls == [32, 32]


def test_default_state_secret_comes_from_the_injected_randomness(
    platform: SimulatedPlatform,
) -> None:
    """Without state_secret the state key is drawn from random_bytes too."""
    first = platform.tool(random_bytes=lambda n: b"k" * n)
    second = platform.tool(random_bytes=lambda n: b"k" * n, storage=first.storage)

    redirect = first.handle_login(platform.login_params(), LAUNCH_URL)
    launch = second.handle_callback(platform.launch(redirect), redirect.cookie_value)

    assert launch.claims.issuer == platform.issuer
