"""Platform key sets: fetching, caching, refetching, rotation, outages and hostile peers.

Checklist B1 steps 4-6 (kid, key lookup, signature) and G (keys, rotation, caching).
Every test drives the real :class:`~credlti.lti.Tool` through ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from credlti.errors import (
    AlgorithmNotAllowedError,
    KeySetFetchError,
    KidNotFoundError,
    RemoteServiceError,
    SignatureInvalidError,
)
from credlti.lti import JwksPolicy, LaunchContext, Tool
from credlti.lti._jwks import cache_lifetime, parse_key_set
from credlti.testing import SimulatedPlatform

from .helpers import LAUNCH_URL, b64, expect_error
from .jwks_helpers import (
    KeySetEndpoint,
    form,
    full_launch,
    launch_with_kid,
    sign_claims,
    tool_with,
)

POLICY = JwksPolicy()


def _key_set_error(call: Any) -> KeySetFetchError:
    exc = expect_error(call, KeySetFetchError, "key_set_fetch_failed", status=502)
    assert isinstance(exc, RemoteServiceError)
    return exc


def _generate_rsa(bits: int) -> RSAKey:
    with warnings.catch_warnings():
        # joserfc warns when generating keys under 2048 bits; that is the point here.
        warnings.simplefilter("ignore")
        key: RSAKey = RSAKey.generate_key(bits, private=True)
    return key


def _public(key: RSAKey | ECKey, kid: str, **extra: Any) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": kid, **extra}


# --------------------------------------------------------------------------- caching


def test_key_set_fetched_once_and_reused_across_launches(platform: SimulatedPlatform) -> None:
    """Twenty launches within the cache lifetime cost exactly one key-set fetch."""
    tool = platform.tool()
    for _ in range(20):
        assert isinstance(full_launch(tool, platform), LaunchContext)
    assert platform.jwks_requests == 1
    assert tool.key_set_fetches == 1


def test_max_age_honoured_refetch_after_expiry_not_before(platform: SimulatedPlatform) -> None:
    """``Cache-Control: max-age=120`` keeps the keys 120 s: no fetch at 119 s, one at 121 s."""
    platform.jwks_cache_control = "public, max-age=120"
    tool = platform.tool()
    full_launch(tool, platform)
    platform.clock.advance(119)
    full_launch(tool, platform)
    assert platform.jwks_requests == 1
    platform.clock.advance(2)
    full_launch(tool, platform)
    assert platform.jwks_requests == 2
    assert tool.key_set_fetches == 2


@pytest.mark.parametrize("header", ["max-age=0", "no-store", "no-cache", "no-store, max-age=900"])
def test_zero_or_no_store_lifetime_is_raised_to_min_ttl(
    platform: SimulatedPlatform, header: str
) -> None:
    """``max-age=0``/``no-store``/``no-cache`` cache for ``min_ttl`` (60 s), not zero."""
    platform.jwks_cache_control = header
    tool = platform.tool()
    full_launch(tool, platform)
    platform.clock.advance(59)
    full_launch(tool, platform)
    assert platform.jwks_requests == 1
    platform.clock.advance(2)
    full_launch(tool, platform)
    assert platform.jwks_requests == 2


def test_huge_max_age_is_capped_at_max_ttl(platform: SimulatedPlatform) -> None:
    """A year-long ``max-age`` is capped at ``max_ttl`` (here 3600 s)."""
    platform.jwks_cache_control = "max-age=31536000"
    tool = platform.tool(jwks=JwksPolicy(max_ttl=3600))
    full_launch(tool, platform)
    platform.clock.advance(3599)
    full_launch(tool, platform)
    assert platform.jwks_requests == 1
    platform.clock.advance(2)
    full_launch(tool, platform)
    assert platform.jwks_requests == 2


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, 300.0),
        ("", 300.0),
        ("max-age=600", 600.0),
        ("public, max-age=600", 600.0),
        ("private,max-age=600,must-revalidate", 600.0),
        ("MAX-AGE=600", 600.0),
        ("max-age = 600", 600.0),
        ('max-age="600"', 600.0),
        ("max-age=0", 60.0),
        ("max-age=10", 60.0),
        ("no-store", 60.0),
        ("No-Cache", 60.0),
        ("max-age=600, no-store", 60.0),
        ("max-age=100000", 86_400.0),
        ("max-age=9999999999", 86_400.0),
        ("max-age=120, s-maxage=600", 120.0),
        ("max-age=abc", 300.0),
        ("max-age=-5", 300.0),
        ("max-age=", 300.0),
        ("max-age=1.5", 300.0),
        ("max-age=600x", 300.0),
        ("xmax-age=600", 300.0),
        ("no-storex", 300.0),
        (";;;,,,junk", 300.0),
        ("\x00\xff", 300.0),
    ],
)
def test_cache_lifetime_parses_cache_control(header: str | None, expected: float) -> None:
    """``cache_lifetime`` honours (quoted) max-age within [min_ttl, max_ttl]; junk: default."""
    assert cache_lifetime(header, POLICY) == expected


def test_cache_lifetime_honours_s_maxage() -> None:
    """``s-maxage`` (the real directive name, RFC 9111 §5.2.2.10) is honoured like max-age."""
    assert cache_lifetime("s-maxage=600", POLICY) == 600.0
    assert cache_lifetime("public, s-maxage=7200", POLICY) == 7200.0


def test_cache_lifetime_overlong_max_age_is_capped_not_ignored() -> None:
    """An over-long max-age means "very long" (RFC 9111 §1.2.2): max_ttl, not the default."""
    assert cache_lifetime("max-age=" + "9" * 20, POLICY) == 86_400.0


def test_cache_lifetime_uses_policy_bounds() -> None:
    """The bounds and default come from the policy passed in."""
    policy = JwksPolicy(default_ttl=1000, min_ttl=100, max_ttl=2000)
    assert cache_lifetime(None, policy) == 1000.0
    assert cache_lifetime("max-age=5", policy) == 100.0
    assert cache_lifetime("no-store", policy) == 100.0
    assert cache_lifetime("max-age=5000", policy) == 2000.0
    assert cache_lifetime("max-age=1500", policy) == 1500.0
    # A default outside the bounds is clamped too.
    assert cache_lifetime(None, JwksPolicy(default_ttl=10, min_ttl=60)) == 60.0


# --------------------------------------------------------------------------- unknown kids


def test_unknown_kid_refetches_exactly_once_then_kid_not_found(
    platform: SimulatedPlatform,
) -> None:
    """An unknown kid on a warm cache triggers one refetch, then ``KidNotFoundError``."""
    tool = platform.tool()
    full_launch(tool, platform)
    platform.clock.advance(60)  # past the refetch cooldown, within max-age
    exc = expect_error(
        lambda: launch_with_kid(tool, platform, "kid-nobody-published"),
        KidNotFoundError,
        "kid_not_found",
        status=401,
    )
    assert exc.details["kid"] == "kid-nobody-published"
    assert exc.details["jwks_uri"] == platform.jwks_uri
    assert platform.jwks_requests == 2
    # The same unknown kid again, within the cooldown: rejected without traffic.
    expect_error(
        lambda: launch_with_kid(tool, platform, "kid-nobody-published"),
        KidNotFoundError,
        "kid_not_found",
    )
    assert platform.jwks_requests == 2
    # Known kids keep working from the cache.
    full_launch(tool, platform)
    assert platform.jwks_requests == 2


def test_unknown_kid_on_cold_cache_fetches_once(platform: SimulatedPlatform) -> None:
    """With a cold cache an unknown kid costs the one initial fetch, then is rejected."""
    tool = platform.tool()
    expect_error(lambda: launch_with_kid(tool, platform, "nope"), KidNotFoundError, "kid_not_found")
    assert platform.jwks_requests == 1
    expect_error(lambda: launch_with_kid(tool, platform, "nope"), KidNotFoundError, "kid_not_found")
    assert platform.jwks_requests == 1


def test_flood_of_random_kids_costs_one_fetch_per_cooldown(platform: SimulatedPlatform) -> None:
    """100 random kids within the cooldown cause one fetch; one more only after the cooldown."""
    tool = platform.tool()
    full_launch(tool, platform)
    platform.clock.advance(45)
    for _ in range(100):
        expect_error(
            lambda: launch_with_kid(tool, platform, secrets.token_hex(8)),
            KidNotFoundError,
            "kid_not_found",
        )
    assert platform.jwks_requests == 2
    platform.clock.advance(31)  # cooldown (30 s) over
    for _ in range(20):
        expect_error(
            lambda: launch_with_kid(tool, platform, secrets.token_hex(8)),
            KidNotFoundError,
            "kid_not_found",
        )
    assert platform.jwks_requests == 3
    assert tool.key_set_fetches == 3


# --------------------------------------------------------------------------- rotation


def test_rotation_new_kid_accepted_after_one_refetch_old_kept(platform: SimulatedPlatform) -> None:
    """After ``rotate_keys()`` the new kid costs one refetch; the kept old kid still verifies."""
    tool = platform.tool()
    old_redirects = [tool.handle_login(platform.login_params(), LAUNCH_URL) for _ in range(2)]
    old_forms = [platform.launch(r) for r in old_redirects]  # signed with the old key
    tool.handle_callback(old_forms[0], old_redirects[0].cookie_value)
    assert platform.jwks_requests == 1

    old_kid = platform.kid
    new_kid = platform.rotate_keys()
    assert new_kid != old_kid
    platform.clock.advance(40)
    launch = full_launch(tool, platform)
    assert launch.claims.subject == "user-1"
    assert platform.jwks_requests == 2
    # The old key is still published (overlap window) and still accepted, from cache.
    tool.handle_callback(old_forms[1], old_redirects[1].cookie_value)
    full_launch(tool, platform)
    assert platform.jwks_requests == 2


def test_rotation_removed_old_kid_rejected_once_cache_refreshes(
    platform: SimulatedPlatform,
) -> None:
    """With ``keep_old=False`` the old kid verifies from cache until a refresh drops it."""
    platform.jwks_cache_control = "max-age=120"
    tool = platform.tool()
    redirects = [tool.handle_login(platform.login_params(), LAUNCH_URL) for _ in range(3)]
    old_forms = [platform.launch(r) for r in redirects]
    tool.handle_callback(old_forms[0], redirects[0].cookie_value)

    platform.rotate_keys(keep_old=False)
    # Cache still fresh: the old key is still trusted (no traffic).
    tool.handle_callback(old_forms[1], redirects[1].cookie_value)
    assert platform.jwks_requests == 1
    # The cache expires; the refreshed key set no longer has the old kid.
    platform.clock.advance(125)
    full_launch(tool, platform)
    assert platform.jwks_requests == 2
    expect_error(
        lambda: tool.handle_callback(old_forms[2], redirects[2].cookie_value),
        KidNotFoundError,
        "kid_not_found",
    )


# --------------------------------------------------------------------------- outages


def test_endpoint_down_stale_keys_serve_within_max_stale(platform: SimulatedPlatform) -> None:
    """Expired cache + 503: launches still verify with stale keys until ``max_stale`` runs out."""
    tool = platform.tool(jwks=JwksPolicy(max_stale=600))
    full_launch(tool, platform)
    platform.jwks_status = 503
    platform.clock.advance(300 + 590)  # expired 590 s ago: within max_stale
    full_launch(tool, platform)
    assert platform.jwks_requests == 2  # it did try
    platform.clock.advance(20)  # expired 610 s ago: beyond max_stale
    exc = _key_set_error(lambda: full_launch(tool, platform))
    assert exc.details["jwks_uri"] == platform.jwks_uri
    # The endpoint recovers: fresh keys again (after any failure back-off).
    platform.jwks_status = 200
    platform.clock.advance(31)
    full_launch(tool, platform)
    assert platform.jwks_requests >= 3


def test_outage_does_not_refetch_on_every_launch(platform: SimulatedPlatform) -> None:
    """During an outage, launches within the cooldown reuse the failure: at most one fetch."""
    tool = platform.tool()
    full_launch(tool, platform)
    platform.jwks_status = 503
    platform.clock.advance(301)
    for _ in range(10):
        full_launch(tool, platform)  # stale keys
    assert platform.jwks_requests == 2
    platform.clock.advance(31)
    full_launch(tool, platform)
    assert platform.jwks_requests == 3


def test_cold_cache_outage_fails_fast_within_cooldown(platform: SimulatedPlatform) -> None:
    """Cold cache and a failing endpoint: one fetch, then fast failures until the cooldown ends."""
    platform.jwks_status = 503
    tool = platform.tool()
    for _ in range(10):
        _key_set_error(lambda: full_launch(tool, platform))
    assert platform.jwks_requests == 1
    platform.jwks_status = 200
    platform.clock.advance(31)
    full_launch(tool, platform)
    assert platform.jwks_requests == 2


def test_stale_keys_do_not_cover_unknown_kids(platform: SimulatedPlatform) -> None:
    """During an outage an unknown kid cannot be resolved: ``KeySetFetchError``."""
    tool = platform.tool()
    full_launch(tool, platform)
    platform.jwks_status = 500
    platform.clock.advance(301)
    _key_set_error(lambda: launch_with_kid(tool, platform, "rotated-during-outage"))


def test_cold_cache_and_endpoint_down_is_key_set_fetch_error(platform: SimulatedPlatform) -> None:
    """No cached copy and a 503: ``KeySetFetchError`` (502), never a launch."""
    platform.jwks_status = 503
    tool = platform.tool()
    _key_set_error(lambda: full_launch(tool, platform))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html>maintenance</html>", "text/html"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b'{"keys": [', "application/json"),
        (b"[]", "application/json"),
        (b'{"foo": 1}', "application/json"),
        (b'{"keys": {}}', "application/json"),
        (b'{"keys": "none"}', "application/json"),
        (b"null", "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ],
    ids=[
        "html",
        "not-utf8",
        "truncated",
        "array",
        "no-keys",
        "keys-object",
        "keys-string",
        "null",
        "deeply-nested",
    ],
)
def test_unusable_key_set_body_is_key_set_fetch_error(
    platform: SimulatedPlatform, body: bytes, content_type: str
) -> None:
    """A 200 whose body is not a JWKS (not JSON, no ``keys`` array) is ``KeySetFetchError``."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": content_type})

    tool = tool_with(platform, handler, jwks=JwksPolicy(max_bytes=1_000_000))
    _key_set_error(lambda: full_launch(tool, platform))


