"""Launch validation (the authentication response, Sec §5.1.3 and Core §5.3) as an IO-free flow.

Rules of this module:

1. No IO, no clock reads, no randomness. The flow yields effect records (look up a
   registration, resolve a platform key, look up a deployment, consume a nonce) and
   receives their results; the facades drive it with :func:`credlti._effects.run`
   or :func:`credlti._effects.arun`. Every check therefore exists exactly once.
2. Every check cites the spec section it enforces and raises a typed error.
3. The nonce is consumed *last*, after the signature and every claim check: a forged
   or invalid token must never burn a real user's nonce, and a launch rejected for
   a fixable reason (unknown deployment) can be retried.
"""

from __future__ import annotations

import hmac
from collections.abc import Generator, Mapping
from datetime import datetime
from typing import Any, TypeGuard

from credlti._text import safe_excerpt
from credlti.errors import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    DeploymentMismatchError,
    DeploymentNotFoundError,
    InvalidClaimError,
    IssuerMismatchError,
    KidMissingError,
    MissingClaimError,
    MissingParameterError,
    NonceMismatchError,
    NonceMissingError,
    NonceNotFoundError,
    NonceReusedError,
    PlatformAuthenticationError,
    SignatureInvalidError,
    StateExpiredError,
    StateMismatchError,
    TargetLinkUriMismatchError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenTooOldError,
    UnsupportedMessageTypeError,
)
from credlti.lti import _claims as c
from credlti.lti._jws import PublicKey, UnverifiedJws, parse_compact, verify_signature
from credlti.lti._launch_effects import ConsumeNonce, GetDeployment, GetRegistration
from credlti.lti._login import read_param, to_registration
from credlti.lti._lti1p1 import verify_lti1p1_flow
from credlti.lti._lti1p1_claim import VerifiedLti1p1
from credlti.lti._platform_keys import KeyCache, count_key_lookup, key_flow
from credlti.lti._policy import LaunchPolicy
from credlti.lti._records import Deployment, LaunchContext, Registration
from credlti.lti._roles import Roles, parse_roles
from credlti.lti._state import LoginState, login_digest, open_state
from credlti.lti.ports import NonceStatus

__all__ = [
    "LTI_VERSION",
    "callback_flow",
    "check_login_claims",
    "launch_token",
    "open_binding",
    "token_flow",
]

