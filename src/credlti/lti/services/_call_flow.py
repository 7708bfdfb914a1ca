"""The call flow: one service call with a bearer token, renewed once on 401; paging.

Rules of this module:

1. :func:`call_flow` gets a token (:mod:`credlti.lti.services._token_flow`), checks
   it carries the scopes the call needs, sends the call as an
   :class:`~credlti._http.HttpRequest` and returns the
   :class:`~credlti.lti.services._response.ServiceResponse` whatever its status.
2. A 401 means the token may have been revoked: the flow drops it from the cache,
   gets a new one and sends the call once more. A token refused again right after
   its renewal means the platform denies the tool (service disabled, scope
   revoked): it is remembered in :class:`RefusedTokens` and later 401s for it are
   returned without renewing, so a denying service costs one token request per
   token lifetime, not one per call.
3. :func:`paged_flow` follows ``rel="next"`` links through a
   :class:`~credlti.lti.services._paging.PageGuard` and hands each parsed page out
   with :class:`~credlti._effects.Emit`, so the caller of ``stream`` decides when
   the next page is fetched.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TypeVar

import attrs

from credlti._effects import Emit, Flow
from credlti._http import HttpRequest, RemoteCallFailed, RemoteResponse
from credlti.lti._tokens import ServiceToken
from credlti.lti.ports import Registerable
from credlti.lti.services._destinations import Destinations
from credlti.lti.services._oauth import TokenRequest
from credlti.lti.services._paging import (
    PageGuard,
    RawPage,
    find_link,
    link_header,
    parse_link_header,
)
from credlti.lti.services._response import (
    ServiceResponse,
    call_failed,
    check_status,
    json_body,
)
from credlti.lti.services._score_clock import ScoreTimestamps
from credlti.lti.services._token_flow import (
    USER_AGENT,
    CacheDelete,
    TokenContext,
    acquire_token_flow,
)

__all__ = [
    "SERVICE_MAX_BYTES",
    "Caller",
    "RefusedTokens",
    "ServiceCall",
    "call_flow",
    "paged_flow",
]

T = TypeVar("T")

#: Largest service response body read by default.
SERVICE_MAX_BYTES = 8 * 1024 * 1024
_MAX_REFUSED = 1024
_EMPTY: Mapping[str, str] = MappingProxyType({})


@attrs.frozen(kw_only=True)
class ServiceCall:
    """One HTTP call to an Advantage service, to be sent with a bearer token.

    Attributes:
        method: HTTP method.
        url: The full URL (query included).
        scopes: The scopes the token is requested with (its cache key).
        require: Scopes the token must carry for this call.
        headers: ``Accept`` / ``Content-Type``.
        content: The request body.
        spec_ref: The section that defines this call (for error messages).
        timeout: Seconds for connecting and for each read of the call.
        deadline: Seconds for the whole call, body included (``None``: the token
            policy's ``deadline``).
        max_bytes: Largest response body read.
    """

    method: str
    url: str
    scopes: frozenset[str]
    require: frozenset[str]
    headers: Mapping[str, str] = _EMPTY
    content: bytes | None = attrs.field(default=None, repr=False)
    spec_ref: str | None = None
    timeout: float = 10.0
    deadline: float | None = None
    max_bytes: int = SERVICE_MAX_BYTES


@attrs.define
class RefusedTokens:
    """Digests of tokens a service refused right after their renewal (bounded)."""

    _digests: set[str] = attrs.field(factory=set, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def __contains__(self, token: object) -> bool:
        if not isinstance(token, ServiceToken):
            return False
        with self._lock:
            return _digest(token) in self._digests

    def add(self, token: ServiceToken) -> None:
        """Remember *token* as refused (the oldest entries go when full)."""
        with self._lock:
            if len(self._digests) >= _MAX_REFUSED:
                self._digests.clear()
            self._digests.add(_digest(token))


def _digest(token: ServiceToken) -> str:
    return hashlib.sha256(token.access_token.encode()).hexdigest()


@attrs.frozen(kw_only=True)
class Caller:
    """Who calls (registration, deployment) and the client's shared state.

    Attributes:
        destinations: Where this registration's tokens may be sent.
        scores: The client's score timestamps (shared by every grade service).
    """

    registration: Registerable
    deployment_id: str | None = None
    tokens: TokenContext
    refused: RefusedTokens = attrs.field(repr=False)
    destinations: Destinations
    scores: ScoreTimestamps = attrs.field(factory=ScoreTimestamps, repr=False)

    @property
    def clock(self) -> Callable[[], datetime]:
        """The client's clock."""
        return self.tokens.clock

    def token_request(self, scopes: frozenset[str]) -> TokenRequest:
        """The token request for *scopes* (checks the registration and the scopes)."""
        return TokenRequest.for_registration(
            self.registration, scopes, deployment_id=self.deployment_id
        )


def _send_flow(call: ServiceCall, token: ServiceToken, caller: Caller) -> Flow[ServiceResponse]:
    headers = {"User-Agent": USER_AGENT, **call.headers}
    headers["Authorization"] = token.authorization
    deadline = call.deadline if call.deadline is not None else caller.tokens.policy.deadline
    try:
        raw: RemoteResponse = yield HttpRequest(
            method=call.method,
            url=call.url,
            headers=headers,
            content=call.content,
            timeout=call.timeout,
            max_bytes=call.max_bytes,
            deadline=deadline,
        )
    except RemoteCallFailed as exc:
        raise call_failed(call.url, exc.reason) from exc
    return ServiceResponse(status_code=raw.status_code, headers=raw.headers, body=raw.body)


def call_flow(call: ServiceCall, caller: Caller) -> Flow[ServiceResponse]:
    """Send *call* with a token for its scopes; on 401, renew the token and retry once.

    Raises:
        UnsafeServiceUrlError: ``call.url`` is not a place this registration's
            tokens may go (checked before the token is even requested).
        ConfigurationError: No token endpoint, no scopes, or no current key.
        ScopeNotGrantedError: The token lacks a scope in ``call.require``.
        ServiceCallFailedError: The call failed on the network or its body was too
            large (token endpoint errors as in :func:`token_flow`).
    """
    caller.destinations.check(call.url)
    request = caller.token_request(call.scopes)
    token = yield from acquire_token_flow(request, caller.registration, caller.tokens)
    token.require(call.require)
    response = yield from _send_flow(call, token, caller)
    if response.status_code == 401 and token not in caller.refused:
        yield CacheDelete(request.cache_key(caller.tokens.policy), token)
        token = yield from acquire_token_flow(request, caller.registration, caller.tokens)
        token.require(call.require)
        response = yield from _send_flow(call, token, caller)
        if response.status_code == 401:
            caller.refused.add(token)
    return response


def paged_flow(
    call: ServiceCall,
    caller: Caller,
    parse: Callable[[RawPage], T],
    *,
    clock: Callable[[], datetime],
    max_pages: int,
) -> Flow[None]:
    """Fetch *call* and every ``rel="next"`` page after it, emitting each parsed page.

    ``next`` links are used as given (AGS §3.2.4; NRPS §2.4.2), checked by a
    :class:`~credlti.lti.services._paging.PageGuard` (same https origin, no loops,
    at most *max_pages*) before they are fetched.
    """
    guard = PageGuard(call.url, max_pages=max_pages)
    url: str | None = call.url
    while url is not None:
        guard.visit(url)
        response = yield from call_flow(attrs.evolve(call, url=url), caller)
        check_status(response, url=url, now=clock(), spec_ref=call.spec_ref)
        document = json_body(response, url=url, spec_ref=call.spec_ref)
        links = parse_link_header(link_header(response.headers), base_url=url)
        next_url = find_link(links, "next")
        if next_url is not None:
            guard.follow(next_url)
        yield Emit(parse(RawPage(url=url, document=document, next_url=next_url, links=links)))
        url = next_url
