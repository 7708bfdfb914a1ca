"""Cookieless launches: the launch validated now, bound to the browser a moment later.

When the platform's launch POST arrives without the state cookie but with
``lti_storage_target`` (LTI Client Side postMessages, platform storage), the binding
the login stored is in the platform's storage, which only the page in the browser
can read. So the launch happens in two requests:

1. :func:`start_flow` makes every check of the launch except the state binding
   (signature, claims, deployment) and consumes the nonce, so the token cannot be
   used again. It seals the validated launch as a *pending launch* into the
   launch-session store under a fresh handle (short TTL) and returns a
   :class:`StorageLaunch`, whose page reads the binding back and posts it, with the
   handle, to the tool's finish URL.
2. :func:`finish_flow` takes the pending launch out of the store (single use: it is
   deleted before anything is checked, so a second finish fails), opens the posted
   binding exactly as the cookie is opened (MAC, same ``state``, expiry; constant
   time) and ties it to the token (nonce, the login's deployment and target link).
   Only then is the launch handed out.

Rules of this module:

1. Pending launches are sealed like launch sessions (AES-256-GCM under the
   session ring) but with their own storage keys and associated data, so a pending
   handle never opens a launch session and a launch-session handle never finishes.
2. Every way a finish fails to lead back to a pending launch, or to a binding that
   fits it, is :class:`~credlti.errors.StateMismatchError` (or
   :class:`~credlti.errors.StateExpiredError`), the error codes of the cookie path.
3. No IO, clock or randomness: the facade draws the handle and the seal's nonce.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Generator, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeGuard

import attrs

from credlti._crypto import KeyRing
from credlti.errors import (
    DecryptionError,
    DeploymentNotFoundError,
    InvalidClaimError,
    MissingClaimError,
    StateExpiredError,
    StateMismatchError,
)
from credlti.lti._claims import parse_claims
from credlti.lti._jws import parse_compact
from credlti.lti._launch import check_login_claims, launch_token, open_binding, token_flow
from credlti.lti._launch_effects import (
    DeleteLaunchSession,
    GetDeployment,
    GetRegistration,
    LoadLaunchSession,
    SaveLaunchSession,
)
from credlti.lti._login import read_param, to_registration
from credlti.lti._lti1p1_claim import VerifiedLti1p1
from credlti.lti._platform_keys import KeyCache
from credlti.lti._policy import LaunchPolicy
from credlti.lti._records import Deployment, LaunchContext, check_url
from credlti.lti._storage_pages import (
    BINDING_FIELD,
    PENDING_FIELD,
    launch_page,
    origin_of,
    parse_storage_target,
)

__all__ = ["PENDING_TTL", "StorageLaunch", "finish_flow", "pending_key", "start_flow"]

#: Seconds a pending launch waits for its binding (the page needs a few).
PENDING_TTL = 300.0

_VERSION = 1
_HANDLE = re.compile(r"[A-Za-z0-9_-]{43}\Z")
_AAD_LABEL = b"credlti pending launch v1\x00"


@attrs.frozen(kw_only=True)
class StorageLaunch:
    """A launch validated except for its browser binding, waiting for the page.

    Answer the platform's launch POST with :meth:`page` (status 200, headers from
    :func:`~credlti.lti.page_headers`). Its script reads the login's binding from
    platform storage and POSTs ``credlti_pending`` and ``credlti_binding`` to
    :attr:`finish_url`, where :meth:`~credlti.lti.Tool.finish_storage_launch`
    completes the launch. Nothing of the launch is readable from this record.

    Attributes:
        pending: The pending launch's handle (a bearer value: it goes only into
            the page's form).
        state: The launch's OIDC ``state`` (names the platform-storage key).
        storage_target: The frame the platform named in ``lti_storage_target``.
        platform_origin: The origin of the platform's authorization endpoint: the
            only origin the page sends to and accepts answers from.
        finish_url: Where the page posts the binding.
        expires_at: When the pending launch is dropped.
    """

    pending: str = attrs.field(repr=False)
    state: str
    storage_target: str
    platform_origin: str
    finish_url: str
    expires_at: datetime

    def page(self, *, csp_nonce: str | None = None) -> str:
        """The HTML page that reads the binding back and posts it to :attr:`finish_url`.

        Args:
            csp_nonce: The nonce of the page's Content-Security-Policy, if the host
                sets one (pass the same to :func:`~credlti.lti.page_headers`).
        """
        return launch_page(
            finish_url=self.finish_url,
            platform_origin=self.platform_origin,
            storage_target=self.storage_target,
            state=self.state,
            pending=self.pending,
            csp_nonce=csp_nonce,
        )


def _is_handle(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == 43 and _HANDLE.match(value) is not None


def pending_key(handle: str) -> str:
    """The launch-session store key of a pending launch: 64 hex characters of SHA-256."""
    return hashlib.sha256(b"credlti pending launch\x00" + handle.encode("ascii")).hexdigest()


def _aad(key: str) -> bytes:
    return _AAD_LABEL + key.encode("ascii")


def _mismatch(reason: str) -> StateMismatchError:
    return StateMismatchError(
        f"the platform-storage launch cannot be finished: {reason}; launch again from the platform",
        details={"reason": reason},
    )


def _unverified_ids(payload: Mapping[str, Any]) -> tuple[str, str | None]:
    """The issuer and client id the token claims, to find its registration.

    Unverified: the registration's key set verifies the signature next, and the
    issuer and audience are then checked exactly.
    """
    issuer = payload.get("iss")
    if not isinstance(issuer, str) or not issuer:
        msg = "claim 'iss' is required and must be a string"
        raise MissingClaimError(msg, spec_ref="Sec §5.1.2", details={"claim": "iss"})
    azp, aud = payload.get("azp"), payload.get("aud")
    if isinstance(azp, str) and azp:
        return issuer, azp
    if isinstance(aud, str) and aud:
        return issuer, aud
    if isinstance(aud, list) and len(aud) == 1 and isinstance(aud[0], str) and aud[0]:
        return issuer, aud[0]
    return issuer, None


def start_flow(
    params: Mapping[str, Any],
    *,
    finish_url: str,
    policy: LaunchPolicy,
    now: datetime,
    keys: KeyCache,
    verify_lti1p1: bool,
    ring: KeyRing,
    handle: str,
    seal_nonce: bytes,
) -> Generator[Any, Any, StorageLaunch]:
    """Validate a launch POST that came without the state cookie; keep it pending.

    Yields:
        The effects of :func:`credlti.lti._launch.token_flow` (the nonce is consumed
        last), then ``SaveLaunchSession``.

    Raises:
        StateMismatchError: The POST names no ``lti_storage_target`` or no
            ``state``: without a cookie nothing can bind it to the browser.
        ConfigurationError: *finish_url* is not an absolute http(s) URL.
    """
    check_url(finish_url, "finish_url")
    token = launch_token(params)
    target = parse_storage_target(read_param(params, "lti_storage_target"))
    if target is None:
        msg = (
            "the browser sent no state cookie and the platform named no "
            "lti_storage_target; the browser blocks the tool's cookies (answer with "
            "credlti.lti.fallback_page)"
        )
        raise StateMismatchError(msg, details={"reason": "no_binding"})
    state = read_param(params, "state")
    if not _is_handle(state):  # states are 32 random bytes as URL-safe text
        raise _mismatch("the posted state is not one this tool issues")
    jws = parse_compact(token)
    issuer, client_id = _unverified_ids(jws.payload)
    launch = yield from token_flow(
        jws,
        issuer=issuer,
        client_id=client_id,
        login=None,
        policy=policy,
        now=now,
        keys=keys,
        verify_lti1p1=verify_lti1p1,
    )
    registration = launch.registration.to_registration()
    platform_origin = origin_of(registration.auth_endpoint)
    expires_at = now + timedelta(seconds=PENDING_TTL)
    verified = launch.lti1p1
    document = {
        "v": _VERSION,
        "state": state,
        "finish_origin": origin_of(finish_url),
        "issuer": registration.issuer,
        "client_id": registration.client_id,
        "deployment_id": launch.claims.deployment_id,
        "audience": list(launch.claims.audience),
        "expires_at": expires_at.timestamp(),
        "validated_at": now.isoformat(),
        "payload": dict(launch.raw),
        "lti1p1": None if verified is None else attrs.asdict(verified),
    }
    key = pending_key(handle)
    # ASCII JSON: claims may hold lone surrogates (valid JSON escapes), which UTF-8 cannot.
    text = json.dumps(document, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    data = ring.encrypt(text.encode("ascii"), _aad(key), nonce=seal_nonce)
    yield SaveLaunchSession(key=key, data=data, expires_at=expires_at)
    return StorageLaunch(
        pending=handle,
        state=state,
        storage_target=target,
        platform_origin=platform_origin,
        finish_url=finish_url,
        expires_at=expires_at,
    )


def _open(ring: KeyRing, key: str, data: object) -> dict[str, Any]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _mismatch("the stored pending launch is unreadable")
    try:
        document = ring.decrypt_json(bytes(data), _aad(key))
    except (DecryptionError, ValueError):
        raise _mismatch("the stored pending launch failed authentication") from None
    shape: dict[str, type | tuple[type, ...]] = {
        "state": str,
        "finish_origin": str,
        "issuer": str,
        "client_id": str,
        "deployment_id": str,
        "audience": list,
        "expires_at": (int, float),
        "validated_at": str,
        "payload": dict,
    }
    if (
        not isinstance(document, dict)
        or document.get("v") != _VERSION
        or not all(isinstance(document.get(name), kind) for name, kind in shape.items())
        or not isinstance(document.get("lti1p1"), (dict, type(None)))
    ):
        raise _mismatch("the stored pending launch has an unknown shape")
    return document


def finish_flow(
    form: Mapping[str, Any],
    *,
    ring: KeyRing,
    state_keys: tuple[bytes, ...],
    policy: LaunchPolicy,
    now: datetime,
    origin: str | None = None,
) -> Generator[Any, Any, LaunchContext[Any, Any]]:
    """Finish a pending launch with the binding the page read from platform storage.

    Args:
        form: The page's POST: ``credlti_pending`` and ``credlti_binding``.
        ring: The session ring (:func:`credlti.lti._sessions.session_key_ring`).
        state_keys: The state-binding MAC keys.
        policy: The launch policy (id limits for the claims).
        now: The current time.
        origin: The request's ``Origin`` header, if the host passes it: it must be
            the finish URL's origin (the page posts from the tool's own origin).

    Yields:
        ``LoadLaunchSession``, ``DeleteLaunchSession``, then ``GetRegistration``
        and ``GetDeployment``.

    Raises:
        StateMismatchError: No such pending launch (unknown, already finished or
            expired), or the binding is missing, altered, from another login or
            for another state.
        StateExpiredError: The login or the pending launch is too old.
    """
    handle = read_param(form, PENDING_FIELD)
    binding = read_param(form, BINDING_FIELD)
    if not _is_handle(handle):
        raise _mismatch("the pending-launch handle is missing or malformed")
    key = pending_key(handle)
    data = yield LoadLaunchSession(key=key, now=now)
    if data is None:
        raise _mismatch("no pending launch for this handle (finished, expired or unknown)")
    # Single use: whoever deletes it finishes it, whatever follows.
    if not (yield DeleteLaunchSession(key=key)):
        raise _mismatch("the pending launch was finished by another request")
    document = _open(ring, key, data)
    if document["expires_at"] <= now.timestamp():
        msg = "the platform-storage launch waited too long for its binding; launch again"
        raise StateExpiredError(msg)
    if origin is not None and origin != document["finish_origin"]:
        raise _mismatch("the finish request came from another origin")
    login = open_binding(document["state"], binding, state_keys, now.timestamp())
    issuer, client_id = document["issuer"], document["client_id"]
    if login.issuer != issuer or login.client_id != client_id:
        raise _mismatch("the binding belongs to a login for another registration")
    payload = document["payload"]
    check_login_claims(payload, login)

    host_registration = yield GetRegistration(issuer=issuer, client_id=client_id)
    registration = to_registration(host_registration, issuer, client_id)
    if registration.issuer != issuer or registration.client_id != client_id:
        raise _mismatch("the launch's registration changed")
    deployment_id = document["deployment_id"]
    host_deployment = yield GetDeployment(registration=registration, deployment_id=deployment_id)
    deployment = None if host_deployment is None else host_deployment.to_deployment()
    if not isinstance(deployment, Deployment) or deployment.deployment_id != deployment_id:
        msg = "the launch's deployment is no longer known; launch again"
        raise DeploymentNotFoundError(msg)
    id_limit = 255 if policy.enforce_id_limits else None
    try:
        audience = tuple(str(a) for a in document["audience"])
        claims = parse_claims(payload, audience=audience, roles=None, id_limit=id_limit)
        stored = document["lti1p1"]
        lti1p1 = None if stored is None else VerifiedLti1p1(**stored)
        validated_at = datetime.fromisoformat(document["validated_at"])
    except (InvalidClaimError, MissingClaimError, TypeError, ValueError):
        raise _mismatch("the stored pending launch has an unknown shape") from None
    return LaunchContext(
        claims=claims,
        registration=host_registration,
        deployment=host_deployment,
        raw=payload,
        lti1p1=lti1p1,
        validated_at=validated_at,
    )
