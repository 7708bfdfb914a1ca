"""Key names, stored values, TTLs and Lua scripts of the Redis adapters (pure: no IO).

Every Redis key is ``<prefix><kind>:<sha256 hex>``: the hash covers the caller's
strings (issuer, client id, nonce, cache key, lock name) as canonical JSON with
every non-ASCII character escaped, so hostile input (NUL, lone surrogates, glob
characters, megabytes of text) can neither craft nor collide keys, and every
argument sent to Redis is ASCII.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Hashable
from datetime import datetime, timedelta, timezone

import attrs

from credlti._crypto import KeyRing, associated_data
from credlti.errors import ConfigurationError, DecryptionError
from credlti.lti._records import Registration
from credlti.lti._tokens import ServiceToken, TokenCacheKey

__all__ = [
    "COMPARE_AND_DELETE",
    "CONSUME_NONCE",
    "DEFAULT_PREFIX",
    "DELETE_IF_EQUAL",
    "check_prefix",
    "hashed",
    "lock_key",
    "lock_name",
    "micros",
    "nonce_key",
    "nonce_value",
    "open_session",
    "open_token",
    "seal_session",
    "seal_token",
    "session_key",
    "token_digest",
    "token_key",
    "ttl_ms",
]

DEFAULT_PREFIX = "credlti:"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MIN_TTL_MS = 1000
_MAX_PREFIX = 256
_MICROSECOND = timedelta(microseconds=1)
_MILLISECOND = timedelta(milliseconds=1)
_EXPIRY_BYTES = 8
_DIGEST_CHARS = 64
_HEX = frozenset("0123456789abcdef")
#: Canonical JSON, every non-ASCII character (NUL, surrogates...) escaped.
_canonical = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode

#: Consume a nonce: KEYS[1] the nonce key, ARGV[1] the tool's "now" in microseconds.
#: The value is ``n<expiry>`` (issued) or ``u<expiry>`` (used, kept until expiry).
#: Returns 1 CONSUMED, 2 ALREADY_USED, 0 NOT_FOUND (absent or expired by the tool's now).
CONSUME_NONCE = """\
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local expiry = tonumber(string.sub(value, 2))
if expiry == nil or expiry <= tonumber(ARGV[1]) then return 0 end
if string.sub(value, 1, 1) == 'u' then return 2 end
redis.call('SET', KEYS[1], 'u' .. string.sub(value, 2), 'KEEPTTL')
return 1
"""

#: Delete KEYS[1] only if its value starts with ARGV[1]; returns how many were deleted.
COMPARE_AND_DELETE = """\
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

