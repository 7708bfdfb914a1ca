"""Contract tests for the credentials-vault ports; every adapter's test module reuses them.

Subclass a suite and supply the ``make_*`` fixture returning a fresh adapter::

    class TestMyStore(VaultStoreContract):
        @pytest.fixture
        def make_store(self): return lambda: MyStore(...)

The async form of a store runs the same suite (through the blocking view of
``async_bridge``) plus the async-only tests, from one fixture::

    class TestMyAsyncStore(AsyncVaultStoreContract):
        @pytest.fixture
        def make_async_store(self): return lambda: MyAsyncStore(...)

The host-port suites take ``blocking(async_port)`` the same way.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from attrs import evolve

from credlti.credentials import (
    AuditAction,
    AuditEvent,
    CredentialRow,
    OAuthClient,
    OAuthTokenRow,
    ProjectShare,
    TransferTokenRow,
    VaultUser,
)
from credlti.errors import StorageConflictError, StorageInvalidIdError, StorageUnavailableError

from .async_bridge import blocking, run_blocking

NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)

#: Ids no backend stores the same way: refused on writes, absent on lookups, everywhere.
HOSTILE_IDS = ["", "nul\x00byte", "lone\ud800surrogate", "x" * 256, "line\nbreak"]


def row(cid: str, name: str | None = None, owner: str = "o", **extra: Any) -> CredentialRow:
    return CredentialRow(
        id=cid,
        name=name or cid,
        schema="raw",
        owner_id=owner,
        body_ciphertext=b"ct-" + cid.encode(),
        created_at=NOW,
        updated_at=NOW,
        **extra,
    )


def share(sid: str, cid: str, project: str) -> ProjectShare:
    return ProjectShare(id=sid, credential_id=cid, project_id=project, created_at=NOW)


def token(cid: str, version: int = 1) -> OAuthTokenRow:
    return OAuthTokenRow(
        credential_id=cid, client_id="c", ciphertext=b"tok", last_refreshed=NOW, version=version
    )


class VaultStoreContract:
    """Everything the Vault relies on from a :class:`credlti.ports.VaultStore`."""

    @pytest.fixture
    def store(self, make_store: Callable[[], Any]) -> Any:
        return make_store()

    def test_add_get_update_delete(self, store: Any) -> None:
        """Rows round-trip unchanged; update replaces; delete reports existence."""
        with store.transaction() as tx:
            tx.credentials.add(row("a"))
        with store.transaction() as tx:
            assert tx.credentials.get("a") == row("a")
            tx.credentials.update(evolve(row("a"), name="renamed"))
            assert tx.credentials.get_for_update("a").name == "renamed"
            assert tx.credentials.delete("a") is True
            assert tx.credentials.delete("a") is False
            assert tx.credentials.get("a") is None

    def test_name_unique_per_owner(self, store: Any) -> None:
        """(owner, name) is unique on add and update; other owners may reuse it."""
        with store.transaction() as tx:
            tx.credentials.add(row("a", "db"))
            tx.credentials.add(row("b", "db", owner="p"))
            tx.credentials.add(row("c", "other"))
        with pytest.raises(StorageConflictError), store.transaction() as tx:
            tx.credentials.add(row("d", "db"))
        with pytest.raises(StorageConflictError), store.transaction() as tx:
            tx.credentials.update(evolve(row("c"), name="db"))
        with pytest.raises(StorageConflictError), store.transaction() as tx:
            tx.credentials.add(row("a", "fresh"))

    def test_find_by_name_is_an_exact_point_lookup(self, store: Any) -> None:
        """find_by_name: the id holding (owner, name) exactly (case-sensitive), else None."""
        with store.transaction() as tx:
            tx.credentials.add(row("a", "db"))
            tx.credentials.add(row("b", "db", owner="p"))
            tx.credentials.add(row("c", "DB"))
        with store.transaction() as tx:
            assert tx.credentials.find_by_name("o", "db") == "a"
            assert tx.credentials.find_by_name("p", "db") == "b"
            assert tx.credentials.find_by_name("o", "DB") == "c"
            assert tx.credentials.find_by_name("o", "db ") is None
            assert tx.credentials.find_by_name("q", "db") is None
            tx.credentials.update(evolve(row("a", "db"), name="renamed"))
            assert tx.credentials.find_by_name("o", "db") is None
            assert tx.credentials.find_by_name("o", "renamed") == "a"
            tx.credentials.delete("a")
            assert tx.credentials.find_by_name("o", "renamed") is None
        with pytest.raises(RuntimeError), store.transaction() as tx:  # noqa: PT012
            tx.credentials.add(row("d", "rolled back"))
            assert tx.credentials.find_by_name("o", "rolled back") == "d"
            raise RuntimeError
        with store.transaction() as tx:
            assert tx.credentials.find_by_name("o", "rolled back") is None

    @pytest.mark.parametrize("bad", HOSTILE_IDS)
    def test_hostile_ids_are_absent_on_lookups(self, store: Any, bad: str) -> None:
        """Lookups with an unusable id find nothing (no driver error), on every backend."""
        with store.transaction() as tx:
            tx.credentials.add(row("a"))
            tx.shares.add(share("s", "a", "p"))
        with store.transaction() as tx:
            assert tx.credentials.get(bad) is None
            assert tx.credentials.get_for_update(bad) is None
            assert tx.credentials.delete(bad) is False
            assert tx.credentials.find_by_name("o", bad) is None
            assert tx.credentials.find_by_name(bad, "a") is None
            assert tx.credentials.find(owner_id=bad) == []
            assert tx.credentials.find(project_id=bad) == []
            assert tx.shares.get(bad) is None
            assert tx.shares.remove(bad) is False
            assert tx.shares.for_credential(bad) == []
            assert tx.oauth_tokens.get(bad) is None
            assert tx.oauth_tokens.delete(bad) is False
            assert tx.oauth_tokens.compare_and_set(token(bad), expected_version=1) is False
            assert tx.transfers.for_credential(bad) == []
            assert tx.transfers.delete_for_credential(bad) == 0
        with store.transaction() as tx:  # the unit of work is still usable afterwards
            assert tx.credentials.get("a") == row("a")

    @pytest.mark.parametrize("bad", HOSTILE_IDS)
    @pytest.mark.parametrize("field", ["id", "owner_id", "name"])
    def test_hostile_ids_are_refused_on_writes(self, store: Any, bad: str, field: str) -> None:
        """A write with an unusable id raises StorageInvalidIdError and stores nothing."""
        with store.transaction() as tx:
            tx.credentials.add(row("a"))
        changes: dict[str, Any] = {field: bad}
        hostile = evolve(row("b"), **changes)
        with pytest.raises(StorageInvalidIdError) as info, store.transaction() as tx:
            tx.credentials.add(hostile)
        assert info.value.code == "storage_invalid_id"
        assert info.value.details["field"] == field
        assert bad not in str(info.value) or not bad
        with pytest.raises(StorageInvalidIdError), store.transaction() as tx:
            tx.credentials.update(evolve(row("a"), **changes))
        with store.transaction() as tx:
            assert tx.credentials.get("a") == row("a")
            assert tx.credentials.get("b") is None

    @pytest.mark.parametrize("bad", HOSTILE_IDS)
    def test_hostile_ids_are_refused_on_child_writes(self, store: Any, bad: str) -> None:
        """Shares, tokens and transfer tokens with an unusable id are refused too."""
        with store.transaction() as tx:
            tx.credentials.add(row("a"))
        writes: list[Callable[[Any], None]] = [
            lambda tx: tx.shares.add(share(bad, "a", "p")),
            lambda tx: tx.shares.add(share("s", "a", bad)),
            lambda tx: tx.oauth_tokens.put(token(bad)),
            lambda tx: tx.transfers.add(
                TransferTokenRow(
                    id="t",
                    credential_id="a",
                    owner_id="o",
                    receiver_id=bad,
                    token_hash=b"h",
                    created_at=NOW,
                    expires_at=NOW,
                )
            ),
        ]
        for write in writes:
            with pytest.raises(StorageInvalidIdError), store.transaction() as tx:
                write(tx)
        with store.transaction() as tx:
            assert tx.shares.for_credential("a") == []
            assert tx.transfers.for_credential("a") == []

    def test_scrub_due_rollback_restores_shares_tokens_and_names(self, store: Any) -> None:
        """A purge batch rolled back leaves rows, bodies, shares and tokens as they were."""
        due = NOW - timedelta(days=1)
        with store.transaction() as tx:
            for cid in ("d", "k"):
                tx.credentials.add(row(cid, scheduled_deletion=due))
                tx.shares.add(share(f"s-{cid}", cid, "p"))
                tx.oauth_tokens.put(token(cid))
        with pytest.raises(RuntimeError), store.transaction() as tx:  # noqa: PT012
            handled = tx.credentials.scrub_due(["d", "k"], now=NOW, delete={"d"})
            assert [(h.credential_id, h.deleted) for h in handled] == [("d", True), ("k", False)]
            assert tx.credentials.get("d") is None
            assert tx.credentials.get("k").body_ciphertext is None
            raise RuntimeError
        with store.transaction() as tx:
            for cid in ("d", "k"):
                assert tx.credentials.get(cid) == row(cid, scheduled_deletion=due)
                assert tx.shares.for_credential(cid) == [share(f"s-{cid}", cid, "p")]
                assert tx.oauth_tokens.get(cid) == token(cid)
            assert tx.credentials.find_by_name("o", "d") == "d"
            assert [r.id for r in tx.credentials.find(project_id="p")] == ["d", "k"]

    def test_rollback(self, store: Any) -> None:
        """An exception inside the unit of work undoes every write in it."""
        with store.transaction() as tx:
            tx.credentials.add(row("keep"))
        with pytest.raises(RuntimeError), store.transaction() as tx:  # noqa: PT012
            tx.credentials.add(row("a"))
            tx.credentials.update(evolve(row("keep"), name="changed"))
            tx.shares.add(share("s", "keep", "p1"))
            tx.oauth_tokens.put(token("keep"))
            tx.transfers.add(
                TransferTokenRow(
                    id="t",
                    credential_id="keep",
                    owner_id="o",
                    receiver_id="r",
                    token_hash=b"h",
                    created_at=NOW,
                    expires_at=NOW,
                )
            )
            tx.credentials.delete("keep")
            raise RuntimeError
        with store.transaction() as tx:
            assert tx.credentials.get("a") is None
            assert tx.credentials.get("keep") == row("keep")
            assert tx.shares.for_credential("keep") == []
            assert tx.oauth_tokens.get("keep") is None
            assert tx.transfers.for_credential("keep") == []

    def test_find_and_shares(self, store: Any) -> None:
        """find filters by owner/project, ordered by lower(name); shares unique per project."""
        with store.transaction() as tx:
            tx.credentials.add(row("1", "b"))
            tx.credentials.add(row("2", "A"))
            tx.credentials.add(row("3", "c", owner="x"))
            tx.shares.add(share("s1", "1", "p"))
            tx.shares.add(share("s2", "3", "p"))
        with store.transaction() as tx:
            assert [r.id for r in tx.credentials.find(owner_id="o")] == ["2", "1"]
            assert [r.id for r in tx.credentials.find(project_id="p")] == ["1", "3"]
            assert [r.id for r in tx.credentials.find(owner_id="o", project_id="p")] == ["1"]
            assert tx.shares.get("s1") == share("s1", "1", "p")
        with pytest.raises(StorageConflictError), store.transaction() as tx:
            tx.shares.add(share("s3", "1", "p"))
        with store.transaction() as tx:
            assert tx.shares.remove("s1") is True
            assert tx.shares.remove("s1") is False
            assert tx.credentials.find(project_id="p")[0].id == "3"

    def test_shares_and_tokens_of_many_credentials(self, store: Any) -> None:
        """for_credentials / get_many: every listed id at once, absent ids left out."""
        later = NOW + timedelta(seconds=1)
        with store.transaction() as tx:
            for cid in ("1", "2", "3"):
                tx.credentials.add(row(cid))
            tx.shares.add(
                ProjectShare(id="s0", credential_id="1", project_id="q", created_at=later)
            )
            tx.shares.add(share("s9", "1", "p"))
            tx.shares.add(share("s5", "2", "p"))
            tx.oauth_tokens.put(token("1", 4))
            tx.oauth_tokens.put(token("3"))
        many = [str(i) for i in range(1200)] + ["1", "\x00bad"]  # past one IN chunk
        with store.transaction() as tx:
            shares = tx.shares.for_credentials(many)
            assert shares == {
                "1": [share("s9", "1", "p"), tx.shares.get("s0")],
                "2": [share("s5", "2", "p")],
            }
            assert tx.shares.for_credentials([]) == {}
            assert tx.oauth_tokens.get_many(many) == {"1": token("1", 4), "3": token("3")}
            assert tx.oauth_tokens.get_many(["2"]) == {}

    def test_delete_cascades(self, store: Any) -> None:
        """Deleting a credential removes its shares, token and transfer tokens."""
        with store.transaction() as tx:
            tx.credentials.add(row("a"))
            tx.shares.add(share("s", "a", "p"))
            tx.oauth_tokens.put(token("a"))
            tx.transfers.add(
                TransferTokenRow(
                    id="t",
                    credential_id="a",
                    owner_id="o",
                    receiver_id="r",
                    token_hash=b"h",
                    created_at=NOW,
                    expires_at=NOW,
                )
            )
        with store.transaction() as tx:
            tx.credentials.delete("a")
        with store.transaction() as tx:
            assert tx.shares.get("s") is None
            assert tx.oauth_tokens.get("a") is None
            assert tx.transfers.for_credential("a") == []

    def test_token_compare_and_set(self, store: Any) -> None:
        """compare_and_set writes only when the stored version matches."""
        with store.transaction() as tx:
            tx.credentials.add(row("a"))
            tx.oauth_tokens.put(token("a", 1))
            assert tx.oauth_tokens.compare_and_set(token("a", 2), expected_version=1) is True
            assert tx.oauth_tokens.compare_and_set(token("a", 3), expected_version=1) is False
            assert tx.oauth_tokens.get("a").version == 2
            assert tx.oauth_tokens.delete("a") is True
            assert tx.oauth_tokens.delete("a") is False
            assert tx.oauth_tokens.compare_and_set(token("a", 9), expected_version=2) is False

    def test_transfers(self, store: Any) -> None:
        """Transfer tokens are listed and deleted per credential only."""
        with store.transaction() as tx:
            tx.credentials.add(row("a"))
            tx.credentials.add(row("b"))
            for tid, cid in (("t1", "a"), ("t2", "a"), ("t3", "b")):
                tx.transfers.add(
                    TransferTokenRow(
                        id=tid,
                        credential_id=cid,
                        owner_id="o",
                        receiver_id="r",
                        token_hash=tid.encode(),
                        created_at=NOW,
                        expires_at=NOW,
                    )
                )
            assert tx.transfers.delete_for_credential("a") == 2
            assert [t.id for t in tx.transfers.for_credential("b")] == ["t3"]

    def test_scrub_due_scrubs_deletes_and_skips(self, store: Any) -> None:
        """scrub_due: due rows lose token and transfers; listed ones go, others keep a null body."""
        past, later = NOW - timedelta(days=1), NOW + timedelta(days=1)
        with store.transaction() as tx:
            tx.credentials.add(row("gone", scheduled_deletion=past))
            tx.credentials.add(row("kept", scheduled_deletion=past))
            tx.credentials.add(
                attrs.evolve(row("bare", scheduled_deletion=past), body_ciphertext=None)
            )
            tx.credentials.add(row("future", scheduled_deletion=later))
            tx.credentials.add(row("live"))
            tx.shares.add(share("s1", "gone", "p"))
            tx.shares.add(share("s2", "kept", "p"))
            tx.oauth_tokens.put(token("gone"))
            tx.oauth_tokens.put(token("kept"))
            tx.transfers.add(
                TransferTokenRow(
                    id="t",
                    credential_id="kept",
                    owner_id="o",
                    receiver_id="r",
                    token_hash=b"h",
                    created_at=NOW,
                    expires_at=NOW,
                )
            )
        ids = ["kept", "missing", "future", "gone", "bare", "live"]
        with store.transaction() as tx:
            handled = tx.credentials.scrub_due(ids, now=NOW, delete={"gone"})

        assert [tuple(r) for r in handled] == [
            ("kept", True, False),
            ("gone", True, True),
            ("bare", False, False),
        ]
        with store.transaction() as tx:
            assert tx.credentials.get("gone") is None
            assert tx.shares.get("s1") is None
            kept = tx.credentials.get("kept")
            assert kept is not None
            assert kept.body_ciphertext is None
            assert kept.updated_at == NOW
            assert tx.shares.get("s2") is not None  # kept rows keep their shares
            assert tx.oauth_tokens.get("kept") is None
            assert tx.transfers.for_credential("kept") == []
            assert tx.credentials.get("future").body_ciphertext == b"ct-future"
            assert tx.credentials.get("live").body_ciphertext == b"ct-live"
            # A second pass finds nothing new to scrub.
            again = tx.credentials.scrub_due(["kept", "bare"], now=NOW, delete=set())
            assert [tuple(r) for r in again] == [("kept", False, False), ("bare", False, False)]

    def test_scrub_due_is_undone_by_a_rollback(self, store: Any) -> None:
        """A failure later in the unit of work restores every scrubbed and deleted row."""
        past = NOW - timedelta(days=1)
        with store.transaction() as tx:
            tx.credentials.add(row("a", scheduled_deletion=past))
            tx.credentials.add(row("b", scheduled_deletion=past))
            tx.oauth_tokens.put(token("a"))

        def scrub_then_fail() -> None:
            with store.transaction() as tx:
                tx.credentials.scrub_due(["a", "b"], now=NOW, delete={"b"})
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            scrub_then_fail()
        with store.transaction() as tx:
            assert tx.credentials.get("a").body_ciphertext == b"ct-a"
            assert tx.oauth_tokens.get("a") is not None
            assert tx.credentials.get("b") is not None

    def test_scan_is_keyset_paginated(self, store: Any) -> None:
        """scan_credentials walks by id after a cursor and filters due rows."""
        with store.transaction() as tx:
            for i in range(7):
                due = NOW - timedelta(days=1) if i % 2 else None
                tx.credentials.add(row(f"id{i}", scheduled_deletion=due))
        first = store.scan_credentials(after_id=None, limit=3)
        assert [r.id for r in first] == ["id0", "id1", "id2"]
        assert [r.id for r in store.scan_credentials(after_id="id2", limit=10)] == [
            "id3",
            "id4",
            "id5",
            "id6",
        ]
        assert [r.id for r in store.scan_credentials(after_id=None, limit=10, due_before=NOW)] == [
            "id1",
            "id3",
            "id5",
        ]
        assert store.scan_credentials(after_id="id6", limit=10) == []

    def test_get_for_update_blocks_other_writers(self, store: Any) -> None:
        """A row locked by one unit of work is not readable for update by another until commit."""
        with store.transaction() as tx:
            tx.credentials.add(row("a"))
        order: list[str] = []
        locked = threading.Event()

        def other() -> None:
            locked.wait(2)
            with store.transaction() as tx:
                tx.credentials.get_for_update("a")
                order.append("other")

        thread = threading.Thread(target=other)
        thread.start()
        with store.transaction() as tx:
            tx.credentials.get_for_update("a")
            locked.set()
            time.sleep(0.05)
            order.append("first")
        thread.join(2)
        assert order == ["first", "other"]

    def test_named_lock_single_flight(self, store: Any) -> None:
        """lock(key) admits one holder; a waiter times out with StorageUnavailableError."""
        with store.lock("k", timeout=1):
            result: list[BaseException] = []

            def waiter() -> None:
                try:
                    with store.lock("k", timeout=0.05):
                        pass
                except StorageUnavailableError as exc:
                    result.append(exc)

            t = threading.Thread(target=waiter)
            t.start()
            t.join(2)
            assert len(result) == 1
            with store.lock("other", timeout=0.05):
                pass
        with store.lock("k", timeout=0.05):
            pass


class AsyncVaultStoreContract(VaultStoreContract):
    """An :class:`credlti.ports.AsyncVaultStore`: the sync suite through a blocking view,
    plus what only tasks sharing one event loop can show. Supply ``make_async_store``.
    """

    @pytest.fixture
    def make_store(self, make_async_store: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: blocking(make_async_store())

    @pytest.fixture
    def async_store(self, make_async_store: Callable[[], Any]) -> Any:
        return make_async_store()

    def test_nested_transaction_joins_and_rolls_back_as_one(self, async_store: Any) -> None:
        """A unit of work opened inside another (same task) joins it: one commit or rollback."""

        async def scenario() -> tuple[Any, Any, Any]:
            async with async_store.transaction() as tx:
                await tx.credentials.add(row("a"))
            with pytest.raises(RuntimeError):  # noqa: PT012
                async with async_store.transaction() as outer:
                    await outer.credentials.add(row("b"))
                    async with async_store.transaction() as inner:
                        seen = await inner.credentials.get("b")
                        await inner.credentials.delete("a")
                    raise RuntimeError
            async with async_store.transaction() as tx:
                return seen, await tx.credentials.get("a"), await tx.credentials.get("b")

        seen, a, b = run_blocking(scenario())
        assert seen == row("b")
        assert a == row("a")
        assert b is None

    def test_tasks_read_modify_write_in_turn(self, async_store: Any) -> None:
        """Two tasks locking one row for update each see the other's committed write."""

        async def rename(suffix: str) -> None:
            async with async_store.transaction() as tx:
                current = await tx.credentials.get_for_update("a")
                await asyncio.sleep(0.02)  # the other task runs meanwhile
                await tx.credentials.update(evolve(current, name=current.name + suffix))

        async def scenario() -> str:
            async with async_store.transaction() as tx:
                await tx.credentials.add(row("a", "n"))
            await asyncio.gather(rename("1"), rename("2"))
            async with async_store.transaction() as tx:
                found = await tx.credentials.get("a")
                return str(found.name)

        assert sorted(run_blocking(scenario())) == sorted("n12")

    def test_named_lock_between_tasks(self, async_store: Any) -> None:
        """lock(key) admits one task; another times out; other keys are free."""

        async def scenario() -> list[str]:
            seen: list[str] = []
            async with async_store.lock("k", timeout=1):
                try:
                    async with async_store.lock("k", timeout=0.05):
                        seen.append("entered")
                except StorageUnavailableError:
                    seen.append("timed out")
                async with async_store.lock("other", timeout=0.05):
                    seen.append("other")
            async with async_store.lock("k", timeout=0.05):
                seen.append("again")
            return seen

        assert run_blocking(scenario()) == ["timed out", "other", "again"]

    def test_a_cancelled_waiter_leaves_the_lock_free(self, async_store: Any) -> None:
        """A task cancelled while waiting for a named lock never ends up holding it."""

        async def wait_for_it() -> None:
            async with async_store.lock("k", timeout=5):
                pytest.fail("a waiter cancelled before the lock was free was given it")

        async def scenario() -> str:
            async with async_store.lock("k", timeout=1):
                waiter = asyncio.ensure_future(wait_for_it())
                await asyncio.sleep(0.02)
                waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            async with async_store.lock("k", timeout=0.5):
                return "free"

        assert run_blocking(scenario()) == "free"

    def test_scan_is_an_async_iterator(self, async_store: Any) -> None:
        """scan_credentials hands out rows with ``async for``."""

        async def scenario() -> list[str]:
            async with async_store.transaction() as tx:
                for cid in ("b", "a"):
                    await tx.credentials.add(row(cid))
            rows = async_store.scan_credentials(after_id=None, limit=10)
            assert hasattr(rows, "__anext__")
            return [r.id async for r in rows]

        assert run_blocking(scenario()) == ["a", "b"]


