"""Shared fixtures."""

from __future__ import annotations

import pytest

from credlti.testing import FrozenClock, SimulatedPlatform


@pytest.fixture(name="platform")
def _platform() -> SimulatedPlatform:
    """A fresh simulated platform with its own keys and a frozen clock."""
    return SimulatedPlatform()


@pytest.fixture(name="clock")
def _clock(platform: SimulatedPlatform) -> FrozenClock:
    """The platform's clock (tools built with ``platform.tool()`` share it)."""
    return platform.clock
