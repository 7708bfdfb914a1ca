"""Hostile input, typed errors without secrets, the missing extra, and the event loop."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from credlti.adapters.redis import (
    AsyncRedisLocks,
    AsyncRedisNonceStore,
    AsyncRedisServiceTokenCache,
    RedisLocks,
    RedisNonceStore,
    RedisServiceTokenCache,
)
from credlti.errors import ConfigurationError, CredltiError, StorageUnavailableError
from credlti.ports import NonceStatus, NonceStore, ServiceTokenCache
from tests.adapters.advantage_contract import cache_key, token
from tests.adapters.nonce_contract import T0, registration
from tests.adapters.redis_adapter.test_redis_tokens import RING

ROOT = Path(__file__).resolve().parents[3]
HOSTILE = [
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff\ud800",
    "*",
    "[a-z]?",
    "\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    "é" * 10,
    "x" * 1_000_000,
    "",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_strings_are_plain_data(redis_client: redis.Redis, prefix: str, text: str) -> None:
    """NUL, lone surrogates, glob and protocol characters, 1 MB: they work, keys stay small."""
    nonces = RedisNonceStore(redis_client, prefix=prefix)
    record = registration()
    nonces.store_nonce(text, record, expires_at=T0.replace(hour=13), now=T0)
    assert nonces.validate_nonce(text, record, now=T0) is NonceStatus.CONSUMED
    assert nonces.validate_nonce(text + "x", record, now=T0) is NonceStatus.NOT_FOUND

    cache = RedisServiceTokenCache(redis_client, ring=RING, prefix=prefix, clock=lambda: T0)
    key = cache_key(issuer=text, scopes=frozenset({text, "s"}), deployment_id=text)
    cache.put_token(key, token(text))
    assert cache.get_token(key) == token(text)
    assert cache.delete_token(key, only=token(text)) is True

    with RedisLocks(redis_client, prefix=prefix).lock(text, timeout=0):
        (held,) = redis_client.keys(prefix + "lock:*")  # one lock key, however odd the name
        assert len(held) < len(prefix) + 80
    names = list(redis_client.scan_iter(prefix + "*"))
    assert len(names) == 1  # the used nonce
    assert all(len(n) < len(prefix) + 80 for n in names)
    assert redis_client.dbsize() > 0  # nothing was flushed


def test_a_hostile_prefix_is_refused(redis_client: redis.Redis) -> None:
    """Prefixes are configuration: control characters, spaces or 300 characters are refused."""
    for bad in ("a b", "a\x00", "é", "x" * 300):
        with pytest.raises(ConfigurationError):
            RedisNonceStore(redis_client, prefix=bad)


@pytest.fixture(name="dead_url")
def _dead_url() -> str:
    """A URL with a password where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://:hunter2-secret@127.0.0.1:{port}/0"


def _assert_clean(error: CredltiError, url: str) -> None:
    text = str(error) + repr(error.details)
    for leak in ("hunter2", url, "127.0.0.1"):
        assert leak not in text
    assert isinstance(error, StorageUnavailableError)


def test_unreachable_redis_is_a_typed_error_without_secrets(dead_url: str) -> None:
    """Every sync call against a dead server: StorageUnavailableError, no URL, no password."""
    client = redis.Redis.from_url(dead_url, socket_connect_timeout=1)
    nonces = RedisNonceStore(client)
    cache = RedisServiceTokenCache(client, ring=RING)
    calls: list[Callable[[], object]] = [
        lambda: nonces.store_nonce("n", registration(), expires_at=T0, now=T0),
        lambda: nonces.validate_nonce("n", registration(), now=T0),
        lambda: cache.get_token(cache_key()),
        lambda: cache.put_token(cache_key(), token("sekret-token")),
        lambda: cache.delete_token(cache_key(), only=token()),
        lambda: RedisLocks(client).lock("x").__enter__(),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailableError) as info:
            call()
        _assert_clean(info.value, dead_url)
        assert "sekret-token" not in str(info.value)


def test_unreachable_redis_is_a_typed_error_async(dead_url: str) -> None:
    """The async forms too."""

    async def scenario() -> list[BaseException]:
        client = redis.asyncio.Redis.from_url(dead_url, socket_connect_timeout=1)
        nonces = AsyncRedisNonceStore(client)
        cache = AsyncRedisServiceTokenCache(client, ring=RING)
        errors: list[BaseException] = []
        for call in (
            nonces.store_nonce("n", registration(), expires_at=T0, now=T0),
            nonces.validate_nonce("n", registration(), now=T0),
            cache.get_token(cache_key()),
            cache.put_token(cache_key(), token()),
            cache.delete_token(cache_key()),
        ):
            try:
                await call
            except Exception as exc:
                errors.append(exc)
        try:
            async with AsyncRedisLocks(client).lock("x"):
                pass  # pragma: no cover
        except Exception as exc:
            errors.append(exc)
        await client.aclose()
        return errors

    errors = asyncio.run(scenario())
    assert len(errors) == 6
    for error in errors:
        assert isinstance(error, StorageUnavailableError)
        _assert_clean(error, dead_url)


