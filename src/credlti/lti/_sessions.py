"""Launch sessions: a validated launch sealed for storage, reopened by any worker.

Rules of this module:

1. The handle is 32 random bytes as URL-safe text (43 characters); only the browser
   holds it. Stores see the SHA-256 digest of it (the storage key), never the handle.
2. What is stored is a versioned JSON document, never a pickle (unpickling stored
   bytes runs code if the store is compromised). It is sealed with AES-256-GCM under
   a key derived from the tool's state secret, with the storage key as associated
   data: a reader of the store learns nothing, a writer can neither forge a session
   nor move one to another key.
3. Reopening re-reads the registration and deployment from the tool's storage (the
   host gets its own objects, and a removed one ends its sessions) and rebuilds the
   claims from the stored payload without checking the signature again: it was
   checked at validation, and the seal proves the document came from this tool.
4. No IO, clock or randomness here: the flows yield effects, the facade draws the
   handle and the seal's nonce. Every way a handle fails to lead back to a launch is
   :class:`~credlti.errors.LaunchSessionNotFoundError`; hostile handles and hostile
   stored bytes never raise anything else, and no message quotes the handle.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Generator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from credlti._crypto import EncryptionKey, KeyRing
from credlti.errors import CredltiError, DecryptionError, LaunchSessionNotFoundError
from credlti.lti._claims import parse_claims
from credlti.lti._launch_effects import (
    DeleteLaunchSession,
    GetDeployment,
    GetRegistration,
    LoadLaunchSession,
    SaveLaunchSession,
)
from credlti.lti._records import Deployment, LaunchContext, Registration

__all__ = [
    "DEFAULT_LAUNCH_TTL",
    "HANDLE_BYTES",
    "LAUNCH_COOKIE_PREFIX",
    "clear_launch_session_cookie_header",
    "end_flow",
    "launch_session_cookie_header",
    "launch_session_cookie_name",
    "load_flow",
    "new_handle",
    "save_flow",
    "session_key_ring",
    "storage_key",
]

#: Seconds a saved launch stays open by default (``tool.save_launch(launch, ttl=...)``).
DEFAULT_LAUNCH_TTL = 3600.0
#: The longest ``ttl`` accepted: 30 days.
_MAX_TTL = 30 * 24 * 3600.0
#: Random bytes in a handle (256 bits).
HANDLE_BYTES = 32
#: The name prefix of launch-session cookies (see :func:`launch_session_cookie_name`).
LAUNCH_COOKIE_PREFIX = "credlti-launch"

_VERSION = 1
_HANDLE = re.compile(r"[A-Za-z0-9_-]{43}\Z")
_SLOT = re.compile(r"[A-Za-z0-9_-]{0,64}\Z")
_AAD_LABEL = b"credlti launch session v1\x00"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def session_key_ring(secrets: Sequence[bytes]) -> KeyRing:
    """The ring that seals launch sessions: one AES-256 key per state secret.

    The first secret's key seals, any opens (rotation as for the state binding).
    Key ids are digests of the derived key, so they reveal nothing of the secret.
    """
    keys: dict[str, EncryptionKey] = {}
    for secret in secrets:
        material = hashlib.sha256(b"credlti launch session key\x00" + secret).digest()
        kid = hashlib.sha256(b"credlti launch session key id\x00" + material).hexdigest()[:16]
        keys.setdefault(kid, EncryptionKey(id=kid, material=material))
    return KeyRing(list(keys.values()))


def new_handle(random: bytes) -> str:
    """The handle for *random* (exactly :data:`HANDLE_BYTES` fresh random bytes)."""
    if len(random) != HANDLE_BYTES:
        msg = f"random_bytes({HANDLE_BYTES}) returned {len(random)} bytes"
        raise ValueError(msg)
    return _b64(random)


def _gone(reason: str, message: str) -> LaunchSessionNotFoundError:
    return LaunchSessionNotFoundError(
        f"{message}; the user must launch again from the platform",
        details={"reason": reason},
    )


def _is_handle(handle: object) -> bool:
    # The length test first: a huge hostile string is refused without a regex scan.
    return isinstance(handle, str) and len(handle) == 43 and _HANDLE.match(handle) is not None


def storage_key(handle: str) -> str:
    """The key a handle's session is stored under: 64 hex characters of SHA-256.

    Raises:
        LaunchSessionNotFoundError: *handle* is not a handle this tool can have made.
    """
    if not _is_handle(handle):
        raise _gone("unknown", "the launch-session handle is malformed")
    return hashlib.sha256(b"credlti launch session\x00" + handle.encode("ascii")).hexdigest()


def _aad(key: str) -> bytes:
    return _AAD_LABEL + key.encode("ascii")


def _check_ttl(ttl: float | timedelta) -> float:
    seconds: object = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
        or not 0 < seconds <= _MAX_TTL
    ):
        msg = f"ttl must be a number of seconds above 0 and at most {int(_MAX_TTL)} (30 days)"
        raise ValueError(msg)
    return float(seconds)


def save_flow(
    launch: LaunchContext[Any, Any],
    *,
    ring: KeyRing,
    handle: str,
    nonce: bytes,
    now: datetime,
    ttl: float | timedelta,
) -> Generator[Any, Any, str]:
    """Seal *launch* and store it under *handle*'s key; return the handle.

    Yields:
        ``SaveLaunchSession``.
    """
    expires_at = now + timedelta(seconds=_check_ttl(ttl))
    registration = launch.registration.to_registration()
    claims = launch.claims
    validated_at = launch.validated_at if launch.validated_at is not None else now
    document = {
        "v": _VERSION,
        "issuer": registration.issuer,
        "client_id": registration.client_id,
        "deployment_id": claims.deployment_id,
        "message_type": claims.message_type,
        "audience": list(claims.audience),
        "validated_at": validated_at.isoformat(),
        "expires_at": expires_at.timestamp(),
        "payload": dict(launch.raw),
    }
    key = storage_key(handle)
    # ASCII JSON: claims may hold lone surrogates (valid JSON escapes), which UTF-8 cannot.
    text = json.dumps(document, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    data = ring.encrypt(text.encode("ascii"), _aad(key), nonce=nonce)
    yield SaveLaunchSession(key=key, data=data, expires_at=expires_at)
    return handle


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise TypeError(name)
    return value


def _open(ring: KeyRing, key: str, data: object, now: datetime) -> dict[str, Any]:
    """Open and check a stored document (any failure: LaunchSessionNotFoundError)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _gone("unreadable", "the stored launch session is not bytes")
    try:
        document = ring.decrypt_json(bytes(data), _aad(key))
    except (DecryptionError, ValueError):
        # Altered, moved from another key, or sealed under a secret no longer configured.
        raise _gone("unreadable", "the stored launch session failed authentication") from None
    try:
        if not isinstance(document, dict) or document.get("v") != _VERSION:
            raise TypeError("v")  # noqa: TRY301 - one handler maps every shape failure
        for name in ("issuer", "client_id", "deployment_id", "message_type", "validated_at"):
            _text(document, name)
        expires_at = document.get("expires_at")
        audience = document.get("audience")
        if (
            not isinstance(expires_at, (int, float))
            or not isinstance(audience, list)
            or not all(isinstance(a, str) for a in audience)
            or not isinstance(document.get("payload"), dict)
        ):
            raise TypeError("shape")  # noqa: TRY301
        datetime.fromisoformat(document["validated_at"])
    except (TypeError, ValueError):
        raise _gone("unreadable", "the stored launch session has an unknown shape") from None
    if expires_at <= now.timestamp():
        raise _gone("expired", "the launch session has expired")
    return document


