"""The :class:`Vault` facade: drives the vault's flows and performs their effects.

Each method gets its flow (``_flows_*`` modules) from the function of the same name
in :mod:`credlti.credentials._vault_calls` (shared with
:class:`~credlti.credentials.AsyncVault`) and runs it with
:func:`credlti._effects.run`; :meth:`Vault._run` performs every effect of
``_vault_effects`` with one call on the store, its unit of work, the key ring, the
clock, the randomness source, the directory, the notifier, the audit sink or the
HTTP client. Audit rows are written last inside a unit of work (a failing sink
aborts it); notifications, OAuth revocations and other remote calls happen after
commit, so nothing external is done for a change that rolled back; a notice that
fails there is audited and reported, never raised.

Every public method first passes its arguments through the gate
(:mod:`credlti.credentials._gate`, called by ``_vault_calls``): it works or raises a
:class:`~credlti.errors.CredltiError`. Its errors leave through
:func:`~credlti.credentials._vault_handlers.sanitising`,
which drops the traceback of the flows and the gate (their frames hold the caller's
plaintext) and any chained error that is not credlti's.
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from typing import Any

import attrs
import httpx

from credlti._clock import Clock, utc_now
from credlti._crypto import KeyRing
from credlti._effects import AsyncLocks, Flow, LockTable, SyncLocks, arun, run, stream
from credlti._http import HttpRequest, perform_async
from credlti.credentials import _gate
from credlti.credentials import _vault_calls as calls
from credlti.credentials import _vault_effects as fx
from credlti.credentials._defaults import DiscardAudit, NoActivity, NoClients, NullNotifier
from credlti.credentials._flows_credentials import CheckSettings
from credlti.credentials._records import (
    ChangeResult,
    Credential,
    PendingTransfer,
    ProjectRef,
    PurgeResult,
    ReencryptResult,
    TransferForm,
    VaultConfig,
    VaultUser,
)
from credlti.credentials._schemas import CredentialSchema, SchemaRegistry
from credlti.credentials._sensitive import Scrubber
from credlti.credentials._vault_handlers import (
    HANDLERS,
    USER_AGENT,
    refresh_span,
    sanitising,
    store_failure,
)
from credlti.credentials._vault_handlers import (
    new_id as _new_id,
)
from credlti.credentials.ports import (
    AuditSink,
    OAuthClientRegistry,
    StepActivity,
    UserDirectory,
    VaultNotifier,
    VaultSession,
    VaultStore,
)
from credlti.errors import CredltiError

__all__ = ["Vault"]


@sanitising
@attrs.define(init=False)
class Vault:
    """Stores third-party credentials encrypted, shares them, transfers and purges them.

    Args:
        store: The :class:`~credlti.credentials.ports.VaultStore` (e.g. ``MemoryVaultStore()``).
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
        locks: Where OAuth refreshes take their single-flight lock (a
            :class:`credlti._effects.LockTable`; default: one lock table per vault,
            in process). Pass ``credlti.adapters.redis.RedisLockTable`` to make the
            refresh single flight across processes whatever the store.
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
    _locks: LockTable = attrs.field(repr=False)

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
        clock: Clock = utc_now,
        random_bytes: Callable[[int], bytes] = _secrets.token_bytes,
        new_id: Callable[[], str] = _new_id,
        config: VaultConfig | None = None,
        locks: LockTable | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self.schemas = schemas if schemas is not None else SchemaRegistry()
        self.directory = directory
        self._notifier = notifier if notifier is not None else NullNotifier()
        self.audit = audit if audit is not None else DiscardAudit()
        self._activity = activity if activity is not None else NoActivity()
        self._clients = oauth_clients if oauth_clients is not None else NoClients()
        self.config = config if config is not None else VaultConfig()
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=self.config.http_timeout, headers={"User-Agent": USER_AGENT}
        )
        self._clock = clock
        self._random = random_bytes
        self._new_id = new_id
        self._locks = locks if locks is not None else SyncLocks()

    def close(self) -> None:
        """Close the HTTP client if the vault created it."""
        if self._owns_http:
            self._http.close()

    # ================================================================ effects

    def _run(self, flow: Flow[Any], tx: VaultSession | None = None) -> Any:
        """Drive *flow*, performing its effects (*tx*: the open unit of work, if any)."""
        handlers = HANDLERS

        def perform(effect: Any) -> Any:
            try:
                handler = handlers[type(effect)]
            except KeyError:
                msg = f"the vault cannot perform {type(effect).__name__}"
                raise TypeError(msg) from None
            return handler(self, effect, tx)

        return run(flow, perform, locks=self._locks)

    def _stream(self, flow: Flow[Any]) -> Iterator[Any]:
        """Drive *flow* lazily, handing out each value it emits.

        Errors raised while the caller iterates leave sanitized, as those of the
        public methods do.
        """

        def perform(effect: Any) -> Any:
            return HANDLERS[type(effect)](self, effect, None)

        values = stream(flow, perform, locks=self._locks)
        with closing(values):  # type: ignore[type-var]  # a generator: has close()
            while True:
                try:
                    value = next(values, _END)
                except CredltiError as exc:
                    error = _gate.sanitized(exc)
                else:
                    if value is _END:
                        return
                    yield value
                    continue
                raise error  # outside the handler: a fresh traceback, no implicit context

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
            raise store_failure(exc) from exc

    def _atomic(self, flow: Flow[Any]) -> Any:
        with self._tx() as tx:
            return self._run(flow, tx)

    def _store_lock(self, effect: fx.StoreLock, tx: VaultSession | None) -> Any:
        with self._store.lock(effect.key, timeout=effect.timeout):
            return self._run(effect.flow, tx)

    def _settings(self) -> CheckSettings:
        return CheckSettings(
            schemas=self.schemas,
            config=self.config,
            has_directory=self.directory is not None,
            has_clients=not isinstance(self._clients, NoClients),
        )

    # ================================================================ changes

    def change_credential(
        self, credential: Credential | None = None, attrs: Mapping[Any, Any] | None = None
    ) -> ChangeResult:
        """Validate *attrs* for a new credential (*credential* None) or an update.

        Nothing is saved. Returns a :class:`ChangeResult` listing every field error
        (schema errors name the body path, e.g. ``body.port``) and the normalised
        changes that would be saved.
        """
        result: ChangeResult = self._run(
            calls.change_credential(self._settings(), credential, attrs)
        )
        return result

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
        flow = calls.create_credential(self._settings(), attrs, actor_id)
        created: Credential = self._run(flow)
        return created

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
        flow = calls.update_credential(self._settings(), credential, attrs, actor_id)
        updated: Credential = self._run(flow)
        return updated

    def delete_credential(
        self, credential: Credential | str, *, actor_id: str | None = None
    ) -> Credential:
        """Delete a credential now, with its shares, OAuth token and transfer tokens.

        Returns the credential as it was. The OAuth token is revoked at the provider
        after commit (best effort, audited).
        """
        gone: Credential = self._run(
            calls.delete_credential(self._settings(), credential, actor_id)
        )
        return gone

    # ================================================================ reads

    def get_credential(self, credential_id: str) -> Credential | None:
        """Return the credential (decrypted, with shares and token), or ``None``.

        A malformed id (see :func:`credlti._text.id_problem`) names nothing: ``None``.
        """
        found: Credential | None = self._run(calls.get_credential(credential_id))
        return found

    def get_credential_or_raise(self, credential_id: str) -> Credential:
        """Like :meth:`get_credential` but raise CredentialNotFoundError when absent."""
        found: Credential = self._run(calls.get_credential_or_raise(credential_id))
        return found

    @contextmanager
    def get_credential_for_update(self, credential_id: str) -> Iterator[Credential]:
        """Lock the credential's row for the ``with`` block and yield it.

        Vault calls made inside the block join its unit of work, so a read-modify-write
        is atomic::

            with vault.get_credential_for_update(cid) as cred:
                vault.update_credential(cred, {"name": cred.name + " old"})
        """
        flow = calls.get_credential_for_update(credential_id)
        with self._tx() as tx:
            yield self._run(flow, tx)

    def get_credential_by_project_credential(self, project_credential_id: str) -> Credential | None:
        """The credential behind a project share id, or ``None``."""
        flow = calls.get_credential_by_project_credential(project_credential_id)
        found: Credential | None = self._run(flow)
        return found

    def get_schema(self, name: str) -> CredentialSchema:
        """Return the schema *name* (raises SchemaNotFoundError)."""
        return self.schemas.get(name)

    def has_activity_in_projects(self, credential: Credential | str) -> bool:
        """True if any step (run) used the credential."""
        used: bool = self._run(calls.has_activity_in_projects(credential))
        return used

    def list_credentials(self, project_or_user: ProjectRef | VaultUser) -> list[Credential]:
        """Credentials shared with a project, or owned by a user, ordered by name."""
        found: list[Credential] = self._run(calls.list_credentials(project_or_user))
        return found

    def list_user_credentials_in_project(
        self, user: VaultUser, project: ProjectRef
    ) -> list[Credential]:
        """Credentials owned by *user* and shared with *project*, ordered by name."""
        flow = calls.list_user_credentials_in_project(user, project)
        found: list[Credential] = self._run(flow)
        return found

    # ================================================================ secrets

    def basic_auth_for(self, credential: Credential | str | None) -> list[str]:
        """Base64 ``login:password`` strings of the body (any depth); ``[]`` for None."""
        values: list[str] = self._run(calls.basic_auth_for(self._settings(), credential))
        return values

    def sensitive_values_for(self, credential: Credential | str | None) -> list[str]:
        """Every secret of the credential: body leaves (minus safe keys) and OAuth tokens."""
        values: list[str] = self._run(calls.sensitive_values_for(self._settings(), credential))
        return values

    def scrubber_for(self, *credentials: Credential | str) -> Scrubber:
        """A :class:`Scrubber` masking the secrets of every given credential."""
        scrubber: Scrubber = self._run(calls.scrubber_for(self._settings(), credentials))
        return scrubber

    # ================================================================ OAuth

    def maybe_refresh_token(
        self, credential: Credential | str, *, actor_id: str | None = None
    ) -> Credential:
        """Return the credential with a fresh OAuth token, refreshing it if needed.

        Non-OAuth credentials, and OAuth ones without a token or client, come back
        unchanged. Concurrent callers for one credential make one HTTP request: the
        refresh runs under an in-process lock and the store's named lock, re-reads
        the token first, and the write is a compare-and-set on the token version.

        Raises:
            ReauthorizationRequiredError: The provider rejected the refresh token.
            TemporaryRefreshError: Provider or network trouble; see ``retry_after``.
        """
        flow = calls.maybe_refresh_token(self._settings(), credential, actor_id)
        fresh: Credential = self._run(flow)
        return fresh

    # ================================================================ deletion

    def schedule_credential_deletion(
        self, credential: Credential | str, *, actor_id: str | None = None
    ) -> Credential:
        """Schedule a purge after ``config.purge_deleted_after_days`` (None: next purge).

        In one unit of work: sets ``scheduled_deletion``, removes every project share,
        cancels a pending transfer; then, after commit, revokes the OAuth token at the
        provider and notifies the owner.
        """
        flow = calls.schedule_credential_deletion(self._settings(), credential, actor_id)
        scheduled: Credential = self._run(flow)
        return scheduled

    def cancel_scheduled_deletion(
        self, credential_id: str, *, actor_id: str | None = None
    ) -> Credential:
        """Cancel a scheduled deletion (project shares are not restored)."""
        kept: Credential = self._run(calls.cancel_scheduled_deletion(credential_id, actor_id))
        return kept

    def purge_deleted(self, *, batch_size: int | None = None) -> PurgeResult:
        """Purge credentials whose scheduled deletion is due.

        Every due credential loses its body, OAuth token and transfer tokens; those
        without step activity are then deleted, the others kept (scrubbed) for the
        audit trail and deleted by a later run once their activity is gone. Works in
        keyset-paginated batches of ``batch_size`` rows, so memory stays bounded.

        Returns:
            True counts: rows newly scrubbed, deleted, and kept.
        """
        flow = calls.purge_deleted(self._settings(), batch_size, audit=self.audit)
        result: PurgeResult = self._run(flow)
        return result

    def purge_deleted_batches(self, *, batch_size: int | None = None) -> Iterator[PurgeResult]:
        """Purge like :meth:`purge_deleted`, yielding the running totals after each batch.

        Each batch is committed before its totals are yielded, so a caller may stop
        iterating between batches (progress display, Ctrl-C) and lose nothing: a later
        run continues with the credentials still due.
        """
        flow = calls.purge_deleted(self._settings(), batch_size, audit=self.audit)
        return self._stream(flow)

    # ================================================================ transfer

    def transfer_form(self, email: str | None = None) -> TransferForm:
        """An unvalidated transfer form holding the receiver's email."""
        return TransferForm(email=_gate.email(email))

    def validate_credential_transfer(
        self, form: TransferForm, sender: VaultUser, credential: Credential
    ) -> TransferForm:
        """Validate the form: email format, not the sender, user exists, project access."""
        flow = calls.validate_credential_transfer(self._settings(), form, sender, credential)
        checked: TransferForm = self._run(flow)
        return checked

    def initiate_credential_transfer(
        self, owner: VaultUser, receiver: VaultUser, credential: Credential | str
    ) -> PendingTransfer:
        """Start transferring *credential* from *owner* to *receiver*.

        Marks it pending, stores the hash of a fresh single-use token (32 random
        bytes) bound to credential, owner and receiver, replacing earlier tokens of
        this credential, then sends the owner the confirmation link.

        Raises:
            CredentialNotFoundError: The credential does not exist.
            UserNotFoundError: The receiver does not exist.
            NotOwnerError: *owner* does not own it.
            TransferNotAllowedError: Self-transfer, scheduled deletion, or missing
                project access.
        """
        flow = calls.initiate_credential_transfer(self._settings(), owner, receiver, credential)
        pending: PendingTransfer = self._run(flow)
        return pending

    def reissue_transfer_token(
        self, credential: Credential | str, owner: VaultUser | str
    ) -> PendingTransfer:
        """Give the owner a new confirmation link for the pending transfer.

        For a lost link (the notice failed: ``PendingTransfer.notified`` is False, or
        the mail never arrived): a fresh token replaces the stored one, so the
        previous link stops working, and the expiry restarts. The notifier is called
        as for :meth:`initiate_credential_transfer`.

        Raises:
            CredentialNotFoundError: The credential does not exist.
            NotOwnerError: *owner* does not own it.
            NotPendingError: No transfer of it is pending.
            TransferNotAllowedError: The receiver lost access to a shared project.
        """
        flow = calls.reissue_transfer_token(self._settings(), credential, owner)
        pending: PendingTransfer = self._run(flow)
        return pending

    def confirm_transfer(
        self, credential_id: str, receiver_id: str, owner_id: str, token: str
    ) -> Credential:
        """Complete a transfer: verify the token, move ownership, keep the shares.

        One unit of work: ownership changes, status becomes completed, every transfer
        token of the credential is deleted and the audit row written; both users are
        notified after commit.

        Raises:
            CredentialNotFoundError: The credential does not exist.
            UserNotFoundError: The receiver does not exist.
            TransferTokenError: The token is unknown, used, expired or for another
                receiver.
            NotOwnerError: *owner_id* no longer owns the credential.
            NotPendingError: The transfer was revoked or completed.
            TransferNotAllowedError: The receiver lost access to a shared project, or
                already owns a credential with this name.
        """
        flow = calls.confirm_transfer(self._settings(), credential_id, receiver_id, owner_id, token)
        confirmed: Credential = self._run(flow)
        return confirmed

    def revoke_transfer(self, credential_id: str, owner: VaultUser | str) -> Credential:
        """Revoke a pending transfer (owner only).

        Raises:
            CredentialNotFoundError: The credential does not exist.
            NotOwnerError: *owner* does not own it.
            NotPendingError: No transfer of it is pending.
        """
        revoked: Credential = self._run(
            calls.revoke_transfer(self._settings(), credential_id, owner)
        )
        return revoked

    # ================================================================ keys

    def reencrypt(self, *, batch_size: int | None = None) -> ReencryptResult:
        """Rewrite every ciphertext not made with the primary key (key rotation).

        After it returns, older keys can be removed from the ring.
        """
        result: ReencryptResult = self._run(calls.reencrypt(self._settings(), batch_size))
        return result

    def reencrypt_batches(self, *, batch_size: int | None = None) -> Iterator[ReencryptResult]:
        """Re-encrypt like :meth:`reencrypt`, yielding the running totals after each batch.

        Each batch is committed before its totals are yielded; stopping between batches
        is safe and a later run rewrites only what is still under an older key.
        """
        return self._stream(calls.reencrypt(self._settings(), batch_size))

    # ================================================================ async drivers

    async def _arun_remote(
        self, flow: Flow[Any], http_client: httpx.AsyncClient, locks: AsyncLocks
    ) -> Any:
        """Drive *flow* awaiting its HTTP requests on *http_client* (async OAuth facades).

        Storage, keys and audit stay synchronous (their ports are). The store's named
        lock is held while a request is awaited, so every async caller of this vault
        in one event loop must share *locks*: the in-process lock is taken first and
        the store lock is then never contended inside the loop.
        """

        async def perform(effect: Any) -> Any:
            kind = type(effect)
            if kind is HttpRequest:
                with refresh_span(effect) as span:
                    response = await perform_async(http_client, effect)
                    span.set("http.response.status_code", response.status_code)
                    return response
            if kind is fx.StoreLock:
                with self._store.lock(effect.key, timeout=effect.timeout):
                    return await arun(effect.flow, perform, locks=locks)
            handler = HANDLERS.get(kind)
            if handler is None:
                msg = f"the vault cannot perform {kind.__name__}"
                raise TypeError(msg)
            return handler(self, effect, None)

        return await arun(flow, perform, locks=locks)


_END = object()  # the end of a stream, told apart from any emitted value
