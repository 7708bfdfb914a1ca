"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from credlti.testing import FrozenClock, SimulatedPlatform
from tests.pg_server import temporary_postgres


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
