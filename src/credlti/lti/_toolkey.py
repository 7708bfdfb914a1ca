"""The tool's signing key record, :class:`ToolKey`, and :func:`generate_key`.

A record module: the ports (:mod:`credlti.lti.ports`) and the key-set logic
(:mod:`credlti.lti.keys`, which re-exports everything here) build on it.
Pure apart from key generation, which draws from the operating system's random
source; ``now`` is always passed in.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from credlti.errors import ConfigurationError, InteropWarning
from credlti.lti._jws import b64url_decode

__all__ = [
    "RECORD_TYPE",
    "RSA_KEY_SIZES",
    "SIGNING_ALGORITHMS",
    "KeyState",
    "PrivateKey",
    "ToolKey",
    "generate_key",
    "thumbprint",
]

#: The private key types a tool key may hold.
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: RSA modulus sizes :func:`generate_key` accepts (Sec §6.1: at least 2048 bits).
RSA_KEY_SIZES = (2048, 3072, 4096)
#: The algorithms tool keys sign with: RS256 (the LTI baseline) and ES256.
SIGNING_ALGORITHMS = frozenset({"RS256", "ES256"})

_MIN_RSA_BITS = 2048
_MAX_KID = 255
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
RECORD_TYPE = "tool_key"


class KeyState(enum.Enum):
    """Where a key is in its life (Sec §6.4)."""

    #: Published in the JWKS, not yet signing (waiting for platform caches to refresh).
    NEXT = "next"
    #: The single signing key; published.
    CURRENT = "current"
    #: No longer signing; published until ``retire_after``, then dropped.
    RETIRED = "retired"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_uint(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64(value.to_bytes(size, "big"))


def _uint(value: object, name: str) -> int:
    if not isinstance(value, str) or not value:
        msg = f"JWK parameter {name!r} must be non-empty base64url text"
        raise ConfigurationError(msg, spec_ref="RFC 7518 §6")
    try:
        return int.from_bytes(b64url_decode(value), "big")
    except ValueError as exc:
        msg = f"JWK parameter {name!r} is not valid base64url"
        raise ConfigurationError(msg, spec_ref="RFC 7518 §6") from exc


def _check_private_key(key: object) -> str:
    """Return the algorithm *key* signs with, or raise ConfigurationError."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            msg = f"RSA tool keys must have at least {_MIN_RSA_BITS} bits, got {key.key_size}"
            raise ConfigurationError(msg, spec_ref="Sec §6.1")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            msg = f"EC tool keys must use the P-256 curve (ES256), got {key.curve.name}"
            raise ConfigurationError(msg, spec_ref="Sec §6.1")
        return "ES256"
    msg = (
        "a tool key must be an RSA or EC (P-256) private key; "
        f"got {type(key).__name__} (public keys cannot sign)"
    )
    raise ConfigurationError(msg, spec_ref="Sec §6.1")


def _public_members(key: PrivateKey) -> dict[str, str]:
    """The RFC 7638 required public members of *key*."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"e": _b64_uint(numbers.e), "kty": "RSA", "n": _b64_uint(numbers.n)}
    point = key.public_key().public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64_uint(point.x, 32),
        "y": _b64_uint(point.y, 32),
    }


def thumbprint(key: PrivateKey) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of *key*'s public half (base64url)."""
    members = _public_members(key)
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def _check_kid(_inst: object, _attr: attrs.Attribute[str], value: object) -> None:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > _MAX_KID
        or not value.isascii()
        or not value.isprintable()
    ):
        msg = "kid must be 1-255 printable ASCII characters"
        raise ConfigurationError(msg, spec_ref="Sec §6.3")


