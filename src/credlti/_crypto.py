"""AES-256-GCM encryption at rest with a key ring (pure: the caller passes the nonce).

Ciphertext layout (all one ``bytes`` value, stored as is)::

    0x01 | len(key_id) (1 byte) | key_id (ASCII) | nonce (12 bytes) | ciphertext + tag (16)

The associated data binds every ciphertext to its record: ``record type``, ``record
id`` and ``field`` are authenticated but not stored, so a ciphertext copied to another
row (or another column) fails to open.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Any

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from credlti.errors import ConfigurationError, DecryptionError

__all__ = ["NONCE_BYTES", "EncryptionKey", "KeyRing", "associated_data"]

VERSION = 1
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}\Z")


def associated_data(record_type: str, record_id: str, field: str) -> bytes:
    """The associated data binding a ciphertext to one field of one record."""
    parts = (b"credlti-vault-v1", record_type.encode(), record_id.encode(), field.encode())
    # Length-prefix every part so ("ab", "c") and ("a", "bc") differ.
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


@attrs.frozen(kw_only=True)
class EncryptionKey:
    """One AES-256 key with its id. The key material never appears in a repr."""

    id: str
    material: bytes = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        if not _KEY_ID.match(self.id):
            msg = "key id must be 1-64 characters of letters, digits and . _ : -"
            raise ConfigurationError(msg)
        if len(self.material) != 32:
            msg = (
                f"key {self.id!r} must be exactly 32 bytes (AES-256), e.g. secrets.token_bytes(32)"
            )
            raise ConfigurationError(msg)

    @classmethod
    def from_base64(cls, key_id: str, value: str) -> EncryptionKey:
        """Build a key from its base64 text (how keys live in environment variables)."""
        try:
            material = base64.b64decode(value, validate=True)
        except ValueError:
            msg = f"key {key_id!r} is not valid base64"
            raise ConfigurationError(msg) from None
        return cls(id=key_id, material=material)


@attrs.define(init=False)
class KeyRing:
    """Ordered keys: the first (primary) encrypts, any of them decrypts.

    Add a new key in front to rotate; old ciphertexts keep opening until
    :meth:`credlti.credentials.Vault.reencrypt` has rewritten them, after which the
    old key can be dropped.

    Example::

        ring = KeyRing([
            EncryptionKey(id="2026-02", material=new),   # primary: encrypts
            EncryptionKey(id="2026-01", material=old),   # still decrypts
        ])
    """

    _keys: dict[str, AESGCM] = attrs.field(repr=False)
    primary_id: str

    def __init__(self, keys: Sequence[EncryptionKey]) -> None:
        if not keys:
            msg = "a KeyRing needs at least one key"
            raise ConfigurationError(msg)
        ids = [k.id for k in keys]
        if len(set(ids)) != len(ids):
            msg = f"key ids must be unique, got {ids}"
            raise ConfigurationError(msg)
        self._keys = {k.id: AESGCM(k.material) for k in keys}
        self.primary_id = keys[0].id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The key ids, primary first."""
        return tuple(self._keys)

    def encrypt(self, plaintext: bytes, aad: bytes, *, nonce: bytes) -> bytes:
        """Encrypt under the primary key. *nonce* must be 12 fresh random bytes."""
        if len(nonce) != NONCE_BYTES:
            msg = f"nonce must be {NONCE_BYTES} bytes"
            raise ValueError(msg)
        kid = self.primary_id.encode()
        sealed = self._keys[self.primary_id].encrypt(nonce, plaintext, aad)
        return bytes([VERSION, len(kid)]) + kid + nonce + sealed

    def key_id_of(self, ciphertext: bytes) -> str:
        """The key id a ciphertext was made with (raises DecryptionError if malformed)."""
        return self._split(ciphertext)[0]

    def decrypt(self, ciphertext: bytes, aad: bytes) -> bytes:
        """Open a ciphertext made by any key of the ring for the same *aad*."""
        kid, nonce, sealed = self._split(ciphertext)
        cipher = self._keys.get(kid)
        if cipher is None:
            raise DecryptionError(
                f"ciphertext was made with key {kid!r}, which is not in the key ring; "
                "add the old key back (after the primary) until re-encryption has run",
                details={"key_id": kid},
            )
        try:
            return cipher.decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise DecryptionError(
                "ciphertext failed authentication: it was altered or belongs to another record",
                details={"key_id": kid},
            ) from None

    def encrypt_json(self, value: Any, aad: bytes, *, nonce: bytes) -> bytes:
        """Encrypt a JSON-serialisable value."""
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        return self.encrypt(text.encode(), aad, nonce=nonce)

    def decrypt_json(self, ciphertext: bytes, aad: bytes) -> Any:
        """Open a ciphertext made by :meth:`encrypt_json`."""
        return json.loads(self.decrypt(ciphertext, aad))

    @staticmethod
    def _split(ciphertext: bytes) -> tuple[str, bytes, bytes]:
        if len(ciphertext) < 2 or ciphertext[0] != VERSION:
            msg = "ciphertext has an unknown format version"
            raise DecryptionError(msg)
        n = ciphertext[1]
        head = 2 + n
        if len(ciphertext) < head + NONCE_BYTES + 16:
            msg = "ciphertext is truncated"
            raise DecryptionError(msg)
        try:
            kid = ciphertext[2:head].decode("ascii")
        except UnicodeDecodeError:
            msg = "ciphertext has a malformed key id"
            raise DecryptionError(msg) from None
        return kid, ciphertext[head : head + NONCE_BYTES], ciphertext[head + NONCE_BYTES :]
