"""Nonce consumption on SQL is atomic across threads and processes."""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import random
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from credlti.adapters.sql import SqlLaunchStorage, create_engine, upgrade
from credlti.lti import Registration
from credlti.ports import NonceStatus

NONCES = [f"nonce-{i:04d}" for i in range(1000)]
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
REGISTRATION = Registration(
    issuer="https://platform.example.edu",
    client_id="tool-1",
    auth_endpoint="https://platform.example.edu/auth",
    jwks_uri="https://platform.example.edu/jwks",
)


def _prepare(url: str) -> None:
    engine = create_engine(url)
    try:
        upgrade(engine)
        storage = SqlLaunchStorage(engine)
        storage.add_registration(REGISTRATION)
        for nonce in NONCES:
            storage.store_nonce(
                nonce, REGISTRATION, expires_at=NOW + timedelta(minutes=10), now=NOW
            )
    finally:
        engine.dispose()


def _replay_all(url: str, threads: int, seed: int) -> list[str]:
    """Every thread tries every nonce (shuffled); return the nonces this process consumed."""
    engine = create_engine(url, pool_size=threads, max_overflow=0)
    storage = SqlLaunchStorage(engine)
    consumed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(index: int) -> None:
        order = NONCES[:]
        random.Random(seed * 100 + index).shuffle(order)
        barrier.wait()
        mine = [
            nonce
            for nonce in order
            if storage.validate_nonce(nonce, REGISTRATION, now=NOW) is NonceStatus.CONSUMED
        ]
        with lock:
            consumed.extend(mine)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    engine.dispose()
    return consumed


def _process_entry(
    url: str, threads: int, seed: int, queue: multiprocessing.Queue[list[str]]
) -> None:
    queue.put(_replay_all(url, threads, seed))


@pytest.mark.slow
def test_postgres_4_processes_x_8_threads_consume_each_nonce_exactly_once(
    fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """32 concurrent workers on PostgreSQL replaying 1,000 nonces: each accepted exactly once."""
    url = fresh_postgres_url
    _prepare(url)
    # Spawned workers import this module by name: give them the repository root.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    processes = [
        context.Process(target=_process_entry, args=(url, 8, seed, queue)) for seed in range(4)
    ]
    for process in processes:
        process.start()
    results: list[list[str]] = []
    deadline = time.monotonic() + 300
    while len(results) < len(processes) and time.monotonic() < deadline:
        try:
            results.append(queue.get(timeout=1))
        except queue_module.Empty:
            crashed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            assert not crashed, f"a worker process failed with exit code {crashed}"
    for process in processes:
        process.join(timeout=60)
    assert len(results) == len(processes), "the workers did not finish in time"

    counts = Counter(nonce for result in results for nonce in result)
    assert all(process.exitcode == 0 for process in processes)
    assert set(counts) == set(NONCES)
    assert max(counts.values()) == 1


@pytest.mark.slow
def test_sqlite_8_threads_consume_each_nonce_exactly_once(tmp_path: Path) -> None:
    """8 threads on one SQLite file replaying 1,000 nonces: each accepted exactly once."""
    url = f"sqlite:///{tmp_path / 'nonces.db'}"
    _prepare(url)

    counts = Counter(_replay_all(url, 8, seed=1))

    assert set(counts) == set(NONCES)
    assert max(counts.values()) == 1
