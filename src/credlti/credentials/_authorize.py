"""The OAuth authorization-code flow facades: :class:`OAuthAuthorizer` and its async twin.

Both drive the flows of ``_flows_authorize`` with :mod:`credlti._effects`; they differ
only in how HTTP is performed (an ``httpx.Client`` or an ``httpx.AsyncClient``) and,
for the async one over an :class:`~credlti.credentials.AsyncVault`, in awaiting the
vault, the client registry and the pending store. The pending records go through a
:class:`~credlti.credentials.ports.PendingAuthorizationStore` (or its async twin);
credentials are created and re-authorized through the vault's public methods, so its
validation, encryption and audit apply unchanged.
"""

from __future__ import annotations

import inspect
import secrets as _secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from credlti import _telemetry
from credlti._clock import Clock, utc_now
from credlti._effects import Flow, arun, run
from credlti._http import HttpRequest, RemoteResponse, perform_async, perform_sync
from credlti.credentials._async_vault import AsyncVault
from credlti.credentials._flows_authorize import (
    CheckNewCredential,
    CreateCredential,
    FindCredential,
    PutPending,
    TakePending,
    UpdateCredential,
    begin_flow,
    complete_flow,
)
from credlti.credentials._oauth_records import AuthorizationRequest, AuthorizationResult
from credlti.credentials._vault import Vault
from credlti.credentials._vault_effects import GetClient, Now, RandomBytes
from credlti.credentials.ports import (
    AsyncOAuthClientRegistry,
    AsyncPendingAuthorizationStore,
    OAuthClientRegistry,
    PendingAuthorizationStore,
)
from credlti.errors import ConfigurationError, CredltiError, StorageUnavailableError

__all__ = [
    "AUTHORIZATION_SPAN",
    "CODE_EXCHANGE_SPAN",
    "USERINFO_SPAN",
    "AsyncOAuthAuthorizer",
    "OAuthAuthorizer",
]

#: Span of completing an authorization from its callback (state check, code exchange,
#: optional userinfo, the credential saved): the client, the credential, ``created`` or
#: ``reauthorized``, or the error code.
AUTHORIZATION_SPAN = "credlti.credentials.oauth_authorization"
#: Span of the authorization-code exchange at the provider's token endpoint (its host
#: and HTTP status; never the code, the verifier or a token).
CODE_EXCHANGE_SPAN = "credlti.credentials.oauth_code_exchange"
#: Span of the userinfo request made after the exchange (its host and HTTP status).
USERINFO_SPAN = "credlti.credentials.oauth_userinfo"

_USER_AGENT = "credlti (+https://github.com/credlti/credlti)"
_DEFAULT_TTL = timedelta(minutes=10)