def _check_aware(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() is None:
        msg = f"{attr.name} must be a timezone-aware datetime"
        raise ConfigurationError(msg)


def _as_owner(value: Any) -> tuple[str, str] | None:
    if value is None:
        return None
    owner: tuple[Any, ...] = tuple(value)
    if len(owner) != 2 or not all(isinstance(part, str) and part for part in owner):
        msg = "owner must be None (shared) or an (issuer, client_id) pair"
        raise ConfigurationError(msg)
    return (owner[0], owner[1])


@attrs.frozen(kw_only=True)
class ToolKey:
    """One signing key of the tool, with its state in the rotation.

    Build keys with :func:`generate_key`, :meth:`from_pem` or :meth:`from_jwk`; the
    constructor checks that the key can sign and that ``alg`` fits it.

    Attributes:
        kid: The key id carried in every JWT header it signs (Sec §6.3).
        alg: ``"RS256"`` for RSA keys, ``"ES256"`` for P-256 keys.
        private_key: The private key (never shown in a repr).
        created_at: When the key was made (and, for *next* keys, published).
        state: :class:`KeyState` (next, current or retired).
        retire_after: For retired keys, when the overlap ends and the key may be
            dropped from the JWKS.
        owner: ``None`` for a key shared by every registration, or the
            ``(issuer, client_id)`` of the one registration it belongs to (Sec §7.2
            recommends a key per platform).
    """

    kid: str = attrs.field(validator=_check_kid)
    alg: str
    private_key: PrivateKey = attrs.field(repr=False, eq=False)
    created_at: datetime = attrs.field(validator=_check_aware)
    state: KeyState = KeyState.NEXT
    retire_after: datetime | None = attrs.field(default=None, validator=_check_aware)
    owner: tuple[str, str] | None = attrs.field(default=None, converter=_as_owner)

    def __attrs_post_init__(self) -> None:
        alg = _check_private_key(self.private_key)
        if self.alg != alg:
            msg = f"this key signs with {alg}, not {self.alg!r}"
            raise ConfigurationError(msg, spec_ref="Sec §6.1")

    # ------------------------------------------------------------- construction

    @classmethod
    def from_private_key(
        cls,
        private_key: PrivateKey,
        *,
        created_at: datetime,
        state: KeyState = KeyState.NEXT,
        kid: str | None = None,
        owner: tuple[str, str] | None = None,
        retire_after: datetime | None = None,
    ) -> ToolKey:
        """Wrap a ``cryptography`` private key; the kid defaults to its thumbprint.

        Raises:
            ConfigurationError: The key is public, too weak (RSA < 2048 bits) or of
                an unsupported type or curve.
        """
        alg = _check_private_key(private_key)
        return cls(
            kid=kid if kid is not None else thumbprint(private_key),
            alg=alg,
            private_key=private_key,
            created_at=created_at,
            state=state,
            owner=owner,
            retire_after=retire_after,
        )

    @classmethod
    def from_pem(
        cls,
        pem: bytes | str,
        *,
        created_at: datetime,
        password: bytes | None = None,
        state: KeyState = KeyState.NEXT,
        kid: str | None = None,
        owner: tuple[str, str] | None = None,
    ) -> ToolKey:
        """Load a PEM private key (PKCS#8 or traditional, optionally encrypted).

        Raises:
            ConfigurationError: The PEM is not a usable private key, or the password
                is wrong.
        """
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            private_key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as exc:
            msg = (
                "the PEM is not a private key this library can use (wrong password, "
                "a public key, or not PEM at all)"
            )
            raise ConfigurationError(msg) from exc
        return cls.from_private_key(
            private_key,  # type: ignore[arg-type]  # checked by from_private_key
            created_at=created_at,
            state=state,
            kid=kid,
            owner=owner,
        )

    @classmethod
    def from_jwk(
        cls,
        jwk: Mapping[str, Any],
        *,
        created_at: datetime,
        state: KeyState = KeyState.NEXT,
        owner: tuple[str, str] | None = None,
    ) -> ToolKey:
        """Load a private JWK (RFC 7517); its ``kid`` is kept, or the thumbprint is used.

        Raises:
            ConfigurationError: The JWK is public-only, malformed, or inconsistent.
        """
        kty = jwk.get("kty")
        try:
            private_key: PrivateKey
            if kty == "RSA":
                n, e = _uint(jwk.get("n"), "n"), _uint(jwk.get("e"), "e")
                d = _uint(jwk.get("d"), "d")
                public = rsa.RSAPublicNumbers(e, n)
                if all(name in jwk for name in ("p", "q", "dp", "dq", "qi")):
                    p, q = _uint(jwk["p"], "p"), _uint(jwk["q"], "q")
                    dp, dq = _uint(jwk["dp"], "dp"), _uint(jwk["dq"], "dq")
                    qi = _uint(jwk["qi"], "qi")
                else:
                    p, q = rsa.rsa_recover_prime_factors(n, e, d)
                    dp, dq = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q)
                    qi = rsa.rsa_crt_iqmp(p, q)
                numbers = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public)
                private_key = numbers.private_key()
            elif kty == "EC":
                if jwk.get("crv") != "P-256":
                    msg = f"EC tool keys must use the P-256 curve, got {jwk.get('crv')!r}"
                    raise ConfigurationError(msg, spec_ref="Sec §6.1")
                point = ec.EllipticCurvePublicNumbers(
                    _uint(jwk.get("x"), "x"), _uint(jwk.get("y"), "y"), ec.SECP256R1()
                )
                private_key = ec.EllipticCurvePrivateNumbers(
                    _uint(jwk.get("d"), "d"), point
                ).private_key()
            else:
                msg = f"a tool key JWK must have kty 'RSA' or 'EC', got {kty!r}"
                raise ConfigurationError(msg)
        except (ValueError, TypeError, OverflowError) as exc:
            msg = "the JWK is not a consistent private key"
            raise ConfigurationError(msg) from exc
        kid = jwk.get("kid")
        return cls.from_private_key(
            private_key,
            created_at=created_at,
            state=state,
            kid=kid if isinstance(kid, str) and kid else None,
            owner=owner,
        )

    # ------------------------------------------------------------- export

    @property
    def public_key(self) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        """The public half of the key."""
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, str]:
        """The public JWK as published: ``kty``, ``kid``, ``use``, ``alg`` and the public numbers.

        Built from the public key's numbers by name, so it cannot carry ``d``,
        ``p``, ``q``, ``dp``, ``dq`` or ``qi`` (Sec §6.2).
        """
        members = _public_members(self.private_key)
        return {"kid": self.kid, "use": "sig", "alg": self.alg, **members}

    def private_jwk(self) -> dict[str, str]:
        """The private JWK, for host storage (encrypt it: see :func:`seal_key`)."""
        jwk: dict[str, str] = {**self.public_jwk()}
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            numbers = self.private_key.private_numbers()
            jwk.update(
                d=_b64_uint(numbers.d),
                p=_b64_uint(numbers.p),
                q=_b64_uint(numbers.q),
                dp=_b64_uint(numbers.dmp1),
                dq=_b64_uint(numbers.dmq1),
                qi=_b64_uint(numbers.iqmp),
            )
        else:
            jwk["d"] = _b64_uint(self.private_key.private_numbers().private_value, 32)
        return jwk

    def to_pem(self, *, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted with *password* if given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM (for platforms that take a PEM)."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready record of the key and its metadata, *including the private key*.

        Store it encrypted only (:func:`seal_key` does that).
        """
        return {
            "kid": self.kid,
            "alg": self.alg,
            "state": self.state.value,
            "created_at": self.created_at.isoformat(),
            "retire_after": self.retire_after.isoformat() if self.retire_after else None,
            "owner": list(self.owner) if self.owner else None,
            "jwk": self.private_jwk(),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ToolKey:
        """Rebuild a key from :meth:`to_record`'s output.

        Raises:
            ConfigurationError: The record is malformed.
        """
        try:
            key = cls.from_jwk(
                record["jwk"],
                created_at=datetime.fromisoformat(record["created_at"]),
                state=KeyState(record["state"]),
                owner=record.get("owner"),
            )
            retire_after = record.get("retire_after")
            return attrs.evolve(
                key,
                kid=record["kid"],
                retire_after=datetime.fromisoformat(retire_after) if retire_after else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = "the stored tool key record is malformed"
            raise ConfigurationError(msg) from exc

    # ------------------------------------------------------------- signing

    def sign_jwt(self, claims: Mapping[str, Any], *, typ: str = "JWT") -> str:
        """Sign *claims* as a compact JWS with header ``{alg, typ, kid}`` (Sec §5.4, §6.3)."""
        header = {"alg": self.alg, "typ": typ, "kid": self.kid}
        h64 = _b64(json.dumps(header, separators=(",", ":")).encode())
        p64 = _b64(json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False).encode())
        signing_input = f"{h64}.{p64}".encode("ascii")
        key = self.private_key
        if isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(signing_input, _PKCS1, _SHA256)
        else:
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(_SHA256)))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{h64}.{p64}.{_b64(signature)}"


def generate_key(
    *,
    now: datetime,
    alg: str = "RS256",
    size: int = 2048,
    state: KeyState = KeyState.NEXT,
    owner: tuple[str, str] | None = None,
) -> ToolKey:
    """Generate a new signing key whose kid is its RFC 7638 thumbprint.

    RS256 is the default and the right choice for almost every tool: it is the LTI
    baseline (Sec §6.1) and many platforms verify tool JWTs (client assertions,
    deep-linking responses) with RS256 only. Choosing ES256 must be explicit and
    emits an :class:`~credlti.errors.InteropWarning`.

    Args:
        now: The creation time (pass your clock's value).
        alg: ``"RS256"`` (RSA, the LTI baseline) or ``"ES256"`` (EC P-256; warns).
        size: RSA modulus bits: 2048, 3072 or 4096 (ignored for ES256).
        state: The new key's state; :data:`KeyState.NEXT` to publish it ahead of use.
        owner: ``None`` (shared) or the ``(issuer, client_id)`` it belongs to.

    Raises:
        ConfigurationError: Unsupported algorithm or key size.
    """
    private_key: PrivateKey
    if alg == "RS256":
        if size not in RSA_KEY_SIZES:
            msg = f"RSA key size must be one of {RSA_KEY_SIZES} bits, got {size}"
            raise ConfigurationError(msg, spec_ref="Sec §6.1")
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=size)
    elif alg == "ES256":
        warnings.warn(
            "ES256 tool keys sign JWTs that many LTI platforms refuse: the baseline "
            "is RS256 (Sec §6.1). Use ES256 only if every platform you serve accepts it",
            InteropWarning,
            stacklevel=2,
        )
        private_key = ec.generate_private_key(ec.SECP256R1())
    else:
        msg = f"alg must be one of {sorted(SIGNING_ALGORITHMS)}, got {alg!r}"
        raise ConfigurationError(msg, spec_ref="Sec §6.1")
    return ToolKey.from_private_key(private_key, created_at=now, state=state, owner=owner)


# --------------------------------------------------------------------------- key sets
