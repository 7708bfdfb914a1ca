"""Flows of the OAuth authorization-code flow: start it, and complete it on the callback.

:func:`begin_flow` checks the request, draws the ``state`` and the PKCE verifier
from the injected randomness, keeps a :class:`PendingAuthorization` and returns the
authorize URL. :func:`complete_flow` reads the callback, takes the pending record
(single use), exchanges the code at the token endpoint, optionally reads the
userinfo endpoint, checks the granted scopes and creates or re-authorizes the
credential through the vault. The facades in ``_authorize`` perform the effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from credlti._effects import Flow
from credlti._http import HttpRequest, RemoteCallFailed, RemoteResponse
from credlti.credentials import _authorization as core
from credlti.credentials._oauth_records import (
    AuthorizationRequest,
    AuthorizationResult,
    PendingAuthorization,
)
from credlti.credentials._records import ChangeResult, Credential, OAuthClient, VaultConfig
from credlti.credentials._vault_effects import GetClient, Now, RandomBytes
from credlti.errors import (
    AuthorizationRequestError,
    CredentialNotFoundError,
    CredentialValidationError,
    NotOwnerError,
)

__all__ = [
    "CheckNewCredential",
    "CreateCredential",
    "FindCredential",
    "PutPending",
    "TakePending",
    "UpdateCredential",
    "begin_flow",
    "complete_flow",
]

_SECRET_BYTES = 32


@attrs.frozen
class PutPending:
    """Keep a started authorization (``PendingAuthorizationStore.put``)."""

    pending: PendingAuthorization


@attrs.frozen
class TakePending:
    """Remove and return the pending authorization with this state hash, or ``None``."""

    state_hash: str


@attrs.frozen
class FindCredential:
    """The credential with this id (``Vault.get_credential``), or ``None``."""

    credential_id: str


@attrs.frozen
class CheckNewCredential:
    """What ``Vault.change_credential`` says of a new credential (a ``ChangeResult``)."""

    attrs: Mapping[str, Any] = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class CreateCredential:
    """Create a credential (``Vault.create_credential``); its validation applies."""

    attrs: Mapping[str, Any] = attrs.field(repr=False)
    actor_id: str


@attrs.frozen(kw_only=True)
class UpdateCredential:
    """Update a credential (``Vault.update_credential``); its validation applies."""

    credential_id: str
    attrs: Mapping[str, Any] = attrs.field(repr=False)
    actor_id: str


def _client(client_id: str) -> Flow[OAuthClient]:
    client: OAuthClient | None = yield GetClient(client_id)
    if client is None:
        msg = "no OAuth client is registered under this id"
        raise AuthorizationRequestError(msg, details={"client_id": client_id})
    return client


def _owned(credential_id: str, user_id: str, client_id: str) -> Flow[Credential]:
    """The OAuth credential *user_id* may re-authorize."""
    found: Credential | None = yield FindCredential(credential_id)
    if found is None:
        raise CredentialNotFoundError(
            "no credential with this id", details={"credential_id": credential_id}
        )
    if found.owner_id != user_id:
        raise NotOwnerError(
            "only the owner may re-authorize a credential",
            details={"credential_id": credential_id},
        )
    if found.schema != "oauth" or found.oauth_client_id not in {None, client_id}:
        msg = "the credential is not an OAuth credential of this client"
        raise AuthorizationRequestError(msg, details={"credential_id": credential_id})
    return found


def _check_new(name: str, user_id: str, client_id: str, project_ids: frozenset[str]) -> Flow[None]:
    """Refuse before the user consents what the vault would refuse after (a bad name...)."""
    attrs_ = {
        "name": name,
        "schema": "oauth",
        "owner_id": user_id,
        "body": {},
        "oauth_client_id": client_id,
        "project_ids": sorted(project_ids),
    }
    checked: ChangeResult = yield CheckNewCredential(attrs_)
    errors = tuple(e for e in checked.errors if not e.path.startswith("oauth_token"))
    if errors:
        raise CredentialValidationError(
            "the new credential would be invalid; fix the listed fields", field_errors=errors
        )


def begin_flow(
    client_id: Any,
    *,
    user_id: Any,
    redirect_uri: Any,
    optional_scopes: Any,
    name: Any,
    credential_id: Any,
    project_id: Any,
    extra_params: Any,
    ttl: timedelta,
) -> Flow[AuthorizationRequest]:
    """Start an authorization: keep the pending record, return the authorize URL."""
    client_id = core.check_identifier(client_id, "client_id")
    user_id = core.check_identifier(user_id, "user_id")
    redirect_uri = core.check_redirect_uri(redirect_uri)
    if project_id is not None:
        project_id = core.check_identifier(project_id, "project_id")
    if credential_id is not None:
        credential_id = core.check_identifier(credential_id, "credential_id")
        name = None
    elif name is None:
        msg = "give name= for a new credential, or credential_id= to re-authorize one"
        raise AuthorizationRequestError(msg)
    else:
        name = core.check_identifier(name, "name")
    client = yield from _client(client_id)
    if not client.available_in(project_id):
        msg = "this OAuth client is not available in the project"
        raise AuthorizationRequestError(
            msg, details={"client_id": client_id, "project_id": project_id}
        )
    scopes = core.requested_scopes(client, optional_scopes)
    project_ids = frozenset({project_id}) if project_id is not None else frozenset()
    if credential_id is not None:
        yield from _owned(credential_id, user_id, client.id)
    else:
        yield from _check_new(name, user_id, client.id, project_ids)
    state = core.secret_text((yield RandomBytes(_SECRET_BYTES)))
    verifier = core.secret_text((yield RandomBytes(_SECRET_BYTES)))
    url = core.authorize_url(
        client,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state,
        verifier=verifier,
        extra=extra_params,
    )
    now: datetime = yield Now()
    pending = PendingAuthorization(
        state_hash=core.state_key(state),
        code_verifier=verifier,
        client_id=client.id,
        user_id=user_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        created_at=now,
        expires_at=now + ttl,
        credential_id=credential_id,
        name=name,
        project_ids=project_ids,
    )
    yield PutPending(pending)
    return AuthorizationRequest(
        url=url, state=state, client_id=client.id, scopes=scopes, expires_at=pending.expires_at
    )


def _request(
    method: str,
    url: str,
    headers: dict[str, str],
    form: dict[str, str] | None,
    config: VaultConfig,
    endpoint: str,
    now: datetime,
) -> Flow[RemoteResponse]:
    try:
        response: RemoteResponse = yield HttpRequest(
            method=method,
            url=url,
            timeout=config.http_timeout,
            max_bytes=config.max_response_bytes,
            deadline=config.http_deadline,
            headers=headers,
            data=form,
        )
    except RemoteCallFailed as exc:
        raise core.classify_provider_failure(
            endpoint, None, b"", None, now, reason=exc.reason
        ) from None
    return response


def _userinfo(
    client: OAuthClient, access_token: str, config: VaultConfig, now: datetime
) -> Flow[dict[str, Any]]:
    assert client.userinfo_endpoint is not None  # noqa: S101 - checked by the caller
    headers = {"Accept": "application/json", "Authorization": f"Bearer {access_token}"}
    response = yield from _request(
        "GET", client.userinfo_endpoint, headers, None, config, "userinfo", now
    )
    return core.parse_userinfo_answer(
        response.status_code, response.body, response.headers.get("retry-after"), now
    )


def complete_flow(
    params: Any, *, user_id: Any, fetch_userinfo: bool, config: VaultConfig
) -> Flow[AuthorizationResult]:
    """Complete an authorization from the provider's callback parameters."""
    user_id = core.check_identifier(user_id, "user_id")
    state, code, error = core.read_callback(params)
    taken: PendingAuthorization | None = yield TakePending(core.state_key(state))
    now: datetime = yield Now()
    pending = core.check_pending(taken, state, user_id, now)
    if error is not None:
        raise core.denied(error)
    assert code is not None  # noqa: S101 - read_callback returns a code or an error
    client = yield from _client(pending.client_id)
    headers, form = core.exchange_request(
        client, code=code, redirect_uri=pending.redirect_uri, verifier=pending.code_verifier
    )
    response = yield from _request(
        "POST", client.token_endpoint, headers, form, config, "token", now
    )
    data = core.parse_token_answer(
        response.status_code, response.body, response.headers.get("retry-after"), now
    )
    granted = core.granted_scopes(data, pending.scopes)
    missing = core.missing_mandatory(client, granted)
    if missing is not None:
        raise missing
    userinfo = None
    if fetch_userinfo and client.userinfo_endpoint:
        userinfo = yield from _userinfo(client, data["access_token"], config, now)
    token = {**data, "scope": " ".join(granted)}
    credential = yield from _save(pending, client, token)
    return AuthorizationResult(
        credential=credential,
        created=pending.credential_id is None,
        granted_scopes=granted,
        userinfo=userinfo,
    )


def _save(
    pending: PendingAuthorization, client: OAuthClient, token: dict[str, Any]
) -> Flow[Credential]:
    expected = list(client.mandatory_scopes)
    if pending.credential_id is None:
        attrs_ = {
            "name": pending.name,
            "schema": "oauth",
            "owner_id": pending.user_id,
            "body": {},
            "oauth_client_id": client.id,
            "oauth_token": token,
            "expected_scopes": expected,
            "project_ids": sorted(pending.project_ids),
        }
        created: Credential = yield CreateCredential(attrs=attrs_, actor_id=pending.user_id)
        return created
    yield from _owned(pending.credential_id, pending.user_id, client.id)
    changes = {"oauth_client_id": client.id, "oauth_token": token, "expected_scopes": expected}
    updated: Credential = yield UpdateCredential(
        credential_id=pending.credential_id, attrs=changes, actor_id=pending.user_id
    )
    return updated