def load_flow(
    handle: str, *, ring: KeyRing, now: datetime
) -> Generator[Any, Any, LaunchContext[Any, Any]]:
    """Reopen the launch saved under *handle*.

    Yields:
        ``LoadLaunchSession``, then ``GetRegistration`` and ``GetDeployment``.

    Raises:
        LaunchSessionNotFoundError: For every reason the handle leads to no launch.
    """
    key = storage_key(handle)
    data = yield LoadLaunchSession(key=key, now=now)
    if data is None:
        raise _gone("unknown", "no launch session is stored for this handle (ended or expired)")
    document = _open(ring, key, data, now)
    issuer, client_id = document["issuer"], document["client_id"]
    host_registration = yield GetRegistration(issuer=issuer, client_id=client_id)
    registration = None if host_registration is None else host_registration.to_registration()
    if (
        not isinstance(registration, Registration)
        or registration.issuer != issuer
        or registration.client_id != client_id
    ):
        raise _gone("registration_removed", "the launch's platform registration was removed")
    deployment_id = document["deployment_id"]
    host_deployment = yield GetDeployment(registration=registration, deployment_id=deployment_id)
    deployment = None if host_deployment is None else host_deployment.to_deployment()
    if not isinstance(deployment, Deployment) or deployment.deployment_id != deployment_id:
        raise _gone("deployment_removed", "the launch's deployment was removed")
    payload = document["payload"]
    try:
        # Checked at validation; id limits are not applied again (the policy may change).
        claims = parse_claims(payload, audience=tuple(document["audience"]), roles=None)
    except CredltiError:
        raise _gone("unreadable", "the stored launch claims cannot be read") from None
    return LaunchContext(
        claims=claims,
        registration=host_registration,
        deployment=host_deployment,
        raw=payload,
        validated_at=datetime.fromisoformat(document["validated_at"]),
    )


