"""Fixtures for the credentials vault tests."""

from __future__ import annotations

import pytest

from .helpers import Kit, make_kit


@pytest.fixture(name="kit")
def _kit() -> Kit:
    """A vault wired to memory adapters, a frozen clock and a fake OAuth provider."""
    return make_kit()
