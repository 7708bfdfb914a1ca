"""Flows that move a credential to another owner: validate, initiate, confirm, revoke.

The owner initiates: the credential becomes pending and the hash of a fresh
single-use token, bound to the credential, its owner and the receiver, is stored
(earlier tokens of the credential are dropped); the owner is sent the confirmation
link. Confirming with that token moves ownership (shares kept) and drops every
token; revoking drops them and clears the pending status. Notices go out after the
unit of work committed.
"""

from __future__ import annotations

from datetime import datetime

from attrs import evolve

from credlti._effects import Flow
from credlti.credentials import _transfer
from credlti.credentials._flows_common import load, new_event, replace_row
from credlti.credentials._records import (
    AuditAction,
    Credential,
    FieldError,
    PendingTransfer,
    TransferForm,
    TransferStatus,
    TransferTokenRow,
    VaultConfig,
    VaultUser,
)
from credlti.credentials._vault_effects import (
    AccessibleProjects,
    AddTransfer,
    Atomic,
    DeleteTransfers,
    GetRow,
    GetUser,
    GetUserByEmail,
    NewId,
    Notify,
    Now,
    RandomBytes,
    Record,
    TransfersOf,
    UpdateRow,
)
from credlti.errors import CredentialValidationError, StorageConflictError

__all__ = [
    "confirm_transfer_flow",
    "initiate_transfer_flow",
    "revoke_transfer_flow",
    "validate_transfer_flow",
]


def validate_transfer_flow(
    form: TransferForm, sender: VaultUser, credential: Credential
) -> Flow[TransferForm]:
    """Validate a transfer form: email format, not the sender, user exists, project access."""
    receiver = None
    projects: frozenset[str] = frozenset()
    if not _transfer.check_email(form.email):
        receiver = yield GetUserByEmail((form.email or "").strip())
        if receiver is not None:
            projects = yield AccessibleProjects(receiver.id)
    return _transfer.validate_transfer_form(form, sender, credential, receiver, projects)


def initiate_transfer_flow(
    owner: VaultUser, receiver_id: str, credential_id: str, config: VaultConfig
) -> Flow[PendingTransfer]:
    """Start a transfer and send the owner the confirmation link (see the module doc)."""
    found_receiver = yield GetUser(receiver_id)
    result, token, transfer_row = yield Atomic(
        flow=_initiate(owner, found_receiver, receiver_id, credential_id, config)
    )
    yield Notify(
        kind="transfer_requested",
        arguments={
            "credential": result,
            "owner": owner,
            "receiver": found_receiver,
            "token": token,
            "expires_at": transfer_row.expires_at,
        },
    )
    return PendingTransfer(
        credential_id=result.id,
        owner_id=owner.id,
        receiver_id=found_receiver.id,
        expires_at=transfer_row.expires_at,
        token=token,
    )


def _initiate(
    owner: VaultUser,
    found_receiver: VaultUser | None,
    receiver_id: str,
    credential_id: str,
    config: VaultConfig,
) -> Flow[tuple[Credential, str, TransferTokenRow]]:
    at: datetime = yield Now()
    row = yield GetRow(credential_id=credential_id, for_update=True)
    current = (yield from load(row)) if row else None
    projects = (yield AccessibleProjects(receiver_id)) if found_receiver else ()
    checked = _transfer.check_initiate(current, owner, found_receiver, projects)
    assert row is not None  # noqa: S101 - check_initiate raised otherwise
    assert found_receiver is not None  # noqa: S101
    token = _transfer.encode_token((yield RandomBytes(_transfer.TOKEN_BYTES)))
    yield DeleteTransfers(row.id)
    transfer_row = _transfer.new_transfer_row(
        row_id=(yield NewId()),
        credential=checked,
        receiver=found_receiver,
        token=token,
        now=at,
        ttl=config.transfer_token_ttl,
    )
    yield AddTransfer(transfer_row)
    new = evolve(row, transfer_status=TransferStatus.PENDING, updated_at=at)
    yield from replace_row(new)
    event = yield from new_event(
        AuditAction.TRANSFER_INITIATED,
        row.id,
        owner.id,
        at,
        metadata={"receiver_id": found_receiver.id},
    )
    yield Record([event])
    return (yield from load(new)), token, transfer_row


def confirm_transfer_flow(
    credential_id: str, receiver_id: str, owner_id: str, token: str
) -> Flow[Credential]:
    """Complete a transfer in one unit of work, then notify both users."""
    receiver = yield GetUser(receiver_id)
    result = yield Atomic(flow=_confirm(credential_id, receiver, receiver_id, owner_id, token))
    owner = (yield GetUser(owner_id)) or VaultUser(id=owner_id, email="")
    yield Notify(
        kind="transfer_completed",
        arguments={"credential": result, "owner": owner, "receiver": receiver},
    )
    return result  # type: ignore[no-any-return]


def _confirm(
    credential_id: str, receiver: VaultUser | None, receiver_id: str, owner_id: str, token: str
) -> Flow[Credential]:
    at: datetime = yield Now()
    row = yield GetRow(credential_id=credential_id, for_update=True)
    current = (yield from load(row)) if row else None
    tokens = (yield TransfersOf(credential_id)) if row else ()
    projects = (yield AccessibleProjects(receiver_id)) if receiver else ()
    _transfer.check_confirm(current, receiver, owner_id, token, tokens, projects, at)
    assert row is not None  # noqa: S101 - check_confirm raised otherwise
    assert receiver is not None  # noqa: S101
    new = evolve(row, owner_id=receiver.id, transfer_status=TransferStatus.COMPLETED, updated_at=at)
    try:
        yield UpdateRow(new)
    except StorageConflictError as exc:
        error = FieldError(
            path="name", message="the receiver already has a credential with this name"
        )
        raise CredentialValidationError(
            "rename the credential before transferring it", field_errors=(error,)
        ) from exc
    yield DeleteTransfers(row.id)
    event = yield from new_event(
        AuditAction.TRANSFER_COMPLETED,
        row.id,
        owner_id,
        at,
        changes={"before": {"owner_id": owner_id}, "after": {"owner_id": receiver.id}},
    )
    yield Record([event])
    return (yield from load(new))


def revoke_transfer_flow(credential_id: str, owner_id: str, *, notify: bool) -> Flow[Credential]:
    """Revoke a pending transfer (owner only); with *notify*, tell the users after commit."""
    result, receivers = yield Atomic(flow=_revoke(credential_id, owner_id))
    if notify:
        owner = (yield GetUser(owner_id)) or VaultUser(id=owner_id, email="")
        receiver = (yield GetUser(min(receivers))) if receivers else None
        yield Notify(
            kind="transfer_revoked",
            arguments={"credential": result, "owner": owner, "receiver": receiver},
        )
    return result  # type: ignore[no-any-return]


def _revoke(credential_id: str, owner_id: str) -> Flow[tuple[Credential, set[str]]]:
    at: datetime = yield Now()
    row = yield GetRow(credential_id=credential_id, for_update=True)
    _transfer.check_revoke((yield from load(row)) if row else None, owner_id)
    assert row is not None  # noqa: S101 - check_revoke raised otherwise
    receivers = {t.receiver_id for t in (yield TransfersOf(row.id))}
    yield DeleteTransfers(row.id)
    new = evolve(row, transfer_status=None, updated_at=at)
    yield from replace_row(new)
    event = yield from new_event(
        AuditAction.TRANSFER_REVOKED,
        row.id,
        owner_id,
        at,
        metadata={"receiver_ids": sorted(receivers)},
    )
    yield Record([event])
    return (yield from load(new)), receivers
