"""The vault ports: the credential store and its units of work, users, notifications.

Small :class:`typing.Protocol` classes that adapters satisfy by shape (see
:mod:`credlti.ports` for the rules every adapter follows). Every port ``X`` has an
async twin ``AsyncX`` with the same methods as coroutines, for
:class:`~credlti.credentials.AsyncVault`; context managers become async context
managers and :meth:`AsyncVaultStore.scan_credentials` an async iterator.

Which host ports are async: every port the vault calls during an operation may do IO
(a user table, a step log, a mail relay, an audit table, a client table), so
:class:`~credlti.credentials.AsyncVault` takes the async form of each of them. A host
whose implementation does no IO (or that is content to block briefly, e.g. a notifier
that only queues a message) writes ``async def`` methods that return at once.
:class:`AsyncPendingAuthorizationStore` is not a vault port: it is the twin of
:class:`PendingAuthorizationStore` for hosts that share pending authorizations
through an async client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from credlti.credentials._oauth_records import PendingAuthorization
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

__all__ = [
    "AsyncAuditSink",
    "AsyncCredentialRepository",
    "AsyncOAuthClientRegistry",
    "AsyncOAuthTokenRepository",
    "AsyncPendingAuthorizationStore",
    "AsyncShareRepository",
    "AsyncStepActivity",
    "AsyncTransferTokenRepository",
    "AsyncUserDirectory",
    "AsyncVaultNotifier",
    "AsyncVaultSession",
    "AsyncVaultStore",
    "AuditSink",
    "CredentialRepository",
    "OAuthClientRegistry",
    "OAuthTokenRepository",
    "PendingAuthorizationStore",
    "ShareRepository",
    "StepActivity",
    "TransferTokenRepository",
    "UserDirectory",
    "VaultNotifier",
    "VaultSession",
    "VaultStore",
]


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

    def find_by_name(self, owner_id: str, name: str) -> str | None:
        """The id of the owner's credential named exactly *name*, or ``None``.

        A point lookup (an index on ``(owner_id, name)``): its cost must not grow with
        the number of credentials the owner has. Create and update use it for the
        naming rule.
        """
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
    """**Protocol:** project shares: which projects may use a credential."""

    def add(self, share: ProjectShare) -> None:
        """Insert; StorageConflictError if the credential is already in that project."""
        ...

    def remove(self, share_id: str) -> bool:
        """Delete one share; True if it existed."""
        ...

    def get(self, share_id: str) -> ProjectShare | None:
        """Return the share, or ``None``."""
        ...

    def for_credentials(self, credential_ids: Sequence[str]) -> dict[str, list[ProjectShare]]:
        """The shares of each listed credential, as :meth:`for_credential` orders them.

        Credentials without a share are absent. A listing uses it: a few statements
        for any number of credentials and shares (SQL adapters chunk long id lists).
        """
        ...

    def for_credential(self, credential_id: str) -> list[ProjectShare]:
        """The credential's shares, oldest first."""
        ...


class OAuthTokenRepository(Protocol):
    """**Protocol:** the OAuth token of each credential (1:1, never shared)."""

    def get(self, credential_id: str) -> OAuthTokenRow | None:
        """Return the token row, or ``None``."""
        ...

    def get_many(self, credential_ids: Sequence[str]) -> dict[str, OAuthTokenRow]:
        """The token rows of the listed credentials that have one, by credential id.

        A listing uses it: a few statements for any number of credentials.
        """
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
    """**Protocol:** append-only audit rows (written inside the unit of work).

    Optional, for speed: a sink may also have ``record_purged(credential_ids, *,
    deleted, at)``, appending in one go the ``purged`` event of each credential a
    purge batch handled (``metadata={"deleted": id in deleted}``, no actor, event ids
    chosen by the sink). The vault uses it when the sink has it, and otherwise calls
    :meth:`record` once per event (ids from the vault's ``new_id``); both write the
    same rows. The built-in sinks have it (SQL: one ``INSERT ... SELECT`` per batch).
    """

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


