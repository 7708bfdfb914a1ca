"""Frozen records of the vault: what the facade returns and what the store ports hold.

Two layers:

- *Public* records (:class:`Credential`, :class:`OAuthToken`) carry decrypted values;
  secrets are ``repr=False``.
- *Row* records (:class:`CredentialRow`, :class:`OAuthTokenRow`, :class:`TransferTokenRow`)
  are what a store persists: ciphertexts and hashes only, one field per column, so a
  SQL adapter maps them one to one.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import attrs

from credlti._http import check_deadline
from credlti.errors import ConfigurationError, FieldError

__all__ = [
    "AuditAction",
    "AuditEvent",
    "BodyLimits",
    "ChangeResult",
    "ClientAuthMethod",
    "Credential",
    "CredentialRow",
    "FieldError",
    "OAuthClient",
    "OAuthToken",
    "OAuthTokenRow",
    "PendingTransfer",
    "ProjectRef",
    "ProjectShare",
    "PurgeResult",
    "ReencryptResult",
    "ScrubbedRow",
    "TransferForm",
    "TransferStatus",
    "TransferTokenRow",
    "VaultConfig",
    "VaultUser",
]


class TransferStatus(str, enum.Enum):
    """Where a credential stands in an ownership transfer."""

    PENDING = "pending"
    COMPLETED = "completed"


class AuditAction(str, enum.Enum):
    """Every event the vault writes to the audit sink."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    ADDED_TO_PROJECT = "added_to_project"
    REMOVED_FROM_PROJECT = "removed_from_project"
    TRANSFER_INITIATED = "transfer_initiated"
    TRANSFER_COMPLETED = "transferred"
    TRANSFER_REVOKED = "transfer_revoked"
    #: The owner asked for a new confirmation link; the previous one stopped working.
    TRANSFER_TOKEN_REISSUED = "transfer_token_reissued"
    DELETION_SCHEDULED = "deletion_scheduled"
    DELETION_CANCELLED = "deletion_cancelled"
    PURGED = "purged"
    TOKEN_REFRESHED = "token_refreshed"
    TOKEN_REFRESH_FAILED = "token_refresh_failed"
    TOKEN_REVOKED = "token_revoked"
    #: A notice after commit failed (the notifier raised); the change itself stands.
    NOTIFICATION_FAILED = "notification_failed"


class ClientAuthMethod(str, enum.Enum):
    """How the vault authenticates to an OAuth token endpoint (RFC 6749 §2.3.1)."""

    #: ``client_id`` and ``client_secret`` in the form body.
    CLIENT_SECRET_POST = "client_secret_post"
    #: HTTP Basic with the URL-encoded client id and secret.
    CLIENT_SECRET_BASIC = "client_secret_basic"
    #: Public client: only ``client_id`` in the form body.
    NONE = "none"


@attrs.frozen(kw_only=True)
class VaultUser:
    """A user as the vault sees it (your user directory returns these)."""

    id: str
    email: str


@attrs.frozen(kw_only=True)
class ProjectRef:
    """A project (workspace, course...) credentials can be shared with."""

    id: str
    name: str = ""


@attrs.frozen(kw_only=True)
class ChangeResult:
    """The outcome of :meth:`~credlti.credentials.Vault.change_credential`.

    ``changes`` holds the normalised (coerced) attributes that would be saved.
    """

    errors: tuple[FieldError, ...] = ()
    changes: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def valid(self) -> bool:
        """True when there are no field errors."""
        return not self.errors

    def errors_for(self, path: str) -> list[str]:
        """The messages for one field path."""
        return [e.message for e in self.errors if e.path == path]


@attrs.frozen(kw_only=True)
class ProjectShare:
    """A credential shared with a project."""

    id: str
    credential_id: str
    project_id: str
    created_at: datetime


