"""Redis fixtures: clients on the session's server, a fresh key prefix per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio


@pytest.fixture(name="prefix")
def _prefix() -> str:
    """A key prefix no other test uses, so tests never see each other's keys."""
    return f"credlti-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(name="redis_client")
def _redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A sync client on the test server."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(name="async_client")
def _async_client(redis_url: str, loop: asyncio.AbstractEventLoop) -> Iterator[redis.asyncio.Redis]:
    """An asyncio client on the test server, used on *loop*."""
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    loop.run_until_complete(client.aclose())
