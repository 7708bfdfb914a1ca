"""The service-token drivers: :class:`ServiceTokenClient` (sync) and its async twin.

Both run :func:`~credlti.lti.services._oauth.token_flow`; they only differ in how an
effect is performed. Single flight is per process: one lock per cache key, so N
concurrent callers needing the same token cause one token request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets as _secrets
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs
import httpx

from credlti._http import (
    RemoteCallFailed,
    RemoteResponse,
    post_form_async,
    post_form_sync,
    send_async,
    send_sync,
)
from credlti.errors import (
    CredltiError,
    MalformedServiceResponseError,
    ServiceCallFailedError,
    StorageUnavailableError,
)
from credlti.lti.keys import KeySet, ToolKey, keys_for
from credlti.lti.ports import Registerable, ServiceTokenCache, ToolKeyStore
from credlti.lti.services._oauth import (
    CacheGet,
    CachePut,
    PostTokenRequest,
    ServiceToken,
    TokenCacheKey,
    TokenEffect,
    TokenPolicy,
    TokenRequest,
    new_jti,
    token_flow,
)

__all__ = ["AsyncServiceTokenClient", "ServiceResponse", "ServiceTokenClient", "SigningKeys"]

T = TypeVar("T")

#: Where the assertion's signing key comes from: one key, a key set, or a key store.
#: Key sets and stores are narrowed with :func:`credlti.lti.keys.keys_for` per
#: registration, and their *current* key signs.
SigningKeys = ToolKey | KeySet | ToolKeyStore

_USER_AGENT = "credlti (+https://github.com/credlti/credlti)"
_SERVICE_MAX_BYTES = 8 * 1024 * 1024


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@attrs.frozen(kw_only=True)
class ServiceResponse:
    """An Advantage service's answer (body capped, read in full)."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)

    def json(self) -> Any:
        """The body as JSON.

        Raises:
            MalformedServiceResponseError: The body is not JSON.
        """
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            msg = f"the service answered HTTP {self.status_code} with a body that is not JSON"
            raise MalformedServiceResponseError(msg, details={"status": self.status_code}) from exc


def _failed(url: str, reason: str) -> ServiceCallFailedError:
    return ServiceCallFailedError(
        f"the call to {url} failed ({reason})", spec_ref="Sec §4.1", details={"url": url}
    )


def _storage_failure(exc: Exception) -> StorageUnavailableError:
    return StorageUnavailableError(f"the token cache or key store failed with {type(exc).__name__}")


