"""What each public vault method does before any effect: check its arguments, pick its flow.

:class:`~credlti.credentials.Vault` and :class:`~credlti.credentials.AsyncVault` call the
function of the same name here and drive the flow it returns, the first with
:func:`credlti._effects.run`, the second with :func:`credlti._effects.arun`. The
arguments pass through the gate (:mod:`credlti.credentials._gate`) when the function
is called, so a malformed argument raises before any unit of work is opened; every
decision after that lives in the flows.
"""

from __future__ import annotations

from typing import TypeVar

from credlti._effects import Flow
from credlti.credentials import _gate
from credlti.credentials._flows_common import load, locked_row, resolve
from credlti.credentials._flows_credentials import (
    CheckSettings,
    activity_flow,
    change_flow,
    create_flow,
    delete_flow,
    find_flow,
    get_by_share_flow,
    get_flow,
    update_flow,
)
from credlti.credentials._flows_deletion import (
    cancel_deletion_flow,
    purge_flow,
    schedule_deletion_flow,
)
from credlti.credentials._flows_keys import reencrypt_flow
from credlti.credentials._flows_oauth import refresh_flow
from credlti.credentials._flows_transfer import (
    confirm_transfer_flow,
    initiate_transfer_flow,
    reissue_transfer_flow,
    revoke_transfer_flow,
    validate_transfer_flow,
)
from credlti.credentials._records import (
    BodyLimits,
    ChangeResult,
    Credential,
    PendingTransfer,
    ProjectRef,
    PurgeResult,
    ReencryptResult,
    TransferForm,
    VaultUser,
)
from credlti.credentials._sensitive import Scrubber, basic_auth_values, sensitive_values
from credlti.errors import ConfigurationError

__all__ = [
    "basic_auth_for",
    "cancel_scheduled_deletion",
    "change_credential",
    "confirm_transfer",
    "create_credential",
    "delete_credential",
    "get_credential",
    "get_credential_by_project_credential",
    "get_credential_for_update",
    "get_credential_or_raise",
    "has_activity_in_projects",
    "initiate_credential_transfer",
    "list_credentials",
    "list_user_credentials_in_project",
    "maybe_refresh_token",
    "purge_deleted",
    "reencrypt",
    "reissue_transfer_token",
    "revoke_transfer",
    "schedule_credential_deletion",
    "scrubber_for",
    "sensitive_values_for",
    "validate_credential_transfer",
]

T = TypeVar("T")


def _value(value: T) -> Flow[T]:
    """A flow of no effect that returns *value* (an id that names nothing)."""
    yield from ()
    return value


def _need_directory(settings: CheckSettings) -> None:
    if not settings.has_directory:
        msg = "this operation needs a user directory: pass directory= to the vault"
        raise ConfigurationError(msg)


# ---------------------------------------------------------------- changes


def change_credential(s: CheckSettings, credential: object, attrs: object) -> Flow[ChangeResult]:
    """See :meth:`credlti.credentials.Vault.change_credential`."""
    current = _gate.record(credential, s.config.body_limits, ids=False)
    return change_flow(current, _gate.attributes(attrs, optional=True), s)


def create_credential(s: CheckSettings, attrs: object, actor_id: object) -> Flow[Credential]:
    """See :meth:`credlti.credentials.Vault.create_credential`."""
    fields, actor = _gate.attributes(attrs), _gate.actor(actor_id)
    return create_flow(fields, actor, s)


def update_credential(
    s: CheckSettings, credential: object, attrs: object, actor_id: object
) -> Flow[Credential]:
    """See :meth:`credlti.credentials.Vault.update_credential`."""
    cid, fields = _gate.credential_or_id(credential), _gate.attributes(attrs)
    return update_flow(cid, fields, _gate.actor(actor_id), s)


def delete_credential(s: CheckSettings, credential: object, actor_id: object) -> Flow[Credential]:
    """See :meth:`credlti.credentials.Vault.delete_credential`."""
    cid, actor = _gate.credential_or_id(credential), _gate.actor(actor_id)
    return delete_flow(cid, actor, s.config)


# ---------------------------------------------------------------- reads


def get_credential(credential_id: object) -> Flow[Credential | None]:
    """See :meth:`credlti.credentials.Vault.get_credential`."""
    cid = _gate.lookup_id(credential_id)
    return get_flow(cid) if cid else _value(None)


