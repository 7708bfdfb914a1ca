"""A contract test suite for the :class:`~credlti.ports.LaunchStorage` port.

Every storage adapter must pass it, in each of its forms. To apply it, subclass
:class:`LaunchStorageContract` in a ``test_*.py`` module under a ``Test*`` name and
provide the seam:

* a ``storage`` fixture returning a fresh, empty adapter in its default configuration
  (no automatic deployment registration), and an ``async_storage`` fixture doing the
  same for its async form (:class:`~credlti.ports.AsyncLaunchStorage`) if it has
  one: every test then runs for both forms (see :mod:`tests.adapters.port_driver`);
* :meth:`~LaunchStorageContract.add_registration` and
  :meth:`~LaunchStorageContract.add_deployment`, which store a record the adapter's own
  way (a management method, an ORM insert...) and return the host object that
  ``get_registration`` / ``get_deployment`` are expected to hand back; they get the
  adapter behind a :class:`~tests.adapters.port_driver.PortDriver` (its calls look
  sync in both forms; ``storage.port`` is the adapter itself);
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

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from credlti.errors import NonceReusedError, RegistrationNotFoundError, StorageInvalidIdError
from credlti.lti import Deployment, Registration
from credlti.ports import NonceStatus
from credlti.testing import SimulatedPlatform
from tests.adapters.port_driver import PortDriver, TwoForms

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


class LaunchStorageContract(TwoForms):
    """The behaviour every ``LaunchStorage`` adapter must show (subclass to apply)."""

    sync_fixture = "storage"
    async_fixture = "async_storage"

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

    def test_get_registration_by_issuer_and_client_id(self, port: PortDriver) -> None:
        """``get_registration(iss, client_id)`` returns the stored host object as-is."""
        record = registration()
        host = self.add_registration(port, record)
        found = port.get_registration(record.issuer, record.client_id)
        self.assert_same_host(host, found)
        assert found.to_registration() == record

    def test_get_registration_without_client_id_uses_the_only_one(self, port: PortDriver) -> None:
        """With ``client_id=None`` the issuer's only registration is returned."""
        record = registration()
        host = self.add_registration(port, record)
        self.add_registration(port, registration("https://other.example.edu", "client-1"))
        self.assert_same_host(host, port.get_registration(record.issuer, None))

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
        self, port: PortDriver, issuer: str, client_id: str | None
    ) -> None:
        """Unknown issuers or client ids give ``None``; matching is exact and case-sensitive."""
        self.add_registration(port, registration())
        assert port.get_registration(issuer, client_id) is None

    def test_get_registration_on_empty_storage_is_none(self, port: PortDriver) -> None:
        """An empty storage knows no registration."""
        assert port.get_registration("https://lms.example.edu", None) is None
        assert port.get_registration("https://lms.example.edu", "client-1") is None

    def test_ambiguous_issuer_without_client_id_raises(self, port: PortDriver) -> None:
        """Two registrations for one issuer and no client_id: ``RegistrationNotFoundError``."""
        first = self.add_registration(port, registration(client_id="client-1"))
        second = self.add_registration(port, registration(client_id="client-2"))
        with pytest.raises(RegistrationNotFoundError) as info:
            port.get_registration("https://lms.example.edu", None)
        assert info.value.code == "registration_not_found"
        assert info.value.http_status == 400
        # With a client_id each one is found.
        self.assert_same_host(first, port.get_registration("https://lms.example.edu", "client-1"))
        self.assert_same_host(second, port.get_registration("https://lms.example.edu", "client-2"))

    # ------------------------------------------------------------- deployments

    def test_get_deployment_returns_host_object(self, port: PortDriver) -> None:
        """A stored deployment comes back as-is; one client id may have many deployments."""
        record = registration()
        self.add_registration(port, record)
        one = self.add_deployment(port, record, Deployment(deployment_id="dep-1"))
        two = self.add_deployment(port, record, Deployment(deployment_id="dep-2"))
        self.assert_same_host(one, port.get_deployment(record, "dep-1"))
        self.assert_same_host(two, port.get_deployment(record, "dep-2"))
        assert port.get_deployment(record, "dep-2").to_deployment() == Deployment(
            deployment_id="dep-2"
        )

    @pytest.mark.parametrize("asked", ["Dep-1", "DEP-1", "dep-1 ", " dep-1", "dep-2", "dep"])
    def test_get_deployment_is_exact_and_case_sensitive(self, port: PortDriver, asked: str) -> None:
        """Deployment ids match byte for byte: other case, spaces or prefixes give ``None``."""
        record = registration()
        self.add_registration(port, record)
        self.add_deployment(port, record, Deployment(deployment_id="dep-1"))
        assert port.get_deployment(record, asked) is None

    def test_deployment_ids_may_differ_only_by_case(self, port: PortDriver) -> None:
        """``dep-1`` and ``DEP-1`` are two deployments."""
        record = registration()
        self.add_registration(port, record)
        lower = self.add_deployment(port, record, Deployment(deployment_id="dep-1"))
        upper = self.add_deployment(port, record, Deployment(deployment_id="DEP-1"))
        self.assert_same_host(lower, port.get_deployment(record, "dep-1"))
        self.assert_same_host(upper, port.get_deployment(record, "DEP-1"))

    def test_deployment_never_crosses_registrations(self, port: PortDriver) -> None:
        """A deployment of one registration is unknown under another (same issuer or not)."""
        first, second = registration(client_id="client-1"), registration(client_id="client-2")
        other = registration("https://other.example.edu", "client-1")
        for record in (first, second, other):
            self.add_registration(port, record)
        self.add_deployment(port, first, Deployment(deployment_id="dep-1"))
        assert port.get_deployment(second, "dep-1") is None
        assert port.get_deployment(other, "dep-1") is None

    # ------------------------------------------------------------- nonces

    def _stored(self, port: PortDriver, nonce: str = "nonce-1", ttl: float = 600) -> Registration:
        record = registration()
        self.add_registration(port, record)
        port.store_nonce(nonce, record, expires_at=T0 + timedelta(seconds=ttl), now=T0)
        return record

    def test_nonce_consumed_once_then_already_used(self, port: PortDriver) -> None:
        """A stored nonce is CONSUMED once, then ALREADY_USED (a replay)."""
        record = self._stored(port)
        assert port.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED
        assert port.validate_nonce("nonce-1", record, now=T0) is NonceStatus.ALREADY_USED
        later = T0 + timedelta(seconds=60)
        assert port.validate_nonce("nonce-1", record, now=later) is NonceStatus.ALREADY_USED

    @pytest.mark.parametrize("asked", ["nonce-2", "NONCE-1", "nonce-1 ", "", "nonce-"])
    def test_nonce_never_issued_is_not_found(self, port: PortDriver, asked: str) -> None:
        """A nonce never issued (exact match) is NOT_FOUND, and the real one stays usable."""
        record = self._stored(port)
        assert port.validate_nonce(asked, record, now=T0) is NonceStatus.NOT_FOUND
        assert port.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED

    def test_nonce_of_another_registration_is_not_found(self, port: PortDriver) -> None:
        """A nonce issued for one registration is NOT_FOUND for another, and not burnt by it."""
        record = self._stored(port)
        for other in (
            registration(client_id="client-2"),
            registration("https://other.example.edu", "client-1"),
        ):
            self.add_registration(port, other)
            assert port.validate_nonce("nonce-1", other, now=T0) is NonceStatus.NOT_FOUND
        assert port.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED

    def test_nonce_after_expiry_is_not_found(self, port: PortDriver) -> None:
        """An unused nonce past its expiry is NOT_FOUND; just before, it is CONSUMED."""
        record = self._stored(port, "early", ttl=60)
        port.store_nonce("late", record, expires_at=T0 + timedelta(seconds=60), now=T0)
        before = T0 + timedelta(seconds=59)
        after = T0 + timedelta(seconds=61)
        assert port.validate_nonce("early", record, now=after) is NonceStatus.NOT_FOUND
        assert port.validate_nonce("late", record, now=before) is NonceStatus.CONSUMED

    def test_used_nonce_after_expiry_is_not_found(self, port: PortDriver) -> None:
        """Once expired, even a used nonce is NOT_FOUND (the launch is refused either way)."""
        record = self._stored(port, ttl=60)
        assert port.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED
        after = T0 + timedelta(seconds=61)
        assert port.validate_nonce("nonce-1", record, now=after) is NonceStatus.NOT_FOUND

    def test_nonces_are_independent(self, port: PortDriver) -> None:
        """Consuming one nonce leaves the others untouched."""
        record = self._stored(port, "a")
        port.store_nonce("b", record, expires_at=T0 + timedelta(seconds=600), now=T0)
        assert port.validate_nonce("a", record, now=T0) is NonceStatus.CONSUMED
        assert port.validate_nonce("b", record, now=T0) is NonceStatus.CONSUMED
        assert port.validate_nonce("a", record, now=T0) is NonceStatus.ALREADY_USED

    def test_concurrent_consumption_yields_exactly_one_consumed(self, port: PortDriver) -> None:
        """Eight consumers of one nonce at once (threads, or tasks): one CONSUMED."""
        record = self._stored(port)

        jobs = [[lambda store: store.validate_nonce("nonce-1", record, now=T0)]] * 8
        results = [status for (status,) in port.race(jobs)]

        assert results.count(NonceStatus.CONSUMED) == 1
        assert results.count(NonceStatus.ALREADY_USED) == 7

    def test_concurrent_consumption_of_many_nonces(self, port: PortDriver) -> None:
        """Eight consumers racing over many nonces: each nonce is CONSUMED exactly once."""
        record = self._stored(port, "n-0")
        for i in range(1, 50):
            port.store_nonce(f"n-{i}", record, expires_at=T0 + timedelta(seconds=600), now=T0)
        job = [
            lambda store, nonce=f"n-{i}": store.validate_nonce(nonce, record, now=T0)
            for i in range(50)
        ]

        results = port.race([job] * 8)

        won = [
            f"n-{i}"
            for statuses in results
            for i, status in enumerate(statuses)
            if status is NonceStatus.CONSUMED
        ]
        assert sorted(won) == sorted(f"n-{i}" for i in range(50))

    # ------------------------------------------------------------- hostile ids

    @pytest.mark.parametrize(
        "bad", ["", "nul\x00byte", "lone\ud800surrogate", "x" * 256, "line\nbreak"]
    )
    def test_hostile_ids_are_absent_or_refused(self, port: PortDriver, bad: str) -> None:
        """Unusable ids: lookups find nothing, writes raise StorageInvalidIdError."""
        record = self._stored(port)
        assert port.validate_nonce(bad, record, now=T0) is NonceStatus.NOT_FOUND
        assert port.get_registration(bad, None) is None
        assert port.get_registration(record.issuer, bad) is None
        with pytest.raises(StorageInvalidIdError):
            port.store_nonce(bad, record, expires_at=T0 + timedelta(seconds=60), now=T0)
        if len(bad) > 255 and not self.limits_deployment_ids:
            assert port.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED
            return
        assert port.get_deployment(record, bad) is None
        if bad:  # an empty deployment id is refused by the record itself
            with pytest.raises(StorageInvalidIdError):
                self.add_deployment(port, record, Deployment(deployment_id=bad))
        assert port.get_deployment(record, bad) is None
        assert port.validate_nonce("nonce-1", record, now=T0) is NonceStatus.CONSUMED

    # ------------------------------------------------------------- with a Tool

    def test_full_launch_returns_host_objects(
        self, port: PortDriver, platform: SimulatedPlatform
    ) -> None:
        """A real launch through a tool on this storage carries the host objects as-is.

        ``Tool`` for the sync form, ``AsyncTool`` for the async form.
        """
        host_registration = self.add_registration(port, platform.registration)
        host_deployment = self.add_deployment(port, platform.registration, platform.deployment)
        tool = port.tool(platform, port.port)
        redirect = tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
        form = platform.launch(redirect)
        launch = tool.handle_callback(form, redirect.cookie_value)
        self.assert_same_host(host_registration, launch.registration)
        self.assert_same_host(host_deployment, launch.deployment)
        # The nonce was consumed in this storage: a replay is refused.
        with pytest.raises(NonceReusedError):
            tool.handle_callback(form, redirect.cookie_value)

    def test_login_flood_keeps_the_nonce_store_bounded(
        self, port: PortDriver, platform: SimulatedPlatform
    ) -> None:
        """Logins started and never finished: the adapter drops expired nonces by itself.

        The tool's clock moves 1 s per login and a nonce lives 60 s, so about 60 are
        live at any time; however many logins arrive, the store never holds more than
        the live ones plus one sweep period of expired ones (no ``sweep_nonces`` call).
        """
        self.add_registration(port, platform.registration)
        tool = port.tool(platform, port.port, state_ttl=60)
        highest = 0
        for i in range(self.flood_logins):
            tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
            platform.clock.advance(1)
            if i % 100 == 99:
                highest = max(highest, self.count_nonces(port))
        assert 0 < highest <= 60 + self.flood_slack
        assert self.count_nonces(port) <= 60 + self.flood_slack