@attrs.define
class _Parts:
    """What both facades share: the ports, the clock, the randomness and the settings.

    With an :class:`AsyncVault`, the vault, the client registry and the pending store
    are the async forms and :meth:`aperform_local` awaits their calls.
    """

    vault: Any
    clients: Any
    pending: Any
    clock: Clock
    random_bytes: Callable[[int], bytes] = attrs.field(repr=False)
    ttl: timedelta
    fetch_userinfo: bool

    def now(self) -> datetime:
        now: Any = self.clock()
        if not isinstance(now, datetime) or now.tzinfo is None:
            msg = "the authorizer's clock must return timezone-aware datetimes"
            raise ConfigurationError(msg)
        return now

    def random(self, n: int) -> bytes:
        raw: Any = self.random_bytes(n)
        if not isinstance(raw, bytes) or len(raw) != n:
            msg = f"random_bytes({n}) must return {n} bytes"
            raise ConfigurationError(msg)
        return raw

    def _call(self, effect: Any) -> Any:
        """The one port call *effect* asks for (a coroutine with the async ports)."""
        kind = type(effect)
        if kind is GetClient:
            return self.clients.get_client(effect.client_id)
        if kind is PutPending:
            return self.pending.put(effect.pending)
        if kind is TakePending:
            return self.pending.take(effect.state_hash)
        if kind is FindCredential:
            return self.vault.get_credential(effect.credential_id)
        if kind is CheckNewCredential:
            return self.vault.change_credential(None, effect.attrs)
        if kind is CreateCredential:
            return self.vault.create_credential(effect.attrs, actor_id=effect.actor_id)
        if kind is UpdateCredential:
            return self.vault.update_credential(
                effect.credential_id, effect.attrs, actor_id=effect.actor_id
            )
        msg = f"the authorizer cannot perform {kind.__name__}"
        raise TypeError(msg)

    def perform_local(self, effect: Any) -> Any:
        """Carry out every effect but HTTP."""
        kind = type(effect)
        if kind is Now:
            return self.now()
        if kind is RandomBytes:
            return self.random(effect.n)
        try:
            return self._call(effect)
        except CredltiError:
            raise
        except Exception as exc:
            if kind not in (PutPending, TakePending):
                raise
            raise _pending_failure(exc) from None

    async def aperform_local(self, effect: Any) -> Any:
        """Async twin of :meth:`perform_local` (async vault and ports)."""
        kind = type(effect)
        if kind is Now:
            return self.now()
        if kind is RandomBytes:
            return self.random(effect.n)
        try:
            return await self._call(effect)
        except CredltiError:
            raise
        except Exception as exc:
            if kind not in (PutPending, TakePending):
                raise
            raise _pending_failure(exc) from None

    def begin(self, client_id: Any, kwargs: Mapping[str, Any]) -> Flow[AuthorizationRequest]:
        return begin_flow(client_id, ttl=self.ttl, **kwargs)

    def complete(self, params: Any, user_id: Any) -> Flow[AuthorizationResult]:
        return complete_flow(
            params, user_id=user_id, fetch_userinfo=self.fetch_userinfo, config=self.vault.config
        )


def _request_span(request: HttpRequest) -> _telemetry.Span:
    # Completing makes two requests at most: the code exchange (a POST to the token
    # endpoint) and the userinfo read (a GET).
    name = CODE_EXCHANGE_SPAN if request.method == "POST" else USERINFO_SPAN
    return _telemetry.span(name, {"server.address": urlsplit(request.url).hostname})


def _answered(span: _telemetry.Span, response: RemoteResponse) -> RemoteResponse:
    span.set("http.response.status_code", response.status_code)
    return response


def _completed(span: _telemetry.Span, result: AuthorizationResult) -> AuthorizationResult:
    span.set("credlti.client_id", result.credential.oauth_client_id)
    span.set("credlti.credential_id", result.credential.id)
    span.set("credlti.result", "created" if result.created else "reauthorized")
    return result


def _pending_failure(exc: Exception) -> StorageUnavailableError:
    """The error for a pending-authorization store that failed."""
    msg = f"the pending-authorization store failed with {type(exc).__name__}"
    return StorageUnavailableError(msg)


def _parts(
    vault: Vault | AsyncVault,
    oauth_clients: OAuthClientRegistry | AsyncOAuthClientRegistry,
    pending: PendingAuthorizationStore | AsyncPendingAuthorizationStore,
    clock: Clock,
    random_bytes: Callable[[int], bytes],
    authorization_ttl: timedelta,
    fetch_userinfo: bool,
) -> _Parts:
    ttl: Any = authorization_ttl
    if not isinstance(ttl, timedelta) or not timedelta(0) < ttl <= timedelta(hours=1):
        msg = "authorization_ttl must be a timedelta between 0 and 1 hour"
        raise ConfigurationError(msg)
    return _Parts(
        vault=vault,
        clients=oauth_clients,
        pending=pending,
        clock=clock,
        random_bytes=random_bytes,
        ttl=authorization_ttl,
        fetch_userinfo=fetch_userinfo,
    )


def _begin_args(
    user_id: Any,
    redirect_uri: Any,
    name: Any,
    credential_id: Any,
    project_id: Any,
    optional_scopes: Any,
    extra_params: Any,
) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "redirect_uri": redirect_uri,
        "name": name,
        "credential_id": credential_id,
        "project_id": project_id,
        "optional_scopes": optional_scopes,
        "extra_params": extra_params,
    }


