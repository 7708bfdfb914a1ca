"""Service-token records: an Advantage access token and the key it is cached under.

The :class:`~credlti.lti.ports.ServiceTokenCache` port stores these, so they live
on the ports floor and import only primitives. Tokens are opaque (Sec §4.1.1.1)
and never appear in a repr, message or detail.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs

from credlti.errors import ConfigurationError, ScopeNotGrantedError

__all__ = ["ServiceToken", "TokenCacheKey", "scope_set"]


def scope_set(scopes: Iterable[str]) -> frozenset[str]:
    """*scopes* (an iterable, or one space-separated string) as a checked frozenset.

    Raises:
        ConfigurationError: A scope is empty, not a string, or contains spaces.
    """
    if isinstance(scopes, str):
        scopes = scopes.split()
    result: frozenset[Any] = frozenset(scopes)
    for scope in result:
        if not isinstance(scope, str) or not scope or any(c.isspace() for c in scope):
            msg = f"a scope must be a non-empty string without spaces, got {scope!r}"
            raise ConfigurationError(msg, spec_ref="Sec §4.1")
    return result


@attrs.frozen(kw_only=True)
class TokenCacheKey:
    """What a cached token is valid for (Sec §4.1; Core §6.2.1)."""

    issuer: str
    client_id: str
    token_url: str
    scopes: frozenset[str]
    deployment_id: str | None = None


@attrs.frozen(kw_only=True)
class ServiceToken:
    """An access token for Advantage services. Opaque; never printed.

    Attributes:
        access_token: The bearer token (not in the repr).
        scopes: The scopes the platform granted (maybe fewer than requested).
        expires_at: When the platform said it expires.
        token_type: Always ``"Bearer"``.
        issued_at: When it was received, if known (caps the refresh margin at half
            the token's lifetime, see :meth:`is_fresh`). Not part of equality: a
            cache that does not keep it returns the same token.
    """

    access_token: str = attrs.field(repr=False)
    scopes: frozenset[str] = attrs.field(converter=scope_set)
    expires_at: datetime
    token_type: str = "Bearer"
    issued_at: datetime | None = attrs.field(default=None, eq=False)

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value (note: not ``Authentication``)."""
        return f"Bearer {self.access_token}"

    def is_fresh(self, now: datetime, *, margin: float = 60.0) -> bool:
        """True while the token may be used: ``now < expires_at - margin``.

        When :attr:`issued_at` is known the margin is at most half the token's
        lifetime, so a token living 45 s with a 60 s margin is used for 22.5 s
        instead of never.
        """
        if self.issued_at is not None:
            lifetime = (self.expires_at - self.issued_at).total_seconds()
            margin = min(margin, max(lifetime, 0.0) / 2)
        return now < self.expires_at - timedelta(seconds=margin)

    def covers(self, scopes: Iterable[str]) -> bool:
        """True if every scope in *scopes* was granted."""
        return scope_set(scopes) <= self.scopes

    def require(self, scopes: Iterable[str]) -> None:
        """Raise :class:`~credlti.errors.ScopeNotGrantedError` unless every scope was granted."""
        missing = sorted(scope_set(scopes) - self.scopes)
        if missing:
            msg = (
                f"the platform did not grant {missing}; ask the platform administrator to "
                "enable the service for this tool, or request only granted scopes"
            )
            raise ScopeNotGrantedError(msg, details={"missing_scopes": missing})

    def same_token(self, other: ServiceToken) -> bool:
        """True if *other* carries the same access token (constant-time compare)."""
        return hmac.compare_digest(self.access_token.encode(), other.access_token.encode())
