"""OIDC login initiation and launch validation, written once as IO-free flows.

Rules of this module:

1. No IO, no clock reads, no randomness. A flow is a generator that *yields* an
   effect record (look up a registration, store a nonce, find a platform key, look
   up a deployment, consume a nonce) and receives its result; the sync and async
   facades are thin drivers that perform the effects (the httpx ``auth_flow``
   pattern). Every check therefore exists exactly once.
2. Every check cites the spec section it enforces and raises a typed error.
3. The nonce is consumed *last*, after the signature and every claim check: a forged
   or invalid token must never burn a real user's nonce, and a launch rejected for
   a fixable reason (unknown deployment) can be retried.
"""

from __future__ import annotations

import hmac
from collections.abc import Generator, Mapping
from datetime import datetime
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from credlti.errors import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    ConfigurationError,
    DeploymentMismatchError,
    DeploymentNotFoundError,
    InvalidClaimError,
    InvalidParameterError,
    IssuerMismatchError,
    KidMissingError,
    MissingClaimError,
    MissingParameterError,
    NonceMismatchError,
    NonceMissingError,
    NonceNotFoundError,
    NonceReusedError,
    PlatformAuthenticationError,
    RegistrationNotFoundError,
    SignatureInvalidError,
    StateExpiredError,
    StateMismatchError,
    TargetLinkUriMismatchError,
    TargetLinkUriNotAllowedError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenTooOldError,
    UnsupportedMessageTypeError,
)
from credlti.lti import _claims as c
from credlti.lti._jwks import JwksPolicy
from credlti.lti._jws import PublicKey, parse_compact, verify_signature
from credlti.lti._records import (
    Deployment,
    LaunchContext,
    LoginRedirect,
    Registration,
    state_cookie_name,
)
from credlti.lti._roles import Roles, parse_roles
from credlti.lti._state import LoginState, open_state, seal_state
from credlti.lti.ports import NonceStatus

__all__ = [
    "DEEP_LINKING_REQUEST",
    "DEFAULT_MESSAGE_TYPES",
    "RESOURCE_LINK_REQUEST",
    "SUBMISSION_REVIEW_REQUEST",
    "ConsumeNonce",
    "GetDeployment",
    "GetKey",
    "GetRegistration",
    "LaunchPolicy",
    "MessageType",
    "StoreNonce",
    "callback_flow",
    "login_flow",
]

LTI_VERSION = "1.3.0"
_MAX_ID = 255


@attrs.frozen
class MessageType:
    """What a message type requires beyond the common launch claims.

    Register extra types with the tool's ``message_types`` policy; a launch whose
    ``message_type`` is not registered is rejected (Core §5.3.1).

    Args:
        name: The ``message_type`` claim value, e.g. ``"LtiResourceLinkRequest"``.
        requires_resource_link: The ``resource_link`` claim with an ``id`` is required.
        requires_roles: The ``roles`` claim (an array, possibly empty) is required.
        requires_subject: ``sub`` is required (unless the registration allows
            anonymous launches).
        required_claims: Further claims (full names) that must be present.
        spec_ref: The section that defines this message.
    """

    name: str
    requires_resource_link: bool = False
    requires_roles: bool = False
    requires_subject: bool = True
    required_claims: tuple[str, ...] = ()
    spec_ref: str = "Core §5.3"


#: ``LtiResourceLinkRequest`` (Core §5.3).
RESOURCE_LINK_REQUEST = MessageType(
    "LtiResourceLinkRequest", requires_resource_link=True, requires_roles=True
)
#: ``LtiDeepLinkingRequest``: no resource link, optional sub and roles (DL §4.4).
DEEP_LINKING_REQUEST = MessageType(
    "LtiDeepLinkingRequest",
    requires_subject=False,
    required_claims=(c.DL_SETTINGS_CLAIM,),
    spec_ref="DL §4.4",
)
#: ``LtiSubmissionReviewRequest`` (opt in by adding it to ``message_types``).
SUBMISSION_REVIEW_REQUEST = MessageType(
    "LtiSubmissionReviewRequest",
    requires_resource_link=True,
    requires_roles=True,
    required_claims=(c.AGS_CLAIM, c.LTI_CLAIM + "for_user"),
    spec_ref="Submission Review §3",
)
#: The message types a tool accepts unless configured otherwise.
DEFAULT_MESSAGE_TYPES: Mapping[str, MessageType] = {
    m.name: m for m in (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST)
}


