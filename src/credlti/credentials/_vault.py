"""The :class:`Vault` facade: the only credentials code that does IO.

Each method reads the clock and randomness once, asks the pure core
(``_changes``, ``_transfer``, ``_deletion``, ``_oauth``, ``_sensitive``, ``_crypto``)
what to do, and performs it through the ports in one unit of work. Audit rows are
written last inside the unit of work (a failing sink aborts it); notifications,
OAuth revocations and other remote calls happen after commit, so nothing external
is done for a change that rolled back.
"""

from __future__ import annotations

import secrets as _secrets
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import attrs
import httpx
from attrs import evolve

from credlti._crypto import NONCE_BYTES, KeyRing, associated_data
from credlti._http import RemoteCallFailed, post_form_sync
from credlti.credentials import _deletion, _oauth, _transfer
from credlti.credentials._changes import DUPLICATE_NAME, validate_changes
from credlti.credentials._records import (
    AuditAction,
    AuditEvent,
    ChangeResult,
    Credential,
    CredentialRow,
    FieldError,
    OAuthClient,
    OAuthToken,
    OAuthTokenRow,
    PendingTransfer,
    ProjectRef,
    ProjectShare,
    PurgeResult,
    ReencryptResult,
    TransferForm,
    TransferStatus,
    VaultConfig,
    VaultUser,
)
from credlti.credentials._schemas import CredentialSchema, SchemaRegistry
from credlti.credentials._sensitive import Scrubber, basic_auth_values, sensitive_values
from credlti.credentials.ports import (
    AuditSink,
    OAuthClientRegistry,
    StepActivity,
    UserDirectory,
    VaultNotifier,
    VaultSession,
    VaultStore,
)
from credlti.errors import (
    ConfigurationError,
    CredentialNotFoundError,
    CredentialValidationError,
    CredltiError,
    OAuthRefreshError,
    ReauthorizationRequiredError,
    StorageConflictError,
    StorageUnavailableError,
)

__all__ = ["Vault"]

Clock = Callable[[], datetime]
_USER_AGENT = "credlti (+https://github.com/credlti/credlti)"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _new_id() -> str:
    return str(uuid.uuid4())


def _id_of(value: Credential | str) -> str:
    return value if isinstance(value, str) else value.id


@attrs.define
class _NullNotifier:
    def transfer_requested(self, **_: Any) -> None:
        return None

    def transfer_completed(self, **_: Any) -> None:
        return None

    def transfer_revoked(self, **_: Any) -> None:
        return None

    def deletion_scheduled(self, **_: Any) -> None:
        return None


@attrs.define
class _NoActivity:
    def has_activity(self, credential_id: str) -> bool:
        return False

    def with_activity(self, credential_ids: Any) -> set[str]:
        return set()


@attrs.define
class _NoClients:
    def get_client(self, client_id: str) -> OAuthClient | None:
        return None


@attrs.define
class _DiscardAudit:
    def record(self, event: AuditEvent) -> None:
        return None

    def events_for(self, credential_id: str) -> list[AuditEvent]:
        return []


