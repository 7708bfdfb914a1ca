"""Frozen records of the LTI side: registrations, deployments, login redirects, launches.

Rules of this module:

1. Records validate their own invariants at construction and raise
   :class:`~credlti.errors.ConfigurationError`; a record that exists is usable.
2. No record holds a secret in its ``repr``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import attrs

from credlti._text import safe_excerpt
from credlti.errors import ConfigurationError
from credlti.lti._claims import LaunchClaims
from credlti.lti._lti1p1_claim import VerifiedLti1p1
from credlti.lti._storage_pages import login_page, origin_of

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Deployment",
    "LaunchContext",
    "LoginRedirect",
    "Registration",
    "clear_state_cookie_header",
    "state_cookie_name",
]

#: Asymmetric JWS algorithms credlti can verify. Symmetric (HS*) and ``none`` are
#: forbidden for LTI (Sec §5.4, Cert §4.2) and can never be allowed.
SUPPORTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_MAX_ID_LENGTH = 255


def check_url(value: object, what: str, *, allow_query: bool = True) -> None:
    """Raise :class:`ConfigurationError` unless *value* is an absolute HTTPS URL.

    Plain ``http`` is accepted for loopback hosts only, so a tool can be developed
    against a local LMS. Core §3.5 requires HTTPS everywhere else. The value may come
    from a platform (a claim), so the message quotes it only as a safe excerpt.
    """
    shown = f"'{safe_excerpt(value, limit=200)}'"
    if not isinstance(value, str) or not value:
        msg = f"{what} must be a non-empty URL string, got {shown}"
        raise ConfigurationError(msg, spec_ref="Core §3.5")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError as exc:
        msg = f"{what} is not a valid URL: {shown}"
        raise ConfigurationError(msg, spec_ref="Core §3.5") from exc
    if not host:
        msg = f"{what} must be an absolute URL with a host, got {shown}"
        raise ConfigurationError(msg, spec_ref="Core §3.5")
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK_HOSTS):
        msg = f"{what} must use https (plain http is allowed for loopback hosts only): {shown}"
        raise ConfigurationError(msg, spec_ref="Core §3.5")
    if not allow_query and (parts.query or parts.fragment):
        msg = f"{what} must not have a query or fragment: {shown}"
        raise ConfigurationError(msg, spec_ref="Sec §5.1.2")


def _https_url(what: str, *, allow_query: bool = True) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
        check_url(value, what, allow_query=allow_query)

    return validate


def _optional_https_url(what: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[str | None], value: str | None) -> None:
        if value is not None:
            check_url(value, what)

    return validate


def _check_algorithms(_inst: object, _attr: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value:
        msg = "allowed_algorithms must name at least one algorithm, e.g. ('RS256',)"
        raise ConfigurationError(msg, spec_ref="Sec §5.1.3")
    bad = [alg for alg in value if alg not in SUPPORTED_ALGORITHMS]
    if bad:
        msg = (
            f"allowed_algorithms contains {bad!r}; only asymmetric algorithms "
            f"{sorted(SUPPORTED_ALGORITHMS)} are allowed for LTI"
        )
        raise ConfigurationError(msg, spec_ref="Sec §6.1")


def _check_identifier(what: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[str], value: object) -> None:
        if not isinstance(value, str) or not value:
            msg = f"{what} must be a non-empty string, got '{safe_excerpt(value)}'"
            raise ConfigurationError(msg)
        if len(value) > _MAX_ID_LENGTH or not value.isascii() or not value.isprintable():
            msg = (
                f"{what} must be at most 255 printable ASCII characters, "
                f"got '{safe_excerpt(value)}'"
            )
            raise ConfigurationError(msg, spec_ref="Core §5.3.3")

    return validate


def _check_deployment_id(_inst: object, _attr: attrs.Attribute[str], value: object) -> None:
    # Deliberately lenient: the launch policy decides how long or exotic a platform's
    # ids may be (LaunchPolicy.enforce_id_limits); the record only needs text.
    if not isinstance(value, str) or not value:
        msg = f"deployment_id must be a non-empty string, got '{safe_excerpt(value)}'"
        raise ConfigurationError(msg, spec_ref="Core §5.3.3")


def _as_str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@attrs.frozen(kw_only=True)
class Registration:
    """A platform registration: what the tool knows about one ``(issuer, client_id)``.

    Storage adapters may return any object with a ``to_registration()`` method that
    returns one of these (see :class:`credlti.ports.Registerable`); this record is its
    own ``to_registration()``.

    Args:
        issuer: The platform's issuer, compared byte for byte with the ``iss`` claim.
        client_id: The client id the platform assigned to this tool.
        auth_endpoint: The platform's OIDC authorization endpoint (Sec §5.1.1.2).
        jwks_uri: The platform's key-set URL; launches are verified with its keys.
        token_endpoint: The platform's OAuth2 token endpoint, for Advantage services.
        authorization_server: The ``aud`` for client assertions when it differs from
            the token endpoint (Sec §4.1.1).
        allowed_algorithms: The ``alg`` values accepted on launches. RS256 by default.
        allow_anonymous: Accept resource-link launches without ``sub`` (Core §5.3.6.1).
        redirect_uris: If given, :meth:`~credlti.lti.Tool.handle_login` only accepts
            these ``redirect_uri`` values (they must be registered with the platform).
    """

    issuer: str = attrs.field(validator=_https_url("issuer", allow_query=False))
    client_id: str = attrs.field(validator=_check_identifier("client_id"))
    auth_endpoint: str = attrs.field(validator=_https_url("auth_endpoint"))
    jwks_uri: str = attrs.field(validator=_https_url("jwks_uri"))
    token_endpoint: str | None = attrs.field(
        default=None, validator=_optional_https_url("token_endpoint")
    )
    authorization_server: str | None = None
    allowed_algorithms: tuple[str, ...] = attrs.field(
        default=("RS256",), converter=_as_str_tuple, validator=_check_algorithms
    )
    allow_anonymous: bool = False
    redirect_uris: tuple[str, ...] = attrs.field(default=(), converter=_as_str_tuple)

    def to_registration(self) -> Registration:
        """Return this record itself (the :class:`~credlti.ports.Registerable` protocol)."""
        return self


@attrs.frozen(kw_only=True)
class Deployment:
    """One deployment of the tool under a registration (Core §3.1.3).

    Args:
        deployment_id: The platform-assigned id; case-sensitive, stored exactly as
            received (launches enforce at most 255 printable ASCII characters unless
            ``enforce_id_limits`` is off).
    """

    deployment_id: str = attrs.field(validator=_check_deployment_id)

    def to_deployment(self) -> Deployment:
        """Return this record itself (the :class:`~credlti.ports.Deployable` protocol)."""
        return self


#: The name prefix of state cookies; the full name is this prefix plus the state.
STATE_COOKIE_PREFIX = "credlti-state-"


def state_cookie_name(state: str) -> str:
    """Return the cookie name under which the login stored *state*'s binding.

    Each login gets its own cookie, so launches in several tabs do not clobber
    each other. At the callback, read the cookie named
    ``state_cookie_name(form["state"])`` and pass its value to
    :meth:`~credlti.lti.Tool.handle_callback`.
    """
    return STATE_COOKIE_PREFIX + state


def clear_state_cookie_header(state: str, *, path: str = "/", partitioned: bool = True) -> str:
    """Return a ``Set-Cookie`` header value that deletes *state*'s binding cookie.

    Send it with the launch response: the binding is single use. The attributes match
    :meth:`LoginRedirect.set_cookie_header` so browsers replace that very cookie.
    """
    parts = [f"{state_cookie_name(state)}=", "Max-Age=0", f"Path={path}", "Secure", "HttpOnly"]
    parts.append("SameSite=None")
    if partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)


@attrs.frozen(kw_only=True)
class LoginRedirect:
    """The answer to an OIDC login initiation (Sec §5.1.1.2).

    Send the browser to :attr:`url` (a 302 redirect) and keep :attr:`cookie_value`
    bound to the browser, normally as the cookie :attr:`cookie_name`
    (:meth:`set_cookie_header` builds the header). It is signed by the tool and holds
    the state, the nonce, the login's ``target_link_uri`` and ``lti_deployment_id``
    and an expiry; it holds nothing secret, but it must come back unchanged.

    Attributes:
        url: The platform authorization URL with every required parameter.
        state: The random state sent to the platform.
        cookie_name: Where to keep the binding (see :func:`state_cookie_name`).
        cookie_value: The signed binding to hand back to ``handle_callback``.
        max_age: Seconds the binding stays valid.
        issuer: The platform's issuer.
        client_id: The registration's client id.
        storage_target: The login's ``lti_storage_target`` (``_parent`` or a frame
            name): the platform offers platform storage, so answer with
            :meth:`login_page` (status 200) instead of the redirect, and still set
            the cookie. ``None``: redirect as usual.
        login_params: The login initiation parameters (without
            ``lti_storage_target``), for the login page's "open in a new window"
            fallback.
    """

    url: str
    state: str
    cookie_name: str
    cookie_value: str = attrs.field(repr=False)
    max_age: int
    issuer: str
    client_id: str
    storage_target: str | None = None
    login_params: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    def login_page(self, *, csp_nonce: str | None = None, login_url: str | None = None) -> str:
        """The HTML login answer for cookieless launches (serve with ``page_headers``).

        Its script asks the platform for ``lti.capabilities``, stores the state
        binding with ``lti.put_data`` (messages only to and from the origin of the
        platform's authorization endpoint) and then goes to :attr:`url`. Without
        platform storage it goes on when the frame keeps cookies (the state cookie
        carries the binding) and otherwise offers to open the login in a new
        window: a form POSTing :attr:`login_params` to *login_url* (default: the
        page's own URL).

        Args:
            csp_nonce: The nonce of the page's Content-Security-Policy, if the host
                sets one (pass the same to :func:`~credlti.lti.page_headers`).
            login_url: The tool's login initiation URL, for the fallback.
        """
        return login_page(
            next_url=self.url,
            platform_origin=origin_of(self.url),
            storage_target=self.storage_target,
            state=self.state,
            binding=self.cookie_value,
            login_url=login_url,
            login_params=self.login_params,
            csp_nonce=csp_nonce,
        )

    def set_cookie_header(self, *, path: str = "/", partitioned: bool = True) -> str:
        """Return a ``Set-Cookie`` header value for the state binding.

        The cookie is ``Secure; HttpOnly; SameSite=None`` because the launch is a
        cross-site form POST, often inside an iframe (Sec §7.3.1), and
        ``Partitioned`` (CHIPS) by default so browsers that block third-party
        cookies still keep it for the platform's frame.
        """
        parts = [
            f"{self.cookie_name}={self.cookie_value}",
            f"Max-Age={self.max_age}",
            f"Path={path}",
            "Secure",
            "HttpOnly",
            "SameSite=None",
        ]
        if partitioned:
            parts.append("Partitioned")
        return "; ".join(parts)


R = TypeVar("R")
D = TypeVar("D")


@attrs.frozen(kw_only=True)
class LaunchContext(Generic[R, D]):
    """A validated launch: typed claims plus the host's own registration and deployment.

    A plain record: it holds no reference to the tool that validated it, so it can
    be pickled. Ask the tool for what a launch enables:
    ``tool.grades(launch)``, ``tool.roster(launch)``, ``tool.deep_link_response(launch, items)``.
    To use it again in a later request (on any worker), save it with
    ``handle = tool.save_launch(launch)`` and reopen it with ``tool.load_launch(handle)``.

    Attributes:
        claims: Every claim parsed into typed records.
        registration: Exactly the object the storage's ``get_registration`` returned.
        deployment: Exactly the object the storage's ``get_deployment`` returned.
        raw: The verified token payload as decoded JSON (treat it as read-only).
        lti1p1: The launch's LTI 1.1 identity, **verified**: set only when the tool
            has ``lti1p1_secrets`` and the ``lti1p1`` claim's signature matched the
            consumer key's 1.1 secret. ``None`` otherwise, even when the claim was
            sent (read it, unverified, at ``claims.lti1p1``).
        validated_at: When the tool validated the launch (kept when it is saved and
            reopened); ``None`` for a record built by hand.
    """

    claims: LaunchClaims
    registration: R
    deployment: D
    raw: Mapping[str, Any] = attrs.field(repr=False)
    lti1p1: VerifiedLti1p1 | None = None
    validated_at: datetime | None = None

    @property
    def launch_id(self) -> str:
        """A stable, unique id for this launch, to key per-launch server state.

        It is derived from the issuer and the (now consumed) nonce, so several
        launches open in several tabs each get their own id.
        """
        material = f"{self.claims.issuer}\x00{self.claims.nonce}".encode()
        return hashlib.sha256(material).hexdigest()[:32]
