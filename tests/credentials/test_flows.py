"""The vault's flows driven by scripted perform functions: no store, no network."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from credlti._effects import Flow, SyncLocks, run
from credlti._http import HttpRequest, RemoteCallFailed, RemoteResponse
from credlti.adapters.memory import MemoryVaultStore
from credlti.credentials import (
    AuditAction,
    AuditEvent,
    Credential,
    CredentialRow,
    EncryptionKey,
    KeyRing,
    OAuthClient,
    OAuthToken,
    OAuthTokenRow,
    ScrubbedRow,
    Vault,
    VaultConfig,
)
from credlti.credentials import _vault_effects as fx
from credlti.credentials._flows_deletion import purge_flow
from credlti.credentials._flows_oauth import refresh_flow, request_refresh, revoke_token
from credlti.errors import (
    ConfigurationError,
    ReauthorizationRequiredError,
    StorageUnavailableError,
    TemporaryRefreshError,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
CONFIG = VaultConfig()
CLIENT = OAuthClient(
    id="google",
    client_id="cid",
    client_secret="csecret",
    token_endpoint="https://oauth.example.org/token",
    revocation_endpoint="https://oauth.example.org/revoke",
)
STALE = OAuthToken(
    access_token="at-old",
    refresh_token="rt-old",
    scopes=("mail.read",),
    expires_at=NOW + timedelta(minutes=1),
    last_refreshed=NOW - timedelta(hours=1),
    version=3,
)

Handlers = dict[type, Callable[[Any], Any]]


class Script:
    """A perform function answering each effect type from *handlers*, logging every effect.

    ``Atomic`` and ``StoreLock`` run their nested flow with the same handlers.
    """

    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers
        self.log: list[Any] = []
        self.locks = SyncLocks()

    def __call__(self, effect: Any) -> Any:
        self.log.append(effect)
        if isinstance(effect, fx.Atomic | fx.StoreLock):
            return run(effect.flow, self, locks=self.locks)
        if type(effect) not in self.handlers:
            pytest.fail(f"unexpected effect {effect!r}")
        return self.handlers[type(effect)](effect)

    def drive(self, flow: Flow[Any]) -> Any:
        return run(flow, self, locks=self.locks)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.log if type(e) is kind]


def ids() -> Callable[[Any], str]:
    counter = iter(range(1_000_000))
    return lambda _: f"id-{next(counter)}"


def response(status: int, body: bytes = b"{}", **headers: str) -> RemoteResponse:
    return RemoteResponse(status_code=status, headers=httpx.Headers(headers), body=body)


def oauth_credential(token: OAuthToken | None = STALE) -> Credential:
    return Credential(
        id="c1",
        name="mail",
        schema="oauth",
        owner_id="alice",
        body={},
        oauth_client_id="google",
        oauth_token=token,
        created_at=NOW,
        updated_at=NOW,
    )


def test_request_refresh_posts_the_grant_and_parses_the_answer() -> None:
    """One form POST to the token endpoint; missing fields are carried forward."""
    answer = b'{"access_token": "at-new", "expires_in": 600}'
    script = Script({HttpRequest: lambda _: response(200, answer)})

    token = script.drive(request_refresh(CLIENT, STALE, NOW, CONFIG))

    (request,) = script.of(HttpRequest)
    assert (request.method, request.url) == ("POST", CLIENT.token_endpoint)
    assert request.data is not None
    assert request.data["grant_type"] == "refresh_token"
    assert request.data["refresh_token"] == "rt-old"
    assert "rt-old" not in repr(request)
    assert token.access_token == "at-new"
    assert token.refresh_token == "rt-old"
    assert token.scopes == ("mail.read",)
    assert token.expires_at == NOW + timedelta(seconds=600)


def test_request_refresh_maps_failures() -> None:
    """A network failure is temporary; invalid_grant needs reauthorization."""

    def down(_: HttpRequest) -> RemoteResponse:
        raise RemoteCallFailed("connection refused")

    with pytest.raises(TemporaryRefreshError):
        Script({HttpRequest: down}).drive(request_refresh(CLIENT, STALE, NOW, CONFIG))
    rejected = Script({HttpRequest: lambda _: response(400, b'{"error": "invalid_grant"}')})
    with pytest.raises(ReauthorizationRequiredError):
        rejected.drive(request_refresh(CLIENT, STALE, NOW, CONFIG))
    no_refresh = Script({})
    with pytest.raises(ReauthorizationRequiredError):
        no_refresh.drive(
            request_refresh(CLIENT, OAuthToken(access_token="a", last_refreshed=NOW), NOW, CONFIG)
        )
    assert no_refresh.log == []


def test_refresh_is_single_flight_and_rereads_under_the_locks() -> None:
    """The refresh runs under an in-process lock and the store's named lock, and skips
    the HTTP call when the re-read token is already fresh (another caller refreshed)."""
    fresh = OAuthToken(
        access_token="at-other",
        expires_at=NOW + timedelta(hours=1),
        last_refreshed=NOW,
        version=4,
    )
    row = CredentialRow(
        id="c1",
        name="mail",
        schema="oauth",
        owner_id="alice",
        body_ciphertext=None,
        oauth_client_id="google",
        created_at=NOW,
        updated_at=NOW,
    )
    script = Script(
        {
            fx.Now: lambda _: NOW,
            fx.GetClient: lambda _: CLIENT,
            fx.GetRow: lambda _: row,
            fx.GetTokenRow: lambda _: _token_row(fresh),
            fx.Open: lambda _: {"access_token": "at-other"},
            fx.SharesOf: lambda _: [],
        }
    )

    results: list[Credential] = []
    held = script.locks.get("oauth-refresh:c1")
    held.acquire()  # another caller of this process is refreshing
    worker = threading.Thread(
        target=lambda: results.append(script.drive(refresh_flow(oauth_credential(), None, CONFIG)))
    )
    worker.start()
    worker.join(0.2)
    assert worker.is_alive()
    assert script.of(fx.StoreLock) == []
    held.release()
    worker.join(5)

    (result,) = results
    assert result.oauth_token is not None
    assert result.oauth_token.access_token == "at-other"
    assert [(e.key, e.timeout) for e in script.of(fx.StoreLock)] == [
        ("oauth-refresh:c1", CONFIG.refresh_lock_timeout)
    ]
    assert script.of(HttpRequest) == []
    assert script.of(fx.CompareAndSetToken) == []


def _token_row(token: OAuthToken) -> OAuthTokenRow:
    return OAuthTokenRow(
        credential_id="c1",
        client_id="google",
        ciphertext=b"sealed",
        token_type=token.token_type,
        scopes=token.scopes,
        expires_at=token.expires_at,
        last_refreshed=token.last_refreshed,
        version=token.version,
    )


def test_revoke_tries_both_tokens_and_survives_a_failing_audit() -> None:
    """A failed revocation of one token still tries the other; a failing audit write
    after commit is swallowed (revocation is best effort)."""
    calls: list[str] = []

    def endpoint(request: HttpRequest) -> RemoteResponse:
        assert request.data is not None
        calls.append(request.data["token_type_hint"])
        if request.data["token_type_hint"] == "refresh_token":
            raise RemoteCallFailed("timeout")
        return response(200)

    def failing_audit(_: fx.Record) -> None:
        raise StorageUnavailableError("audit down")

    script = Script(
        {
            fx.GetClient: lambda _: CLIENT,
            fx.Now: lambda _: NOW,
            fx.NewId: ids(),
            HttpRequest: endpoint,
            fx.Record: failing_audit,
        }
    )

    script.drive(revoke_token(oauth_credential(), "alice", CONFIG))

    assert calls == ["refresh_token", "access_token"]
    (record,) = script.of(fx.Record)
    (event,) = record.events
    assert event.action is AuditAction.TOKEN_REVOKED
    assert event.metadata == {"client_id": "google", "success": True}


def test_purge_walks_batches_by_id_and_counts_truly() -> None:
    """The purge scans due rows after the last id of each batch, plans with the step
    activity, and counts what the store really did (rows gone since the scan skipped)."""

    def row(cid: str) -> CredentialRow:
        return CredentialRow(
            id=cid,
            name=cid,
            schema="raw",
            owner_id="u",
            body_ciphertext=b"x",
            scheduled_deletion=NOW - timedelta(days=1),
            created_at=NOW,
            updated_at=NOW,
        )

    batches = {None: [row("a"), row("b")], "b": [row("c")], "c": []}

    def scrub(effect: fx.ScrubDue) -> list[ScrubbedRow]:
        return [
            ScrubbedRow(credential_id=cid, newly_scrubbed=True, deleted=cid in effect.delete)
            for cid in effect.ids
            if cid != "c"  # deleted by someone else since the scan
        ]

    recorded: list[AuditEvent] = []
    script = Script(
        {
            fx.Now: lambda _: NOW,
            fx.NewIds: lambda e: [f"id-{i}" for i in range(e.n)],
            fx.ScanRows: lambda e: batches[e.after_id],
            fx.WithActivity: lambda e: {"b"} & set(e.credential_ids),
            fx.ScrubDue: scrub,
            fx.Record: lambda e: recorded.extend(e.events),
        }
    )

    result = script.drive(purge_flow(2))

    assert [(e.after_id, e.limit, e.due_before) for e in script.of(fx.ScanRows)] == [
        (None, 2, NOW),
        ("b", 2, NOW),
        ("c", 2, NOW),
    ]
    assert (result.scrubbed, result.deleted, result.kept) == (2, 1, 1)
    assert [(e.credential_id, e.metadata["deleted"]) for e in recorded] == [
        ("a", True),
        ("b", False),
    ]
    assert [e.n for e in script.of(fx.NewIds)] == [2]  # one effect per batch, none if empty
    assert len(script.of(fx.Atomic)) == 2


def test_vault_rejects_a_naive_clock() -> None:
    """The facade refuses a clock returning naive datetimes before anything is written."""
    store = MemoryVaultStore()
    vault = Vault(
        store=store,
        keyring=KeyRing([EncryptionKey(id="k", material=bytes(32))]),
        clock=lambda: datetime(2026, 3, 1, 12),
    )

    with pytest.raises(ConfigurationError):
        vault.create_credential(
            {"name": "db", "schema": "raw", "owner_id": "alice", "body": {"a": "b"}}
        )
    assert store.scan_credentials(after_id=None, limit=10) == []
