"""Tool key stores: plain in memory, and encrypted at rest with the vault's key ring.

Both satisfy :class:`~credlti.ports.ToolKeyStore` and are thread-safe; their async forms
(``Async...``) satisfy :class:`~credlti.ports.AsyncToolKeyStore`.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, MutableMapping

import attrs

from credlti._crypto import NONCE_BYTES, KeyRing
from credlti.lti.keys import ToolKey, open_key, seal_key

__all__ = [
    "AsyncEncryptedToolKeyStore",
    "AsyncMemoryToolKeyStore",
    "EncryptedToolKeyStore",
    "MemoryToolKeyStore",
]


@attrs.define
class MemoryToolKeyStore:
    """Tool keys in a dict, by kid (lost when the process exits)."""

    _keys: dict[str, ToolKey] = attrs.field(factory=dict, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def list_keys(self) -> list[ToolKey]:
        """Every key, oldest first."""
        with self._lock:
            return sorted(self._keys.values(), key=lambda k: (k.created_at, k.kid))

    def get_key(self, kid: str) -> ToolKey | None:
        """The key with *kid*, or ``None``."""
        with self._lock:
            return self._keys.get(kid)

    def save_key(self, key: ToolKey) -> None:
        """Insert or replace the key with the same kid."""
        with self._lock:
            self._keys[key.kid] = key

    def delete_key(self, kid: str) -> bool:
        """Delete the key; True if it existed."""
        with self._lock:
            return self._keys.pop(kid, None) is not None


@attrs.define(init=False)
class EncryptedToolKeyStore:
    """Tool keys sealed with AES-256-GCM by the vault's :class:`~credlti.credentials.KeyRing`.

    Each key (private key and metadata) is stored as one ciphertext under its kid
    in *rows*, any mutable mapping of ``kid -> bytes``: a dict, a ``shelve`` or
    your own mapping over a database table. The associated data binds each
    ciphertext to its kid, so a row copied under another kid fails to open
    (:class:`~credlti.errors.DecryptionError`). Rotate the vault's key ring as usual:
    :meth:`reencrypt` rewrites every row under the ring's primary key.

    Args:
        ring: The vault's key ring (the primary key encrypts; any key decrypts).
        rows: Where ciphertexts live (a new dict by default).
        random_bytes: ``n -> n random bytes`` for GCM nonces; injectable for tests.
    """

    _ring: KeyRing = attrs.field(repr=False)
    _rows: MutableMapping[str, bytes] = attrs.field(repr=False)
    _random: Callable[[int], bytes] = attrs.field(repr=False)
    _lock: threading.RLock = attrs.field(repr=False)

    def __init__(
        self,
        ring: KeyRing,
        rows: MutableMapping[str, bytes] | None = None,
        *,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._ring = ring
        self._rows = {} if rows is None else rows
        self._random = random_bytes
        self._lock = threading.RLock()

    def list_keys(self) -> list[ToolKey]:
        """Every key (decrypted), oldest first."""
        with self._lock:
            keys = [open_key(blob, self._ring, kid=kid) for kid, blob in self._rows.items()]
        return sorted(keys, key=lambda k: (k.created_at, k.kid))

    def get_key(self, kid: str) -> ToolKey | None:
        """The key with *kid* (decrypted), or ``None``."""
        with self._lock:
            blob = self._rows.get(kid)
        return None if blob is None else open_key(blob, self._ring, kid=kid)

    def save_key(self, key: ToolKey) -> None:
        """Encrypt and store the key under its kid (replacing any older row)."""
        blob = seal_key(key, self._ring, nonce=self._random(NONCE_BYTES))
        with self._lock:
            self._rows[key.kid] = blob

    def delete_key(self, kid: str) -> bool:
        """Delete the key's row; True if it existed."""
        with self._lock:
            return self._rows.pop(kid, None) is not None

    def reencrypt(self) -> int:
        """Rewrite rows not sealed by the ring's primary key; return how many."""
        count = 0
        with self._lock:
            for kid, blob in list(self._rows.items()):
                if self._ring.key_id_of(blob) != self._ring.primary_id:
                    self.save_key(open_key(blob, self._ring, kid=kid))
                    count += 1
        return count


class _AsyncKeyStore:
    """An async key store over a sync one whose methods never wait (memory)."""

    def __init__(self, store: MemoryToolKeyStore | EncryptedToolKeyStore) -> None:
        self._store = store

    async def list_keys(self) -> list[ToolKey]:
        """Every key, oldest first."""
        return self._store.list_keys()

    async def get_key(self, kid: str) -> ToolKey | None:
        """The key with *kid*, or ``None``."""
        return self._store.get_key(kid)

    async def save_key(self, key: ToolKey) -> None:
        """Insert or replace the key with the same kid."""
        self._store.save_key(key)

    async def delete_key(self, kid: str) -> bool:
        """Delete the key; True if it existed."""
        return self._store.delete_key(kid)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AsyncMemoryToolKeyStore(_AsyncKeyStore):
    """The async form of :class:`MemoryToolKeyStore` (:class:`~credlti.ports.AsyncToolKeyStore`)."""

    def __init__(self) -> None:
        super().__init__(MemoryToolKeyStore())


class AsyncEncryptedToolKeyStore(_AsyncKeyStore):
    """The async form of :class:`EncryptedToolKeyStore` (same arguments).

    Suits a *rows* mapping that never waits (a dict); with rows in a database, use
    that database's async adapter instead.
    """

    def __init__(
        self,
        ring: KeyRing,
        rows: MutableMapping[str, bytes] | None = None,
        *,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._encrypted = EncryptedToolKeyStore(ring, rows, random_bytes=random_bytes)
        super().__init__(self._encrypted)

    async def reencrypt(self) -> int:
        """Rewrite rows not sealed by the ring's primary key; return how many."""
        return self._encrypted.reencrypt()
