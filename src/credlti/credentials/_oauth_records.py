"""Records of the OAuth authorization-code flow and of runtime credential resolution.

- :class:`PendingAuthorization` is what the host keeps between sending the user to
  the provider and the provider's callback (through a
  :class:`~credlti.credentials.ports.PendingAuthorizationStore`); it holds the PKCE
  verifier, so it is never shown in a ``repr``.
- :class:`AuthorizationRequest` and :class:`AuthorizationResult` are what
  :class:`~credlti.credentials.OAuthAuthorizer` returns.
- :class:`ResolvedCredential` is what :class:`~credlti.credentials.CredentialResolver`
  returns: a body ready for a job, or a classified failure.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from credlti.credentials._records import Credential
from credlti.errors import CredltiError

__all__ = [
    "AuthorizationRequest",
    "AuthorizationResult",
    "PendingAuthorization",
    "ResolveStatus",
    "ResolvedCredential",
]


@attrs.frozen(kw_only=True)
class PendingAuthorization:
    """One started authorization, waiting for the provider's callback (single use).

    Attributes:
        state_hash: SHA-256 (hex) of the ``state`` sent to the provider; the store's key.
        code_verifier: The PKCE verifier (RFC 7636); secret.
        client_id: Our id of the :class:`~credlti.credentials.OAuthClient`.
        user_id: The user who started it; only they may complete it.
        redirect_uri: Sent again, byte for byte, with the code exchange.
        scopes: The scopes requested (mandatory first, then the chosen optional ones).
        created_at: When it started.
        expires_at: After this the callback is refused.
        credential_id: The credential to re-authorize, or ``None`` to create one.
        name: The new credential's name (creation only).
        project_ids: Projects the new credential is shared with (creation only).
    """

    state_hash: str
    code_verifier: str = attrs.field(repr=False)
    client_id: str
    user_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    credential_id: str | None = None
    name: str | None = None
    project_ids: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class AuthorizationRequest:
    """Where to send the user: redirect the browser to :attr:`url`.

    :attr:`state` is also inside the URL; hosts that keep it in the user's session
    (as a second check) may read it here. Neither is shown in a ``repr``.
    """

    url: str = attrs.field(repr=False)
    state: str = attrs.field(repr=False)
    client_id: str
    scopes: tuple[str, ...]
    expires_at: datetime


@attrs.frozen(kw_only=True)
class AuthorizationResult:
    """A completed authorization: the credential created or re-authorized.

    Attributes:
        credential: The stored credential (with its new token).
        created: True for a new credential, False for a re-authorization.
        granted_scopes: The scopes the provider granted.
        userinfo: The userinfo endpoint's answer (a JSON object), if it was read.
    """

    credential: Credential
    created: bool
    granted_scopes: tuple[str, ...]
    userinfo: Mapping[str, Any] | None = attrs.field(default=None, repr=False)


class ResolveStatus(str, enum.Enum):
    """How resolving a credential for a job went."""

    #: The body is ready (with a fresh token for OAuth credentials).
    OK = "ok"
    #: No credential with this id (or an id that cannot exist).
    NOT_FOUND = "not_found"
    #: The owner must authorize again (token refused, missing or expired for good).
    NEEDS_REAUTHORIZATION = "needs_reauthorization"
    #: The provider, network or store failed; retry later (see ``retry_after``).
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"


@attrs.frozen(kw_only=True)
class ResolvedCredential:
    """The outcome of resolving a credential for a job.

    Attributes:
        status: See :class:`ResolveStatus`.
        credential_id: The id asked for.
        body: On success, the body merged with the token fields, empty values stripped.
        credential: On success (and on OAuth failures), the credential record.
        retry_after: Seconds to wait before retrying, when the provider said.
        error: The classified error behind a failure (its message says what to do).
    """

    status: ResolveStatus
    credential_id: str
    body: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    credential: Credential | None = None
    retry_after: float | None = None
    error: CredltiError | None = None

    @property
    def ok(self) -> bool:
        """True when :attr:`body` is ready."""
        return self.status is ResolveStatus.OK

    @property
    def needs_reauthorization(self) -> bool:
        """True when the owner must authorize the credential again."""
        return self.status is ResolveStatus.NEEDS_REAUTHORIZATION

    @property
    def temporarily_unavailable(self) -> bool:
        """True when a later retry may succeed."""
        return self.status is ResolveStatus.TEMPORARILY_UNAVAILABLE
