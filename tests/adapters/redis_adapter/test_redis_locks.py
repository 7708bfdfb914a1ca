"""Cross-process locks: one holder at a time, typed timeouts, leases, never another's key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio

from credlti.adapters.redis import AsyncRedisLocks, RedisLocks
from credlti.errors import ConfigurationError, StorageUnavailableError

ROOT = Path(__file__).resolve().parents[3]

WORKER = textwrap.dedent(
    """
    import sys, time
    import redis
    from credlti.adapters.redis import RedisLocks

    url, prefix, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = redis.Redis.from_url(url)
    locks = RedisLocks(client, prefix=prefix)
    client.incr(prefix + "ready")
    while int(client.get(prefix + "ready") or 0) < 2:
        time.sleep(0.005)
    overlaps = 0
    for _ in range(rounds):
        with locks.lock("token:https://lms.example/token", timeout=20):
            if client.incr(prefix + "inside") != 1:
                overlaps += 1
            client.rpush(prefix + "order", sys.argv[4])
            time.sleep(0.01)
            client.decr(prefix + "inside")
    sys.exit(1 if overlaps else 0)
    """
)


@pytest.mark.slow
def test_two_processes_contend_and_hold_the_lock_one_at_a_time(
    redis_client: redis.Redis, redis_url: str, prefix: str
) -> None:
    """Two processes take one lock 15 times each: never both inside, both make progress."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url, prefix, "15", name],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    codes = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        codes.append((proc.returncode, err))
    assert codes == [(0, ""), (0, "")]
    order = [
        v if isinstance(v, str) else v.decode()
        for v in redis_client.lrange(prefix + "order", 0, -1)
    ]
    assert sorted(order) == ["a"] * 15 + ["b"] * 15
    assert redis_client.keys(prefix + "lock:*") == []


def test_a_held_lock_times_out_with_a_typed_error(redis_client: redis.Redis, prefix: str) -> None:
    """Another holder past the timeout: StorageUnavailableError, quickly, key left alone."""
    locks = RedisLocks(redis_client, prefix=prefix)
    with locks.lock("x"):
        start = time.monotonic()
        with pytest.raises(StorageUnavailableError) as info, locks.lock("x", timeout=0.2):
            pass  # pragma: no cover
        assert 0.2 <= time.monotonic() - start < 2
        assert info.value.details["action"] == "acquiring a lock"
        assert len(redis_client.keys(prefix + "lock:*")) == 1
        with pytest.raises(StorageUnavailableError), locks.lock("x", timeout=0):
            pass  # pragma: no cover
        with locks.lock("y", timeout=0):  # another name is another lock
            assert len(redis_client.keys(prefix + "lock:*")) == 2
    assert redis_client.keys(prefix + "lock:*") == []


def test_the_lease_frees_a_lock_whose_holder_vanished(
    redis_client: redis.Redis, prefix: str
) -> None:
    """A holder that never releases (it died) stops blocking when its lease ends."""
    locks = RedisLocks(redis_client, prefix=prefix)
    abandoned = locks.lock("x", lease=0.2)
    abandoned.__enter__()  # never exited: the process "died" holding it
    start = time.monotonic()
    with locks.lock("x", timeout=5):
        waited = time.monotonic() - start
    assert 0.05 < waited < 2


def test_a_late_release_never_deletes_the_next_holders_lock(
    redis_client: redis.Redis, prefix: str
) -> None:
    """A block that outlives its lease releases nothing: the next holder keeps its lock."""
    locks = RedisLocks(redis_client, prefix=prefix)
    with locks.lock("x", lease=0.1):
        time.sleep(0.25)  # the lease ran out; another process takes the lock
        other = locks.lock("x", timeout=1)
        other.__enter__()
    assert len(redis_client.keys(prefix + "lock:*")) == 1  # still the other holder's
    other.__exit__(None, None, None)
    assert redis_client.keys(prefix + "lock:*") == []


def test_a_failing_block_still_releases(redis_client: redis.Redis, prefix: str) -> None:
    """An exception in the block propagates and the lock is released."""
    locks = RedisLocks(redis_client, prefix=prefix)
    with pytest.raises(KeyError), locks.lock("x"):
        raise KeyError("boom")
    assert redis_client.keys(prefix + "lock:*") == []


@pytest.mark.parametrize(("timeout", "lease"), [(-1, 30), (1, 0), (1, -2), (float("nan"), 1)])
def test_bad_timeouts_and_leases_are_configuration_errors(
    redis_client: redis.Redis, prefix: str, timeout: float, lease: float
) -> None:
    """Negative timeouts, non-positive leases, NaN: ConfigurationError before any call."""
    with (
        pytest.raises(ConfigurationError),
        RedisLocks(redis_client, prefix=prefix).lock("x", timeout=timeout, lease=lease),
    ):
        pass  # pragma: no cover


def test_async_locks_serialise_coroutines_and_time_out(
    async_client: redis.asyncio.Redis, prefix: str, loop: asyncio.AbstractEventLoop
) -> None:
    """Eight coroutines (eight connections) take one async lock: never two inside."""
    locks = AsyncRedisLocks(async_client, prefix=prefix)
    inside = 0
    peak = 0

    async def worker() -> None:
        nonlocal inside, peak
        async with locks.lock("x", timeout=10):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    async def scenario() -> None:
        await asyncio.gather(*(worker() for _ in range(8)))
        async with locks.lock("x"):
            with pytest.raises(StorageUnavailableError):
                async with locks.lock("x", timeout=0.1):
                    pass  # pragma: no cover
        assert await async_client.keys(prefix + "lock:*") == []

    loop.run_until_complete(scenario())
    assert peak == 1