def test_garbage_body_with_stale_cache_falls_back_to_stale_keys(
    platform: SimulatedPlatform,
) -> None:
    """A broken key-set response while a stale copy exists keeps launches working."""
    endpoint = KeySetEndpoint(platform.jwks_uri, platform.jwks())
    tool = tool_with(platform, endpoint)
    full_launch(tool, platform)
    endpoint.document = b"<html>oops</html>"
    platform.clock.advance(301)
    full_launch(tool, platform)
    assert len(endpoint.requests) == 2


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "streamed"])
def test_body_larger_than_max_bytes_is_key_set_fetch_error(
    platform: SimulatedPlatform, declare_length: bool
) -> None:
    """A key set over ``max_bytes`` is refused, whether declared or streamed in chunks."""
    document = {**platform.jwks(), "padding": "x" * 20_000}
    raw = json.dumps(document).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if declare_length:
            return httpx.Response(200, content=raw)
        chunks = [raw[i : i + 1000] for i in range(0, len(raw), 1000)]
        return httpx.Response(200, content=iter(chunks))

    tool = tool_with(platform, handler, jwks=JwksPolicy(max_bytes=8_000))
    exc = _key_set_error(lambda: full_launch(tool, platform))
    assert "8000" in exc.message
    # The same document under a roomier cap is fine.
    roomy = tool_with(platform, handler, jwks=JwksPolicy(max_bytes=len(raw) + 1))
    full_launch(roomy, platform)


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example.com/.well-known/jwks.json",
        "http://platform.example.edu/.well-known/jwks.json",
        "https://platform.example.edu:8443/.well-known/jwks.json",
        "//evil.example.com/jwks.json",
    ],
    ids=["other-host", "http-downgrade", "other-port", "scheme-relative"],
)
def test_cross_origin_redirect_refused(platform: SimulatedPlatform, location: str) -> None:
    """A key-set redirect leaving the registered origin is refused and never followed."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if str(request.url) == platform.jwks_uri:
            return httpx.Response(302, headers={"Location": location})
        return platform.handle_request(httpx.Request("GET", platform.jwks_uri))

    tool = tool_with(platform, handler)
    exc = _key_set_error(lambda: full_launch(tool, platform))
    assert "another origin" in exc.message
    assert seen == [platform.jwks_uri]


@pytest.mark.parametrize("location", ["/keys/v2.json", "https://platform.example.edu/keys/v2.json"])
def test_same_origin_redirect_followed(platform: SimulatedPlatform, location: str) -> None:
    """A same-origin redirect (relative or absolute) is followed to the key set."""
    seen: list[str] = []
    target = f"{platform.issuer}/keys/v2.json"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if str(request.url) == platform.jwks_uri:
            return httpx.Response(301, headers={"Location": location})
        if str(request.url) == target:
            return httpx.Response(200, json=platform.jwks())
        return httpx.Response(404)

    tool = tool_with(platform, handler)
    full_launch(tool, platform)
    assert seen == [platform.jwks_uri, target]
    full_launch(tool, platform)  # cached under the registered URI
    assert len(seen) == 2


def test_redirect_loop_is_key_set_fetch_error(platform: SimulatedPlatform) -> None:
    """Endless same-origin redirects stop after a few hops with ``KeySetFetchError``."""
    hops: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hops.append(str(request.url))
        return httpx.Response(302, headers={"Location": f"/hop/{len(hops)}"})

    tool = tool_with(platform, handler)
    exc = _key_set_error(lambda: full_launch(tool, platform))
    assert "redirects" in exc.message
    assert len(hops) <= 5


@pytest.mark.parametrize(
    "location",
    ["https://platform.example.edu:notaport/jwks.json", "https://[::1/jwks.json", ""],
    ids=["bad-port", "bad-ipv6", "empty"],
)
def test_unparseable_redirect_location_is_key_set_fetch_error(
    platform: SimulatedPlatform, location: str
) -> None:
    """A redirect with an unparseable or empty ``Location`` is ``KeySetFetchError``, not a crash."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": location})

    tool = tool_with(platform, handler)
    _key_set_error(lambda: full_launch(tool, platform))


