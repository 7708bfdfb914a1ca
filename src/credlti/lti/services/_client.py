"""The service-token clients: :class:`ServiceTokenClient` and its async twin.

Both run the flows of :mod:`credlti.lti.services._token_flow` and
:mod:`credlti.lti.services._call_flow` with the drivers of :mod:`credlti._effects`;
they differ only in how an HTTP request is performed (``httpx.Client`` or
``httpx.AsyncClient``) and in their lock table (threads or tasks). Single flight is
per client: one lock per cache key, so N concurrent callers needing the same token
cause one token request.
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from credlti import _telemetry
from credlti._clock import Clock, utc_now
from credlti._effects import (
    AsyncLocks,
    AsyncLockTable,
    Flow,
    LockTable,
    SyncLocks,
    arun,
    astream,
    run,
    stream,
)
from credlti._http import HttpRequest, check_deadline, perform_async, perform_sync
from credlti.errors import ConfigurationError, CredltiError, StorageUnavailableError
from credlti.lti._port_kind import check_port
from credlti.lti._tokens import ServiceToken
from credlti.lti.keys import KeySet, ToolKey, keys_for
from credlti.lti.ports import AsyncServiceTokenCache, Registerable, ServiceTokenCache, ToolKeyStore
from credlti.lti.services._cache import AsyncMemoryServiceTokenCache, MemoryServiceTokenCache
from credlti.lti.services._call_flow import (
    SERVICE_MAX_BYTES,
    Caller,
    RefusedTokens,
    ServiceCall,
    call_flow,
)
from credlti.lti.services._destinations import Destinations
from credlti.lti.services._oauth import TokenPolicy, TokenRequest
from credlti.lti.services._response import ServiceResponse
from credlti.lti.services._score_clock import ScoreTimestamps
from credlti.lti.services._token_flow import (
    CacheDelete,
    CacheGet,
    CachePut,
    SigningKeyFor,
    TokenContext,
    acquire_token_flow,
)

__all__ = [
    "SERVICE_CALL_SPAN",
    "TOKEN_REQUEST_SPAN",
    "AsyncServiceTokenClient",
    "ServiceTokenClient",
    "SigningKeys",
    "all_keys",
    "http_span",
    "signing_key_for",
]

T = TypeVar("T")

#: Where the assertion's signing key comes from: one key, a key set, or a key store.
#: Key sets and stores are narrowed with :func:`credlti.lti.keys.keys_for` per
#: registration, and their *current* key signs.
SigningKeys = ToolKey | KeySet | ToolKeyStore


def _storage_failure(exc: Exception) -> StorageUnavailableError:
    return StorageUnavailableError(f"the token cache or key store failed with {type(exc).__name__}")


def all_keys(keys: SigningKeys) -> tuple[ToolKey, ...]:
    """Every key of *keys* (a store's failures become StorageError).

    Not a single :class:`KeySet`: a store may hold a shared current key and a
    current key per registration; :func:`signing_key_for` narrows them.
    """
    if isinstance(keys, ToolKey):
        return (keys,)
    if isinstance(keys, KeySet):
        return keys.keys
    try:
        return tuple(keys.list_keys())
    except CredltiError:
        raise
    except Exception as exc:
        raise _storage_failure(exc) from exc


def signing_key_for(keys: SigningKeys, registration: Registerable) -> ToolKey:
    """The key that signs for *registration*: its own current key, else the shared one."""
    if isinstance(keys, ToolKey):
        return keys
    return keys_for(all_keys(keys), registration).current


_CACHE_METHODS = ("get_token", "put_token", "delete_token")


def _cache_call(cache: ServiceTokenCache | AsyncServiceTokenCache, effect: Any) -> Any:
    """The cache call of a cache effect (its result, or an awaitable for an async cache)."""
    cls = type(effect)
    if cls is CacheGet:
        return cache.get_token(effect.key)
    if cls is CachePut:
        return cache.put_token(effect.key, effect.token)
    if cls is CacheDelete:
        return cache.delete_token(effect.key, only=effect.token)
    msg = f"no service-token client performs {cls.__name__}"
    raise TypeError(msg)


class _ClientBase:
    """Configuration and the signing-key effect, shared by the sync and async clients."""

    def __init__(
        self,
        *,
        keys: SigningKeys,
        clock: Clock,
        policy: TokenPolicy | None,
        random_bytes: Callable[[int], bytes],
    ) -> None:
        if not isinstance(keys, (ToolKey, KeySet)):
            what = "keys= (a ToolKey, KeySet or sync key store)"
            check_port(
                keys, ("list_keys",), asynchronous=False, what=what, owner=type(self).__name__
            )
        self._keys = keys
        self._tokens = TokenContext(
            policy=policy or TokenPolicy(), clock=clock, random_bytes=random_bytes
        )
        self._refused = RefusedTokens()
        self._scores = ScoreTimestamps()

    @property
    def clock(self) -> Clock:
        """The clock the client reads (token freshness, assertion times)."""
        return self._tokens.clock

    def signing_key(self, registration: Registerable) -> ToolKey:
        """The tool key that signs for *registration* (its own, else the shared one)."""
        return signing_key_for(self._keys, registration)

    def _caller(self, registration: Registerable, deployment_id: str | None) -> Caller:
        policy = self._tokens.policy
        return Caller(
            registration=registration,
            deployment_id=deployment_id,
            tokens=self._tokens,
            refused=self._refused,
            destinations=Destinations.for_registration(
                registration, allowed=policy.origins, same_site=policy.same_site
            ),
            scores=self._scores,
        )

    def _token_flow(
        self,
        registration: Registerable,
        scopes: Iterable[str],
        deployment_id: str | None,
        force_refresh: bool,
    ) -> Flow[ServiceToken]:
        request = TokenRequest.for_registration(registration, scopes, deployment_id=deployment_id)
        return acquire_token_flow(request, registration, self._tokens, force_refresh=force_refresh)

    def _invalidate_flow(
        self,
        registration: Registerable,
        scopes: Iterable[str],
        token: ServiceToken,
        deployment_id: str | None,
    ) -> Flow[None]:
        request = TokenRequest.for_registration(registration, scopes, deployment_id=deployment_id)
        yield CacheDelete(request.cache_key(self._tokens.policy), token)

    def _signing_key_effect(self, effect: SigningKeyFor) -> ToolKey:
        """Carry out :class:`SigningKeyFor` (keys are read synchronously by both clients)."""
        return signing_key_for(self._keys, effect.registration)


#: Span names of the two kinds of platform request a service client makes.
TOKEN_REQUEST_SPAN = "credlti.lti.services.token_request"
SERVICE_CALL_SPAN = "credlti.lti.services.call"
_SERVICE_KINDS = (
    ("lineitem", "ags.lineitem"),
    ("score", "ags.score"),
    ("result", "ags.result"),
    ("membership", "nrps.membership"),
)


def _service_kind(headers: Mapping[str, str] | None) -> str:
    """Which service a call is for, from its media types (never from a header's secrets)."""
    found = headers or {}
    for name in ("Content-Type", "Accept"):
        media = found.get(name, "")
        for marker, kind in _SERVICE_KINDS:
            if marker in media:
                return kind
    return "other"


def http_span(request: HttpRequest) -> _telemetry.Span:
    """The span of one platform request: a token request (a form) or a service call."""
    host = urlsplit(request.url).hostname
    if request.data is not None:
        return _telemetry.span(TOKEN_REQUEST_SPAN, {"server.address": host})
    return _telemetry.span(
        SERVICE_CALL_SPAN,
        {
            "server.address": host,
            "http.request.method": request.method,
            "credlti.service": _service_kind(request.headers),
        },
    )


def _deadline_arg(deadline: float | None) -> float | None:
    """*deadline* checked (``None`` or positive seconds), as a ConfigurationError."""
    try:
        return check_deadline(deadline)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc


def _call(
    method: str,
    url: str,
    scopes: Iterable[str],
    require: Iterable[str],
    headers: Mapping[str, str] | None,
    content: bytes | None,
    timeout: float,
    max_bytes: int,
    deadline: float | None,
) -> ServiceCall:
    return ServiceCall(
        method=method,
        url=url,
        scopes=frozenset(scopes),
        require=frozenset(require),
        headers=dict(headers or {}),
        content=content,
        timeout=timeout,
        max_bytes=max_bytes,
        deadline=_deadline_arg(deadline),
    )


class ServiceTokenClient(_ClientBase):
    """Gets, caches and refreshes Advantage service tokens; calls services with them.

    Example::

        client = ServiceTokenClient(keys=key_set, http_client=httpx.Client())
        token = client.get_token(registration, [SCOPE_NRPS_READONLY])
        response = client.request("GET", url, registration=registration,
                                  scopes=[SCOPE_NRPS_READONLY])

    Args:
        keys: The tool's signing keys: a :class:`~credlti.lti.keys.ToolKey`, a
            :class:`~credlti.lti.keys.KeySet` or a :class:`~credlti.ports.ToolKeyStore`
            (its current key for the registration signs the assertion).
        http_client: The httpx client (a new one, closed by :meth:`close`, by default).
        clock: Returns the current aware datetime.
        cache: Where tokens are kept (a memory cache by default).
        policy: Refresh margin, assertion lifetime, timeouts.
        random_bytes: ``n -> n random bytes`` (assertion ``jti``); injectable for tests.
        locks: Where single flight takes its locks (one token request per cache key
            at a time): this client's threads by default; a
            ``credlti.adapters.redis.RedisLockTable`` makes it one request for every
            process sharing the Redis (and the token cache).
    """

    def __init__(
        self,
        *,
        keys: SigningKeys,
        http_client: httpx.Client | None = None,
        clock: Clock = utc_now,
        cache: ServiceTokenCache | None = None,
        policy: TokenPolicy | None = None,
        random_bytes: Callable[[int], bytes] = _secrets.token_bytes,
        locks: LockTable | None = None,
    ) -> None:
        super().__init__(keys=keys, clock=clock, policy=policy, random_bytes=random_bytes)
        if cache is not None:
            what = "cache= (a ServiceTokenCache)"
            check_port(
                cache, _CACHE_METHODS, asynchronous=False, what=what, owner="ServiceTokenClient"
            )
        self._cache: ServiceTokenCache = cache if cache is not None else MemoryServiceTokenCache()
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        self._locks: LockTable = locks if locks is not None else SyncLocks()

    @property
    def cache(self) -> ServiceTokenCache:
        """The token cache in use."""
        return self._cache

    def _perform(self, effect: Any) -> Any:
        if type(effect) is HttpRequest:
            with http_span(effect) as span:
                response = perform_sync(self._http, effect)
                span.set("http.response.status_code", response.status_code)
                return response
        try:
            if type(effect) is SigningKeyFor:
                return self._signing_key_effect(effect)
            return _cache_call(self._cache, effect)
        except CredltiError:
            raise
        except Exception as exc:
            raise _storage_failure(exc) from exc

    def _run(self, flow: Flow[T]) -> T:
        return run(flow, self._perform, locks=self._locks)

    def _stream(self, flow: Flow[Any]) -> Iterator[Any]:
        return stream(flow, self._perform, locks=self._locks)

    def get_token(
        self,
        registration: Registerable,
        scopes: Iterable[str],
        *,
        deployment_id: str | None = None,
        force_refresh: bool = False,
    ) -> ServiceToken:
        """Return a fresh token for *scopes*, from the cache or the token endpoint.

        Concurrent callers for the same cache key wait for one request (single flight).

        Raises:
            ConfigurationError: No token endpoint, no scopes, or no current key.
            TokenRequestRejectedError: The platform refused (``oauth_error`` says why).
            ServiceTemporarilyUnavailableError: 429/503; see ``retry_after``.
            ServiceCallFailedError: Network failure or a malformed answer.
        """
        return self._run(self._token_flow(registration, scopes, deployment_id, force_refresh))

    def invalidate(
        self,
        registration: Registerable,
        scopes: Iterable[str],
        token: ServiceToken,
        *,
        deployment_id: str | None = None,
    ) -> None:
        """Drop *token* from the cache (if it is still the cached one)."""
        self._run(self._invalidate_flow(registration, scopes, token, deployment_id))

    def request(
        self,
        method: str,
        url: str,
        *,
        registration: Registerable,
        scopes: Iterable[str],
        deployment_id: str | None = None,
        require: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: float = 10.0,
        max_bytes: int = SERVICE_MAX_BYTES,
        deadline: float | None = None,
    ) -> ServiceResponse:
        """Call a service with a bearer token; on 401, renew the token and retry once.

        A token that is refused again right after its renewal is not renewed on
        later 401s (until it expires), so a service that denies this tool costs one
        token request per token lifetime, not one per call.

        Redirects are not followed. The response is returned whatever its status
        (the service layer maps statuses to errors).

        Args:
            method: HTTP method.
            url: The service URL (from the launch claims, never built by hand).
            registration: Whose token.
            scopes: The scopes to request the token with (the cache key).
            deployment_id: Named in the assertion when the policy allows.
            require: Scopes the call needs; checked against the granted ones first.
            headers: Extra headers (``Accept``, ``Content-Type``).
            content: The request body.
            timeout: Seconds for connecting and for each read.
            max_bytes: Largest response body read.
            deadline: Seconds for the whole call, body included (by default the
                policy's ``deadline``).

        Raises:
            UnsafeServiceUrlError: *url* is not https on the platform's site (or an
                allowed origin); nothing was sent.
            ScopeNotGrantedError: A *require* scope was not granted.
            ServiceCallFailedError: The call failed on the network or its body was
                too large.
        """
        call = _call(method, url, scopes, require, headers, content, timeout, max_bytes, deadline)
        return self._run(call_flow(call, self._caller(registration, deployment_id)))

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ServiceTokenClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncServiceTokenClient(_ClientBase):
    """The async twin of :class:`ServiceTokenClient` (same arguments, ``await`` the calls).

    Single flight uses one :class:`asyncio.Lock` per cache key (per event loop), or
    the ``locks=`` table given (``credlti.adapters.redis.AsyncRedisLockTable``: one
    token request for every process sharing the Redis).
    The cache is an :class:`~credlti.ports.AsyncServiceTokenCache` (its calls are
    awaited; an in-memory one by default; a cache with plain methods is refused
    with ``TypeError``). Keys are read synchronously: a ``ToolKey``, a ``KeySet``
    or a key store that never waits.
    """

    def __init__(
        self,
        *,
        keys: SigningKeys,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock = utc_now,
        cache: AsyncServiceTokenCache | None = None,
        policy: TokenPolicy | None = None,
        random_bytes: Callable[[int], bytes] = _secrets.token_bytes,
        locks: AsyncLockTable | None = None,
    ) -> None:
        super().__init__(keys=keys, clock=clock, policy=policy, random_bytes=random_bytes)
        if cache is not None:
            what = "cache= (an AsyncServiceTokenCache)"
            owner = "AsyncServiceTokenClient"
            check_port(cache, _CACHE_METHODS, asynchronous=True, what=what, owner=owner)
        self._cache: AsyncServiceTokenCache = (
            cache if cache is not None else AsyncMemoryServiceTokenCache()
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self._locks: AsyncLockTable = locks if locks is not None else AsyncLocks()

    @property
    def cache(self) -> AsyncServiceTokenCache:
        """The token cache in use."""
        return self._cache

    async def _perform(self, effect: Any) -> Any:
        if type(effect) is HttpRequest:
            with http_span(effect) as span:
                response = await perform_async(self._http, effect)
                span.set("http.response.status_code", response.status_code)
                return response
        try:
            if type(effect) is SigningKeyFor:
                return self._signing_key_effect(effect)
            return await _cache_call(self._cache, effect)
        except CredltiError:
            raise
        except Exception as exc:
            raise _storage_failure(exc) from exc

    async def _run(self, flow: Flow[T]) -> T:
        return await arun(flow, self._perform, locks=self._locks)

    def _stream(self, flow: Flow[Any]) -> AsyncIterator[Any]:
        return astream(flow, self._perform, locks=self._locks)

    async def get_token(
        self,
        registration: Registerable,
        scopes: Iterable[str],
        *,
        deployment_id: str | None = None,
        force_refresh: bool = False,
    ) -> ServiceToken:
        """Async :meth:`ServiceTokenClient.get_token`."""
        flow = self._token_flow(registration, scopes, deployment_id, force_refresh)
        return await self._run(flow)

    async def invalidate(
        self,
        registration: Registerable,
        scopes: Iterable[str],
        token: ServiceToken,
        *,
        deployment_id: str | None = None,
    ) -> None:
        """Async :meth:`ServiceTokenClient.invalidate`."""
        await self._run(self._invalidate_flow(registration, scopes, token, deployment_id))

    async def request(
        self,
        method: str,
        url: str,
        *,
        registration: Registerable,
        scopes: Iterable[str],
        deployment_id: str | None = None,
        require: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: float = 10.0,
        max_bytes: int = SERVICE_MAX_BYTES,
        deadline: float | None = None,
    ) -> ServiceResponse:
        """Async :meth:`ServiceTokenClient.request` (401 -> renew and retry once)."""
        call = _call(method, url, scopes, require, headers, content, timeout, max_bytes, deadline)
        return await self._run(call_flow(call, self._caller(registration, deployment_id)))

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncServiceTokenClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
