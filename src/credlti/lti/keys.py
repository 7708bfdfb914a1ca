"""The tool's own signing keys: generation, rotation with overlap, the public JWKS (Sec §6).

A tool signs two kinds of JWTs: client assertions for service tokens (Sec §4.1.1)
and deep-linking responses (DL §4.5). Platforms verify them with the public keys
the tool publishes at its JWKS URL. This module holds those keys as
:class:`ToolKey` records and the pure functions that manage them::

    from datetime import datetime, timedelta, timezone
    from credlti.lti.keys import KeySet, KeyState, generate_key, jwks, rotate

    now = datetime.now(timezone.utc)
    keys = KeySet([generate_key(now=now, state=KeyState.CURRENT)])
    document = jwks(keys)                      # serve at your JWKS URL

Rules of this module:

1. Pure apart from key generation (which draws from the operating system's random
   source): no clock reads (``now`` is passed in), no IO. Storage goes through the
   :class:`~credlti.ports.ToolKeyStore` port.
2. A key's private material never appears in a ``repr``, an error message or a
   JWKS document: :func:`jwks` copies public parameters by name from the public key
   (an allow-list), so no private parameter can reach it.
3. Every key has a ``kid`` (Sec §6.3); generated keys use the RFC 7638 thumbprint,
   so a kid is never reused for a different key.
4. Exactly one key is *current* (signs); *next* keys are published ahead of use;
   *retired* keys stay published until ``retire_after`` (the overlap window,
   Sec §6.4), then :func:`prune` drops them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import attrs

from credlti._crypto import KeyRing, associated_data
from credlti.errors import ConfigurationError, DecryptionError
from credlti.lti._toolkey import (
    RECORD_TYPE,
    RSA_KEY_SIZES,
    SIGNING_ALGORITHMS,
    KeyState,
    PrivateKey,
    ToolKey,
    generate_key,
    thumbprint,
)
from credlti.lti.ports import Registerable

__all__ = [
    "RSA_KEY_SIZES",
    "SIGNING_ALGORITHMS",
    "KeySet",
    "KeyState",
    "PrivateKey",
    "ToolKey",
    "add_next",
    "generate_key",
    "jwks",
    "jwks_headers",
    "jwks_json",
    "key_owner",
    "keys_for",
    "open_key",
    "prune",
    "revoke",
    "rotate",
    "seal_key",
    "store_differences",
    "thumbprint",
]


def _key_tuple(keys: Iterable[ToolKey]) -> tuple[ToolKey, ...]:
    return tuple(keys)


def _check_key_set(_inst: object, _attr: attrs.Attribute[Any], keys: tuple[Any, ...]) -> None:
    for key in keys:
        if not isinstance(key, ToolKey):
            msg = f"a KeySet holds ToolKey records, got {type(key).__name__}"
            raise TypeError(msg)
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        msg = "every key in a key set must have its own kid (Sec §6.3)"
        raise ConfigurationError(msg, spec_ref="Sec §6.3")
    if sum(key.state is KeyState.CURRENT for key in keys) > 1:
        msg = "a key set has at most one current (signing) key"
        raise ConfigurationError(msg, spec_ref="Sec §6.4")


@attrs.frozen
class KeySet:
    """The tool's keys in rotation: at most one current key, any number of next/retired.

    Iterating yields every key (all are published). Pure functions
    (:func:`rotate`, :func:`prune`, :func:`add_next`, :func:`revoke`) return new sets.
    """

    keys: tuple[ToolKey, ...] = attrs.field(converter=_key_tuple, validator=_check_key_set)

    def __iter__(self) -> Iterator[ToolKey]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def current(self) -> ToolKey:
        """The single signing key.

        Raises:
            ConfigurationError: The set has no current key (generate one, or rotate
                a next key in).
        """
        for key in self.keys:
            if key.state is KeyState.CURRENT:
                return key
        msg = "the key set has no current signing key; generate one or rotate a next key in"
        raise ConfigurationError(msg, spec_ref="Sec §6.4")

    @property
    def next_keys(self) -> tuple[ToolKey, ...]:
        """Keys published ahead of use, oldest first."""
        return tuple(
            sorted((k for k in self.keys if k.state is KeyState.NEXT), key=lambda k: k.created_at)
        )

    @property
    def retired_keys(self) -> tuple[ToolKey, ...]:
        """Keys still published during their overlap window."""
        return tuple(k for k in self.keys if k.state is KeyState.RETIRED)

    def get(self, kid: str) -> ToolKey | None:
        """The key with *kid*, or ``None``."""
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


def _as_keys(keys: KeySet | Iterable[ToolKey]) -> tuple[ToolKey, ...]:
    return keys.keys if isinstance(keys, KeySet) else tuple(keys)


def add_next(keys: KeySet, key: ToolKey) -> KeySet:
    """Return *keys* plus *key* as a *next* key (published, not signing yet)."""
    return KeySet([*keys.keys, attrs.evolve(key, state=KeyState.NEXT, retire_after=None)])


def prune(keys: KeySet, *, now: datetime) -> KeySet:
    """Drop retired keys whose overlap window ended (``retire_after <= now``)."""
    return KeySet(
        [
            k
            for k in keys.keys
            if not (
                k.state is KeyState.RETIRED and k.retire_after is not None and k.retire_after <= now
            )
        ]
    )


def rotate(
    keys: KeySet,
    *,
    now: datetime,
    overlap: timedelta = timedelta(hours=24),
    min_next_age: timedelta = timedelta(hours=24),
    new_next: ToolKey | None = None,
) -> KeySet:
    """Rotate: the oldest next key becomes current, the current one is retired (Sec §6.4).

    Retired keys whose overlap ended are dropped first. The old current key stays
    published until ``now + overlap``. With *new_next*, that key joins as the next
    key, so the following rotation has a key that platforms have already cached.

    Args:
        keys: The key set before rotation.
        now: The current time.
        overlap: How long the retired key stays published (the longest time a JWT
            it signed can live plus platform cache lifetimes; 24-48 h is usual).
        min_next_age: The next key must have been published this long (platform
            caches must have seen it before it signs; Sec §6.4).
        new_next: An optional new key to publish as the next one.

    Raises:
        ConfigurationError: There is no next key, or it is younger than *min_next_age*.
    """
    pruned = prune(keys, now=now)
    candidates = pruned.next_keys
    if not candidates:
        msg = "no next key to rotate in: add one with add_next() and publish it first"
        raise ConfigurationError(msg, spec_ref="Sec §6.4")
    incoming = candidates[0]
    if now - incoming.created_at < min_next_age:
        msg = (
            f"the next key {incoming.kid!r} was published less than {min_next_age} ago; "
            "platforms may not have fetched it yet (wait, or lower min_next_age)"
        )
        raise ConfigurationError(msg, spec_ref="Sec §6.4")
    rotated: list[ToolKey] = []
    for key in pruned.keys:
        if key.kid == incoming.kid:
            rotated.append(attrs.evolve(key, state=KeyState.CURRENT, retire_after=None))
        elif key.state is KeyState.CURRENT:
            rotated.append(attrs.evolve(key, state=KeyState.RETIRED, retire_after=now + overlap))
        else:
            rotated.append(key)
    if new_next is not None:
        rotated.append(attrs.evolve(new_next, state=KeyState.NEXT, retire_after=None))
    return KeySet(rotated)


def revoke(keys: KeySet, kid: str) -> KeySet:
    """Remove key *kid* at once (compromise: no overlap, Sec §6.4).

    If it was the current key, the oldest next key (if any) becomes current;
    otherwise the set is left without a signing key until you add one.
    """
    remaining = [k for k in keys.keys if k.kid != kid]
    revoked = keys.get(kid)
    if revoked is not None and revoked.state is KeyState.CURRENT:
        waiting = sorted(
            (k for k in remaining if k.state is KeyState.NEXT), key=lambda k: k.created_at
        )
        if waiting:
            promoted = waiting[0].kid
            remaining = [
                attrs.evolve(k, state=KeyState.CURRENT) if k.kid == promoted else k
                for k in remaining
            ]
    return KeySet(remaining)


def store_differences(before: KeySet, after: KeySet) -> tuple[list[ToolKey], list[str]]:
    """What to write back to a :class:`~credlti.ports.ToolKeyStore` after a change.

    Returns the keys to save (new or changed) and the kids to delete.
    """
    old = {key.kid: key for key in before.keys}
    to_save = [key for key in after.keys if old.get(key.kid) != key]
    kept = {key.kid for key in after.keys}
    return to_save, [kid for kid in old if kid not in kept]


# --------------------------------------------------------------------------- publishing


def jwks(keys: KeySet | Iterable[ToolKey]) -> dict[str, list[dict[str, str]]]:
    """The public JWKS document ``{"keys": [...]}`` of every key given (Sec §6.2).

    Next, current and retired keys are all published. Each entry has ``kty``,
    ``kid``, ``use: "sig"``, ``alg`` and only the public numbers (``n``, ``e`` or
    ``crv``, ``x``, ``y``).
    """
    return {"keys": [key.public_jwk() for key in _as_keys(keys)]}


def jwks_json(keys: KeySet | Iterable[ToolKey]) -> bytes:
    """The JWKS document as UTF-8 JSON bytes, ready to serve."""
    return json.dumps(jwks(keys), separators=(",", ":"), sort_keys=True).encode()


def jwks_headers(*, max_age: int = 3600) -> dict[str, str]:
    """Response headers for the JWKS URL: JSON, cacheable for *max_age* seconds (Sec §6.3).

    Keep *max_age* well below the rotation's ``min_next_age`` so platforms see a next
    key before it starts signing.
    """
    if max_age < 0:
        msg = "max_age must be >= 0"
        raise ConfigurationError(msg)
    return {
        "Content-Type": "application/json",
        "Cache-Control": f"public, max-age={max_age}",
    }


# --------------------------------------------------------------------------- per registration


def key_owner(registration: Registerable) -> tuple[str, str]:
    """The ``(issuer, client_id)`` owner tuple of a registration."""
    record = registration.to_registration()
    return (record.issuer, record.client_id)


def keys_for(keys: KeySet | Iterable[ToolKey], registration: Registerable | None) -> KeySet:
    """The key set that signs for *registration*.

    Keys owned by that registration win; when it owns none, the shared keys (owner
    ``None``) are used. With *registration* ``None``, the shared keys.
    """
    all_keys = _as_keys(keys)
    if registration is not None:
        owner = key_owner(registration)
        own = [k for k in all_keys if k.owner == owner]
        if own:
            return KeySet(own)
    return KeySet([k for k in all_keys if k.owner is None])


# --------------------------------------------------------------------------- encryption at rest


def _aad(kid: str) -> bytes:
    return associated_data(RECORD_TYPE, kid, "record")


def seal_key(key: ToolKey, ring: KeyRing, *, nonce: bytes) -> bytes:
    """Encrypt the key record with the vault's key ring, bound to its kid.

    Args:
        key: The key to store.
        ring: The vault's :class:`~credlti.credentials.KeyRing` (AES-256-GCM).
        nonce: 12 fresh random bytes (``secrets.token_bytes(12)``).
    """
    return ring.encrypt_json(key.to_record(), _aad(key.kid), nonce=nonce)


def open_key(ciphertext: bytes, ring: KeyRing, *, kid: str) -> ToolKey:
    """Decrypt a key stored under *kid* by :func:`seal_key`.

    Raises:
        DecryptionError: Unknown encryption key, tampering, or a ciphertext stored
            under another kid.
    """
    record = ring.decrypt_json(ciphertext, _aad(kid))
    key = ToolKey.from_record(record)
    if key.kid != kid:  # pragma: no cover - the AAD already binds the kid
        msg = "the stored key belongs to another kid"
        raise DecryptionError(msg)
    return key
