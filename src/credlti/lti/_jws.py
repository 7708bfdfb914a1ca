"""Compact JWS parsing and asymmetric signature verification (RFC 7515, RFC 7518).

Rules of this module:

1. Pure and fast: this is the hot path of every launch. Keys arrive already parsed
   (see :mod:`credlti.lti._jwks`), so a verification is one base64 decode, two JSON
   decodes and one public-key operation.
2. Only the asymmetric algorithms in ``SUPPORTED_ALGORITHMS`` exist here; ``none``
   and HS* cannot be verified at all, whatever the caller allows.
3. Every failure is a typed credlti error; nothing from ``cryptography``, ``json``
   or ``base64`` escapes.
"""

from __future__ import annotations

import binascii
import json
import re
import sys
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from credlti.errors import MalformedTokenError

__all__ = ["PublicKey", "UnverifiedJws", "parse_compact", "verify_signature"]

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

#: Upper bound on an id_token's length; real launches are a few KiB.
MAX_TOKEN_LENGTH = 64 * 1024

_PKCS1 = padding.PKCS1v15()
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}


_URLSAFE = bytes.maketrans(b"-_", b"+/")
_NOT_URLSAFE = b"+/="  # valid in base64 but not in unpadded base64url
_PADDING = (b"", b"", b"==", b"=")


# The last character of an unpadded segment carries 2 (length % 4 == 2) or 4
# (length % 4 == 3) data bits and 4 or 2 unused bits. Canonical base64url (RFC 4648
# §3.5, RFC 7515 §2) leaves the unused bits zero; these are the only characters
# whose unused bits are zero.
_CANONICAL_LAST = (None, None, frozenset("AQgw"), frozenset("AEIMQUYcgkosw048"))


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded, canonical base64url strictly, raising ``ValueError`` on bad input.

    Refused: padding, the ``+``/``/`` alphabet, characters outside the alphabet, an
    impossible length, and non-canonical text (unused bits set in the last
    character), so that exactly one text encodes given bytes.
    """
    raw = segment.encode("ascii")  # UnicodeEncodeError is a ValueError
    translated = raw.translate(_URLSAFE, _NOT_URLSAFE)
    if len(translated) != len(raw):
        msg = "'+', '/' and '=' are not allowed in base64url segments"
        raise ValueError(msg)
    last = _CANONICAL_LAST[len(segment) % 4]
    if last is not None and segment[-1] not in last:
        msg = "the segment is not canonical base64url (unused bits set in its last character)"
        raise ValueError(msg)
    # strict mode rejects characters outside the alphabet instead of skipping them.
    return _a2b_strict(translated + _PADDING[len(translated) % 4])


if sys.version_info >= (3, 11):

    def _a2b_strict(data: bytes) -> bytes:
        return binascii.a2b_base64(data, strict_mode=True)

else:  # pragma: no cover - Python 3.10 has no strict_mode
    _ALPHABET = re.compile(rb"[A-Za-z0-9+/]*={0,2}")

    def _a2b_strict(data: bytes) -> bytes:
        if not _ALPHABET.fullmatch(data):
            msg = "Only base64 data is allowed"
            raise ValueError(msg)
        return binascii.a2b_base64(data)


@attrs.frozen
class UnverifiedJws:
    """A compact JWS split and decoded, before its signature is checked."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _malformed(what: str) -> MalformedTokenError:
    return MalformedTokenError(
        f"the id_token is not a valid compact JWS: {what}. Post the platform's "
        "id_token unchanged; an LTI 1.1 launch or a truncated form field looks like this"
    )


_json_decode = json.JSONDecoder().decode
# Platforms send the same JWS header on every launch: decode each distinct one once.
# Entries are read-only by contract; the cache is bounded and simply reset when full.
_HEADERS: dict[str, dict[str, Any]] = {}
_HEADER_CACHE_SIZE = 256
_MAX_CACHED_HEADER = 1024


def parse_compact(token: object) -> UnverifiedJws:
    """Split and decode a compact JWS without verifying it.

    Raises:
        MalformedTokenError: The value is not three base64url segments with a JSON
            object header and a JSON object payload.
    """
    if not isinstance(token, str):
        raise _malformed("it is not text")
    if len(token) > MAX_TOKEN_LENGTH:
        raise _malformed(f"it is longer than {MAX_TOKEN_LENGTH} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise _malformed("it must have exactly three dot-separated parts")
    h64, p64, s64 = parts
    try:
        header = _HEADERS.get(h64)
        if header is None:
            header = _json_decode(b64url_decode(h64).decode())
            if type(header) is dict and len(h64) <= _MAX_CACHED_HEADER:
                if len(_HEADERS) >= _HEADER_CACHE_SIZE:
                    _HEADERS.clear()
                _HEADERS[h64] = header
        payload = _json_decode(b64url_decode(p64).decode())
        signature = b64url_decode(s64)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _malformed("a part is not canonical base64url-encoded JSON") from exc
    if type(header) is not dict:
        raise _malformed("the header is not a JSON object")
    if type(payload) is not dict:
        raise _malformed("the payload is not a JSON object")
    return UnverifiedJws(header, payload, f"{h64}.{p64}".encode("ascii", "replace"), signature)


def key_matches_alg(key: PublicKey, alg: str) -> bool:
    """Return True if *key* is of the type (and curve) that *alg* needs."""
    if alg[0] in "RP":
        return isinstance(key, rsa.RSAPublicKey)
    return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == _EC_CURVES.get(alg)


def verify_signature(key: PublicKey, alg: str, signing_input: bytes, signature: bytes) -> bool:
    """Return True if *signature* over *signing_input* verifies with *key* under *alg*.

    *alg* must be one of the supported asymmetric algorithms and *key* must match it
    (check with :func:`key_matches_alg` first); anything else returns False.
    """
    digest = _HASHES.get(alg[2:])
    if digest is None:
        return False
    try:
        family = alg[:2]
        if family == "RS" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, _PKCS1, digest)
            return True
        if family == "PS" and isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            key.verify(signature, signing_input, pss, digest)
            return True
        if family == "ES" and isinstance(key, ec.EllipticCurvePublicKey):
            size = _EC_SIZES[alg]
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))
            return True
    except (InvalidSignature, ValueError, KeyError):
        return False
    return False