#: Delete KEYS[1] only if its value is exactly ARGV[1] (a lock's owner token).
DELETE_IF_EQUAL = """\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def check_prefix(prefix: str) -> str:
    """Validate a key prefix (printable ASCII, at most 256 characters) and return it."""
    if len(prefix) > _MAX_PREFIX or not all(" " < c <= "~" for c in prefix):
        msg = "the Redis key prefix must be at most 256 printable ASCII characters, no spaces"
        raise ConfigurationError(msg)
    return prefix


def hashed(*parts: str) -> str:
    """SHA-256 (hex) of *parts* as canonical, ASCII-only JSON: unambiguous and safe."""
    return hashlib.sha256(_canonical(parts).encode("ascii")).hexdigest()


def nonce_key(prefix: str, nonce: str, registration: Registration) -> str:
    """The key of *nonce* issued for *registration*."""
    return f"{prefix}nonce:{hashed(registration.issuer, registration.client_id, nonce)}"


def token_key(prefix: str, key: TokenCacheKey) -> str:
    """The key of a cached service token."""
    return f"{prefix}token:{_token_id(key)}"


def lock_key(prefix: str, name: str) -> str:
    """The key of the lock named *name*."""
    return f"{prefix}lock:{hashed(name)}"


def session_key(prefix: str, key: str) -> str:
    """The key of the launch session stored under *key* (64 lowercase hex characters).

    The tools' keys are already SHA-256 digests, so they are used as they are; any
    other string is hashed first, so no caller can craft a key outside the prefix.
    """
    if len(key) != _DIGEST_CHARS or not all(c in _HEX for c in key):
        key = hashed("session", key)
    return f"{prefix}session:{key}"


def seal_session(data: bytes, expires_at: datetime) -> bytes:
    """The stored value of a launch session: its expiry (8 bytes, microseconds), then *data*."""
    return micros(expires_at).to_bytes(_EXPIRY_BYTES, "big", signed=True) + data


def open_session(stored: bytes | str | None, now_micros: int) -> bytes | None:
    """The session bytes in *stored*, or ``None`` when absent, malformed or expired.

    A client made with ``decode_responses=True`` hands back text, which cannot hold
    the sealed bytes: that reads as malformed.
    """
    if not isinstance(stored, bytes) or len(stored) < _EXPIRY_BYTES:
        return None
    expiry = int.from_bytes(stored[:_EXPIRY_BYTES], "big", signed=True)
    return None if expiry <= now_micros else bytes(stored[_EXPIRY_BYTES:])


def lock_name(key: Hashable) -> str:
    """The lock name of a single-flight key, the same in every process.

    Strings, numbers, booleans and ``None`` stand for themselves; tuples and lists
    become lists, sets become sorted lists, attrs records (a token cache key)
    become their class name and fields. Anything else is named by its ``repr``.
    The result is canonical JSON, so set order and hash seeds never matter.
    """
    return _canonical(_plain(key))


def _plain(value: object) -> object:
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(item) for item in value), key=_canonical)
    cls = type(value)
    if attrs.has(cls):
        fields = attrs.fields(cls)
        return [cls.__name__, {f.name: _plain(getattr(value, f.name)) for f in fields}]
    return repr(value)


def micros(moment: datetime) -> int:
    """*moment* as whole microseconds since the epoch (naive means local time)."""
    if moment.tzinfo is None:
        moment = moment.astimezone(timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND


def ttl_ms(expires_at: datetime, now: datetime) -> int:
    """The Redis TTL (garbage collection only) for something valid until *expires_at*.

    At least one second, so Redis never refuses it and an entry stored late still
    lands; the tool's own ``now`` decides validity, never this TTL.
    """
    if expires_at.tzinfo is None or now.tzinfo is None:
        left = timedelta(microseconds=micros(expires_at) - micros(now))
    else:
        left = expires_at - now
    return max(_MIN_TTL_MS, -(-left // _MILLISECOND))  # rounded up to a whole millisecond


def nonce_value(expires_at: datetime) -> str:
    """The stored value of a freshly issued nonce: ``n`` and its expiry."""
    return f"n{micros(expires_at)}"


def _token_id(key: TokenCacheKey) -> str:
    return hashed(
        key.issuer,
        key.client_id,
        key.token_url,
        _canonical(sorted(key.scopes)),
        "" if key.deployment_id is None else "d:" + key.deployment_id,
    )


def token_digest(access_token: str) -> str:
    """SHA-256 (hex) of an access token: what a conditional delete compares."""
    return hashlib.sha256(access_token.encode("utf-8", "surrogatepass")).hexdigest()


def _aad(key: TokenCacheKey) -> bytes:
    return associated_data("service_token", _token_id(key), "token")


def seal_token(key: TokenCacheKey, token: ServiceToken, ring: KeyRing, nonce: bytes) -> str:
    """The stored value of *token*: ``<digest>:<base64 AES-GCM ciphertext>``.

    Everything (access token, scopes, expiry, type) is inside the ciphertext, bound
    to *key* by associated data; only the access token's digest is in clear.
    """
    body = json.dumps(
        {
            "a": token.access_token,
            "s": sorted(token.scopes),
            "e": micros(token.expires_at),
            "t": token.token_type,
        },
        separators=(",", ":"),
        ensure_ascii=True,
    )
    sealed = ring.encrypt(body.encode("ascii"), _aad(key), nonce=nonce)
    return f"{token_digest(token.access_token)}:{base64.b64encode(sealed).decode('ascii')}"


def open_token(key: TokenCacheKey, stored: bytes | str, ring: KeyRing) -> ServiceToken:
    """Open a value made by :func:`seal_token` for the same *key*."""
    text = stored.decode("ascii", "replace") if isinstance(stored, bytes) else stored
    _, _, encoded = text.partition(":")
    try:
        sealed = base64.b64decode(encoded, validate=True)
    except ValueError:
        msg = "a cached service token in Redis is malformed; delete the key"
        raise DecryptionError(msg) from None
    body = json.loads(ring.decrypt(sealed, _aad(key)))
    return ServiceToken(
        access_token=body["a"],
        scopes=frozenset(body["s"]),
        expires_at=_EPOCH + timedelta(microseconds=body["e"]),
        token_type=body["t"],
    )