def end_flow(handle: str) -> Generator[Any, Any, bool]:
    """Delete the session under *handle*; True if one was stored.

    A malformed handle is simply not stored (False), never an error.

    Yields:
        ``DeleteLaunchSession``.
    """
    if not _is_handle(handle):
        return False
    deleted = yield DeleteLaunchSession(key=storage_key(handle))
    return bool(deleted)


# --------------------------------------------------------------------------- the browser side


def launch_session_cookie_name(launch_id: str = "") -> str:
    """The cookie that holds a launch-session handle.

    With *launch_id* (e.g. :attr:`LaunchContext.launch_id`, which is not secret and
    may travel in the page's URLs) each launch has its own cookie, so launches open
    in several tabs do not replace each other; without it the browser keeps one.
    """
    given: object = launch_id
    if not isinstance(given, str) or not _SLOT.match(given):
        msg = "launch_id must be at most 64 letters, digits, '-' or '_'"
        raise ValueError(msg)
    return f"{LAUNCH_COOKIE_PREFIX}-{launch_id}" if launch_id else LAUNCH_COOKIE_PREFIX


def _cookie_attributes(max_age: int, path: str, partitioned: bool) -> list[str]:
    if not path.startswith("/") or any(ch in path for ch in ";,\r\n\x00"):
        msg = "path must start with '/' and hold no ';', ',' or control characters"
        raise ValueError(msg)
    parts = [f"Max-Age={max_age}", f"Path={path}", "Secure", "HttpOnly", "SameSite=None"]
    if partitioned:
        parts.append("Partitioned")
    return parts


def launch_session_cookie_header(
    handle: str,
    *,
    launch_id: str = "",
    max_age: int = int(DEFAULT_LAUNCH_TTL),
    path: str = "/",
    partitioned: bool = True,
) -> str:
    """Return a ``Set-Cookie`` header value that keeps *handle* in the browser.

    The handle is a bearer secret: keep it in this cookie (or a signed form field),
    never in a URL. The cookie is ``Secure; HttpOnly; SameSite=None`` because the
    tool usually runs in the platform's iframe, and ``Partitioned`` (CHIPS) by
    default so browsers that block third-party cookies keep it for that frame. Give
    *max_age* the ``ttl`` the launch was saved with.

    Raises:
        ValueError: *handle* is not a launch-session handle, or *launch_id*,
            *max_age* or *path* cannot be put in a cookie.
    """
    if not _is_handle(handle):
        msg = "handle must be a value returned by tool.save_launch"
        raise ValueError(msg)
    age: object = max_age
    if isinstance(age, bool) or not isinstance(age, int) or age <= 0:
        msg = "max_age must be a positive number of seconds"
        raise ValueError(msg)
    name = launch_session_cookie_name(launch_id)
    return "; ".join([f"{name}={handle}", *_cookie_attributes(max_age, path, partitioned)])


def clear_launch_session_cookie_header(
    *, launch_id: str = "", path: str = "/", partitioned: bool = True
) -> str:
    """Return a ``Set-Cookie`` header value that deletes a launch-session cookie.

    Send it when the launch ends (after :meth:`~credlti.lti.Tool.end_launch`); the
    attributes match :func:`launch_session_cookie_header` so browsers replace that
    very cookie.
    """
    name = launch_session_cookie_name(launch_id)
    return "; ".join([f"{name}=", *_cookie_attributes(0, path, partitioned)])
