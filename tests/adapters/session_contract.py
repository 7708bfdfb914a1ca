"""A contract test suite for the :class:`~credlti.ports.LaunchSessionStore` port.

Every launch-session store must pass it. To apply it, subclass
:class:`LaunchSessionStoreContract` in a ``test_*.py`` module under a ``Test*`` name and
provide a ``session_store`` fixture returning a fresh, empty store, and an
``async_session_store`` fixture when the adapter has an async form
(:class:`~credlti.ports.AsyncLaunchSessionStore`): every test then runs against both
forms (see :mod:`tests.adapters.port_driver`). The suite checks the port itself
(bytes in, the same bytes out, expiry, deletion, independence of keys, concurrent
callers) and then the whole path through two tools (:class:`~credlti.lti.Tool`, or
:class:`~credlti.lti.AsyncTool` for the async form) sharing the store, as two worker
processes would.

Example::

    class TestMemoryLaunchSessionStore(LaunchSessionStoreContract):
        @pytest.fixture
        def session_store(self) -> MemoryLaunchSessionStore:
            return MemoryLaunchSessionStore()

        @pytest.fixture
        def async_session_store(self) -> AsyncMemoryLaunchSessionStore:
            return AsyncMemoryLaunchSessionStore()
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from credlti.errors import LaunchSessionNotFoundError
from credlti.testing import SimulatedPlatform
from tests.adapters.port_driver import PortDriver, TwoForms

__all__ = ["T0", "LaunchSessionStoreContract", "key"]

#: A fixed "now" for expiry tests.
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
LAUNCH_URL = "https://tool.example.com/launch"
SECRET = b"launch-session-contract-secret-0123456789"


def key(name: str) -> str:
    """A storage key as the tools make them: 64 lowercase hex characters."""
    return hashlib.sha256(name.encode()).hexdigest()


class LaunchSessionStoreContract(TwoForms):
    """The behaviour every ``LaunchSessionStore`` must show (subclass to apply)."""

    sync_fixture = "session_store"
    async_fixture = "async_session_store"

    @pytest.fixture
    def session_store(self) -> Any:
        """A fresh, empty store; subclasses must override this fixture."""
        raise NotImplementedError

    # ------------------------------------------------------------- the port

    def test_saved_bytes_come_back_unchanged(self, port: PortDriver) -> None:
        """Every byte value, and a large value, round-trips exactly."""
        small = bytes(range(256))
        large = bytes(range(256)) * 256  # 64 KiB
        port.save(key("a"), small, expires_at=T0 + timedelta(hours=1))
        port.save(key("b"), large, expires_at=T0 + timedelta(hours=1))

        assert port.load(key("a"), now=T0) == small
        assert port.load(key("b"), now=T0) == large

    def test_unknown_key_loads_none(self, port: PortDriver) -> None:
        """Nothing stored: None, not an error."""
        assert port.load(key("nothing"), now=T0) is None

    def test_entry_expires_at_its_expiry(self, port: PortDriver) -> None:
        """Readable before expires_at; gone at and after it."""
        expires = T0 + timedelta(seconds=60)
        port.save(key("a"), b"sealed", expires_at=expires)

        assert port.load(key("a"), now=expires - timedelta(seconds=1)) == b"sealed"
        assert port.load(key("a"), now=expires) is None
        assert port.load(key("a"), now=expires + timedelta(days=1)) is None

    def test_expiry_compares_instants_not_wall_times(self, port: PortDriver) -> None:
        """An aware time in another zone is the same instant."""
        port.save(key("a"), b"x", expires_at=T0 + timedelta(seconds=60))
        elsewhere = (T0 + timedelta(seconds=30)).astimezone(timezone(timedelta(hours=-7)))

        assert port.load(key("a"), now=elsewhere) == b"x"

    def test_save_replaces_older_value_and_expiry(self, port: PortDriver) -> None:
        """A second save under a key wins, with its own expiry."""
        port.save(key("a"), b"old", expires_at=T0 + timedelta(seconds=10))
        port.save(key("a"), b"new", expires_at=T0 + timedelta(seconds=100))

        assert port.load(key("a"), now=T0 + timedelta(seconds=50)) == b"new"

    def test_delete_reports_whether_an_entry_was_dropped(self, port: PortDriver) -> None:
        """True once for a stored entry, then False; False for an unknown key."""
        port.save(key("a"), b"x", expires_at=T0 + timedelta(hours=1))

        assert port.delete(key("a")) is True
        assert port.delete(key("a")) is False
        assert port.delete(key("never")) is False
        assert port.load(key("a"), now=T0) is None

    def test_keys_are_independent(self, port: PortDriver) -> None:
        """Deleting or expiring one key leaves the others alone."""
        port.save(key("a"), b"a", expires_at=T0 + timedelta(seconds=10))
        port.save(key("b"), b"b", expires_at=T0 + timedelta(hours=1))
        port.save(key("c"), b"c", expires_at=T0 + timedelta(hours=1))
        port.delete(key("c"))

        later = T0 + timedelta(seconds=20)
        assert port.load(key("a"), now=later) is None
        assert port.load(key("b"), now=later) == b"b"
        assert port.load(key("c"), now=later) is None

    def test_concurrent_saves_and_loads(self, port: PortDriver) -> None:
        """Eight callers at once (threads, or tasks), each saving and loading its own keys."""

        def job(worker: int) -> list[Any]:
            calls: list[Any] = []
            for n in range(8):
                name, data = key(f"worker-{worker}-{n}"), (worker * 8 + n).to_bytes(4, "big") * 8
                calls.append(
                    lambda store, name=name, data=data: store.save(
                        name, data, expires_at=T0 + timedelta(hours=1)
                    )
                )
                calls.append(lambda store, name=name: store.load(name, now=T0))
            return calls

        results = port.race([job(worker) for worker in range(8)])

        for worker, outcome in enumerate(results):
            loaded = outcome[1::2]
            assert loaded == [(worker * 8 + n).to_bytes(4, "big") * 8 for n in range(8)]

    # ------------------------------------------------------------- through the tools

    def test_a_launch_saved_by_one_tool_opens_in_another(
        self, port: PortDriver, platform: SimulatedPlatform
    ) -> None:
        """Two tools (two workers) sharing storage, store and secret share launches."""
        storage = port.memory_storage(platform)
        first = port.tool(platform, storage, sessions=port.port, state_secret=SECRET)
        second = port.tool(platform, storage, sessions=port.port, state_secret=SECRET)
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
        self, port: PortDriver, platform: SimulatedPlatform
    ) -> None:
        """Past its ttl (on the tool's clock) a session is gone."""
        tool = port.tool(platform, sessions=port.port, state_secret=SECRET)
        redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
        launch = tool.handle_callback(platform.launch(redirect), redirect.cookie_value)
        handle = tool.save_launch(launch, ttl=60)

        platform.clock.advance(59)
        assert tool.load_launch(handle) == launch
        platform.clock.advance(1)
        with pytest.raises(LaunchSessionNotFoundError):
            tool.load_launch(handle)
