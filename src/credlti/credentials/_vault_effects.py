"""The effects the vault's flows yield: each one is a single call on a port.

A flow (``_flows_*`` modules) never touches the store, the keyring, the clock, the
notifier or the network; it yields these records and the :class:`~credlti.credentials.Vault`
facade's *perform* function carries each one out (``credlti._effects.run``). HTTP is the
shared :class:`credlti._http.HttpRequest` effect; single flight uses
:class:`credlti._effects.Locked`.

Effects marked *session* need an open unit of work: they may only be yielded by a
flow running inside :class:`Atomic`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import attrs

from credlti._effects import Flow
from credlti.credentials._records import (
    AuditEvent,
    CredentialRow,
    OAuthTokenRow,
    ProjectShare,
    TransferTokenRow,
)

__all__ = [
    "AccessibleProjects",
    "AddRow",
    "AddShare",
    "AddTransfer",
    "Atomic",
    "CompareAndSetToken",
    "DeleteRow",
    "DeleteTransfers",
    "FindByName",
    "FindRows",
    "GetClient",
    "GetRow",
    "GetShare",
    "GetTokenRow",
    "GetUser",
    "GetUserByEmail",
    "HasActivity",
    "NeedsReseal",
    "NewId",
    "NewIds",
    "Notify",
    "Now",
    "Open",
    "PutTokenRow",
    "RandomBytes",
    "Record",
    "RecordPurged",
    "RemoveShare",
    "ScanRows",
    "ScrubDue",
    "Seal",
    "SharesOf",
    "SharesOfMany",
    "StoreLock",
    "TokenRowsOf",
    "TransfersOf",
    "UpdateRow",
    "WithActivity",
]

# ---------------------------------------------------------------- runtime context


@attrs.frozen
class Now:
    """The current aware datetime, from the vault's clock."""


@attrs.frozen
class NewId:
    """A new record id."""


@attrs.frozen
class NewIds:
    """*n* new record ids, in one effect (a batch of audit events)."""

    n: int


@attrs.frozen
class RandomBytes:
    """*n* random bytes, from the vault's randomness source."""

    n: int


@attrs.frozen(kw_only=True)
class Atomic:
    """Run *flow* inside one unit of work (commit on return, roll back on error).

    A unit of work opened while another is open joins it.
    """

    flow: Flow[Any] = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class StoreLock:
    """Run *flow* while holding the store's named lock *key* (single flight across processes)."""

    key: str
    timeout: float
    flow: Flow[Any] = attrs.field(repr=False)


# ---------------------------------------------------------------- encryption


@attrs.frozen(kw_only=True)
class Seal:
    """Encrypt *value* (as JSON) with the primary key, bound to kind, record and field."""

    value: Any = attrs.field(repr=False)
    kind: str
    record_id: str
    field: str


@attrs.frozen(kw_only=True)
class Open:
    """Decrypt a ciphertext made by :class:`Seal` with the same kind, record and field."""

    ciphertext: bytes = attrs.field(repr=False)
    kind: str
    record_id: str
    field: str


@attrs.frozen
class NeedsReseal:
    """True when *ciphertext* was not made with the primary key."""

    ciphertext: bytes = attrs.field(repr=False)


# ---------------------------------------------------------------- store (session)


@attrs.frozen(kw_only=True)
class GetRow:
    """Session: a credential row or ``None``; *for_update* locks it for the unit of work."""

    credential_id: str
    for_update: bool = False


@attrs.frozen
class AddRow:
    """Session: insert a credential row (``StorageConflictError`` on a taken name)."""

    row: CredentialRow


@attrs.frozen
class UpdateRow:
    """Session: replace a credential row (``StorageConflictError`` on a taken name)."""

    row: CredentialRow


@attrs.frozen
class DeleteRow:
    """Session: delete a credential with its shares, token and transfer tokens."""

    credential_id: str


