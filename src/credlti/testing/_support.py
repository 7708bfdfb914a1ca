"""Helpers of the simulated platform: its error, key generation and JWT time checks."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from joserfc.jwk import RSAKey

__all__ = [
    "ASSERTION_TYPE",
    "LEEWAY",
    "SimulatedPlatformError",
    "b64",
    "check_times",
    "new_key",
]


class SimulatedPlatformError(AssertionError):
    """The tool sent the simulated platform a request a real platform would refuse."""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_key(size: int) -> RSAKey:
    key: RSAKey = RSAKey.generate_key(size, private=True)
    key.ensure_kid()  # RFC 7638 thumbprint
    return key


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LEEWAY = 10


def check_times(payload: Mapping[str, Any], now: float, max_lifetime: int) -> None:
    iat, exp = payload.get("iat"), payload.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        msg = "iat and exp must be numeric dates"
        raise SimulatedPlatformError(msg)
    if exp <= now - LEEWAY:
        msg = "the JWT has expired"
        raise SimulatedPlatformError(msg)
    if iat > now + LEEWAY:
        msg = "the JWT was issued in the future"
        raise SimulatedPlatformError(msg)
    if exp - iat > max_lifetime:
        msg = f"the JWT lives longer than {max_lifetime} seconds"
        raise SimulatedPlatformError(msg)