class UserDirectoryContract:
    """A :class:`credlti.ports.UserDirectory` seeded through ``make_directory(users)``."""

    def test_lookup(
        self, make_directory: Callable[[list[tuple[VaultUser, list[str]]]], Any]
    ) -> None:
        """Users by id and by case-insensitive email; projects per user."""
        d = make_directory([(VaultUser(id="u", email="U@X.org"), ["p1", "p2"])])
        assert d.get_user("u").email == "U@X.org"
        assert d.get_user("z") is None
        assert d.get_user_by_email("u@x.ORG").id == "u"
        assert d.get_user_by_email("no@x") is None
        assert d.accessible_projects("u") == {"p1", "p2"}
        assert d.accessible_projects("z") == set()


class StepActivityContract:
    """A :class:`credlti.ports.StepActivity` seeded through ``make_activity(used_ids)``."""

    def test_activity(self, make_activity: Callable[[list[str]], Any]) -> None:
        """has_activity per id; with_activity answers a batch in one call."""
        a = make_activity(["x", "y"])
        assert a.has_activity("x")
        assert not a.has_activity("z")
        assert a.with_activity(["x", "z", "y"]) == {"x", "y"}

    @pytest.mark.parametrize("bad", HOSTILE_IDS)
    def test_hostile_ids_have_no_activity(
        self, make_activity: Callable[[list[str]], Any], bad: str
    ) -> None:
        """Unusable ids have no activity (no driver error)."""
        a = make_activity(["x"])
        assert not a.has_activity(bad)
        assert a.with_activity([bad, "x"]) == {"x"}


