"""The :class:`AsyncVault` facade: the vault's flows, driven with ``await``.

:class:`AsyncVault` is :class:`~credlti.credentials.Vault` for asyncio hosts. It runs
the same flows (``_flows_*`` modules), built by the same argument checks
(:mod:`credlti.credentials._vault_calls`), with :func:`credlti._effects.arun`: the
effects that do no IO are performed by the sync vault's own handlers, the others are
the same port calls on the async ports of :mod:`credlti.credentials.ports`, awaited
(:data:`~credlti.credentials._vault_handlers.ASYNC_HANDLERS`). So both vaults take
every decision the same way; only the waiting differs. Units of work are
``async with store.transaction()``; OAuth refreshes await an ``httpx.AsyncClient``
and hold an async single-flight lock (an :class:`~credlti._effects.AsyncLockTable`,
then the store's named lock).
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from typing import Any

import attrs
import httpx

from credlti._clock import Clock, utc_now
from credlti._crypto import KeyRing
from credlti._effects import AsyncLocks, AsyncLockTable, Flow, arun, astream
from credlti.credentials import _gate
from credlti.credentials import _vault_calls as calls
from credlti.credentials import _vault_effects as fx
from credlti.credentials._defaults import (
    AsyncDiscardAudit,
    AsyncNoActivity,
    AsyncNoClients,
    AsyncNullNotifier,
)
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
    ASYNC_HANDLERS,
    LOCAL_HANDLERS,
    USER_AGENT,
    sanitising,
    store_failure,
)
from credlti.credentials._vault_handlers import (
    new_id as _new_id,
)
from credlti.credentials.ports import (
    AsyncAuditSink,
    AsyncOAuthClientRegistry,
    AsyncStepActivity,
    AsyncUserDirectory,
    AsyncVaultNotifier,
    AsyncVaultSession,
    AsyncVaultStore,
)
from credlti.errors import CredltiError

__all__ = ["AsyncVault"]

_END = object()  # the end of a stream, told apart from any emitted value


@sanitising
@attrs.define(init=False)
class AsyncVault:
    """Async twin of :class:`~credlti.credentials.Vault`: the same operations, awaited.

    Takes the async form of every port (``AsyncMemoryVaultStore``,
    ``AsyncSqlVaultStore``...; a host's directory, notifier, audit sink, activity
    and client registry with ``async def`` methods). Every decision is the sync
    vault's: the same flows run, only the waiting differs.

    Args:
        store: The :class:`~credlti.credentials.ports.AsyncVaultStore`.
        keyring: The :class:`~credlti.credentials.KeyRing`; its first key encrypts.
        schemas: Body schemas; defaults to the built-ins.
        directory: An :class:`~credlti.credentials.ports.AsyncUserDirectory`; needed
            for transfers, and when given also checks owners and shared projects.
        notifier: An :class:`~credlti.credentials.ports.AsyncVaultNotifier` (default:
            no notice sent).
        audit: An :class:`~credlti.credentials.ports.AsyncAuditSink` (default: events
            are discarded).
        activity: An :class:`~credlti.credentials.ports.AsyncStepActivity` used by
            the purge (default: no activity).
        oauth_clients: An :class:`~credlti.credentials.ports.AsyncOAuthClientRegistry`
            for token refresh and revocation.
        http_client: The ``httpx.AsyncClient`` for token endpoints (default: a private
            one with timeouts; :meth:`aclose` closes it).
        clock: Returns the current aware datetime.
        random_bytes: ``n -> n random bytes`` (nonces, tokens); injectable for tests.
        new_id: Makes record ids (default: UUID4 text).
        config: A :class:`~credlti.credentials.VaultConfig`.
        locks: Where OAuth refreshes take their single-flight lock (an
            :class:`credlti._effects.AsyncLockTable`; default: one table of
            :class:`asyncio.Lock` per vault). Pass
            ``credlti.adapters.redis.AsyncRedisLockTable`` for single flight across
            processes.
    """

    _store: AsyncVaultStore
    _keyring: KeyRing = attrs.field(repr=False)
    schemas: SchemaRegistry
    directory: AsyncUserDirectory | None
    _notifier: AsyncVaultNotifier
    audit: AsyncAuditSink
    _activity: AsyncStepActivity
    _clients: AsyncOAuthClientRegistry
    _http: httpx.AsyncClient = attrs.field(repr=False)
    _owns_http: bool
    _clock: Clock
    _random: Callable[[int], bytes] = attrs.field(repr=False)
    _new_id: Callable[[], str]
    config: VaultConfig
    _locks: AsyncLockTable = attrs.field(repr=False)

    def __init__(
        self,
        *,
        store: AsyncVaultStore,
        keyring: KeyRing,
        schemas: SchemaRegistry | None = None,
        directory: AsyncUserDirectory | None = None,
        notifier: AsyncVaultNotifier | None = None,
        audit: AsyncAuditSink | None = None,
        activity: AsyncStepActivity | None = None,
        oauth_clients: AsyncOAuthClientRegistry | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock = utc_now,
        random_bytes: Callable[[int], bytes] = _secrets.token_bytes,
        new_id: Callable[[], str] = _new_id,
        config: VaultConfig | None = None,
        locks: AsyncLockTable | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self.schemas = schemas if schemas is not None else SchemaRegistry()
        self.directory = directory
        self._notifier = notifier if notifier is not None else AsyncNullNotifier()
        self.audit = audit if audit is not None else AsyncDiscardAudit()
        self._activity = activity if activity is not None else AsyncNoActivity()
        self._clients = oauth_clients if oauth_clients is not None else AsyncNoClients()
        self.config = config if config is not None else VaultConfig()
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=self.config.http_timeout, headers={"User-Agent": USER_AGENT}
        )
        self._clock = clock
        self._random = random_bytes
        self._new_id = new_id
        self._locks = locks if locks is not None else AsyncLocks()

    async def aclose(self) -> None:
        """Async twin of :meth:`Vault.close`: close the HTTP client if the vault created it."""
        if self._owns_http:
            await self._http.aclose()

    # ================================================================ effects

    def _perform(self, tx: AsyncVaultSession | None) -> Callable[[Any], Any]:
        async def perform(effect: Any) -> Any:
            kind = type(effect)
            local = LOCAL_HANDLERS.get(kind)
            if local is not None:
                return local(self, effect, tx)
            handler = ASYNC_HANDLERS.get(kind)
            if handler is None:
                msg = f"the vault cannot perform {kind.__name__}"
                raise TypeError(msg)
            return await handler(self, effect, tx)

        return perform

    async def _arun(self, flow: Flow[Any], tx: AsyncVaultSession | None = None) -> Any:
        """Drive *flow*, awaiting its effects (*tx*: the open unit of work, if any)."""
        return await arun(flow, self._perform(tx), locks=self._locks)

    async def _astream(self, flow: Flow[Any]) -> AsyncIterator[Any]:
        """Drive *flow* lazily, handing out each value it emits (errors leave sanitized)."""
        values = astream(flow, self._perform(None), locks=self._locks)
        async with aclosing(values):  # type: ignore[type-var]  # an async generator
            while True:
                try:
                    value = await anext(values, _END)
                except CredltiError as exc:
                    error = _gate.sanitized(exc)
                else:
                    if value is _END:
                        return
                    yield value
                    continue
                raise error  # outside the handler: a fresh traceback, no implicit context

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncVaultSession]:
        # As Vault._tx: failures to open or commit become StorageUnavailableError.
        in_body = False
        try:
            async with self._store.transaction() as tx:
                in_body = True
                yield tx
                in_body = False
        except CredltiError:
            raise
        except Exception as exc:
            if in_body:
                raise
            raise store_failure(exc) from exc

    async def _atomic(self, flow: Flow[Any]) -> Any:
        async with self._tx() as tx:
            return await self._arun(flow, tx)

    async def _store_lock(self, effect: fx.StoreLock, tx: AsyncVaultSession | None) -> Any:
        async with self._store.lock(effect.key, timeout=effect.timeout):
            return await self._arun(effect.flow, tx)

    def _settings(self) -> CheckSettings:
        return CheckSettings(
            schemas=self.schemas,
            config=self.config,
            has_directory=self.directory is not None,
            has_clients=not isinstance(self._clients, AsyncNoClients),
        )

    # ================================================================ changes

    async def change_credential(
        self, credential: Credential | None = None, attrs: Mapping[Any, Any] | None = None
    ) -> ChangeResult:
        """Async twin of :meth:`Vault.change_credential`."""
        result: ChangeResult = await self._arun(
            calls.change_credential(self._settings(), credential, attrs)
        )
        return result

    async def create_credential(
        self, attrs: Mapping[Any, Any], *, actor_id: str | None = None
    ) -> Credential:
        """Async twin of :meth:`Vault.create_credential`."""
        flow = calls.create_credential(self._settings(), attrs, actor_id)
        created: Credential = await self._arun(flow)
        return created

    async def update_credential(
        self,
        credential: Credential | str,
        attrs: Mapping[Any, Any],
        *,
        actor_id: str | None = None,
    ) -> Credential:
        """Async twin of :meth:`Vault.update_credential`."""
        flow = calls.update_credential(self._settings(), credential, attrs, actor_id)
        updated: Credential = await self._arun(flow)
        return updated

    async def delete_credential(
        self, credential: Credential | str, *, actor_id: str | None = None
    ) -> Credential:
        """Async twin of :meth:`Vault.delete_credential`."""
        gone: Credential = await self._arun(
            calls.delete_credential(self._settings(), credential, actor_id)
        )
        return gone

    # ================================================================ reads

    async def get_credential(self, credential_id: str) -> Credential | None:
        """Async twin of :meth:`Vault.get_credential`."""
        found: Credential | None = await self._arun(calls.get_credential(credential_id))
        return found

    async def get_credential_or_raise(self, credential_id: str) -> Credential:
        """Async twin of :meth:`Vault.get_credential_or_raise`."""
        found: Credential = await self._arun(calls.get_credential_or_raise(credential_id))
        return found

    @asynccontextmanager
    async def get_credential_for_update(self, credential_id: str) -> AsyncIterator[Credential]:
        """Async twin of :meth:`Vault.get_credential_for_update` (``async with``).

        Vault calls awaited inside the block join its unit of work::

            async with vault.get_credential_for_update(cid) as cred:
                await vault.update_credential(cred, {"name": cred.name + " old"})
        """
        flow = calls.get_credential_for_update(credential_id)
        async with self._tx() as tx:
            yield await self._arun(flow, tx)

    async def get_credential_by_project_credential(
        self, project_credential_id: str
    ) -> Credential | None:
        """Async twin of :meth:`Vault.get_credential_by_project_credential`."""
        flow = calls.get_credential_by_project_credential(project_credential_id)
        found: Credential | None = await self._arun(flow)
        return found

    def get_schema(self, name: str) -> CredentialSchema:
        """Like :meth:`Vault.get_schema` (no IO: a plain method)."""
        return self.schemas.get(name)

    async def has_activity_in_projects(self, credential: Credential | str) -> bool:
        """Async twin of :meth:`Vault.has_activity_in_projects`."""
        used: bool = await self._arun(calls.has_activity_in_projects(credential))
        return used

    async def list_credentials(self, project_or_user: ProjectRef | VaultUser) -> list[Credential]:
        """Async twin of :meth:`Vault.list_credentials`."""
        found: list[Credential] = await self._arun(calls.list_credentials(project_or_user))
        return found

    async def list_user_credentials_in_project(
        self, user: VaultUser, project: ProjectRef
    ) -> list[Credential]:
        """Async twin of :meth:`Vault.list_user_credentials_in_project`."""
        flow = calls.list_user_credentials_in_project(user, project)
        found: list[Credential] = await self._arun(flow)
        return found

    # ================================================================ secrets

    async def basic_auth_for(self, credential: Credential | str | None) -> list[str]:
        """Async twin of :meth:`Vault.basic_auth_for`."""
        values: list[str] = await self._arun(calls.basic_auth_for(self._settings(), credential))
        return values

    async def sensitive_values_for(self, credential: Credential | str | None) -> list[str]:
        """Async twin of :meth:`Vault.sensitive_values_for`."""
        values: list[str] = await self._arun(
            calls.sensitive_values_for(self._settings(), credential)
        )
        return values

    async def scrubber_for(self, *credentials: Credential | str) -> Scrubber:
        """Async twin of :meth:`Vault.scrubber_for`."""
        scrubber: Scrubber = await self._arun(calls.scrubber_for(self._settings(), credentials))
        return scrubber

    # ================================================================ OAuth

    async def maybe_refresh_token(
        self, credential: Credential | str, *, actor_id: str | None = None
    ) -> Credential:
        """Async twin of :meth:`Vault.maybe_refresh_token`."""
        flow = calls.maybe_refresh_token(self._settings(), credential, actor_id)
        fresh: Credential = await self._arun(flow)
        return fresh

    # ================================================================ deletion

    async def schedule_credential_deletion(
        self, credential: Credential | str, *, actor_id: str | None = None
    ) -> Credential:
        """Async twin of :meth:`Vault.schedule_credential_deletion`."""
        flow = calls.schedule_credential_deletion(self._settings(), credential, actor_id)
        scheduled: Credential = await self._arun(flow)
        return scheduled

    async def cancel_scheduled_deletion(
        self, credential_id: str, *, actor_id: str | None = None
    ) -> Credential:
        """Async twin of :meth:`Vault.cancel_scheduled_deletion`."""
        kept: Credential = await self._arun(
            calls.cancel_scheduled_deletion(credential_id, actor_id)
        )
        return kept

    async def purge_deleted(self, *, batch_size: int | None = None) -> PurgeResult:
        """Async twin of :meth:`Vault.purge_deleted`."""
        flow = calls.purge_deleted(self._settings(), batch_size, audit=self.audit)
        result: PurgeResult = await self._arun(flow)
        return result

    def purge_deleted_batches(self, *, batch_size: int | None = None) -> AsyncIterator[PurgeResult]:
        """Async twin of :meth:`Vault.purge_deleted_batches`: an async iterator (``async for``)."""
        flow = calls.purge_deleted(self._settings(), batch_size, audit=self.audit)
        return self._astream(flow)

    # ================================================================ transfer

    def transfer_form(self, email: str | None = None) -> TransferForm:
        """Like :meth:`Vault.transfer_form` (no IO: a plain method)."""
        return TransferForm(email=_gate.email(email))

    async def validate_credential_transfer(
        self, form: TransferForm, sender: VaultUser, credential: Credential
    ) -> TransferForm:
        """Async twin of :meth:`Vault.validate_credential_transfer`."""
        flow = calls.validate_credential_transfer(self._settings(), form, sender, credential)
        checked: TransferForm = await self._arun(flow)
        return checked

    async def initiate_credential_transfer(
        self, owner: VaultUser, receiver: VaultUser, credential: Credential | str
    ) -> PendingTransfer:
        """Async twin of :meth:`Vault.initiate_credential_transfer`."""
        flow = calls.initiate_credential_transfer(self._settings(), owner, receiver, credential)
        pending: PendingTransfer = await self._arun(flow)
        return pending

    async def reissue_transfer_token(
        self, credential: Credential | str, owner: VaultUser | str
    ) -> PendingTransfer:
        """Async twin of :meth:`Vault.reissue_transfer_token`."""
        flow = calls.reissue_transfer_token(self._settings(), credential, owner)
        pending: PendingTransfer = await self._arun(flow)
        return pending

    async def confirm_transfer(
        self, credential_id: str, receiver_id: str, owner_id: str, token: str
    ) -> Credential:
        """Async twin of :meth:`Vault.confirm_transfer`."""
        flow = calls.confirm_transfer(self._settings(), credential_id, receiver_id, owner_id, token)
        confirmed: Credential = await self._arun(flow)
        return confirmed

    async def revoke_transfer(self, credential_id: str, owner: VaultUser | str) -> Credential:
        """Async twin of :meth:`Vault.revoke_transfer`."""
        revoked: Credential = await self._arun(
            calls.revoke_transfer(self._settings(), credential_id, owner)
        )
        return revoked

    # ================================================================ keys

    async def reencrypt(self, *, batch_size: int | None = None) -> ReencryptResult:
        """Async twin of :meth:`Vault.reencrypt`."""
        result: ReencryptResult = await self._arun(calls.reencrypt(self._settings(), batch_size))
        return result

    def reencrypt_batches(self, *, batch_size: int | None = None) -> AsyncIterator[ReencryptResult]:
        """Async twin of :meth:`Vault.reencrypt_batches`: an async iterator (``async for``)."""
        return self._astream(calls.reencrypt(self._settings(), batch_size))