@attrs.frozen(kw_only=True)
class OAuthToken:
    """A decrypted OAuth token bound 1:1 to a credential."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str | None = attrs.field(repr=False, default=None)
    token_type: str = "Bearer"
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None
    last_refreshed: datetime
    #: Other fields of the provider's response (``id_token``, ``instance_url``...).
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    #: Optimistic-concurrency version, bumped by every write.
    version: int = 0


@attrs.frozen(kw_only=True)
class Credential:
    """A decrypted credential as returned by the vault."""

    id: str
    name: str
    schema: str
    owner_id: str
    body: Mapping[str, Any] | None = attrs.field(repr=False)
    production: bool = False
    external_id: str | None = None
    transfer_status: TransferStatus | None = None
    scheduled_deletion: datetime | None = None
    oauth_client_id: str | None = None
    oauth_token: OAuthToken | None = None
    shares: tuple[ProjectShare, ...] = ()
    created_at: datetime
    updated_at: datetime

    @property
    def project_ids(self) -> frozenset[str]:
        """The ids of the projects this credential is shared with."""
        return frozenset(s.project_id for s in self.shares)


@attrs.frozen(kw_only=True)
class CredentialRow:
    """A credential as stored: the body is AES-GCM ciphertext (``None`` once purged)."""

    id: str
    name: str
    schema: str
    owner_id: str
    body_ciphertext: bytes | None = attrs.field(repr=False)
    production: bool = False
    external_id: str | None = None
    transfer_status: TransferStatus | None = None
    scheduled_deletion: datetime | None = None
    oauth_client_id: str | None = None
    created_at: datetime
    updated_at: datetime


class ScrubbedRow(NamedTuple):
    """What one purge step did to one credential (see ``CredentialRepository.scrub_due``)."""

    credential_id: str
    #: The credential still had a body or an OAuth token, now gone.
    newly_scrubbed: bool
    #: The credential row itself was deleted.
    deleted: bool


@attrs.frozen(kw_only=True)
class OAuthTokenRow:
    """An OAuth token as stored: one ciphertext holding every secret of the response."""

    credential_id: str
    client_id: str | None
    ciphertext: bytes = attrs.field(repr=False)
    token_type: str = "Bearer"
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None
    last_refreshed: datetime
    version: int = 0


@attrs.frozen(kw_only=True)
class TransferTokenRow:
    """A pending transfer: only the SHA-256 of the emailed token is stored."""

    id: str
    credential_id: str
    owner_id: str
    receiver_id: str
    token_hash: bytes = attrs.field(repr=False)
    created_at: datetime
    expires_at: datetime


@attrs.frozen(kw_only=True)
class PendingTransfer:
    """What :meth:`~credlti.credentials.Vault.initiate_credential_transfer` returns.

    ``token`` is the raw single-use token (also given to the notifier); it is shown
    once and never stored. ``notified`` is False when the notifier failed after the
    transfer committed (audited as ``notification_failed``): deliver ``token``
    yourself, or call :meth:`~credlti.credentials.Vault.reissue_transfer_token`.
    """

    credential_id: str
    owner_id: str
    receiver_id: str
    expires_at: datetime
    token: str = attrs.field(repr=False)
    notified: bool = True


@attrs.frozen(kw_only=True)
class TransferForm:
    """A transfer form: the receiver's email and, once validated, its errors."""

    email: str | None = None
    errors: tuple[FieldError, ...] = ()
    receiver: VaultUser | None = None
    validated: bool = False

    @property
    def valid(self) -> bool:
        """True when the form was validated and has no errors."""
        return self.validated and not self.errors


