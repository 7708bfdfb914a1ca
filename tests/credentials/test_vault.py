"""The Vault facade from the outside: every seed function and every error return."""

from __future__ import annotations

from datetime import timedelta

import pytest

from credlti.credentials import (
    AuditAction,
    AuditEvent,
    KeyRing,
    ProjectRef,
    PurgeResult,
    ReencryptResult,
    TransferStatus,
    Vault,
    VaultConfig,
)
from credlti.errors import (
    CredentialNotFoundError,
    CredentialValidationError,
    DecryptionError,
    NotOwnerError,
    NotPendingError,
    SchemaNotFoundError,
    TransferNotAllowedError,
    TransferTokenError,
    UserNotFoundError,
)

from .helpers import KEY1, KEY2, Kit, make_kit


class TestCrud:
    def test_create_and_get(self, kit: Kit) -> None:
        """create_credential stores a typed, encrypted body; get_credential decrypts it."""
        cred = kit.pg(project_ids=["p1"])
        assert cred.body is not None
        assert cred.body["port"] == 5432
        assert kit.vault.get_credential(cred.id) == cred
        assert cred.project_ids == {"p1"}
        stored = kit.store.scan_credentials(after_id=None, limit=10)[0]
        assert stored.body_ciphertext is not None
        assert b"pg-S3cret" not in stored.body_ciphertext

    def test_change_credential_lists_errors_without_saving(self, kit: Kit) -> None:
        """change_credential returns field errors and saves nothing."""
        result = kit.vault.change_credential(
            None,
            {
                "name": "bad/name",
                "schema": "postgresql",
                "owner_id": "alice",
                "body": {"port": "x"},
                "bogus": 1,
            },
        )
        assert not result.valid
        assert result.errors_for("name") == ["credential name has invalid format"]
        assert result.errors_for("body.port") == ["must be an integer"]
        assert result.errors_for("bogus") == ["is not a known credential field"]
        assert len(kit.store) == 0
        ok = kit.vault.change_credential(
            None, {"name": "ok", "schema": "raw", "owner_id": "alice", "body": "{}"}
        )
        assert ok.valid
        assert ok.changes["body"] == {}

    def test_create_raises_the_same_field_errors(self, kit: Kit) -> None:
        """create_credential raises CredentialValidationError carrying the field errors."""
        with pytest.raises(CredentialValidationError) as info:
            kit.vault.create_credential({"name": "", "schema": "nope", "owner_id": "ghost"})
        paths = {e.path for e in info.value.field_errors}
        assert paths == {"name", "schema", "body", "owner_id"}

    def test_names_unique_per_owner(self, kit: Kit) -> None:
        """The same name is refused for one owner but allowed for another."""
        kit.pg("db")
        with pytest.raises(CredentialValidationError, match="fix the listed fields") as info:
            kit.pg("db")
        assert (
            info.value.field_errors[0].message == "you have another credential with the same name"
        )
        assert kit.pg("db", owner="bob").owner_id == "bob"

    def test_sharing_requires_owner_access(self, kit: Kit) -> None:
        """An owner can only share with projects they can access."""
        with pytest.raises(CredentialValidationError) as info:
            kit.pg(owner="carol", project_ids=["p2"])
        assert info.value.field_errors[0].path == "project_ids"

    def test_update(self, kit: Kit) -> None:
        """update_credential changes fields, replaces shares and audits each change."""
        cred = kit.pg(project_ids=["p1"])
        new = kit.vault.update_credential(
            cred,
            {
                "name": "db2",
                "body": {"host": "h2", "database": "d", "user": "u", "password": "new-pass"},
                "project_ids": ["p2"],
            },
            actor_id="admin",
        )
        assert new.name == "db2"
        assert new.body is not None
        assert new.body["password"] == "new-pass"
        assert new.project_ids == {"p2"}
        actions = [(e.action, e.actor_id) for e in kit.audit.events_for(cred.id)][-3:]
        assert actions == [
            (AuditAction.UPDATED, "admin"),
            (AuditAction.REMOVED_FROM_PROJECT, "admin"),
            (AuditAction.ADDED_TO_PROJECT, "admin"),
        ]

    def test_update_cannot_change_owner_or_schema(self, kit: Kit) -> None:
        """Ownership moves only through a transfer; the schema is fixed."""
        cred = kit.pg()
        with pytest.raises(CredentialValidationError) as info:
            kit.vault.update_credential(cred.id, {"user_id": "bob", "schema": "raw"})
        assert {e.path for e in info.value.field_errors} == {"owner_id", "schema"}

    def test_update_missing(self, kit: Kit) -> None:
        """Updating an unknown id raises CredentialNotFoundError."""
        with pytest.raises(CredentialNotFoundError):
            kit.vault.update_credential("nope", {"name": "x"})

    def test_delete(self, kit: Kit) -> None:
        """delete_credential removes the row and its shares and audits who did it."""
        cred = kit.pg(project_ids=["p1"])
        share_id = cred.shares[0].id
        assert kit.vault.delete_credential(cred, actor_id="admin").id == cred.id
        assert kit.vault.get_credential(cred.id) is None
        assert kit.vault.get_credential_by_project_credential(share_id) is None
        assert kit.audit.events_for(cred.id)[-1].actor_id == "admin"
        with pytest.raises(CredentialNotFoundError):
            kit.vault.delete_credential(cred.id)

    def test_get_variants(self, kit: Kit) -> None:
        """get_credential returns None when missing; the _or_raise form raises."""
        assert kit.vault.get_credential("nope") is None
        with pytest.raises(CredentialNotFoundError):
            kit.vault.get_credential_or_raise("nope")
        cred = kit.pg(project_ids=["p1"])
        assert kit.vault.get_credential_or_raise(cred.id).name == "db"
        assert kit.vault.get_credential_by_project_credential(cred.shares[0].id) == cred

    def test_get_for_update_is_one_unit_of_work(self, kit: Kit) -> None:
        """Changes inside get_credential_for_update commit or roll back together."""
        cred = kit.pg()
        with pytest.raises(RuntimeError), kit.vault.get_credential_for_update(cred.id) as locked:  # noqa: PT012
            kit.vault.update_credential(locked, {"name": "renamed"})
            raise RuntimeError
        assert kit.vault.get_credential_or_raise(cred.id).name == "db"
        with kit.vault.get_credential_for_update(cred.id) as locked:
            kit.vault.update_credential(locked, {"name": "renamed"})
        assert kit.vault.get_credential_or_raise(cred.id).name == "renamed"
        with pytest.raises(CredentialNotFoundError), kit.vault.get_credential_for_update("nope"):
            pass

    def test_schema_and_activity(self, kit: Kit) -> None:
        """get_schema finds built-ins; has_activity_in_projects reads step activity."""
        assert kit.vault.get_schema("http").required == {"username", "password"}
        with pytest.raises(SchemaNotFoundError):
            kit.vault.get_schema("nope")
        cred = kit.pg()
        assert kit.vault.has_activity_in_projects(cred) is False
        kit.activity.record(cred.id)
        assert kit.vault.has_activity_in_projects(cred.id) is True

    def test_listing(self, kit: Kit) -> None:
        """Listing by project, by owner, and by owner within a project, ordered by name."""
        a = kit.pg("b-db", project_ids=["p1"])
        b = kit.pg("A-db", project_ids=["p1", "p2"])
        c = kit.pg("mine", owner="bob", project_ids=["p1"])
        assert [x.id for x in kit.vault.list_credentials(ProjectRef(id="p1"))] == [b.id, a.id, c.id]
        assert [x.id for x in kit.vault.list_credentials(kit.alice)] == [b.id, a.id]
        assert [
            x.id for x in kit.vault.list_user_credentials_in_project(kit.bob, ProjectRef(id="p1"))
        ] == [c.id]
        assert kit.vault.list_user_credentials_in_project(kit.alice, ProjectRef(id="p3")) == []


