"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from credlti.testing import FrozenClock, SimulatedPlatform
from tests.pg_server import temporary_postgres
from tests.redis_server import temporary_redis


@pytest.fixture(name="platform")
def _platform() -> SimulatedPlatform:
    """A fresh simulated platform with its own keys and a frozen clock."""
    return SimulatedPlatform()


@pytest.fixture(name="clock")
def _clock(platform: SimulatedPlatform) -> FrozenClock:
    """The platform's clock (tools built with ``platform.tool()`` share it)."""
    return platform.clock


@pytest.fixture(name="postgres_url", scope="session")
def _postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for this test session (started on first use)."""
    with temporary_postgres() as url:
        yield url


@pytest.fixture(name="redis_url", scope="session")
def _redis_url() -> Iterator[str]:
    """A real Redis server for this test session (started on first use).

    Without ``redis-server`` the tests that need it fail (never skip), with a message
    saying how to install it: ``scripts/bootstrap.sh`` installs it where it can.
    """
    with temporary_redis() as url:
        yield url


@pytest.fixture(autouse=True)
def _redis_url_for_docs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/redis.md and docs/deployment.md run against the test Redis (``REDIS_URL``)."""
    callspec = getattr(request.node, "callspec", None)
    path = callspec.params.get("path") if callspec is not None else None
    if isinstance(path, Path) and path.name in {"redis.md", "deployment.md"}:
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
