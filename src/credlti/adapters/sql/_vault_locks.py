"""Named locks of the SQL vault store.

Thread locks by key, POSIX byte-range locks on a ``<database>-credlti-locks`` file
(SQLite files, across processes) and the ids of PostgreSQL advisory locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy.engine import Engine

from credlti.errors import StorageUnavailableError

# --------------------------------------------------------------------------- named locks


def _lock_id(key: str) -> int:
    """A stable signed 64-bit id for an advisory lock (PostgreSQL's bigint)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"credlti-lock").digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_offset(key: str) -> int:
    """A byte offset (below 2**31) for a POSIX byte-range lock."""
    digest = hashlib.blake2b(key.encode(), digest_size=4, person=b"credlti-lock").digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


class _LocalLocks:
    """Reference-counted thread locks by identity (entries vanish when unused)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[object, list[Any]] = {}

    @contextlib.contextmanager
    def hold(self, ident: object, timeout: float) -> Iterator[bool]:
        with self._guard:
            entry = self._locks.setdefault(ident, [threading.Lock(), 0])
            entry[1] += 1
        lock: threading.Lock = entry[0]
        acquired = lock.acquire(timeout=max(timeout, 0))
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[ident]

    @contextlib.asynccontextmanager
    async def ahold(self, ident: object, timeout: float, poll: float) -> AsyncIterator[bool]:
        """:meth:`hold` for asyncio tasks: waits by polling, never blocking the loop."""
        with self._guard:
            entry = self._locks.setdefault(ident, [threading.Lock(), 0])
            entry[1] += 1
        lock: threading.Lock = entry[0]
        try:
            acquired = lock.acquire(blocking=False)
            deadline = time.monotonic() + max(timeout, 0)
            delay = 0.001
            while not acquired and (remaining := deadline - time.monotonic()) > 0:
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, poll)
                acquired = lock.acquire(blocking=False)
            try:
                yield acquired
            finally:
                if acquired:
                    lock.release()
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[ident]


_LOCAL_LOCKS = _LocalLocks()
_LOCK_FILES: dict[str, int] = {}
_LOCK_FILES_GUARD = threading.Lock()


def _lock_file(database: str) -> int:
    """The process-wide descriptor of ``<database>-credlti-locks`` (never closed).

    POSIX record locks belong to the process and vanish when *any* descriptor of the
    file is closed, so each process opens the file once and keeps it open.
    """
    path = os.path.abspath(database) + "-credlti-locks"
    with _LOCK_FILES_GUARD:
        fd = _LOCK_FILES.get(path)
        if fd is None:
            fd = _LOCK_FILES[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return fd


if sys.platform == "win32":  # pragma: no cover - no POSIX record locks

    def _sqlite_database_file(engine: Engine) -> str | None:
        return None  # the named lock is process-local

    def _try_lock_byte(fd: int, offset: int) -> bool:
        return True

    def _unlock_byte(fd: int, offset: int) -> None:
        return None

else:
    import fcntl

    def _sqlite_database_file(engine: Engine) -> str | None:
        database = engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        if "mode=memory" in str(engine.url):
            return None
        return database

    def _try_lock_byte(fd: int, offset: int) -> bool:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except OSError:
            return False
        return True

    def _unlock_byte(fd: int, offset: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)


def _timed_out(key: str, timeout: float) -> StorageUnavailableError:
    msg = f"timed out after {timeout}s waiting for lock {key!r}"
    return StorageUnavailableError(msg, details={"lock": key})