class TestSecrets:
    def test_sensitive_and_basic_auth(self, kit: Kit) -> None:
        """sensitive_values_for and basic_auth_for read the decrypted body (and OAuth tokens)."""
        cred = kit.vault.create_credential(
            {
                "name": "h",
                "schema": "http",
                "owner_id": "alice",
                "body": {"username": "u", "password": "p4ss"},
            }
        )
        assert kit.vault.sensitive_values_for(cred.id) == ["p4ss"]
        assert kit.vault.basic_auth_for(cred) == ["dTpwNHNz"]
        assert kit.vault.sensitive_values_for(None) == []
        assert kit.vault.basic_auth_for(None) == []
        oauth = kit.oauth()
        assert {"at-original", "rt-original"} <= set(kit.vault.sensitive_values_for(oauth))
        scrubber = kit.vault.scrubber_for(cred, oauth)
        assert scrubber.scrub("p4ss at-original dTpwNHNz") == "*** *** ***"


class TestEncryptionAtRest:
    def test_rotation_and_reencrypt(self) -> None:
        """After adding a key, old rows still open; reencrypt moves them to the new key."""
        old = make_kit(keyring=KeyRing([KEY1]))
        cred = old.pg()
        tok = old.oauth()
        rotated = make_kit(keyring=KeyRing([KEY2, KEY1]))
        rotated.store = old.store
        vault = rotated.vault
        vault._store = old.store  # same data, new ring
        assert vault.get_credential_or_raise(cred.id).body == cred.body
        result = vault.reencrypt()
        assert (result.credentials, result.tokens) == (2, 1)
        assert vault.reencrypt().credentials == 0
        assert list(vault.reencrypt_batches()) == [ReencryptResult(credentials=0, tokens=0)]
        only_new = make_kit(keyring=KeyRing([KEY2])).vault
        only_new._store = old.store
        assert (
            only_new.get_credential_or_raise(tok.id).oauth_token
            == vault.get_credential_or_raise(tok.id).oauth_token
        )

    def test_swapped_bodies_fail(self, kit: Kit) -> None:
        """Copying one row's ciphertext onto another row makes it fail to decrypt."""
        a, b = kit.pg("a"), kit.pg("b")
        from attrs import evolve

        with kit.store.transaction() as tx:
            row_a, row_b = tx.credentials.get(a.id), tx.credentials.get(b.id)
            assert row_a is not None
            assert row_b is not None
            tx.credentials.update(evolve(row_b, body_ciphertext=row_a.body_ciphertext))
        with pytest.raises(DecryptionError):
            kit.vault.get_credential(b.id)


