"""The in-memory LaunchSessionStore: the port contract plus memory-only behaviour."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from credlti.adapters.memory import AsyncMemoryLaunchSessionStore, MemoryLaunchSessionStore
from credlti.errors import ConfigurationError, LaunchSessionNotFoundError
from credlti.lti import Tool
from credlti.ports import LaunchSessionStore
from credlti.testing import SimulatedPlatform

from .session_contract import T0, LaunchSessionStoreContract, key


class TestMemoryLaunchSessionStore(LaunchSessionStoreContract):
    """``MemoryLaunchSessionStore`` satisfies the LaunchSessionStore contract."""

    @pytest.fixture
    def session_store(self) -> MemoryLaunchSessionStore:
        """A fresh memory store."""
        return MemoryLaunchSessionStore()

    @pytest.fixture
    def async_session_store(self) -> AsyncMemoryLaunchSessionStore:
        """A fresh memory store, async form."""
        return AsyncMemoryLaunchSessionStore()


def test_satisfies_the_port() -> None:
    """The store has the port's shape (checked statically by mypy too)."""
    store: LaunchSessionStore = MemoryLaunchSessionStore()
    assert callable(store.save)


def test_is_bounded_dropping_the_oldest_saved_first() -> None:
    """Past max_sessions, the oldest saved sessions go first."""
    store = MemoryLaunchSessionStore(max_sessions=3)
    for n in range(5):
        store.save(key(str(n)), b"x", expires_at=T0 + timedelta(hours=1))

    assert len(store) == 3
    assert store.load(key("0"), now=T0) is None
    assert store.load(key("1"), now=T0) is None
    assert store.load(key("4"), now=T0) == b"x"


def test_resaving_refreshes_a_sessions_place() -> None:
    """A session saved again counts as the newest."""
    store = MemoryLaunchSessionStore(max_sessions=2)
    store.save(key("a"), b"a", expires_at=T0 + timedelta(hours=1))
    store.save(key("b"), b"b", expires_at=T0 + timedelta(hours=1))
    store.save(key("a"), b"a2", expires_at=T0 + timedelta(hours=1))
    store.save(key("c"), b"c", expires_at=T0 + timedelta(hours=1))

    assert store.load(key("a"), now=T0) == b"a2"
    assert store.load(key("b"), now=T0) is None


def test_expired_sessions_are_swept_as_sessions_are_saved() -> None:
    """Every 1024 saves, sessions expired at the latest load time are dropped."""
    store = MemoryLaunchSessionStore()
    for n in range(100):
        store.save(key(f"old-{n}"), b"x", expires_at=T0 + timedelta(seconds=10))
    assert store.load(key("none"), now=T0 + timedelta(seconds=20)) is None  # time moves on

    for n in range(1024):
        store.save(key(f"new-{n}"), b"x", expires_at=T0 + timedelta(hours=1))

    assert len(store) == 1024


def test_explicit_sweep_and_loading_an_expired_entry_drop_it() -> None:
    """sweep(now) returns how many it dropped; an expired load forgets the entry."""
    store = MemoryLaunchSessionStore()
    store.save(key("a"), b"x", expires_at=T0 + timedelta(seconds=10))
    store.save(key("b"), b"x", expires_at=T0 + timedelta(seconds=10))
    store.save(key("c"), b"x", expires_at=T0 + timedelta(hours=1))

    assert store.load(key("a"), now=T0 + timedelta(seconds=10)) is None
    assert len(store) == 2
    assert store.sweep(T0 + timedelta(seconds=10)) == 1
    assert len(store) == 1


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_max_sessions_must_be_a_positive_integer(bad: object) -> None:
    """A store that can hold nothing is a configuration mistake."""
    with pytest.raises(ConfigurationError):
        MemoryLaunchSessionStore(max_sessions=bad)  # type: ignore[arg-type]


def test_the_tools_default_store_is_a_fresh_memory_store(platform: SimulatedPlatform) -> None:
    """Without sessions=, each tool keeps its launches in its own memory store."""
    first: Tool[Any, Any] = platform.tool()
    second: Tool[Any, Any] = platform.tool()
    redirect = first.handle_login(platform.login_params(), "https://tool.example.com/launch")
    launch = first.handle_callback(platform.launch(redirect), redirect.cookie_value)
    handle = first.save_launch(launch)

    assert first.load_launch(handle) == launch
    # Another process (modelled by another tool) has its own store: the launch is not there.
    with pytest.raises(LaunchSessionNotFoundError):
        second.load_launch(handle)
