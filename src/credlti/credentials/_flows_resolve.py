"""The flow that resolves a credential for a job: its body merged with a fresh token.

Regular credentials give their body; OAuth credentials are refreshed when needed
(the vault's refresh, with its single flight) and their token fields are merged over
the body. Top-level empty values (``""`` and ``null``) are dropped. Failures do not
raise: they come back classified in a :class:`ResolvedCredential`, so a job runner
can tell "ask the owner to authorize again" from "retry later".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from credlti._effects import Flow
from credlti.credentials import _authorization as core
from credlti.credentials._oauth_records import ResolvedCredential, ResolveStatus
from credlti.credentials._records import Credential, OAuthToken
from credlti.credentials._vault_effects import Now
from credlti.errors import (
    AuthorizationRequestError,
    CredentialNotFoundError,
    ReauthorizationRequiredError,
    StorageUnavailableError,
    TemporaryRefreshError,
)

__all__ = ["LoadCredential", "RefreshToken", "merged_body", "resolve_flow"]


@attrs.frozen
class LoadCredential:
    """The credential with this id (``Vault.get_credential``), or ``None``."""

    credential_id: str


@attrs.frozen(kw_only=True)
class RefreshToken:
    """The credential with a fresh token (``Vault.maybe_refresh_token``)."""

    credential: Credential
    actor_id: str | None


def _token_fields(token: OAuthToken) -> dict[str, Any]:
    fields = dict(token.extra)
    fields.update(
        access_token=token.access_token,
        refresh_token=token.refresh_token,
        token_type=token.token_type,
        scope=" ".join(token.scopes),
        expires_at=int(token.expires_at.timestamp()) if token.expires_at else None,
    )
    return fields


def merged_body(credential: Credential) -> dict[str, Any]:
    """The body with the token fields merged over it (token wins), empty values dropped."""
    body: dict[str, Any] = dict(credential.body) if isinstance(credential.body, Mapping) else {}
    if credential.oauth_token is not None:
        body.update(_token_fields(credential.oauth_token))
    return {k: v for k, v in body.items() if v is not None and v != ""}


def _failure(
    status: ResolveStatus,
    credential_id: str,
    error: Any,
    credential: Credential | None = None,
    retry_after: float | None = None,
) -> ResolvedCredential:
    return ResolvedCredential(
        status=status,
        credential_id=credential_id,
        credential=credential,
        retry_after=retry_after,
        error=error,
    )


def _not_found(credential_id: Any) -> ResolvedCredential:
    shown = credential_id if isinstance(credential_id, str) and len(credential_id) <= 255 else ""
    error = CredentialNotFoundError("no credential with this id", details={"credential_id": shown})
    return _failure(ResolveStatus.NOT_FOUND, shown, error)


def resolve_flow(credential_id: Any, actor_id: str | None) -> Flow[ResolvedCredential]:
    """Resolve the credential *credential_id* for a job; failures come back classified."""
    try:
        credential_id = core.check_identifier(credential_id, "credential_id")
    except AuthorizationRequestError:  # an id that cannot exist is simply not found
        return _not_found(credential_id)
    found: Credential | None = yield LoadCredential(credential_id)
    if found is None:
        return _not_found(credential_id)
    reauthorize = ResolveStatus.NEEDS_REAUTHORIZATION
    if found.schema == "oauth":
        try:
            found = yield RefreshToken(credential=found, actor_id=actor_id)
        except ReauthorizationRequiredError as exc:
            return _failure(reauthorize, credential_id, exc, found)
        except TemporaryRefreshError as exc:
            unavailable = ResolveStatus.TEMPORARILY_UNAVAILABLE
            return _failure(unavailable, credential_id, exc, found, exc.retry_after)
        except StorageUnavailableError as exc:
            return _failure(ResolveStatus.TEMPORARILY_UNAVAILABLE, credential_id, exc, found)
        except CredentialNotFoundError:
            return _not_found(credential_id)
        now: datetime = yield Now()
        token = found.oauth_token
        if token is None or (token.expires_at is not None and token.expires_at <= now):
            error = ReauthorizationRequiredError(
                "the OAuth credential has no usable token and cannot be refreshed; "
                "ask the owner to authorize it again",
                details={"status": None, "error": "no_usable_token"},
            )
            return _failure(reauthorize, credential_id, error, found)
    return ResolvedCredential(
        status=ResolveStatus.OK,
        credential_id=credential_id,
        body=merged_body(found),
        credential=found,
    )
