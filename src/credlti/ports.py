"""The storage ports: small :class:`typing.Protocol` classes that adapters satisfy by shape.

Adapters never inherit from these; any object with the right methods works. The
built-in adapters live in :mod:`credlti.adapters` (``memory`` built in, ``sql`` and
``redis`` as extras). To write your own, implement the methods below and run the
contract test suite against it (see ``docs/storage.md``).

Every method should raise :class:`~credlti.errors.StorageError` (or a subclass) when
the backend fails, as the built-in adapters do. As a safety net, the LTI facades wrap
any other exception from a storage call into
:class:`~credlti.errors.StorageUnavailableError`, and the vault does the same for
failures to open or commit a unit of work; an exception raised by a repository
*inside* a vault transaction rolls it back and propagates as raised.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    # Annotations only: importing credlti.lti here would make an import cycle.
    from credlti.credentials._records import (
        AuditEvent,
        Credential,
        CredentialRow,
        OAuthClient,
        OAuthTokenRow,
        ProjectShare,
        ScrubbedRow,
        TransferTokenRow,
        VaultUser,
    )
    from credlti.lti._records import Deployment, Registration
    from credlti.lti.keys import ToolKey
    from credlti.lti.services import ServiceToken, TokenCacheKey

__all__ = [
    "AuditSink",
    "CredentialRepository",
    "Deployable",
    "LaunchStorage",
    "NonceStatus",
    "NonceStore",
    "OAuthClientRegistry",
    "OAuthTokenRepository",
    "Registerable",
    "RegistrationStore",
    "ServiceTokenCache",
    "ShareRepository",
    "StepActivity",
    "ToolKeyStore",
    "TransferTokenRepository",
    "UserDirectory",
    "VaultNotifier",
    "VaultSession",
    "VaultStore",
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
    """**Protocol:** look up platform registrations and deployments (Ltix ``StorageAdapter``)."""

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

    def store_nonce(self, nonce: str, registration: Registration, *, expires_at: datetime) -> None:
        """Record that *nonce* was issued for *registration*, valid until *expires_at*."""
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


# --------------------------------------------------------------------------- credentials vault
#
# The vault's ports. A store hands out a *session* per unit of work
# (``with store.transaction() as tx``): every repository reached through ``tx``
# commits together or not at all. Rows carry ciphertexts and hashes only; the
# facade (credlti.credentials.Vault) encrypts and decrypts. A SQL adapter maps each
# repository to one table and ``get_for_update`` to ``SELECT ... FOR UPDATE``.


class CredentialRepository(Protocol):
    """**Protocol:** credential rows inside a unit of work."""

    def get(self, credential_id: str) -> CredentialRow | None:
        """Return the row, or ``None``."""
        ...

    def get_for_update(self, credential_id: str) -> CredentialRow | None:
        """Return the row locked until the transaction ends (``SELECT ... FOR UPDATE``)."""
        ...

    def add(self, row: CredentialRow) -> None:
        """Insert the row.

        Raise :class:`~credlti.errors.StorageConflictError` on a duplicate id or a
        duplicate ``(owner_id, name)``.
        """
        ...

    def update(self, row: CredentialRow) -> None:
        """Replace the row with the same id; conflict rules as :meth:`add`."""
        ...

    def delete(self, credential_id: str) -> bool:
        """Delete the row (and, by cascade, its shares, token and transfers); True if it existed."""
        ...

    def find(
        self, *, owner_id: str | None = None, project_id: str | None = None
    ) -> list[CredentialRow]:
        """Rows owned by *owner_id* and/or shared with *project_id*, by ``lower(name)``, id."""
        ...

    def scrub_due(
        self, credential_ids: Sequence[str], *, now: datetime, delete: Collection[str]
    ) -> list[ScrubbedRow]:
        """One purge step for a batch, in the current unit of work (rows locked).

        For each listed credential still scheduled for deletion at or before *now*
        (others are skipped: deleted or cancelled since the scan), delete its OAuth
        token and transfer tokens; then delete it (shares included) if its id is in
        *delete*, or else, if it still had a body or a token, null its body and set
        ``updated_at`` to *now*. Return one :class:`~credlti.credentials.ScrubbedRow`
        per handled credential, in the order of *credential_ids*. SQL adapters do
        this in a few set-based statements per batch.
        """
        ...


class ShareRepository(Protocol):
    """**Protocol:** project shares (Lightning's ``project_credentials``)."""

    def add(self, share: ProjectShare) -> None:
        """Insert; StorageConflictError if the credential is already in that project."""
        ...

    def remove(self, share_id: str) -> bool:
        """Delete one share; True if it existed."""
        ...

    def get(self, share_id: str) -> ProjectShare | None:
        """Return the share, or ``None``."""
        ...

    def for_credential(self, credential_id: str) -> list[ProjectShare]:
        """The credential's shares, oldest first."""
        ...


class OAuthTokenRepository(Protocol):
    """**Protocol:** the OAuth token of each credential (1:1, never shared)."""

    def get(self, credential_id: str) -> OAuthTokenRow | None:
        """Return the token row, or ``None``."""
        ...

    def put(self, row: OAuthTokenRow) -> None:
        """Insert or replace the credential's token unconditionally."""
        ...

    def compare_and_set(self, row: OAuthTokenRow, *, expected_version: int) -> bool:
        """Replace the token only if the stored version is *expected_version* (atomic).

        *row* carries the new version. Returns False, changing nothing, when another
        writer got there first (``UPDATE ... WHERE version = :expected``).
        """
        ...

    def delete(self, credential_id: str) -> bool:
        """Delete the token; True if it existed."""
        ...


class TransferTokenRepository(Protocol):
    """**Protocol:** hashed, single-use transfer tokens."""

    def add(self, row: TransferTokenRow) -> None:
        """Insert a token row."""
        ...

    def for_credential(self, credential_id: str) -> list[TransferTokenRow]:
        """Every token row of the credential."""
        ...

    def delete_for_credential(self, credential_id: str) -> int:
        """Delete every token row of the credential; return how many."""
        ...


class VaultSession(Protocol):
    """**Protocol:** the repositories of one unit of work."""

    @property
    def credentials(self) -> CredentialRepository:
        """Credential rows."""
        ...

    @property
    def shares(self) -> ShareRepository:
        """Project shares."""
        ...

    @property
    def oauth_tokens(self) -> OAuthTokenRepository:
        """OAuth tokens."""
        ...

    @property
    def transfers(self) -> TransferTokenRepository:
        """Transfer tokens."""
        ...


class VaultStore(Protocol):
    """**Protocol:** the vault's storage: units of work, batch scans and named locks."""

    def transaction(self) -> AbstractContextManager[VaultSession]:
        """Open a unit of work: commit when the block exits normally, roll back on error.

        A transaction opened while another is open on the same thread (or context)
        joins it, so facade calls nest (see ``Vault.get_credential_for_update``).
        """
        ...

    def scan_credentials(
        self, *, after_id: str | None, limit: int, due_before: datetime | None = None
    ) -> list[CredentialRow]:
        """Up to *limit* rows with ``id > after_id``, ordered by id (keyset pagination).

        With *due_before*, only rows whose ``scheduled_deletion <= due_before``.
        """
        ...

    def lock(self, key: str, *, timeout: float) -> AbstractContextManager[None]:
        """Hold a named lock (single flight across callers) for the block.

        Raise :class:`~credlti.errors.StorageUnavailableError` after *timeout* seconds.
        """
        ...


class UserDirectory(Protocol):
    """**Protocol:** the host's users and their project memberships."""

    def get_user(self, user_id: str) -> VaultUser | None:
        """Return the user, or ``None``."""
        ...

    def get_user_by_email(self, email: str) -> VaultUser | None:
        """Return the user with this email (compared case-insensitively), or ``None``."""
        ...

    def accessible_projects(self, user_id: str) -> frozenset[str]:
        """Ids of the projects *user_id* may access."""
        ...


class StepActivity(Protocol):
    """**Protocol:** whether credentials were used by runs (blocks purging the row)."""

    def has_activity(self, credential_id: str) -> bool:
        """True if any step used the credential."""
        ...

    def with_activity(self, credential_ids: Sequence[str]) -> set[str]:
        """The subset of *credential_ids* that any step used (one query per batch)."""
        ...


class VaultNotifier(Protocol):
    """**Protocol:** tell people what happened (email, chat...). Called after commit."""

    def transfer_requested(
        self,
        *,
        credential: Credential,
        owner: VaultUser,
        receiver: VaultUser,
        token: str,
        expires_at: datetime,
    ) -> None:
        """Send the owner the confirmation link carrying *token* (the only copy)."""
        ...

    def transfer_completed(
        self, *, credential: Credential, owner: VaultUser, receiver: VaultUser
    ) -> None:
        """Tell both sides the credential changed hands."""
        ...

    def transfer_revoked(
        self, *, credential: Credential, owner: VaultUser, receiver: VaultUser | None
    ) -> None:
        """Tell both sides the pending transfer was revoked."""
        ...

    def deletion_scheduled(
        self, *, credential: Credential, owner: VaultUser | None, purge_at: datetime
    ) -> None:
        """Tell the owner the credential will be purged at *purge_at*."""
        ...


class AuditSink(Protocol):
    """**Protocol:** append-only audit rows (written inside the unit of work)."""

    def record(self, event: AuditEvent) -> None:
        """Append one event; raising aborts the operation."""
        ...

    def events_for(self, credential_id: str) -> list[AuditEvent]:
        """The credential's events, oldest first."""
        ...


class OAuthClientRegistry(Protocol):
    """**Protocol:** the OAuth clients credentials refresh through."""

    def get_client(self, client_id: str) -> OAuthClient | None:
        """Return the client registered under *client_id* (our id), or ``None``."""
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