# --------------------------------------------------------------------------- key entries


def _bad_entries(platform: SimulatedPlatform) -> dict[str, dict[str, Any]]:
    good = platform.jwks()["keys"][0]
    no_n = {k: v for k, v in good.items() if k != "n"}
    return {
        "missing-n": {**no_n, "kid": "missing-n"},
        "wrong-kty": {**good, "kid": "wrong-kty", "kty": "oct"},
        "kty-missing": {**{k: v for k, v in good.items() if k != "kty"}, "kid": "kty-missing"},
        "use-enc": {**good, "kid": "use-enc", "use": "enc"},
        "alg-mismatch": {**good, "kid": "alg-mismatch", "alg": "RS512"},
        "alg-not-text": {**good, "kid": "alg-not-text", "alg": 256},
        "n-not-text": {**good, "kid": "n-not-text", "n": 12345},
        "e-garbage": {**good, "kid": "e-garbage", "e": "!!not base64!!"},
        "kid-not-text": {**good, "kid": 42},
    }


@pytest.mark.parametrize(
    "bad_kid",
    [
        "missing-n",
        "wrong-kty",
        "kty-missing",
        "use-enc",
        "alg-mismatch",
        "alg-not-text",
        "n-not-text",
        "e-garbage",
    ],
)
def test_malformed_key_entry_skipped_good_keys_still_work(
    platform: SimulatedPlatform, bad_kid: str
) -> None:
    """A malformed entry is unusable (its kid is not found) while the good key still verifies."""
    entries = _bad_entries(platform)
    document = {"keys": [*entries.values(), "not-an-object", None, *platform.jwks()["keys"]]}
    endpoint = KeySetEndpoint(platform.jwks_uri, document)
    tool = tool_with(platform, endpoint)
    full_launch(tool, platform)
    platform.clock.advance(31)
    expect_error(
        lambda: launch_with_kid(tool, platform, bad_kid), KidNotFoundError, "kid_not_found"
    )
    full_launch(tool, platform)