class PendingAuthorizationStore(Protocol):
    """**Protocol:** started OAuth authorizations waiting for their callback.

    Keyed by :attr:`~credlti.credentials.PendingAuthorization.state_hash` (the SHA-256
    of the ``state``, never the state itself). Shared by every worker that may receive
    the callback (a database table, a cache with a TTL, the user's server-side session).
    """

    def put(self, pending: PendingAuthorization) -> None:
        """Keep *pending* until it is taken or :attr:`expires_at` passes."""
        ...

    def take(self, state_hash: str) -> PendingAuthorization | None:
        """Remove and return the record with this key, atomically (single use), or ``None``."""
        ...


# --------------------------------------------------------------------------- async twins
#
# The same ports for AsyncVault: same names, parameters and results, every method a
# coroutine. A store's unit of work is ``async with store.transaction() as tx``.


class AsyncCredentialRepository(Protocol):
    """**Protocol:** async twin of :class:`CredentialRepository`."""

    async def get(self, credential_id: str) -> CredentialRow | None:
        """Return the row, or ``None``."""
        ...

    async def get_for_update(self, credential_id: str) -> CredentialRow | None:
        """Return the row locked until the transaction ends (``SELECT ... FOR UPDATE``)."""
        ...

    async def add(self, row: CredentialRow) -> None:
        """Insert the row (conflicts as :meth:`CredentialRepository.add`)."""
        ...

    async def update(self, row: CredentialRow) -> None:
        """Replace the row with the same id; conflict rules as :meth:`add`."""
        ...

    async def delete(self, credential_id: str) -> bool:
        """Delete the row (and, by cascade, its shares, token and transfers); True if it existed."""
        ...

    async def find_by_name(self, owner_id: str, name: str) -> str | None:
        """The id of the owner's credential named exactly *name*, or ``None`` (a point lookup)."""
        ...

    async def find(
        self, *, owner_id: str | None = None, project_id: str | None = None
    ) -> list[CredentialRow]:
        """Rows owned by *owner_id* and/or shared with *project_id*, by ``lower(name)``, id."""
        ...

    async def scrub_due(
        self, credential_ids: Sequence[str], *, now: datetime, delete: Collection[str]
    ) -> list[ScrubbedRow]:
        """One purge step for a batch, as :meth:`CredentialRepository.scrub_due`."""
        ...


class AsyncShareRepository(Protocol):
    """**Protocol:** async twin of :class:`ShareRepository`."""

    async def add(self, share: ProjectShare) -> None:
        """Insert; StorageConflictError if the credential is already in that project."""
        ...

    async def remove(self, share_id: str) -> bool:
        """Delete one share; True if it existed."""
        ...

    async def get(self, share_id: str) -> ProjectShare | None:
        """Return the share, or ``None``."""
        ...

    async def for_credentials(self, credential_ids: Sequence[str]) -> dict[str, list[ProjectShare]]:
        """The shares of each listed credential (credentials without a share are absent)."""
        ...

    async def for_credential(self, credential_id: str) -> list[ProjectShare]:
        """The credential's shares, oldest first."""
        ...


class AsyncOAuthTokenRepository(Protocol):
    """**Protocol:** async twin of :class:`OAuthTokenRepository`."""

    async def get(self, credential_id: str) -> OAuthTokenRow | None:
        """Return the token row, or ``None``."""
        ...

    async def get_many(self, credential_ids: Sequence[str]) -> dict[str, OAuthTokenRow]:
        """The token rows of the listed credentials that have one, by credential id."""
        ...

    async def put(self, row: OAuthTokenRow) -> None:
        """Insert or replace the credential's token unconditionally."""
        ...

    async def compare_and_set(self, row: OAuthTokenRow, *, expected_version: int) -> bool:
        """Replace the token only if the stored version is *expected_version* (atomic)."""
        ...

    async def delete(self, credential_id: str) -> bool:
        """Delete the token; True if it existed."""
        ...


class AsyncTransferTokenRepository(Protocol):
    """**Protocol:** async twin of :class:`TransferTokenRepository`."""

    async def add(self, row: TransferTokenRow) -> None:
        """Insert a token row."""
        ...

    async def for_credential(self, credential_id: str) -> list[TransferTokenRow]:
        """Every token row of the credential."""
        ...

    async def delete_for_credential(self, credential_id: str) -> int:
        """Delete every token row of the credential; return how many."""
        ...


