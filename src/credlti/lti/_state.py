"""The login state binding: what the browser keeps between login and launch.

Rules of this module:

1. The binding is signed with HMAC-SHA256 under a tool secret, so the browser can
   hold it but not change it. It binds the OIDC ``state`` to the ``nonce``, the
   registration, the login's ``target_link_uri`` and ``lti_deployment_id``, and an
   expiry (Sec §5.1.1.2, §7.3.1; Core §4.1.2, §5.3.4).
2. Several secrets may be configured: the first signs, any verifies, so the secret
   can be rotated without failing launches in flight.
3. Comparisons of secret-derived values are constant-time.
"""

from __future__ import annotations

import hmac
import json
from base64 import urlsafe_b64encode
from collections.abc import Sequence
from typing import NamedTuple

from credlti.errors import StateMismatchError
from credlti.lti._jws import b64url_decode

__all__ = ["LoginState", "open_state", "seal_state"]

_PREFIX = "v1."


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class LoginState(NamedTuple):
    """What a login bound to the browser, to be checked at the launch.

    A named tuple rather than an attrs record: it is built on every launch.
    """

    state: str
    nonce: str
    issuer: str
    client_id: str
    target_link_uri: str
    deployment_id: str | None
    expires_at: int


def _mac(secret: bytes, message: bytes) -> bytes:
    return hmac.digest(secret, message, "sha256")


def seal_state(login: LoginState, secret: bytes) -> str:
    """Serialise and sign *login* for the browser to keep."""
    body = json.dumps(list(login), separators=(",", ":")).encode()
    signed = f"{_PREFIX}{_b64(body)}"
    return f"{signed}.{_b64(_mac(secret, signed.encode('ascii')))}"


def _bad(reason: str) -> StateMismatchError:
    return StateMismatchError(
        f"the state binding {reason}. Pass handle_callback the cookie value that "
        "handle_login returned for this state; with several workers, give every Tool "
        "the same state_secret",
    )


def open_state(value: object, secrets: Sequence[bytes]) -> LoginState:
    """Verify and decode a sealed binding.

    Expiry is not checked here (the caller owns the clock).

    Raises:
        StateMismatchError: The value is missing, malformed, or not signed by any of
            *secrets*.
    """
    if not isinstance(value, str) or not value:
        raise _bad("is missing: the browser sent no state cookie (blocked third-party cookies?)")
    if not value.startswith(_PREFIX) or value.count(".") != 2:
        raise _bad("is malformed")
    signed, _, mac64 = value.rpartition(".")
    try:
        mac = b64url_decode(mac64)
        signed_bytes = signed.encode("ascii")
    except (ValueError, UnicodeEncodeError) as exc:
        raise _bad("is malformed") from exc
    if not any(hmac.compare_digest(_mac(secret, signed_bytes), mac) for secret in secrets):
        raise _bad("has an invalid signature")
    try:
        return LoginState(*json.loads(b64url_decode(signed[len(_PREFIX) :])))
    except (ValueError, TypeError) as exc:  # pragma: no cover - only a signed bad body gets here
        raise _bad("is malformed") from exc
