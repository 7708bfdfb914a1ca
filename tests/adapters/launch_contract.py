"""A contract test suite for the :class:`~credlti.ports.LaunchStorage` port.

Every storage adapter must pass it. To apply it, subclass :class:`LaunchStorageContract`
in a ``test_*.py`` module under a ``Test*`` name and provide the seam:

* a ``storage`` fixture returning a fresh, empty adapter in its default configuration
  (no automatic deployment registration);
* :meth:`~LaunchStorageContract.add_registration` and
  :meth:`~LaunchStorageContract.add_deployment`, which store a record the adapter's own
  way (a management method, an ORM insert...) and return the host object that
  ``get_registration`` / ``get_deployment`` are expected to hand back;
* optionally :meth:`~LaunchStorageContract.assert_same_host`, if the adapter returns
  equal rather than identical host objects (the default demands identity).

Example::

    class TestMemoryLaunchStorage(LaunchStorageContract):
        @pytest.fixture
        def storage(self) -> MemoryLaunchStorage[Any, Any]:
            return MemoryLaunchStorage()

        def add_registration(self, storage, registration):
            storage.add_registration(registration)
            return registration

        def add_deployment(self, storage, registration, deployment):
            storage.add_deployment(registration, deployment)
            return deployment
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from credlti.errors import NonceReusedError, RegistrationNotFoundError, StorageInvalidIdError
from credlti.lti import Deployment, Registration, Tool
from credlti.ports import NonceStatus
from credlti.testing import SimulatedPlatform

__all__ = ["T0", "LaunchStorageContract", "registration"]

#: A fixed "now" for nonce tests.
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)


def registration(
    issuer: str = "https://lms.example.edu", client_id: str = "client-1"
) -> Registration:
    """A registration record for *issuer* and *client_id*."""
    return Registration(
        issuer=issuer,
        client_id=client_id,
        auth_endpoint=f"{issuer}/auth",
        jwks_uri=f"{issuer}/jwks",
    )


class LaunchStorageContract:
    """The behaviour every ``LaunchStorage`` adapter must show (subclass to apply)."""

    # ------------------------------------------------------------- the seam

    @pytest.fixture
    def storage(self) -> Any:
        """A fresh, empty adapter; subclasses must override this fixture."""
        raise NotImplementedError

    def add_registration(self, storage: Any, record: Registration) -> Any:
        """Store *record*; return the host object ``get_registration`` should return."""
        raise NotImplementedError

    def add_deployment(self, storage: Any, record: Registration, deployment: Deployment) -> Any:
        """Store *deployment* under *record*; return the host object expected back."""
        raise NotImplementedError

    def assert_same_host(self, expected: Any, actual: Any) -> None:
        """Demand that *actual* is the host object the seam returned (identity by default)."""
        assert actual is expected

    def count_nonces(self, storage: Any) -> int:
        """How many nonces the adapter holds (issued or used, not yet removed)."""
        return len(storage)

    #: Logins a flood test starts; enough for every adapter's amortised sweep to run.
    flood_logins = 3000
    #: Expired nonces an adapter may hold between two of its sweeps.
    flood_slack = 1100
    #: Whether deployment ids over 255 characters are refused (SQL columns), or left
    #: to the launch policy (``enforce_id_limits``), as in memory.
    limits_deployment_ids = True

    # ------------------------------------------------------------- registrations

    def test_get_registration_by_issuer_and_client_id(self, storage: Any) -> None:
        """``get_registration(iss, client_id)`` returns the stored host object as-is."""
        record = registration()
        host = self.add_registration(storage, record)
        found = storage.get_registration(record.issuer, record.client_id)
        self.assert_same_host(host, found)
        assert found.to_registration() == record

    def test_get_registration_without_client_id_uses_the_only_one(self, storage: Any) -> None:
        """With ``client_id=None`` the issuer's only registration is returned."""
        record = registration()
        host = self.add_registration(storage, record)
        self.add_registration(storage, registration("https://other.example.edu", "client-1"))
        self.assert_same_host(host, storage.get_registration(record.issuer, None))

    @pytest.mark.parametrize(
        ("issuer", "client_id"),
        [
            ("https://unknown.example.edu", "client-1"),
            ("https://unknown.example.edu", None),
            ("https://lms.example.edu", "client-2"),
            ("https://lms.example.edu/", "client-1"),
            ("https://LMS.example.edu", "client-1"),
            ("http://lms.example.edu", None),
            ("https://lms.example.edu", "Client-1"),
        ],
    )
    def test_get_registration_unknown_is_none(
        self, storage: Any, issuer: str, client_id: str | None
    ) -> None:
        """Unknown issuers or client ids give ``None``; matching is exact and case-sensitive."""
        self.add_registration(storage, registration())
        assert storage.get_registration(issuer, client_id) is None

    def test_get_registration_on_empty_storage_is_none(self, storage: Any) -> None:
        """An empty storage knows no registration."""
        assert storage.get_registration("https://lms.example.edu", None) is None
        assert storage.get_registration("https://lms.example.edu", "client-1") is None

    def test_ambiguous_issuer_without_client_id_raises(self, storage: Any) -> None:
        """Two registrations for one issuer and no client_id: ``RegistrationNotFoundError``."""
        first = self.add_registration(storage, registration(client_id="client-1"))
        second = self.add_registration(storage, registration(client_id="client-2"))
        with pytest.raises(RegistrationNotFoundError) as info:
            storage.get_registration("https://lms.example.edu", None)
        assert info.value.code == "registration_not_found"
        assert info.value.http_status == 400
        # With a client_id each one is found.
        self.assert_same_host(
            first, storage.get_registration("https://lms.example.edu", "client-1")
        )
        self.assert_same_host(
            second, storage.get_registration("https://lms.example.edu", "client-2")
        )

    # ------------------------------------------------------------- deployments

    def test_get_deployment_returns_host_object(self, storage: Any) -> None:
        """A stored deployment comes back as-is; one client id may have many deployments."""
        record = registration()
        self.add_registration(storage, record)
        one = self.add_deployment(storage, record, Deployment(deployment_id="dep-1"))
        two = self.add_deployment(storage, record, Deployment(deployment_id="dep-2"))
        self.assert_same_host(one, storage.get_deployment(record, "dep-1"))
        self.assert_same_host(two, storage.get_deployment(record, "dep-2"))
        assert storage.get_deployment(record, "dep-2").to_deployment() == Deployment(
            deployment_id="dep-2"
        )

    @pytest.mark.parametrize("asked", ["Dep-1", "DEP-1", "dep-1 ", " dep-1", "dep-2", "dep"])
    def test_get_deployment_is_exact_and_case_sensitive(self, storage: Any, asked: str) -> None:
        """Deployment ids match byte for byte: other case, spaces or prefixes give ``None``."""
        record = registration()
        self.add_registration(storage, record)
        self.add_deployment(storage, record, Deployment(deployment_id="dep-1"))
        assert storage.get_deployment(record, asked) is None

    def test_deployment_ids_may_differ_only_by_case(self, storage: Any) -> None:
        """``dep-1`` and ``DEP-1`` are two deployments."""
        record = registration()
        self.add_registration(storage, record)
        lower = self.add_deployment(storage, record, Deployment(deployment_id="dep-1"))
        upper = self.add_deployment(storage, record, Deployment(deployment_id="DEP-1"))
        self.assert_same_host(lower, storage.get_deployment(record, "dep-1"))
        self.assert_same_host(upper, storage.get_deployment(record, "DEP-1"))

    def test_deployment_never_crosses_registrations(self, storage: Any) -> None:
        """A deployment of one registration is unknown under another (same issuer or not)."""
        first, second = registration(client_id="client-1"), registration(client_id="client-2")
        other = registration("https://other.example.edu", "client-1")
        for record in (first, second, other):
            self.add_registration(storage, record)
        self.add_deployment(storage, first, Deployment(deployment_id="dep-1"))
        assert storage.get_deployment(second, "dep-1") is None
        assert storage.get_deployment(other, "dep-1") is None

    # ------------------------------------------------------------- nonces

    def _stored(self, storage: Any, nonce: str = "nonce-1", ttl: float = 600) -> Registration:
        record = registration()
        self.add_registration(storage, record)
        storage.store_nonce(nonce, record, expires_at=T0 + timedelta(seconds=ttl), now=T0)
        return record

    def test_nonce_consumed_once_then_already_used(self, storage: Any) -> None:
        """A stored nonce is CONSUMED once, then ALREADY_USED (a replay)."""
        record = self._stored(storage)
        assert storage.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED
        assert storage.validate_nonce("nonce-1", record, now=T0) is NonceStatus.ALREADY_USED
        later = T0 + timedelta(seconds=60)
        assert storage.validate_nonce("nonce-1", record, now=later) is NonceStatus.ALREADY_USED

    @pytest.mark.parametrize("asked", ["nonce-2", "NONCE-1", "nonce-1 ", "", "nonce-"])
    def test_nonce_never_issued_is_not_found(self, storage: Any, asked: str) -> None:
        """A nonce never issued (exact match) is NOT_FOUND, and the real one stays usable."""
        record = self._stored(storage)
        assert storage.validate_nonce(asked, record, now=T0) is NonceStatus.NOT_FOUND
        assert storage.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED

    def test_nonce_of_another_registration_is_not_found(self, storage: Any) -> None:
        """A nonce issued for one registration is NOT_FOUND for another, and not burnt by it."""
        record = self._stored(storage)
        for other in (
            registration(client_id="client-2"),
            registration("https://other.example.edu", "client-1"),
        ):
            self.add_registration(storage, other)
            assert storage.validate_nonce("nonce-1", other, now=T0) is NonceStatus.NOT_FOUND
        assert storage.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED

    def test_nonce_after_expiry_is_not_found(self, storage: Any) -> None:
        """An unused nonce past its expiry is NOT_FOUND; just before, it is CONSUMED."""
        record = self._stored(storage, "early", ttl=60)
        storage.store_nonce("late", record, expires_at=T0 + timedelta(seconds=60), now=T0)
        before = T0 + timedelta(seconds=59)
        after = T0 + timedelta(seconds=61)
        assert storage.validate_nonce("early", record, now=after) is NonceStatus.NOT_FOUND
        assert storage.validate_nonce("late", record, now=before) is NonceStatus.CONSUMED

    def test_used_nonce_after_expiry_is_not_found(self, storage: Any) -> None:
        """Once expired, even a used nonce is NOT_FOUND (the launch is refused either way)."""
        record = self._stored(storage, ttl=60)
        assert storage.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED
        after = T0 + timedelta(seconds=61)
        assert storage.validate_nonce("nonce-1", record, now=after) is NonceStatus.NOT_FOUND

    def test_nonces_are_independent(self, storage: Any) -> None:
        """Consuming one nonce leaves the others untouched."""
        record = self._stored(storage, "a")
        storage.store_nonce("b", record, expires_at=T0 + timedelta(seconds=600), now=T0)
        assert storage.validate_nonce("a", record, now=T0) is NonceStatus.CONSUMED
        assert storage.validate_nonce("b", record, now=T0) is NonceStatus.CONSUMED
        assert storage.validate_nonce("a", record, now=T0) is NonceStatus.ALREADY_USED

    def test_concurrent_consumption_yields_exactly_one_consumed(self, storage: Any) -> None:
        """Eight threads consuming one nonce at once: exactly one CONSUMED, seven ALREADY_USED."""
        record = self._stored(storage)
        barrier = threading.Barrier(8)

        def consume(_: int) -> NonceStatus:
            barrier.wait()
            status: NonceStatus = storage.validate_nonce("nonce-1", record, now=T0)
            return status

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(consume, range(8)))
        assert results.count(NonceStatus.CONSUMED) == 1
        assert results.count(NonceStatus.ALREADY_USED) == 7

    def test_concurrent_consumption_of_many_nonces(self, storage: Any) -> None:
        """Many threads racing over many nonces: each nonce is CONSUMED exactly once."""
        record = self._stored(storage, "n-0")
        for i in range(1, 50):
            storage.store_nonce(f"n-{i}", record, expires_at=T0 + timedelta(seconds=600), now=T0)
        barrier = threading.Barrier(8)

        def consume_all(_: int) -> list[str]:
            barrier.wait()
            return [
                f"n-{i}"
                for i in range(50)
                if storage.validate_nonce(f"n-{i}", record, now=T0) is NonceStatus.CONSUMED
            ]

        with ThreadPoolExecutor(max_workers=8) as pool:
            won = [n for batch in pool.map(consume_all, range(8)) for n in batch]
        assert sorted(won) == sorted(f"n-{i}" for i in range(50))

    # ------------------------------------------------------------- hostile ids

    @pytest.mark.parametrize(
        "bad", ["", "nul\x00byte", "lone\ud800surrogate", "x" * 256, "line\nbreak"]
    )
    def test_hostile_ids_are_absent_or_refused(self, storage: Any, bad: str) -> None:
        """Unusable ids: lookups find nothing, writes raise StorageInvalidIdError."""
        record = self._stored(storage)
        assert storage.validate_nonce(bad, record, now=T0) is NonceStatus.NOT_FOUND
        assert storage.get_registration(bad, None) is None
        assert storage.get_registration(record.issuer, bad) is None
        with pytest.raises(StorageInvalidIdError):
            storage.store_nonce(bad, record, expires_at=T0 + timedelta(seconds=60), now=T0)
        if len(bad) > 255 and not self.limits_deployment_ids:
            assert storage.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED
            return
        assert storage.get_deployment(record, bad) is None
        if bad:  # an empty deployment id is refused by the record itself
            with pytest.raises(StorageInvalidIdError):
                self.add_deployment(storage, record, Deployment(deployment_id=bad))
        assert storage.get_deployment(record, bad) is None
        assert storage.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED

    # ------------------------------------------------------------- with a Tool

    def test_full_launch_returns_host_objects(
        self, storage: Any, platform: SimulatedPlatform
    ) -> None:
        """A real launch through a ``Tool`` on this storage carries the host objects as-is."""
        host_registration = self.add_registration(storage, platform.registration)
        host_deployment = self.add_deployment(storage, platform.registration, platform.deployment)
        client = httpx.Client(transport=platform.transport)
        tool: Tool[Any, Any] = Tool(storage, http_client=client, clock=platform.clock)
        redirect = tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
        form = platform.launch(redirect)
        launch = tool.handle_callback(form, redirect.cookie_value)
        self.assert_same_host(host_registration, launch.registration)
        self.assert_same_host(host_deployment, launch.deployment)
        # The nonce was consumed in this storage: a replay is refused.
        with pytest.raises(NonceReusedError):
            tool.handle_callback(form, redirect.cookie_value)

    def test_login_flood_keeps_the_nonce_store_bounded(
        self, storage: Any, platform: SimulatedPlatform
    ) -> None:
        """Logins started and never finished: the adapter drops expired nonces by itself.

        The tool's clock moves 1 s per login and a nonce lives 60 s, so about 60 are
        live at any time; however many logins arrive, the store never holds more than
        the live ones plus one sweep period of expired ones (no ``sweep_nonces`` call).
        """
        self.add_registration(storage, platform.registration)
        client = httpx.Client(transport=platform.transport)
        tool: Tool[Any, Any] = Tool(storage, http_client=client, clock=platform.clock, state_ttl=60)
        highest = 0
        for i in range(self.flood_logins):
            tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
            platform.clock.advance(1)
            if i % 100 == 99:
                highest = max(highest, self.count_nonces(storage))
        assert 0 < highest <= 60 + self.flood_slack
        assert self.count_nonces(storage) <= 60 + self.flood_slack
