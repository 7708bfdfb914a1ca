"""The login state binding: what the browser keeps between login and launch.

Rules of this module:

1. The binding is authenticated with a keyed BLAKE2b MAC (RFC 7693 keyed mode) under
   a tool secret, so the browser can hold it but not change it. It binds the OIDC
   ``state`` to the ``nonce``, the registration, the login's ``target_link_uri`` and
   ``lti_deployment_id``, and an expiry (Sec §5.1.1.2, §7.3.1; Core §4.1.2, §5.3.4).
   The two login values that are only ever compared (``target_link_uri`` and
   ``lti_deployment_id``) are kept as SHA-256 digests, so the cookie's size does not
   depend on what the login request sent.
2. Several secrets may be configured: the first signs, any verifies, so the secret
   can be rotated without failing launches in flight.
3. Comparisons of secret-derived values are constant-time.
4. It is on every launch's path: one MAC, one base64 decode, one split; no JSON.
5. The binding of the largest registration (a 1024-character issuer, a
   255-character client id) stays under 2.5 KB, far from the 4096 bytes browsers
   keep per cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import urlsafe_b64encode
from collections.abc import Sequence
from typing import NamedTuple

from credlti.errors import StateMismatchError
from credlti.lti._jws import b64url_decode

__all__ = ["LoginState", "login_digest", "mac_key", "open_state", "seal_state"]

_PREFIX = "v3."
_SEP = "\n"
_FIELDS = 8


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class LoginState(NamedTuple):
    """What a login bound to the browser, to be checked at the launch.

    A named tuple rather than an attrs record: it is built on every launch.
    ``target_link_uri_digest`` and ``deployment_id_digest`` are
    :func:`login_digest` values of the login's parameters (``None``: no
    ``lti_deployment_id`` was sent).
    """

    state: str
    nonce: str
    issuer: str
    client_id: str
    target_link_uri_digest: str
    deployment_id_digest: str | None
    expires_at: int


def login_digest(value: str) -> str:
    """The digest under which the binding keeps a login value it only compares."""
    return _b64(hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest())


def mac_key(secret: bytes) -> bytes:
    """Derive the 64-byte BLAKE2b key for a state secret of any length."""
    return hashlib.sha512(b"credlti state binding\x00" + secret).digest()


def _mac(key: bytes, message: bytes) -> bytes:
    return hashlib.blake2b(message, key=key, digest_size=32).digest()


def seal_state(login: LoginState, key: bytes) -> str:
    """Serialise and authenticate *login* for the browser to keep.

    *key* comes from :func:`mac_key`. Fields must not contain newlines (the login
    flow refuses such parameters).
    """
    fields = (
        login.state,
        login.nonce,
        login.issuer,
        login.client_id,
        login.target_link_uri_digest,
        login.deployment_id_digest or "",
        "0" if login.deployment_id_digest is None else "1",
        str(login.expires_at),
    )
    if any(_SEP in field for field in fields):
        msg = "state binding fields must not contain newlines"
        raise ValueError(msg)
    signed = _PREFIX + _b64(_SEP.join(fields).encode("utf-8", "surrogatepass"))
    return f"{signed}.{_b64(_mac(key, signed.encode('ascii')))}"


def _bad(reason: str) -> StateMismatchError:
    return StateMismatchError(
        f"the state binding {reason}. Pass handle_callback the cookie value that "
        "handle_login returned for this state; with several workers, give every Tool "
        "the same state_secret",
    )


def open_state(value: object, keys: Sequence[bytes]) -> LoginState:
    """Verify and decode a sealed binding.

    Expiry is not checked here (the caller owns the clock).

    Raises:
        StateMismatchError: The value is missing, malformed, or not authenticated by
            any of *keys*.
    """
    if not isinstance(value, str) or not value:
        raise _bad("is missing: the browser sent no state cookie (blocked third-party cookies?)")
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != "v3":
        raise _bad("is malformed")
    signed = f"{parts[0]}.{parts[1]}"
    try:
        mac = b64url_decode(parts[2])
        signed_bytes = signed.encode("ascii")
    except ValueError as exc:
        raise _bad("is malformed") from exc
    for key in keys:
        if hmac.compare_digest(_mac(key, signed_bytes), mac):
            break
    else:
        raise _bad("has an invalid signature")
    fields = b64url_decode(parts[1]).decode("utf-8", "surrogatepass").split(_SEP)
    if len(fields) != _FIELDS:  # pragma: no cover - only a validly signed bad body gets here
        raise _bad("is malformed")
    state, nonce, issuer, client_id, target, deployment, has_deployment, expires = fields
    return LoginState(
        state,
        nonce,
        issuer,
        client_id,
        target,
        deployment if has_deployment == "1" else None,
        int(expires),
    )
