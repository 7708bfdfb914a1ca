"""How the vaults perform each effect, and their error exit.

``HANDLERS`` maps every effect of :mod:`credlti.credentials._vault_effects` to one
call on the :class:`~credlti.credentials.Vault`'s store session, key ring, clock,
randomness source, directory, notifier, audit sink or HTTP client. ``LOCAL_HANDLERS``
(the effects that do no IO: clock, ids, randomness, encryption) is the part that
:class:`~credlti.credentials.AsyncVault` shares as is; it awaits the others. The
helpers here (clock check, purge-batch telemetry, refresh span, store failure) are
what both vaults do around a call. :func:`sanitising` wraps the public methods (sync
or async) so their credlti errors leave with a fresh traceback and no chained
foreign error.
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timezone
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from credlti import _telemetry
from credlti._crypto import NONCE_BYTES, associated_data
from credlti._http import HttpRequest, RemoteResponse, perform_async, perform_sync
from credlti.credentials import _gate
from credlti.credentials import _vault_effects as fx
from credlti.credentials._records import Credential, ScrubbedRow
from credlti.errors import ConfigurationError, CredltiError, StorageUnavailableError

__all__ = [
    "ASYNC_HANDLERS",
    "HANDLERS",
    "LOCAL_HANDLERS",
    "OAUTH_REFRESH_SPAN",
    "PURGED_METRIC",
    "PURGE_BATCH_SPAN",
    "USER_AGENT",
    "Handler",
    "directory_of",
    "new_id",
    "purge_batch_done",
    "refresh_span",
    "sanitising",
    "store_failure",
]

#: The ``User-Agent`` of the vault's default HTTP clients.
USER_AGENT = "credlti (+https://github.com/credlti/credlti)"

#: Span name of the public vault methods: ``credlti.credentials.<method name>``.
OPERATION_SPAN_PREFIX = "credlti.credentials."
#: Span of one OAuth refresh request to a provider's token endpoint.
OAUTH_REFRESH_SPAN = "credlti.credentials.oauth_refresh"
#: Span of one purge batch (its counts as attributes).
PURGE_BATCH_SPAN = "credlti.credentials.purge_batch"
#: Counter of purged rows, by ``credlti.action`` (scrubbed, deleted, kept).
PURGED_METRIC = "credlti.credentials.purged"

#: One handler per effect type: ``(vault, effect, session) -> result``. The session is
#: ``None`` outside :class:`~credlti.credentials._vault_effects.Atomic`, where flows
#: yield no session effect.
Handler = Callable[[Any, Any, Any], Any]


def new_id() -> str:
    """The default record id: UUID4 text."""
    return str(uuid.uuid4())


def store_failure(exc: BaseException) -> StorageUnavailableError:
    """The error for a store that failed to open or commit a unit of work."""
    msg = f"the vault store failed with {type(exc).__name__}; nothing was changed"
    return StorageUnavailableError(msg)


def directory_of(vault: Any) -> Any:
    """The vault's user directory (ConfigurationError when it has none)."""
    if vault.directory is None:
        msg = "this operation needs a user directory: pass directory= to the vault"
        raise ConfigurationError(msg)
    return vault.directory


def _record(vault: Any, events: Any) -> None:
    for event in events:
        vault.audit.record(event)


def _now(vault: Any) -> datetime:
    now: datetime = vault._clock()
    if now.tzinfo is None:
        msg = "the vault's clock must return timezone-aware datetimes"
        raise ConfigurationError(msg)
    # One representation whatever the clock's zone: what every store reads back.
    return now.astimezone(timezone.utc)


def refresh_span(request: HttpRequest) -> _telemetry.Span:
    """The span of one OAuth refresh request (only the provider's host is recorded)."""
    return _telemetry.span(OAUTH_REFRESH_SPAN, {"server.address": urlsplit(request.url).hostname})


def _refresh(vault: Any, request: HttpRequest) -> RemoteResponse:
    with refresh_span(request) as span:
        response = perform_sync(vault._http, request)
        span.set("http.response.status_code", response.status_code)
        return response


def purge_batch_done(span: _telemetry.Span, handled: Sequence[ScrubbedRow]) -> None:
    """Record one purge batch's counts on its span and the purged-rows counter."""
    scrubbed = sum(1 for row in handled if row.newly_scrubbed)
    deleted = sum(1 for row in handled if row.deleted)
    kept = sum(1 for row in handled if not row.deleted)
    span.set("credlti.scrubbed", scrubbed)
    span.set("credlti.deleted", deleted)
    span.set("credlti.kept", kept)
    for action, value in (("scrubbed", scrubbed), ("deleted", deleted), ("kept", kept)):
        if value:
            _telemetry.count(PURGED_METRIC, {"credlti.action": action}, value)


