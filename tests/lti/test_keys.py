"""Tool keys: generation, kid thumbprints, JWKS publication, rotation, storage at rest."""

from __future__ import annotations

import inspect
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, RSAKey

from credlti.adapters.memory import EncryptedToolKeyStore, MemoryToolKeyStore
from credlti.credentials import EncryptionKey, KeyRing
from credlti.errors import ConfigurationError, CredltiWarning, DecryptionError, InteropWarning
from credlti.lti import Registration
from credlti.lti._jwks import parse_key_set
from credlti.lti._jws import parse_compact, verify_signature
from credlti.lti.keys import (
    KeySet,
    KeyState,
    ToolKey,
    add_next,
    generate_key,
    jwks,
    jwks_headers,
    jwks_json,
    keys_for,
    prune,
    revoke,
    rotate,
    store_differences,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
PRIVATE_PARAMS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

# Key generation is slow: build a small pool once and reuse it.
RSA_A = generate_key(now=NOW, state=KeyState.CURRENT)
RSA_B = generate_key(now=NOW + timedelta(hours=1))
EC_A = generate_key(now=NOW, alg="ES256")
EC_B = generate_key(now=NOW + timedelta(hours=2), alg="ES256", state=KeyState.RETIRED)
POOL = [RSA_A, RSA_B, EC_A, EC_B]


def _registration(client_id: str = "tool-1") -> Registration:
    return Registration(
        issuer="https://lms.example.edu",
        client_id=client_id,
        auth_endpoint="https://lms.example.edu/auth",
        jwks_uri="https://lms.example.edu/jwks",
        token_endpoint="https://lms.example.edu/token",
    )


def _jwk(key: ToolKey) -> dict[str, str | list[str]]:
    return {**key.public_jwk()}


def _ring(*ids: str) -> KeyRing:
    return KeyRing([EncryptionKey(id=i, material=bytes([n]) * 32) for n, i in enumerate(ids, 1)])


# ----------------------------------------------------------------------- generation


def test_generated_rsa_key_is_2048_bits_with_rfc7638_kid() -> None:
    """A default key is RSA-2048 signing RS256, and its kid is the RFC 7638 thumbprint."""
    assert isinstance(RSA_A.private_key, rsa.RSAPrivateKey)
    assert RSA_A.private_key.key_size == 2048
    assert RSA_A.alg == "RS256"
    assert RSA_A.kid == RSAKey.import_key(_jwk(RSA_A)).thumbprint()


def test_ec_key_is_p256_with_rfc7638_kid() -> None:
    """An ES256 key is on P-256 and its kid is the RFC 7638 thumbprint."""
    assert isinstance(EC_A.private_key, ec.EllipticCurvePrivateKey)
    assert EC_A.alg == "ES256"
    assert EC_A.kid == ECKey.import_key(_jwk(EC_A)).thumbprint()


def test_rs256_is_the_default_and_does_not_warn() -> None:
    """Sec §6.1: RS256 is the baseline every platform accepts; choosing it is silent."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        key = generate_key(now=NOW)
    assert key.alg == "RS256"
    assert inspect.signature(generate_key).parameters["alg"].default == "RS256"


def test_choosing_es256_warns_about_interoperability() -> None:
    """ES256 must be chosen explicitly, and choosing it says that many platforms refuse it."""
    with pytest.warns(InteropWarning, match="RS256") as record:
        key = generate_key(now=NOW, alg="ES256")
    assert key.alg == "ES256"
    assert issubclass(InteropWarning, CredltiWarning)
    assert issubclass(CredltiWarning, UserWarning)
    assert record[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=InteropWarning)  # the documented opt-out
        generate_key(now=NOW, alg="ES256")


def test_importing_an_ec_key_does_not_warn() -> None:
    """Loading an existing EC key (from storage, PEM or JWK) is not a new choice: silent."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = ToolKey.from_pem(EC_A.to_pem(), created_at=NOW)
    assert again.alg == "ES256"


@pytest.mark.parametrize("size", [512, 1024, 2047, 2049])
def test_rsa_sizes_other_than_2048_3072_4096_are_refused(size: int) -> None:
    """RSA keys below 2048 bits (or of odd sizes) cannot be generated."""
    with pytest.raises(ConfigurationError, match="RSA key size"):
        generate_key(now=NOW, size=size)


def test_weak_imported_rsa_key_is_refused() -> None:
    """Importing a 1024-bit RSA key fails: Sec §6.1 needs at least 2048 bits."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - deliberately weak
    with pytest.raises(ConfigurationError, match="at least 2048"):
        ToolKey.from_private_key(weak, created_at=NOW)


def test_other_curves_and_unknown_algorithms_are_refused() -> None:
    """Only P-256 EC keys and RS256/ES256 algorithms are accepted."""
    with pytest.raises(ConfigurationError, match="P-256"):
        ToolKey.from_private_key(ec.generate_private_key(ec.SECP384R1()), created_at=NOW)
    with pytest.raises(ConfigurationError, match="alg must be"):
        generate_key(now=NOW, alg="HS256")


def test_alg_must_fit_the_key() -> None:
    """A record claiming ES256 for an RSA key is refused."""
    with pytest.raises(ConfigurationError, match="signs with RS256"):
        ToolKey(kid="k", alg="ES256", private_key=RSA_A.private_key, created_at=NOW)


def test_naive_datetimes_are_refused() -> None:
    """created_at must be timezone-aware."""
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        ToolKey.from_private_key(EC_A.private_key, created_at=datetime(2026, 1, 1))


def test_repr_never_shows_private_material() -> None:
    """The repr of a key and of a key set holds no private number or PEM."""
    assert isinstance(RSA_A.private_key, rsa.RSAPrivateKey)
    numbers = RSA_A.private_key.private_numbers()
    text = repr(RSA_A) + repr(KeySet([RSA_A, EC_A]))
    assert "PRIVATE" not in text
    assert str(numbers.d)[:20] not in text
    assert RSA_A.private_jwk()["d"] not in text


@pytest.mark.parametrize("key", [RSA_A, EC_A], ids=["RS256", "ES256"])
def test_signed_jwt_verifies_and_carries_kid(key: ToolKey) -> None:
    """sign_jwt produces a JWS with alg, typ and kid that verifies with the public key."""
    token = key.sign_jwt({"iss": "tool", "n": 1})
    jws = parse_compact(token)
    assert jws.header == {"alg": key.alg, "typ": "JWT", "kid": key.kid}
    assert jws.payload == {"iss": "tool", "n": 1}
    assert verify_signature(key.public_key, key.alg, jws.signing_input, jws.signature)


# ----------------------------------------------------------------------- JWKS


def test_jwks_has_exactly_the_public_members() -> None:
    """Each JWKS entry holds kty, kid, use=sig, alg and the public numbers only."""
    document = jwks([RSA_A, EC_A])
    rsa_entry, ec_entry = document["keys"]
    assert set(rsa_entry) == {"kty", "kid", "use", "alg", "n", "e"}
    assert rsa_entry["e"] == "AQAB"
    assert (rsa_entry["kty"], rsa_entry["use"], rsa_entry["alg"]) == ("RSA", "sig", "RS256")
    assert set(ec_entry) == {"kty", "kid", "use", "alg", "crv", "x", "y"}
    assert (ec_entry["crv"], ec_entry["alg"]) == ("P-256", "ES256")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(POOL), unique_by=lambda k: k.kid))
def test_jwks_never_contains_private_parameters(keys: list[ToolKey]) -> None:
    """For any set of keys, no private parameter appears and a platform parses every entry."""
    document = jwks(keys)
    for entry in document["keys"]:
        assert not PRIVATE_PARAMS & set(entry)
    serialized = jwks_json(keys).decode()
    for key in keys:
        assert key.private_jwk()["d"] not in serialized
    assert set(parse_key_set(document)) == {k.kid for k in keys}


def test_jwks_publishes_next_current_and_retired_keys() -> None:
    """All states are published: next ahead of use, retired during the overlap."""
    published = {entry["kid"] for entry in jwks(KeySet(POOL))["keys"]}
    assert published == {k.kid for k in POOL}


def test_jwks_headers_set_json_and_cache_lifetime() -> None:
    """The JWKS response is JSON with a Cache-Control max-age (Sec §6.3)."""
    assert jwks_headers(max_age=600) == {
        "Content-Type": "application/json",
        "Cache-Control": "public, max-age=600",
    }
    with pytest.raises(ConfigurationError):
        jwks_headers(max_age=-1)


# ----------------------------------------------------------------------- import / export


@pytest.mark.parametrize("password", [None, b"correct horse"])
def test_pem_round_trip_keeps_the_kid(password: bytes | None) -> None:
    """A key exported as PEM (optionally encrypted) loads back with the same kid."""
    pem = RSA_A.to_pem(password=password)
    loaded = ToolKey.from_pem(pem, created_at=NOW, password=password)
    assert loaded.kid == RSA_A.kid
    assert loaded.public_jwk() == RSA_A.public_jwk()


def test_pem_with_wrong_password_or_public_key_is_refused() -> None:
    """A wrong password or a public-only PEM is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        ToolKey.from_pem(RSA_A.to_pem(password=b"a"), created_at=NOW, password=b"b")
    with pytest.raises(ConfigurationError):
        ToolKey.from_pem(RSA_A.public_pem(), created_at=NOW)


@pytest.mark.parametrize("key", [RSA_A, EC_A], ids=["RS256", "ES256"])
def test_private_jwk_round_trip(key: ToolKey) -> None:
    """A private JWK loads back into the same key (kid kept)."""
    loaded = ToolKey.from_jwk(key.private_jwk(), created_at=NOW)
    assert loaded.kid == key.kid
    assert loaded.private_jwk() == key.private_jwk()


def test_rsa_jwk_without_crt_parameters_loads() -> None:
    """An RSA JWK with only n, e, d recovers its primes and loads."""
    jwk = {k: v for k, v in RSA_A.private_jwk().items() if k in {"kty", "n", "e", "d"}}
    assert ToolKey.from_jwk(jwk, created_at=NOW).kid == RSA_A.kid


def test_public_or_inconsistent_jwk_is_refused() -> None:
    """A public JWK, a foreign kty or a mismatched private exponent are refused."""
    with pytest.raises(ConfigurationError):
        ToolKey.from_jwk(RSA_A.public_jwk(), created_at=NOW)
    with pytest.raises(ConfigurationError):
        ToolKey.from_jwk({"kty": "oct", "k": "AAAA"}, created_at=NOW)
    mixed = {**EC_A.private_jwk(), "d": EC_B.private_jwk()["d"]}
    with pytest.raises(ConfigurationError):
        ToolKey.from_jwk(mixed, created_at=NOW)


def test_record_round_trip_keeps_metadata() -> None:
    """to_record/from_record keep kid, state, dates and owner."""
    key = ToolKey.from_private_key(
        EC_A.private_key,
        created_at=NOW,
        kid="custom-kid",
        state=KeyState.RETIRED,
        retire_after=NOW + timedelta(days=1),
        owner=("https://lms.example.edu", "tool-1"),
    )
    loaded = ToolKey.from_record(key.to_record())
    assert loaded == key
    with pytest.raises(ConfigurationError):
        ToolKey.from_record({"kid": "x"})


# ----------------------------------------------------------------------- rotation


def test_key_set_refuses_two_current_keys_or_duplicate_kids() -> None:
    """A key set has one current key at most and unique kids."""
    second_current = ToolKey.from_private_key(
        EC_A.private_key, created_at=NOW, state=KeyState.CURRENT
    )
    with pytest.raises(ConfigurationError, match="at most one current"):
        KeySet([RSA_A, second_current])
    with pytest.raises(ConfigurationError, match="own kid"):
        KeySet([EC_A, EC_A])


def test_signing_key_is_the_single_current_key() -> None:
    """KeySet.current is the one current key; without one it raises."""
    assert KeySet(POOL).current is RSA_A
    with pytest.raises(ConfigurationError, match="no current"):
        _ = KeySet([RSA_B]).current


def test_rotation_with_overlap() -> None:
    """Next becomes current, current is retired until the overlap ends, then pruned."""
    keys = add_next(KeySet([RSA_A]), EC_A)
    with pytest.raises(ConfigurationError, match="less than"):
        rotate(keys, now=NOW + timedelta(hours=1))

    later = NOW + timedelta(hours=25)
    rotated = rotate(keys, now=later, overlap=timedelta(hours=48), new_next=RSA_B)

    assert rotated.current.kid == EC_A.kid
    (retired,) = rotated.retired_keys
    assert retired.kid == RSA_A.kid
    assert retired.retire_after == later + timedelta(hours=48)
    assert [k.kid for k in rotated.next_keys] == [RSA_B.kid]
    assert {e["kid"] for e in jwks(rotated)["keys"]} == {RSA_A.kid, EC_A.kid, RSA_B.kid}

    assert prune(rotated, now=later + timedelta(hours=47)).get(RSA_A.kid) is not None
    assert prune(rotated, now=later + timedelta(hours=48)).get(RSA_A.kid) is None


def test_rotation_drops_retired_keys_whose_overlap_ended() -> None:
    """rotate prunes expired retired keys first."""
    old = ToolKey.from_private_key(
        EC_B.private_key, created_at=NOW, state=KeyState.RETIRED, retire_after=NOW
    )
    keys = KeySet([RSA_A, old, RSA_B])
    rotated = rotate(keys, now=NOW + timedelta(days=2))
    assert rotated.get(old.kid) is None
    assert rotated.current.kid == RSA_B.kid


def test_rotation_without_next_key_is_refused() -> None:
    """Rotating needs a published next key."""
    with pytest.raises(ConfigurationError, match="no next key"):
        rotate(KeySet([RSA_A]), now=NOW + timedelta(days=3))


def test_revoking_the_current_key_promotes_the_next_one() -> None:
    """On compromise the key disappears at once and the next key signs."""
    keys = KeySet([RSA_A, RSA_B])
    revoked = revoke(keys, RSA_A.kid)
    assert revoked.get(RSA_A.kid) is None
    assert revoked.current.kid == RSA_B.kid
    assert revoke(KeySet([RSA_B]), RSA_B.kid).keys == ()


def test_keys_for_prefers_the_registrations_own_keys() -> None:
    """Per-registration keys win; other registrations fall back to the shared keys."""
    registration = _registration()
    own = ToolKey.from_private_key(
        EC_A.private_key,
        created_at=NOW,
        state=KeyState.CURRENT,
        owner=(registration.issuer, registration.client_id),
    )
    everything = [RSA_A, own]
    assert keys_for(everything, registration).current.kid == own.kid
    assert keys_for(everything, _registration("tool-2")).current.kid == RSA_A.kid
    assert keys_for(everything, None).keys == (RSA_A,)


# ----------------------------------------------------------------------- stores


def test_memory_store_saves_replaces_and_deletes() -> None:
    """The memory store keeps keys by kid."""
    store = MemoryToolKeyStore()
    store.save_key(RSA_B)
    store.save_key(RSA_A)
    assert [k.kid for k in store.list_keys()] == [RSA_A.kid, RSA_B.kid]
    store.save_key(rotate(KeySet([RSA_A, RSA_B]), now=NOW + timedelta(days=2)).current)
    assert store.get_key(RSA_B.kid) is not None
    assert store.get_key(RSA_B.kid).state is KeyState.CURRENT  # type: ignore[union-attr]
    assert store.delete_key(RSA_A.kid)
    assert not store.delete_key(RSA_A.kid)
    assert store.get_key(RSA_A.kid) is None


def test_encrypted_store_keeps_only_ciphertext() -> None:
    """Rows hold AES-GCM ciphertext: no PEM, no private number, no kid-free plaintext."""
    rows: dict[str, bytes] = {}
    store = EncryptedToolKeyStore(_ring("k1"), rows)
    store.save_key(RSA_A)
    store.save_key(EC_A)
    blob = rows[RSA_A.kid]
    assert b"PRIVATE" not in blob
    assert RSA_A.private_jwk()["d"].encode() not in blob
    assert RSA_A.kid.encode() not in blob
    loaded = store.get_key(RSA_A.kid)
    assert loaded is not None
    assert loaded.private_jwk() == RSA_A.private_jwk()
    assert {k.kid for k in store.list_keys()} == {RSA_A.kid, EC_A.kid}
    assert store.delete_key(EC_A.kid)
    assert store.get_key(EC_A.kid) is None


def test_encrypted_row_moved_to_another_kid_fails_to_open() -> None:
    """The associated data binds each ciphertext to its kid."""
    rows: dict[str, bytes] = {}
    store = EncryptedToolKeyStore(_ring("k1"), rows)
    store.save_key(RSA_A)
    rows[EC_A.kid] = rows[RSA_A.kid]
    with pytest.raises(DecryptionError):
        store.get_key(EC_A.kid)


def test_encrypted_store_reencrypts_after_ring_rotation() -> None:
    """After adding a new primary encryption key, reencrypt rewrites old rows."""
    rows: dict[str, bytes] = {}
    EncryptedToolKeyStore(_ring("old"), rows).save_key(RSA_A)
    ring = KeyRing(
        [
            EncryptionKey(id="new", material=b"\x09" * 32),
            EncryptionKey(id="old", material=b"\x01" * 32),
        ]
    )
    store = EncryptedToolKeyStore(ring, rows)
    assert store.reencrypt() == 1
    assert ring.key_id_of(rows[RSA_A.kid]) == "new"
    assert store.reencrypt() == 0
    assert store.get_key(RSA_A.kid) is not None


def test_store_differences_lists_changed_new_and_removed_keys() -> None:
    """After a rotation, the changed and new keys are saved and dropped kids deleted."""
    before = KeySet([RSA_A, RSA_B])
    after = rotate(before, now=NOW + timedelta(days=2), new_next=EC_A)
    to_save, to_delete = store_differences(before, after)
    assert {k.kid for k in to_save} == {RSA_A.kid, RSA_B.kid, EC_A.kid}
    assert to_delete == []
    assert store_differences(after, revoke(after, EC_A.kid)) == ([], [EC_A.kid])
