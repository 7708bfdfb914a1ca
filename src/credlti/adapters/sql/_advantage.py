"""SQL adapters for LTI Advantage: encrypted tool keys and a shared service-token cache.

Both keep secrets encrypted at rest with the vault's :class:`~credlti.credentials.KeyRing`
(AES-256-GCM), bound by associated data to the row they belong to, so a ciphertext
copied to another row fails to open.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credlti._crypto import NONCE_BYTES, associated_data
from credlti.adapters.sql._errors import read, transaction
from credlti.adapters.sql._schema import service_tokens, tool_keys
from credlti.credentials import KeyRing
from credlti.errors import DecryptionError
from credlti.lti._tokens import ServiceToken, TokenCacheKey
from credlti.lti.keys import ToolKey, open_key, seal_key

__all__ = ["SqlServiceTokenCache", "SqlToolKeyStore"]


def _now() -> float:
    return datetime.now(timezone.utc).timestamp()


_ALL_KEYS = sa.select(tool_keys.c.kid, tool_keys.c.ciphertext)


def _opened_keys(rows: Sequence[Any], ring: KeyRing) -> list[ToolKey]:
    """The keys of ``_ALL_KEYS`` rows, decrypted, oldest first."""
    keys = [open_key(row.ciphertext, ring, kid=row.kid) for row in rows]
    return sorted(keys, key=lambda k: (k.created_at, k.kid))


def _stale_keys(rows: Sequence[Any], ring: KeyRing) -> list[ToolKey]:
    """The keys of ``_ALL_KEYS`` rows sealed under an older ring key, decrypted."""
    return [
        open_key(row.ciphertext, ring, kid=row.kid)
        for row in rows
        if ring.key_id_of(row.ciphertext) != ring.primary_id
    ]


@attrs.define
class SqlToolKeyStore:
    """The tool's signing keys in ``credlti_tool_keys``, sealed with the vault's key ring.

    Satisfies :class:`credlti.ports.ToolKeyStore`. Every worker that shares the
    database signs with the same keys and publishes the same JWKS.

    Args:
        engine: A SQLAlchemy engine (see :func:`credlti.adapters.sql.create_engine`).
        ring: The vault's key ring: the primary key encrypts, any key decrypts.
        random_bytes: ``n -> n random bytes`` for GCM nonces; injectable for tests.
    """

    engine: Engine
    _ring: KeyRing = attrs.field(repr=False, alias="ring")
    _random: Callable[[int], bytes] = attrs.field(
        default=secrets.token_bytes, repr=False, alias="random_bytes"
    )

    def list_keys(self) -> list[ToolKey]:
        """Every key (decrypted), oldest first."""
        with read(self.engine, "reading tool keys") as conn:
            rows = conn.execute(_ALL_KEYS).all()
        return _opened_keys(rows, self._ring)

    def get_key(self, kid: str) -> ToolKey | None:
        """The key with *kid* (decrypted), or ``None``."""
        query = sa.select(tool_keys.c.ciphertext).where(tool_keys.c.kid == kid)
        with read(self.engine, "reading a tool key") as conn:
            blob = conn.execute(query).scalar_one_or_none()
        return None if blob is None else open_key(blob, self._ring, kid=kid)

    def save_key(self, key: ToolKey) -> None:
        """Insert the key, or replace the stored key with the same kid."""
        blob = seal_key(key, self._ring, nonce=self._random(NONCE_BYTES))
        values = {"ciphertext": blob, "updated_at": _now()}
        with transaction(self.engine, "saving a tool key") as conn:
            changed = conn.execute(
                tool_keys.update().where(tool_keys.c.kid == key.kid).values(**values)
            ).rowcount
            if not changed:
                conn.execute(tool_keys.insert().values(kid=key.kid, **values))

    def delete_key(self, kid: str) -> bool:
        """Delete the key; True if it existed."""
        with transaction(self.engine, "deleting a tool key") as conn:
            deleted = conn.execute(tool_keys.delete().where(tool_keys.c.kid == kid)).rowcount
        return bool(deleted)

    def reencrypt(self) -> int:
        """Rewrite the keys sealed under an older ring key; return how many changed.

        Keys already sealed under the primary key are left alone, so a second run
        changes nothing and returns 0.
        """
        with read(self.engine, "reading tool keys") as conn:
            rows = conn.execute(_ALL_KEYS).all()
        stale = _stale_keys(rows, self._ring)
        for key in stale:
            self.save_key(key)
        return len(stale)


def _cache_key(key: TokenCacheKey) -> str:
    canonical = json.dumps(
        [key.issuer, key.client_id, key.token_url, sorted(key.scopes), key.deployment_id],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _digest(access_token: str) -> str:
    return hashlib.sha256(access_token.encode()).hexdigest()


def _token_aad(cache_key: str) -> bytes:
    return associated_data("service_token", cache_key, "access_token")


def _opened_token(row: Any, cache_key: str, ring: KeyRing) -> ServiceToken:
    """The token of a ``credlti_service_tokens`` row, decrypted."""
    return ServiceToken(
        access_token=ring.decrypt(row.ciphertext, _token_aad(cache_key)).decode(),
        scopes=frozenset(row.scopes),
        expires_at=datetime.fromtimestamp(row.expires_at, tz=timezone.utc),
        token_type=row.token_type,
    )


def _sealed_token(
    key: TokenCacheKey, cache_key: str, token: ServiceToken, ring: KeyRing, nonce: bytes
) -> dict[str, Any]:
    """The columns of a token's row (other than its cache key), the token sealed."""
    return {
        "issuer": key.issuer,
        "client_id": key.client_id,
        "ciphertext": ring.encrypt(token.access_token.encode(), _token_aad(cache_key), nonce=nonce),
        "token_digest": _digest(token.access_token),
        "scopes": sorted(token.scopes),
        "token_type": token.token_type,
        "expires_at": token.expires_at.timestamp(),
    }


