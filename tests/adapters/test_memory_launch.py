"""The in-memory LaunchStorage: the port contract plus memory-only behaviour."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from credlti.adapters.memory import AsyncMemoryLaunchStorage, MemoryLaunchStorage
from credlti.errors import DeploymentNotFoundError
from credlti.lti import Deployment, Registration
from credlti.lti._claims import DEPLOYMENT_ID
from credlti.ports import LaunchStorage, NonceStatus
from credlti.testing import SimulatedPlatform

from .launch_contract import T0, LaunchStorageContract, registration
from .port_driver import PortDriver


@attrs.frozen
class HostRegistration:
    """A host's own registration object (e.g. an ORM row)."""

    record: Registration
    tenant: str = "tenant-1"

    def to_registration(self) -> Registration:
        """The credlti record."""
        return self.record


@attrs.frozen
class HostDeployment:
    """A host's own deployment object."""

    record: Deployment
    course_count: int = 0

    def to_deployment(self) -> Deployment:
        """The credlti record."""
        return self.record


Storage = MemoryLaunchStorage[HostRegistration, HostDeployment]


class TestMemoryLaunchStorage(LaunchStorageContract):
    """``MemoryLaunchStorage`` satisfies the LaunchStorage contract with host objects."""

    limits_deployment_ids = False

    @pytest.fixture
    def storage(self) -> Storage:
        """A fresh memory storage."""
        return MemoryLaunchStorage()

    @pytest.fixture
    def async_storage(self) -> AsyncMemoryLaunchStorage[HostRegistration, HostDeployment]:
        """A fresh memory storage, async form."""
        return AsyncMemoryLaunchStorage()

    def add_registration(self, storage: PortDriver, record: Registration) -> HostRegistration:
        """Wrap *record* in a host object and store it."""
        host = HostRegistration(record)
        storage.add_registration(host)
        return host

    def add_deployment(
        self, storage: PortDriver, record: Registration, deployment: Deployment
    ) -> HostDeployment:
        """Wrap *deployment* in a host object and store it."""
        host = HostDeployment(deployment)
        storage.add_deployment(record, host)
        return host


class TestMemoryWithPlainRecords(LaunchStorageContract):
    """The contract also holds when the records themselves are stored (no host types)."""

    limits_deployment_ids = False

    @pytest.fixture
    def storage(self) -> MemoryLaunchStorage[Registration, Deployment]:
        """A fresh memory storage."""
        return MemoryLaunchStorage()

    @pytest.fixture
    def async_storage(self) -> AsyncMemoryLaunchStorage[Registration, Deployment]:
        """A fresh memory storage, async form."""
        return AsyncMemoryLaunchStorage()

    def add_registration(self, storage: PortDriver, record: Registration) -> Registration:
        """Store the record itself."""
        storage.add_registration(record)
        return record

    def add_deployment(
        self, storage: PortDriver, record: Registration, deployment: Deployment
    ) -> Deployment:
        """Store the record itself."""
        storage.add_deployment(record, deployment)
        return deployment


def test_memory_storage_satisfies_the_port_statically() -> None:
    """``MemoryLaunchStorage`` type-checks as a ``LaunchStorage`` (checked by mypy)."""
    storage: LaunchStorage[Registration, Deployment] = MemoryLaunchStorage[
        Registration, Deployment
    ]()
    assert storage.get_registration("https://lms.example.edu", None) is None


# --------------------------------------------------------------------------- auto-registration


def test_auto_register_deployments_creates_once_then_returns_same() -> None:
    """With ``auto_register_deployments`` an unknown id of a known registration is created once."""
    storage: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage(
        auto_register_deployments=True
    )
    record = registration()
    storage.add_registration(record)
    created = storage.get_deployment(record, "new-dep")
    assert created == Deployment(deployment_id="new-dep")
    assert storage.get_deployment(record, "new-dep") is created
    assert storage.get_deployment(record, "NEW-DEP") is not created  # case-sensitive


def test_auto_register_deployments_needs_a_known_registration() -> None:
    """Auto-registration never creates deployments for an unknown (or removed) registration."""
    storage: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage(
        auto_register_deployments=True
    )
    record = registration()
    assert storage.get_deployment(record, "dep-1") is None
    storage.add_registration(record)
    storage.remove_registration(record.issuer, record.client_id)
    assert storage.get_deployment(record, "dep-1") is None


def test_without_auto_registration_unknown_deployment_is_none() -> None:
    """By default an unknown deployment id is ``None``."""
    storage: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage()
    record = registration()
    storage.add_registration(record)
    assert storage.get_deployment(record, "dep-1") is None