def get_credential_or_raise(credential_id: object) -> Flow[Credential]:
    """See :meth:`credlti.credentials.Vault.get_credential_or_raise`."""
    flow: Flow[Credential] = resolve(_gate.credential_id(credential_id))  # type: ignore[assignment]
    return flow


def get_credential_for_update(credential_id: object) -> Flow[Credential]:
    """Session: see :meth:`credlti.credentials.Vault.get_credential_for_update`."""
    return _load_locked(_gate.credential_id(credential_id))


def _load_locked(credential_id: str) -> Flow[Credential]:
    return (yield from load((yield from locked_row(credential_id))))


def get_credential_by_project_credential(project_credential_id: object) -> Flow[Credential | None]:
    """See :meth:`credlti.credentials.Vault.get_credential_by_project_credential`."""
    share_id = _gate.lookup_id(project_credential_id, "project_credential_id")
    return get_by_share_flow(share_id) if share_id else _value(None)


def has_activity_in_projects(credential: object) -> Flow[bool]:
    """See :meth:`credlti.credentials.Vault.has_activity_in_projects`."""
    return activity_flow(_gate.credential_or_id(credential))


def list_credentials(project_or_user: object) -> Flow[list[Credential]]:
    """See :meth:`credlti.credentials.Vault.list_credentials`."""
    if isinstance(project_or_user, ProjectRef):
        key = _gate.lookup_id(project_or_user.id, "project_or_user")
        flow = find_flow(project_id=key)
    else:
        key = _gate.lookup_id(_gate.user(project_or_user, "project_or_user").id)
        flow = find_flow(owner_id=key)
    return flow if key else _value([])


def list_user_credentials_in_project(user: object, project: object) -> Flow[list[Credential]]:
    """See :meth:`credlti.credentials.Vault.list_user_credentials_in_project`."""
    owner = _gate.lookup_id(_gate.user(user, "user").id, "user")
    project_id = _gate.lookup_id(_gate.project(project).id, "project")
    if not owner or not project_id:
        return _value([])
    return find_flow(owner_id=owner, project_id=project_id)


# ---------------------------------------------------------------- secrets


def _given(credential: object, limits: BodyLimits) -> Flow[Credential | None]:
    given = _gate.record(credential, limits)
    if given is None and credential is not None:
        given = yield from resolve(_gate.credential_id(credential, "credential"))
    return given


def _secrets_of(found: Credential | None) -> list[str]:
    if found is None:
        return []
    values = sensitive_values(found.body) if found.body else []
    token = found.oauth_token
    if token is not None:
        extra = [token.access_token, token.refresh_token, *sensitive_values(token.extra)]
        values += [v for v in extra if v and v not in values]
    return values


def _basic_auth_of(found: Credential | None) -> list[str]:
    return basic_auth_values(found.body) if found and found.body else []


def basic_auth_for(s: CheckSettings, credential: object) -> Flow[list[str]]:
    """See :meth:`credlti.credentials.Vault.basic_auth_for`."""
    return _basic_auth_of((yield from _given(credential, s.config.body_limits)))


def sensitive_values_for(s: CheckSettings, credential: object) -> Flow[list[str]]:
    """See :meth:`credlti.credentials.Vault.sensitive_values_for`."""
    return _secrets_of((yield from _given(credential, s.config.body_limits)))


def scrubber_for(s: CheckSettings, credentials: tuple[object, ...]) -> Flow[Scrubber]:
    """See :meth:`credlti.credentials.Vault.scrubber_for`."""
    scrubber = Scrubber()
    for credential in credentials:
        found = yield from _given(credential, s.config.body_limits)
        scrubber.add(_secrets_of(found), basic_auth=_basic_auth_of(found))
    return scrubber


# ---------------------------------------------------------------- OAuth


def maybe_refresh_token(s: CheckSettings, credential: object, actor_id: object) -> Flow[Credential]:
    """See :meth:`credlti.credentials.Vault.maybe_refresh_token`."""
    given = _gate.record(credential, s.config.body_limits) or _gate.credential_or_id(credential)
    return refresh_flow(given, _gate.actor(actor_id), s.config)


# ---------------------------------------------------------------- deletion