_SEALED_TOKENS = sa.select(service_tokens.c.cache_key, service_tokens.c.ciphertext)


def _stale_tokens(
    rows: Sequence[Any], ring: KeyRing, random: Callable[[int], bytes]
) -> list[sa.Executable]:
    """The statements moving cached tokens sealed under an older ring key to the primary.

    A row is resealed only if it still holds the ciphertext read (a token stored
    meanwhile is newer, and kept). A row no key of the ring opens can never be read
    again: as a cache entry it is deleted (the next call requests a new token).
    """
    statements: list[sa.Executable] = []
    for row in rows:
        old = bytes(row.ciphertext)
        if ring.key_id_of(old) == ring.primary_id:
            continue
        same = (service_tokens.c.cache_key == row.cache_key) & (service_tokens.c.ciphertext == old)
        aad = _token_aad(row.cache_key)
        try:
            plaintext = ring.decrypt(old, aad)
        except DecryptionError:
            statements.append(service_tokens.delete().where(same))
            continue
        new = ring.encrypt(plaintext, aad, nonce=random(NONCE_BYTES))
        statements.append(service_tokens.update().where(same).values(ciphertext=new))
    return statements


def _token_delete(key: TokenCacheKey, only: ServiceToken | None) -> sa.Delete:
    condition = service_tokens.c.cache_key == _cache_key(key)
    if only is not None:
        condition &= service_tokens.c.token_digest == _digest(only.access_token)
    return service_tokens.delete().where(condition)


@attrs.define
class SqlServiceTokenCache:
    """Advantage access tokens in ``credlti_service_tokens``, shared by every worker.

    Satisfies :class:`credlti.ports.ServiceTokenCache`. The access token is sealed
    with the vault's key ring (bound to its cache key); only its SHA-256 is stored in
    clear, for the conditional delete after a 401. Tokens are requested once per
    lifetime by the whole fleet instead of once per worker.

    Args:
        engine: A SQLAlchemy engine.
        ring: The vault's key ring.
        random_bytes: ``n -> n random bytes`` for GCM nonces; injectable for tests.
    """

    engine: Engine
    _ring: KeyRing = attrs.field(repr=False, alias="ring")
    _random: Callable[[int], bytes] = attrs.field(
        default=secrets.token_bytes, repr=False, alias="random_bytes"
    )

    def get_token(self, key: TokenCacheKey) -> ServiceToken | None:
        """The cached token for *key*, or ``None``."""
        cache_key = _cache_key(key)
        query = sa.select(service_tokens).where(service_tokens.c.cache_key == cache_key)
        with read(self.engine, "reading a service token") as conn:
            row = conn.execute(query).first()
        return None if row is None else _opened_token(row, cache_key, self._ring)

    def put_token(self, key: TokenCacheKey, token: ServiceToken) -> None:
        """Store *token* under *key*, replacing any older one."""
        cache_key = _cache_key(key)
        values = _sealed_token(key, cache_key, token, self._ring, self._random(NONCE_BYTES))
        with transaction(self.engine, "storing a service token") as conn:
            changed = conn.execute(
                service_tokens.update()
                .where(service_tokens.c.cache_key == cache_key)
                .values(**values)
            ).rowcount
            if not changed:
                conn.execute(service_tokens.insert().values(cache_key=cache_key, **values))

    def delete_token(self, key: TokenCacheKey, *, only: ServiceToken | None = None) -> bool:
        """Drop the token under *key* (only if it is *only*, when given), in one statement."""
        with transaction(self.engine, "deleting a service token") as conn:
            deleted = conn.execute(_token_delete(key, only)).rowcount
        return bool(deleted)

    def sweep(self, now: datetime) -> int:
        """Delete tokens that expired before *now*; return how many."""
        expired = service_tokens.delete().where(service_tokens.c.expires_at <= now.timestamp())
        with transaction(self.engine, "sweeping service tokens") as conn:
            return int(conn.execute(expired).rowcount)

    def reencrypt(self) -> int:
        """Reseal the cached tokens sealed under an older ring key; return how many changed.

        Run after putting a new key first in the ring (``credlti vault reencrypt`` does).
        A token no key of the ring opens is dropped from the cache and counted.
        """
        with read(self.engine, "reading service tokens") as conn:
            rows = conn.execute(_SEALED_TOKENS).all()
        statements = _stale_tokens(rows, self._ring, self._random)
        if not statements:
            return 0
        with transaction(self.engine, "re-encrypting service tokens") as conn:
            return sum(int(conn.execute(statement).rowcount) for statement in statements)
