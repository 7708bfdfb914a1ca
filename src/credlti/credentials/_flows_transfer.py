"""Flows that move a credential to another owner: validate, initiate, confirm, revoke.

The owner initiates: the credential becomes pending and the hash of a fresh
single-use token, bound to the credential, its owner and the receiver, is stored
(earlier tokens of the credential are dropped); the owner is sent the confirmation
link. Confirming with that token moves ownership (shares kept) and drops every
token; revoking drops them and clears the pending status. The owner may get a new
link for a pending transfer (the previous one stops working). Notices go out after
the unit of work committed; a notice that fails is audited and reported, never
raised (the change stands).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from attrs import evolve

from credlti._effects import Flow
from credlti.credentials import _transfer
from credlti.credentials._flows_common import load, new_event, notify_after_commit, replace_row
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
    Now,
    RandomBytes,
    Record,
    TransfersOf,
    UpdateRow,
)
from credlti.errors import CredentialValidationError, NotPendingError, StorageConflictError

__all__ = [
    "confirm_transfer_flow",
    "initiate_transfer_flow",
    "reissue_transfer_flow",
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


def _given(arguments: dict[str, Any]) -> Callable[[], Flow[dict[str, Any]]]:
    def build() -> Flow[dict[str, Any]]:
        yield from ()  # a flow that needs no effect
        return arguments

    return build


def initiate_transfer_flow(
    owner: VaultUser, receiver_id: str, credential_id: str, config: VaultConfig
) -> Flow[PendingTransfer]:
    """Start a transfer and send the owner the confirmation link (see the module doc)."""
    found_receiver = yield GetUser(receiver_id)
    step = _initiate(owner, found_receiver, receiver_id, credential_id, config, reissue=False)
    return (yield from _issue(owner, found_receiver, step))


def reissue_transfer_flow(
    credential_id: str, owner: VaultUser | str, config: VaultConfig
) -> Flow[PendingTransfer]:
    """Give the owner a new link for the pending transfer; the previous token stops working.

    *owner* given by id is looked up in the directory (for the notice).
    """
    if isinstance(owner, str):
        owner = (yield GetUser(owner)) or VaultUser(id=owner, email="")
    receiver_id = yield Atomic(flow=_pending_receiver(credential_id, owner.id))
    found_receiver = yield GetUser(receiver_id)
    step = _initiate(owner, found_receiver, receiver_id, credential_id, config, reissue=True)
    return (yield from _issue(owner, found_receiver, step))


def _pending_receiver(credential_id: str, owner_id: str) -> Flow[str]:
    row = yield GetRow(credential_id=credential_id)
    current = (yield from load(row)) if row else None
    rows = (yield TransfersOf(credential_id)) if row else ()
    return _transfer.check_reissue(current, owner_id, rows)


def _issue(
    owner: VaultUser,
    found_receiver: VaultUser | None,
    step: Flow[tuple[Credential, str, TransferTokenRow]],
) -> Flow[PendingTransfer]:
    result, token, transfer_row = yield Atomic(flow=step)
    assert found_receiver is not None  # noqa: S101 - the unit of work checked it
    notified = yield from notify_after_commit(
        "transfer_requested",
        _given(
            {
                "credential": result,
                "owner": owner,
                "receiver": found_receiver,
                "token": token,
                "expires_at": transfer_row.expires_at,
            }
        ),
        result.id,
        owner.id,
    )
    return PendingTransfer(
        credential_id=result.id,
        owner_id=owner.id,
        receiver_id=found_receiver.id,
        expires_at=transfer_row.expires_at,
        token=token,
        notified=notified,
    )


def _initiate(
    owner: VaultUser,
    found_receiver: VaultUser | None,
    receiver_id: str,
    credential_id: str,
    config: VaultConfig,
    *,
    reissue: bool,
) -> Flow[tuple[Credential, str, TransferTokenRow]]:
    at: datetime = yield Now()
    row = yield GetRow(credential_id=credential_id, for_update=True)
    current = (yield from load(row)) if row else None
    if reissue:
        # Still pending for the same receiver (it may have been revoked meanwhile).
        rows = (yield TransfersOf(credential_id)) if row else ()
        if _transfer.check_reissue(current, owner.id, rows) != receiver_id:
            raise NotPendingError(
                "the pending transfer changed meanwhile; reload and try again",
                details={"credential_id": credential_id},
            )
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
        AuditAction.TRANSFER_TOKEN_REISSUED if reissue else AuditAction.TRANSFER_INITIATED,
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

    def arguments() -> Flow[dict[str, Any]]:
        owner = (yield GetUser(owner_id)) or VaultUser(id=owner_id, email="")
        return {"credential": result, "owner": owner, "receiver": receiver}

    yield from notify_after_commit("transfer_completed", arguments, result.id, owner_id)
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

    def arguments() -> Flow[dict[str, Any]]:
        owner = (yield GetUser(owner_id)) or VaultUser(id=owner_id, email="")
        receiver = (yield GetUser(min(receivers))) if receivers else None
        return {"credential": result, "owner": owner, "receiver": receiver}

    if notify:
        yield from notify_after_commit("transfer_revoked", arguments, result.id, owner_id)
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
