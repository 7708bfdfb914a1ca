"""A contract suite for the :class:`~credlti.ports.NonceStore` port, sync and async.

Subclass :class:`NonceStoreContract` in a ``test_*.py`` module and provide a
``nonce_store`` fixture (a fresh, empty store) and, when the adapter has an async
form (:class:`~credlti.ports.AsyncNonceStore`), an ``async_nonce_store`` fixture:
every test then runs against both forms (see :mod:`tests.adapters.port_driver`).
"""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from credlti.lti import Registration
from credlti.ports import NonceStatus
from tests.adapters.port_driver import PortDriver, TwoForms

__all__ = ["T0", "NonceStoreContract", "registration"]

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


class NonceStoreContract(TwoForms):
    """What every ``NonceStore`` (and its async twin) must do."""

    sync_fixture = "nonce_store"
    async_fixture = "async_nonce_store"

    @pytest.fixture
    def nonce_store(self) -> Any:
        """A fresh, empty store; subclasses override this fixture."""
        raise NotImplementedError

    # ------------------------------------------------------------- helpers

    def store(
        self,
        store: PortDriver,
        nonce: str,
        record: Registration,
        *,
        ttl: float = 600,
        now: datetime = T0,
    ) -> None:
        expires_at = now + timedelta(seconds=ttl)
        if "now" in inspect.signature(store.port.store_nonce).parameters:
            store.store_nonce(nonce, record, expires_at=expires_at, now=now)
        else:  # the port before store_nonce took now=
            store.store_nonce(nonce, record, expires_at=expires_at)

    def consume(
        self, store: PortDriver, nonce: str, record: Registration, now: datetime = T0
    ) -> NonceStatus:
        status: NonceStatus = store.validate_nonce(nonce, record, now=now)
        return status

    # ------------------------------------------------------------- the contract

    def test_stored_nonce_is_consumed_once_then_already_used(self, port: PortDriver) -> None:
        """Store, consume: CONSUMED; a replay (now or later, before expiry): ALREADY_USED."""
        record = registration()
        self.store(port, "nonce-1", record)
        assert self.consume(port, "nonce-1", record) is NonceStatus.CONSUMED
        assert self.consume(port, "nonce-1", record) is NonceStatus.ALREADY_USED
        later = T0 + timedelta(seconds=599)
        assert self.consume(port, "nonce-1", record, later) is NonceStatus.ALREADY_USED

    @pytest.mark.parametrize("asked", ["nonce-2", "NONCE-1", "nonce-1 ", "", "nonce-"])
    def test_unknown_nonce_is_not_found(self, port: PortDriver, asked: str) -> None:
        """A nonce never issued (exact match) is NOT_FOUND; the real one stays usable."""
        record = registration()
        self.store(port, "nonce-1", record)
        assert self.consume(port, asked, record) is NonceStatus.NOT_FOUND
        assert self.consume(port, "nonce-1", record) is NonceStatus.CONSUMED

    def test_nonce_of_another_registration_is_not_found(self, port: PortDriver) -> None:
        """A nonce is bound to its registration, and another's attempt does not burn it."""
        record = registration()
        self.store(port, "nonce-1", record)
        for other in (registration(client_id="client-2"), registration("https://x.example")):
            assert self.consume(port, "nonce-1", other) is NonceStatus.NOT_FOUND
        assert self.consume(port, "nonce-1", record) is NonceStatus.CONSUMED

    def test_expiry_is_judged_by_the_tools_now(self, port: PortDriver) -> None:
        """Unused past its expiry: NOT_FOUND; just before: CONSUMED (whatever the real time)."""
        record = registration()
        self.store(port, "early", record, ttl=60)
        self.store(port, "late", record, ttl=60)
        before, after = T0 + timedelta(seconds=59), T0 + timedelta(seconds=61)
        assert self.consume(port, "early", record, after) is NonceStatus.NOT_FOUND
        assert self.consume(port, "late", record, before) is NonceStatus.CONSUMED
        at = T0 + timedelta(seconds=60)
        self.store(port, "edge", record, ttl=60)
        assert self.consume(port, "edge", record, at) is NonceStatus.NOT_FOUND

    def test_used_nonce_after_expiry_is_not_found(self, port: PortDriver) -> None:
        """Once expired, even a used nonce is NOT_FOUND (refused either way)."""
        record = registration()
        self.store(port, "nonce-1", record, ttl=60)
        assert self.consume(port, "nonce-1", record) is NonceStatus.CONSUMED
        after = T0 + timedelta(seconds=61)
        assert self.consume(port, "nonce-1", record, after) is NonceStatus.NOT_FOUND

    def test_nonces_are_independent(self, port: PortDriver) -> None:
        """Consuming one nonce leaves the others untouched."""
        record = registration()
        self.store(port, "a", record)
        self.store(port, "b", record)
        assert self.consume(port, "a", record) is NonceStatus.CONSUMED
        assert self.consume(port, "b", record) is NonceStatus.CONSUMED
        assert self.consume(port, "a", record) is NonceStatus.ALREADY_USED

    def test_already_expired_at_store_time_is_not_found(self, port: PortDriver) -> None:
        """A nonce stored with an expiry already past is never CONSUMED."""
        record = registration()
        self.store(port, "old", record, ttl=-5)
        assert self.consume(port, "old", record) is NonceStatus.NOT_FOUND

    def test_eight_racing_consumers_of_one_nonce_consume_it_once(self, port: PortDriver) -> None:
        """Eight at once (threads, or tasks): one CONSUMED, seven ALREADY_USED."""
        record = registration()
        self.store(port, "nonce-1", record)

        jobs = [[lambda store: store.validate_nonce("nonce-1", record, now=T0)]] * 8
        results = [status for (status,) in port.race(jobs)]

        assert results.count(NonceStatus.CONSUMED) == 1
        assert results.count(NonceStatus.ALREADY_USED) == 7