def _message_types(value: Any) -> Mapping[str, MessageType]:
    if isinstance(value, Mapping):
        return dict(value)
    return {m.name: m for m in value}


@attrs.frozen(kw_only=True)
class LaunchPolicy:
    """The tool's launch validation policy.

    Args:
        leeway: Seconds of clock skew tolerated on ``exp``, ``iat`` and ``nbf``
            (platform clocks drift; zero leeway causes random failures).
        max_token_age: Reject tokens issued longer ago than this (Sec §5.1.3(8)).
        state_ttl: Seconds a login stays valid; also the nonce lifetime.
        message_types: Accepted message types, by name or as an iterable.
        allowed_target_link_uris: If non-empty, the login's ``target_link_uri`` must
            start with one of these (an open-redirect guard; Core §4.1).
        trusted_audiences: Audiences besides our client id that may appear in
            ``aud`` (normally none; Sec §5.1.3(3)).
        enforce_id_limits: Reject ids (``sub``, ``deployment_id``, resource-link and
            context ids) longer than 255 characters (Core §5.3).
        jwks: How platform key sets are fetched and cached.
    """

    leeway: float = 10.0
    max_token_age: float = 600.0
    state_ttl: float = 600.0
    message_types: Mapping[str, MessageType] = attrs.field(
        default=DEFAULT_MESSAGE_TYPES, converter=_message_types
    )
    allowed_target_link_uris: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    trusted_audiences: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    enforce_id_limits: bool = True
    jwks: JwksPolicy = attrs.field(factory=JwksPolicy)

    def __attrs_post_init__(self) -> None:
        if self.leeway < 0 or self.max_token_age <= 0 or self.state_ttl <= 0:
            msg = "leeway must be >= 0 and max_token_age, state_ttl must be > 0"
            raise ConfigurationError(msg)


# --------------------------------------------------------------------------- effects


class GetRegistration(NamedTuple):
    """Effect: ``storage.get_registration(issuer, client_id)`` (host object or None)."""

    issuer: str
    client_id: str | None


class StoreNonce(NamedTuple):
    """Effect: ``storage.store_nonce(nonce, registration, expires_at=...)``."""

    nonce: str
    registration: Registration
    expires_at: datetime


class GetKey(NamedTuple):
    """Effect: find the platform's public key *kid* for *alg* (fetching if needed).

    The driver answers with the key, or raises ``KidNotFoundError`` /
    ``KeySetFetchError``.
    """

    registration: Registration
    kid: str
    alg: str
    now: float


class GetDeployment(NamedTuple):
    """Effect: ``storage.get_deployment(registration, deployment_id)`` (or None)."""

    registration: Registration
    deployment_id: str


class ConsumeNonce(NamedTuple):
    """Effect: ``storage.validate_nonce(nonce, registration, now=...)`` -> NonceStatus."""

    nonce: str
    registration: Registration
    now: datetime


Effect = GetRegistration | StoreNonce | GetKey | GetDeployment | ConsumeNonce


# --------------------------------------------------------------------------- login


def _param(params: Mapping[str, Any], name: str) -> str | None:
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
    value = _param(params, name)
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
) -> Generator[Effect, Any, LoginRedirect]:
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
    client_id = _param(params, "client_id") or None
    message_hint = _param(params, "lti_message_hint")
    deployment_hint = _param(params, "lti_deployment_id") or None
    _check_target(target, policy.allowed_target_link_uris)
    if deployment_hint is not None and not deployment_hint.isprintable():
        msg = "login parameter 'lti_deployment_id' must be printable text"
        raise InvalidParameterError(msg, details={"parameter": "lti_deployment_id"})

    host = yield GetRegistration(issuer, client_id)
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
        nonce,
        registration,
        datetime.fromtimestamp(expires, tz=now.tzinfo),
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


# --------------------------------------------------------------------------- callback


#: Timestamps beyond this many seconds from the epoch (year ~33658) are not real.
_MAX_TIMESTAMP = 1e12


def _is_number(value: object) -> TypeGuard[float]:
    # Comparing (not converting) keeps huge integers from raising OverflowError;
    # NaN fails both comparisons.
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and -_MAX_TIMESTAMP < value < _MAX_TIMESTAMP
    )


def _missing(claim: str, spec_ref: str, why: str = "") -> MissingClaimError:
    return MissingClaimError(
        f"claim {claim!r} is required{why}", spec_ref=spec_ref, details={"claim": claim}
    )