class TestTransfer:
    def start(self, kit: Kit) -> tuple[str, str]:
        cred = kit.pg(project_ids=["p1"])
        pending = kit.vault.initiate_credential_transfer(kit.alice, kit.bob, cred)
        return cred.id, pending.token

    def test_full_flow(self, kit: Kit) -> None:
        """Initiate → pending + notify owner; confirm → owner moved, shares kept, tokens gone."""
        cid, token = self.start(kit)
        assert kit.vault.get_credential_or_raise(cid).transfer_status is TransferStatus.PENDING
        sent = kit.notifier.of_kind("transfer_requested")[0]
        assert sent.token == token
        assert sent.to == ("alice",)
        assert sent.at == kit.clock() + timedelta(days=2)
        done = kit.vault.confirm_transfer(cid, "bob", "alice", token)
        assert done.owner_id == "bob"
        assert done.transfer_status is TransferStatus.COMPLETED
        assert done.project_ids == {"p1"}
        assert kit.notifier.of_kind("transfer_completed")[0].to == ("alice", "bob")
        with kit.store.transaction() as tx:
            assert tx.transfers.for_credential(cid) == []
        event = kit.audit.events_for(cid)[-1]
        assert event.action is AuditAction.TRANSFER_COMPLETED
        assert event.changes == {
            "before": {"owner_id": "alice"},
            "after": {"owner_id": "bob"},
        }
        with pytest.raises(TransferTokenError):  # single use
            kit.vault.confirm_transfer(cid, "bob", "alice", token)

    def test_initiate_errors(self, kit: Kit) -> None:
        """Receiver must exist, differ from owner and reach every shared project; owner must own."""
        cred = kit.pg(project_ids=["p1", "p2"])
        with pytest.raises(UserNotFoundError):
            kit.vault.initiate_credential_transfer(
                kit.alice, kit.alice.__class__(id="ghost", email="g@x"), cred
            )
        with pytest.raises(TransferNotAllowedError):
            kit.vault.initiate_credential_transfer(kit.alice, kit.alice, cred)
        with pytest.raises(TransferNotAllowedError, match="member of every project"):
            kit.vault.initiate_credential_transfer(kit.alice, kit.carol, cred)
        with pytest.raises(NotOwnerError):
            kit.vault.initiate_credential_transfer(kit.bob, kit.carol, cred)
        with pytest.raises(CredentialNotFoundError):
            kit.vault.initiate_credential_transfer(kit.alice, kit.bob, "nope")
        assert kit.notifier.sent == []

    def test_confirm_errors(self, kit: Kit) -> None:
        """not_found, token_error, not_owner, not_pending and lost access are distinct."""
        cid, token = self.start(kit)
        with pytest.raises(CredentialNotFoundError):
            kit.vault.confirm_transfer("nope", "bob", "alice", token)
        with pytest.raises(UserNotFoundError):
            kit.vault.confirm_transfer(cid, "ghost", "alice", token)
        with pytest.raises(TransferTokenError):
            kit.vault.confirm_transfer(cid, "bob", "alice", token + "x")
        with pytest.raises(TransferTokenError):  # bound to bob, not carol
            kit.vault.confirm_transfer(cid, "carol", "alice", token)
        with pytest.raises(NotOwnerError):
            kit.vault.confirm_transfer(cid, "bob", "carol", token)
        kit.directory.revoke("bob", "p1")
        with pytest.raises(TransferNotAllowedError):
            kit.vault.confirm_transfer(cid, "bob", "alice", token)
        kit.directory.grant("bob", "p1")
        kit.clock.advance(timedelta(days=2).total_seconds())
        with pytest.raises(TransferTokenError, match="expired"):
            kit.vault.confirm_transfer(cid, "bob", "alice", token)
        assert kit.vault.get_credential_or_raise(cid).owner_id == "alice"

    def test_revoked_token_is_dead(self, kit: Kit) -> None:
        """After revoke, the old token no longer confirms; revoke twice is not_pending."""
        cid, token = self.start(kit)
        with pytest.raises(NotOwnerError):
            kit.vault.revoke_transfer(cid, kit.bob)
        revoked = kit.vault.revoke_transfer(cid, kit.alice)
        assert revoked.transfer_status is None
        assert kit.notifier.of_kind("transfer_revoked")[0].to == ("alice", "bob")
        with pytest.raises(TransferTokenError):
            kit.vault.confirm_transfer(cid, "bob", "alice", token)
        with pytest.raises(NotPendingError):
            kit.vault.revoke_transfer(cid, "alice")
        with pytest.raises(CredentialNotFoundError):
            kit.vault.revoke_transfer("nope", "alice")

    def test_other_transfers_survive(self, kit: Kit) -> None:
        """Confirming one transfer does not kill the owner's other pending transfers."""
        cid1, tok1 = self.start(kit)
        other = kit.pg("other", project_ids=["p1"])
        tok2 = kit.vault.initiate_credential_transfer(kit.alice, kit.bob, other).token
        kit.vault.confirm_transfer(cid1, "bob", "alice", tok1)
        with pytest.raises(TransferTokenError):  # token of one credential does not open another
            kit.vault.confirm_transfer(other.id, "bob", "alice", tok1)
        assert kit.vault.confirm_transfer(other.id, "bob", "alice", tok2).owner_id == "bob"

    def test_not_pending_after_schedule(self, kit: Kit) -> None:
        """Scheduling deletion cancels a pending transfer: confirming is then not possible."""
        cid, token = self.start(kit)
        kit.vault.schedule_credential_deletion(cid)
        with pytest.raises(TransferTokenError):
            kit.vault.confirm_transfer(cid, "bob", "alice", token)

    def test_receiver_name_clash(self, kit: Kit) -> None:
        """A receiver owning a credential of the same name gets a validation error."""
        cid, token = self.start(kit)
        kit.pg("db", owner="bob")
        with pytest.raises(CredentialValidationError) as info:
            kit.vault.confirm_transfer(cid, "bob", "alice", token)
        assert info.value.field_errors[0].path == "name"

    def test_transfer_form_and_validation(self, kit: Kit) -> None:
        """transfer_form + validate_credential_transfer check the email."""
        cred = kit.pg(project_ids=["p2"])
        empty = kit.vault.transfer_form()
        assert empty.email is None
        assert not empty.valid
        ok = kit.vault.validate_credential_transfer(
            kit.vault.transfer_form("bob@example.org"), kit.alice, cred
        )
        assert ok.valid
        assert ok.receiver == kit.bob
        bad = kit.vault.validate_credential_transfer(
            kit.vault.transfer_form("carol@example.org"), kit.alice, cred
        )
        assert [e.message for e in bad.errors] == ["User doesn't have access to these projects: p2"]