def test_parse_key_set_keeps_only_usable_entries(platform: SimulatedPlatform) -> None:
    """``parse_key_set`` keeps the good key and drops every malformed entry."""
    document = {"keys": [*_bad_entries(platform).values(), 7, [], *platform.jwks()["keys"]]}
    parsed = parse_key_set(document)
    # alg-mismatch is a well-formed RS512 key: kept, but never used for RS256.
    assert set(parsed) == {platform.kid, "alg-mismatch"}
    assert parsed["alg-mismatch"][0].alg == "RS512"


def test_private_key_parameters_make_the_key_untrusted(platform: SimulatedPlatform) -> None:
    """A key published with its private half (``d``...) is compromised: skipped, kid not found."""
    leaked = _generate_rsa(2048)
    entry = {**leaked.as_dict(private=True), "kid": "leaked", "use": "sig"}
    assert "d" in entry
    document = {"keys": [entry, *platform.jwks()["keys"]]}
    tool = tool_with(platform, KeySetEndpoint(platform.jwks_uri, document))
    full_launch(tool, platform)
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    # Anyone who read the key set can forge this token.
    token = sign_claims(leaked, platform.launch_claims(redirect), alg="RS256", kid="leaked")
    expect_error(
        lambda: tool.handle_callback(form(redirect, token), redirect.cookie_value),
        KidNotFoundError,
        "kid_not_found",
    )