def test_without_redis_py_the_import_names_the_extra() -> None:
    """Importing the adapter without redis-py: ImportError naming credlti[redis]."""
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "try:\n    import credlti.adapters.redis\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    assert 'pip install "credlti[redis]"' in done.stdout


# --------------------------------------------------------------------------- the event loop


class _SlowProxy:
    """A TCP proxy (its own threads) that delays every chunk by *delay* seconds."""

    def __init__(self, port: int, delay: float) -> None:
        self.delay = delay
        self._upstream = port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                time.sleep(self.delay)
                target.sendall(chunk)
        except OSError:
            return  # the test closed the connection
        finally:
            for sock in (source, target):
                sock.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()


@pytest.fixture(name="slow_url")
def _slow_url(redis_url: str) -> Iterator[str]:
    """The test Redis behind a proxy that answers 0.25 s late."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = _SlowProxy(port, delay=0.25)
    yield f"redis://127.0.0.1:{proxy.port}/0"
    proxy.close()


class _SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "took" in message and "seconds" in message:
            self.seen.append(message)


def _blocking_reports(scenario: object) -> list[str]:
    """Run a coroutine in asyncio debug mode; return the slow-callback reports."""
    handler = _SlowCallbacks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.15
    try:
        loop.run_until_complete(scenario)  # type: ignore[arg-type]
    finally:
        loop.close()
        logger.removeHandler(handler)
    return handler.seen


@pytest.mark.slow
def test_async_adapters_never_block_the_event_loop(slow_url: str, prefix: str) -> None:
    """Against a Redis that answers slowly, no callback of the async adapters runs 150 ms.

    The control: the sync store called from a coroutine is reported, so the check works.
    """

    async def with_async_adapters() -> None:
        client = redis.asyncio.Redis.from_url(slow_url)
        nonces = AsyncRedisNonceStore(client, prefix=prefix)
        cache = AsyncRedisServiceTokenCache(client, ring=RING, prefix=prefix, clock=lambda: T0)
        locks = AsyncRedisLocks(client, prefix=prefix)
        await nonces.store_nonce("n", registration(), expires_at=T0.replace(hour=13), now=T0)
        statuses = await asyncio.gather(
            *(nonces.validate_nonce("n", registration(), now=T0) for _ in range(3))
        )
        assert sorted(s.value for s in statuses) == ["already_used", "already_used", "consumed"]
        await cache.put_token(cache_key(), token())
        assert await cache.get_token(cache_key()) == token()
        assert await cache.delete_token(cache_key(), only=token()) is True

        async def hold() -> None:
            async with locks.lock("x", timeout=5):
                await asyncio.sleep(0.05)

        await asyncio.gather(hold(), hold())
        await client.aclose()

    async def with_the_sync_store() -> None:
        client = redis.Redis.from_url(slow_url)
        RedisNonceStore(client, prefix=prefix).store_nonce(
            "m", registration(), expires_at=T0.replace(hour=13), now=T0
        )
        client.close()

    assert _blocking_reports(with_async_adapters()) == []
    assert _blocking_reports(with_the_sync_store()) != []


# --------------------------------------------------------------------------- the namespace


def test_sync_adapters_satisfy_the_ports(redis_client: redis.Redis) -> None:
    """Checked by mypy (structural typing) and at run time for the runtime-checkable parts."""
    nonces: NonceStore = RedisNonceStore(redis_client)
    cache: ServiceTokenCache = RedisServiceTokenCache(redis_client, ring=RING)
    assert callable(nonces.validate_nonce)
    assert callable(cache.delete_token)


def test_the_namespace_exports_its_adapters_sorted() -> None:
    """``__all__`` is sorted, resolvable, public, and every adapter has a docstring."""
    import credlti.adapters.redis as namespace

    names = list(namespace.__all__)
    assert names == sorted(names)
    assert all(not n.startswith("_") for n in names)
    for name in names:
        exported = getattr(namespace, name)
        assert exported.__module__.startswith("credlti.adapters.redis._")
        assert exported.__doc__
    secret_free = repr(RedisNonceStore(redis.Redis(password="hunter2")))
    assert "hunter2" not in secret_free