class AsyncVaultSession(Protocol):
    """**Protocol:** async twin of :class:`VaultSession`: the repositories of one unit of work."""

    @property
    def credentials(self) -> AsyncCredentialRepository:
        """Credential rows."""
        ...

    @property
    def shares(self) -> AsyncShareRepository:
        """Project shares."""
        ...

    @property
    def oauth_tokens(self) -> AsyncOAuthTokenRepository:
        """OAuth tokens."""
        ...

    @property
    def transfers(self) -> AsyncTransferTokenRepository:
        """Transfer tokens."""
        ...


class AsyncVaultStore(Protocol):
    """**Protocol:** async twin of :class:`VaultStore`."""

    def transaction(self) -> AbstractAsyncContextManager[AsyncVaultSession]:
        """Open a unit of work (``async with``): commit on normal exit, roll back on error.

        A transaction opened while another is open in the same task (context) joins it.
        """
        ...

    def scan_credentials(
        self, *, after_id: str | None, limit: int, due_before: datetime | None = None
    ) -> AsyncIterator[CredentialRow]:
        """Up to *limit* rows with ``id > after_id``, ordered by id, one at a time.

        With *due_before*, only rows whose ``scheduled_deletion <= due_before``.
        """
        ...

    def lock(self, key: str, *, timeout: float) -> AbstractAsyncContextManager[None]:
        """Hold a named lock for the ``async with`` block (StorageUnavailableError on timeout)."""
        ...


class AsyncUserDirectory(Protocol):
    """**Protocol:** async twin of :class:`UserDirectory`."""

    async def get_user(self, user_id: str) -> VaultUser | None:
        """Return the user, or ``None``."""
        ...

    async def get_user_by_email(self, email: str) -> VaultUser | None:
        """Return the user with this email (compared case-insensitively), or ``None``."""
        ...

    async def accessible_projects(self, user_id: str) -> frozenset[str]:
        """Ids of the projects *user_id* may access."""
        ...


class AsyncStepActivity(Protocol):
    """**Protocol:** async twin of :class:`StepActivity`."""

    async def has_activity(self, credential_id: str) -> bool:
        """True if any step used the credential."""
        ...

    async def with_activity(self, credential_ids: Sequence[str]) -> set[str]:
        """The subset of *credential_ids* that any step used (one query per batch)."""
        ...


class AsyncVaultNotifier(Protocol):
    """**Protocol:** async twin of :class:`VaultNotifier` (called after commit)."""

    async def transfer_requested(
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

    async def transfer_completed(
        self, *, credential: Credential, owner: VaultUser, receiver: VaultUser
    ) -> None:
        """Tell both sides the credential changed hands."""
        ...

    async def transfer_revoked(
        self, *, credential: Credential, owner: VaultUser, receiver: VaultUser | None
    ) -> None:
        """Tell both sides the pending transfer was revoked."""
        ...

    async def deletion_scheduled(
        self, *, credential: Credential, owner: VaultUser | None, purge_at: datetime
    ) -> None:
        """Tell the owner the credential will be purged at *purge_at*."""
        ...


class AsyncAuditSink(Protocol):
    """**Protocol:** async twin of :class:`AuditSink` (written inside the unit of work).

    It may also have an async ``record_purged``, used as :class:`AuditSink` describes.
    """

    async def record(self, event: AuditEvent) -> None:
        """Append one event; raising aborts the operation."""
        ...

    async def events_for(self, credential_id: str) -> list[AuditEvent]:
        """The credential's events, oldest first."""
        ...


class AsyncOAuthClientRegistry(Protocol):
    """**Protocol:** async twin of :class:`OAuthClientRegistry`."""

    async def get_client(self, client_id: str) -> OAuthClient | None:
        """Return the client registered under *client_id* (our id), or ``None``."""
        ...


class AsyncPendingAuthorizationStore(Protocol):
    """**Protocol:** async twin of :class:`PendingAuthorizationStore`."""

    async def put(self, pending: PendingAuthorization) -> None:
        """Keep *pending* until it is taken or :attr:`expires_at` passes."""
        ...

    async def take(self, state_hash: str) -> PendingAuthorization | None:
        """Remove and return the record with this key, atomically (single use), or ``None``."""
        ...
