"""The token flow: get a service token from the cache or the platform, one request per key.

Rules of this module:

1. The flow does no IO. It yields effects: the cache effects below, the signing
   key look-up, :class:`~credlti._http.HttpRequest` for the token endpoint, and
   :class:`~credlti._effects.Locked` for single flight. The service-token clients
   perform them (:mod:`credlti.lti.services._client`) through the drivers of
   :mod:`credlti._effects`; the sync and async clients share every line here.
2. Single flight is flow logic: the cache check and the request run under
   ``Locked(("service-token", cache key), ...)``, so callers waiting for the same
   key find the token the first one stored.
3. The clock and the randomness are passed in (:class:`TokenContext`), and only
   called once the lock is held.
4. Each token lookup's result (hit, wait, request) is counted on the
   ``credlti.lti.service_token.lookups`` counter (:mod:`credlti._telemetry`, a
   no-op unless the host enables telemetry): only the flow knows which one it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from credlti import _telemetry
from credlti._effects import Flow, Locked
from credlti._http import HttpRequest, RemoteCallFailed, RemoteResponse
from credlti.lti._tokens import ServiceToken, TokenCacheKey
from credlti.lti.keys import ToolKey
from credlti.lti.ports import Registerable
from credlti.lti.services._destinations import Destinations
from credlti.lti.services._oauth import (
    TokenPolicy,
    TokenRequest,
    client_assertion_claims,
    new_jti,
    parse_token_response,
    token_request_form,
)
from credlti.lti.services._response import call_failed

__all__ = [
    "TOKEN_LOOKUPS",
    "USER_AGENT",
    "CacheDelete",
    "CacheGet",
    "CachePut",
    "SigningKeyFor",
    "TokenContext",
    "acquire_token_flow",
    "token_flow",
]

#: The ``User-Agent`` of every request to a platform.
USER_AGENT = "credlti (+https://github.com/credlti/credlti)"
_TOKEN_HEADERS = {"Accept": "application/json", "User-Agent": USER_AGENT}
#: The counter of service-token lookups, by ``credlti.result``.
TOKEN_LOOKUPS = "credlti.lti.service_token.lookups"


def _counted(result: str) -> None:
    if _telemetry.enabled():
        _telemetry.count(TOKEN_LOOKUPS, {"credlti.result": result})


@attrs.frozen
class CacheGet:
    """Effect: ``cache.get_token(key)`` -> the cached :class:`ServiceToken` or ``None``."""

    key: TokenCacheKey


@attrs.frozen
class CachePut:
    """Effect: ``cache.put_token(key, token)`` -> ``None``."""

    key: TokenCacheKey
    token: ServiceToken = attrs.field(repr=False)


@attrs.frozen
class CacheDelete:
    """Effect: ``cache.delete_token(key, only=token)`` -> whether it was dropped."""

    key: TokenCacheKey
    token: ServiceToken = attrs.field(repr=False)


@attrs.frozen(eq=False)
class SigningKeyFor:
    """Effect: the tool key that signs for *registration* -> :class:`ToolKey`."""

    registration: Registerable


@attrs.frozen(kw_only=True)
class TokenContext:
    """What the token flow needs besides the request: policy, clock, randomness."""

    policy: TokenPolicy
    clock: Callable[[], datetime]
    random_bytes: Callable[[int], bytes] = attrs.field(repr=False)


def token_flow(
    request: TokenRequest,
    registration: Registerable,
    context: TokenContext,
    *,
    force_refresh: bool = False,
) -> Flow[ServiceToken]:
    """Get a token for *request*: a fresh cached one, or a new one from the platform.

    Yields :class:`CacheGet` (unless *force_refresh*); when nothing fresh is cached,
    :class:`SigningKeyFor`, an :class:`~credlti._http.HttpRequest` POSTing the
    token form, and :class:`CachePut`. Returns the token. No lock: see
    :func:`acquire_token_flow`.
    """
    policy = context.policy
    cache_key = request.cache_key(policy)
    destinations = Destinations.for_registration(
        registration, allowed=policy.origins, same_site=policy.same_site
    )
    destinations.check_token_endpoint(request.token_url)
    now = context.clock()
    if not force_refresh:
        cached: ServiceToken | None = yield CacheGet(cache_key)
        if cached is not None and cached.is_fresh(now, margin=policy.refresh_margin):
            _counted("wait")  # another caller stored it while this one waited for the lock
            return cached
    _counted("request")
    key: ToolKey = yield SigningKeyFor(registration)
    jti = new_jti(context.random_bytes(16))
    assertion = key.sign_jwt(client_assertion_claims(request, now=now, jti=jti, policy=policy))
    try:
        response: RemoteResponse = yield HttpRequest(
            method="POST",
            url=request.token_url,
            data=token_request_form(assertion, request.scopes),
            headers=_TOKEN_HEADERS,
            timeout=policy.timeout,
            max_bytes=policy.max_bytes,
            deadline=policy.deadline,
        )
    except RemoteCallFailed as exc:
        raise call_failed(request.token_url, exc.reason) from exc
    token = parse_token_response(
        response.status_code,
        response.headers,
        response.body,
        requested=request.scopes,
        now=now,
        url=request.token_url,
    )
    yield CachePut(cache_key, token)
    return token


def acquire_token_flow(
    request: TokenRequest,
    registration: Registerable,
    context: TokenContext,
    *,
    force_refresh: bool = False,
) -> Flow[ServiceToken]:
    """A fresh cached token, else :func:`token_flow` under its cache key's lock.

    However many callers need the same token at once, one asks the platform; the
    others wait for the lock, then find the fresh token in the cache (the token
    flow looks again once the lock is held). A fresh cached token is returned
    without taking the lock.
    """
    cache_key = request.cache_key(context.policy)
    if not force_refresh:
        cached: ServiceToken | None = yield CacheGet(cache_key)
        if cached is not None and cached.is_fresh(
            context.clock(), margin=context.policy.refresh_margin
        ):
            _counted("hit")
            return cached
    flow = token_flow(request, registration, context, force_refresh=force_refresh)
    token: ServiceToken = yield Locked(("service-token", cache_key), flow)
    return token
