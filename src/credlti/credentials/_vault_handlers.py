"""How the :class:`~credlti.credentials.Vault` performs each effect, and its error exit.

``HANDLERS`` maps every effect of :mod:`credlti.credentials._vault_effects` to one
call on the vault's store session, key ring, clock, randomness source, directory,
notifier, audit sink or HTTP client. :func:`sanitising` wraps the public methods so
their credlti errors leave with a fresh traceback and no chained foreign error.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from credlti import _telemetry
from credlti._crypto import NONCE_BYTES, associated_data
from credlti._http import HttpRequest, RemoteResponse, perform_sync
from credlti.credentials import _gate
from credlti.credentials import _vault_effects as fx
from credlti.credentials._records import Credential
from credlti.errors import ConfigurationError, CredltiError

__all__ = [
    "HANDLERS",
    "OAUTH_REFRESH_SPAN",
    "PURGED_METRIC",
    "PURGE_BATCH_SPAN",
    "Handler",
    "refresh_span",
    "sanitising",
]

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


def _record(vault: Any, events: Any) -> None:
    for event in events:
        vault.audit.record(event)


def _now(vault: Any) -> datetime:
    now: datetime = vault._clock()
    if now.tzinfo is None:
        msg = "the vault's clock must return timezone-aware datetimes"
        raise ConfigurationError(msg)
    return now


def refresh_span(request: HttpRequest) -> _telemetry.Span:
    """The span of one OAuth refresh request (only the provider's host is recorded)."""
    return _telemetry.span(OAUTH_REFRESH_SPAN, {"server.address": urlsplit(request.url).hostname})


def _refresh(vault: Any, request: HttpRequest) -> RemoteResponse:
    with refresh_span(request) as span:
        response = perform_sync(vault._http, request)
        span.set("http.response.status_code", response.status_code)
        return response


def _scrub_due(effect: fx.ScrubDue, tx: Any) -> Any:
    if not _telemetry.enabled():
        return tx.credentials.scrub_due(effect.ids, now=effect.now, delete=effect.delete)
    with _telemetry.span(PURGE_BATCH_SPAN) as span:
        handled = tx.credentials.scrub_due(effect.ids, now=effect.now, delete=effect.delete)
        scrubbed = sum(1 for row in handled if row.newly_scrubbed)
        deleted = sum(1 for row in handled if row.deleted)
        kept = sum(1 for row in handled if not row.deleted)
        span.set("credlti.scrubbed", scrubbed)
        span.set("credlti.deleted", deleted)
        span.set("credlti.kept", kept)
        for action, value in (("scrubbed", scrubbed), ("deleted", deleted), ("kept", kept)):
            if value:
                _telemetry.count(PURGED_METRIC, {"credlti.action": action}, value)
        return handled


HANDLERS: dict[type, Handler] = {
    fx.Now: lambda v, e, tx: _now(v),
    fx.NewId: lambda v, e, tx: v._new_id(),
    fx.NewIds: lambda v, e, tx: [v._new_id() for _ in range(e.n)],
    fx.RandomBytes: lambda v, e, tx: v._random(e.n),
    fx.Atomic: lambda v, e, tx: v._atomic(e.flow),
    fx.StoreLock: lambda v, e, tx: v._store_lock(e, tx),
    fx.Seal: lambda v, e, tx: v._keyring.encrypt_json(
        e.value, associated_data(e.kind, e.record_id, e.field), nonce=v._random(NONCE_BYTES)
    ),
    fx.Open: lambda v, e, tx: v._keyring.decrypt_json(
        e.ciphertext, associated_data(e.kind, e.record_id, e.field)
    ),
    fx.NeedsReseal: lambda v, e, tx: v._keyring.key_id_of(e.ciphertext) != v._keyring.primary_id,
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
    fx.GetUser: lambda v, e, tx: v._need_directory().get_user(e.user_id),
    fx.GetUserByEmail: lambda v, e, tx: v._need_directory().get_user_by_email(e.email),
    fx.AccessibleProjects: lambda v, e, tx: v._need_directory().accessible_projects(e.user_id),
    fx.HasActivity: lambda v, e, tx: v._activity.has_activity(e.credential_id),
    fx.WithActivity: lambda v, e, tx: v._activity.with_activity(e.credential_ids),
    fx.GetClient: lambda v, e, tx: v._clients.get_client(e.client_id),
    fx.Notify: lambda v, e, tx: getattr(v._notifier, e.kind)(**e.arguments),
    HttpRequest: lambda v, e, tx: _refresh(v, e),
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


def sanitising(cls: _C) -> _C:
    """Wrap every public method of *cls* so its credlti errors leave sanitised."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _sanitised(member))
    return cls
