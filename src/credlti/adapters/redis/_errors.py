"""Typed errors for every redis-py failure, with no address or password in the message."""

from __future__ import annotations

import redis.exceptions as redis_exc

from credlti.errors import StorageConflictError, StorageError, StorageUnavailableError

__all__ = ["REDIS_ERRORS", "storage_error"]

#: What redis-py raises (sockets included): catch these around every command.
REDIS_ERRORS = (redis_exc.RedisError, redis_exc.RedisClusterException, OSError)


def storage_error(exc: BaseException, action: str) -> StorageError:
    """The credlti error for a redis-py failure during *action* (raise it ``from exc``).

    Messages name the action and the exception class only: redis-py messages can
    name the server's address, and a command's arguments can be secrets.
    """
    if isinstance(exc, redis_exc.WatchError):
        msg = f"{action} raced another writer in Redis; nothing was changed"
        return StorageConflictError(msg, details={"action": action})
    msg = (
        f"{action} failed in Redis ({type(exc).__name__}); nothing was changed. "
        "Check that Redis is reachable and accepts this client's credentials"
    )
    return StorageUnavailableError(msg, details={"action": action})