def test_weak_rsa_1024_key_skipped_without_leaking_warnings(platform: SimulatedPlatform) -> None:
    """An RSA-1024 key is skipped (kid not found), quietly: no third-party warning escapes."""
    weak = _generate_rsa(1024)
    document = {"keys": [_public(weak, "weak", use="sig"), *platform.jwks()["keys"]]}
    tool = tool_with(platform, KeySetEndpoint(platform.jwks_uri, document))
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    token = sign_claims(weak, platform.launch_claims(redirect), alg="RS256", kid="weak")
    expect_error(
        lambda: tool.handle_callback(form(redirect, token), redirect.cookie_value),
        KidNotFoundError,
        "kid_not_found",
    )
    full_launch(tool, platform)


def test_min_rsa_bits_is_configurable(platform: SimulatedPlatform) -> None:
    """Raising ``min_rsa_bits`` above the platform's 2048-bit key makes its kid unusable."""
    tool = platform.tool(jwks=JwksPolicy(min_rsa_bits=3072))
    expect_error(lambda: full_launch(tool, platform), KidNotFoundError, "kid_not_found")


# --------------------------------------------------------------------------- algorithms


def test_es256_token_verifies_with_ec_p256_key_set(platform: SimulatedPlatform) -> None:
    """An ES256 launch verifies against an EC P-256 JWKS when the registration allows ES256."""
    ec = ECKey.generate_key("P-256", private=True)
    endpoint = KeySetEndpoint(platform.jwks_uri, {"keys": [_public(ec, "ec-1", use="sig")]})
    tool = tool_with(platform, endpoint, allowed_algorithms=("ES256",))
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    token = sign_claims(ec, platform.launch_claims(redirect), alg="ES256", kid="ec-1")
    launch = tool.handle_callback(form(redirect, token), redirect.cookie_value)
    assert launch.claims.subject == "user-1"
    assert launch.registration.allowed_algorithms == ("ES256",)