@attrs.define(init=False)
class OAuthAuthorizer:
    """Connects users' accounts at OAuth providers: the authorization-code flow with PKCE.

    :meth:`begin` returns the URL to send the user to; :meth:`complete` handles the
    provider's callback and stores the token in a new or re-authorized ``oauth``
    credential of the vault.

    Args:
        vault: The vault that stores the credentials.
        oauth_clients: The clients users can authorize (the vault's registry).
        pending: Where started authorizations wait for their callback.
        http_client: The ``httpx.Client`` for the token and userinfo endpoints
            (default: a private one with the vault's timeout).
        clock: Returns the current aware datetime.
        random_bytes: ``n -> n random bytes`` for the state and the PKCE verifier.
        authorization_ttl: How long a started authorization stays valid (default 10
            minutes, at most an hour).
        fetch_userinfo: Read the client's userinfo endpoint after the exchange.
    """

    _parts: _Parts
    _http: httpx.Client = attrs.field(repr=False)
    _owns_http: bool

    def __init__(
        self,
        *,
        vault: Vault,
        oauth_clients: OAuthClientRegistry,
        pending: PendingAuthorizationStore,
        http_client: httpx.Client | None = None,
        clock: Clock = utc_now,
        random_bytes: Callable[[int], bytes] = _secrets.token_bytes,
        authorization_ttl: timedelta = _DEFAULT_TTL,
        fetch_userinfo: bool = True,
    ) -> None:
        self._parts = _parts(
            vault, oauth_clients, pending, clock, random_bytes, authorization_ttl, fetch_userinfo
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=vault.config.http_timeout, headers={"User-Agent": _USER_AGENT}
        )

    def close(self) -> None:
        """Close the HTTP client if the authorizer created it."""
        if self._owns_http:
            self._http.close()

    def _run(self, flow: Flow[Any]) -> Any:
        parts, http = self._parts, self._http

        def perform(effect: Any) -> Any:
            if type(effect) is HttpRequest:
                with _request_span(effect) as span:
                    return _answered(span, perform_sync(http, effect))
            return parts.perform_local(effect)

        return run(flow, perform)

    def begin(
        self,
        client_id: str,
        *,
        user_id: str,
        redirect_uri: str,
        name: str | None = None,
        credential_id: str | None = None,
        project_id: str | None = None,
        optional_scopes: Iterable[str] = (),
        extra_params: Mapping[str, str] | None = None,
    ) -> AuthorizationRequest:
        """Start an authorization for *user_id* with the client registered as *client_id*.

        Args:
            client_id: Our id of the :class:`~credlti.credentials.OAuthClient`.
            user_id: The signed-in user; only they can complete it.
            redirect_uri: Your callback URL, as registered at the provider.
            name: The new credential's name (to create one).
            credential_id: The OAuth credential to re-authorize (instead of *name*).
            project_id: The project the user works in: the client must be available
                there, and a new credential is shared with it.
            optional_scopes: Chosen among the client's optional scopes.
            extra_params: More authorize-URL parameters (``prompt``, ``access_type``...).

        Raises:
            AuthorizationRequestError: Bad arguments, unknown client, client not
                available in the project, or a scope it does not offer.
            CredentialValidationError: The vault would refuse the new credential
                (its name, or the user's access to the project).
            CredentialNotFoundError: *credential_id* does not exist.
            NotOwnerError: *user_id* does not own *credential_id*.
        """
        args = _begin_args(
            user_id, redirect_uri, name, credential_id, project_id, optional_scopes, extra_params
        )
        request: AuthorizationRequest = self._run(self._parts.begin(client_id, args))
        return request

    def complete(self, params: Mapping[str, str], *, user_id: str) -> AuthorizationResult:
        """Complete an authorization from the callback's query parameters.

        Args:
            params: The callback's query parameters (``code``, ``state`` or ``error``).
            user_id: The signed-in user; must be the one who started it.

        Raises:
            AuthorizationCallbackError: Malformed or missing parameters.
            AuthorizationStateError: Unknown, used, expired or another user's state.
            AuthorizationDeniedError: The provider answered with an error.
            OAuthProviderRejectedError: The token or userinfo endpoint refused.
            OAuthProviderUnavailableError: Provider or network trouble (retryable).
            MissingScopesError: A mandatory scope was not granted.
            CredentialValidationError: The vault refused the token (no refresh
                token, a taken name...).
        """
        with _telemetry.span(AUTHORIZATION_SPAN) as span:
            result: AuthorizationResult = self._run(self._parts.complete(params, user_id))
            return _completed(span, result)