@attrs.frozen(kw_only=True)
class FindRows:
    """Session: credential rows by owner and/or shared project, ordered by name."""

    owner_id: str | None = None
    project_id: str | None = None


@attrs.frozen(kw_only=True)
class FindByName:
    """Session: the id of the owner's credential named *name*, or ``None``."""

    owner_id: str
    name: str


@attrs.frozen(kw_only=True)
class ScrubDue:
    """Session: scrub the due rows *ids*, deleting those in *delete*."""

    ids: Sequence[str]
    now: datetime
    delete: Collection[str]


@attrs.frozen
class AddShare:
    """Session: share a credential with a project."""

    share: ProjectShare


@attrs.frozen
class RemoveShare:
    """Session: remove a project share."""

    share_id: str


@attrs.frozen
class GetShare:
    """Session: a project share by id, or ``None``."""

    share_id: str


@attrs.frozen
class SharesOf:
    """Session: the project shares of a credential."""

    credential_id: str


@attrs.frozen
class SharesOfMany:
    """Session: the project shares of each listed credential, by credential id."""

    credential_ids: tuple[str, ...]


@attrs.frozen
class TokenRowsOf:
    """Session: the stored OAuth tokens of the listed credentials, by credential id."""

    credential_ids: tuple[str, ...]


@attrs.frozen
class GetTokenRow:
    """Session: the stored OAuth token of a credential, or ``None``."""

    credential_id: str


@attrs.frozen
class PutTokenRow:
    """Session: store (insert or replace) an OAuth token row."""

    row: OAuthTokenRow


@attrs.frozen(kw_only=True)
class CompareAndSetToken:
    """Session: store *row* only if the stored version is *expected_version*; a bool."""

    row: OAuthTokenRow
    expected_version: int


@attrs.frozen
class AddTransfer:
    """Session: store a transfer token row."""

    row: TransferTokenRow


@attrs.frozen
class TransfersOf:
    """Session: the transfer token rows of a credential."""

    credential_id: str


@attrs.frozen
class DeleteTransfers:
    """Session: delete every transfer token row of a credential."""

    credential_id: str


@attrs.frozen
class Record:
    """Session: write audit events (a failing sink aborts the unit of work)."""

    events: Sequence[AuditEvent]


@attrs.frozen(kw_only=True)
class RecordPurged:
    """Session: write the ``purged`` events of a purge batch (the sink picks their ids).

    Yielded only when the audit sink has ``record_purged``; see
    :class:`~credlti.credentials.ports.AuditSink`.
    """

    credential_ids: Sequence[str]
    deleted: Collection[str]
    at: datetime


# ---------------------------------------------------------------- store (no session)


@attrs.frozen(kw_only=True)
class ScanRows:
    """Up to *limit* credential rows after *after_id* by id (due ones with *due_before*)."""

    after_id: str | None
    limit: int
    due_before: datetime | None = None


# ---------------------------------------------------------------- other ports


@attrs.frozen
class GetUser:
    """A user of the directory by id, or ``None``."""

    user_id: str


@attrs.frozen
class GetUserByEmail:
    """A user of the directory by email, or ``None``."""

    email: str


@attrs.frozen
class AccessibleProjects:
    """The ids of the projects a user may use."""

    user_id: str


@attrs.frozen
class HasActivity:
    """True if a step used the credential."""

    credential_id: str


@attrs.frozen
class WithActivity:
    """The ids among *credential_ids* that some step used."""

    credential_ids: Sequence[str]


@attrs.frozen
class GetClient:
    """The OAuth client by id, or ``None``."""

    client_id: str


NoticeKind = Literal[
    "transfer_requested", "transfer_completed", "transfer_revoked", "deletion_scheduled"
]


@attrs.frozen(kw_only=True)
class Notify:
    """Send a notice through the notifier method *kind* with keyword *arguments*."""

    kind: NoticeKind
    arguments: Mapping[str, Any] = attrs.field(repr=False)
