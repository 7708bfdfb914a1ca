"""Platform key sets: parsing JWKS documents and deciding when to fetch them (Sec §6.3-6.4).

Rules of this module:

1. No IO and no clock reads: callers pass fetched documents and ``now``.
2. A malformed key is skipped, never fatal: one bad entry must not take a platform's
   launches down. Keys too weak to trust (RSA under 2048 bits) are skipped too.
3. The refetch decision bounds outbound traffic: an unknown ``kid`` causes at most
   one fetch per cooldown window per key-set URL, however many tokens carry one.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from credlti._http import check_deadline
from credlti.errors import ConfigurationError
from credlti.lti._jws import PublicKey, b64url_decode, key_matches_alg

__all__ = [
    "JwksPolicy",
    "KeySetEntry",
    "Lookup",
    "cache_lifetime",
    "entry_from_response",
    "parse_key_set",
    "plan_lookup",
    "stale_fallback",
]

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)


@attrs.frozen(kw_only=True)
class JwksPolicy:
    """How platform key sets are fetched and cached.

    Args:
        default_ttl: Cache lifetime when the response has no usable ``max-age``.
        min_ttl: Lower bound on the cache lifetime (also used for ``no-store``).
        max_ttl: Upper bound on the cache lifetime, whatever ``max-age`` says.
        refetch_cooldown: Minimum seconds between two fetches of one key set caused
            by unknown ``kid`` values (a flood of random kids costs one fetch).
        max_stale: Seconds past expiry that cached keys keep serving launches while
            the platform's key-set endpoint is failing.
        timeout: Seconds allowed for connecting and for each read of the response.
        deadline: Seconds allowed for one whole key-set request, body included,
            however slowly the endpoint sends it (launches waiting for the same
            key set wait at most this long per fetch).
        max_bytes: Largest key-set document accepted.
        min_rsa_bits: Smallest RSA modulus trusted.
    """

    default_ttl: float = 300.0
    min_ttl: float = 60.0
    max_ttl: float = 86_400.0
    refetch_cooldown: float = 30.0
    max_stale: float = 86_400.0
    timeout: float = 10.0
    deadline: float = 15.0
    max_bytes: int = 256 * 1024
    min_rsa_bits: int = 2048

    def __attrs_post_init__(self) -> None:
        try:
            check_deadline(self.deadline)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc


@attrs.frozen(kw_only=True)
class ParsedKey:
    """One usable public key of a key set."""

    kid: str
    key: PublicKey = attrs.field(repr=False)
    alg: str | None = None


@attrs.frozen(kw_only=True)
class KeySetEntry:
    """A cached key set: its keys by ``kid`` and when it was fetched and expires."""

    keys: Mapping[str, tuple[ParsedKey, ...]]
    fetched_at: float
    expires_at: float

    def find(self, kid: str, alg: str) -> PublicKey | None:
        """Return the key with *kid* usable for *alg*, or ``None``.

        ``kty`` (and the curve) must fit *alg*, and a key that declares an ``alg``
        must declare this one (Sec §6.3: match ``kty`` as well as ``kid``).
        """
        for candidate in self.keys.get(kid, ()):
            if (candidate.alg is None or candidate.alg == alg) and key_matches_alg(
                candidate.key, alg
            ):
                return candidate.key
        return None

    def is_fresh(self, now: float) -> bool:
        """Return True while the entry is within its cache lifetime."""
        return now < self.expires_at


def cache_lifetime(cache_control: str | None, policy: JwksPolicy) -> float:
    """Return how long to cache a key set, from its ``Cache-Control`` header.

    ``max-age`` is honoured within ``[min_ttl, max_ttl]``; ``no-store`` and
    ``no-cache`` give ``min_ttl`` (D2L rotates keys hourly with ``no-store``: the
    kid-miss refetch covers rotation, the floor bounds traffic).
    """
    if cache_control:
        if _NO_STORE.search(cache_control):
            return policy.min_ttl
        match = _MAX_AGE.search(cache_control)
        if match:
            return min(max(float(match.group(1)), policy.min_ttl), policy.max_ttl)
    return min(max(policy.default_ttl, policy.min_ttl), policy.max_ttl)


_PRIVATE_PARAMS = ("d", "p", "q", "dp", "dq", "qi", "oth")
_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}


def _b64_int(value: object) -> int:
    if not isinstance(value, str) or not value:
        msg = "key parameter must be non-empty base64url text"
        raise ValueError(msg)
    return int.from_bytes(b64url_decode(value), "big")


def _public_key(item: Mapping[str, Any], kty: str, min_rsa_bits: int) -> PublicKey | None:
    """Build the public key of one JWK (RFC 7518 §6.2-6.3), or None when unusable."""
    if kty == "RSA":
        n, e = _b64_int(item.get("n")), _b64_int(item.get("e"))
        if n.bit_length() < min_rsa_bits or e < 3 or e % 2 == 0:
            return None
        return rsa.RSAPublicNumbers(e, n).public_key()
    curve = _CURVES.get(item.get("crv"))  # type: ignore[arg-type]
    if curve is None:
        return None
    x, y = _b64_int(item.get("x")), _b64_int(item.get("y"))
    return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()  # ValueError if off-curve


def _parse_one(item: Mapping[str, Any], min_rsa_bits: int) -> ParsedKey | None:
    kid = item.get("kid")
    kty = item.get("kty")
    if not isinstance(kid, str) or not kid or kty not in ("RSA", "EC"):
        return None
    use = item.get("use")
    if use is not None and use != "sig":
        return None
    alg = item.get("alg")
    if alg is not None and not isinstance(alg, str):
        return None
    if any(p in item for p in _PRIVATE_PARAMS):
        # A key published with its private half is compromised: anyone who read the
        # key set can sign with it. Never trust it.
        return None
    try:
        key = _public_key(item, kty, min_rsa_bits)
    except (ValueError, TypeError, OverflowError):
        return None
    return None if key is None else ParsedKey(kid=kid, key=key, alg=alg)


def parse_key_set(
    document: object, *, min_rsa_bits: int = 2048
) -> dict[str, tuple[ParsedKey, ...]]:
    """Parse a JWKS document into usable public keys grouped by ``kid``.

    Entries that are malformed, not for signatures, of unsupported type or too weak
    are skipped.

    Raises:
        ValueError: The document is not a JSON object with a ``keys`` array.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        msg = "a key set must be a JSON object with a 'keys' array"
        raise ValueError(msg)  # noqa: TRY004 - callers treat every bad document alike
    grouped: dict[str, list[ParsedKey]] = {}
    for item in document["keys"]:
        if isinstance(item, Mapping):
            parsed = _parse_one(item, min_rsa_bits)
            if parsed is not None:
                grouped.setdefault(parsed.kid, []).append(parsed)
    return {kid: tuple(keys) for kid, keys in grouped.items()}