def _scrub_due(effect: fx.ScrubDue, tx: Any) -> Any:
    if not _telemetry.enabled():
        return tx.credentials.scrub_due(effect.ids, now=effect.now, delete=effect.delete)
    with _telemetry.span(PURGE_BATCH_SPAN) as span:
        handled = tx.credentials.scrub_due(effect.ids, now=effect.now, delete=effect.delete)
        purge_batch_done(span, handled)
        return handled


#: The effects that do no IO, performed the same way by both vaults.
LOCAL_HANDLERS: dict[type, Handler] = {
    fx.Now: lambda v, e, tx: _now(v),
    fx.NewId: lambda v, e, tx: v._new_id(),
    fx.NewIds: lambda v, e, tx: [v._new_id() for _ in range(e.n)],
    fx.RandomBytes: lambda v, e, tx: v._random(e.n),
    fx.Seal: lambda v, e, tx: v._keyring.encrypt_json(
        e.value, associated_data(e.kind, e.record_id, e.field), nonce=v._random(NONCE_BYTES)
    ),
    fx.Open: lambda v, e, tx: v._keyring.decrypt_json(
        e.ciphertext, associated_data(e.kind, e.record_id, e.field)
    ),
    fx.NeedsReseal: lambda v, e, tx: v._keyring.key_id_of(e.ciphertext) != v._keyring.primary_id,
}

HANDLERS: dict[type, Handler] = {
    **LOCAL_HANDLERS,
    fx.Atomic: lambda v, e, tx: v._atomic(e.flow),
    fx.StoreLock: lambda v, e, tx: v._store_lock(e, tx),
    fx.GetRow: lambda v, e, tx: (
        tx.credentials.get_for_update(e.credential_id)
        if e.for_update
        else tx.credentials.get(e.credential_id)
    ),
    fx.AddRow: lambda v, e, tx: tx.credentials.add(e.row),
    fx.UpdateRow: lambda v, e, tx: tx.credentials.update(e.row),
    fx.DeleteRow: lambda v, e, tx: tx.credentials.delete(e.credential_id),
    fx.FindByName: lambda v, e, tx: tx.credentials.find_by_name(e.owner_id, e.name),
    fx.FindRows: lambda v, e, tx: tx.credentials.find(owner_id=e.owner_id, project_id=e.project_id),
    fx.ScrubDue: lambda v, e, tx: _scrub_due(e, tx),
    fx.AddShare: lambda v, e, tx: tx.shares.add(e.share),
    fx.RemoveShare: lambda v, e, tx: tx.shares.remove(e.share_id),
    fx.GetShare: lambda v, e, tx: tx.shares.get(e.share_id),
    fx.SharesOf: lambda v, e, tx: tx.shares.for_credential(e.credential_id),
    fx.SharesOfMany: lambda v, e, tx: tx.shares.for_credentials(e.credential_ids),
    fx.GetTokenRow: lambda v, e, tx: tx.oauth_tokens.get(e.credential_id),
    fx.TokenRowsOf: lambda v, e, tx: tx.oauth_tokens.get_many(e.credential_ids),
    fx.PutTokenRow: lambda v, e, tx: tx.oauth_tokens.put(e.row),
    fx.CompareAndSetToken: lambda v, e, tx: tx.oauth_tokens.compare_and_set(
        e.row, expected_version=e.expected_version
    ),
    fx.AddTransfer: lambda v, e, tx: tx.transfers.add(e.row),
    fx.TransfersOf: lambda v, e, tx: tx.transfers.for_credential(e.credential_id),
    fx.DeleteTransfers: lambda v, e, tx: tx.transfers.delete_for_credential(e.credential_id),
    fx.Record: lambda v, e, tx: _record(v, e.events),
    fx.RecordPurged: lambda v, e, tx: v.audit.record_purged(
        e.credential_ids, deleted=e.deleted, at=e.at
    ),
    fx.ScanRows: lambda v, e, tx: v._store.scan_credentials(
        after_id=e.after_id, limit=e.limit, due_before=e.due_before
    ),
    fx.GetUser: lambda v, e, tx: directory_of(v).get_user(e.user_id),
    fx.GetUserByEmail: lambda v, e, tx: directory_of(v).get_user_by_email(e.email),
    fx.AccessibleProjects: lambda v, e, tx: directory_of(v).accessible_projects(e.user_id),
    fx.HasActivity: lambda v, e, tx: v._activity.has_activity(e.credential_id),
    fx.WithActivity: lambda v, e, tx: v._activity.with_activity(e.credential_ids),
    fx.GetClient: lambda v, e, tx: v._clients.get_client(e.client_id),
    fx.Notify: lambda v, e, tx: getattr(v._notifier, e.kind)(**e.arguments),
    HttpRequest: lambda v, e, tx: _refresh(v, e),
}