@attrs.define(init=False)
class AsyncOAuthAuthorizer:
    """Async twin of :class:`OAuthAuthorizer`: HTTP through an ``httpx.AsyncClient``.

    Over an :class:`~credlti.credentials.AsyncVault`, pass the async client registry
    and pending store too (``AsyncOAuthClientRegistry``,
    ``AsyncPendingAuthorizationStore``): every call is then awaited. Over a sync
    :class:`~credlti.credentials.Vault` the vault and the (sync) ports are called
    synchronously. Arguments are as for :class:`OAuthAuthorizer`.

    Raises:
        ConfigurationError: The ports' form (sync or async) does not match the vault's.
    """

    _parts: _Parts
    _http: httpx.AsyncClient = attrs.field(repr=False)
    _owns_http: bool
    _awaits: bool

    def __init__(
        self,
        *,
        vault: Vault | AsyncVault,
        oauth_clients: OAuthClientRegistry | AsyncOAuthClientRegistry,
        pending: PendingAuthorizationStore | AsyncPendingAuthorizationStore,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock = utc_now,
        random_bytes: Callable[[int], bytes] = _secrets.token_bytes,
        authorization_ttl: timedelta = _DEFAULT_TTL,
        fetch_userinfo: bool = True,
    ) -> None:
        self._awaits = isinstance(vault, AsyncVault)
        ports = (oauth_clients.get_client, pending.put, pending.take)
        if any(inspect.iscoroutinefunction(call) != self._awaits for call in ports):
            form = "async" if self._awaits else "sync"
            msg = f"with this vault, pass the {form} OAuth client registry and pending store"
            raise ConfigurationError(msg)
        self._parts = _parts(
            vault, oauth_clients, pending, clock, random_bytes, authorization_ttl, fetch_userinfo
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=vault.config.http_timeout, headers={"User-Agent": _USER_AGENT}
        )

    async def aclose(self) -> None:
        """Close the HTTP client if the authorizer created it."""
        if self._owns_http:
            await self._http.aclose()

    async def _run(self, flow: Flow[Any]) -> Any:
        parts, http = self._parts, self._http

        async def perform(effect: Any) -> Any:
            if type(effect) is HttpRequest:
                with _request_span(effect) as span:
                    return _answered(span, await perform_async(http, effect))
            return parts.perform_local(effect)

        async def aperform(effect: Any) -> Any:
            if type(effect) is HttpRequest:
                with _request_span(effect) as span:
                    return _answered(span, await perform_async(http, effect))
            return await parts.aperform_local(effect)

        return await arun(flow, aperform if self._awaits else perform)

    async def begin(
        self,
        client_id: str,
        *,
        user_id: str,
        redirect_uri: str,
        name: str | None = None,
        credential_id: str | None = None,
        project_id: str | None = None,
        optional_scopes: Iterable[str] = (),
        extra_params: Mapping[str, str] | None = None,
    ) -> AuthorizationRequest:
        """Async twin of :meth:`OAuthAuthorizer.begin`."""
        args = _begin_args(
            user_id, redirect_uri, name, credential_id, project_id, optional_scopes, extra_params
        )
        request: AuthorizationRequest = await self._run(self._parts.begin(client_id, args))
        return request

    async def complete(self, params: Mapping[str, str], *, user_id: str) -> AuthorizationResult:
        """Async twin of :meth:`OAuthAuthorizer.complete`."""
        with _telemetry.span(AUTHORIZATION_SPAN) as span:
            result: AuthorizationResult = await self._run(self._parts.complete(params, user_id))
            return _completed(span, result)
