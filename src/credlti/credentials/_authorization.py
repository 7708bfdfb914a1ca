"""Decisions of the OAuth authorization-code flow with PKCE (pure, no IO).

RFC 6749 §4.1 (authorization code grant) and RFC 7636 (PKCE, method ``S256``):

- the authorize URL carries ``response_type=code``, the client id, the redirect URI,
  the scopes (the client's mandatory ones plus the optional ones the user chose), an
  unguessable ``state`` and the PKCE ``code_challenge``;
- the callback is read defensively: every parameter must be a short printable-ASCII
  string, anything else is :class:`~credlti.errors.AuthorizationCallbackError`;
- the pending record is found by the SHA-256 of the state, compared again in
  constant time, bound to the user who started it and to an expiry;
- the token endpoint's answer is parsed with caps (JSON values only, bounded depth)
  and failures are classified: network trouble, 408/425/429/5xx and
  ``temporarily_unavailable`` may succeed later, everything else will not.

No error built here carries a code, verifier, token or client secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from credlti.credentials import _oauth
from credlti.credentials._oauth_records import PendingAuthorization
from credlti.credentials._records import OAuthClient
from credlti.errors import (
    AuthorizationCallbackError,
    AuthorizationDeniedError,
    AuthorizationRequestError,
    AuthorizationStateError,
    MissingScopesError,
    OAuthProviderError,
    OAuthProviderRejectedError,
    OAuthProviderUnavailableError,
)

__all__ = [
    "MAX_CODE_CHARS",
    "MAX_ID_CHARS",
    "MAX_STATE_CHARS",
    "authorize_url",
    "check_identifier",
    "check_pending",
    "check_redirect_uri",
    "classify_provider_failure",
    "denied",
    "exchange_request",
    "granted_scopes",
    "missing_mandatory",
    "parse_json_object",
    "parse_token_answer",
    "parse_userinfo_answer",
    "pkce_challenge",
    "read_callback",
    "requested_scopes",
    "secret_text",
    "state_key",
]

#: Longest authorization code accepted from a callback.
MAX_CODE_CHARS = 4096
#: Longest ``state`` accepted from a callback (ours are 43 characters).
MAX_STATE_CHARS = 256
#: Longest id, name or scope accepted from the host.
MAX_ID_CHARS = 255
_MAX_URL_CHARS = 2048
_MAX_JSON_DEPTH = 32
_MAX_INT = 2**53
#: Printable ASCII (RFC 6749 Appendix A VSCHAR), what ``code`` and ``state`` consist of.
_VSCHAR = re.compile(r"[\x20-\x7e]+")
#: A scope token (RFC 6749 §3.3 NQCHAR): printable ASCII without space, ``"`` or ``\``.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_ERROR_CODE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}")
_RESERVED = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
)
_TEMPORARY_STATUS = frozenset({408, 425, 429})
_TEMPORARY_CODES = frozenset({"temporarily_unavailable", "server_error"})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


# ---------------------------------------------------------------- secrets


def secret_text(raw: bytes) -> str:
    """URL-safe base64 without padding: 32 random bytes give a 43-character value.

    Valid as a PKCE verifier (RFC 7636 §4.1: 43-128 unreserved characters) and as a
    ``state``.
    """
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    """The ``S256`` code challenge of *verifier* (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def state_key(state: str) -> str:
    """The store key of a state: its SHA-256 in hex (the state itself is never stored)."""
    return hashlib.sha256(state.encode("ascii")).hexdigest()


# ---------------------------------------------------------------- starting


def check_identifier(value: Any, what: str) -> str:
    """*value* as an id: a non-empty printable string of at most 255 characters."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_ID_CHARS
        or not value.isprintable()
        or not _encodable(value)
    ):
        msg = f"{what} must be a non-empty printable string of at most {MAX_ID_CHARS} characters"
        raise AuthorizationRequestError(msg)
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _http_url(value: Any, what: str) -> str:
    if (
        not isinstance(value, str)
        or len(value) > _MAX_URL_CHARS
        or not _VSCHAR.fullmatch(value)
        or " " in value
    ):
        msg = f"{what} must be an absolute http(s) URL of printable ASCII"
        raise AuthorizationRequestError(msg)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        msg = f"{what} is not a valid URL"
        raise AuthorizationRequestError(msg) from None
    https = parts.scheme == "https"
    loopback = parts.scheme == "http" and host in _LOOPBACK
    if not host or not (https or loopback) or parts.fragment:
        msg = (
            f"{what} must be an https URL without fragment "
            "(plain http only for localhost, 127.0.0.1 or ::1)"
        )
        raise AuthorizationRequestError(msg)
    return value


def check_redirect_uri(value: Any) -> str:
    """The host's redirect URI: absolute https (http on loopback), no fragment (§3.1.2)."""
    return _http_url(value, "redirect_uri")


def requested_scopes(client: OAuthClient, optional: Any) -> tuple[str, ...]:
    """The client's mandatory scopes, then the chosen *optional* ones it offers.

    Raises:
        AuthorizationRequestError: A chosen scope is malformed or not offered.
    """
    if isinstance(optional, str) or not isinstance(optional, Iterable):
        msg = "optional_scopes must be a list of scope names"
        raise AuthorizationRequestError(msg)
    chosen: list[str] = []
    for scope in optional:
        if not isinstance(scope, str) or len(scope) > MAX_ID_CHARS or not _SCOPE.fullmatch(scope):
            msg = "each optional scope must be a scope name (printable ASCII, no spaces)"
            raise AuthorizationRequestError(msg)
        chosen.append(scope)
    offered = {s.lower(): s for s in client.optional_scopes}
    unknown = sorted({s for s in chosen if s.lower() not in offered})
    if unknown:
        msg = f"the client does not offer the optional scopes {', '.join(unknown)}"
        raise AuthorizationRequestError(msg, details={"scopes": unknown})
    result = list(client.mandatory_scopes)
    seen = {s.lower() for s in result}
    for scope in chosen:
        if scope.lower() not in seen:
            seen.add(scope.lower())
            result.append(offered[scope.lower()])
    return tuple(result)


def _extra_params(extra: Any) -> dict[str, str]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        msg = "extra_params must be a mapping of strings"
        raise AuthorizationRequestError(msg)
    checked: dict[str, str] = {}
    for key, value in extra.items():
        ok_key = isinstance(key, str) and _SCOPE.fullmatch(key) and len(key) <= 64
        ok_value = isinstance(value, str) and len(value) <= 512 and _VSCHAR.fullmatch(value)
        if not ok_key or not ok_value:
            msg = "extra_params keys and values must be short printable-ASCII strings"
            raise AuthorizationRequestError(msg)
        if key in _RESERVED:
            msg = f"extra_params cannot set {key!r}; the flow sets it"
            raise AuthorizationRequestError(msg)
        checked[key] = value
    return checked


def authorize_url(
    client: OAuthClient,
    *,
    redirect_uri: str,
    scopes: tuple[str, ...],
    state: str,
    verifier: str,
    extra: Any = None,
) -> str:
    """The URL to send the user to (RFC 6749 §4.1.1 with RFC 7636 §4.3)."""
    endpoint = _http_url(client.authorization_endpoint, "the client's authorization_endpoint")
    params = _extra_params(extra)
    params.update(
        response_type="code",
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=" ".join(scopes),
        state=state,
        code_challenge=pkce_challenge(verifier),
        code_challenge_method="S256",
    )
    separator = "&" if urlsplit(endpoint).query else "?"
    return f"{endpoint}{separator}{urlencode(params)}"


# ---------------------------------------------------------------- the callback


def _param(params: Mapping[Any, Any], name: str, limit: int) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or len(value) > limit or not _VSCHAR.fullmatch(value):
        msg = f"the callback parameter {name!r} must be printable ASCII, at most {limit} long"
        raise AuthorizationCallbackError(msg, details={"parameter": name})
    return value


def read_callback(params: Any) -> tuple[str, str | None, str | None]:
    """``(state, code, error)`` from the callback's query parameters.

    Raises:
        AuthorizationCallbackError: Not a mapping, no state, or a malformed parameter.
    """
    if not isinstance(params, Mapping):
        msg = "the callback parameters must be a mapping (the query string, parsed)"
        raise AuthorizationCallbackError(msg)
    state = _param(params, "state", MAX_STATE_CHARS)
    if not state:
        msg = "the callback has no state; start the authorization again"
        raise AuthorizationCallbackError(msg, details={"parameter": "state"})
    code = _param(params, "code", MAX_CODE_CHARS)
    error = _param(params, "error", 256)
    if error is None and not code:
        msg = "the callback has neither a code nor an error"
        raise AuthorizationCallbackError(msg, details={"parameter": "code"})
    return state, code, error


def check_pending(
    pending: PendingAuthorization | None, state: str, user_id: str, now: datetime
) -> PendingAuthorization:
    """The pending record if it matches *state*, belongs to *user_id* and has not expired.

    Raises:
        AuthorizationStateError: Unknown (or already used) state, another user's, or expired.
    """
    if pending is None or not hmac.compare_digest(pending.state_hash, state_key(state)):
        msg = "the authorization is unknown or was already completed; start it again"
        raise AuthorizationStateError(msg, details={"reason": "unknown"})
    if pending.user_id != user_id:
        msg = "the authorization was started by another user; start it again"
        raise AuthorizationStateError(msg, details={"reason": "wrong_user"})
    if now >= pending.expires_at:
        msg = "the authorization expired before the provider called back; start it again"
        raise AuthorizationStateError(msg, details={"reason": "expired"})
    return pending


def denied(error: str) -> AuthorizationDeniedError | OAuthProviderUnavailableError:
    """The error for a callback carrying ``error=...`` (its description is never read)."""
    code = error if _ERROR_CODE.fullmatch(error) else "invalid_error_code"
    details = {"endpoint": "authorize", "status": None, "error": code}
    if code in _TEMPORARY_CODES:
        msg = f"the provider could not authorize now ({code}); try again later"
        return OAuthProviderUnavailableError(msg, details=details)
    msg = f"the provider did not grant access ({code}); the user may try again"
    return AuthorizationDeniedError(msg, details={"error": code})


def exchange_request(
    client: OAuthClient, *, code: str, redirect_uri: str, verifier: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and form of the code exchange (RFC 6749 §4.1.3, RFC 7636 §4.5).

    The client authenticates as it does for refreshes (its ``auth_method``).
    """
    headers, form = _oauth.build_refresh_request(client, "")
    form.pop("refresh_token", None)
    form.update(
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
    )
    return headers, form


# ---------------------------------------------------------------- provider answers


def _json_value(value: Any, depth: int) -> bool:
    if depth > _MAX_JSON_DEPTH:
        return False
    if isinstance(value, str):
        return _encodable(value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -_MAX_INT <= value <= _MAX_INT
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_value(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_encodable(k) and _json_value(v, depth + 1) for k, v in value.items())
    return False


def _no_constant(name: str) -> Any:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def parse_json_object(body: bytes) -> dict[str, Any] | None:
    """*body* as a JSON object of plain values (finite numbers, bounded depth), or ``None``."""
    try:
        parsed = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict) or not _json_value(parsed, 0):
        return None
    return parsed


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from ``Retry-After`` (ASCII digits or an HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(min(int(value[:9]), 86_400)) if len(value) <= 9 else 86_400.0
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(86_400.0, max(0.0, (when - now).total_seconds()))


def classify_provider_failure(
    endpoint: str,
    status: int | None,
    body: bytes,
    retry_after: str | None,
    now: datetime,
    *,
    reason: str = "",
) -> OAuthProviderError:
    """A failed token or userinfo call as a retryable or a final error.

    *status* is ``None`` when no response came back (*reason* says why).
    """
    parsed = parse_json_object(body) or {}
    code = parsed.get("error")
    code = code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None
    details: dict[str, object] = {"endpoint": endpoint, "status": status, "error": code}
    if status is None:
        if reason.startswith("response body is larger"):
            msg = f"the {endpoint} endpoint answered with an oversized body ({reason})"
            return OAuthProviderRejectedError(msg, details=details)
        why = reason or "network error"
        msg = f"the {endpoint} endpoint could not be reached ({why}); retry later"
        return OAuthProviderUnavailableError(msg, details=details)
    if status in _TEMPORARY_STATUS or status >= 500 or code in _TEMPORARY_CODES:
        msg = f"the {endpoint} endpoint failed temporarily (HTTP {status}); retry later"
        return OAuthProviderUnavailableError(
            msg, retry_after=_retry_after(retry_after, now), details=details
        )
    if 200 <= status < 300:
        msg = f"the {endpoint} endpoint answered {status} with an unusable body ({reason})"
        return OAuthProviderRejectedError(msg, details=details)
    msg = (
        f"the {endpoint} endpoint refused (HTTP {status}, {code or 'no error code'}); "
        "start the authorization again"
    )
    return OAuthProviderRejectedError(msg, details=details)


def parse_token_answer(
    status: int, body: bytes, retry_after: str | None, now: datetime
) -> dict[str, Any]:
    """The token endpoint's JSON answer to the code exchange, or raise its classified error."""
    if status != 200:
        raise classify_provider_failure("token", status, body, retry_after, now)
    data = parse_json_object(body)
    if data is None:
        raise classify_provider_failure(
            "token", status, b"", None, now, reason="not a JSON object of plain values"
        )
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise classify_provider_failure("token", status, b"", None, now, reason="no access_token")
    token_type = data.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise classify_provider_failure(
            "token", status, b"", None, now, reason="token_type is not Bearer"
        )
    scope = data.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise classify_provider_failure("token", status, b"", None, now, reason="bad scope")
    for name in ("expires_in", "expires_at"):
        if not _expiry_shape(data.get(name)):
            reason = f"{name} is neither whole seconds nor a date"
            raise classify_provider_failure("token", status, b"", None, now, reason=reason)
    return data


def _expiry_shape(value: Any) -> bool:
    """``None``, a non-negative number, ASCII digits, or ISO-8601 text."""
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value) and 0 <= value <= _MAX_INT
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return len(text) <= 16
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?", text))
    return False


def parse_userinfo_answer(
    status: int, body: bytes, retry_after: str | None, now: datetime
) -> dict[str, Any]:
    """The userinfo endpoint's JSON object, or raise its classified error."""
    if status != 200:
        raise classify_provider_failure("userinfo", status, body, retry_after, now)
    data = parse_json_object(body)
    if data is None:
        raise classify_provider_failure(
            "userinfo", status, b"", None, now, reason="not a JSON object of plain values"
        )
    return data


def granted_scopes(data: Mapping[str, Any], requested: tuple[str, ...]) -> tuple[str, ...]:
    """The granted scopes: the answer's ``scope``, or the requested ones when omitted (§5.1)."""
    scope = data.get("scope")
    if isinstance(scope, str):
        return tuple(dict.fromkeys(s for s in scope.split() if s))
    return requested


def missing_mandatory(client: OAuthClient, granted: tuple[str, ...]) -> MissingScopesError | None:
    """The error for mandatory scopes the grant lacks (case-insensitive), or ``None``.

    ``offline_access`` is ignored: some providers grant it without echoing it.
    """
    have = {s.lower() for s in granted}
    missing = tuple(
        s
        for s in client.mandatory_scopes
        if s.lower() != "offline_access" and s.lower() not in have
    )
    if not missing:
        return None
    msg = (
        f"missing required scopes: {', '.join(missing)}; "
        "reauthorize and grant all selected permissions"
    )
    return MissingScopesError(
        msg,
        expected_scopes=client.mandatory_scopes,
        granted_scopes=granted,
        missing_scopes=missing,
    )