async def _arefresh(vault: Any, request: HttpRequest) -> RemoteResponse:
    with refresh_span(request) as span:
        response = await perform_async(vault._http, request)
        span.set("http.response.status_code", response.status_code)
        return response


async def _ascrub_due(effect: fx.ScrubDue, tx: Any) -> Any:
    if not _telemetry.enabled():
        return await tx.credentials.scrub_due(effect.ids, now=effect.now, delete=effect.delete)
    with _telemetry.span(PURGE_BATCH_SPAN) as span:
        handled = await tx.credentials.scrub_due(effect.ids, now=effect.now, delete=effect.delete)
        purge_batch_done(span, handled)
        return handled


async def _arecord(vault: Any, events: Any) -> None:
    for event in events:
        await vault.audit.record(event)


async def _ascan(vault: Any, effect: fx.ScanRows) -> list[Any]:
    rows = vault._store.scan_credentials(
        after_id=effect.after_id, limit=effect.limit, due_before=effect.due_before
    )
    return [row async for row in rows]


#: How :class:`~credlti.credentials.AsyncVault` performs the effects that do IO: the
#: handler returns an awaitable. The calls on a port are those of :data:`HANDLERS`
#: (an async port has the same method names, so the same call returns a coroutine);
#: only the effects that do more than one call (or wrap one in a span) differ.
ASYNC_HANDLERS: dict[type, Handler] = {
    **{kind: call for kind, call in HANDLERS.items() if kind not in LOCAL_HANDLERS},
    fx.ScrubDue: lambda v, e, tx: _ascrub_due(e, tx),
    fx.Record: lambda v, e, tx: _arecord(v, e.events),
    fx.ScanRows: lambda v, e, tx: _ascan(v, e),
    HttpRequest: lambda v, e, tx: _arefresh(v, e),
}

_P = ParamSpec("_P")
_R = TypeVar("_R")
_C = TypeVar("_C", bound=type)


def _observed(name: str, method: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    with _telemetry.span(name, {"credlti.operation": method.__name__}) as span:
        result = method(*args, **kwargs)
        found: object = result
        if isinstance(found, Credential):
            span.set("credlti.credential_id", found.id)
        return result


def _sanitised(method: Callable[_P, _R]) -> Callable[_P, _R]:
    name = OPERATION_SPAN_PREFIX + method.__name__

    @functools.wraps(method)
    def _public_call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            if not _telemetry.enabled():
                return method(*args, **kwargs)
            return _observed(name, method, *args, **kwargs)
        except CredltiError as exc:
            error = _gate.sanitized(exc)
        raise error  # outside the handler: a fresh traceback, no implicit context

    return _public_call


async def _aobserved(
    name: str, method: Callable[_P, Coroutine[Any, Any, _R]], *args: _P.args, **kwargs: _P.kwargs
) -> _R:
    with _telemetry.span(name, {"credlti.operation": method.__name__}) as span:
        result = await method(*args, **kwargs)
        found: object = result
        if isinstance(found, Credential):
            span.set("credlti.credential_id", found.id)
        return result


def _asanitised(
    method: Callable[_P, Coroutine[Any, Any, _R]],
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    name = OPERATION_SPAN_PREFIX + method.__name__

    @functools.wraps(method)
    async def _public_call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            if not _telemetry.enabled():
                return await method(*args, **kwargs)
            return await _aobserved(name, method, *args, **kwargs)
        except CredltiError as exc:
            error = _gate.sanitized(exc)
        raise error  # outside the handler: a fresh traceback, no implicit context

    return _public_call


def sanitising(cls: _C) -> _C:
    """Wrap every public method of *cls* (sync or ``async``) so its credlti errors leave sanitised.

    The wrapper of each method also opens its telemetry span, named
    ``credlti.credentials.<method name>`` for both vaults.
    """
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        if inspect.iscoroutinefunction(member):
            setattr(cls, name, _asanitised(member))
        else:
            setattr(cls, name, _sanitised(member))
    return cls