def _id_claim(payload: Mapping[str, Any], key: str, name: str, ref: str, *, limit: bool) -> str:
    value = payload.get(key)
    if value is None or value == "":
        raise _missing(name, ref)
    if not isinstance(value, str):
        msg = f"claim {name!r} must be a string"
        raise InvalidClaimError(msg, spec_ref=ref, details={"claim": name})
    if limit and len(value) > _MAX_ID:
        msg = f"claim {name!r} must be at most 255 characters"
        raise InvalidClaimError(msg, spec_ref=ref, details={"claim": name})
    return value


def _deployment_id(payload: Mapping[str, Any], *, limit: bool) -> str:
    value = _id_claim(payload, c.DEPLOYMENT_ID, "deployment_id", "Core §5.3.3", limit=limit)
    # It becomes a storage key: refuse control characters always, non-ASCII by policy.
    if not value.isprintable() or (limit and not value.isascii()):
        msg = "claim 'deployment_id' must be printable ASCII"
        raise InvalidClaimError(msg, spec_ref="Core §5.3.3", details={"claim": "deployment_id"})
    return value


def _check_platform_error(params: Mapping[str, Any]) -> None:
    error = _param(params, "error")
    if error is not None:
        description = _param(params, "error_description") or ""
        msg = f"the platform refused the launch: {error[:100]}"
        if description:
            msg += f" ({description[:300]})"
        raise PlatformAuthenticationError(
            msg, details={"error": error[:100], "error_description": description[:300]}
        )


def _check_audience(
    payload: Mapping[str, Any], client_id: str, trusted: frozenset[str]
) -> tuple[str, ...]:
    # Sec §5.1.3(3-5): aud must contain our client id and no untrusted audience;
    # with several audiences azp is required; azp, if present, is our client id.
    aud = payload.get("aud")
    if isinstance(aud, str):
        audience: tuple[str, ...] = (aud,)
    elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        audience = tuple(aud)
    else:
        msg = "claim 'aud' must be this tool's client id or an array containing it"
        raise AudienceMismatchError(msg, details={"expected": client_id})
    if client_id not in audience:
        msg = f"the token is not addressed to this tool: aud does not contain {client_id!r}"
        raise AudienceMismatchError(msg, details={"expected": client_id})
    if any(a != client_id and a not in trusted for a in audience):
        msg = "claim 'aud' names audiences besides this tool that are not trusted"
        raise AudienceMismatchError(msg, details={"expected": client_id})
    azp = payload.get("azp")
    if azp is None:
        if len(audience) > 1:
            msg = "claim 'azp' is required when 'aud' has several audiences"
            raise AudienceMismatchError(msg, details={"expected": client_id})
    elif azp != client_id:
        msg = f"claim 'azp' must be this tool's client id {client_id!r}"
        raise AudienceMismatchError(msg, details={"expected": client_id})
    return audience


def _check_times(payload: Mapping[str, Any], now: float, policy: LaunchPolicy) -> None:
    # Sec §5.1.2, §5.1.3(7-8): exp and iat are required numbers; nbf is honoured.
    leeway = policy.leeway
    exp = payload.get("exp")
    if not _is_number(exp):
        if exp is None:
            raise _missing("exp", "Sec §5.1.2", " and must be a number")
        msg = "claim 'exp' must be a number (seconds since the epoch)"
        raise TokenExpiredError(msg)
    iat = payload.get("iat")
    if not _is_number(iat):
        if iat is None:
            raise _missing("iat", "Sec §5.1.2", " and must be a number")
        msg = "claim 'iat' must be a number (seconds since the epoch)"
        raise TokenNotYetValidError(msg)
    if now >= exp + leeway:
        msg = (
            f"the token expired {int(now - exp)} s ago; check the platform's and the tool's clocks"
        )
        raise TokenExpiredError(msg)
    if iat > now + leeway:
        msg = f"the token was issued {int(iat - now)} s in the future; check the clocks"
        raise TokenNotYetValidError(msg)
    if iat > exp:
        msg = "claim 'iat' is later than 'exp'"
        raise TokenNotYetValidError(msg)
    if now - iat > policy.max_token_age + leeway:
        msg = (
            f"the token was issued {int(now - iat)} s ago, more than the allowed "
            f"{int(policy.max_token_age)} s"
        )
        raise TokenTooOldError(msg)
    nbf = payload.get("nbf")
    if nbf is not None and (not _is_number(nbf) or nbf > now + leeway):
        msg = "claim 'nbf' is in the future (or not a number)"
        raise TokenNotYetValidError(msg)


