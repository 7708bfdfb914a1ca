"""OIDC login initiation (Sec §5.1.1.1-2) as an IO-free flow, and request parameter reading.

The flow yields storage effects (:mod:`credlti.lti._launch_effects`) and receives
their results; randomness (``state``, ``nonce``) and the time come in as arguments.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from credlti.errors import (
    ConfigurationError,
    InvalidParameterError,
    MissingParameterError,
    RegistrationNotFoundError,
    TargetLinkUriNotAllowedError,
)
from credlti.lti._launch_effects import GetRegistration, StoreNonce
from credlti.lti._policy import LaunchPolicy
from credlti.lti._records import LoginRedirect, Registration, state_cookie_name
from credlti.lti._state import LoginState, seal_state

__all__ = ["auth_request_url", "login_flow", "read_param", "to_registration"]


def read_param(params: Mapping[str, Any], name: str) -> str | None:
    """Read one text parameter from a GET query or POST form mapping."""
    try:
        value = params.get(name)
    except Exception as exc:  # a hostile mapping must not crash the tool
        msg = f"parameter {name!r} could not be read"
        raise InvalidParameterError(msg) from exc
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if value is None:
        return None
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:  # lone surrogates cannot be sent anywhere
                msg = f"parameter {name!r} is not valid Unicode text"
                raise InvalidParameterError(msg, details={"parameter": name}) from exc
        return value
    msg = f"parameter {name!r} must be a single text value"
    raise InvalidParameterError(msg, details={"parameter": name})


def _required(params: Mapping[str, Any], name: str) -> str:
    value = read_param(params, name)
    if not value:
        msg = f"login parameter {name!r} is required; the platform must send it"
        raise MissingParameterError(msg, details={"parameter": name})
    return value


def _origin_and_path(url: str) -> tuple[str, str, int | None, str] | None:
    if not url.isprintable():  # urlsplit would silently drop tabs and newlines
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
        return None
    return parts.scheme, parts.hostname, port, parts.path


def _target_allowed(target: tuple[str, str, int | None, str], prefix: str) -> bool:
    """Same scheme, host and port; the path equals the prefix's or continues it at a '/'."""
    allowed = _origin_and_path(prefix)
    if allowed is None or allowed[:3] != target[:3]:
        return False
    base, path = allowed[3].rstrip("/"), target[3]
    return not base or path == base or path.startswith(base + "/")


def _check_target(target: str, allowed: tuple[str, ...]) -> None:
    parsed = _origin_and_path(target)
    if parsed is None:
        msg = f"target_link_uri must be an absolute http(s) URL of this tool, got {target[:200]!r}"
        raise TargetLinkUriNotAllowedError(msg)
    if allowed and not any(_target_allowed(parsed, prefix) for prefix in allowed):
        msg = (
            f"target_link_uri {target[:200]!r} is not one of this tool's launch URLs; "
            "add its origin (and path prefix) to allowed_target_link_uris"
        )
        raise TargetLinkUriNotAllowedError(msg)


def auth_request_url(endpoint: str, params: Mapping[str, str]) -> str:
    """Merge *params* into the query of *endpoint*, keeping the parameters it already has.

    Parameters the endpoint already carries under the same names are replaced.
    """
    parts = urlsplit(endpoint)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))


def to_registration(host: Any, issuer: str, client_id: str | None) -> Registration:
    """Resolve a host registration object through the Registerable protocol."""
    if host is None:
        detail = f" and client_id {client_id!r}" if client_id else ""
        msg = (
            f"no registration for issuer {issuer!r}{detail}; register the platform "
            "with this tool (or check that it sends the right client_id)"
        )
        raise RegistrationNotFoundError(msg, details={"issuer": issuer, "client_id": client_id})
    registration = host.to_registration()
    if not isinstance(registration, Registration):
        msg = (
            "get_registration must return an object whose to_registration() returns a Registration"
        )
        raise TypeError(msg)
    return registration


def login_flow(
    params: Mapping[str, Any],
    redirect_uri: str,
    *,
    policy: LaunchPolicy,
    now: datetime,
    state: str,
    nonce: str,
    state_key: bytes,
) -> Generator[GetRegistration | StoreNonce, Any, LoginRedirect]:
    """Handle an OIDC third-party login initiation (Sec §5.1.1.1-2).

    Args:
        params: The login request's parameters (GET query or POST form).
        redirect_uri: The tool's launch URL, registered with the platform.
        policy: The launch policy.
        now: The current time.
        state: A fresh CSPRNG value for ``state``.
        nonce: A fresh CSPRNG value for ``nonce``.
        state_key: The MAC key of the state binding (see ``_state.mac_key``).

    Yields:
        ``GetRegistration`` then ``StoreNonce``.

    Returns:
        Where to send the browser and what to keep bound to it.
    """
    # Sec §5.1.1.1: iss, login_hint and target_link_uri are required.
    issuer = _required(params, "iss")
    login_hint = _required(params, "login_hint")
    target = _required(params, "target_link_uri")
    client_id = read_param(params, "client_id") or None
    message_hint = read_param(params, "lti_message_hint")
    deployment_hint = read_param(params, "lti_deployment_id") or None
    _check_target(target, policy.allowed_target_link_uris)
    if deployment_hint is not None and not deployment_hint.isprintable():
        msg = "login parameter 'lti_deployment_id' must be printable text"
        raise InvalidParameterError(msg, details={"parameter": "lti_deployment_id"})

    host = yield GetRegistration(issuer=issuer, client_id=client_id)
    registration = to_registration(host, issuer, client_id)
    if client_id is not None and registration.client_id != client_id:
        msg = "get_registration returned a registration with another client_id"
        raise RegistrationNotFoundError(msg, details={"issuer": issuer, "client_id": client_id})
    if registration.redirect_uris and redirect_uri not in registration.redirect_uris:
        msg = (
            f"redirect_uri {redirect_uri!r} is not one of the registration's "
            "redirect_uris; it must exactly match a URI registered with the platform"
        )
        raise ConfigurationError(msg, spec_ref="Sec §5.1.1.2")

    expires = int(now.timestamp() + policy.state_ttl)
    yield StoreNonce(
        nonce=nonce,
        registration=registration,
        expires_at=datetime.fromtimestamp(expires, tz=now.tzinfo),
        now=now,
    )

    # Sec §5.1.1.2: the authentication request, to the *registered* endpoint.
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": registration.client_id,
        "redirect_uri": redirect_uri,
        "login_hint": login_hint,
        "state": state,
        "nonce": nonce,
    }
    if message_hint is not None:
        query["lti_message_hint"] = message_hint  # Core §4.1.1: echoed unaltered
    sealed = seal_state(
        LoginState(
            state=state,
            nonce=nonce,
            issuer=registration.issuer,
            client_id=registration.client_id,
            target_link_uri=target,
            deployment_id=deployment_hint,
            expires_at=expires,
        ),
        state_key,
    )
    return LoginRedirect(
        url=auth_request_url(registration.auth_endpoint, query),
        state=state,
        cookie_name=state_cookie_name(state),
        cookie_value=sealed,
        max_age=int(policy.state_ttl),
        issuer=registration.issuer,
        client_id=registration.client_id,
    )
