"""OIDC login initiation (Sec §5.1.1.1-2) as an IO-free flow, and request parameter reading.

The flow yields storage effects (:mod:`credlti.lti._launch_effects`) and receives
their results; randomness (``state``, ``nonce``) and the time come in as arguments.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from credlti._text import NormalisedUrl, normalise_url, safe_excerpt
from credlti.errors import (
    ConfigurationError,
    InvalidParameterError,
    MissingParameterError,
    RegistrationNotFoundError,
    TargetLinkUriNotAllowedError,
)
from credlti.lti._launch_effects import GetRegistration, StoreNonce
from credlti.lti._policy import LaunchPolicy, normalised_entries
from credlti.lti._records import LoginRedirect, Registration, state_cookie_name
from credlti.lti._state import LoginState, login_digest, seal_state
from credlti.lti._storage_pages import parse_storage_target

__all__ = [
    "LOGIN_PARAMETER_LIMITS",
    "auth_request_url",
    "login_flow",
    "read_param",
    "to_registration",
]

#: The longest value accepted for each login parameter, in characters. ``iss`` and
#: ``client_id`` must also be printable ASCII (they name a registration, whose issuer
#: column holds 1024 and client id 255 characters); ``lti_deployment_id`` follows the
#: deployment id limit of Core §5.3.3 (1024 when ``enforce_id_limits`` is off); the
#: hints are opaque platform values echoed to the platform, bounded so the
#: authentication redirect stays a sane URL.
LOGIN_PARAMETER_LIMITS: Mapping[str, int] = {
    "iss": 1024,
    "client_id": 255,
    "lti_deployment_id": 255,
    "target_link_uri": 2048,
    "login_hint": 2048,
    "lti_message_hint": 4096,
}
_ASCII_PARAMETERS = frozenset({"iss", "client_id"})
#: ``lti_deployment_id`` limit when ``LaunchPolicy.enforce_id_limits`` is off.
_LONG_DEPLOYMENT_ID = 1024


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


def _bounded(params: Mapping[str, Any], name: str, limit: int | None = None) -> str | None:
    """Read a login parameter and enforce *limit* (its :data:`LOGIN_PARAMETER_LIMITS` entry)."""
    value = read_param(params, name)
    if value is None:
        return None
    if limit is None:
        limit = LOGIN_PARAMETER_LIMITS[name]
    if len(value) > limit:
        msg = f"login parameter {name!r} must be at most {limit} characters"
        raise InvalidParameterError(msg, details={"parameter": name, "limit": limit})
    if name in _ASCII_PARAMETERS and value and not (value.isascii() and value.isprintable()):
        msg = f"login parameter {name!r} must be printable ASCII text"
        raise InvalidParameterError(msg, details={"parameter": name})
    return value


def _required(params: Mapping[str, Any], name: str) -> str:
    value = _bounded(params, name)
    if not value:
        msg = f"login parameter {name!r} is required; the platform must send it"
        raise MissingParameterError(msg, details={"parameter": name})
    return value


def _check_target(target: str, allowed: tuple[NormalisedUrl, ...]) -> None:
    """Core §4.1: the target is an http(s) URL of this tool (open-redirect guard).

    The target is compared in normal form (:func:`credlti._text.normalise_url`) by
    origin and whole path segments; a URL servers could read two ways is refused.
    """
    try:
        normal = normalise_url(target)
    except ValueError as exc:
        msg = (
            f"target_link_uri must be an absolute http(s) URL of this tool, but {exc}: "
            f"'{safe_excerpt(target)}'"
        )
        raise TargetLinkUriNotAllowedError(msg, details={"reason": str(exc)}) from None
    if allowed and not any(normal.is_within(base) for base in allowed):
        msg = (
            f"target_link_uri '{safe_excerpt(target)}' is not one of this tool's launch "
            "URLs; add its origin (and path prefix) to allowed_target_link_uris"
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
        shown_issuer = safe_excerpt(issuer, limit=200)
        shown_client = None if client_id is None else safe_excerpt(client_id)
        detail = f" and client_id '{shown_client}'" if client_id else ""
        msg = (
            f"no registration for issuer '{shown_issuer}'{detail}; register the platform "
            "with this tool (or check that it sends the right client_id)"
        )
        raise RegistrationNotFoundError(
            msg, details={"issuer": shown_issuer, "client_id": shown_client}
        )
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
    # Every parameter is bounded (LOGIN_PARAMETER_LIMITS) before it is used.
    issuer = _required(params, "iss")
    login_hint = _required(params, "login_hint")
    target = _required(params, "target_link_uri")
    client_id = _bounded(params, "client_id") or None
    message_hint = _bounded(params, "lti_message_hint")
    deployment_limit = None if policy.enforce_id_limits else _LONG_DEPLOYMENT_ID
    deployment_hint = _bounded(params, "lti_deployment_id", deployment_limit) or None
    # LTI Client Side postMessages: the frame that answers platform-storage messages.
    storage_target = parse_storage_target(read_param(params, "lti_storage_target"))
    _check_target(target, normalised_entries(policy.allowed_target_link_uris))
    if deployment_hint is not None and not deployment_hint.isprintable():
        msg = "login parameter 'lti_deployment_id' must be printable text"
        raise InvalidParameterError(msg, details={"parameter": "lti_deployment_id"})

    host = yield GetRegistration(issuer=issuer, client_id=client_id)
    registration = to_registration(host, issuer, client_id)
    if registration.issuer != issuer or (
        client_id is not None and registration.client_id != client_id
    ):
        msg = "get_registration returned a registration with another issuer or client_id"
        raise RegistrationNotFoundError(
            msg,
            details={
                "issuer": safe_excerpt(issuer, limit=200),
                "client_id": None if client_id is None else safe_excerpt(client_id),
            },
        )
    # Sec §5.1.1.2: the platform compares redirect_uri byte for byte with the URIs
    # registered there, so the tool does too (no normalising).
    if registration.redirect_uris and redirect_uri not in registration.redirect_uris:
        msg = (
            f"redirect_uri '{safe_excerpt(redirect_uri, limit=200)}' is not one of the "
            "registration's redirect_uris; it must exactly match a URI registered with "
            "the platform"
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
            target_link_uri_digest=login_digest(target),
            deployment_id_digest=None if deployment_hint is None else login_digest(deployment_hint),
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
        storage_target=storage_target,
        login_params=_resend_params(
            issuer=issuer,
            login_hint=login_hint,
            target=target,
            client_id=client_id,
            message_hint=message_hint,
            deployment_hint=deployment_hint,
        ),
    )


def _resend_params(
    *,
    issuer: str,
    login_hint: str,
    target: str,
    client_id: str | None,
    message_hint: str | None,
    deployment_hint: str | None,
) -> dict[str, str]:
    """The login parameters to send again from a new window (no storage target there)."""
    params = {"iss": issuer, "login_hint": login_hint, "target_link_uri": target}
    optional = {
        "client_id": client_id,
        "lti_message_hint": message_hint,
        "lti_deployment_id": deployment_hint,
    }
    params.update({name: value for name, value in optional.items() if value is not None})
    return params