_ROLES_CACHE: dict[tuple[str, ...], Roles] = {}
_ROLES_CACHE_SIZE = 1024


def _roles_of(values: tuple[str, ...]) -> Roles:
    """Parse a roles claim; a platform sends few distinct ones, so they are cached."""
    roles = _ROLES_CACHE.get(values)
    if roles is None:
        roles = parse_roles(values)
        if len(_ROLES_CACHE) >= _ROLES_CACHE_SIZE:
            _ROLES_CACHE.clear()
        _ROLES_CACHE[values] = roles
    return roles


def _check_message(
    payload: Mapping[str, Any], policy: LaunchPolicy, registration: Registration
) -> Roles | None:
    """Check the LTI message claims; return parsed roles when the claim is present."""
    message_type = payload.get(c.MESSAGE_TYPE)
    if message_type is None:
        raise _missing("message_type", "Core §5.3.1")
    spec = policy.message_types.get(message_type) if isinstance(message_type, str) else None
    if spec is None:
        msg = f"message_type {str(message_type)[:100]!r} is not accepted by this tool"
        raise UnsupportedMessageTypeError(msg, details={"claim": "message_type"})

    version = payload.get(c.VERSION)
    if version is None:
        raise _missing("version", "Core §5.3.2")
    if version != LTI_VERSION:
        msg = f"claim 'version' must be '1.3.0', got {str(version)[:20]!r}"
        raise InvalidClaimError(msg, spec_ref="Core §5.3.2", details={"claim": "version"})

    limit = policy.enforce_id_limits
    if spec.requires_resource_link:
        link = payload.get(c.RESOURCE_LINK)
        if link is None:
            raise _missing("resource_link", "Core §5.3.5")
        if not isinstance(link, Mapping):
            msg = "claim 'resource_link' must be a JSON object"
            raise InvalidClaimError(msg, spec_ref="Core §5.3.5", details={"claim": "resource_link"})
        _id_claim(link, "id", "resource_link.id", "Core §5.3.5", limit=limit)

    if "sub" in payload or (spec.requires_subject and not registration.allow_anonymous):
        # Core §5.3.6: sub may be absent only for anonymous launches; never empty.
        _id_claim(payload, "sub", "sub", "Core §5.3.6", limit=limit)

    for claim in spec.required_claims:
        if payload.get(claim) is None:
            raise _missing(c.short_name(claim), spec.spec_ref)

    roles = payload.get(c.ROLES)
    if roles is None:
        if spec.requires_roles:
            raise _missing("roles", "Core §5.3.7", " (an array, possibly empty)")
        return None
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        msg = "claim 'roles' must be an array of strings"
        raise InvalidClaimError(msg, spec_ref="Core §5.3.7", details={"claim": "roles"})
    return _roles_of(tuple(roles))


def _same(a: str, b: str) -> bool:
    """Constant-time text comparison that tolerates any code point (even lone surrogates)."""
    if a.isascii() and b.isascii():
        return hmac.compare_digest(a, b)
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def _check_binding(
    params: Mapping[str, Any], kept: object, keys: tuple[bytes, ...], now: float
) -> LoginState:
    posted = _param(params, "state")
    login = open_state(kept, keys)
    if not posted or not _same(posted, login.state):
        msg = "the posted state does not match the state bound to this browser (login CSRF?)"
        raise StateMismatchError(msg)
    if now >= login.expires_at:
        msg = "the login is older than the state lifetime; start the launch again"
        raise StateExpiredError(msg)
    return login


