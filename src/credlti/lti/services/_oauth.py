"""Service access tokens: the client-credentials grant with a JWT assertion, IO-free.

Rules of this module:

1. No IO, no clock reads, no randomness: ``now`` and the assertion's ``jti`` are
   passed in. :func:`token_flow` is a generator that yields effects (read the
   cache, POST the form, write the cache) and receives their results; the drivers
   in :mod:`credlti.lti.services._client` perform them, sync or async.
2. Every check cites its section (Sec §4.1, §4.1.1; Core §6.2; RFC 6749/7523).
3. Tokens are opaque (Sec §4.1.1.1) and never appear in a repr, message or detail.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Generator, Iterable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import attrs

from credlti.errors import (
    ConfigurationError,
    ScopeNotGrantedError,
    ServiceCallFailedError,
    ServiceTemporarilyUnavailableError,
    TokenRequestRejectedError,
)
from credlti.lti._claims import DEPLOYMENT_ID
from credlti.lti.keys import ToolKey
from credlti.lti.ports import Registerable

__all__ = [
    "ASSERTION_TYPE",
    "SCOPE_LINEITEM",
    "SCOPE_LINEITEM_READONLY",
    "SCOPE_NRPS_READONLY",
    "SCOPE_RESULT_READONLY",
    "SCOPE_SCORE",
    "CacheGet",
    "CachePut",
    "PostTokenRequest",
    "ServiceToken",
    "TokenCacheKey",
    "TokenEffect",
    "TokenPolicy",
    "TokenRequest",
    "client_assertion_claims",
    "new_jti",
    "parse_retry_after",
    "parse_token_response",
    "token_flow",
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


def _scope_set(scopes: Iterable[str]) -> frozenset[str]:
    if isinstance(scopes, str):
        scopes = scopes.split()
    result: frozenset[Any] = frozenset(scopes)
    for scope in result:
        if not isinstance(scope, str) or not scope or any(c.isspace() for c in scope):
            msg = f"a scope must be a non-empty string without spaces, got {scope!r}"
            raise ConfigurationError(msg, spec_ref="Sec §4.1")
    return result


@attrs.frozen(kw_only=True)
class TokenPolicy:
    """How service tokens are requested and reused.

    Args:
        refresh_margin: Seconds before ``expires_at`` at which a cached token is no
            longer used (Sec §4.1 suggests about a minute).
        assertion_lifetime: Seconds the client assertion is valid (at most 300).
        include_deployment_id: Add the ``deployment_id`` claim to the assertion when
            a deployment is known (Core §6.2.1); it is then part of the cache key.
        timeout: Seconds for each token request.
        max_bytes: Largest token response accepted.
    """

    refresh_margin: float = 60.0
    assertion_lifetime: int = 300
    include_deployment_id: bool = True
    timeout: float = 10.0
    max_bytes: int = 64 * 1024

    def __attrs_post_init__(self) -> None:
        if not 0 < self.assertion_lifetime <= _MAX_ASSERTION_LIFETIME:
            msg = f"assertion_lifetime must be 1-{_MAX_ASSERTION_LIFETIME} seconds"
            raise ConfigurationError(msg, spec_ref="Sec §4.1.1")
        if self.refresh_margin < 0 or self.timeout <= 0 or self.max_bytes <= 0:
            msg = "refresh_margin must be >= 0; timeout and max_bytes must be > 0"
            raise ConfigurationError(msg)


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
    """

    access_token: str = attrs.field(repr=False)
    scopes: frozenset[str] = attrs.field(converter=_scope_set)
    expires_at: datetime
    token_type: str = "Bearer"

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value (note: not ``Authentication``)."""
        return f"Bearer {self.access_token}"

    def is_fresh(self, now: datetime, *, margin: float = 60.0) -> bool:
        """True while the token may be used: ``now < expires_at - margin``."""
        return now < self.expires_at - timedelta(seconds=margin)

    def covers(self, scopes: Iterable[str]) -> bool:
        """True if every scope in *scopes* was granted."""
        return _scope_set(scopes) <= self.scopes

    def require(self, scopes: Iterable[str]) -> None:
        """Raise :class:`~credlti.errors.ScopeNotGrantedError` unless every scope was granted."""
        missing = sorted(_scope_set(scopes) - self.scopes)
        if missing:
            msg = (
                f"the platform did not grant {missing}; ask the platform administrator to "
                "enable the service for this tool, or request only granted scopes"
            )
            raise ScopeNotGrantedError(msg, details={"missing_scopes": missing})

    def same_token(self, other: ServiceToken) -> bool:
        """True if *other* carries the same access token (constant-time compare)."""
        return hmac.compare_digest(self.access_token.encode(), other.access_token.encode())


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
        requested = _scope_set(scopes)
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
        "scope": " ".join(sorted(_scope_set(scopes))),
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, item in headers.items():
            if key.lower() == lowered:
                return item
    return value


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.utcoffset() is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _safe_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = "".join(c if c.isprintable() else "?" for c in value[:_MAX_DETAIL])
    return cleaned or None


def _expires_in(value: object) -> float:
    if value is None:
        return float(_DEFAULT_EXPIRES_IN)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
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
        retry_after = parse_retry_after(_header(headers, "Retry-After"), now=now)
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
            granted = _scope_set(requested)
        elif isinstance(scope, str):
            granted = frozenset(scope.split())
        else:
            msg = "the token response's scope is not a space-separated string"
            raise ServiceCallFailedError(msg, spec_ref="RFC 6749 §5.1", details=details)
        return ServiceToken(
            access_token=access_token,
            scopes=granted,
            expires_at=now + timedelta(seconds=lifetime),
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


# --------------------------------------------------------------------------- the flow


@attrs.frozen
class CacheGet:
    """Effect: ``cache.get_token(key)`` -> ServiceToken or None."""

    key: TokenCacheKey


@attrs.frozen
class CachePut:
    """Effect: ``cache.put_token(key, token)`` -> None."""

    key: TokenCacheKey
    token: ServiceToken


@attrs.frozen
class PostTokenRequest:
    """Effect: POST *form* to *url* -> a response with ``status_code``, ``headers``, ``body``."""

    url: str
    form: Mapping[str, str] = attrs.field(repr=False)
    timeout: float
    max_bytes: int


TokenEffect = CacheGet | CachePut | PostTokenRequest


def new_jti(random16: bytes) -> str:
    """A ``jti`` from 16 random bytes (base64url)."""
    return _b64(random16)


def token_flow(
    request: TokenRequest,
    *,
    key: ToolKey,
    now: datetime,
    jti: str,
    policy: TokenPolicy,
    force_refresh: bool = False,
) -> Generator[TokenEffect, Any, ServiceToken]:
    """Get a token for *request*: a fresh cached one, or a new one from the platform.

    Yields :class:`CacheGet` (unless *force_refresh*), then, when nothing fresh is
    cached, :class:`PostTokenRequest` and :class:`CachePut`. Returns the token.
    """
    cache_key = request.cache_key(policy)
    if not force_refresh:
        cached = yield CacheGet(cache_key)
        if cached is not None and cached.is_fresh(now, margin=policy.refresh_margin):
            return cached  # type: ignore[no-any-return]
    assertion = key.sign_jwt(client_assertion_claims(request, now=now, jti=jti, policy=policy))
    response = yield PostTokenRequest(
        request.token_url,
        token_request_form(assertion, request.scopes),
        policy.timeout,
        policy.max_bytes,
    )
    token = parse_token_response(
        response.status_code,
        response.headers,
        response.body,
        requested=request.scopes,
        now=now,
        url=request.token_url,
    )
    yield CachePut(cache_key, token)
    return token
