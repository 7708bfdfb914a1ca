"""Ownership-transfer decisions (pure: ids, records, hashes and ``now`` in; errors out).

A token is bound to one credential, its owner and its
receiver; confirming re-checks ownership, the pending status and the receiver's
project access; only that credential's tokens are deleted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from credlti.credentials._records import (
    Credential,
    FieldError,
    TransferForm,
    TransferStatus,
    TransferTokenRow,
    VaultUser,
)
from credlti.errors import (
    CredentialNotFoundError,
    NotOwnerError,
    NotPendingError,
    TransferNotAllowedError,
    TransferTokenError,
    UserNotFoundError,
)

__all__ = [
    "TOKEN_BYTES",
    "check_confirm",
    "check_initiate",
    "check_reissue",
    "check_revoke",
    "encode_token",
    "hash_token",
    "validate_transfer_form",
]

#: Random bytes in a transfer token (the brief asks for at least 32).
TOKEN_BYTES = 32
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\Z")
_MAX_EMAIL = 160


def encode_token(random_bytes: bytes) -> str:
    """The URL-safe, unpadded text form of a token's random bytes."""
    if len(random_bytes) < TOKEN_BYTES:
        msg = f"a transfer token needs at least {TOKEN_BYTES} random bytes"
        raise ValueError(msg)
    return base64.urlsafe_b64encode(random_bytes).decode().rstrip("=")


