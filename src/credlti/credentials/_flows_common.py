"""Building blocks shared by the vault's flows: loading, sealing tokens, audit, shares.

Every function here is a flow (or a plain helper) that only yields the effects of
``_vault_effects``; none does IO itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from credlti._effects import Flow
from credlti.credentials._changes import DUPLICATE_NAME
from credlti.credentials._records import (
    AuditAction,
    AuditEvent,
    Credential,
    CredentialRow,
    FieldError,
    OAuthToken,
    OAuthTokenRow,
    ProjectShare,
)
from credlti.credentials._vault_effects import (
    AddRow,
    AddShare,
    Atomic,
    GetRow,
    GetTokenRow,
    NewId,
    NoticeKind,
    Notify,
    Now,
    Open,
    Record,
    RemoveShare,
    Seal,
    SharesOf,
    SharesOfMany,
    TokenRowsOf,
    UpdateRow,
)
from credlti.errors import (
    CredentialNotFoundError,
    CredentialValidationError,
    StorageConflictError,
)

__all__ = [
    "assemble",
    "audit_event",
    "credential_of",
    "id_of",
    "insert_row",
    "load",
    "load_by_id",
    "load_many",
    "locked_row",
    "new_event",
    "notify_after_commit",
    "public_fields",
    "replace_row",
    "require_credential",
    "resolve",
    "seal_token",
    "sync_shares",
    "unseal_token",
]


def id_of(value: Credential | str) -> str:
    """The id of a credential given as a record or an id."""
    return value if isinstance(value, str) else value.id


def seal_token(credential_id: str, client_id: str | None, token: OAuthToken) -> Flow[OAuthTokenRow]:
    """The stored form of *token*: its secrets sealed in one ciphertext."""
    secret = {
        "access_token": token.access_token,
        "refresh_token": token.refresh_token,
        "extra": dict(token.extra),
    }
    ciphertext = yield Seal(
        value=secret, kind="oauth_token", record_id=credential_id, field="secrets"
    )
    return OAuthTokenRow(
        credential_id=credential_id,
        client_id=client_id,
        ciphertext=ciphertext,
        token_type=token.token_type,
        scopes=token.scopes,
        expires_at=token.expires_at,
        last_refreshed=token.last_refreshed,
        version=token.version,
    )


def unseal_token(row: OAuthTokenRow) -> Flow[OAuthToken]:
    """The token stored in *row*, decrypted."""
    secret = yield Open(
        ciphertext=row.ciphertext, kind="oauth_token", record_id=row.credential_id, field="secrets"
    )
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


def load(row: CredentialRow) -> Flow[Credential]:
    """Session: the credential of *row*, decrypted, with its token and shares."""
    token_row = yield GetTokenRow(row.id)
    shares = yield SharesOf(row.id)
    return (yield from assemble(row, token_row, shares))


def load_many(rows: Sequence[CredentialRow]) -> Flow[list[Credential]]:
    """Session: the credentials of *rows*, in order; tokens and shares in two effects.

    A listing's statement count does not grow with its credentials' shares or size.
    """
    if not rows:
        return []
    ids = tuple(row.id for row in rows)
    token_rows: dict[str, OAuthTokenRow] = yield TokenRowsOf(ids)
    shares: dict[str, list[ProjectShare]] = yield SharesOfMany(ids)
    found = []
    for row in rows:
        credential = yield from assemble(row, token_rows.get(row.id), shares.get(row.id, ()))
        found.append(credential)
    return found


def assemble(
    row: CredentialRow, token_row: OAuthTokenRow | None, shares: Sequence[ProjectShare]
) -> Flow[Credential]:
    """The credential of *row* with its loaded token row and shares, decrypted."""
    body = None
    if row.body_ciphertext is not None:
        body = yield Open(
            ciphertext=row.body_ciphertext, kind="credential", record_id=row.id, field="body"
        )
    token = (yield from unseal_token(token_row)) if token_row else None
    return credential_of(row, body, token, shares)


def credential_of(
    row: CredentialRow,
    body: Mapping[str, Any] | None,
    token: OAuthToken | None,
    shares: Sequence[ProjectShare],
) -> Credential:
    """The credential of *row* with its plaintext *body*, *token* and *shares*.

    For a write that already holds them: what it returns is what a read returns,
    without reading back or decrypting what it has just written.
    """
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
        oauth_token=token,
        shares=tuple(shares),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def load_by_id(credential_id: str) -> Flow[Credential | None]:
    """Session: the credential with this id, or ``None``."""
    row = yield GetRow(credential_id=credential_id)
    return (yield from load(row)) if row else None


def locked_row(credential_id: str) -> Flow[CredentialRow]:
    """Session: the row, locked for the unit of work; CredentialNotFoundError if absent."""
    row = yield GetRow(credential_id=credential_id, for_update=True)
    if row is None:
        raise CredentialNotFoundError(
            "no credential with this id; it may have been deleted or purged",
            details={"credential_id": credential_id},
        )
    return row  # type: ignore[no-any-return]


def require_credential(credential_id: str) -> Flow[Credential]:
    """The credential with this id (own unit of work); CredentialNotFoundError if absent."""
    found = yield Atomic(flow=load_by_id(credential_id))
    if found is None:
        raise CredentialNotFoundError(
            "no credential with this id", details={"credential_id": credential_id}
        )
    return found  # type: ignore[no-any-return]


def resolve(credential: Credential | str | None) -> Flow[Credential | None]:
    """A credential given as a record is kept; an id is loaded (or not found raised)."""
    if credential is None or isinstance(credential, Credential):
        return credential
    return (yield from require_credential(credential))


def new_event(
    action: AuditAction,
    credential_id: str,
    actor_id: str | None,
    at: datetime,
    *,
    changes: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Flow[AuditEvent]:
    """An audit event with a new id."""
    event_id: str = yield NewId()
    return audit_event(
        event_id, action, credential_id, actor_id, at, changes=changes, metadata=metadata
    )


def audit_event(
    event_id: str,
    action: AuditAction,
    credential_id: str,
    actor_id: str | None,
    at: datetime,
    *,
    changes: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """An audit event with the id *event_id*."""
    return AuditEvent(
        id=event_id,
        action=action,
        credential_id=credential_id,
        actor_id=actor_id,
        at=at,
        changes=dict(changes or {}),
        metadata=dict(metadata or {}),
    )


def public_fields(row: CredentialRow) -> dict[str, Any]:
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


def insert_row(row: CredentialRow) -> Flow[None]:
    """Session: insert *row*; a taken name becomes a validation error on ``name``."""
    try:
        yield AddRow(row)
    except StorageConflictError as exc:
        raise _name_conflict() from exc


def replace_row(row: CredentialRow) -> Flow[None]:
    """Session: replace *row*; a taken name becomes a validation error on ``name``."""
    try:
        yield UpdateRow(row)
    except StorageConflictError as exc:
        raise _name_conflict() from exc


def sync_shares(
    credential_id: str,
    wanted: frozenset[str],
    actor_id: str | None,
    at: datetime,
    events: list[AuditEvent],
    *,
    current: Sequence[ProjectShare] | None = None,
) -> Flow[tuple[ProjectShare, ...]]:
    """Session: make the credential's project shares exactly *wanted*, auditing each change.

    *current* are the shares it has now when the caller knows them (none for a new
    credential); by default they are read. Returns the shares it has afterwards, in
    the order a read lists them (creation time, then id).
    """
    if current is None:
        current = yield SharesOf(credential_id)
    by_project = {s.project_id: s for s in current}
    for project_id in sorted(set(by_project) - wanted):
        yield RemoveShare(by_project[project_id].id)
        events.append(
            (
                yield from new_event(
                    AuditAction.REMOVED_FROM_PROJECT,
                    credential_id,
                    actor_id,
                    at,
                    changes={"before": {"project_id": project_id}, "after": {"project_id": None}},
                )
            )
        )
    kept = [s for s in current if s.project_id in wanted]
    for project_id in sorted(wanted - set(by_project)):
        share_id = yield NewId()
        share = ProjectShare(
            id=share_id, credential_id=credential_id, project_id=project_id, created_at=at
        )
        yield AddShare(share)
        kept.append(share)
        events.append(
            (
                yield from new_event(
                    AuditAction.ADDED_TO_PROJECT,
                    credential_id,
                    actor_id,
                    at,
                    changes={"before": {"project_id": None}, "after": {"project_id": project_id}},
                )
            )
        )
    return tuple(sorted(kept, key=lambda s: (s.created_at, s.id)))


def notify_after_commit(
    kind: NoticeKind,
    arguments: Callable[[], Flow[dict[str, Any]]],
    credential_id: str,
    actor_id: str | None,
) -> Flow[bool]:
    """Send a notice after commit; True when sent.

    *arguments* is a flow building the notifier's keyword arguments (it may look
    users up). Whatever fails (the directory, the host's mailer) is caught: the
    change committed and stands, so the failure is audited as ``notification_failed``
    (best effort) and reported by the return value, never raised.
    """
    try:
        yield Notify(kind=kind, arguments=(yield from arguments()))
    except Exception as exc:
        error_type = type(exc).__name__
    else:
        return True
    at: datetime = yield Now()
    event = yield from new_event(
        AuditAction.NOTIFICATION_FAILED,
        credential_id,
        actor_id,
        at,
        metadata={"notice": kind, "error_type": error_type},
    )
    # Best effort: the change already committed, and a broken audit sink is reported
    # by its own writes elsewhere.
    with contextlib.suppress(Exception):
        yield Atomic(flow=_record_events([event]))
    return False


def _record_events(events: list[AuditEvent]) -> Flow[None]:
    yield Record(events)