def test_es256_refused_when_registration_allows_only_rs256(platform: SimulatedPlatform) -> None:
    """The same ES256 launch is refused under the default RS256-only registration, unfetched."""
    ec = ECKey.generate_key("P-256", private=True)
    endpoint = KeySetEndpoint(platform.jwks_uri, {"keys": [_public(ec, "ec-1")]})
    tool = tool_with(platform, endpoint)
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    token = sign_claims(ec, platform.launch_claims(redirect), alg="ES256", kid="ec-1")
    expect_error(
        lambda: tool.handle_callback(form(redirect, token), redirect.cookie_value),
        AlgorithmNotAllowedError,
        "algorithm_not_allowed",
    )
    assert endpoint.requests == []


def test_es384_token_needs_a_p384_key(platform: SimulatedPlatform) -> None:
    """An ES384 token under a kid whose key is P-256 is not matched (curve checked too)."""
    p256 = ECKey.generate_key("P-256", private=True)
    p384 = ECKey.generate_key("P-384", private=True)
    endpoint = KeySetEndpoint(platform.jwks_uri, {"keys": [_public(p256, "ec")]})
    tool = tool_with(platform, endpoint, allowed_algorithms=("ES256", "ES384"))
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    token = sign_claims(p384, platform.launch_claims(redirect), alg="ES384", kid="ec")
    expect_error(
        lambda: tool.handle_callback(form(redirect, token), redirect.cookie_value),
        KidNotFoundError,
        "kid_not_found",
    )