def test_auto_registered_deployment_through_a_launch(platform: SimulatedPlatform) -> None:
    """A launch from a new deployment succeeds with auto-registration, fails without it."""
    storage: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage(
        auto_register_deployments=True
    )
    platform.install(storage)
    tool = platform.tool(storage)
    redirect = tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
    launch = tool.handle_callback(
        platform.launch(redirect, claims={DEPLOYMENT_ID: "copied-course-dep"}),
        redirect.cookie_value,
    )
    assert launch.deployment == Deployment(deployment_id="copied-course-dep")

    strict = platform.tool()
    redirect = strict.handle_login(platform.login_params(), "https://tool.example.com/launch")
    form = platform.launch(redirect, claims={DEPLOYMENT_ID: "copied-course-dep"})
    with pytest.raises(DeploymentNotFoundError):
        strict.handle_callback(form, redirect.cookie_value)


# --------------------------------------------------------------------------- sweeping


def test_sweep_nonces_drops_expired_used_and_unused() -> None:
    """``sweep_nonces(now)`` drops expired nonces (used or not) and keeps live ones."""
    storage: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage()
    record = registration()
    storage.store_nonce("old-unused", record, expires_at=T0 + timedelta(seconds=10), now=T0)
    storage.store_nonce("old-used", record, expires_at=T0 + timedelta(seconds=10), now=T0)
    storage.store_nonce("live", record, expires_at=T0 + timedelta(seconds=100), now=T0)
    assert storage.validate_nonce("old-used", record, now=T0) is NonceStatus.CONSUMED
    assert len(storage) == 3
    assert storage.sweep_nonces(T0 + timedelta(seconds=5)) == 0
    assert storage.sweep_nonces(T0 + timedelta(seconds=50)) == 2
    assert len(storage) == 1
    assert storage.sweep_nonces(T0 + timedelta(seconds=50)) == 0
    assert storage.validate_nonce("live", record, now=T0) is NonceStatus.CONSUMED


def test_nonces_are_swept_automatically_while_storing() -> None:
    """After 1024 stores, nonces that expired before the latest validation time are dropped."""
    storage: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage()
    record = registration()
    storage.store_nonce("expired", record, expires_at=T0 + timedelta(seconds=1), now=T0)
    later = T0 + timedelta(seconds=10)
    assert storage.validate_nonce("unknown", record, now=later) is NonceStatus.NOT_FOUND
    for i in range(1023):
        storage.store_nonce(f"n-{i}", record, expires_at=T0 + timedelta(seconds=600), now=T0)
    assert len(storage) == 1023
    assert storage.validate_nonce("n-0", record, now=later) is NonceStatus.CONSUMED


# --------------------------------------------------------------------------- management


def test_remove_registration_drops_it_and_its_deployments_only() -> None:
    """``remove_registration`` removes one registration and its deployments, nothing else."""
    storage: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage()
    first, second = registration(client_id="client-1"), registration(client_id="client-2")
    for record in (first, second):
        storage.add_registration(record)
        storage.add_deployment(record, Deployment(deployment_id="dep-1"))
    storage.remove_registration(first.issuer, first.client_id)
    assert storage.get_registration(first.issuer, first.client_id) is None
    assert storage.get_deployment(first, "dep-1") is None
    assert storage.get_registration(first.issuer, None) is second
    assert storage.get_deployment(second, "dep-1") == Deployment(deployment_id="dep-1")
    # Re-adding the registration does not resurrect its deployments.
    storage.add_registration(first)
    assert storage.get_deployment(first, "dep-1") is None


def test_remove_unknown_registration_is_ignored() -> None:
    """Removing a registration that does not exist is a no-op."""
    storage: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage()
    storage.add_registration(registration())
    storage.remove_registration("https://unknown.example.edu", "client-1")
    storage.remove_registration("https://lms.example.edu", "client-9")
    assert storage.get_registration("https://lms.example.edu", "client-1") == registration()


def test_add_registration_replaces_same_issuer_and_client_id() -> None:
    """Adding a registration again for the same ``(iss, client_id)`` replaces it."""
    storage: MemoryLaunchStorage[HostRegistration, HostDeployment] = MemoryLaunchStorage()
    first = HostRegistration(registration(), tenant="a")
    second = HostRegistration(registration(), tenant="b")
    storage.add_registration(first)
    storage.add_registration(second)
    assert storage.get_registration("https://lms.example.edu", None) is second


def test_add_deployment_replaces_same_id() -> None:
    """Adding a deployment again under the same id replaces the host object."""
    storage: MemoryLaunchStorage[HostRegistration, HostDeployment] = MemoryLaunchStorage()
    record = registration()
    storage.add_registration(HostRegistration(record))
    first = HostDeployment(Deployment(deployment_id="dep-1"), course_count=1)
    second = HostDeployment(Deployment(deployment_id="dep-1"), course_count=2)
    storage.add_deployment(record, first)
    storage.add_deployment(record, second)
    assert storage.get_deployment(record, "dep-1") is second
