"""Row mapping for the SQL vault adapter: credlti records <-> table values."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from credlti.credentials._records import (
    AuditAction,
    AuditEvent,
    CredentialRow,
    OAuthTokenRow,
    ProjectShare,
    TransferStatus,
    TransferTokenRow,
)

# --------------------------------------------------------------------------- conversions


def _ts(value: datetime) -> float:
    return value.timestamp()


def _ts_or_none(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, timezone.utc)


def _dt_or_none(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _bytes_or_none(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _credential_values(row: CredentialRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "schema": row.schema,
        "owner_id": row.owner_id,
        "body_ciphertext": row.body_ciphertext,
        "production": row.production,
        "external_id": row.external_id,
        "transfer_status": None if row.transfer_status is None else row.transfer_status.value,
        "scheduled_deletion": _ts_or_none(row.scheduled_deletion),
        "oauth_client_id": row.oauth_client_id,
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
    }


def _credential(m: sa.RowMapping) -> CredentialRow:
    status = m["transfer_status"]
    return CredentialRow(
        id=m["id"],
        name=m["name"],
        schema=m["schema"],
        owner_id=m["owner_id"],
        body_ciphertext=_bytes_or_none(m["body_ciphertext"]),
        production=bool(m["production"]),
        external_id=m["external_id"],
        transfer_status=None if status is None else TransferStatus(status),
        scheduled_deletion=_dt_or_none(m["scheduled_deletion"]),
        oauth_client_id=m["oauth_client_id"],
        created_at=_dt(m["created_at"]),
        updated_at=_dt(m["updated_at"]),
    )


def _share(m: sa.RowMapping) -> ProjectShare:
    return ProjectShare(
        id=m["id"],
        credential_id=m["credential_id"],
        project_id=m["project_id"],
        created_at=_dt(m["created_at"]),
    )


def _share_values(share: ProjectShare) -> dict[str, Any]:
    return {
        "id": share.id,
        "credential_id": share.credential_id,
        "project_id": share.project_id,
        "created_at": _ts(share.created_at),
    }


def _transfer_values(row: TransferTokenRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "credential_id": row.credential_id,
        "owner_id": row.owner_id,
        "receiver_id": row.receiver_id,
        "token_hash": row.token_hash,
        "created_at": _ts(row.created_at),
        "expires_at": _ts(row.expires_at),
    }


def _token_values(row: OAuthTokenRow) -> dict[str, Any]:
    return {
        "credential_id": row.credential_id,
        "client_id": row.client_id,
        "ciphertext": row.ciphertext,
        "token_type": row.token_type,
        "scopes": list(row.scopes),
        "expires_at": _ts_or_none(row.expires_at),
        "last_refreshed": _ts(row.last_refreshed),
        "version": row.version,
    }


def _token(m: sa.RowMapping) -> OAuthTokenRow:
    return OAuthTokenRow(
        credential_id=m["credential_id"],
        client_id=m["client_id"],
        ciphertext=bytes(m["ciphertext"]),
        token_type=m["token_type"],
        scopes=tuple(m["scopes"]),
        expires_at=_dt_or_none(m["expires_at"]),
        last_refreshed=_dt(m["last_refreshed"]),
        version=int(m["version"]),
    )


def _transfer(m: sa.RowMapping) -> TransferTokenRow:
    return TransferTokenRow(
        id=m["id"],
        credential_id=m["credential_id"],
        owner_id=m["owner_id"],
        receiver_id=m["receiver_id"],
        token_hash=bytes(m["token_hash"]),
        created_at=_dt(m["created_at"]),
        expires_at=_dt(m["expires_at"]),
    )


def _audit_values(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "action": event.action.value,
        "credential_id": event.credential_id,
        "actor_id": event.actor_id,
        "at": _ts(event.at),
        "changes": dict(event.changes),
        "metadata": dict(event.metadata),
        "item_type": event.item_type,
    }


def _audit(m: sa.RowMapping) -> AuditEvent:
    return AuditEvent(
        id=m["id"],
        action=AuditAction(m["action"]),
        credential_id=m["credential_id"],
        actor_id=m["actor_id"],
        at=_dt(m["at"]),
        changes=m["changes"],
        metadata=m["metadata"],
        item_type=m["item_type"],
    )