def test_ps256_token_verifies(platform: SimulatedPlatform) -> None:
    """A PS256 (RSASSA-PSS) launch verifies when the registration allows PS256."""
    rsa = _generate_rsa(2048)
    endpoint = KeySetEndpoint(platform.jwks_uri, {"keys": [_public(rsa, "ps-1", alg="PS256")]})
    tool = tool_with(platform, endpoint, allowed_algorithms=("PS256",))
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    token = sign_claims(rsa, platform.launch_claims(redirect), alg="PS256", kid="ps-1")
    assert tool.handle_callback(form(redirect, token), redirect.cookie_value).claims.nonce


def test_ps256_signature_not_accepted_as_rs256(platform: SimulatedPlatform) -> None:
    """A PSS signature relabelled RS256 fails verification (the padding is bound to alg)."""
    rsa = _generate_rsa(2048)
    endpoint = KeySetEndpoint(platform.jwks_uri, {"keys": [_public(rsa, "k")]})
    tool = tool_with(platform, endpoint, allowed_algorithms=("RS256", "PS256"))
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    token = sign_claims(rsa, platform.launch_claims(redirect), alg="PS256", kid="k")
    header = json.dumps({"typ": "JWT", "alg": "RS256", "kid": "k"}).encode()
    relabelled = ".".join([b64(header), *token.split(".")[1:]])
    expect_error(
        lambda: tool.handle_callback(form(redirect, relabelled), redirect.cookie_value),
        SignatureInvalidError,
        "signature_invalid",
    )


def test_kty_mismatch_rsa_alg_with_ec_key_under_same_kid(platform: SimulatedPlatform) -> None:
    """An RS256 token whose kid names an EC key is rejected: kty must match alg."""
    ec = ECKey.generate_key("P-256", private=True)
    rsa = _generate_rsa(2048)
    endpoint = KeySetEndpoint(platform.jwks_uri, {"keys": [_public(ec, "shared")]})
    tool = tool_with(platform, endpoint, allowed_algorithms=("RS256", "ES256"))
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    token = sign_claims(rsa, platform.launch_claims(redirect), alg="RS256", kid="shared")
    expect_error(
        lambda: tool.handle_callback(form(redirect, token), redirect.cookie_value),
        KidNotFoundError,
        "kid_not_found",
    )


def test_same_kid_rsa_and_ec_keys_each_serve_their_alg(platform: SimulatedPlatform) -> None:
    """One kid on an RSA and an EC key: RS256 and ES256 tokens each find their own key."""
    ec = ECKey.generate_key("P-256", private=True)
    rsa = _generate_rsa(2048)
    keys = [_public(ec, "shared"), _public(rsa, "shared")]
    endpoint = KeySetEndpoint(platform.jwks_uri, {"keys": keys})
    tool = tool_with(platform, endpoint, allowed_algorithms=("RS256", "ES256"))
    for key, alg in ((rsa, "RS256"), (ec, "ES256")):
        redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
        token = sign_claims(key, platform.launch_claims(redirect), alg=alg, kid="shared")
        tool.handle_callback(form(redirect, token), redirect.cookie_value)
    assert len(endpoint.requests) == 1


# --------------------------------------------------------------------------- the request


