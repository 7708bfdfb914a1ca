"""maybe_refresh_token through the facade: freshness, refresh, failures, single flight."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest

from credlti.credentials import AuditAction, Credential, OAuthClient
from credlti.errors import ReauthorizationRequiredError, TemporaryRefreshError

from .helpers import Kit, json_response


def expire(kit: Kit) -> None:
    kit.clock.advance(timedelta(minutes=56).total_seconds())


def test_non_oauth_and_fresh_tokens_unchanged(kit: Kit) -> None:
    """Non-OAuth credentials and fresh tokens come back without any HTTP call."""
    cred = kit.pg()
    assert kit.vault.maybe_refresh_token(cred) == cred
    oauth = kit.oauth()
    kit.clock.advance(timedelta(minutes=54).total_seconds())  # 6 minutes left: still fresh
    assert kit.vault.maybe_refresh_token(oauth).oauth_token == oauth.oauth_token
    assert kit.provider.requests == []


def test_refresh_posts_form_and_keeps_refresh_token(kit: Kit) -> None:
    """Near expiry the token is refreshed by a form POST; the old refresh token stays."""
    cred = kit.oauth()
    expire(kit)
    new = kit.vault.maybe_refresh_token(cred, actor_id="worker")
    token = new.oauth_token
    assert token is not None
    assert token.access_token == "at-1"
    assert token.refresh_token == "rt-original"
    assert token.scopes == ("mail.read", "offline_access")
    assert kit.provider.form() == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-original",
        "client_id": "client-123",
        "client_secret": "client-S3cret",
    }
    assert kit.provider.requests[0].headers["content-type"] == "application/x-www-form-urlencoded"
    event = kit.audit.events_for(cred.id)[-1]
    assert event.action is AuditAction.TOKEN_REFRESHED
    assert event.actor_id == "worker"
    assert kit.vault.get_credential_or_raise(cred.id).oauth_token == token


def test_reauthorization_required(kit: Kit) -> None:
    """invalid_grant raises ReauthorizationRequiredError, audits it and keeps the stored token."""
    cred = kit.oauth()
    expire(kit)
    kit.provider.responses.append(
        json_response(400, {"error": "invalid_grant", "error_description": "rt-original revoked"})
    )
    with pytest.raises(ReauthorizationRequiredError) as info:
        kit.vault.maybe_refresh_token(cred)
    assert "rt-original" not in str(info.value)
    assert kit.vault.get_credential_or_raise(cred.id).oauth_token == cred.oauth_token
    event = kit.audit.events_for(cred.id)[-1]
    assert event.action is AuditAction.TOKEN_REFRESH_FAILED
    assert event.metadata["error_type"] == "reauthorization_required"


def test_temporary_with_retry_after(kit: Kit) -> None:
    """503 with Retry-After raises TemporaryRefreshError carrying the wait."""
    cred = kit.oauth()
    expire(kit)
    kit.provider.responses.append(httpx.Response(503, headers={"Retry-After": "120"}))
    with pytest.raises(TemporaryRefreshError) as info:
        kit.vault.maybe_refresh_token(cred)
    assert info.value.retry_after == 120.0


def test_network_error_is_temporary(kit: Kit) -> None:
    """A transport failure is a temporary failure, not a crash."""
    cred = kit.oauth()
    expire(kit)

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    kit.provider.default = boom
    with pytest.raises(TemporaryRefreshError):
        kit.vault.maybe_refresh_token(cred)


def test_missing_client_returns_unchanged(kit: Kit) -> None:
    """An OAuth credential whose client is no longer known is returned unchanged.

    (An unknown client id is refused at create; here the client goes away later.)
    """
    kit.clients.add(
        OAuthClient(id="gone", client_id="c", token_endpoint="https://oauth.example.org/t")
    )
    cred = kit.vault.create_credential(
        {
            "name": "x",
            "schema": "oauth",
            "owner_id": "alice",
            "body": {},
            "oauth_client_id": "gone",
            "oauth_token": {
                "access_token": "a",
                "refresh_token": "r",
                "scope": "s",
                "expires_in": 1,
            },
        }
    )
    kit.clients._clients.pop("gone")
    assert kit.vault.maybe_refresh_token(cred) == cred


@pytest.mark.slow
def test_refresh_stampede_makes_one_request(kit: Kit) -> None:
    """16 threads refreshing one expired token cause exactly one token-endpoint call."""
    cred = kit.oauth()
    expire(kit)
    barrier = threading.Barrier(16)
    results: list[Credential] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(kit.vault.maybe_refresh_token(cred))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert errors == []
    assert len(kit.provider.requests) == 1
    assert {r.oauth_token.access_token for r in results if r.oauth_token} == {"at-1"}