def _headers(token: ServiceToken, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = {"User-Agent": _USER_AGENT, **(extra or {})}
    headers["Authorization"] = token.authorization
    return headers


def _response(raw: RemoteResponse) -> ServiceResponse:
    return ServiceResponse(status_code=raw.status_code, headers=raw.headers, body=raw.body)


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


class _Core:
    """What the sync and async drivers share: configuration and IO-free helpers."""

    def __init__(
        self,
        *,
        keys: SigningKeys,
        clock: Callable[[], datetime],
        cache: ServiceTokenCache | None,
        policy: TokenPolicy | None,
        random_bytes: Callable[[int], bytes],
    ) -> None:
        if cache is None:
            from credlti.adapters.memory._tokens import MemoryServiceTokenCache

            cache = MemoryServiceTokenCache()
        self.keys = keys
        self.clock = clock
        self.cache = cache
        self.policy = policy or TokenPolicy()
        self.random = random_bytes
        self.locks_guard = threading.Lock()
        self.refused: set[str] = set()

    def signing_key(self, registration: Registerable) -> ToolKey:
        return signing_key_for(self.keys, registration)

    def flow(
        self, request: TokenRequest, registration: Registerable, *, force_refresh: bool
    ) -> Generator[TokenEffect, Any, ServiceToken]:
        return token_flow(
            request,
            key=self.signing_key(registration),
            now=self.clock(),
            jti=new_jti(self.random(16)),
            policy=self.policy,
            force_refresh=force_refresh,
        )

    def cache_call(self, effect: CacheGet | CachePut) -> ServiceToken | None:
        try:
            if isinstance(effect, CacheGet):
                return self.cache.get_token(effect.key)
            self.cache.put_token(effect.key, effect.token)
        except CredltiError:
            raise
        except Exception as exc:
            raise _storage_failure(exc) from exc
        return None

    def refused_after_renewal(self, token: ServiceToken) -> bool:
        """True if a service already answered 401 to *token* right after a renewal."""
        return _digest(token) in self.refused

    def mark_refused(self, token: ServiceToken) -> None:
        # A renewed token refused again means the platform denies this tool (AGS
        # disabled, revoked scope...): stop renewing on every call until it expires.
        if len(self.refused) >= _MAX_REFUSED:
            self.refused.clear()
        self.refused.add(_digest(token))

    def drop(self, key: TokenCacheKey, token: ServiceToken) -> None:
        try:
            self.cache.delete_token(key, only=token)
        except CredltiError:
            raise
        except Exception as exc:
            raise _storage_failure(exc) from exc


_MAX_REFUSED = 1024


def _digest(token: ServiceToken) -> str:
    return hashlib.sha256(token.access_token.encode()).hexdigest()


def _request(
    registration: Registerable, scopes: Iterable[str], deployment_id: str | None
) -> TokenRequest:
    return TokenRequest.for_registration(registration, scopes, deployment_id=deployment_id)


class ServiceTokenClient:
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
    """

    def __init__(
        self,
        *,
        keys: SigningKeys,
        http_client: httpx.Client | None = None,
        clock: Callable[[], datetime] = _utc_now,
        cache: ServiceTokenCache | None = None,
        policy: TokenPolicy | None = None,
        random_bytes: Callable[[int], bytes] = _secrets.token_bytes,
    ) -> None:
        self._core = _Core(
            keys=keys, clock=clock, cache=cache, policy=policy, random_bytes=random_bytes
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        self._locks: dict[TokenCacheKey, threading.Lock] = {}

    @property
    def cache(self) -> ServiceTokenCache:
        """The token cache in use."""
        return self._core.cache

    def _lock(self, key: TokenCacheKey) -> threading.Lock:
        with self._core.locks_guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def signing_key(self, registration: Registerable) -> ToolKey:
        """The tool key that signs for *registration* (its own, else the shared one)."""
        return self._core.signing_key(registration)

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
        request = _request(registration, scopes, deployment_id)
        with self._lock(request.cache_key(self._core.policy)):
            return self._run(self._core.flow(request, registration, force_refresh=force_refresh))

    def invalidate(
        self,
        registration: Registerable,
        scopes: Iterable[str],
        token: ServiceToken,
        *,
        deployment_id: str | None = None,
    ) -> None:
        """Drop *token* from the cache (if it is still the cached one)."""
        request = _request(registration, scopes, deployment_id)
        self._core.drop(request.cache_key(self._core.policy), token)

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
        max_bytes: int = _SERVICE_MAX_BYTES,
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
            timeout: Seconds for the call.
            max_bytes: Largest response body read.

        Raises:
            ScopeNotGrantedError: A *require* scope was not granted.
            ServiceCallFailedError: The call failed on the network or its body was
                too large.
        """
        scope_list = list(scopes)
        token = self.get_token(registration, scope_list, deployment_id=deployment_id)
        token.require(require)
        response = self._send(method, url, token, headers, content, timeout, max_bytes)
        if response.status_code == 401 and not self._core.refused_after_renewal(token):
            self.invalidate(registration, scope_list, token, deployment_id=deployment_id)
            token = self.get_token(registration, scope_list, deployment_id=deployment_id)
            token.require(require)
            response = self._send(method, url, token, headers, content, timeout, max_bytes)
            if response.status_code == 401:
                self._core.mark_refused(token)
        return response

    def _send(
        self,
        method: str,
        url: str,
        token: ServiceToken,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        timeout: float,
        max_bytes: int,
    ) -> ServiceResponse:
        try:
            raw = send_sync(
                self._http,
                method,
                url,
                headers=_headers(token, headers),
                content=content,
                timeout=timeout,
                max_bytes=max_bytes,
            )
        except RemoteCallFailed as exc:
            raise _failed(url, exc.reason) from exc
        return _response(raw)

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ServiceTokenClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, flow: Generator[TokenEffect, Any, T]) -> T:
        try:
            effect = next(flow)
            while True:
                effect = flow.send(self._perform(effect))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _perform(self, effect: TokenEffect) -> Any:
        if isinstance(effect, PostTokenRequest):
            try:
                return post_form_sync(
                    self._http,
                    effect.url,
                    data=dict(effect.form),
                    headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
                    timeout=effect.timeout,
                    max_bytes=effect.max_bytes,
                )
            except RemoteCallFailed as exc:
                raise _failed(effect.url, exc.reason) from exc
        return self._core.cache_call(effect)