LTI_VERSION = "1.3.0"
_MAX_ID = 255


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
    error = read_param(params, "error")
    if error is not None:
        # Both are the peer's text: quoted only as bounded, escaped excerpts.
        shown_error = safe_excerpt(error)
        description = safe_excerpt(read_param(params, "error_description") or "", limit=300)
        msg = f"the platform refused the launch: {shown_error}"
        if description:
            msg += f" ({description})"
        raise PlatformAuthenticationError(
            msg, details={"error": shown_error, "error_description": description}
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
        msg = (
            "the token is not addressed to this tool: aud does not contain "
            f"'{safe_excerpt(client_id)}'"
        )
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
        msg = f"claim 'azp' must be this tool's client id '{safe_excerpt(client_id)}'"
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
        msg = f"message_type '{safe_excerpt(message_type)}' is not accepted by this tool"
        raise UnsupportedMessageTypeError(msg, details={"claim": "message_type"})

    version = payload.get(c.VERSION)
    if version is None:
        raise _missing("version", "Core §5.3.2")
    if version != LTI_VERSION:
        msg = f"claim 'version' must be '1.3.0', got '{safe_excerpt(version, limit=20)}'"
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


def open_binding(
    posted_state: str | None, kept: object, keys: tuple[bytes, ...], now: float
) -> LoginState:
    """Open the browser-bound login state and check it against the posted ``state``.

    Raises:
        StateMismatchError: The binding is missing, altered or for another state.
        StateExpiredError: The login is older than the state lifetime.
    """
    login = open_state(kept, keys)
    if not posted_state or not _same(posted_state, login.state):
        msg = "the posted state does not match the state bound to this browser (login CSRF?)"
        raise StateMismatchError(msg)
    if now >= login.expires_at:
        msg = "the login is older than the state lifetime; start the launch again"
        raise StateExpiredError(msg)
    return login


def launch_token(params: Mapping[str, Any]) -> str:
    """The posted ``id_token`` (or ``JWT``); an OIDC error response raises instead."""
    _check_platform_error(params)  # Sec §5.1.1.5
    token = read_param(params, "id_token") or read_param(params, "JWT")  # Core §4.4 allows JWT
    if not token:
        msg = "callback parameter 'id_token' is required"
        raise MissingParameterError(msg, spec_ref="Sec §5.1.1.3", details={"parameter": "id_token"})
    return token


def _check_login_nonce(nonce: str, login: LoginState) -> None:
    if not _same(nonce, login.nonce):
        msg = "the token's nonce is not the one issued to this browser at login"
        raise NonceMismatchError(msg)


def _check_login_deployment(deployment_id: str, login: LoginState) -> None:
    if login.deployment_id_digest is not None and not _same(
        login_digest(deployment_id), login.deployment_id_digest
    ):
        msg = "claim 'deployment_id' differs from the login's lti_deployment_id"
        raise DeploymentMismatchError(msg)


def _check_login_target(target: object, login: LoginState) -> None:
    # Core §5.3.4: the same value as the login's, compared exactly (no normalising).
    if not isinstance(target, str) or not _same(login_digest(target), login.target_link_uri_digest):
        msg = "claim 'target_link_uri' differs from the login's target_link_uri"
        raise TargetLinkUriMismatchError(msg)


def check_login_claims(payload: Mapping[str, Any], login: LoginState) -> None:
    """The checks that tie a validated token to the browser's login binding.

    Nonce, ``lti_deployment_id`` and ``target_link_uri`` of the login, as
    :func:`callback_flow` makes them; for a launch validated before the binding was
    at hand (platform storage).
    """
    _check_login_nonce(str(payload.get("nonce")), login)
    _check_login_deployment(str(payload.get(c.DEPLOYMENT_ID)), login)
    _check_login_target(payload.get(c.TARGET_LINK_URI), login)


def callback_flow(
    params: Mapping[str, Any],
    kept_state: object,
    *,
    policy: LaunchPolicy,
    now: datetime,
    state_keys: tuple[bytes, ...],
    keys: KeyCache,
    verify_lti1p1: bool = False,
) -> Generator[Any, Any, LaunchContext[Any, Any]]:
    """Validate the authentication response: every check of Sec §5.1.3 and Core §5.3.

    Args:
        params: The POST form the platform sent (``id_token`` and ``state``, or
            ``error``).
        kept_state: The browser-bound value from ``LoginRedirect.cookie_value``.
        policy: The launch policy.
        now: The current time.
        state_keys: The state-binding MAC keys (any verifies).
        keys: The tool's platform key cache; a miss fetches the key set through
            :func:`credlti.lti._platform_keys.key_flow`.
        verify_lti1p1: The tool has LTI 1.1 secrets: verify the ``lti1p1`` claim.

    Yields:
        ``GetRegistration``, ``GetDeployment`` and ``ConsumeNonce``; on a key-cache
        miss also ``Locked`` (the key-set fetch); ``GetLti1p1Secret`` when an
        ``lti1p1`` claim with a signature is verified.

    Returns:
        The validated launch.
    """
    token = launch_token(params)
    # Sec §7.3.1: the state binding first.
    login = open_binding(read_param(params, "state"), kept_state, state_keys, now.timestamp())
    jws = parse_compact(token)  # Cert "Invalid LTI message"
    return (
        yield from token_flow(
            jws,
            issuer=login.issuer,
            client_id=login.client_id,
            login=login,
            policy=policy,
            now=now,
            keys=keys,
            verify_lti1p1=verify_lti1p1,
        )
    )


def token_flow(
    jws: UnverifiedJws,
    *,
    issuer: str,
    client_id: str | None,
    login: LoginState | None,
    policy: LaunchPolicy,
    now: datetime,
    keys: KeyCache,
    verify_lti1p1: bool,
) -> Generator[Any, Any, LaunchContext[Any, Any]]:
    """Every check of the token after the state binding, the nonce consumed last.

    With *login* (the opened binding) the token is also tied to it (nonce, the
    login's deployment and target link); without it (a platform-storage launch,
    whose binding comes later) the caller must make those checks with
    :func:`check_login_claims` before it uses the launch. *issuer* and *client_id*
    pick the registration.
    """
    ts = now.timestamp()
    host_registration = yield GetRegistration(issuer=issuer, client_id=client_id)
    registration = to_registration(host_registration, issuer, client_id)

    # Sec §5.1.3(6): alg from the registration's allow-list; never none/HS*.
    header = jws.header
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in registration.allowed_algorithms:
        shown_alg = safe_excerpt(alg, limit=20)
        msg = (
            f"token alg '{shown_alg}' is not allowed; this registration accepts "
            f"{list(registration.allowed_algorithms)}"
        )
        raise AlgorithmNotAllowedError(msg, details={"alg": shown_alg})
    if "crit" in header:  # RFC 7515 §4.1.11: we understand no critical extension
        msg = "token header carries 'crit' extensions this tool does not understand"
        raise SignatureInvalidError(msg, spec_ref="RFC 7515 §4.1.11")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        msg = "token header has no 'kid'; the platform must name its signing key"
        raise KidMissingError(msg)

    # Sec §5.1.3(1), §6.3: the key comes from the *registered* key set, never the token.
    uri = registration.jwks_uri
    key: PublicKey | None = keys.warm(uri, kid, alg, ts)  # the warm path yields nothing
    if key is None:
        key = yield from key_flow(keys, uri, kid, alg, ts)
    else:
        count_key_lookup("hit")
    if not verify_signature(key, alg, jws.signing_input, jws.signature):
        msg = "the token signature does not verify with the platform's key"
        raise SignatureInvalidError(msg, details={"kid": safe_excerpt(kid)})

    payload = jws.payload
    if payload.get("iss") != registration.issuer:  # Sec §5.1.3(2): exact match
        expected = safe_excerpt(registration.issuer, limit=200)
        msg = f"claim 'iss' must be exactly '{expected}'"
        raise IssuerMismatchError(msg, details={"expected": expected})
    audience = _check_audience(payload, registration.client_id, policy.trusted_audiences)
    _check_times(payload, ts, policy)

    nonce = payload.get("nonce")  # Sec §5.1.3(9)
    if not isinstance(nonce, str) or not nonce:
        msg = "claim 'nonce' is required"
        raise NonceMissingError(msg)
    if login is not None:
        _check_login_nonce(nonce, login)

    roles = _check_message(payload, policy, registration)
    deployment_id = _deployment_id(payload, limit=policy.enforce_id_limits)
    if login is not None:
        _check_login_deployment(deployment_id, login)
    target = payload.get(c.TARGET_LINK_URI)
    if target is None:
        raise _missing("target_link_uri", "Core §5.3.4")
    if login is not None:
        _check_login_target(target, login)

    # Core §5.3.5, §5.4.1: resource-link and context ids are at most 255 characters.
    id_limit = _MAX_ID if policy.enforce_id_limits else None
    claims = c.parse_claims(payload, audience=audience, roles=roles, id_limit=id_limit)

    # Migration Guide: the lti1p1 claim's oauth_consumer_key_sign, checked only when
    # the host gave LTI 1.1 secrets and the claim is there (free for other launches).
    lti1p1: VerifiedLti1p1 | None = None
    migration = claims.lti1p1 if verify_lti1p1 else None
    if migration is not None:
        lti1p1 = yield from verify_lti1p1_flow(
            migration,
            registration=registration,
            deployment_id=deployment_id,
            issuer=registration.issuer,
            exp=payload["exp"],
            nonce=nonce,
            policy=policy,
        )

    host_deployment = yield GetDeployment(registration=registration, deployment_id=deployment_id)
    if host_deployment is None:
        shown = safe_excerpt(deployment_id)
        msg = (
            f"deployment '{shown}' is not known for client "
            f"'{safe_excerpt(registration.client_id)}'; add it (or let get_deployment create it)"
        )
        raise DeploymentNotFoundError(msg, details={"deployment_id": shown})
    deployment = host_deployment.to_deployment()
    if not isinstance(deployment, Deployment) or deployment.deployment_id != deployment_id:
        msg = "get_deployment must return an object whose to_deployment() is that Deployment"
        raise TypeError(msg)

    # Last: consume the nonce atomically, so only a fully valid launch burns it.
    status = yield ConsumeNonce(nonce=nonce, registration=registration, now=now)
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
        lti1p1=lti1p1,
        validated_at=now,
    )
