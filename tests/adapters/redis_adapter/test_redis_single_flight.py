"""Single flight across processes: tools and token clients taking their locks in Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from credlti._effects import Locked, LockTable, arun, run
from credlti.adapters.redis import (
    AsyncRedisLocks,
    AsyncRedisLockTable,
    RedisLocks,
    RedisLockTable,
)
from credlti.adapters.redis._codec import lock_name
from credlti.errors import ConfigurationError
from credlti.lti.services import TokenCacheKey

ROOT = Path(__file__).resolve().parents[3]

#: One worker process: a token client whose token endpoint (an httpx MockTransport)
#: counts its requests in Redis and answers slowly, sharing the token cache and the
#: single-flight locks with the other workers through Redis.
WORKER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timezone

    import httpx
    import redis

    from credlti.adapters.redis import RedisLocks, RedisLockTable, RedisServiceTokenCache
    from credlti.credentials import EncryptionKey, KeyRing
    from credlti.lti import Registration
    from credlti.lti.keys import KeyState, generate_key
    from credlti.lti.services import SCOPE_SCORE, ServiceTokenClient

    url, prefix, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = redis.Redis.from_url(url)

    def token_endpoint(request):
        client.incr(prefix + "token-requests")
        time.sleep(0.5)  # a slow platform: the other workers arrive meanwhile
        return httpx.Response(
            200,
            json={"access_token": "fleet-token", "token_type": "Bearer",
                  "expires_in": 3600, "scope": SCOPE_SCORE},
        )

    registration = Registration(
        issuer="https://lms.example.edu",
        client_id="tool-1",
        auth_endpoint="https://lms.example.edu/auth",
        jwks_uri="https://lms.example.edu/jwks",
        token_endpoint="https://lms.example.edu/token",
    )
    ring = KeyRing([EncryptionKey(id="k", material=bytes(32))])
    key = generate_key(now=datetime.now(timezone.utc), state=KeyState.CURRENT)
    tokens = ServiceTokenClient(
        keys=key,
        http_client=httpx.Client(transport=httpx.MockTransport(token_endpoint)),
        cache=RedisServiceTokenCache(client, ring=ring, prefix=prefix),
        locks=RedisLockTable(RedisLocks(client, prefix=prefix), timeout=20),
    )
    client.incr(prefix + "ready")
    while int(client.get(prefix + "ready") or 0) < workers:
        time.sleep(0.002)
    print(tokens.get_token(registration, [SCOPE_SCORE]).access_token)
    """
)


@pytest.mark.slow
def test_two_processes_send_one_token_request(
    redis_client: redis.Redis, redis_url: str, prefix: str
) -> None:
    """Two worker processes want the same token at once: the platform sees one request."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url, prefix, "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]

    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == ["fleet-token", "fleet-token"]
    assert int(redis_client.get(prefix + "token-requests") or 0) == 1


def test_lock_names_are_canonical() -> None:
    """A cache key names the same lock whatever its set order or the hash seed."""
    a = TokenCacheKey(
        issuer="https://lms", client_id="c", token_url="https://lms/t", scopes=frozenset("abc")
    )
    b = TokenCacheKey(
        issuer="https://lms", client_id="c", token_url="https://lms/t", scopes=frozenset("cba")
    )
    assert lock_name(("service-token", a)) == lock_name(("service-token", b))
    assert lock_name(("jwks", "https://x")) == '["jwks","https://x"]'
    assert lock_name(("jwks", "a:b")) != lock_name(("jwks:a", "b"))
    assert lock_name(object).startswith('"<class')


def test_the_table_satisfies_the_protocol_and_serialises_threads(
    redis_client: redis.Redis, prefix: str
) -> None:
    """Locked effects run under the Redis lock: never two holders, even in one process."""
    table: LockTable = RedisLockTable(RedisLocks(redis_client, prefix=prefix), timeout=10)
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def body() -> Any:
        nonlocal inside, overlaps
        with guard:
            inside += 1
            overlaps += inside > 1
        yield "sleep"
        with guard:
            inside -= 1
        return "done"

    def flow() -> Any:
        return (yield Locked(("jwks", "https://lms/jwks"), body()))

    def perform(effect: Any) -> None:
        time.sleep(0.02)

    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(run(flow(), perform, locks=table)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == ["done"] * 4
    assert overlaps == 0


def test_the_async_table_runs_locked_flows(
    async_client: redis.asyncio.Redis, prefix: str, loop: asyncio.AbstractEventLoop
) -> None:
    """The async table holds the Redis lock around a Locked sub-flow."""
    table = AsyncRedisLockTable(AsyncRedisLocks(async_client, prefix=prefix), timeout=5)

    def body() -> Any:
        held = yield "check"
        return held

    def flow() -> Any:
        return (yield Locked(("service-token", "k"), body()))

    async def perform(effect: Any) -> bool:
        return bool(await async_client.exists(f"{prefix}lock:" + _hashed_name("k")))

    assert loop.run_until_complete(arun(flow(), perform, locks=table)) is True


def _hashed_name(key: str) -> str:
    from credlti.adapters.redis._codec import hashed

    return hashed(lock_name(("service-token", key)))


@pytest.mark.parametrize(("timeout", "lease"), [(-1, 10), (1, 0)])
def test_bad_timeouts_are_configuration_errors(
    redis_client: redis.Redis, timeout: float, lease: float
) -> None:
    """A table that could never take a lock is refused when it is built."""
    with pytest.raises(ConfigurationError):
        RedisLockTable(RedisLocks(redis_client), timeout=timeout, lease=lease)
