"""AES-256-GCM key ring: round trips, associated data binding, rotation, tampering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credlti.credentials import EncryptionKey, KeyRing, associated_data
from credlti.errors import ConfigurationError, DecryptionError

from .helpers import KEY1, KEY2

NONCE = bytes(12)
AAD = associated_data("credential", "c1", "body")


@given(st.binary(max_size=2048), st.text(max_size=20), st.binary(min_size=12, max_size=12))
@settings(max_examples=60)
def test_round_trip(plaintext: bytes, record_id: str, nonce: bytes) -> None:
    """Any plaintext encrypted for a record decrypts back for that record."""
    ring = KeyRing([KEY1])
    aad = associated_data("credential", record_id, "body")
    assert ring.decrypt(ring.encrypt(plaintext, aad, nonce=nonce), aad) == plaintext


@given(st.binary(min_size=1, max_size=256), st.integers(min_value=0), st.integers(1, 255))
@settings(max_examples=80)
def test_any_tampered_byte_is_rejected(plaintext: bytes, where: int, flip: int) -> None:
    """Flipping any bit of a ciphertext makes it fail to open."""
    ring = KeyRing([KEY1])
    sealed = bytearray(ring.encrypt(plaintext, AAD, nonce=NONCE))
    sealed[where % len(sealed)] ^= flip
    with pytest.raises(DecryptionError):
        ring.decrypt(bytes(sealed), AAD)


def test_swapped_ciphertexts_fail() -> None:
    """A ciphertext moved to another record (or field) does not open there."""
    ring = KeyRing([KEY1])
    a = ring.encrypt(b"secret-a", associated_data("credential", "a", "body"), nonce=NONCE)
    with pytest.raises(DecryptionError):
        ring.decrypt(a, associated_data("credential", "b", "body"))
    with pytest.raises(DecryptionError):
        ring.decrypt(a, associated_data("oauth_token", "a", "body"))


def test_associated_data_is_unambiguous() -> None:
    """Length prefixes keep ('ab','c') and ('a','bc') apart."""
    assert associated_data("credential", "ab", "c") != associated_data("credential", "a", "bc")


def test_old_key_still_opens_after_rotation() -> None:
    """With a new primary key in front, old ciphertexts open and new ones use the new key."""
    old = KeyRing([KEY1]).encrypt(b"v", AAD, nonce=NONCE)
    ring = KeyRing([KEY2, KEY1])
    assert ring.decrypt(old, AAD) == b"v"
    assert ring.key_id_of(ring.encrypt(b"v", AAD, nonce=NONCE)) == "k2"


def test_unknown_key_id_names_the_key() -> None:
    """A ciphertext of a removed key raises DecryptionError naming the key id."""
    sealed = KeyRing([KEY1]).encrypt(b"v", AAD, nonce=NONCE)
    with pytest.raises(DecryptionError) as info:
        KeyRing([KEY2]).decrypt(sealed, AAD)
    assert info.value.details["key_id"] == "k1"


@pytest.mark.parametrize("blob", [b"", b"\x02abc", b"\x01\x05k1", b"\x01\x02\xff\xfe" + bytes(40)])
def test_malformed_ciphertexts(blob: bytes) -> None:
    """Wrong version, truncation and bad key ids raise DecryptionError, not a crash."""
    with pytest.raises(DecryptionError):
        KeyRing([KEY1]).decrypt(blob, AAD)


def test_key_material_never_in_repr() -> None:
    """Neither a key nor a ring shows key material."""
    assert repr(bytes(range(32))) not in repr(KEY1)
    assert "material" not in repr(KeyRing([KEY1]))


@pytest.mark.parametrize(
    ("key_id", "material"), [("k", b"short"), ("bad id!", bytes(32)), ("", bytes(32))]
)
def test_bad_keys_rejected(key_id: str, material: bytes) -> None:
    """Keys must be 32 bytes with a safe id."""
    with pytest.raises(ConfigurationError):
        EncryptionKey(id=key_id, material=material)


def test_ring_rules() -> None:
    """A ring needs keys with unique ids; base64 keys are decoded and checked."""
    with pytest.raises(ConfigurationError):
        KeyRing([])
    with pytest.raises(ConfigurationError):
        KeyRing([KEY1, KEY1])
    with pytest.raises(ConfigurationError):
        EncryptionKey.from_base64("k", "not base64!")
    assert EncryptionKey.from_base64("k", "A" * 43 + "=").material == bytes(32)


def test_nonce_length_checked() -> None:
    """A nonce that is not 12 bytes is refused."""
    with pytest.raises(ValueError, match="12 bytes"):
        KeyRing([KEY1]).encrypt(b"x", AAD, nonce=b"short")
