"""A contract test suite for the :class:`~credlti.ports.LaunchSessionStore` port.

Every launch-session store must pass it. To apply it, subclass
:class:`LaunchSessionStoreContract` in a ``test_*.py`` module under a ``Test*`` name and
provide a ``session_store`` fixture returning a fresh, empty store. The suite checks
the port itself (bytes in, the same bytes out, expiry, deletion, independence of
keys, threads) and then the whole path through two :class:`~credlti.lti.Tool`
instances sharing the store, as two worker processes would.

Example::

    class TestMemoryLaunchSessionStore(LaunchSessionStoreContract):
        @pytest.fixture
        def session_store(self) -> MemoryLaunchSessionStore:
            return MemoryLaunchSessionStore()
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.errors import LaunchSessionNotFoundError
from credlti.testing import SimulatedPlatform

__all__ = ["T0", "LaunchSessionStoreContract", "key"]

#: A fixed "now" for expiry tests.
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
LAUNCH_URL = "https://tool.example.com/launch"
SECRET = b"launch-session-contract-secret-0123456789"


def key(name: str) -> str:
    """A storage key as the tools make them: 64 lowercase hex characters."""
    return hashlib.sha256(name.encode()).hexdigest()


class LaunchSessionStoreContract:
    """The behaviour every ``LaunchSessionStore`` must show (subclass to apply)."""

    @pytest.fixture
    def session_store(self) -> Any:
        """A fresh, empty store; subclasses must override this fixture."""
        raise NotImplementedError

    # ------------------------------------------------------------- the port

    def test_saved_bytes_come_back_unchanged(self, session_store: Any) -> None:
        """Every byte value, and a large value, round-trips exactly."""
        small = bytes(range(256))
        large = bytes(range(256)) * 256  # 64 KiB
        session_store.save(key("a"), small, expires_at=T0 + timedelta(hours=1))
        session_store.save(key("b"), large, expires_at=T0 + timedelta(hours=1))

        assert session_store.load(key("a"), now=T0) == small
        assert session_store.load(key("b"), now=T0) == large

    def test_unknown_key_loads_none(self, session_store: Any) -> None:
        """Nothing stored: None, not an error."""
        assert session_store.load(key("nothing"), now=T0) is None

    def test_entry_expires_at_its_expiry(self, session_store: Any) -> None:
        """Readable before expires_at; gone at and after it."""
        expires = T0 + timedelta(seconds=60)
        session_store.save(key("a"), b"sealed", expires_at=expires)

        assert session_store.load(key("a"), now=expires - timedelta(seconds=1)) == b"sealed"
        assert session_store.load(key("a"), now=expires) is None
        assert session_store.load(key("a"), now=expires + timedelta(days=1)) is None

    def test_expiry_compares_instants_not_wall_times(self, session_store: Any) -> None:
        """An aware time in another zone is the same instant."""
        session_store.save(key("a"), b"x", expires_at=T0 + timedelta(seconds=60))
        elsewhere = (T0 + timedelta(seconds=30)).astimezone(timezone(timedelta(hours=-7)))

        assert session_store.load(key("a"), now=elsewhere) == b"x"

    def test_save_replaces_older_value_and_expiry(self, session_store: Any) -> None:
        """A second save under a key wins, with its own expiry."""
        session_store.save(key("a"), b"old", expires_at=T0 + timedelta(seconds=10))
        session_store.save(key("a"), b"new", expires_at=T0 + timedelta(seconds=100))

        assert session_store.load(key("a"), now=T0 + timedelta(seconds=50)) == b"new"

    def test_delete_reports_whether_an_entry_was_dropped(self, session_store: Any) -> None:
        """True once for a stored entry, then False; False for an unknown key."""
        session_store.save(key("a"), b"x", expires_at=T0 + timedelta(hours=1))

        assert session_store.delete(key("a")) is True
        assert session_store.delete(key("a")) is False
        assert session_store.delete(key("never")) is False
        assert session_store.load(key("a"), now=T0) is None

    def test_keys_are_independent(self, session_store: Any) -> None:
        """Deleting or expiring one key leaves the others alone."""
        session_store.save(key("a"), b"a", expires_at=T0 + timedelta(seconds=10))
        session_store.save(key("b"), b"b", expires_at=T0 + timedelta(hours=1))
        session_store.save(key("c"), b"c", expires_at=T0 + timedelta(hours=1))
        session_store.delete(key("c"))

        later = T0 + timedelta(seconds=20)
        assert session_store.load(key("a"), now=later) is None
        assert session_store.load(key("b"), now=later) == b"b"
        assert session_store.load(key("c"), now=later) is None

    def test_concurrent_saves_and_loads(self, session_store: Any) -> None:
        """Threads saving and loading their own keys see their own bytes."""

        def work(n: int) -> bool:
            name = key(f"thread-{n}")
            data = n.to_bytes(4, "big") * 8
            session_store.save(name, data, expires_at=T0 + timedelta(hours=1))
            return bool(session_store.load(name, now=T0) == data)

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(work, range(64)))

    # ------------------------------------------------------------- through the tools

    def test_a_launch_saved_by_one_tool_opens_in_another(
        self, session_store: Any, platform: SimulatedPlatform
    ) -> None:
        """Two tools (two workers) sharing storage, store and secret share launches."""
        storage = MemoryLaunchStorage[Any, Any]()
        platform.install(storage)
        first = platform.tool(storage, sessions=session_store, state_secret=SECRET)
        second = platform.tool(storage, sessions=session_store, state_secret=SECRET)
        redirect = first.handle_login(platform.login_params(), LAUNCH_URL)
        launch = first.handle_callback(platform.launch(redirect), redirect.cookie_value)

        handle = first.save_launch(launch, ttl=600)
        reopened = second.load_launch(handle)

        assert reopened == launch
        assert reopened.registration is launch.registration
        assert second.end_launch(handle) is True
        with pytest.raises(LaunchSessionNotFoundError):
            first.load_launch(handle)

    def test_a_launch_expires_with_its_ttl(
        self, session_store: Any, platform: SimulatedPlatform
    ) -> None:
        """Past its ttl (on the tool's clock) a session is gone."""
        tool = platform.tool(sessions=session_store, state_secret=SECRET)
        redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
        launch = tool.handle_callback(platform.launch(redirect), redirect.cookie_value)
        handle = tool.save_launch(launch, ttl=60)

        platform.clock.advance(59)
        assert tool.load_launch(handle) == launch
        platform.clock.advance(1)
        with pytest.raises(LaunchSessionNotFoundError):
            tool.load_launch(handle)
