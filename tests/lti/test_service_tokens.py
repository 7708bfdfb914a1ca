"""Service tokens: the JWT client assertion, response parsing, caching, single flight, 401 retry."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from credlti._effects import Locked, run
from credlti._http import HttpRequest, RemoteCallFailed
from credlti.adapters.memory import MemoryServiceTokenCache
from credlti.errors import (
    ConfigurationError,
    ScopeNotGrantedError,
    ServiceCallFailedError,
    ServiceTemporarilyUnavailableError,
    TokenRequestRejectedError,
)
from credlti.lti import Registration
from credlti.lti._jws import parse_compact
from credlti.lti.keys import KeySet, KeyState, ToolKey, generate_key, jwks
from credlti.lti.services import (
    SCOPE_LINEITEM,
    SCOPE_NRPS_READONLY,
    SCOPE_SCORE,
    AsyncServiceTokenClient,
    ServiceToken,
    ServiceTokenClient,
    TokenPolicy,
)
from credlti.lti.services._oauth import (
    ASSERTION_TYPE,
    TokenRequest,
    client_assertion_claims,
    parse_token_response,
    token_request_form,
)
from credlti.lti.services._response import parse_retry_after
from credlti.lti.services._token_flow import (
    CacheGet,
    SigningKeyFor,
    TokenContext,
    acquire_token_flow,
    token_flow,
)
from credlti.testing import SimulatedPlatform

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
KEY = generate_key(now=NOW, state=KeyState.CURRENT)
EC_KEY = generate_key(now=NOW, alg="ES256", state=KeyState.CURRENT)
OTHER_KEY = generate_key(now=NOW, state=KeyState.CURRENT)
SERVICE_URL = "https://platform.example.edu/api/memberships"
DEPLOYMENT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"


def _platform(key: ToolKey = KEY) -> SimulatedPlatform:
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([key]))
    return platform


def _serve(platform: SimulatedPlatform, calls: list[str] | None = None) -> httpx.Client:
    """The platform plus a membership service that accepts only its live tokens."""

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == SERVICE_URL:
            if calls is not None:
                calls.append(request.headers.get("Authorization", ""))
            scopes = platform.access_token_scopes(request.headers.get("Authorization"))
            if SCOPE_NRPS_READONLY not in scopes:
                return httpx.Response(401, json={"error": "invalid_token"})
            return httpx.Response(200, json={"members": []})
        return platform.handle_request(request)

    return httpx.Client(transport=httpx.MockTransport(handle))


def _client(platform: SimulatedPlatform, **kwargs: Any) -> ServiceTokenClient:
    kwargs.setdefault("keys", KeySet([KEY]))
    kwargs.setdefault("http_client", _serve(platform))
    return ServiceTokenClient(clock=platform.clock, **kwargs)


def _request(**kwargs: Any) -> TokenRequest:
    platform = SimulatedPlatform()
    return TokenRequest.for_registration(platform.registration, [SCOPE_NRPS_READONLY], **kwargs)


# ----------------------------------------------------------------------- pure: assertion


def test_assertion_claims_follow_sec_4_1_1() -> None:
    """iss = sub = client id, aud = token endpoint, exp = iat + 300, jti, deployment_id."""
    request = _request(deployment_id="deployment-1")
    claims = client_assertion_claims(request, now=NOW, jti="jti-1", policy=TokenPolicy())
    now = int(NOW.timestamp())
    assert claims == {
        "iss": "credlti-tool",
        "sub": "credlti-tool",
        "aud": "https://platform.example.edu/token",
        "iat": now,
        "exp": now + 300,
        "jti": "jti-1",
        DEPLOYMENT_CLAIM: "deployment-1",
    }


def test_assertion_audience_is_the_authorization_server_when_set() -> None:
    """A registration's authorization_server overrides the token endpoint as aud."""
    registration = Registration(
        issuer="https://lms.example.edu",
        client_id="c",
        auth_endpoint="https://lms.example.edu/auth",
        jwks_uri="https://lms.example.edu/jwks",
        token_endpoint="https://lms.example.edu/token",
        authorization_server="https://auth.lms.example.edu",
    )
    request = TokenRequest.for_registration(registration, [SCOPE_SCORE])
    claims = client_assertion_claims(request, now=NOW, jti="j", policy=TokenPolicy())
    assert claims["aud"] == "https://auth.lms.example.edu"
    assert DEPLOYMENT_CLAIM not in claims


