"""Scheduled-deletion and purge decisions (pure).

The counts are true, purging never goes through schema
typing (so typed credentials are scrubbed too), and OAuth secrets are purged with
the body.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import attrs

from credlti.credentials._records import CredentialRow

__all__ = ["PurgePlan", "deletion_date", "is_due", "plan_purge"]


def deletion_date(now: datetime, purge_deleted_after_days: int | None) -> datetime:
    """When a credential scheduled *now* becomes purgeable (``None`` → immediately)."""
    if purge_deleted_after_days is not None and purge_deleted_after_days < 0:
        msg = "purge_deleted_after_days must be >= 0 or None"
        raise ValueError(msg)
    return now + timedelta(days=purge_deleted_after_days or 0)


def is_due(row: CredentialRow, now: datetime) -> bool:
    """True when *row* is scheduled for deletion at or before *now*."""
    return row.scheduled_deletion is not None and row.scheduled_deletion <= now


@attrs.frozen(kw_only=True)
class PurgePlan:
    """What one purge batch does: which rows to scrub, then which of those to delete."""

    #: Every due row: body, OAuth token and transfer tokens are nulled/deleted.
    scrub: tuple[str, ...] = ()
    #: Due rows without step activity: deleted after scrubbing.
    delete: tuple[str, ...] = ()
    #: Due rows with step activity: kept, scrubbed, for the audit trail.
    keep: tuple[str, ...] = ()
    #: Of ``scrub``, the rows that still held a body before this run.
    newly_scrubbed: int = 0


def plan_purge(
    rows: Sequence[CredentialRow], now: datetime, with_activity: Iterable[str]
) -> PurgePlan:
    """Plan one purge batch from the due rows and the ids having step activity."""
    active = set(with_activity)
    due = [r for r in rows if is_due(r, now)]
    return PurgePlan(
        scrub=tuple(r.id for r in due),
        delete=tuple(r.id for r in due if r.id not in active),
        keep=tuple(r.id for r in due if r.id in active),
        newly_scrubbed=sum(1 for r in due if r.body_ciphertext is not None),
    )
