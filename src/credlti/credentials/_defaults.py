"""What the vaults use when the host passes no notifier, activity, client registry or audit."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import attrs

from credlti.credentials._records import AuditEvent, OAuthClient

__all__ = [
    "AsyncDiscardAudit",
    "AsyncNoActivity",
    "AsyncNoClients",
    "AsyncNullNotifier",
    "DiscardAudit",
    "NoActivity",
    "NoClients",
    "NullNotifier",
]


@attrs.define
class NullNotifier:
    """Sends no notice."""

    def transfer_requested(self, **_: Any) -> None:
        return None

    def transfer_completed(self, **_: Any) -> None:
        return None

    def transfer_revoked(self, **_: Any) -> None:
        return None

    def deletion_scheduled(self, **_: Any) -> None:
        return None


@attrs.define
class NoActivity:
    """No step ever used a credential."""

    def has_activity(self, credential_id: str) -> bool:
        return False

    def with_activity(self, credential_ids: Any) -> set[str]:
        return set()


@attrs.define
class NoClients:
    """No OAuth client is known: tokens are neither refreshed nor revoked."""

    def get_client(self, client_id: str) -> OAuthClient | None:
        return None


@attrs.define
class DiscardAudit:
    """Drops every audit event."""

    def record(self, event: AuditEvent) -> None:
        return None

    def record_purged(
        self, credential_ids: Sequence[str], *, deleted: Collection[str], at: datetime
    ) -> None:
        return None

    def events_for(self, credential_id: str) -> list[AuditEvent]:
        return []


@attrs.define
class AsyncNullNotifier:
    """Sends no notice (for :class:`~credlti.credentials.AsyncVault`)."""

    async def transfer_requested(self, **_: Any) -> None:
        return None

    async def transfer_completed(self, **_: Any) -> None:
        return None

    async def transfer_revoked(self, **_: Any) -> None:
        return None

    async def deletion_scheduled(self, **_: Any) -> None:
        return None


@attrs.define
class AsyncNoActivity:
    """No step ever used a credential (for :class:`~credlti.credentials.AsyncVault`)."""

    async def has_activity(self, credential_id: str) -> bool:
        return False

    async def with_activity(self, credential_ids: Any) -> set[str]:
        return set()


@attrs.define
class AsyncNoClients:
    """No OAuth client is known (for :class:`~credlti.credentials.AsyncVault`)."""

    async def get_client(self, client_id: str) -> OAuthClient | None:
        return None


@attrs.define
class AsyncDiscardAudit:
    """Drops every audit event (for :class:`~credlti.credentials.AsyncVault`)."""

    async def record(self, event: AuditEvent) -> None:
        return None

    async def record_purged(
        self, credential_ids: Sequence[str], *, deleted: Collection[str], at: datetime
    ) -> None:
        return None

    async def events_for(self, credential_id: str) -> list[AuditEvent]:
        return []