@pytest.mark.parametrize("timeout", [10.0, 2.5])
def test_fetch_request_has_timeout_and_no_credentials(
    platform: SimulatedPlatform, timeout: float
) -> None:
    """The key-set GET goes to the registered URI with the policy timeout and no auth/cookies."""
    endpoint = KeySetEndpoint(platform.jwks_uri, platform.jwks())
    tool = tool_with(platform, endpoint, jwks=JwksPolicy(timeout=timeout))
    full_launch(tool, platform)
    (request,) = endpoint.requests
    assert request.method == "GET"
    assert str(request.url) == platform.jwks_uri
    assert request.extensions["timeout"] == {
        "connect": timeout,
        "read": timeout,
        "write": timeout,
        "pool": timeout,
    }
    assert "authorization" not in request.headers
    assert "cookie" not in request.headers
    assert request.headers["accept"] == "application/json"
    assert request.content == b""


def test_key_set_url_from_token_header_is_ignored(platform: SimulatedPlatform) -> None:
    """``jku``/``x5u`` in the token header never redirect the key lookup (Sec §5.4)."""
    endpoint = KeySetEndpoint(platform.jwks_uri, platform.jwks())
    tool = tool_with(platform, endpoint)
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    forged = RSAKey.generate_key(2048, private=True)
    claims = platform.launch_claims(redirect)
    token = sign_claims(
        forged,
        claims,
        alg="RS256",
        kid=platform.kid,
        extra_header={"jku": "https://evil.example.com/jwks", "x5u": "https://evil.example.com/x"},
    )
    expect_error(
        lambda: tool.handle_callback(form(redirect, token), redirect.cookie_value),
        SignatureInvalidError,
        "signature_invalid",
    )
    assert [str(r.url) for r in endpoint.requests] == [platform.jwks_uri]


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
    ids=["connect", "read-timeout", "connect-timeout", "protocol"],
)
def test_transport_errors_become_key_set_fetch_error(
    platform: SimulatedPlatform, error: httpx.HTTPError
) -> None:
    """A transport failure surfaces as ``KeySetFetchError``, never a bare httpx exception."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    tool = tool_with(platform, handler)
    exc = _key_set_error(lambda: full_launch(tool, platform))
    assert not isinstance(exc, httpx.HTTPError)
    assert type(error).__name__ in exc.message


# --------------------------------------------------------------------------- concurrency


def test_concurrent_cold_cache_launches_fetch_once(platform: SimulatedPlatform) -> None:
    """Eight threads launching on a cold cache cause exactly one key-set fetch (single flight)."""

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.05)  # keep the fetch in flight while the other threads arrive
        return platform.handle_request(request)

    tool: Tool[Any, Any] = platform.tool(
        http_client=httpx.Client(transport=httpx.MockTransport(slow))
    )
    redirects = [tool.handle_login(platform.login_params(), LAUNCH_URL) for _ in range(8)]
    forms = [platform.launch(r) for r in redirects]
    barrier = threading.Barrier(8)

    def run(index: int) -> LaunchContext[Any, Any]:
        barrier.wait()
        return tool.handle_callback(forms[index], redirects[index].cookie_value)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(8)))
    assert len({r.claims.nonce for r in results}) == 8
    assert platform.jwks_requests == 1
    assert tool.key_set_fetches == 1


def test_async_concurrent_cold_cache_launches_fetch_once(platform: SimulatedPlatform) -> None:
    """Eight concurrent ``AsyncTool`` launches on a cold cache cause exactly one fetch."""

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.02)
        return platform.handle_request(request)

    async def main() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
        tool = platform.async_tool(http_client=client)
        redirects = [await tool.handle_login(platform.login_params(), LAUNCH_URL) for _ in range(8)]
        forms = [platform.launch(r) for r in redirects]
        results = await asyncio.gather(
            *(
                tool.handle_callback(f, r.cookie_value)
                for f, r in zip(forms, redirects, strict=True)
            )
        )
        assert len(results) == 8
        assert tool.key_set_fetches == 1
        await client.aclose()

    asyncio.run(main())
    assert platform.jwks_requests == 1