class AuditSinkContract:
    """A :class:`credlti.ports.AuditSink` from ``make_audit()``."""

    def test_append_and_read(self, make_audit: Callable[[], Any]) -> None:
        """Events come back per credential, oldest first."""
        sink = make_audit()
        events = [
            AuditEvent(
                id=str(i),
                action=AuditAction.CREATED,
                credential_id="c" if i != 1 else "d",
                actor_id="a",
                at=NOW + timedelta(seconds=i),
            )
            for i in range(3)
        ]
        for e in events:
            sink.record(e)
        assert sink.events_for("c") == [events[0], events[2]]
        assert sink.events_for("z") == []

    @pytest.mark.parametrize("bad", HOSTILE_IDS)
    def test_hostile_ids(self, make_audit: Callable[[], Any], bad: str) -> None:
        """An event with an unusable id is refused; reading one finds nothing."""
        sink = make_audit()
        event = AuditEvent(
            id="e", action=AuditAction.CREATED, credential_id=bad, actor_id="a", at=NOW
        )
        with pytest.raises(StorageInvalidIdError):
            sink.record(event)
        assert sink.events_for(bad) == []

    def test_record_purged_appends_one_event_per_credential(
        self, make_audit: Callable[[], Any]
    ) -> None:
        """record_purged writes a purge batch's events: action, metadata, no actor, new ids."""
        sink = make_audit()
        earlier = AuditEvent(
            id="e0", action=AuditAction.DELETION_SCHEDULED, credential_id="c", actor_id="a", at=NOW
        )
        sink.record(earlier)
        later = NOW + timedelta(minutes=1)
        sink.record_purged(["c", "d", "e"], deleted={"c", "e", "unrelated"}, at=later)
        sink.record_purged([], deleted=set(), at=later)
        c_events = sink.events_for("c")
        assert c_events[0] == earlier
        purged = [*c_events[1:], *sink.events_for("d"), *sink.events_for("e")]
        assert [(e.credential_id, e.metadata) for e in purged] == [
            ("c", {"deleted": True}),
            ("d", {"deleted": False}),
            ("e", {"deleted": True}),
        ]
        for event in purged:
            assert event.action is AuditAction.PURGED
            assert (event.actor_id, event.at, event.changes) == (None, later, {})
            assert event.item_type == "credential"
        ids = [e.id for e in purged]
        assert all(ids)
        assert len(set(ids)) == 3
        assert "e0" not in ids

    @pytest.mark.parametrize("bad", HOSTILE_IDS)
    def test_record_purged_refuses_hostile_ids(
        self, make_audit: Callable[[], Any], bad: str
    ) -> None:
        """An unusable id in the batch is refused and nothing of the batch is written."""
        sink = make_audit()
        with pytest.raises(StorageInvalidIdError):
            sink.record_purged(["ok", bad], deleted={"ok"}, at=NOW)
        assert sink.events_for("ok") == []