def test_deployment_claim_can_be_turned_off_and_leaves_the_cache_key() -> None:
    """With include_deployment_id=False the claim is omitted and the cache key ignores it."""
    policy = TokenPolicy(include_deployment_id=False)
    request = _request(deployment_id="deployment-1")
    assert DEPLOYMENT_CLAIM not in client_assertion_claims(request, now=NOW, jti="j", policy=policy)
    assert request.cache_key(policy).deployment_id is None
    assert request.cache_key(TokenPolicy()).deployment_id == "deployment-1"


def test_assertion_lifetime_is_at_most_five_minutes() -> None:
    """TokenPolicy refuses assertion lifetimes above 300 s (Sec §4.1.1)."""
    with pytest.raises(ConfigurationError):
        TokenPolicy(assertion_lifetime=301)
    with pytest.raises(ConfigurationError):
        TokenPolicy(assertion_lifetime=0)


def test_request_needs_a_token_endpoint_and_scopes() -> None:
    """No token endpoint or no scope is a ConfigurationError before any traffic."""
    platform = SimulatedPlatform()
    bare = Registration(
        issuer=platform.issuer,
        client_id="c",
        auth_endpoint=platform.auth_endpoint,
        jwks_uri=platform.jwks_uri,
    )
    with pytest.raises(ConfigurationError, match="token_endpoint"):
        TokenRequest.for_registration(bare, [SCOPE_SCORE])
    with pytest.raises(ConfigurationError, match="at least one scope"):
        TokenRequest.for_registration(platform.registration, [])
    with pytest.raises(ConfigurationError, match="without spaces"):
        TokenRequest.for_registration(platform.registration, ["a b", ""])


def test_form_has_the_four_fields_with_space_separated_scopes() -> None:
    """The form carries grant_type, the jwt-bearer type, the assertion and the scopes."""
    form = token_request_form("a.b.c", [SCOPE_SCORE, SCOPE_LINEITEM])
    assert form == {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": "a.b.c",
        "scope": f"{SCOPE_LINEITEM} {SCOPE_SCORE}",
    }


# ----------------------------------------------------------------------- pure: responses


def _parse(status: int, body: Any, headers: dict[str, str] | None = None) -> ServiceToken:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_token_response(
        status, headers or {}, raw, requested=[SCOPE_SCORE, SCOPE_LINEITEM], now=NOW
    )


def test_token_type_is_case_insensitive_and_expires_in_defaults_to_3600() -> None:
    """'BEARER' is bearer; a missing expires_in means an hour; a missing scope means all."""
    token = _parse(200, {"access_token": "t", "token_type": "BEARER"})
    assert token.expires_at == NOW + timedelta(seconds=3600)
    assert token.scopes == {SCOPE_SCORE, SCOPE_LINEITEM}
    assert token.authorization == "Bearer t"


def test_granted_scope_subset_is_kept() -> None:
    """A narrower granted scope is what the token carries; require() reports the gap."""
    token = _parse(
        200, {"access_token": "t", "token_type": "bearer", "expires_in": "60", "scope": SCOPE_SCORE}
    )
    assert token.scopes == {SCOPE_SCORE}
    assert token.expires_at == NOW + timedelta(seconds=60)
    assert token.covers([SCOPE_SCORE])
    with pytest.raises(ScopeNotGrantedError) as caught:
        token.require([SCOPE_LINEITEM])
    assert caught.value.details["missing_scopes"] == [SCOPE_LINEITEM]


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "bearer"},
        {"access_token": "t", "token_type": "mac"},
        {"access_token": "t", "token_type": "bearer", "expires_in": "soon"},
        {"access_token": "t", "token_type": "bearer", "scope": ["a"]},
        b"<html>not json</html>",
    ],
)
def test_malformed_success_responses_are_typed_errors(body: Any) -> None:
    """A 200 without a usable bearer token is a ServiceCallFailedError."""
    with pytest.raises(ServiceCallFailedError):
        _parse(200, body)


