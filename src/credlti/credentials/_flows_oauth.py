"""Flows for OAuth tokens: refresh with single flight, and revocation at the provider.

Refresh: when the stored token is about to expire, one caller per credential asks
the provider for a new one. Callers in this process queue on an in-process lock
(:class:`~credlti._effects.Locked`), callers in other processes on the store's named
lock; the one holding both re-reads the token (another caller may have refreshed it
meanwhile), posts the refresh-token grant and stores the answer with a
compare-and-set on the token version.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from datetime import datetime
from typing import Any

from attrs import evolve

from credlti._effects import Flow, Locked
from credlti._http import HttpRequest, RemoteCallFailed, RemoteResponse
from credlti.credentials import _oauth
from credlti.credentials._flows_common import (
    load,
    locked_row,
    new_event,
    require_credential,
    resolve,
    seal_token,
)
from credlti.credentials._records import (
    AuditAction,
    Credential,
    OAuthClient,
    OAuthToken,
    VaultConfig,
)
from credlti.credentials._vault_effects import (
    Atomic,
    CompareAndSetToken,
    GetClient,
    Now,
    Record,
    StoreLock,
)
from credlti.errors import CredltiError, OAuthRefreshError, ReauthorizationRequiredError

__all__ = ["refresh_flow", "request_refresh", "revoke_token"]


def refresh_flow(
    credential: Credential | str, actor_id: str | None, config: VaultConfig
) -> Flow[Credential]:
    """The credential with a fresh OAuth token, refreshing it when needed.

    Non-OAuth credentials, and OAuth ones without a token or a known client, come
    back unchanged.
    """
    current = yield from resolve(credential)
    assert current is not None  # noqa: S101 - resolve raises for a missing id
    if current.schema != "oauth" or current.oauth_client_id is None:
        return current
    if _oauth.is_fresh(current.oauth_token, (yield Now()), config.refresh_buffer):
        return current
    client = yield GetClient(current.oauth_client_id)
    if client is None:
        return current
    key = f"oauth-refresh:{current.id}"
    single = _refresh_under_store_lock(key, current.id, client, actor_id, config)
    return (yield Locked(key, single))  # type: ignore[no-any-return]


def _refresh_under_store_lock(
    key: str, credential_id: str, client: OAuthClient, actor_id: str | None, config: VaultConfig
) -> Flow[Credential]:
    flow = _refresh_once(credential_id, client, actor_id, config)
    result: Credential = yield StoreLock(key=key, timeout=config.refresh_lock_timeout, flow=flow)
    return result


def _refresh_once(
    credential_id: str, client: OAuthClient, actor_id: str | None, config: VaultConfig
) -> Flow[Credential]:
    latest = yield from require_credential(credential_id)
    token = latest.oauth_token
    at: datetime = yield Now()
    if token is None or _oauth.is_fresh(token, at, config.refresh_buffer):
        return latest
    actor = actor_id or latest.owner_id
    try:
        fresh = yield from request_refresh(client, token, at, config)
    except OAuthRefreshError as exc:
        event = yield from new_event(
            AuditAction.TOKEN_REFRESH_FAILED,
            latest.id,
            actor,
            at,
            metadata={
                "client_id": client.id,
                "error_type": exc.code,
                "status": exc.details.get("status"),
                "retry_after": exc.retry_after,
            },
        )
        yield Atomic(flow=_record([event]))
        raise
    result: Credential = yield Atomic(flow=_store_fresh(latest, client, token, fresh, actor, at))
    return result


def _store_fresh(
    latest: Credential,
    client: OAuthClient,
    token: OAuthToken,
    fresh: OAuthToken,
    actor: str,
    at: datetime,
) -> Flow[Credential]:
    new_row = yield from seal_token(
        latest.id, latest.oauth_client_id, evolve(fresh, version=token.version + 1)
    )
    if (yield CompareAndSetToken(row=new_row, expected_version=token.version)):
        event = yield from new_event(
            AuditAction.TOKEN_REFRESHED,
            latest.id,
            actor,
            at,
            metadata={
                "client_id": client.id,
                "scopes": list(fresh.scopes),
                "token_type": fresh.token_type,
                "expires_at": fresh.expires_at.isoformat() if fresh.expires_at else None,
            },
        )
        yield Record([event])
    row = yield from locked_row(latest.id)
    return (yield from load(row))


def _record(events: list[Any]) -> Flow[None]:
    yield Record(events)


def _post(
    url: str, headers: dict[str, str], form: dict[str, str], config: VaultConfig
) -> Generator[HttpRequest, RemoteResponse, RemoteResponse]:
    return (
        yield HttpRequest(
            method="POST",
            url=url,
            timeout=config.http_timeout,
            max_bytes=config.max_response_bytes,
            deadline=config.http_deadline,
            headers=headers,
            data=form,
        )
    )


def request_refresh(
    client: OAuthClient, token: OAuthToken, at: datetime, config: VaultConfig
) -> Flow[OAuthToken]:
    """Post the refresh-token grant to the client's token endpoint; the new token.

    Raises:
        ReauthorizationRequiredError: No refresh token, or the provider rejected it.
        TemporaryRefreshError: Provider or network trouble.
    """
    if not token.refresh_token:
        raise ReauthorizationRequiredError(
            "the stored token has no refresh token; ask the owner to reauthorize",
            details={"status": None, "error": "no_refresh_token"},
        )
    headers, form = _oauth.build_refresh_request(client, token.refresh_token)
    try:
        response = yield from _post(client.token_endpoint, headers, form, config)
    except RemoteCallFailed as exc:
        raise _oauth.classify_failure(None, b"", None, at, reason=exc.reason) from None
    return _oauth.parse_token_response(
        response.status_code,
        response.body,
        response.headers.get("retry-after"),
        token,
        at,
        default_lifetime=config.default_token_lifetime,
    )


def revoke_token(credential: Credential, actor_id: str | None, config: VaultConfig) -> Flow[None]:
    """Revoke the credential's OAuth token at the provider (best effort, audited).

    Run after the change that removed the token committed; a failing audit write does
    not undo that change.
    """
    token = credential.oauth_token
    if token is None or credential.oauth_client_id is None:
        return
    try:
        client = yield GetClient(credential.oauth_client_id)
    except Exception:
        return
    if client is None or not client.revocation_endpoint:
        return
    at: datetime = yield Now()
    ok = False
    for value, hint in (
        (token.refresh_token, "refresh_token"),
        (token.access_token, "access_token"),
    ):
        if not value:
            continue
        headers, form = _oauth.build_refresh_request(client, value)
        form.pop("grant_type")
        form.pop("refresh_token")
        form.update(token=value, token_type_hint=hint)
        try:
            response = yield from _post(client.revocation_endpoint, headers, form, config)
        except RemoteCallFailed:
            continue
        ok = ok or response.status_code in {200, 204}
    event = yield from new_event(
        AuditAction.TOKEN_REVOKED,
        credential.id,
        actor_id,
        at,
        metadata={"client_id": client.id, "success": ok},
    )
    # Revocation is best effort: a failing audit write must not undo the committed change.
    with contextlib.suppress(CredltiError):
        yield Atomic(flow=_record([event]))
