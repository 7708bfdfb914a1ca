"""Small helpers shared by the LTI launch tests (no fixtures here)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc.jwk import RSAKey

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.errors import CredltiError
from credlti.lti import LaunchContext, LoginRedirect, Registration, Tool
from credlti.testing import SimulatedPlatform

E = TypeVar("E", bound=CredltiError)

#: The launch URL the simulated platform targets by default.
LAUNCH_URL = "https://tool.example.com/launch"
#: The FrozenClock's default start; module-scoped platforms are reset to it.
START = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
#: A state secret of the required length.
SECRET_A = b"A" * 32
SECRET_B = b"B" * 32


def expect_error(
    call: Callable[[], object], error: type[E], code: str, *, status: int | None = None
) -> E:
    """Run *call*, demand exactly *error* (not a subclass, nothing else) and its code."""
    try:
        result = call()
    except CredltiError as caught:
        exc = caught
    else:
        pytest.fail(f"expected {error.__name__}, but the call returned {result!r}")
    assert type(exc) is error, f"expected {error.__name__}, got {type(exc).__name__}: {exc}"
    assert exc.code == code
    assert exc.http_status in ((400, 401) if status is None else (status,))
    assert isinstance(exc, error)
    return exc


def query_of(redirect: LoginRedirect | str) -> dict[str, list[str]]:
    """The decoded query of an authentication request URL (every value kept)."""
    url = redirect.url if isinstance(redirect, LoginRedirect) else redirect
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def login(tool: Tool[Any, Any], platform: SimulatedPlatform, **kwargs: Any) -> LoginRedirect:
    """One OIDC login initiation against *tool* (fresh state and nonce)."""
    return tool.handle_login(platform.login_params(**kwargs), LAUNCH_URL)


def accept(
    tool: Tool[Any, Any], form: Mapping[str, str], redirect: LoginRedirect
) -> LaunchContext[Any, Any]:
    """Run the callback and demand a validated launch."""
    launch = tool.handle_callback(form, redirect.cookie_value)
    assert isinstance(launch, LaunchContext)
    return launch


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_decode(segment: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def new_key() -> RSAKey:
    """A fresh 2048-bit RSA key with an RFC 7638 kid."""
    key: RSAKey = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


def public_jwk(key: RSAKey, *, alg: str | None = None) -> dict[str, Any]:
    """The public JWK of *key*, optionally declaring *alg*."""
    jwk: dict[str, Any] = {**key.as_dict(private=False), "kid": key.kid, "use": "sig"}
    if alg is not None:
        jwk["alg"] = alg
    return jwk


_HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
}


def sign_raw(key: RSAKey, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    """Sign a compact JWS with any header (e.g. ``crit``) using RSASSA-PKCS1-v1_5."""
    private = key.private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    signing_input = (
        f"{b64(json.dumps(dict(header)).encode())}.{b64(json.dumps(dict(payload)).encode())}"
    )
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), _HASHES[header["alg"]])
    return f"{signing_input}.{b64(signature)}"


def key_set_client(platform: SimulatedPlatform, keys: list[dict[str, Any]]) -> httpx.Client:
    """An httpx client whose platform key set (at ``platform.jwks_uri``) is *keys*."""

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == platform.jwks_uri:
            return httpx.Response(200, json={"keys": keys})
        return httpx.Response(404)

    return httpx.Client(transport=httpx.MockTransport(handle))


def storage_for(
    platform: SimulatedPlatform, registration: Registration | None = None
) -> MemoryLaunchStorage[Any, Any]:
    """A memory storage holding *registration* (the platform's by default) and its deployment."""
    storage: MemoryLaunchStorage[Any, Any] = MemoryLaunchStorage()
    record = registration if registration is not None else platform.registration
    storage.add_registration(record)
    storage.add_deployment(record, platform.deployment)
    return storage
