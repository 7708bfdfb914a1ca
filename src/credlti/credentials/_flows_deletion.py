"""Flows for scheduled deletion, its cancellation and the purge.

Scheduling a deletion removes every project share and cancels a pending transfer;
after commit the OAuth token is revoked and the owner notified. The purge walks the
due credentials in id-ordered batches (memory stays bounded): each gets its body,
OAuth token and transfer tokens removed; those no step used are deleted, the others
kept (scrubbed) for the audit trail until a later run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from attrs import evolve

from credlti._effects import Emit, Flow
from credlti.credentials import _deletion
from credlti.credentials._flows_common import (
    audit_event,
    load,
    locked_row,
    new_event,
    notify_after_commit,
    replace_row,
    sync_shares,
)
from credlti.credentials._flows_oauth import revoke_token
from credlti.credentials._records import (
    AuditAction,
    AuditEvent,
    Credential,
    PurgeResult,
    TransferStatus,
    VaultConfig,
)
from credlti.credentials._vault_effects import (
    Atomic,
    DeleteTransfers,
    GetUser,
    NewIds,
    Now,
    Record,
    RecordPurged,
    ScanRows,
    ScrubDue,
    WithActivity,
)

__all__ = [
    "cancel_deletion_flow",
    "purge_flow",
    "schedule_deletion_flow",
]


def schedule_deletion_flow(
    credential_id: str, actor_id: str | None, config: VaultConfig, *, has_directory: bool
) -> Flow[Credential]:
    """Schedule a purge; after commit revoke the OAuth token and notify the owner."""
    result, actor, purge_at = yield Atomic(flow=_schedule(credential_id, actor_id, config))
    yield from revoke_token(result, actor, config)

    def arguments() -> Flow[dict[str, Any]]:
        owner = (yield GetUser(result.owner_id)) if has_directory else None
        return {"credential": result, "owner": owner, "purge_at": purge_at}

    yield from notify_after_commit("deletion_scheduled", arguments, result.id, actor)
    return result  # type: ignore[no-any-return]


def _schedule(
    credential_id: str, actor_id: str | None, config: VaultConfig
) -> Flow[tuple[Credential, str, datetime]]:
    at: datetime = yield Now()
    row = yield from locked_row(credential_id)
    actor = actor_id or row.owner_id
    purge_at = _deletion.deletion_date(at, config.purge_deleted_after_days)
    events: list[AuditEvent] = []
    yield from sync_shares(row.id, frozenset(), actor, at, events)
    status = row.transfer_status
    if status is TransferStatus.PENDING:
        yield DeleteTransfers(row.id)
        status = None
    new = evolve(row, scheduled_deletion=purge_at, transfer_status=status, updated_at=at)
    yield from replace_row(new)
    events.append(
        (
            yield from new_event(
                AuditAction.DELETION_SCHEDULED,
                row.id,
                actor,
                at,
                metadata={"purge_at": purge_at.isoformat()},
            )
        )
    )
    yield Record(events)
    return (yield from load(new)), actor, purge_at


def cancel_deletion_flow(credential_id: str, actor_id: str | None) -> Flow[Credential]:
    """Cancel a scheduled deletion (project shares are not restored)."""
    result: Credential = yield Atomic(flow=_cancel(credential_id, actor_id))
    return result


def _cancel(credential_id: str, actor_id: str | None) -> Flow[Credential]:
    at: datetime = yield Now()
    row = yield from locked_row(credential_id)
    new = evolve(row, scheduled_deletion=None, updated_at=at)
    yield from replace_row(new)
    if row.scheduled_deletion is not None:
        event = yield from new_event(
            AuditAction.DELETION_CANCELLED, row.id, actor_id or row.owner_id, at
        )
        yield Record([event])
    return (yield from load(new))


def purge_flow(batch_size: int, *, bulk_audit: bool = False) -> Flow[PurgeResult]:
    """Purge the credentials whose scheduled deletion is due, batch by batch.

    After each committed batch the running totals are emitted (``Emit``), so a
    caller driving it lazily can show progress or stop between batches. With
    *bulk_audit* (the audit sink has ``record_purged``) each batch's ``purged``
    events are written in one call, else one event at a time.
    """
    at: datetime = yield Now()
    after: str | None = None
    scrubbed = deleted = kept = 0
    while True:
        rows = yield ScanRows(after_id=after, limit=batch_size, due_before=at)
        if not rows:
            break
        after = rows[-1].id
        active = yield WithActivity([r.id for r in rows])
        plan = _deletion.plan_purge(rows, at, active)
        counts = yield Atomic(flow=_purge_batch(plan.scrub, plan.delete, at, bulk_audit))
        scrubbed += counts[0]
        deleted += counts[1]
        kept += counts[2]
        yield Emit(PurgeResult(scrubbed=scrubbed, deleted=deleted, kept=kept))
    return PurgeResult(scrubbed=scrubbed, deleted=deleted, kept=kept)


def _purge_batch(
    scrub: Sequence[str], delete: Sequence[str], at: datetime, bulk_audit: bool
) -> Flow[tuple[int, int, int]]:
    # Rows deleted or cancelled since the scan are skipped by the store.
    handled = yield ScrubDue(ids=scrub, now=at, delete=set(delete))
    scrubbed = sum(row.newly_scrubbed for row in handled)
    deleted = sum(row.deleted for row in handled)
    kept = len(handled) - deleted
    audited = [row for row in handled if row.newly_scrubbed or row.deleted]
    if audited and bulk_audit:
        ids = [row.credential_id for row in audited]
        gone = {row.credential_id for row in audited if row.deleted}
        yield RecordPurged(credential_ids=ids, deleted=gone, at=at)
    elif audited:
        event_ids: list[str] = yield NewIds(len(audited))
        purged = AuditAction.PURGED
        events = [
            audit_event(
                event_id, purged, row.credential_id, None, at, metadata={"deleted": row.deleted}
            )
            for event_id, row in zip(event_ids, audited, strict=True)
        ]
        yield Record(events)
    return scrubbed, deleted, kept