@pytest.mark.parametrize("code", ["invalid_scope", "invalid_client", "unauthorized_client"])
def test_oauth_errors_carry_their_code(code: str) -> None:
    """A 400 with an OAuth error becomes TokenRequestRejectedError with oauth_error."""
    with pytest.raises(TokenRequestRejectedError) as caught:
        _parse(400, {"error": code, "error_description": "nope"})
    assert caught.value.oauth_error == code
    assert caught.value.details["error_description"] == "nope"


def test_429_and_503_are_temporary_with_retry_after() -> None:
    """Busy endpoints raise a temporary error carrying Retry-After in seconds."""
    with pytest.raises(ServiceTemporarilyUnavailableError) as caught:
        _parse(429, {"error": "slow_down"}, {"retry-after": "17"})
    assert caught.value.retry_after == 17.0
    with pytest.raises(ServiceTemporarilyUnavailableError) as caught:
        _parse(503, b"", {"Retry-After": "Thu, 15 Jan 2026 12:02:00 GMT"})
    assert caught.value.retry_after == 120.0
    assert caught.value.http_status == 503


def test_retry_after_parsing_tolerates_garbage() -> None:
    """Unparseable or missing Retry-After values give None."""
    assert parse_retry_after(None, now=NOW) is None
    assert parse_retry_after("later", now=NOW) is None
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", now=NOW) == 0.0


@pytest.mark.parametrize("status", [302, 500, 404])
def test_other_statuses_are_service_failures(status: int) -> None:
    """Redirects and server errors are ServiceCallFailedError naming the status."""
    with pytest.raises(ServiceCallFailedError) as caught:
        _parse(status, b"oops")
    assert caught.value.details["status"] == status


def test_freshness_honours_the_refresh_margin() -> None:
    """A token is fresh until expires_at minus the margin."""
    token = ServiceToken(access_token="t", scopes=[SCOPE_SCORE], expires_at=NOW)
    assert token.is_fresh(NOW - timedelta(seconds=61), margin=60)
    assert not token.is_fresh(NOW - timedelta(seconds=60), margin=60)


def test_token_never_appears_in_reprs_or_errors() -> None:
    """The access token is not in the token's repr."""
    token = ServiceToken(access_token="sekrit-token", scopes=[SCOPE_SCORE], expires_at=NOW)
    assert "sekrit" not in repr(token)


def _context() -> TokenContext:
    return TokenContext(policy=TokenPolicy(), clock=lambda: NOW, random_bytes=bytes)


def test_flow_returns_a_fresh_cached_token_without_posting() -> None:
    """The IO-free flow asks the cache first and stops when the token is fresh."""
    cached = ServiceToken(
        access_token="t", scopes=[SCOPE_NRPS_READONLY], expires_at=NOW + timedelta(hours=1)
    )
    effects: list[object] = []

    def perform(effect: object) -> object:
        effects.append(effect)
        return cached

    registration = _platform().registration
    request = TokenRequest.for_registration(registration, [SCOPE_NRPS_READONLY])
    token = run(token_flow(request, registration, _context()), perform)

    assert token is cached
    assert [type(e) for e in effects] == [CacheGet]


def test_acquire_runs_the_token_flow_under_the_cache_keys_lock() -> None:
    """Single flight is flow logic: without a cached token, one Locked effect per key."""
    registration = _platform().registration
    request = TokenRequest.for_registration(registration, [SCOPE_NRPS_READONLY])
    flow = acquire_token_flow(request, registration, _context())

    assert isinstance(next(flow), CacheGet)
    effect = flow.send(None)  # nothing cached: take the lock

    assert isinstance(effect, Locked)
    assert effect.key == ("service-token", request.cache_key(TokenPolicy()))


def test_network_failure_of_the_token_request_is_a_service_call_failure() -> None:
    """A RemoteCallFailed thrown into the flow at its request becomes ServiceCallFailedError."""
    platform = _platform()

    def perform(effect: object) -> object:
        if isinstance(effect, CacheGet):
            return None
        if isinstance(effect, SigningKeyFor):
            return KEY
        assert isinstance(effect, HttpRequest)
        assert effect.method == "POST"
        raise RemoteCallFailed("ConnectError during POST")

    request = TokenRequest.for_registration(platform.registration, [SCOPE_NRPS_READONLY])
    flow = token_flow(request, platform.registration, _context())
    with pytest.raises(ServiceCallFailedError, match="ConnectError"):
        run(flow, perform)


