"""Runtime resolution facades: :class:`CredentialResolver` and :class:`AsyncCredentialResolver`.

A job runner asks for a credential by id and receives the body to hand to the job,
with a fresh OAuth token merged in, or a classified failure. Both facades drive the
flow of ``_flows_resolve``; the async one awaits token refreshes on an
``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import datetime
from typing import Any

import attrs
import httpx

from credlti._clock import Clock, utc_now
from credlti._effects import AsyncLocks, Flow, arun, run
from credlti.credentials._async_vault import AsyncVault
from credlti.credentials._flows_oauth import refresh_flow
from credlti.credentials._flows_resolve import LoadCredential, RefreshToken, resolve_flow
from credlti.credentials._oauth_records import ResolvedCredential
from credlti.credentials._vault import Vault
from credlti.credentials._vault_effects import Now
from credlti.errors import ConfigurationError

__all__ = ["AsyncCredentialResolver", "CredentialResolver"]

_USER_AGENT = "credlti (+https://github.com/credlti/credlti)"
#: One in-process lock table per vault and event loop, shared by the async resolvers
#: of that vault (keyed by ``id(vault)``, dropped when the vault is collected).
_ASYNC_LOCKS: dict[int, tuple[asyncio.AbstractEventLoop, AsyncLocks]] = {}


def _locks_for(vault: Vault) -> AsyncLocks:
    loop = asyncio.get_running_loop()
    key = id(vault)
    found = _ASYNC_LOCKS.get(key)
    if found is not None and found[0] is loop:
        return found[1]
    if found is None:
        weakref.finalize(vault, _ASYNC_LOCKS.pop, key, None)
    locks = AsyncLocks()
    _ASYNC_LOCKS[key] = (loop, locks)
    return locks


def _now(clock: Clock) -> datetime:
    now: Any = clock()
    if not isinstance(now, datetime) or now.tzinfo is None:
        msg = "the resolver's clock must return timezone-aware datetimes"
        raise ConfigurationError(msg)
    return now


def _unknown(effect: Any) -> TypeError:
    return TypeError(f"the resolver cannot perform {type(effect).__name__}")


@attrs.define
class CredentialResolver:
    """Resolves credentials for jobs: the body, with a fresh OAuth token merged in.

    For an OAuth credential the vault refreshes the token when it is about to
    expire (one request per credential however many jobs ask), then the token's
    fields (``access_token``, ``refresh_token``, ``token_type``, ``scope``,
    ``expires_at`` in epoch seconds, and the provider's other fields) are merged over
    the body. Top-level ``""`` and ``null`` values are dropped.

    Args:
        vault: The vault (its HTTP client calls the token endpoints).
        clock: Returns the current aware datetime (use the vault's).
    """

    vault: Vault
    clock: Clock = utc_now

    def resolve(self, credential_id: str, *, actor_id: str | None = None) -> ResolvedCredential:
        """Resolve *credential_id*; never raises for a missing id or a provider failure.

        Returns:
            A :class:`~credlti.credentials.ResolvedCredential`: ``ok`` with the body,
            or ``not_found``, ``needs_reauthorization``, ``temporarily_unavailable``
            (with ``retry_after`` when the provider said).

        Raises:
            DecryptionError: A ciphertext does not open (a key is missing).
            ConfigurationError: The vault or the resolver is misconfigured.
        """
        vault, clock = self.vault, self.clock

        def perform(effect: Any) -> Any:
            kind = type(effect)
            if kind is LoadCredential:
                return vault.get_credential(effect.credential_id)
            if kind is RefreshToken:
                return vault.maybe_refresh_token(effect.credential, actor_id=effect.actor_id)
            if kind is Now:
                return _now(clock)
            raise _unknown(effect)

        result: ResolvedCredential = run(resolve_flow(credential_id, actor_id), perform)
        return result


@attrs.define(init=False)
class AsyncCredentialResolver:
    """Async twin of :class:`CredentialResolver`.

    Over an :class:`~credlti.credentials.AsyncVault` every call is awaited (loads,
    refreshes, storage) and the vault's own HTTP client and lock table serve the
    refresh. Over a sync :class:`~credlti.credentials.Vault`, refreshes await this
    resolver's ``httpx.AsyncClient`` but storage calls stay synchronous; async
    resolvers of one such vault share an in-process lock table, so concurrent tasks
    asking for one credential make one token request.

    Args:
        vault: The vault (an ``AsyncVault`` keeps the event loop free).
        http_client: The ``httpx.AsyncClient`` for the token endpoints (default: a
            private one with the vault's timeout).
        clock: Returns the current aware datetime (use the vault's).
    """

    vault: Vault | AsyncVault
    clock: Clock
    _http: httpx.AsyncClient = attrs.field(repr=False)
    _owns_http: bool

    def __init__(
        self,
        vault: Vault | AsyncVault,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.vault = vault
        self.clock = clock
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=vault.config.http_timeout, headers={"User-Agent": _USER_AGENT}
        )

    async def aclose(self) -> None:
        """Close the HTTP client if the resolver created it."""
        if self._owns_http:
            await self._http.aclose()

    def _refresh(self, effect: RefreshToken) -> Flow[Any]:
        return refresh_flow(effect.credential, effect.actor_id, self.vault.config)

    async def resolve(
        self, credential_id: str, *, actor_id: str | None = None
    ) -> ResolvedCredential:
        """Async twin of :meth:`CredentialResolver.resolve`."""
        vault, clock, http = self.vault, self.clock, self._http
        if isinstance(vault, AsyncVault):
            return await self._resolve_async(vault, credential_id, actor_id)
        locks = _locks_for(vault)

        async def perform(effect: Any) -> Any:
            kind = type(effect)
            if kind is LoadCredential:
                return vault.get_credential(effect.credential_id)
            if kind is RefreshToken:
                return await vault._arun_remote(self._refresh(effect), http, locks)
            if kind is Now:
                return _now(clock)
            raise _unknown(effect)

        result: ResolvedCredential = await arun(resolve_flow(credential_id, actor_id), perform)
        return result

    async def _resolve_async(
        self, vault: AsyncVault, credential_id: str, actor_id: str | None
    ) -> ResolvedCredential:
        clock = self.clock

        async def perform(effect: Any) -> Any:
            kind = type(effect)
            if kind is LoadCredential:
                return await vault.get_credential(effect.credential_id)
            if kind is RefreshToken:
                return await vault.maybe_refresh_token(effect.credential, actor_id=effect.actor_id)
            if kind is Now:
                return _now(clock)
            raise _unknown(effect)

        result: ResolvedCredential = await arun(resolve_flow(credential_id, actor_id), perform)
        return result