class TestDeletion:
    def test_schedule_and_purge_immediately(self, kit: Kit) -> None:
        """With no grace period the next purge deletes; shares removed, owner notified, audited."""
        cred = kit.pg(project_ids=["p1"])
        scheduled = kit.vault.schedule_credential_deletion(cred, actor_id="admin")
        assert scheduled.scheduled_deletion == kit.clock()
        assert scheduled.shares == ()
        assert kit.notifier.of_kind("deletion_scheduled")[0].to == ("alice",)
        assert kit.vault.list_credentials(ProjectRef(id="p1")) == []
        result = kit.vault.purge_deleted()
        assert (result.scrubbed, result.deleted, result.kept) == (1, 1, 0)
        assert kit.vault.get_credential(cred.id) is None
        actions = [e.action for e in kit.audit.events_for(cred.id)]
        assert AuditAction.DELETION_SCHEDULED in actions
        assert actions[-1] is AuditAction.PURGED

    def test_grace_period_and_cancel(self) -> None:
        """purge_deleted_after_days delays the purge; cancelling keeps the credential."""
        kit = make_kit(VaultConfig(purge_deleted_after_days=7))
        cred = kit.pg()
        assert kit.vault.schedule_credential_deletion(
            cred
        ).scheduled_deletion == kit.clock() + timedelta(days=7)
        assert kit.vault.purge_deleted().deleted == 0
        kept = kit.vault.cancel_scheduled_deletion(cred.id, actor_id="admin")
        assert kept.scheduled_deletion is None
        assert kit.audit.events_for(cred.id)[-1].action is AuditAction.DELETION_CANCELLED
        kit.clock.advance(timedelta(days=8).total_seconds())
        assert kit.vault.purge_deleted().deleted == 0
        with pytest.raises(CredentialNotFoundError):
            kit.vault.cancel_scheduled_deletion("nope")
        with pytest.raises(CredentialNotFoundError):
            kit.vault.schedule_credential_deletion("nope")

    def test_purge_keeps_active_rows_scrubbed_with_true_counts(self, kit: Kit) -> None:
        """Rows with step activity are scrubbed (body, token nulled) and kept; counts are true."""
        used = kit.oauth("used")
        unused = kit.pg("unused")
        typed = kit.pg("typed")
        kit.activity.record(used.id)
        for cred in (used, unused, typed):
            kit.vault.schedule_credential_deletion(cred)
        result = kit.vault.purge_deleted(batch_size=2)
        assert (result.scrubbed, result.deleted, result.kept) == (3, 2, 1)
        left = kit.vault.get_credential_or_raise(used.id)
        assert left.body is None
        assert left.oauth_token is None
        again = kit.vault.purge_deleted()
        assert (again.scrubbed, again.deleted, again.kept) == (0, 0, 1)
        kit.activity.clear(used.id)
        assert kit.vault.purge_deleted().deleted == 1

    def test_purge_batches_yield_running_totals_and_stop_cleanly(self, kit: Kit) -> None:
        """purge_deleted_batches: running totals per committed batch; stopping early
        loses nothing and a new run continues to the true total."""
        creds = [kit.pg(f"due-{i}") for i in range(5)]
        for cred in creds:
            kit.vault.schedule_credential_deletion(cred)
        batches = kit.vault.purge_deleted_batches(batch_size=2)
        first = next(batches)
        assert (first.scrubbed, first.deleted, first.kept) == (2, 2, 0)
        batches.close()  # type: ignore[attr-defined]
        assert sum(kit.vault.get_credential(c.id) is None for c in creds) == 2
        totals = [(r.deleted, r.kept) for r in kit.vault.purge_deleted_batches(batch_size=2)]
        assert totals == [(2, 0), (3, 0)]
        assert list(kit.vault.purge_deleted_batches()) == []

    def test_schedule_revokes_oauth_tokens(self, kit: Kit) -> None:
        """Scheduling revokes the refresh and access tokens at the provider, then audits it."""
        cred = kit.oauth()
        kit.vault.schedule_credential_deletion(cred)
        revokes = [r for r in kit.provider.requests if r.url.path == "/revoke"]
        assert len(revokes) == 2
        assert kit.audit.events_for(cred.id)[-1].action is AuditAction.TOKEN_REVOKED


class _PlainAudit:
    """An audit sink with only the required methods (no ``record_purged``)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def events_for(self, credential_id: str) -> list[AuditEvent]:
        return [e for e in self.events if e.credential_id == credential_id]


def test_purge_audits_one_event_at_a_time_without_record_purged() -> None:
    """A host's sink without record_purged gets the same purge rows, ids from new_id."""
    kit = make_kit()
    plain = _PlainAudit()
    ids = iter(f"id-{n}" for n in range(1000))
    vault = Vault(
        store=kit.store,
        keyring=KeyRing([KEY1]),
        audit=plain,
        activity=kit.activity,
        clock=kit.clock,
        new_id=lambda: next(ids),
    )
    first, second = kit.pg(name="one"), kit.pg(name="two")
    kit.activity.record(second.id)
    for cred in (first, second):
        vault.schedule_credential_deletion(cred)
    assert vault.purge_deleted() == PurgeResult(scrubbed=2, deleted=1, kept=1)
    purged = [e for e in plain.events if e.action is AuditAction.PURGED]
    assert sorted((e.credential_id, e.metadata["deleted"]) for e in purged) == sorted(
        [(first.id, True), (second.id, False)]
    )
    assert all(e.id.startswith("id-") and e.actor_id is None for e in purged)