class AsyncServiceTokenClient:
    """The async twin of :class:`ServiceTokenClient` (same arguments, ``await`` the calls).

    Single flight uses one :class:`asyncio.Lock` per cache key (per event loop).
    The cache is called synchronously (the memory cache never blocks).
    """

    def __init__(
        self,
        *,
        keys: SigningKeys,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = _utc_now,
        cache: ServiceTokenCache | None = None,
        policy: TokenPolicy | None = None,
        random_bytes: Callable[[int], bytes] = _secrets.token_bytes,
    ) -> None:
        self._core = _Core(
            keys=keys, clock=clock, cache=cache, policy=policy, random_bytes=random_bytes
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self._locks: dict[TokenCacheKey, asyncio.Lock] = {}

    @property
    def cache(self) -> ServiceTokenCache:
        """The token cache in use."""
        return self._core.cache

    def _lock(self, key: TokenCacheKey) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def signing_key(self, registration: Registerable) -> ToolKey:
        """The tool key that signs for *registration* (its own, else the shared one)."""
        return self._core.signing_key(registration)

    async def get_token(
        self,
        registration: Registerable,
        scopes: Iterable[str],
        *,
        deployment_id: str | None = None,
        force_refresh: bool = False,
    ) -> ServiceToken:
        """Async :meth:`ServiceTokenClient.get_token`."""
        request = _request(registration, scopes, deployment_id)
        async with self._lock(request.cache_key(self._core.policy)):
            flow = self._core.flow(request, registration, force_refresh=force_refresh)
            try:
                effect = next(flow)
                while True:
                    effect = flow.send(await self._perform(effect))
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def invalidate(
        self,
        registration: Registerable,
        scopes: Iterable[str],
        token: ServiceToken,
        *,
        deployment_id: str | None = None,
    ) -> None:
        """Drop *token* from the cache (if it is still the cached one)."""
        request = _request(registration, scopes, deployment_id)
        self._core.drop(request.cache_key(self._core.policy), token)

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
        max_bytes: int = _SERVICE_MAX_BYTES,
    ) -> ServiceResponse:
        """Async :meth:`ServiceTokenClient.request` (401 -> renew and retry once)."""
        scope_list = list(scopes)
        token = await self.get_token(registration, scope_list, deployment_id=deployment_id)
        token.require(require)
        response = await self._send(method, url, token, headers, content, timeout, max_bytes)
        if response.status_code == 401 and not self._core.refused_after_renewal(token):
            self.invalidate(registration, scope_list, token, deployment_id=deployment_id)
            token = await self.get_token(registration, scope_list, deployment_id=deployment_id)
            token.require(require)
            response = await self._send(method, url, token, headers, content, timeout, max_bytes)
            if response.status_code == 401:
                self._core.mark_refused(token)
        return response

    async def _send(
        self,
        method: str,
        url: str,
        token: ServiceToken,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        timeout: float,
        max_bytes: int,
    ) -> ServiceResponse:
        try:
            raw = await send_async(
                self._http,
                method,
                url,
                headers=_headers(token, headers),
                content=content,
                timeout=timeout,
                max_bytes=max_bytes,
            )
        except RemoteCallFailed as exc:
            raise _failed(url, exc.reason) from exc
        return _response(raw)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncServiceTokenClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _perform(self, effect: TokenEffect) -> Any:
        if isinstance(effect, PostTokenRequest):
            try:
                return await post_form_async(
                    self._http,
                    effect.url,
                    data=dict(effect.form),
                    headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
                    timeout=effect.timeout,
                    max_bytes=effect.max_bytes,
                )
            except RemoteCallFailed as exc:
                raise _failed(effect.url, exc.reason) from exc
        return self._core.cache_call(effect)