# --------------------------------------------------------------------------- decisions


class Lookup(enum.Enum):
    """What to do for a key lookup, given the cache's state."""

    #: A usable key is cached (possibly stale, while the endpoint is failing).
    USE = "use"
    #: Fetch the key set: nothing usable is cached (cold or expired), or the fresh
    #: set lacks the kid and no kid-miss refetch happened within the cooldown.
    FETCH = "fetch"
    #: The kid is unknown and a kid-miss refetch happened within the cooldown.
    REJECT = "reject"
    #: The last fetch failed within the cooldown and no stale key fits: fail fast.
    UNAVAILABLE = "unavailable"


def plan_lookup(
    entry: KeySetEntry | None,
    kid: str,
    alg: str,
    *,
    now: float,
    last_miss_fetch: float | None,
    last_failure: float | None,
    policy: JwksPolicy,
) -> tuple[Lookup, PublicKey | None]:
    """Decide whether to use a cached key, fetch the key set, or fail without traffic.

    - A fresh entry with the kid is used.
    - A fresh entry without the kid is refetched (a rotation, Sec §6.4), but at most
      once per ``refetch_cooldown``: a flood of random kids costs one fetch.
    - A cold or expired entry is fetched, unless a fetch failed within the cooldown:
      then stale keys (within ``max_stale``) are used, or the lookup fails fast, so
      an outage at the platform does not make every launch wait for a timeout.
    """
    cooldown = policy.refetch_cooldown
    if entry is not None and entry.is_fresh(now):
        key = entry.find(kid, alg)
        if key is not None:
            return Lookup.USE, key
        if last_miss_fetch is not None and now - last_miss_fetch < cooldown:
            return Lookup.REJECT, None
        return Lookup.FETCH, None
    if last_failure is not None and now - last_failure < cooldown:
        key = stale_fallback(entry, kid, alg, now=now, policy=policy)
        return (Lookup.USE, key) if key is not None else (Lookup.UNAVAILABLE, None)
    return Lookup.FETCH, None


def entry_from_response(
    status: int, cache_control: str | None, body: bytes, *, now: float, policy: JwksPolicy
) -> KeySetEntry:
    """Build a cache entry from a key-set response.

    Raises:
        ValueError: The response is not a 200 with a JSON key set (the message says why).
    """
    if status != 200:
        msg = f"the key-set endpoint answered HTTP {status}"
        raise ValueError(msg)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        msg = "the key-set endpoint did not return JSON"
        raise ValueError(msg) from exc
    keys = parse_key_set(document, min_rsa_bits=policy.min_rsa_bits)
    return KeySetEntry(
        keys=keys, fetched_at=now, expires_at=now + cache_lifetime(cache_control, policy)
    )


def stale_fallback(
    entry: KeySetEntry | None, kid: str, alg: str, *, now: float, policy: JwksPolicy
) -> PublicKey | None:
    """Return a cached key to use while the key-set endpoint fails, if still allowed."""
    if entry is None or now >= entry.expires_at + policy.max_stale:
        return None
    return entry.find(kid, alg)