def hash_token(token: str) -> bytes:
    """SHA-256 of the token text: the only form that is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _missing_projects(credential: Credential, receiver_projects: Iterable[str]) -> list[str]:
    return sorted(credential.project_ids - set(receiver_projects))


def _no_access(missing: Sequence[str]) -> TransferNotAllowedError:
    error = FieldError(
        path="email",
        message=f"User doesn't have access to these projects: {', '.join(missing)}",
    )
    return TransferNotAllowedError(
        "the receiver must be a member of every project the credential is shared with; "
        "add them to those projects or unshare the credential first",
        field_errors=(error,),
        details={"projects": list(missing)},
    )


def check_initiate(
    credential: Credential | None,
    owner: VaultUser,
    receiver: VaultUser | None,
    receiver_projects: Iterable[str],
) -> Credential:
    """Decide whether *owner* may start transferring *credential* to *receiver*.

    Raises:
        CredentialNotFoundError: The credential does not exist.
        UserNotFoundError: The receiver does not exist.
        NotOwnerError: *owner* does not own the credential.
        TransferNotAllowedError: Self-transfer, scheduled deletion, or the receiver
            lacks access to a project the credential is shared with.
    """
    if credential is None:
        raise CredentialNotFoundError("the credential to transfer does not exist")
    if receiver is None:
        raise UserNotFoundError("the receiver does not exist; check the email address")
    if credential.owner_id != owner.id:
        raise NotOwnerError(
            "only the credential's owner can transfer it",
            details={"credential_id": credential.id},
        )
    if receiver.id == owner.id or receiver.email.casefold() == owner.email.casefold():
        error = FieldError(path="email", message="You cannot transfer a credential to yourself")
        raise TransferNotAllowedError("the receiver must be another user", field_errors=(error,))
    if credential.scheduled_deletion is not None:
        error = FieldError(path="credential", message="is scheduled for deletion")
        raise TransferNotAllowedError(
            "cancel the scheduled deletion before transferring this credential",
            field_errors=(error,),
        )
    missing = _missing_projects(credential, receiver_projects)
    if missing:
        raise _no_access(missing)
    return credential


def new_transfer_row(
    *,
    row_id: str,
    credential: Credential,
    receiver: VaultUser,
    token: str,
    now: datetime,
    ttl: timedelta,
) -> TransferTokenRow:
    """The row to store for a new transfer (hash only)."""
    return TransferTokenRow(
        id=row_id,
        credential_id=credential.id,
        owner_id=credential.owner_id,
        receiver_id=receiver.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + ttl,
    )


def check_confirm(
    credential: Credential | None,
    receiver: VaultUser | None,
    owner_id: str,
    token: str,
    rows: Sequence[TransferTokenRow],
    receiver_projects: Iterable[str],
    now: datetime,
) -> TransferTokenRow:
    """Decide whether a confirmation may complete; return the matching token row.

    Every stored hash of the credential is compared in constant time (no early exit).

    Raises:
        CredentialNotFoundError: The credential does not exist.
        UserNotFoundError: The receiver does not exist.
        TransferTokenError: Unknown, expired, or bound to another receiver.
        NotOwnerError: The confirming user is not the owner the token was issued to.
        NotPendingError: The credential has no pending transfer.
        TransferNotAllowedError: The receiver lost access to a shared project.
    """
    if credential is None:
        raise CredentialNotFoundError("the credential to transfer does not exist")
    if receiver is None:
        raise UserNotFoundError("the receiver of the transfer does not exist")
    presented = hash_token(token)
    match: TransferTokenRow | None = None
    for row in rows:
        if hmac.compare_digest(presented, row.token_hash) and row.credential_id == credential.id:
            match = row
    if match is None:
        raise TransferTokenError(
            "the transfer link is invalid or was already used; start a new transfer",
            details={"credential_id": credential.id},
        )
    if match.owner_id != owner_id or credential.owner_id != owner_id:
        raise NotOwnerError(
            "this transfer can only be confirmed by the credential's owner who started it",
            details={"credential_id": credential.id},
        )
    if match.receiver_id != receiver.id:
        raise TransferTokenError(
            "the transfer link was issued for another receiver",
            details={"credential_id": credential.id},
        )
    if now >= match.expires_at:
        raise TransferTokenError(
            "the transfer link has expired; start a new transfer",
            details={"credential_id": credential.id},
        )
    if credential.transfer_status is not TransferStatus.PENDING:
        raise NotPendingError(
            "the credential has no pending transfer (it was revoked or completed)",
            details={"credential_id": credential.id},
        )
    missing = _missing_projects(credential, receiver_projects)
    if missing:
        raise _no_access(missing)
    return match


def check_revoke(credential: Credential | None, owner_id: str) -> Credential:
    """Decide whether *owner_id* may revoke the pending transfer of *credential*.

    Raises:
        CredentialNotFoundError: The credential does not exist.
        NotOwnerError: *owner_id* does not own it.
        NotPendingError: No transfer of it is pending.
    """
    if credential is None:
        raise CredentialNotFoundError("the credential does not exist")
    if credential.owner_id != owner_id:
        raise NotOwnerError(
            "only the credential's owner can revoke its transfer",
            details={"credential_id": credential.id},
        )
    if credential.transfer_status is not TransferStatus.PENDING:
        raise NotPendingError(
            "the credential has no pending transfer to revoke",
            details={"credential_id": credential.id},
        )
    return credential


def check_reissue(
    credential: Credential | None, owner_id: str, rows: Sequence[TransferTokenRow]
) -> str:
    """Decide whether *owner_id* may get a new token for the pending transfer; the receiver id.

    Raises:
        CredentialNotFoundError: The credential does not exist.
        NotOwnerError: *owner_id* does not own it.
        NotPendingError: No transfer of it is pending (nothing to reissue).
    """
    check_revoke(credential, owner_id)
    receivers = sorted({row.receiver_id for row in rows if row.owner_id == owner_id})
    if len(receivers) != 1:
        raise NotPendingError(
            "the pending transfer has no receiver to send a new link to; start a new transfer",
            details={"credential_id": credential.id if credential else None},
        )
    return receivers[0]


def check_email(email: str | None) -> list[FieldError]:
    """Validate the format of the receiver's email (required, shape, length)."""
    if email is None or not email.strip():
        return [FieldError(path="email", message="can't be blank")]
    if len(email) > _MAX_EMAIL:
        return [FieldError(path="email", message=f"should be at most {_MAX_EMAIL} character(s)")]
    if not email.isprintable():
        return [FieldError(path="email", message="must be printable text")]
    if not _EMAIL.match(email):
        return [FieldError(path="email", message="must have the @ sign and no spaces")]
    return []


def validate_transfer_form(
    form: TransferForm,
    sender: VaultUser,
    credential: Credential,
    receiver: VaultUser | None,
    receiver_projects: Iterable[str],
) -> TransferForm:
    """Validate a transfer form: email format, not the sender, user exists, project access.

    *receiver* is the user found by the form's email (case-insensitively), or None.
    """
    errors = check_email(form.email)
    if not errors:
        email = (form.email or "").strip()
        if email.casefold() == sender.email.casefold():
            errors.append(
                FieldError(path="email", message="You cannot transfer a credential to yourself")
            )
        elif receiver is None:
            errors.append(FieldError(path="email", message="User does not exist"))
        else:
            missing = _missing_projects(credential, receiver_projects)
            if missing:
                errors.append(
                    FieldError(
                        path="email",
                        message=f"User doesn't have access to these projects: {', '.join(missing)}",
                    )
                )
    return TransferForm(
        email=form.email,
        errors=tuple(errors),
        receiver=receiver if not errors else None,
        validated=True,
    )
