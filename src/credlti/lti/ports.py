"""The LTI ports: registrations and deployments, nonces, launch sessions, tool keys, tokens.

Small :class:`typing.Protocol` classes that adapters satisfy by shape (see
:mod:`credlti.ports` for the rules every adapter follows).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

from credlti.lti._records import Deployment, Registration
from credlti.lti._tokens import ServiceToken, TokenCacheKey
from credlti.lti._toolkey import ToolKey

__all__ = [
    "AsyncLaunchSessionStore",
    "AsyncLaunchStorage",
    "AsyncLti1p1Secrets",
    "AsyncNonceStore",
    "AsyncRegistrationSink",
    "AsyncRegistrationStore",
    "AsyncServiceTokenCache",
    "AsyncToolKeyStore",
    "Deployable",
    "LaunchSessionStore",
    "LaunchStorage",
    "Lti1p1Secrets",
    "NonceStatus",
    "NonceStore",
    "Registerable",
    "RegistrationSink",
    "RegistrationStore",
    "ServiceTokenCache",
    "ToolKeyStore",
]


@runtime_checkable
class Registerable(Protocol):
    """**Protocol:** a host object that describes a platform registration.

    Return your own ORM row or dataclass from ``get_registration``; credlti reads it
    through ``to_registration()`` and hands the very same object back in
    :attr:`credlti.lti.LaunchContext.registration`.
    """

    def to_registration(self) -> Registration:
        """Return the registration as a :class:`credlti.lti.Registration` record."""
        ...


@runtime_checkable
class Deployable(Protocol):
    """**Protocol:** a host object that describes one deployment of the tool."""

    def to_deployment(self) -> Deployment:
        """Return the deployment as a :class:`credlti.lti.Deployment` record."""
        ...


R_co = TypeVar("R_co", bound=Registerable, covariant=True)
D_co = TypeVar("D_co", bound=Deployable, covariant=True)


class NonceStatus(enum.Enum):
    """The outcome of an atomic nonce consumption."""

    #: The nonce was issued, unexpired and unused; it is now consumed.
    CONSUMED = "consumed"
    #: The nonce was issued but has already been consumed (a replay).
    ALREADY_USED = "already_used"
    #: The nonce was never issued for this registration, or it expired.
    NOT_FOUND = "not_found"


class RegistrationStore(Protocol[R_co, D_co]):
    """**Protocol:** look up platform registrations and deployments."""

    def get_registration(self, issuer: str, client_id: str | None) -> R_co | None:
        """Return the registration for *issuer* and *client_id*, or ``None``.

        *client_id* is ``None`` when the platform's login request did not include
        it: return the issuer's only registration then. When the issuer has several,
        raise :class:`~credlti.errors.RegistrationNotFoundError` saying so (the
        platform must send ``client_id``, or use per-registration login URLs).
        """
        ...

    def get_deployment(self, registration: Registration, deployment_id: str) -> D_co | None:
        """Return the deployment *deployment_id* (case-sensitive) under *registration*.

        Return ``None`` if it is unknown; an adapter may instead create it here
        (auto-registration). This is called only after the launch's signature and
        claims have been verified, so an upsert here is safe.
        """
        ...


class NonceStore(Protocol):
    """**Protocol:** issue and atomically consume launch nonces (Sec §5.1.3(9))."""

    def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        """Record that *nonce* was issued for *registration*, valid until *expires_at*.

        *now* is the tool's clock at the login: a store may use it to drop nonces
        that expired by then (bounded work per call), so the store stays bounded even
        when logins are started and never finished.
        """
        ...

    def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        """Consume *nonce* atomically and say whether that succeeded.

        Must be a single atomic step (a conditional delete or update), never a
        check followed by a separate write: two concurrent calls with the same nonce
        must yield exactly one :attr:`NonceStatus.CONSUMED`.
        """
        ...


class LaunchStorage(RegistrationStore[R_co, D_co], NonceStore, Protocol[R_co, D_co]):
    """**Protocol:** everything a :class:`~credlti.lti.Tool` needs from storage."""


class RegistrationSink(Protocol):
    """**Protocol:** where dynamic registration stores what the platform assigned.

    :class:`credlti.adapters.memory.MemoryLaunchStorage` and
    :class:`credlti.adapters.sql.SqlLaunchStorage` satisfy it. The registration
    flow asks ``get_registration`` first (an existing issuer and client id is never
    replaced), adds the registration, then the deployment, and removes the
    registration again if the deployment cannot be added: nothing is half-stored.
    """

    def get_registration(self, issuer: str, client_id: str | None) -> Registerable | None:
        """Return the registration for *issuer* and *client_id*, or ``None``."""
        ...

    def add_registration(self, registration: Registration) -> None:
        """Store *registration*."""
        ...

    def add_deployment(self, registration: Registration, deployment: Deployment) -> None:
        """Store *deployment* under the stored *registration*."""
        ...

    def remove_registration(self, issuer: str, client_id: str) -> None:
        """Remove the registration and its deployments; unknown ones are ignored."""
        ...


class Lti1p1Secrets(Protocol):
    """**Protocol:** the LTI 1.1 shared secrets of a tool moving to LTI 1.3.

    Give it to the tool as ``Tool(..., lti1p1_secrets=...)``: a launch whose
    ``lti1p1`` migration claim names an ``oauth_consumer_key`` is then verified
    with that key's secret, and ``launch.lti1p1`` carries the verified LTI 1.1 ids.
    An :class:`~credlti.lti.AsyncTool` takes the async form, :class:`AsyncLti1p1Secrets`.
    """

    def get_lti1p1_secret(self, registration: Registration, oauth_consumer_key: str) -> str | None:
        """The LTI 1.1 secret of *oauth_consumer_key*, or ``None`` if you have none.

        *registration* is the verified 1.3 registration the launch came from:
        return a secret only if that platform may speak for the key (for example,
        keep each consumer key with the issuer it belonged to).
        """
        ...


class LaunchSessionStore(Protocol):
    """**Protocol:** saved launches, as opaque bytes under a key, until they expire.

    :meth:`~credlti.lti.Tool.save_launch` calls :meth:`save`,
    :meth:`~credlti.lti.Tool.load_launch` calls :meth:`load` and
    :meth:`~credlti.lti.Tool.end_launch` calls :meth:`delete`. Keys are 64 lowercase
    hex characters: a SHA-256 digest of the handle the browser holds, never the
    handle itself, so whoever reads the store cannot reopen a launch. Values are
    sealed by the tool (encrypted and authenticated with the storage key bound in):
    store them byte for byte and never interpret them. A store may drop an entry
    before it expires (memory pressure); the user then launches again.
    """

    def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
        """Store *data* under *key* until *expires_at*, replacing any older value."""
        ...

    def load(self, key: str, *, now: datetime) -> bytes | None:
        """The bytes under *key*, or ``None`` if there are none or they expired.

        An entry whose ``expires_at`` is at or before *now* is expired.
        """
        ...

    def delete(self, key: str) -> bool:
        """Drop the entry under *key*; True if one was dropped.

        An expired entry may already be gone (False) or still be there (True).
        """
        ...


# --------------------------------------------------------------------------- tool keys, tokens


class ToolKeyStore(Protocol):
    """**Protocol:** the tool's own signing keys (Sec §6), by kid.

    Keys carry their rotation state and owner; the pure functions of
    :mod:`credlti.lti.keys` decide rotations and ``keys_for`` picks a registration's
    keys. Store private keys encrypted at rest (see
    :class:`credlti.adapters.memory.EncryptedToolKeyStore`).
    """

    def list_keys(self) -> list[ToolKey]:
        """Every stored key (any state, any owner)."""
        ...

    def get_key(self, kid: str) -> ToolKey | None:
        """The key with *kid*, or ``None``."""
        ...

    def save_key(self, key: ToolKey) -> None:
        """Insert the key, or replace the stored key with the same kid."""
        ...

    def delete_key(self, kid: str) -> bool:
        """Delete the key; True if it existed."""
        ...


class ServiceTokenCache(Protocol):
    """**Protocol:** cached Advantage service access tokens (Sec §4.1, §7.1.1).

    Keys are :class:`credlti.lti.services.TokenCacheKey` values: issuer, client id,
    token URL, the requested scopes and, when the assertion names one, the
    deployment. Freshness is decided by the caller; a cache may drop entries at any
    time (tokens are cheap to re-request). Single flight across processes is the
    caller's business (a shared cache only avoids repeated requests).
    """

    def get_token(self, key: TokenCacheKey) -> ServiceToken | None:
        """The cached token for *key*, or ``None``."""
        ...

    def put_token(self, key: TokenCacheKey, token: ServiceToken) -> None:
        """Store *token* under *key*, replacing any older one."""
        ...

    def delete_token(self, key: TokenCacheKey, *, only: ServiceToken | None = None) -> bool:
        """Drop the token under *key*; True if one was dropped.

        With *only*, drop it only if the stored token is that one (its access token
        is equal): a caller that saw a 401 must not drop a newer token another
        caller stored meanwhile.
        """
        ...


# --------------------------------------------------------------------------- async twins
#
# Each async port has the same method names, parameters and return types as its sync
# twin above, with every method ``async def``. :class:`~credlti.lti.AsyncTool` and the
# async service clients await these; the sync facades call the sync ports.


class AsyncRegistrationStore(Protocol[R_co, D_co]):
    """**Protocol:** the async form of :class:`RegistrationStore`."""

    async def get_registration(self, issuer: str, client_id: str | None) -> R_co | None:
        """Return the registration for *issuer* and *client_id*, or ``None``.

        Same rules as :meth:`RegistrationStore.get_registration`.
        """
        ...

    async def get_deployment(self, registration: Registration, deployment_id: str) -> D_co | None:
        """Return the deployment *deployment_id* under *registration*, or ``None``.

        Same rules as :meth:`RegistrationStore.get_deployment`.
        """
        ...


class AsyncNonceStore(Protocol):
    """**Protocol:** the async form of :class:`NonceStore`."""

    async def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        """Record that *nonce* was issued for *registration*, valid until *expires_at*."""
        ...

    async def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        """Consume *nonce* atomically (one step) and say whether that succeeded."""
        ...


class AsyncLaunchStorage(AsyncRegistrationStore[R_co, D_co], AsyncNonceStore, Protocol[R_co, D_co]):
    """**Protocol:** everything an :class:`~credlti.lti.AsyncTool` needs from storage."""


class AsyncRegistrationSink(Protocol):
    """**Protocol:** the async form of :class:`RegistrationSink`.

    :class:`credlti.lti.registration.AsyncDynamicRegistration` awaits it.
    """

    async def get_registration(self, issuer: str, client_id: str | None) -> Registerable | None:
        """Return the registration for *issuer* and *client_id*, or ``None``."""
        ...

    async def add_registration(self, registration: Registration) -> None:
        """Store *registration*."""
        ...

    async def add_deployment(self, registration: Registration, deployment: Deployment) -> None:
        """Store *deployment* under the stored *registration*."""
        ...

    async def remove_registration(self, issuer: str, client_id: str) -> None:
        """Remove the registration and its deployments; unknown ones are ignored."""
        ...


class AsyncLti1p1Secrets(Protocol):
    """**Protocol:** the async form of :class:`Lti1p1Secrets`, for an ``AsyncTool``."""

    async def get_lti1p1_secret(
        self, registration: Registration, oauth_consumer_key: str
    ) -> str | None:
        """The LTI 1.1 secret of *oauth_consumer_key*, or ``None`` if you have none."""
        ...


class AsyncLaunchSessionStore(Protocol):
    """**Protocol:** the async form of :class:`LaunchSessionStore`."""

    async def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
        """Store *data* under *key* until *expires_at*, replacing any older value."""
        ...

    async def load(self, key: str, *, now: datetime) -> bytes | None:
        """The bytes under *key*, or ``None`` if there are none or they expired."""
        ...

    async def delete(self, key: str) -> bool:
        """Drop the entry under *key*; True if one was dropped."""
        ...


class AsyncToolKeyStore(Protocol):
    """**Protocol:** the async form of :class:`ToolKeyStore`."""

    async def list_keys(self) -> list[ToolKey]:
        """Every stored key (any state, any owner)."""
        ...

    async def get_key(self, kid: str) -> ToolKey | None:
        """The key with *kid*, or ``None``."""
        ...

    async def save_key(self, key: ToolKey) -> None:
        """Insert the key, or replace the stored key with the same kid."""
        ...

    async def delete_key(self, kid: str) -> bool:
        """Delete the key; True if it existed."""
        ...


class AsyncServiceTokenCache(Protocol):
    """**Protocol:** the async form of :class:`ServiceTokenCache`."""

    async def get_token(self, key: TokenCacheKey) -> ServiceToken | None:
        """The cached token for *key*, or ``None``."""
        ...

    async def put_token(self, key: TokenCacheKey, token: ServiceToken) -> None:
        """Store *token* under *key*, replacing any older one."""
        ...

    async def delete_token(self, key: TokenCacheKey, *, only: ServiceToken | None = None) -> bool:
        """Drop the token under *key*; True if one was dropped.

        With *only*, drop it only if the stored token is that one.
        """
        ...