def callback_flow(
    params: Mapping[str, Any],
    kept_state: object,
    *,
    policy: LaunchPolicy,
    now: datetime,
    state_keys: tuple[bytes, ...],
    owner: object = None,
) -> Generator[Effect, Any, LaunchContext[Any, Any]]:
    """Validate the authentication response: every check of Sec §5.1.3 and Core §5.3.

    Args:
        params: The POST form the platform sent (``id_token`` and ``state``, or
            ``error``).
        kept_state: The browser-bound value from ``LoginRedirect.cookie_value``.
        policy: The launch policy.
        now: The current time.
        state_keys: The state-binding MAC keys (any verifies).
        owner: The facade that validated the launch, kept (opaque) in the context so
            it can sign deep-linking responses and call services.

    Yields:
        ``GetRegistration``, ``GetKey``, ``GetDeployment`` and ``ConsumeNonce``.

    Returns:
        The validated launch.
    """
    ts = now.timestamp()
    _check_platform_error(params)  # Sec §5.1.1.5
    token = _param(params, "id_token") or _param(params, "JWT")  # Core §4.4 allows JWT
    if not token:
        msg = "callback parameter 'id_token' is required"
        raise MissingParameterError(msg, spec_ref="Sec §5.1.1.3", details={"parameter": "id_token"})
    login = _check_binding(params, kept_state, state_keys, ts)  # Sec §7.3.1
    jws = parse_compact(token)  # Cert "Invalid LTI message"

    host_registration = yield GetRegistration(login.issuer, login.client_id)
    registration = to_registration(host_registration, login.issuer, login.client_id)

    # Sec §5.1.3(6): alg from the registration's allow-list; never none/HS*.
    header = jws.header
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in registration.allowed_algorithms:
        msg = (
            f"token alg {str(alg)[:20]!r} is not allowed; this registration accepts "
            f"{list(registration.allowed_algorithms)}"
        )
        raise AlgorithmNotAllowedError(msg, details={"alg": str(alg)[:20]})
    if "crit" in header:  # RFC 7515 §4.1.11: we understand no critical extension
        msg = "token header carries 'crit' extensions this tool does not understand"
        raise SignatureInvalidError(msg, spec_ref="RFC 7515 §4.1.11")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        msg = "token header has no 'kid'; the platform must name its signing key"
        raise KidMissingError(msg)

    # Sec §5.1.3(1), §6.3: the key comes from the *registered* key set, never the token.
    key: PublicKey = yield GetKey(registration, kid, alg, ts)
    if not verify_signature(key, alg, jws.signing_input, jws.signature):
        msg = "the token signature does not verify with the platform's key"
        raise SignatureInvalidError(msg, details={"kid": kid[:100]})

    payload = jws.payload
    if payload.get("iss") != registration.issuer:  # Sec §5.1.3(2): exact match
        msg = f"claim 'iss' must be exactly {registration.issuer!r}"
        raise IssuerMismatchError(msg, details={"expected": registration.issuer})
    audience = _check_audience(payload, registration.client_id, policy.trusted_audiences)
    _check_times(payload, ts, policy)

    nonce = payload.get("nonce")  # Sec §5.1.3(9)
    if not isinstance(nonce, str) or not nonce:
        msg = "claim 'nonce' is required"
        raise NonceMissingError(msg)
    if not _same(nonce, login.nonce):
        msg = "the token's nonce is not the one issued to this browser at login"
        raise NonceMismatchError(msg)

    roles = _check_message(payload, policy, registration)
    deployment_id = _deployment_id(payload, limit=policy.enforce_id_limits)
    if login.deployment_id is not None and deployment_id != login.deployment_id:
        msg = "claim 'deployment_id' differs from the login's lti_deployment_id"
        raise DeploymentMismatchError(msg)
    target = payload.get(c.TARGET_LINK_URI)
    if target is None:
        raise _missing("target_link_uri", "Core §5.3.4")
    if target != login.target_link_uri:
        msg = "claim 'target_link_uri' differs from the login's target_link_uri"
        raise TargetLinkUriMismatchError(msg)

    # Core §5.3.5, §5.4.1: resource-link and context ids are at most 255 characters.
    id_limit = _MAX_ID if policy.enforce_id_limits else None
    claims = c.parse_claims(payload, audience=audience, roles=roles, id_limit=id_limit)

    host_deployment = yield GetDeployment(registration, deployment_id)
    if host_deployment is None:
        msg = (
            f"deployment {deployment_id!r} is not known for client {registration.client_id!r}; "
            "add it (or let get_deployment create it)"
        )
        raise DeploymentNotFoundError(msg, details={"deployment_id": deployment_id})
    deployment = host_deployment.to_deployment()
    if not isinstance(deployment, Deployment) or deployment.deployment_id != deployment_id:
        msg = "get_deployment must return an object whose to_deployment() is that Deployment"
        raise TypeError(msg)

    # Last: consume the nonce atomically, so only a fully valid launch burns it.
    status = yield ConsumeNonce(nonce, registration, now)
    if status is not NonceStatus.CONSUMED:
        if status is NonceStatus.ALREADY_USED:
            msg = "this launch was already used (nonce replay)"
            raise NonceReusedError(msg)
        msg = "the nonce was not issued by this tool or has expired; start the launch again"
        raise NonceNotFoundError(msg)
    return LaunchContext(
        claims=claims,
        registration=host_registration,
        deployment=host_deployment,
        raw=payload,
        tool=owner,
    )