def schedule_credential_deletion(
    s: CheckSettings, credential: object, actor_id: object
) -> Flow[Credential]:
    """See :meth:`credlti.credentials.Vault.schedule_credential_deletion`."""
    cid, actor = _gate.credential_or_id(credential), _gate.actor(actor_id)
    return schedule_deletion_flow(cid, actor, s.config, has_directory=s.has_directory)


def cancel_scheduled_deletion(credential_id: object, actor_id: object) -> Flow[Credential]:
    """See :meth:`credlti.credentials.Vault.cancel_scheduled_deletion`."""
    cid, actor = _gate.credential_id(credential_id), _gate.actor(actor_id)
    return cancel_deletion_flow(cid, actor)


def purge_deleted(s: CheckSettings, batch_size: object, *, audit: object) -> Flow[PurgeResult]:
    """See :meth:`credlti.credentials.Vault.purge_deleted` (it emits the running totals).

    When the vault's *audit* sink has ``record_purged`` a batch's events go in one call.
    """
    size = _gate.batch_size(batch_size) or s.config.purge_batch_size
    return purge_flow(size, bulk_audit=callable(getattr(audit, "record_purged", None)))


# ---------------------------------------------------------------- transfer


def validate_credential_transfer(
    s: CheckSettings, form: object, sender: object, credential: object
) -> Flow[TransferForm]:
    """See :meth:`credlti.credentials.Vault.validate_credential_transfer`."""
    _need_directory(s)
    checked_form, checked_sender = _gate.form(form), _gate.user(sender, "sender")
    if isinstance(credential, Credential):
        return validate_transfer_flow(checked_form, checked_sender, credential)
    cid = _gate.credential_id(_gate.credential_or_id(credential))
    return _validate_loaded(checked_form, checked_sender, cid)


def _validate_loaded(form: TransferForm, sender: VaultUser, cid: str) -> Flow[TransferForm]:
    found = yield from resolve(cid)
    assert found is not None  # noqa: S101 - resolve raises for a missing id
    return (yield from validate_transfer_flow(form, sender, found))


def initiate_credential_transfer(
    s: CheckSettings, owner: object, receiver: object, credential: object
) -> Flow[PendingTransfer]:
    """See :meth:`credlti.credentials.Vault.initiate_credential_transfer`."""
    _need_directory(s)
    cid = _gate.credential_or_id(credential)
    receiver_id = _gate.user_id(_gate.user(receiver, "receiver").id, "receiver")
    checked_owner = _gate.user(owner, "owner")
    _gate.owner_id(checked_owner)
    return initiate_transfer_flow(checked_owner, receiver_id, cid, s.config)


def reissue_transfer_token(
    s: CheckSettings, credential: object, owner: object
) -> Flow[PendingTransfer]:
    """See :meth:`credlti.credentials.Vault.reissue_transfer_token`."""
    _need_directory(s)
    cid, owner_id = _gate.credential_or_id(credential), _gate.owner_id(owner)
    given = _gate.user(owner, "owner") if isinstance(owner, VaultUser) else owner_id
    return reissue_transfer_flow(cid, given, s.config)


def confirm_transfer(
    s: CheckSettings, credential_id: object, receiver_id: object, owner_id: object, token: object
) -> Flow[Credential]:
    """See :meth:`credlti.credentials.Vault.confirm_transfer`."""
    _need_directory(s)
    cid = _gate.credential_id(credential_id)
    receiver = _gate.user_id(receiver_id, "receiver_id")
    owner = _gate.owner_id(owner_id, "owner_id")
    return confirm_transfer_flow(cid, receiver, owner, _gate.transfer_token(token))


def revoke_transfer(s: CheckSettings, credential_id: object, owner: object) -> Flow[Credential]:
    """See :meth:`credlti.credentials.Vault.revoke_transfer`."""
    cid, owner_id = _gate.credential_id(credential_id), _gate.owner_id(owner)
    return revoke_transfer_flow(cid, owner_id, notify=s.has_directory)


# ---------------------------------------------------------------- keys


def reencrypt(s: CheckSettings, batch_size: object) -> Flow[ReencryptResult]:
    """See :meth:`credlti.credentials.Vault.reencrypt` (it emits the running totals)."""
    return reencrypt_flow(_gate.batch_size(batch_size) or s.config.purge_batch_size)
