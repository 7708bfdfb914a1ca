"""Redis nonce store + consume: credlti's adapter against bare redis-py, same run.

One op is one ``store_nonce`` + one ``validate_nonce`` (two round trips: ``SET`` with
``PX``, then ``EVALSHA`` of the consume script). The baseline is bare redis-py doing
the same commands (``SET key value PX ttl`` + ``EVALSHA`` of the very same Lua
script) on precomputed keys, so the ratio is what the adapter's key hashing, value
encoding and error mapping cost. Sync (``redis.Redis``) and async
(``redis.asyncio.Redis``, one op after another) are measured. Each round times both
sides back to back (alternating which goes first); ``ratio`` is the median over rounds
of adapter rate / bare rate (target >= 0.7), ``ratio_best`` the ratio of the best
rounds; the median op rate of each side is reported too.

Redis: ``CREDLTI_TEST_REDIS_URL`` if set, else a throwaway ``redis-server`` started
with ``tests/redis_server.py``.

Run::

    python benchmarks/redis_nonces.py                 # defaults: 40 rounds of 250 ops per side
    python benchmarks/redis_nonces.py --ops 500 --rounds 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

from credlti.adapters.redis import AsyncRedisNonceStore, RedisNonceStore
from credlti.adapters.redis._codec import CONSUME_NONCE, micros
from credlti.lti import Registration
from credlti.ports import NonceStatus

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)
EXPIRES = NOW + timedelta(minutes=10)
TTL_MS = 600_000
TARGET = 0.7
REGISTRATION = Registration(
    issuer="https://platform.example.edu",
    client_id="tool-1",
    auth_endpoint="https://platform.example.edu/auth",
    jwks_uri="https://platform.example.edu/jwks",
)


def redis_server() -> contextlib.AbstractContextManager[str]:
    """``CREDLTI_TEST_REDIS_URL``, or a throwaway server (the test suite's helper)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.redis_server import temporary_redis

    return temporary_redis()


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def timed(side: Callable[[int], int], round_no: int) -> float:
    """Ops per second of one timed round (*side* returns how many ops it did)."""
    with no_gc():
        start = time.perf_counter()
        ops = side(round_no)
        elapsed = time.perf_counter() - start
    return ops / elapsed


def sync_sides(client: redis.Redis, prefix: str, ops: int) -> dict[str, Callable[[int], int]]:
    store = RedisNonceStore(client, prefix=prefix + "adapter:")
    script = client.register_script(CONSUME_NONCE)
    value, now_us = f"n{micros(EXPIRES)}", micros(NOW)

    def adapter(round_no: int) -> int:
        for i in range(ops):
            nonce = f"{round_no}-{i}"
            store.store_nonce(nonce, REGISTRATION, expires_at=EXPIRES, now=NOW)
            if store.validate_nonce(nonce, REGISTRATION, now=NOW) is not NonceStatus.CONSUMED:
                raise AssertionError(nonce)
        return ops

    def bare(round_no: int) -> int:
        keys = [f"{prefix}bare:{round_no}-{i}" for i in range(ops)]
        for key in keys:
            client.set(key, value, px=TTL_MS)
            if script(keys=[key], args=[now_us]) != 1:
                raise AssertionError(key)
        return ops

    return {"adapter": adapter, "bare": bare}


def async_sides(
    client: redis.asyncio.Redis, prefix: str, ops: int, loop: asyncio.AbstractEventLoop
) -> dict[str, Callable[[int], int]]:
    store = AsyncRedisNonceStore(client, prefix=prefix + "async-adapter:")
    script = client.register_script(CONSUME_NONCE)
    value, now_us = f"n{micros(EXPIRES)}", micros(NOW)

    async def adapter_ops(round_no: int) -> int:
        for i in range(ops):
            nonce = f"{round_no}-{i}"
            await store.store_nonce(nonce, REGISTRATION, expires_at=EXPIRES, now=NOW)
            status = await store.validate_nonce(nonce, REGISTRATION, now=NOW)
            if status is not NonceStatus.CONSUMED:
                raise AssertionError(nonce)
        return ops

    async def bare_ops(round_no: int) -> int:
        keys = [f"{prefix}async-bare:{round_no}-{i}" for i in range(ops)]
        for key in keys:
            await client.set(key, value, px=TTL_MS)
            if await script(keys=[key], args=[now_us]) != 1:
                raise AssertionError(key)
        return ops

    return {
        "adapter": lambda n: loop.run_until_complete(adapter_ops(n)),
        "bare": lambda n: loop.run_until_complete(bare_ops(n)),
    }


def measure(sides: dict[str, Callable[[int], int]], rounds: int) -> dict[str, Any]:
    """Time both sides back to back each round (alternating who goes first).

    ``ratio`` is the median over rounds of adapter rate / bare rate in that round:
    pairing the two sides in time cancels the drift of a shared, busy machine.
    ``ratio_best`` compares the best round of each side.
    """
    for side in sides.values():  # warm up: connections, script cache
        side(-1)
    samples: dict[str, list[float]] = {"adapter": [], "bare": []}
    paired: list[float] = []
    for round_no in range(rounds):
        order = ["adapter", "bare"] if round_no % 2 == 0 else ["bare", "adapter"]
        for name in order:
            samples[name].append(timed(sides[name], round_no))
        paired.append(samples["adapter"][-1] / samples["bare"][-1])
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = statistics.median(paired)
    return {
        "ops_per_s": medians,
        "best_ops_per_s": {name: max(values) for name, values in samples.items()},
        "samples_ops_per_s": samples,
        "ratio": ratio,
        "ratio_best": max(samples["adapter"]) / max(samples["bare"]),
        "pass": ratio >= TARGET,
    }


def run(url: str, ops: int, rounds: int) -> dict[str, Any]:
    prefix = f"credlti-bench:{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(url)
    aclient = redis.asyncio.Redis.from_url(url)
    loop = asyncio.new_event_loop()
    try:
        result = {
            "ops": ops,
            "rounds": rounds,
            "target_ratio_min": TARGET,
            "sync": measure(sync_sides(client, prefix, ops), rounds),
            "async": measure(async_sides(aclient, prefix, ops, loop), rounds),
        }
    finally:
        for batch in _batches(client.scan_iter(prefix + "*", count=1000), 1000):
            client.delete(*batch)
        loop.run_until_complete(aclient.aclose())
        loop.close()
        client.close()
    return result


def _batches(names: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for name in names:
        batch.append(name)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def print_report(result: dict[str, Any]) -> None:
    print(
        f"Redis nonce store+consume, {result['ops']} ops x {result['rounds']} rounds per side "
        "(median ops/s; ratio = median of per-round adapter/bare)"
    )
    for mode in ("sync", "async"):
        figures = result[mode]
        rates = figures["ops_per_s"]
        verdict = "ok" if figures["pass"] else "BELOW TARGET"
        print(
            f"  {mode:5}  adapter {rates['adapter']:9.0f}/s   bare redis-py {rates['bare']:9.0f}/s"
            f"   ratio {figures['ratio']:.2f} (best rounds {figures['ratio_best']:.2f})"
            f"  target >= {TARGET}: {verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=250, help="store+consume ops per round")
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds per side")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    if args.ops < 1 or args.rounds < 1:
        parser.error("--ops and --rounds must be at least 1")
    with redis_server() as url:
        result = run(url, args.ops, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
