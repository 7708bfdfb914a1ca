"""Typed errors for every redis-py failure, with no address or password in the message."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis.exceptions as redis_exc

from credlti.errors import StorageConflictError, StorageUnavailableError

__all__ = ["redis_errors"]


@contextlib.contextmanager
def redis_errors(action: str) -> Iterator[None]:
    """Run a block, turning redis-py exceptions into typed credlti errors.

    Messages name the action and the exception class only: redis-py messages can
    name the server's address, and a command's arguments can be secrets.
    """
    try:
        yield
    except redis_exc.WatchError as exc:
        msg = f"{action} raced another writer in Redis; nothing was changed"
        raise StorageConflictError(msg, details={"action": action}) from exc
    except (redis_exc.RedisError, redis_exc.RedisClusterException, OSError) as exc:
        msg = (
            f"{action} failed in Redis ({type(exc).__name__}); nothing was changed. "
            "Check that Redis is reachable and accepts this client's credentials"
        )
        raise StorageUnavailableError(msg, details={"action": action}) from exc
