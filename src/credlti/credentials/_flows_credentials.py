"""Flows that check, create, update, delete and read credentials.

Create and update validate the attributes (schema, names, OAuth token data), check
the name is free for the owner and that the owner may use every newly shared
project, encrypt the body, then write the row, shares, token and audit events in
one unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from attrs import evolve

from credlti._effects import Flow
from credlti.credentials._changes import DUPLICATE_NAME, validate_changes
from credlti.credentials._flows_common import (
    credential_of,
    insert_row,
    load,
    load_by_id,
    load_many,
    locked_row,
    new_event,
    public_fields,
    replace_row,
    seal_token,
    sync_shares,
)
from credlti.credentials._flows_oauth import revoke_token
from credlti.credentials._records import (
    AuditAction,
    ChangeResult,
    Credential,
    CredentialRow,
    FieldError,
    VaultConfig,
)
from credlti.credentials._schemas import SchemaRegistry
from credlti.credentials._vault_effects import (
    AccessibleProjects,
    Atomic,
    DeleteRow,
    FindByName,
    FindRows,
    GetClient,
    GetRow,
    GetShare,
    GetUser,
    HasActivity,
    NewId,
    Now,
    PutTokenRow,
    Record,
    Seal,
)
from credlti.errors import CredentialValidationError

__all__ = [
    "CheckSettings",
    "activity_flow",
    "change_flow",
    "create_flow",
    "delete_flow",
    "find_flow",
    "get_by_share_flow",
    "get_flow",
    "update_flow",
]


@attrs.frozen(kw_only=True)
class CheckSettings:
    """What validation needs besides the attributes: schemas, config, a directory or not."""

    schemas: SchemaRegistry
    config: VaultConfig
    #: When True the owner and project access are checked against the user directory.
    has_directory: bool
    #: When True a new ``oauth_client_id`` must name a client of the registry.
    has_clients: bool = False


def _check(
    existing: Credential | None, attrs_: Mapping[Any, Any], settings: CheckSettings
) -> Flow[tuple[dict[str, Any], tuple[FieldError, ...]]]:
    """Session: the normalised changes and every field error, uniqueness included."""
    at: datetime = yield Now()
    changes, errors = validate_changes(
        existing,
        attrs_,
        settings.schemas,
        at,
        default_token_lifetime=settings.config.default_token_lifetime,
        limits=settings.config.body_limits,
    )
    extra: list[FieldError] = []
    client_id = changes.get("oauth_client_id")
    if (
        settings.has_clients
        and client_id is not None
        and client_id != (existing.oauth_client_id if existing else None)
        and (yield GetClient(client_id)) is None
    ):
        message = "is not a registered OAuth client; the token could never be refreshed"
        extra.append(FieldError(path="oauth_client_id", message=message))
    owner_id = existing.owner_id if existing else changes.get("owner_id")
    name = changes.get("name")
    if owner_id and name and not any(e.path == "name" for e in errors):
        holder = yield FindByName(owner_id=owner_id, name=name)
        if holder is not None and (existing is None or holder != existing.id):
            extra.append(FieldError(path="name", message=DUPLICATE_NAME))
    if settings.has_directory and owner_id:
        if existing is None and (yield GetUser(owner_id)) is None:
            extra.append(FieldError(path="owner_id", message="does not exist"))
        new_projects = changes.get("project_ids", frozenset()) - (
            existing.project_ids if existing else frozenset()
        )
        if new_projects:
            allowed = yield AccessibleProjects(owner_id)
            extra.extend(
                FieldError(
                    path="project_ids",
                    message=f"the owner has no access to project {project_id}",
                )
                for project_id in sorted(new_projects - allowed)
            )
    return changes, errors + tuple(extra)


def change_flow(
    credential: Credential | None, attrs_: Mapping[Any, Any], settings: CheckSettings
) -> Flow[ChangeResult]:
    """Validate attributes for a new credential or an update; nothing is saved."""
    changes, errors = yield Atomic(flow=_check(credential, attrs_, settings))
    return ChangeResult(errors=errors, changes=changes)


def create_flow(
    attrs_: Mapping[Any, Any], actor_id: str | None, settings: CheckSettings
) -> Flow[Credential]:
    """Create a credential (and, for OAuth, its token) in one unit of work."""
    result: Credential = yield Atomic(flow=_create(attrs_, actor_id, settings))
    return result


def _create(
    attrs_: Mapping[Any, Any], actor_id: str | None, settings: CheckSettings
) -> Flow[Credential]:
    at: datetime = yield Now()
    changes, errors = yield from _check(None, attrs_, settings)
    if errors:
        raise CredentialValidationError(
            "the credential is invalid; fix the listed fields", field_errors=errors
        )
    credential_id = yield NewId()
    owner_id = changes["owner_id"]
    actor = actor_id or owner_id
    body = yield Seal(
        value=changes["body"], kind="credential", record_id=credential_id, field="body"
    )
    row = CredentialRow(
        id=credential_id,
        name=changes["name"],
        schema=changes["schema"],
        owner_id=owner_id,
        body_ciphertext=body,
        production=changes.get("production", False),
        external_id=changes.get("external_id"),
        oauth_client_id=changes.get("oauth_client_id"),
        created_at=at,
        updated_at=at,
    )
    yield from insert_row(row)
    events = [
        (
            yield from new_event(
                AuditAction.CREATED,
                credential_id,
                actor,
                at,
                changes={"before": None, "after": public_fields(row)},
            )
        )
    ]
    shares = yield from sync_shares(
        credential_id, changes.get("project_ids", frozenset()), actor, at, events, current=()
    )
    token = None
    if "oauth_token" in changes:
        token = evolve(changes["oauth_token"], version=1)
        yield PutTokenRow((yield from seal_token(credential_id, row.oauth_client_id, token)))
    yield Record(events)
    # What was just written, as a read returns it: no read-back, no decryption.
    return credential_of(row, changes["body"], token, shares)


def update_flow(
    credential_id: str, attrs_: Mapping[Any, Any], actor_id: str | None, settings: CheckSettings
) -> Flow[Credential]:
    """Update a credential in one unit of work; ``project_ids`` replaces the shares."""
    result: Credential = yield Atomic(flow=_update(credential_id, attrs_, actor_id, settings))
    return result


def _update(
    credential_id: str, attrs_: Mapping[Any, Any], actor_id: str | None, settings: CheckSettings
) -> Flow[Credential]:
    at: datetime = yield Now()
    row = yield from locked_row(credential_id)
    existing = yield from load(row)
    changes, errors = yield from _check(existing, attrs_, settings)
    if errors:
        raise CredentialValidationError(
            "the credential update is invalid; fix the listed fields", field_errors=errors
        )
    actor = actor_id or row.owner_id
    new = evolve(
        row,
        name=changes.get("name", row.name),
        production=changes.get("production", row.production),
        external_id=changes.get("external_id", row.external_id),
        oauth_client_id=changes.get("oauth_client_id", row.oauth_client_id),
        updated_at=at,
    )
    if "body" in changes:
        body = yield Seal(value=changes["body"], kind="credential", record_id=row.id, field="body")
        new = evolve(new, body_ciphertext=body)
    yield from replace_row(new)
    events = []
    diff = _changed_fields(row, new, changes, existing)
    if diff:
        before, after = public_fields(row), public_fields(new)
        events.append(
            (
                yield from new_event(
                    AuditAction.UPDATED,
                    row.id,
                    actor,
                    at,
                    changes={
                        "before": {k: before.get(k, "[encrypted]") for k in diff},
                        "after": {k: after.get(k, "[encrypted]") for k in diff},
                    },
                )
            )
        )
    shares = existing.shares
    if "project_ids" in changes:
        shares = yield from sync_shares(
            row.id, changes["project_ids"], actor, at, events, current=existing.shares
        )
    token = existing.oauth_token
    if "oauth_token" in changes:
        old_version = existing.oauth_token.version if existing.oauth_token else 0
        token = evolve(changes["oauth_token"], version=old_version + 1)
        yield PutTokenRow((yield from seal_token(row.id, new.oauth_client_id, token)))
    yield Record(events)
    body = changes.get("body", existing.body)
    # The row is locked, so what was read and written is what a read now returns.
    return credential_of(new, body, token, shares)


def _changed_fields(
    row: CredentialRow, new: CredentialRow, changes: Mapping[str, Any], existing: Credential
) -> list[str]:
    """The sorted names of the fields an update changed (``body`` when its value did)."""
    before, after = public_fields(row), public_fields(new)
    diff = {k for k in after if before[k] != after[k]}
    if "body" in changes and changes["body"] != existing.body:
        diff.add("body")
    return sorted(diff)


def delete_flow(credential_id: str, actor_id: str | None, config: VaultConfig) -> Flow[Credential]:
    """Delete a credential now; after commit revoke its OAuth token at the provider."""
    gone = yield Atomic(flow=_delete(credential_id, actor_id))
    yield from revoke_token(gone, actor_id or gone.owner_id, config)
    return gone  # type: ignore[no-any-return]


def _delete(credential_id: str, actor_id: str | None) -> Flow[Credential]:
    at: datetime = yield Now()
    row = yield from locked_row(credential_id)
    gone = yield from load(row)
    yield DeleteRow(row.id)
    event = yield from new_event(AuditAction.DELETED, row.id, actor_id or row.owner_id, at)
    yield Record([event])
    return gone


def get_flow(credential_id: str) -> Flow[Credential | None]:
    """The credential (decrypted, with shares and token), or ``None``."""
    result: Credential | None = yield Atomic(flow=load_by_id(credential_id))
    return result


def get_by_share_flow(share_id: str) -> Flow[Credential | None]:
    """The credential behind a project share id, or ``None``."""
    result: Credential | None = yield Atomic(flow=_get_by_share(share_id))
    return result


def _get_by_share(share_id: str) -> Flow[Credential | None]:
    share = yield GetShare(share_id)
    row = (yield GetRow(credential_id=share.credential_id)) if share else None
    return (yield from load(row)) if row else None


def activity_flow(credential_id: str) -> Flow[bool]:
    """True if any step (run) used the credential."""
    used: bool = yield HasActivity(credential_id)
    return used


def find_flow(
    *, owner_id: str | None = None, project_id: str | None = None
) -> Flow[list[Credential]]:
    """Credentials by owner and/or shared project, ordered by name."""
    result: list[Credential] = yield Atomic(flow=_find(owner_id, project_id))
    return result


def _find(owner_id: str | None, project_id: str | None) -> Flow[list[Credential]]:
    rows = yield FindRows(owner_id=owner_id, project_id=project_id)
    return (yield from load_many(rows))