# ----------------------------------------------------------------------- against the platform


@pytest.mark.parametrize("key", [KEY, EC_KEY], ids=["RS256", "ES256"])
def test_token_request_passes_the_platforms_full_verification(key: ToolKey) -> None:
    """The simulated platform verifies the assertion and issues a token with our scopes."""
    platform = _platform(key)
    client = _client(platform, keys=key)
    token = client.get_token(
        platform.registration, [SCOPE_NRPS_READONLY], deployment_id="deployment-1"
    )
    assert platform.token_rejections == []
    assert platform.token_requests == 1
    assert token.scopes == {SCOPE_NRPS_READONLY}
    assert platform.access_token_scopes(token.authorization) == {SCOPE_NRPS_READONLY}


def test_assertion_header_carries_kid_and_the_form_is_complete() -> None:
    """The POSTed form has the jwt-bearer type and an assertion whose header has the kid."""
    platform = _platform()
    seen: list[dict[str, list[str]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(parse_qs(request.content.decode()))
        return platform.handle_request(request)

    client = _client(platform, http_client=httpx.Client(transport=httpx.MockTransport(handle)))
    client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    (form,) = seen
    assert form["client_assertion_type"] == [ASSERTION_TYPE]
    header = parse_compact(form["client_assertion"][0]).header
    assert header == {"alg": "RS256", "typ": "JWT", "kid": KEY.kid}


def test_cached_token_is_reused_until_the_refresh_margin() -> None:
    """One request serves calls until expires_at - 60 s; then a new token is fetched."""
    platform = _platform()
    platform.token_lifetime = 600
    client = _client(platform)
    first = client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    platform.clock.advance(539)
    assert client.get_token(platform.registration, [SCOPE_NRPS_READONLY]) is first
    assert platform.token_requests == 1
    platform.clock.advance(1)
    second = client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    assert not second.same_token(first)
    assert platform.token_requests == 2


def test_cache_keys_separate_scopes_and_deployments() -> None:
    """Different scope sets or deployments get their own tokens."""
    platform = _platform()
    client = _client(platform)
    client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    client.get_token(platform.registration, [SCOPE_NRPS_READONLY, SCOPE_SCORE])
    client.get_token(platform.registration, [SCOPE_NRPS_READONLY], deployment_id="deployment-1")
    client.get_token(platform.registration, [SCOPE_SCORE, SCOPE_NRPS_READONLY])
    assert platform.token_requests == 3


def test_fifty_concurrent_calls_make_one_token_request() -> None:
    """Single flight: 50 threads calling the service at once cause exactly one token request."""
    platform = _platform()
    client = _client(platform, cache=MemoryServiceTokenCache())
    barrier = threading.Barrier(50)
    statuses: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        response = client.request(
            "GET", SERVICE_URL, registration=platform.registration, scopes=[SCOPE_NRPS_READONLY]
        )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 50
    assert platform.token_requests == 1


def test_401_drops_the_token_and_retries_once() -> None:
    """A revoked token: the call gets 401, a new token is fetched and the retry succeeds."""
    platform = _platform()
    client = _client(platform)
    client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    platform.revoke_access_tokens()
    response = client.request(
        "GET", SERVICE_URL, registration=platform.registration, scopes=[SCOPE_NRPS_READONLY]
    )
    assert response.status_code == 200
    assert response.json() == {"members": []}
    assert platform.token_requests == 2


def test_persistent_401_is_returned_after_a_single_retry() -> None:
    """When the platform keeps answering 401, exactly one retry happens."""
    platform = _platform()
    platform.granted_scopes = frozenset({SCOPE_SCORE, SCOPE_NRPS_READONLY})
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == SERVICE_URL:
            calls.append(request.headers["Authorization"])
            return httpx.Response(401)
        return platform.handle_request(request)

    client = _client(platform, http_client=httpx.Client(transport=httpx.MockTransport(handle)))
    response = client.request(
        "GET", SERVICE_URL, registration=platform.registration, scopes=[SCOPE_NRPS_READONLY]
    )
    assert response.status_code == 401
    assert len(calls) == 2
    assert calls[0] != calls[1]
    assert platform.token_requests == 2


def test_expired_token_in_cache_is_replaced_before_the_call() -> None:
    """After expiry the next call fetches a token first and never sends the stale one."""
    platform = _platform()
    calls: list[str] = []
    client = _client(platform, http_client=_serve(platform, calls))
    first = client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    platform.clock.advance(3600)
    response = client.request(
        "GET", SERVICE_URL, registration=platform.registration, scopes=[SCOPE_NRPS_READONLY]
    )
    assert response.status_code == 200
    assert calls == [calls[0]]
    assert calls[0] != first.authorization


def test_required_scope_not_granted_fails_before_the_call() -> None:
    """require= checks granted scopes locally: no service call without the scope."""
    platform = _platform()
    platform.granted_scopes = frozenset({SCOPE_NRPS_READONLY})
    calls: list[str] = []
    client = _client(platform, http_client=_serve(platform, calls))
    with pytest.raises(ScopeNotGrantedError):
        client.request(
            "POST",
            SERVICE_URL,
            registration=platform.registration,
            scopes=[SCOPE_NRPS_READONLY, SCOPE_SCORE],
            require=[SCOPE_SCORE],
        )
    assert calls == []


def test_forced_429_is_a_temporary_error_and_nothing_is_cached() -> None:
    """The platform's 429 with Retry-After surfaces as retry_after; the next call retries."""
    platform = _platform()
    platform.token_status = 429
    client = _client(platform)
    with pytest.raises(ServiceTemporarilyUnavailableError) as caught:
        client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    assert caught.value.retry_after == 30.0
    platform.token_status = None
    client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    assert platform.token_requests == 2


def test_forced_401_from_the_token_endpoint_is_a_rejection() -> None:
    """A 401 invalid_client from the token endpoint is TokenRequestRejectedError."""
    platform = _platform()
    platform.token_status = 401
    with pytest.raises(TokenRequestRejectedError) as caught:
        _client(platform).get_token(platform.registration, [SCOPE_NRPS_READONLY])
    assert caught.value.oauth_error == "invalid_client"


def test_no_granted_scope_is_invalid_scope() -> None:
    """When none of the requested scopes is allowed, the platform answers invalid_scope."""
    platform = _platform()
    platform.granted_scopes = frozenset({SCOPE_SCORE})
    with pytest.raises(TokenRequestRejectedError) as caught:
        _client(platform).get_token(platform.registration, [SCOPE_NRPS_READONLY])
    assert caught.value.oauth_error == "invalid_scope"


def test_network_errors_are_wrapped() -> None:
    """A connection failure is a ServiceCallFailedError; httpx errors never leak."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    platform = _platform()
    client = _client(platform, http_client=httpx.Client(transport=httpx.MockTransport(fail)))
    with pytest.raises(ServiceCallFailedError) as caught:
        client.get_token(platform.registration, [SCOPE_NRPS_READONLY])
    assert isinstance(caught.value.__cause__, Exception)
    assert "ConnectError" in str(caught.value)


def test_signing_key_comes_from_a_key_store_per_registration() -> None:
    """With a key store, the registration's current key signs the assertion."""
    from credlti.adapters.memory import MemoryToolKeyStore

    platform = _platform(EC_KEY)
    store = MemoryToolKeyStore()
    store.save_key(KEY)  # shared key
    owned = ToolKey.from_private_key(
        EC_KEY.private_key,
        created_at=NOW,
        state=KeyState.CURRENT,
        owner=(platform.issuer, platform.client_id),
    )
    store.save_key(owned)
    _client(platform, keys=store).get_token(platform.registration, [SCOPE_NRPS_READONLY])
    assert platform.token_rejections == []


# ----------------------------------------------------------------------- attacker side


def _post(
    platform: SimulatedPlatform, assertion: str, scope: str = SCOPE_NRPS_READONLY
) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": scope,
    }
    with httpx.Client(transport=platform.transport) as http:
        return http.post(platform.token_endpoint, data=form)


def _assertion(platform: SimulatedPlatform, key: ToolKey = KEY, **changes: Any) -> str:
    request = TokenRequest.for_registration(platform.registration, [SCOPE_NRPS_READONLY])
    claims = client_assertion_claims(
        request, now=platform.clock(), jti="jti-x", policy=TokenPolicy()
    )
    claims.update(changes)
    return key.sign_jwt({k: v for k, v in claims.items() if v is not None})


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": "https://platform.example.edu/other"}, "aud"),
        ({"iss": "someone-else"}, "iss and sub"),
        ({"sub": "someone-else"}, "iss and sub"),
        ({"exp": int(NOW.timestamp()) - 60, "iat": int(NOW.timestamp()) - 120}, "expired"),
        ({"iat": int(NOW.timestamp()) + 3600, "exp": int(NOW.timestamp()) + 3700}, "future"),
        ({"exp": int(NOW.timestamp()) + 3600}, "longer than"),
        ({"jti": None}, "jti"),
        ({DEPLOYMENT_CLAIM: "deployment-nobody-made"}, "deployment_id"),
    ],
)
def test_platform_rejects_bad_assertions(changes: dict[str, Any], reason: str) -> None:
    """Wrong aud, iss/sub, expired, future, too long-lived, no jti, unknown deployment: refused."""
    platform = _platform()
    response = _post(platform, _assertion(platform, **changes))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"
    assert reason in platform.token_rejections[-1]