@attrs.define(init=False)
class Vault:
    """Stores third-party credentials encrypted, shares them, transfers and purges them.

    Args:
        store: The :class:`~credlti.ports.VaultStore` (e.g. ``MemoryVaultStore()``).
        keyring: The :class:`~credlti.credentials.KeyRing`; its first key encrypts.
        schemas: Body schemas; defaults to the built-ins.
        directory: Users and project memberships; needed for transfers, and when
            given also checks owners and the projects a credential is shared with.
        notifier: Transfer and deletion notices (default: none sent).
        audit: The audit sink (default: events are discarded).
        activity: Step-activity lookup used by the purge (default: no activity).
        oauth_clients: OAuth clients for token refresh and revocation.
        http_client: The ``httpx.Client`` for token endpoints (default: a private one
            with timeouts).
        clock: Returns the current aware datetime.
        random_bytes: ``n -> n random bytes`` (nonces, tokens); injectable for tests.
        new_id: Makes record ids (default: UUID4 text).
        config: A :class:`~credlti.credentials.VaultConfig`.
    """

    _store: VaultStore
    _keyring: KeyRing = attrs.field(repr=False)
    schemas: SchemaRegistry
    directory: UserDirectory | None
    _notifier: VaultNotifier
    audit: AuditSink
    _activity: StepActivity
    _clients: OAuthClientRegistry
    _http: httpx.Client = attrs.field(repr=False)
    _owns_http: bool
    _clock: Clock
    _random: Callable[[int], bytes] = attrs.field(repr=False)
    _new_id: Callable[[], str]
    config: VaultConfig

    def __init__(
        self,
        *,
        store: VaultStore,
        keyring: KeyRing,
        schemas: SchemaRegistry | None = None,
        directory: UserDirectory | None = None,
        notifier: VaultNotifier | None = None,
        audit: AuditSink | None = None,
        activity: StepActivity | None = None,
        oauth_clients: OAuthClientRegistry | None = None,
        http_client: httpx.Client | None = None,
        clock: Clock = _utc_now,
        random_bytes: Callable[[int], bytes] = _secrets.token_bytes,
        new_id: Callable[[], str] = _new_id,
        config: VaultConfig | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self.schemas = schemas if schemas is not None else SchemaRegistry()
        self.directory = directory
        self._notifier = notifier if notifier is not None else _NullNotifier()
        self.audit = audit if audit is not None else _DiscardAudit()
        self._activity = activity if activity is not None else _NoActivity()
        self._clients = oauth_clients if oauth_clients is not None else _NoClients()
        self.config = config if config is not None else VaultConfig()
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=self.config.http_timeout, headers={"User-Agent": _USER_AGENT}
        )
        self._clock = clock
        self._random = random_bytes
        self._new_id = new_id

    def close(self) -> None:
        """Close the HTTP client if the vault created it."""
        if self._owns_http:
            self._http.close()

    # ================================================================ plumbing

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            msg = "the vault's clock must return timezone-aware datetimes"
            raise ConfigurationError(msg)
        return now

    @contextmanager
    def _tx(self) -> Iterator[VaultSession]:
        # Failures to open or commit the unit of work become StorageUnavailableError;
        # an exception from the block itself passes through unchanged (after rollback).
        in_body = False
        try:
            with self._store.transaction() as tx:
                in_body = True
                yield tx
                in_body = False
        except CredltiError:
            raise
        except Exception as exc:
            if in_body:
                raise
            msg = f"the vault store failed with {type(exc).__name__}; nothing was changed"
            raise StorageUnavailableError(msg) from exc

    def _seal(self, value: Any, kind: str, record_id: str, field: str) -> bytes:
        return self._keyring.encrypt_json(
            value, associated_data(kind, record_id, field), nonce=self._random(NONCE_BYTES)
        )

    def _open(self, ciphertext: bytes, kind: str, record_id: str, field: str) -> Any:
        return self._keyring.decrypt_json(ciphertext, associated_data(kind, record_id, field))

    def _token_row(
        self, credential_id: str, client_id: str | None, token: OAuthToken
    ) -> OAuthTokenRow:
        secret = {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "extra": dict(token.extra),
        }
        return OAuthTokenRow(
            credential_id=credential_id,
            client_id=client_id,
            ciphertext=self._seal(secret, "oauth_token", credential_id, "secrets"),
            token_type=token.token_type,
            scopes=token.scopes,
            expires_at=token.expires_at,
            last_refreshed=token.last_refreshed,
            version=token.version,
        )

    def _token(self, row: OAuthTokenRow) -> OAuthToken:
        secret = self._open(row.ciphertext, "oauth_token", row.credential_id, "secrets")
        return OAuthToken(
            access_token=secret["access_token"],
            refresh_token=secret.get("refresh_token"),
            token_type=row.token_type,
            scopes=row.scopes,
            expires_at=row.expires_at,
            last_refreshed=row.last_refreshed,
            extra=secret.get("extra") or {},
            version=row.version,
        )

    def _load(self, tx: VaultSession, row: CredentialRow) -> Credential:
        body = None
        if row.body_ciphertext is not None:
            body = self._open(row.body_ciphertext, "credential", row.id, "body")
        token_row = tx.oauth_tokens.get(row.id)
        return Credential(
            id=row.id,
            name=row.name,
            schema=row.schema,
            owner_id=row.owner_id,
            body=body,
            production=row.production,
            external_id=row.external_id,
            transfer_status=row.transfer_status,
            scheduled_deletion=row.scheduled_deletion,
            oauth_client_id=row.oauth_client_id,
            oauth_token=self._token(token_row) if token_row else None,
            shares=tuple(tx.shares.for_credential(row.id)),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _locked(self, tx: VaultSession, credential_id: str) -> CredentialRow:
        row = tx.credentials.get_for_update(credential_id)
        if row is None:
            raise CredentialNotFoundError(
                "no credential with this id; it may have been deleted or purged",
                details={"credential_id": credential_id},
            )
        return row

    def _event(
        self,
        action: AuditAction,
        credential_id: str,
        actor_id: str | None,
        now: datetime,
        *,
        changes: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        return AuditEvent(
            id=self._new_id(),
            action=action,
            credential_id=credential_id,
            actor_id=actor_id,
            at=now,
            changes=dict(changes or {}),
            metadata=dict(metadata or {}),
        )

    def _record(self, events: list[AuditEvent]) -> None:
        for event in events:
            self.audit.record(event)

    def _need_directory(self) -> UserDirectory:
        if self.directory is None:
            msg = "this operation needs a user directory: pass directory= to the Vault"
            raise ConfigurationError(msg)
        return self.directory

    def _sync_shares(
        self,
        tx: VaultSession,
        credential_id: str,
        wanted: frozenset[str],
        actor_id: str | None,
        now: datetime,
        events: list[AuditEvent],
    ) -> None:
        current = {s.project_id: s for s in tx.shares.for_credential(credential_id)}
        for project_id in sorted(set(current) - wanted):
            tx.shares.remove(current[project_id].id)
            events.append(
                self._event(
                    AuditAction.REMOVED_FROM_PROJECT,
                    credential_id,
                    actor_id,
                    now,
                    changes={"before": {"project_id": project_id}, "after": {"project_id": None}},
                )
            )
        for project_id in sorted(wanted - set(current)):
            tx.shares.add(
                ProjectShare(
                    id=self._new_id(),
                    credential_id=credential_id,
                    project_id=project_id,
                    created_at=now,
                )
            )
            events.append(
                self._event(
                    AuditAction.ADDED_TO_PROJECT,
                    credential_id,
                    actor_id,
                    now,
                    changes={"before": {"project_id": None}, "after": {"project_id": project_id}},
                )
            )

    # ================================================================ changes

    def _check(
        self, tx: VaultSession, existing: Credential | None, attrs_: Mapping[Any, Any]
    ) -> tuple[dict[str, Any], tuple[FieldError, ...]]:
        changes, errors = validate_changes(
            existing,
            attrs_,
            self.schemas,
            self._now(),
            default_token_lifetime=self.config.default_token_lifetime,
        )
        extra: list[FieldError] = []
        owner_id = existing.owner_id if existing else changes.get("owner_id")
        name = changes.get("name")
        if owner_id and name and not any(e.path == "name" for e in errors):
            for row in tx.credentials.find(owner_id=owner_id):
                if row.name == name and (existing is None or row.id != existing.id):
                    extra.append(FieldError(path="name", message=DUPLICATE_NAME))
                    break
        if self.directory is not None and owner_id:
            if existing is None and self.directory.get_user(owner_id) is None:
                extra.append(FieldError(path="owner_id", message="does not exist"))
            new_projects = changes.get("project_ids", frozenset()) - (
                existing.project_ids if existing else frozenset()
            )
            if new_projects:
                allowed = self.directory.accessible_projects(owner_id)
                extra.extend(
                    FieldError(
                        path="project_ids",
                        message=f"the owner has no access to project {project_id}",
                    )
                    for project_id in sorted(new_projects - allowed)
                )
        return changes, errors + tuple(extra)

    def change_credential(
        self, credential: Credential | None = None, attrs: Mapping[Any, Any] | None = None
    ) -> ChangeResult:
        """Validate *attrs* for a new credential (*credential* None) or an update.

        Nothing is saved. Returns a :class:`ChangeResult` listing every field error
        (schema errors name the body path, e.g. ``body.port``) and the normalised
        changes that would be saved.
        """
        with self._tx() as tx:
            changes, errors = self._check(tx, credential, attrs or {})
        return ChangeResult(errors=errors, changes=changes)

    def create_credential(
        self, attrs: Mapping[Any, Any], *, actor_id: str | None = None
    ) -> Credential:
        """Create a credential (and, for ``schema="oauth"``, its 1:1 OAuth token).

        Args:
            attrs: ``name``, ``schema``, ``owner_id`` (or ``user_id``), ``body``
                (mapping or JSON text), optional ``production``, ``external_id``,
                ``project_ids``; for OAuth ``oauth_client_id``, ``oauth_token`` and
                ``expected_scopes``.
            actor_id: Who is acting, for the audit (default: the owner).

        Raises:
            CredentialValidationError: With the same ``field_errors`` that
                :meth:`change_credential` lists.
        """
        now = self._now()
        with self._tx() as tx:
            changes, errors = self._check(tx, None, attrs)
            if errors:
                raise CredentialValidationError(
                    "the credential is invalid; fix the listed fields", field_errors=errors
                )
            credential_id = self._new_id()
            owner_id = changes["owner_id"]
            actor = actor_id or owner_id
            row = CredentialRow(
                id=credential_id,
                name=changes["name"],
                schema=changes["schema"],
                owner_id=owner_id,
                body_ciphertext=self._seal(changes["body"], "credential", credential_id, "body"),
                production=changes.get("production", False),
                external_id=changes.get("external_id"),
                oauth_client_id=changes.get("oauth_client_id"),
                created_at=now,
                updated_at=now,
            )
            self._insert(tx, row)
            events = [
                self._event(
                    AuditAction.CREATED,
                    credential_id,
                    actor,
                    now,
                    changes={"before": None, "after": _public_fields(row)},
                )
            ]
            self._sync_shares(
                tx, credential_id, changes.get("project_ids", frozenset()), actor, now, events
            )
            if "oauth_token" in changes:
                token = evolve(changes["oauth_token"], version=1)
                tx.oauth_tokens.put(self._token_row(credential_id, row.oauth_client_id, token))
            self._record(events)
            return self._load(tx, row)

    def _insert(self, tx: VaultSession, row: CredentialRow) -> None:
        try:
            tx.credentials.add(row)
        except StorageConflictError as exc:
            raise _name_conflict() from exc

    def _replace(self, tx: VaultSession, row: CredentialRow) -> None:
        try:
            tx.credentials.update(row)
        except StorageConflictError as exc:
            raise _name_conflict() from exc

    def update_credential(
        self,
        credential: Credential | str,
        attrs: Mapping[Any, Any],
        *,
        actor_id: str | None = None,
    ) -> Credential:
        """Update a credential; ``project_ids`` replaces the set of shares.

        For OAuth credentials an ``oauth_token`` replaces the token, keeping the stored
        refresh token when the new one has none.

        Raises:
            CredentialNotFoundError: The credential does not exist.
            CredentialValidationError: With the failing fields.
        """
        now = self._now()
        with self._tx() as tx:
            row = self._locked(tx, _id_of(credential))
            existing = self._load(tx, row)
            changes, errors = self._check(tx, existing, attrs)
            if errors:
                raise CredentialValidationError(
                    "the credential update is invalid; fix the listed fields", field_errors=errors
                )
            actor = actor_id or row.owner_id
            new = evolve(
                row,
                name=changes.get("name", row.name),
                production=changes.get("production", row.production),
                external_id=changes.get("external_id", row.external_id),
                oauth_client_id=changes.get("oauth_client_id", row.oauth_client_id),
                updated_at=now,
            )
            if "body" in changes:
                new = evolve(
                    new, body_ciphertext=self._seal(changes["body"], "credential", row.id, "body")
                )
            self._replace(tx, new)
            before, after = _public_fields(row), _public_fields(new)
            diff = {k for k in after if before[k] != after[k]}
            if "body" in changes and changes["body"] != existing.body:
                diff.add("body")
            events = []
            if diff:
                events.append(
                    self._event(
                        AuditAction.UPDATED,
                        row.id,
                        actor,
                        now,
                        changes={
                            "before": {k: before.get(k, "[encrypted]") for k in sorted(diff)},
                            "after": {k: after.get(k, "[encrypted]") for k in sorted(diff)},
                        },
                    )
                )
            if "project_ids" in changes:
                self._sync_shares(tx, row.id, changes["project_ids"], actor, now, events)
            if "oauth_token" in changes:
                old_version = existing.oauth_token.version if existing.oauth_token else 0
                token = evolve(changes["oauth_token"], version=old_version + 1)
                tx.oauth_tokens.put(self._token_row(row.id, new.oauth_client_id, token))
            self._record(events)
            return self._load(tx, new)

    def delete_credential(
        self, credential: Credential | str, *, actor_id: str | None = None
    ) -> Credential:
        """Delete a credential now, with its shares, OAuth token and transfer tokens.

        Returns the credential as it was. The OAuth token is revoked at the provider
        after commit (best effort, audited).
        """
        now = self._now()
        with self._tx() as tx:
            row = self._locked(tx, _id_of(credential))
            gone = self._load(tx, row)
            tx.credentials.delete(row.id)
            self._record([self._event(AuditAction.DELETED, row.id, actor_id or row.owner_id, now)])
        self._revoke_oauth(gone, actor_id or gone.owner_id)
        return gone

    # ================================================================ reads

    def get_credential(self, credential_id: str) -> Credential | None:
        """Return the credential (decrypted, with shares and token), or ``None``."""
        with self._tx() as tx:
            row = tx.credentials.get(credential_id)
            return self._load(tx, row) if row else None

    def get_credential_or_raise(self, credential_id: str) -> Credential:
        """Like :meth:`get_credential` but raise CredentialNotFoundError (``get_credential!``)."""
        found = self.get_credential(credential_id)
        if found is None:
            raise CredentialNotFoundError(
                "no credential with this id", details={"credential_id": credential_id}
            )
        return found

    @contextmanager
    def get_credential_for_update(self, credential_id: str) -> Iterator[Credential]:
        """Lock the credential's row for the ``with`` block and yield it.

        Vault calls made inside the block join its unit of work, so a read-modify-write
        is atomic::

            with vault.get_credential_for_update(cid) as cred:
                vault.update_credential(cred, {"name": cred.name + " old"})
        """
        with self._tx() as tx:
            yield self._load(tx, self._locked(tx, credential_id))

    def get_credential_by_project_credential(self, project_credential_id: str) -> Credential | None:
        """The credential behind a project share id, or ``None``."""
        with self._tx() as tx:
            share = tx.shares.get(project_credential_id)
            row = tx.credentials.get(share.credential_id) if share else None
            return self._load(tx, row) if row else None

    def get_schema(self, name: str) -> CredentialSchema:
        """Return the schema *name* (raises SchemaNotFoundError)."""
        return self.schemas.get(name)

    def has_activity_in_projects(self, credential: Credential | str) -> bool:
        """True if any step (run) used the credential."""
        return self._activity.has_activity(_id_of(credential))

    def list_credentials(self, project_or_user: ProjectRef | VaultUser) -> list[Credential]:
        """Credentials shared with a project, or owned by a user, ordered by name."""
        with self._tx() as tx:
            if isinstance(project_or_user, ProjectRef):
                rows = tx.credentials.find(project_id=project_or_user.id)
            else:
                rows = tx.credentials.find(owner_id=project_or_user.id)
            return [self._load(tx, r) for r in rows]

    def list_user_credentials_in_project(
        self, user: VaultUser, project: ProjectRef
    ) -> list[Credential]:
        """Credentials owned by *user* and shared with *project*, ordered by name."""
        with self._tx() as tx:
            rows = tx.credentials.find(owner_id=user.id, project_id=project.id)
            return [self._load(tx, r) for r in rows]

    # ================================================================ secrets

    def _resolve(self, credential: Credential | str | None) -> Credential | None:
        if credential is None or isinstance(credential, Credential):
            return credential
        return self.get_credential_or_raise(credential)

    def basic_auth_for(self, credential: Credential | str | None) -> list[str]:
        """Base64 ``login:password`` strings of the body (any depth); ``[]`` for None."""
        found = self._resolve(credential)
        return basic_auth_values(found.body) if found and found.body else []

    def sensitive_values_for(self, credential: Credential | str | None) -> list[str]:
        """Every secret of the credential: body leaves (minus safe keys) and OAuth tokens."""
        found = self._resolve(credential)
        if found is None:
            return []
        values = sensitive_values(found.body) if found.body else []
        token = found.oauth_token
        if token is not None:
            extra = [token.access_token, token.refresh_token, *sensitive_values(token.extra)]
            values += [v for v in extra if v and v not in values]
        return values

    def scrubber_for(self, *credentials: Credential | str) -> Scrubber:
        """A :class:`Scrubber` masking the secrets of every given credential."""
        scrubber = Scrubber()
        for credential in credentials:
            scrubber.add(
                self.sensitive_values_for(credential), basic_auth=self.basic_auth_for(credential)
            )
        return scrubber

    # ================================================================ OAuth

    def maybe_refresh_token(
        self, credential: Credential | str, *, actor_id: str | None = None
    ) -> Credential:
        """Return the credential with a fresh OAuth token, refreshing it if needed.

        Non-OAuth credentials, and OAuth ones without a token or client, come back
        unchanged. Concurrent callers for one credential make one HTTP request: the
        refresh runs under the store's named lock and re-reads the token first, and
        the write is a compare-and-set on the token version.

        Raises:
            ReauthorizationRequiredError: The provider rejected the refresh token.
            TemporaryRefreshError: Provider or network trouble; see ``retry_after``.
        """
        current = self._resolve(credential)
        assert current is not None  # noqa: S101 - _resolve raises for a missing id
        buffer = self.config.refresh_buffer
        if current.schema != "oauth" or current.oauth_client_id is None:
            return current
        if _oauth.is_fresh(current.oauth_token, self._now(), buffer):
            return current
        client = self._clients.get_client(current.oauth_client_id)
        if client is None:
            return current
        with self._store.lock(
            f"oauth-refresh:{current.id}", timeout=self.config.refresh_lock_timeout
        ):
            latest = self.get_credential_or_raise(current.id)
            token = latest.oauth_token
            now = self._now()
            if token is None or _oauth.is_fresh(token, now, buffer):
                return latest
            actor = actor_id or latest.owner_id
            try:
                fresh = self._refresh(client, token, now)
            except OAuthRefreshError as exc:
                with self._tx():
                    self._record(
                        [
                            self._event(
                                AuditAction.TOKEN_REFRESH_FAILED,
                                latest.id,
                                actor,
                                now,
                                metadata={
                                    "client_id": client.id,
                                    "error_type": exc.code,
                                    "status": exc.details.get("status"),
                                    "retry_after": exc.retry_after,
                                },
                            )
                        ]
                    )
                raise
            with self._tx() as tx:
                new_row = self._token_row(
                    latest.id, latest.oauth_client_id, evolve(fresh, version=token.version + 1)
                )
                if tx.oauth_tokens.compare_and_set(new_row, expected_version=token.version):
                    self._record(
                        [
                            self._event(
                                AuditAction.TOKEN_REFRESHED,
                                latest.id,
                                actor,
                                now,
                                metadata={
                                    "client_id": client.id,
                                    "scopes": list(fresh.scopes),
                                    "token_type": fresh.token_type,
                                    "expires_at": fresh.expires_at.isoformat()
                                    if fresh.expires_at
                                    else None,
                                },
                            )
                        ]
                    )
                row = self._locked(tx, latest.id)
                return self._load(tx, row)

    def _refresh(self, client: OAuthClient, token: OAuthToken, now: datetime) -> OAuthToken:
        if not token.refresh_token:
            raise ReauthorizationRequiredError(
                "the stored token has no refresh token; ask the owner to reauthorize",
                details={"status": None, "error": "no_refresh_token"},
            )
        headers, form = _oauth.build_refresh_request(client, token.refresh_token)
        try:
            response = post_form_sync(
                self._http,
                client.token_endpoint,
                data=form,
                headers=headers,
                timeout=self.config.http_timeout,
                max_bytes=self.config.max_response_bytes,
            )
        except RemoteCallFailed as exc:
            raise _oauth.classify_failure(None, b"", None, now, reason=exc.reason) from None
        return _oauth.parse_token_response(
            response.status_code,
            response.body,
            response.headers.get("retry-after"),
            token,
            now,
            default_lifetime=self.config.default_token_lifetime,
        )

    def _revoke_oauth(self, credential: Credential, actor_id: str | None) -> None:
        token = credential.oauth_token
        if token is None or credential.oauth_client_id is None:
            return
        client = self._clients.get_client(credential.oauth_client_id)
        if client is None or not client.revocation_endpoint:
            return
        now = self._now()
        ok = False
        for value, hint in (
            (token.refresh_token, "refresh_token"),
            (token.access_token, "access_token"),
        ):
            if not value:
                continue
            headers, form = _oauth.build_refresh_request(client, value)
            form.pop("grant_type")
            form.pop("refresh_token")
            form.update(token=value, token_type_hint=hint)
            try:
                response = post_form_sync(
                    self._http,
                    client.revocation_endpoint,
                    data=form,
                    headers=headers,
                    timeout=self.config.http_timeout,
                    max_bytes=self.config.max_response_bytes,
                )
            except RemoteCallFailed:
                continue
            ok = ok or response.status_code in {200, 204}
        try:
            with self._tx():
                self._record(
                    [
                        self._event(
                            AuditAction.TOKEN_REVOKED,
                            credential.id,
                            actor_id,
                            now,
                            metadata={"client_id": client.id, "success": ok},
                        )
                    ]
                )
        except CredltiError:
            pass  # revocation is best effort and must not undo the committed change

    # ================================================================ deletion

    def schedule_credential_deletion(
        self, credential: Credential | str, *, actor_id: str | None = None
    ) -> Credential:
        """Schedule a purge after ``config.purge_deleted_after_days`` (None: next purge).

        In one unit of work: sets ``scheduled_deletion``, removes every project share,
        cancels a pending transfer; then, after commit, revokes the OAuth token at the
        provider and notifies the owner.
        """
        now = self._now()
        with self._tx() as tx:
            row = self._locked(tx, _id_of(credential))
            actor = actor_id or row.owner_id
            purge_at = _deletion.deletion_date(now, self.config.purge_deleted_after_days)
            events: list[AuditEvent] = []
            self._sync_shares(tx, row.id, frozenset(), actor, now, events)
            status = row.transfer_status
            if status is TransferStatus.PENDING:
                tx.transfers.delete_for_credential(row.id)
                status = None
            new = evolve(row, scheduled_deletion=purge_at, transfer_status=status, updated_at=now)
            self._replace(tx, new)
            events.append(
                self._event(
                    AuditAction.DELETION_SCHEDULED,
                    row.id,
                    actor,
                    now,
                    metadata={"purge_at": purge_at.isoformat()},
                )
            )
            self._record(events)
            result = self._load(tx, new)
        self._revoke_oauth(result, actor)
        owner = self.directory.get_user(result.owner_id) if self.directory else None
        self._notifier.deletion_scheduled(credential=result, owner=owner, purge_at=purge_at)
        return result

    def cancel_scheduled_deletion(
        self, credential_id: str, *, actor_id: str | None = None
    ) -> Credential:
        """Cancel a scheduled deletion (project shares are not restored)."""
        now = self._now()
        with self._tx() as tx:
            row = self._locked(tx, credential_id)
            new = evolve(row, scheduled_deletion=None, updated_at=now)
            self._replace(tx, new)
            if row.scheduled_deletion is not None:
                self._record(
                    [
                        self._event(
                            AuditAction.DELETION_CANCELLED, row.id, actor_id or row.owner_id, now
                        )
                    ]
                )
            return self._load(tx, new)

    def purge_deleted(self, *, batch_size: int | None = None) -> PurgeResult:
        """Purge credentials whose scheduled deletion is due.

        Every due credential loses its body, OAuth token and transfer tokens; those
        without step activity are then deleted, the others kept (scrubbed) for the
        audit trail and deleted by a later run once their activity is gone. Works in
        keyset-paginated batches of ``batch_size`` rows, so memory stays bounded.

        Returns:
            True counts: rows newly scrubbed, deleted, and kept.
        """
        size = batch_size or self.config.purge_batch_size
        now = self._now()
        after: str | None = None
        scrubbed = deleted = kept = 0
        while True:
            rows = self._store.scan_credentials(after_id=after, limit=size, due_before=now)
            if not rows:
                break
            after = rows[-1].id
            plan = _deletion.plan_purge(
                rows, now, self._activity.with_activity([r.id for r in rows])
            )
            with self._tx() as tx:
                # Rows deleted or cancelled since the scan are skipped by the store.
                handled = tx.credentials.scrub_due(plan.scrub, now=now, delete=set(plan.delete))
                events: list[AuditEvent] = []
                for row in handled:
                    scrubbed += row.newly_scrubbed
                    deleted += row.deleted
                    kept += not row.deleted
                    if row.newly_scrubbed or row.deleted:
                        events.append(
                            self._event(
                                AuditAction.PURGED,
                                row.credential_id,
                                None,
                                now,
                                metadata={"deleted": row.deleted},
                            )
                        )
                self._record(events)
        return PurgeResult(scrubbed=scrubbed, deleted=deleted, kept=kept)

    # ================================================================ transfer

    def credential_transfer_changeset(self, email: str | None = None) -> TransferForm:
        """An unvalidated transfer form holding the receiver's email."""
        return TransferForm(email=email)

    def validate_credential_transfer(
        self, form: TransferForm, sender: VaultUser, credential: Credential
    ) -> TransferForm:
        """Validate the form: email format, not the sender, user exists, project access."""
        directory = self._need_directory()
        receiver = None
        projects: frozenset[str] = frozenset()
        if not _transfer.check_email(form.email):
            receiver = directory.get_user_by_email((form.email or "").strip())
            if receiver is not None:
                projects = directory.accessible_projects(receiver.id)
        return _transfer.validate_transfer_form(form, sender, credential, receiver, projects)

    def initiate_credential_transfer(
        self, owner: VaultUser, receiver: VaultUser, credential: Credential | str
    ) -> PendingTransfer:
        """Start transferring *credential* from *owner* to *receiver*.

        Marks it pending, stores the hash of a fresh single-use token (32 random
        bytes) bound to credential, owner and receiver, replacing earlier tokens of
        this credential, then sends the owner the confirmation link.

        Raises:
            CredentialNotFoundError / UserNotFoundError: Seed ``:not_found``.
            NotOwnerError: *owner* does not own it.
            TransferNotAllowedError: Self-transfer, scheduled deletion, or missing
                project access.
        """
        directory = self._need_directory()
        now = self._now()
        found_receiver = directory.get_user(receiver.id)
        with self._tx() as tx:
            row = tx.credentials.get_for_update(_id_of(credential))
            current = self._load(tx, row) if row else None
            checked = _transfer.check_initiate(
                current,
                owner,
                found_receiver,
                directory.accessible_projects(receiver.id) if found_receiver else (),
            )
            assert row is not None  # noqa: S101 - check_initiate raised otherwise
            assert found_receiver is not None  # noqa: S101
            token = _transfer.encode_token(self._random(_transfer.TOKEN_BYTES))
            tx.transfers.delete_for_credential(row.id)
            transfer_row = _transfer.new_transfer_row(
                row_id=self._new_id(),
                credential=checked,
                receiver=found_receiver,
                token=token,
                now=now,
                ttl=self.config.transfer_token_ttl,
            )
            tx.transfers.add(transfer_row)
            new = evolve(row, transfer_status=TransferStatus.PENDING, updated_at=now)
            self._replace(tx, new)
            self._record(
                [
                    self._event(
                        AuditAction.TRANSFER_INITIATED,
                        row.id,
                        owner.id,
                        now,
                        metadata={"receiver_id": found_receiver.id},
                    )
                ]
            )
            result = self._load(tx, new)
        self._notifier.transfer_requested(
            credential=result,
            owner=owner,
            receiver=found_receiver,
            token=token,
            expires_at=transfer_row.expires_at,
        )
        return PendingTransfer(
            credential_id=row.id,
            owner_id=owner.id,
            receiver_id=found_receiver.id,
            expires_at=transfer_row.expires_at,
            token=token,
        )

    def confirm_transfer(
        self, credential_id: str, receiver_id: str, owner_id: str, token: str
    ) -> Credential:
        """Complete a transfer: verify the token, move ownership, keep the shares.

        One unit of work: ownership changes, status becomes completed, every transfer
        token of the credential is deleted and the audit row written; both users are
        notified after commit.

        Raises:
            CredentialNotFoundError / UserNotFoundError: Seed ``:not_found``.
            TransferTokenError: Seed ``:token_error`` (unknown, used, expired, other receiver).
            NotOwnerError: Seed ``:not_owner``.
            NotPendingError: The transfer was revoked or completed.
            TransferNotAllowedError: The receiver lost access to a shared project, or
                already owns a credential with this name.
        """
        directory = self._need_directory()
        now = self._now()
        receiver = directory.get_user(receiver_id)
        with self._tx() as tx:
            row = tx.credentials.get_for_update(credential_id)
            current = self._load(tx, row) if row else None
            _transfer.check_confirm(
                current,
                receiver,
                owner_id,
                token,
                tx.transfers.for_credential(credential_id) if row else (),
                directory.accessible_projects(receiver_id) if receiver else (),
                now,
            )
            assert row is not None  # noqa: S101 - check_confirm raised otherwise
            assert receiver is not None  # noqa: S101
            new = evolve(
                row,
                owner_id=receiver.id,
                transfer_status=TransferStatus.COMPLETED,
                updated_at=now,
            )
            try:
                tx.credentials.update(new)
            except StorageConflictError as exc:
                error = FieldError(
                    path="name", message="the receiver already has a credential with this name"
                )
                raise CredentialValidationError(
                    "rename the credential before transferring it", field_errors=(error,)
                ) from exc
            tx.transfers.delete_for_credential(row.id)
            self._record(
                [
                    self._event(
                        AuditAction.TRANSFER_COMPLETED,
                        row.id,
                        owner_id,
                        now,
                        changes={
                            "before": {"owner_id": owner_id},
                            "after": {"owner_id": receiver.id},
                        },
                    )
                ]
            )
            result = self._load(tx, new)
        owner = directory.get_user(owner_id) or VaultUser(id=owner_id, email="")
        self._notifier.transfer_completed(credential=result, owner=owner, receiver=receiver)
        return result

    def revoke_transfer(self, credential_id: str, owner: VaultUser | str) -> Credential:
        """Revoke a pending transfer (owner only).

        Raises:
            CredentialNotFoundError: Seed ``:not_found``.
            NotOwnerError: Seed ``:not_owner``.
            NotPendingError: Seed ``:not_pending``.
        """
        owner_id = owner if isinstance(owner, str) else owner.id
        now = self._now()
        with self._tx() as tx:
            row = tx.credentials.get_for_update(credential_id)
            _transfer.check_revoke(self._load(tx, row) if row else None, owner_id)
            assert row is not None  # noqa: S101 - check_revoke raised otherwise
            receivers = {t.receiver_id for t in tx.transfers.for_credential(row.id)}
            tx.transfers.delete_for_credential(row.id)
            new = evolve(row, transfer_status=None, updated_at=now)
            self._replace(tx, new)
            self._record(
                [
                    self._event(
                        AuditAction.TRANSFER_REVOKED,
                        row.id,
                        owner_id,
                        now,
                        metadata={"receiver_ids": sorted(receivers)},
                    )
                ]
            )
            result = self._load(tx, new)
        if self.directory is not None:
            owner_user = self.directory.get_user(owner_id) or VaultUser(id=owner_id, email="")
            receiver = self.directory.get_user(min(receivers)) if receivers else None
            self._notifier.transfer_revoked(credential=result, owner=owner_user, receiver=receiver)
        return result

    # ================================================================ keys

    def reencrypt(self, *, batch_size: int | None = None) -> ReencryptResult:
        """Rewrite every ciphertext not made with the primary key (key rotation).

        After it returns, older keys can be removed from the ring.
        """
        size = batch_size or self.config.purge_batch_size
        primary = self._keyring.primary_id
        after: str | None = None
        bodies = tokens = 0
        while True:
            rows = self._store.scan_credentials(after_id=after, limit=size)
            if not rows:
                break
            after = rows[-1].id
            with self._tx() as tx:
                for scanned in rows:
                    row = tx.credentials.get_for_update(scanned.id)
                    if row is None:
                        continue
                    blob = row.body_ciphertext
                    if blob is not None and self._keyring.key_id_of(blob) != primary:
                        body = self._open(blob, "credential", row.id, "body")
                        tx.credentials.update(
                            evolve(
                                row, body_ciphertext=self._seal(body, "credential", row.id, "body")
                            )
                        )
                        bodies += 1
                    token_row = tx.oauth_tokens.get(row.id)
                    if token_row and self._keyring.key_id_of(token_row.ciphertext) != primary:
                        token = self._token(token_row)
                        tx.oauth_tokens.put(self._token_row(row.id, token_row.client_id, token))
                        tokens += 1
        return ReencryptResult(credentials=bodies, tokens=tokens)


def _public_fields(row: CredentialRow) -> dict[str, Any]:
    """The non-secret columns of a row, for audit before/after."""
    return {
        "name": row.name,
        "schema": row.schema,
        "production": row.production,
        "external_id": row.external_id,
        "oauth_client_id": row.oauth_client_id,
    }


def _name_conflict() -> CredentialValidationError:
    error = FieldError(path="name", message=DUPLICATE_NAME)
    return CredentialValidationError("the credential name is taken", field_errors=(error,))