class OAuthClientRegistryContract:
    """A :class:`credlti.ports.OAuthClientRegistry` seeded through ``make_clients(clients)``."""

    def test_get_client(self, make_clients: Callable[[list[OAuthClient]], Any]) -> None:
        """Clients by our id; unknown ids give None."""
        client = OAuthClient(id="g", client_id="cid", client_secret="s", token_endpoint="https://t")
        reg = make_clients([client])
        assert reg.get_client("g") == client
        assert reg.get_client("x") is None
        for bad in HOSTILE_IDS:
            assert reg.get_client(bad) is None


class NotifierContract:
    """A :class:`credlti.ports.VaultNotifier` from ``make_notifier()``: every call is accepted."""

    def test_accepts_every_notice(self, make_notifier: Callable[[], Any]) -> None:
        """All four notices can be sent without error."""
        from credlti.credentials import Credential

        n = make_notifier()
        cred = Credential(
            id="c", name="n", schema="raw", owner_id="o", body={}, created_at=NOW, updated_at=NOW
        )
        o, r = VaultUser(id="o", email="o@x"), VaultUser(id="r", email="r@x")
        assert (
            n.transfer_requested(credential=cred, owner=o, receiver=r, token="t", expires_at=NOW)
            is None
        )
        assert n.transfer_completed(credential=cred, owner=o, receiver=r) is None
        assert n.transfer_revoked(credential=cred, owner=o, receiver=None) is None
        assert n.deletion_scheduled(credential=cred, owner=o, purge_at=NOW) is None
