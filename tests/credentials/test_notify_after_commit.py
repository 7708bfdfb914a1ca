"""A notice that fails after commit never raises; a transfer's link stays recoverable.

Runs on memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from credlti.credentials import AuditAction, TransferStatus, VaultUser
from credlti.errors import (
    NotOwnerError,
    NotPendingError,
    TransferTokenError,
)

from .backends import BACKENDS, Backend, open_backend

ALICE = VaultUser(id="alice", email="alice@example.org")
BOB = VaultUser(id="bob", email="bob@example.org")


@pytest.fixture(name="backend", params=BACKENDS)
def _backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    def url() -> str:
        return str(request.getfixturevalue("postgres_url"))

    with open_backend(request.param, tmp_path, url) as backend:
        yield backend


def _actions(backend: Backend, credential_id: str) -> list[str]:
    return [e.action.value for e in backend.audit_events() if e.credential_id == credential_id]


def test_failed_notice_after_initiate_is_reported_not_raised(backend: Backend) -> None:
    cred = backend.credential()
    backend.notifier.down = True

    pending = backend.vault.initiate_credential_transfer(ALICE, BOB, cred)

    assert pending.notified is False
    stored = backend.vault.get_credential_or_raise(cred.id)
    assert stored.transfer_status is TransferStatus.PENDING
    assert _actions(backend, cred.id)[-2:] == ["transfer_initiated", "notification_failed"]
    failed = [e for e in backend.audit_events() if e.action is AuditAction.NOTIFICATION_FAILED]
    assert dict(failed[-1].metadata) == {
        "notice": "transfer_requested",
        "error_type": "RuntimeError",
    }
    # The returned token is the one stored: the transfer completes with it.
    backend.notifier.down = False
    done = backend.vault.confirm_transfer(cred.id, "bob", "alice", pending.token)
    assert done.owner_id == "bob"


def test_reissue_gives_a_new_token_and_the_old_one_stops_working(backend: Backend) -> None:
    cred = backend.credential()
    backend.notifier.down = True
    lost = backend.vault.initiate_credential_transfer(ALICE, BOB, cred)
    backend.notifier.down = False
    backend.clock.advance(3600)

    fresh = backend.vault.reissue_transfer_token(cred.id, "alice")

    assert fresh.notified is True
    assert fresh.token != lost.token
    assert fresh.receiver_id == "bob"
    assert fresh.expires_at > lost.expires_at
    sent = backend.notifier.inner.of_kind("transfer_requested")
    assert sent[-1].token == fresh.token
    assert _actions(backend, cred.id)[-1] == "transfer_token_reissued"
    before = backend.snapshot()
    with pytest.raises(TransferTokenError):
        backend.vault.confirm_transfer(cred.id, "bob", "alice", lost.token)
    assert backend.snapshot() == before
    assert backend.vault.confirm_transfer(cred.id, "bob", "alice", fresh.token).owner_id == "bob"


def test_reissue_needs_the_owner_and_a_pending_transfer(backend: Backend) -> None:
    cred = backend.credential()
    with pytest.raises(NotPendingError):
        backend.vault.reissue_transfer_token(cred, ALICE)
    backend.vault.initiate_credential_transfer(ALICE, BOB, cred)
    before = backend.snapshot()
    with pytest.raises(NotOwnerError):
        backend.vault.reissue_transfer_token(cred, BOB)
    backend.vault.revoke_transfer(cred.id, ALICE)
    with pytest.raises(NotPendingError):
        backend.vault.reissue_transfer_token(cred, ALICE)
    assert backend.snapshot() != before  # the revoke changed it; the refusals did not


@pytest.mark.parametrize("step", ["confirm", "revoke", "schedule"])
def test_every_notice_after_commit_fails_softly(backend: Backend, step: str) -> None:
    cred = backend.credential()
    pending = backend.vault.initiate_credential_transfer(ALICE, BOB, cred)
    backend.notifier.down = True

    if step == "confirm":
        result = backend.vault.confirm_transfer(cred.id, "bob", "alice", pending.token)
        assert result.owner_id == "bob"
    elif step == "revoke":
        result = backend.vault.revoke_transfer(cred.id, ALICE)
        assert result.transfer_status is None
    else:
        result = backend.vault.schedule_credential_deletion(cred)
        assert result.scheduled_deletion is not None

    assert _actions(backend, cred.id)[-1] == "notification_failed"
    assert backend.vault.get_credential_or_raise(cred.id) == result