def _scope_tuple(value: Any) -> tuple[str, ...]:
    """Scopes given as a space- or comma-separated string or a sequence, de-duplicated."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value or ())
    kept: list[str] = []
    lowered: set[str] = set()
    for item in items:
        text = str(item).strip()
        if text and text.lower() not in lowered:
            kept.append(text)
            lowered.add(text.lower())
    return tuple(kept)


def _project_set(value: Any) -> frozenset[str]:
    return frozenset(str(v) for v in (value or ()))


@attrs.frozen(kw_only=True)
class OAuthClient:
    """An OAuth client registered with a provider (what the client registry returns).

    The endpoints and scopes beyond ``token_endpoint`` serve the authorization-code
    flow (:class:`~credlti.credentials.OAuthAuthorizer`); refresh and revocation need
    only the token and revocation endpoints.

    Attributes:
        authorization_endpoint: Where users are sent to grant access (RFC 6749 §3.1).
        userinfo_endpoint: Optional; read with the new access token after the grant.
        mandatory_scopes: Always requested; a grant lacking one is refused
            (:class:`~credlti.errors.MissingScopesError`).
        optional_scopes: Offered to the user; requested only when chosen.
        is_global: Usable in every project; when False only in ``project_ids``.
        project_ids: The projects a non-global client is available in.
    """

    id: str
    client_id: str
    client_secret: str | None = attrs.field(repr=False, default=None)
    token_endpoint: str
    revocation_endpoint: str | None = None
    auth_method: ClientAuthMethod = ClientAuthMethod.CLIENT_SECRET_POST
    name: str = ""
    authorization_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    mandatory_scopes: tuple[str, ...] = attrs.field(default=(), converter=_scope_tuple)
    optional_scopes: tuple[str, ...] = attrs.field(default=(), converter=_scope_tuple)
    is_global: bool = True
    project_ids: frozenset[str] = attrs.field(factory=frozenset, converter=_project_set)

    def available_in(self, project_id: str | None) -> bool:
        """True if the client may be used in *project_id* (``None``: outside any project)."""
        return self.is_global or (project_id is not None and project_id in self.project_ids)


@attrs.frozen(kw_only=True)
class AuditEvent:
    """One audit row. ``changes`` and ``metadata`` never hold secrets."""

    id: str
    action: AuditAction
    credential_id: str
    actor_id: str | None
    at: datetime
    changes: Mapping[str, Any] = attrs.field(factory=dict)
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    item_type: str = "credential"


@attrs.frozen(kw_only=True)
class PurgeResult:
    """True counts of one purge run."""

    scrubbed: int = 0
    deleted: int = 0
    kept: int = 0


@attrs.frozen(kw_only=True)
class ReencryptResult:
    """How many ciphertexts a key rotation rewrote."""

    credentials: int = 0
    tokens: int = 0


@attrs.frozen(kw_only=True)
class BodyLimits:
    """Caps on a credential body (``VaultConfig(body_limits=...)``; defaults documented).

    The same caps apply to the JSON-text form of a body and to the extra fields of
    an ``oauth_token``. Values over a cap are refused with a field error naming the
    path, never the value.

    Attributes:
        max_body_bytes: The body's size as compact UTF-8 JSON.
        max_value_bytes: One text value (a single secret) in UTF-8 bytes.
        max_depth: Nesting of objects and arrays (the body itself is depth 1).
        max_items: Keys plus array items over the whole body.
    """

    max_body_bytes: int = 64 * 1024
    max_value_bytes: int = 16 * 1024
    max_depth: int = 32
    max_items: int = 4096


@attrs.frozen(kw_only=True)
class VaultConfig:
    """Tunables of the vault; every default is safe.

    Attributes:
        purge_deleted_after_days: Grace period before a scheduled deletion is purged;
            ``None`` purges at the next run.
        transfer_token_ttl: How long a transfer confirmation token stays valid.
        refresh_buffer: A token expiring sooner than this is refreshed first.
        http_timeout: Seconds for connecting to a token endpoint, and for each
            read or write of a call.
        http_deadline: Seconds for one whole token-endpoint call (refresh,
            revocation, authorization-code exchange, userinfo), body included: a
            provider that drips its answer byte by byte is cut off after it.
            A positive number; :class:`~credlti.errors.ConfigurationError` otherwise.
        max_response_bytes: Cap on a token-endpoint response body.
        purge_batch_size: Rows per purge (and re-encryption) batch, each one
            transaction (keyset pagination); 10,000 keeps memory and lock times
            bounded (tens of milliseconds per batch on SQLite) while making the
            per-commit and per-scan costs a small part of a purge.
        refresh_lock_timeout: Seconds to wait for another caller's refresh.
        default_token_lifetime: Lifetime assumed when a provider omits the expiry
            (Salesforce omits ``expires_in``); ``None`` refreshes on every use.
        body_limits: Caps on a credential body and on one secret in it
            (:class:`BodyLimits`: 64 KiB body, 16 KiB per value, depth 32, 4096 items).
    """

    purge_deleted_after_days: int | None = None
    transfer_token_ttl: timedelta = timedelta(days=2)
    refresh_buffer: timedelta = timedelta(minutes=5)
    http_timeout: float = 10.0
    http_deadline: float = attrs.field(default=30.0)
    max_response_bytes: int = 64 * 1024
    purge_batch_size: int = 10_000
    refresh_lock_timeout: float = 30.0
    default_token_lifetime: timedelta | None = timedelta(hours=1)
    body_limits: BodyLimits = BodyLimits()

    @http_deadline.validator
    def _check_deadline(self, _attr: attrs.Attribute[Any], value: object) -> None:
        try:
            if value is None:
                raise ValueError  # noqa: TRY301 - one message for every bad value
            check_deadline(value)  # type: ignore[arg-type]
        except ValueError:
            msg = "VaultConfig.http_deadline must be a positive finite number of seconds"
            raise ConfigurationError(msg, details={"field": "http_deadline"}) from None
