"""Service access tokens: the client-credentials grant with a JWT assertion, IO-free.

Rules of this module:

1. No IO, no clock reads, no randomness: ``now`` and the assertion's ``jti`` are
   passed in. The token flow (:mod:`credlti.lti.services._token_flow`) calls these
   pure builders and parsers between its effects.
2. Every check cites its section (Sec §4.1, §4.1.1; Core §6.2; RFC 6749/7523).
3. Tokens are opaque (Sec §4.1.1.1) and never appear in a repr, message or detail.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from credlti._http import check_deadline
from credlti.errors import (
    ConfigurationError,
    ServiceCallFailedError,
    ServiceTemporarilyUnavailableError,
    TokenRequestRejectedError,
)
from credlti.lti._claims import DEPLOYMENT_ID
from credlti.lti._tokens import ServiceToken, TokenCacheKey, scope_set
from credlti.lti.ports import Registerable
from credlti.lti.services._destinations import Origin, parse_origins
from credlti.lti.services._response import header, parse_retry_after

__all__ = [
    "ASSERTION_TYPE",
    "SCOPE_LINEITEM",
    "SCOPE_LINEITEM_READONLY",
    "SCOPE_NRPS_READONLY",
    "SCOPE_RESULT_READONLY",
    "SCOPE_SCORE",
    "TokenPolicy",
    "TokenRequest",
    "client_assertion_claims",
    "new_jti",
    "parse_token_response",
    "token_request_form",
]

#: RFC 7523 §2.2 client assertion type.
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: AGS: manage line items.
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
#: AGS: read line items.
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
#: AGS: read results.
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
#: AGS: post scores.
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
#: NRPS: read the context membership.
SCOPE_NRPS_READONLY = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

_DEFAULT_EXPIRES_IN = 3600
_MAX_EXPIRES_IN = 366 * 86_400
_MAX_ASSERTION_LIFETIME = 300
_MAX_DETAIL = 200


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _string_set(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        return frozenset({values})
    return frozenset(values)


@attrs.frozen(kw_only=True)
class TokenPolicy:
    """How service tokens are requested, reused, and where they may be sent.

    Args:
        refresh_margin: Seconds before ``expires_at`` at which a cached token is no
            longer used (Sec §4.1 suggests about a minute). A token living less
            than twice the margin is used for the first half of its life instead
            (the margin is ``min(refresh_margin, lifetime / 2)``), so short-lived
            tokens are still shared.
        assertion_lifetime: Seconds the client assertion is valid (at most 300).
        include_deployment_id: Add the ``deployment_id`` claim to the assertion when
            a deployment is known (Core §6.2.1); it is then part of the cache key.
        timeout: Seconds for connecting and for each read of a token request or
            service call.
        deadline: Seconds for one whole token request or service call, body
            included, however slowly the peer answers (each 401 retry and each
            page is its own call).
        max_bytes: Largest token response accepted.
        allowed_origins: Extra ``"https://host[:port]"`` origins tokens may go to
            (an on-premises platform on a private address, services on a custom
            domain); see :mod:`credlti.lti.services` on destinations.
        same_site: Require service URLs from the launch to share the registrable
            domain of the platform's issuer, login, key-set or token URL. Turn off
            only for platforms that announce services on unrelated domains.
    """

    refresh_margin: float = 60.0
    assertion_lifetime: int = 300
    include_deployment_id: bool = True
    timeout: float = 10.0
    deadline: float = 30.0
    max_bytes: int = 64 * 1024
    allowed_origins: frozenset[str] = attrs.field(default=frozenset(), converter=_string_set)
    same_site: bool = True

    def __attrs_post_init__(self) -> None:
        if not 0 < self.assertion_lifetime <= _MAX_ASSERTION_LIFETIME:
            msg = f"assertion_lifetime must be 1-{_MAX_ASSERTION_LIFETIME} seconds"
            raise ConfigurationError(msg, spec_ref="Sec §4.1.1")
        if self.refresh_margin < 0 or self.timeout <= 0 or self.max_bytes <= 0:
            msg = "refresh_margin must be >= 0; timeout and max_bytes must be > 0"
            raise ConfigurationError(msg)
        try:
            check_deadline(self.deadline)
            parse_origins(self.allowed_origins)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc

    @property
    def origins(self) -> frozenset[Origin]:
        """:attr:`allowed_origins` parsed."""
        return parse_origins(self.allowed_origins)


@attrs.frozen(kw_only=True)
class TokenRequest:
    """One token request: who asks, where, for which scopes (Sec §4.1).

    Build it with :meth:`for_registration`.
    """

    issuer: str
    client_id: str
    token_url: str
    audience: str
    scopes: frozenset[str]
    deployment_id: str | None = None

    @classmethod
    def for_registration(
        cls,
        registration: Registerable,
        scopes: Iterable[str],
        *,
        deployment_id: str | None = None,
    ) -> TokenRequest:
        """The request for *registration*'s token endpoint.

        ``aud`` is the registration's ``authorization_server`` when set, otherwise
        its ``token_endpoint`` (Sec §4.1.1).

        Raises:
            ConfigurationError: The registration has no token endpoint, or no scope
                was requested (scopes are mandatory, Sec §4.1).
        """
        record = registration.to_registration()
        if not record.token_endpoint:
            msg = (
                f"the registration for {record.issuer} has no token_endpoint; "
                "Advantage services need one (from the platform's configuration)"
            )
            raise ConfigurationError(msg, spec_ref="Sec §4.1")
        requested = scope_set(scopes)
        if not requested:
            msg = "request at least one scope (Sec §4.1 makes scopes mandatory)"
            raise ConfigurationError(msg, spec_ref="Sec §4.1")
        return cls(
            issuer=record.issuer,
            client_id=record.client_id,
            token_url=record.token_endpoint,
            audience=record.authorization_server or record.token_endpoint,
            scopes=requested,
            deployment_id=deployment_id,
        )

    def cache_key(self, policy: TokenPolicy) -> TokenCacheKey:
        """The cache key; the deployment is part of it only if the assertion names it."""
        return TokenCacheKey(
            issuer=self.issuer,
            client_id=self.client_id,
            token_url=self.token_url,
            scopes=self.scopes,
            deployment_id=self.deployment_id if policy.include_deployment_id else None,
        )


def client_assertion_claims(
    request: TokenRequest, *, now: datetime, jti: str, policy: TokenPolicy
) -> dict[str, Any]:
    """The claims of the JWT client assertion (Sec §4.1.1; Core §6.2; RFC 7523 §3).

    ``iss`` = ``sub`` = client id, ``aud`` the authorization server, numeric ``iat``
    and ``exp`` (at most five minutes apart), a unique ``jti`` and, when known and
    enabled, the ``deployment_id`` (Core §6.2.1).
    """
    if not jti:
        msg = "jti must be a non-empty unique value"
        raise ConfigurationError(msg, spec_ref="RFC 7523 §3")
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": request.client_id,
        "sub": request.client_id,
        "aud": request.audience,
        "iat": issued,
        "exp": issued + policy.assertion_lifetime,
        "jti": jti,
    }
    if request.deployment_id is not None and policy.include_deployment_id:
        claims[DEPLOYMENT_ID] = request.deployment_id
    return claims


def token_request_form(assertion: str, scopes: Iterable[str]) -> dict[str, str]:
    """The form body of the token request (Sec §4.1; RFC 7523 §2.2)."""
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": " ".join(sorted(scope_set(scopes))),
    }


def _safe_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = "".join(c if c.isprintable() else "?" for c in value[:_MAX_DETAIL])
    return cleaned or None


def _expires_in(value: object) -> float:
    if value is None:
        return float(_DEFAULT_EXPIRES_IN)
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit():  # ASCII digits only: "²" is a digit to isdigit()
        value = int(text) if len(text) <= 12 else _MAX_EXPIRES_IN
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        msg = "the token response's expires_in is not a number"
        raise ServiceCallFailedError(msg, spec_ref="RFC 6749 §5.1")
    return float(min(max(value, 0), _MAX_EXPIRES_IN))


def parse_token_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    requested: Iterable[str],
    now: datetime,
    url: str = "",
) -> ServiceToken:
    """Turn the token endpoint's answer into a :class:`ServiceToken` or a typed error.

    - 2xx with a JSON ``access_token`` and a ``token_type`` of bearer (any case):
      the token. ``expires_in`` defaults to 3600; a missing ``scope`` means the
      requested scopes were granted (RFC 6749 §5.1), otherwise the granted subset is
      kept (Sec §4.1).
    - 429 / 503: :class:`~credlti.errors.ServiceTemporarilyUnavailableError` with
      ``retry_after``.
    - 4xx with a JSON ``error``: :class:`~credlti.errors.TokenRequestRejectedError`
      carrying the OAuth error code (RFC 6749 §5.2).
    - Anything else: :class:`~credlti.errors.ServiceCallFailedError`.
    """
    details: dict[str, object] = {"url": url, "status": status}
    if status in (429, 503):
        retry_after = parse_retry_after(header(headers, "Retry-After"), now=now)
        raise ServiceTemporarilyUnavailableError(
            f"the token endpoint is busy or down (HTTP {status}); retry later",
            retry_after=retry_after,
            details={**details, "retry_after": retry_after},
        )
    try:
        document = json.loads(body) if body else None
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        document = None
    if 200 <= status < 300:
        if document is None:
            msg = f"the token endpoint answered HTTP {status} without a JSON object"
            raise ServiceCallFailedError(msg, spec_ref="RFC 6749 §5.1", details=details)
        access_token = document.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            msg = "the token response has no access_token"
            raise ServiceCallFailedError(msg, spec_ref="RFC 6749 §5.1", details=details)
        token_type = document.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            msg = f"the token response's token_type is {_safe_text(token_type)!r}, not bearer"
            raise ServiceCallFailedError(msg, spec_ref="Sec §4.1", details=details)
        lifetime = _expires_in(document.get("expires_in"))
        scope = document.get("scope")
        if scope is None:
            granted = scope_set(requested)
        elif isinstance(scope, str):
            granted = frozenset(scope.split())
        else:
            msg = "the token response's scope is not a space-separated string"
            raise ServiceCallFailedError(msg, spec_ref="RFC 6749 §5.1", details=details)
        return ServiceToken(
            access_token=access_token,
            scopes=granted,
            expires_at=now + timedelta(seconds=lifetime),
            issued_at=now,
        )
    if 400 <= status < 500 and document is not None and isinstance(document.get("error"), str):
        oauth_error = _safe_text(document["error"])
        description = _safe_text(document.get("error_description"))
        raise TokenRequestRejectedError(
            f"the token endpoint refused the request: {oauth_error}"
            + (f" ({description})" if description else ""),
            oauth_error=oauth_error,
            details={**details, "error_description": description},
        )
    if 300 <= status < 400:
        msg = f"the token endpoint redirected (HTTP {status}); configure its final URL"
        raise ServiceCallFailedError(msg, spec_ref="Sec §4.1", details=details)
    msg = f"the token endpoint answered HTTP {status}"
    raise ServiceCallFailedError(msg, spec_ref="Sec §4.1", details=details)


def new_jti(random16: bytes) -> str:
    """A ``jti`` from 16 random bytes (base64url)."""
    return _b64(random16)
