"""OAuth token decisions (pure): validation, freshness, refresh requests, outcomes.

A refresh response may omit ``scope``,
``token_type``, expiry and ``refresh_token`` (previous values are carried forward);
``expires_at`` may be epoch seconds or ISO-8601; 408/425/429/5xx and network
failures are temporary (honouring ``Retry-After``); 400/401 and ``invalid_grant``
need re-authorisation.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from credlti.credentials._records import (
    BodyLimits,
    ClientAuthMethod,
    FieldError,
    OAuthClient,
    OAuthToken,
)
from credlti.credentials._values import check_body
from credlti.errors import (
    OAuthRefreshError,
    ReauthorizationRequiredError,
    TemporaryRefreshError,
)

__all__ = [
    "build_refresh_request",
    "classify_failure",
    "is_fresh",
    "parse_expiry",
    "parse_retry_after",
    "parse_token_response",
    "token_from_grant",
]

#: Keys of a token response stored as first-class fields, not in ``extra``.
_KNOWN = frozenset(
    {"access_token", "refresh_token", "token_type", "scope", "scopes", "expires_in", "expires_at"}
)
_REAUTH_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
_TEMPORARY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_ERROR_CODE = re.compile(r"[\x20-\x7e]{1,64}\Z")
#: The latest expiry accepted, from now (a longer one would never be refreshed).
MAX_LIFETIME = timedelta(days=365)
#: The earliest expiry accepted, before now (an expired token is refreshed on first use).
MAX_EXPIRED = timedelta(days=1)
#: The longest ``Retry-After`` honoured, in seconds (a longer one is capped to this).
MAX_RETRY_AFTER = 24 * 3600.0
_DIGITS = re.compile(r"[0-9]{1,12}\Z")


def _ascii_int(value: str) -> int | None:
    """The integer spelt by ASCII digits only (``"²"`` or ``"٣"`` are not numbers here)."""
    text = value.strip(" \t")
    return int(text) if _DIGITS.match(text) else None


def is_fresh(token: OAuthToken | None, now: datetime, buffer: timedelta) -> bool:
    """True while *token* expires more than *buffer* after *now*; unknown expiry is stale."""
    if token is None or token.expires_at is None:
        return False
    return token.expires_at > now + buffer


def _within_bounds(when: datetime, now: datetime) -> datetime | None:
    try:
        if now - MAX_EXPIRED <= when <= now + MAX_LIFETIME:
            return when
    except OverflowError:  # pragma: no cover - only at the ends of the datetime range
        return None
    return None


def parse_expiry(data: Mapping[str, Any], now: datetime) -> datetime | None:
    """Expiry from ``expires_in`` (seconds, wins) or ``expires_at`` (epoch or ISO-8601).

    Numbers in text must be ASCII digits. The result must lie between
    :data:`MAX_EXPIRED` before *now* and :data:`MAX_LIFETIME` after it; anything
    else (or unparseable) gives ``None``.
    """
    expires_in = data.get("expires_in")
    if isinstance(expires_in, str):
        expires_in = _ascii_int(expires_in)
    if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
        if 0 < expires_in <= MAX_LIFETIME.total_seconds():
            return now + timedelta(seconds=float(expires_in))
        return None
    expires_at = data.get("expires_at")
    if isinstance(expires_at, str) and _ascii_int(expires_at) is not None:
        expires_at = _ascii_int(expires_at)
    if isinstance(expires_at, (int, float)) and not isinstance(expires_at, bool):
        try:
            when = datetime.fromtimestamp(float(expires_at), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
        return _within_bounds(when, now)
    if isinstance(expires_at, str) and expires_at.isascii() and len(expires_at) <= 64:
        try:
            parsed = datetime.fromisoformat(expires_at.strip().replace("Z", "+00:00"))
            aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
            when = aware.astimezone(timezone.utc)  # stored and read back in UTC
        except (ValueError, OverflowError):
            return None
        return _within_bounds(when, now)
    return None


def _scopes(data: Mapping[str, Any]) -> tuple[str, ...] | None:
    scope = data.get("scope")
    if isinstance(scope, str):
        return tuple(s for s in scope.split() if s)
    scopes = data.get("scopes")
    if isinstance(scopes, (list, tuple)) and all(isinstance(s, str) for s in scopes):
        return tuple(s.strip() for s in scopes if s.strip())
    return None


def token_from_grant(
    data: Any,
    now: datetime,
    *,
    previous: OAuthToken | None = None,
    expected_scopes: Any = None,
    default_lifetime: timedelta | None = None,
) -> tuple[OAuthToken | None, tuple[FieldError, ...]]:
    """Validate token data given to create/update a credential (``oauth_token``).

    A refresh token is required unless *previous* has one (it is carried over).
    Scopes are required on create; missing expected scopes (case-insensitive,
    ``offline_access`` ignored) are errors.
    """
    path = "oauth_token"
    if not isinstance(data, Mapping):
        return None, (FieldError(path=path, message="must be a JSON object"),)
    errors: list[FieldError] = []
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        errors.append(FieldError(path=f"{path}.access_token", message="can't be blank"))
    refresh = data.get("refresh_token")
    if refresh is not None and not isinstance(refresh, str):
        errors.append(FieldError(path=f"{path}.refresh_token", message="must be a string"))
        refresh = None
    refresh = refresh or (previous.refresh_token if previous else None)
    if not refresh:
        errors.append(FieldError(path=f"{path}.refresh_token", message="can't be blank"))
    token_type = data.get("token_type", previous.token_type if previous else "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        errors.append(FieldError(path=f"{path}.token_type", message="must be Bearer"))
    scopes = _scopes(data)
    if scopes is None:
        scopes = previous.scopes if previous else None
    if not scopes:
        errors.append(FieldError(path=f"{path}.scope", message="can't be blank"))
    else:
        missing = missing_scopes(scopes, expected_scopes)
        if missing:
            errors.append(
                FieldError(
                    path=f"{path}.scope",
                    message=f"missing required scopes: {', '.join(missing)}; "
                    "reauthorize and grant all selected permissions",
                )
            )
    expires_at = parse_expiry(data, now)
    if expires_at is None and ("expires_in" in data or "expires_at" in data):
        field = "expires_in" if "expires_in" in data else "expires_at"
        errors.append(
            FieldError(
                path=f"{path}.{field}",
                message=f"is not a valid expiry: give seconds from 1 to "
                f"{int(MAX_LIFETIME.total_seconds())} (expires_in), or a time from "
                "1 day ago to 365 days ahead (expires_at, epoch seconds or ISO-8601)",
            )
        )
    if expires_at is None and default_lifetime is not None:
        expires_at = now + default_lifetime
    if errors:
        return None, tuple(errors)
    return (
        OAuthToken(
            access_token=str(access),
            refresh_token=refresh,
            token_type="Bearer",  # noqa: S106 - the token type name, not a secret
            scopes=tuple(scopes or ()),
            expires_at=expires_at,
            last_refreshed=now,
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        ),
        (),
    )


def missing_scopes(granted: Any, expected: Any) -> list[str]:
    """Expected scopes the grant lacks (case-insensitive; ``offline_access`` ignored)."""
    if expected is None:
        return []
    wanted = expected.split() if isinstance(expected, str) else list(expected)
    have = {str(s).lower() for s in granted}
    return [s for s in wanted if s.lower() != "offline_access" and s.lower() not in have]


def build_refresh_request(
    client: OAuthClient, refresh_token: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and form fields of a refresh-token grant (RFC 6749 §6) for *client*."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    headers = {"Accept": "application/json"}
    if client.auth_method is ClientAuthMethod.CLIENT_SECRET_BASIC:
        user = quote(client.client_id, safe="")
        password = quote(client.client_secret or "", safe="")
        raw = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {raw}"
    elif client.auth_method is ClientAuthMethod.CLIENT_SECRET_POST:
        form["client_id"] = client.client_id
        form["client_secret"] = client.client_secret or ""
    else:
        form["client_id"] = client.client_id
    return headers, form


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), if valid.

    Delta-seconds must be ASCII digits; the result is capped at :data:`MAX_RETRY_AFTER`.
    """
    if not value or not isinstance(value, str):
        return None
    seconds = _ascii_int(value)
    if seconds is not None:
        return min(float(seconds), MAX_RETRY_AFTER)
    if not value.isascii() or len(value) > 64:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The response body as a JSON object (strict: no NaN or Infinity), or ``None``."""
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _storable_extra(data: Mapping[str, Any]) -> dict[str, Any]:
    """The unknown fields of a token response that pass the body gate (others dropped)."""
    limits = BodyLimits()
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key in _KNOWN:
            continue
        plain, problems = check_body({key: value}, limits=limits, path="extra")
        if plain is not None and not problems:
            kept.update(plain)
    return kept


def classify_failure(
    status: int | None,
    body: bytes,
    retry_after: str | None,
    now: datetime,
    *,
    reason: str = "",
) -> OAuthRefreshError:
    """Turn a failed refresh into a re-authorisation or a temporary error.

    *status* is ``None`` for a network failure. The provider's ``error`` code (never
    its description, which may echo input) goes into ``details``.
    """
    parsed = _json_object(body) or {}
    code = parsed.get("error")
    code = code if isinstance(code, str) and _ERROR_CODE.match(code) else None
    details: dict[str, object] = {"status": status, "error": code}
    wait = parse_retry_after(retry_after, now)
    if status is None:
        return TemporaryRefreshError(
            f"the token endpoint could not be reached ({reason or 'network error'}); retry later",
            details=details,
        )
    if code in _REAUTH_ERRORS or (status in {400, 401, 403} and code != "temporarily_unavailable"):
        return ReauthorizationRequiredError(
            f"the provider rejected the refresh (HTTP {status}, {code or 'no error code'}); "
            "ask the owner to reauthorize the credential",
            details=details,
        )
    if status in _TEMPORARY_STATUS or status >= 500 or code == "temporarily_unavailable":
        return TemporaryRefreshError(
            f"the token endpoint failed temporarily (HTTP {status}); retry later",
            retry_after=wait,
            details=details,
        )
    if 200 <= status < 300:
        return TemporaryRefreshError(
            f"the token endpoint answered {status} with an unusable body ({reason}); retry later",
            details=details,
        )
    return ReauthorizationRequiredError(
        f"the provider refused the refresh (HTTP {status}); ask the owner to reauthorize",
        details=details,
    )


def parse_token_response(
    status: int,
    body: bytes,
    retry_after: str | None,
    previous: OAuthToken,
    now: datetime,
    *,
    default_lifetime: timedelta | None,
) -> OAuthToken:
    """The refreshed token from a token-endpoint response, or raise its classified error."""
    if status != 200:
        raise classify_failure(status, body, retry_after, now)
    data = _json_object(body)
    if data is None:
        raise classify_failure(status, body, retry_after, now, reason="not a JSON object")
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise classify_failure(status, body, retry_after, now, reason="no access_token")
    refresh = data.get("refresh_token")
    token_type = data.get("token_type")
    scopes = _scopes(data)
    expires_at = parse_expiry(data, now)
    if expires_at is None:
        expires_at = now + default_lifetime if default_lifetime is not None else None
    extra = dict(previous.extra)
    extra.update(_storable_extra(data))
    return OAuthToken(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous.refresh_token,
        token_type=token_type
        if isinstance(token_type, str) and token_type
        else previous.token_type,
        scopes=scopes if scopes is not None else previous.scopes,
        expires_at=expires_at,
        last_refreshed=now,
        extra=extra,
        version=previous.version,
    )