def test_platform_rejects_a_tampered_assertion() -> None:
    """Changing the payload after signing breaks the signature."""
    platform = _platform()
    header, _, signature = _assertion(platform).split(".")
    forged = KEY.sign_jwt({"iss": "credlti-tool", "sub": "credlti-tool"}).split(".")[1]
    response = _post(platform, f"{header}.{forged}.{signature}")
    assert response.status_code == 400
    assert "signature" in platform.token_rejections[-1]


def test_platform_rejects_an_unknown_kid_or_foreign_key() -> None:
    """An assertion signed with a key the platform was never given is refused."""
    platform = _platform()
    response = _post(platform, _assertion(platform, key=OTHER_KEY))
    assert response.status_code == 400
    assert "not in the tool's key set" in platform.token_rejections[-1]


def test_platform_rejects_a_replayed_jti() -> None:
    """The same assertion (same jti) works once only."""
    platform = _platform()
    assertion = _assertion(platform)
    assert _post(platform, assertion).status_code == 200
    assert _post(platform, assertion).status_code == 400
    assert "replay" in platform.token_rejections[-1]


def test_every_assertion_has_a_unique_jti() -> None:
    """Repeated token requests never reuse a jti (the platform would refuse them)."""
    platform = _platform()
    client = _client(platform)
    for _ in range(5):
        client.get_token(platform.registration, [SCOPE_NRPS_READONLY], force_refresh=True)
    assert platform.token_requests == 5
    assert platform.token_rejections == []


# ----------------------------------------------------------------------- async


def test_async_client_single_flight_and_401_retry() -> None:
    """The async twin makes one token request for 20 concurrent calls and retries a 401 once."""
    platform = _platform()

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == SERVICE_URL:
            ok = SCOPE_NRPS_READONLY in platform.access_token_scopes(
                request.headers.get("Authorization")
            )
            return httpx.Response(200 if ok else 401, json={})
        return platform.handle_request(request)

    async def main() -> list[int]:
        async with AsyncServiceTokenClient(
            keys=KEY,
            clock=platform.clock,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(handle)),
        ) as client:
            calls = [
                client.request(
                    "GET",
                    SERVICE_URL,
                    registration=platform.registration,
                    scopes=[SCOPE_NRPS_READONLY],
                )
                for _ in range(20)
            ]
            statuses = [r.status_code for r in await asyncio.gather(*calls)]
            assert platform.token_requests == 1
            platform.revoke_access_tokens()
            again = await client.request(
                "GET", SERVICE_URL, registration=platform.registration, scopes=[SCOPE_NRPS_READONLY]
            )
            return [*statuses, again.status_code]

    assert asyncio.run(main()) == [200] * 21
    assert platform.token_requests == 2
