"""In-memory :class:`~credlti.ports.LaunchStorage` and its async form."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import Generic, TypeVar, cast

import attrs

from credlti.adapters._ids import ISSUER_MAX_LENGTH, check_ids, usable
from credlti.errors import RegistrationNotFoundError
from credlti.lti._records import Deployment, Registration
from credlti.lti.ports import Deployable, NonceStatus, Registerable

__all__ = ["AsyncMemoryLaunchStorage", "MemoryLaunchStorage"]

R = TypeVar("R", bound=Registerable)
D = TypeVar("D", bound=Deployable)

#: LTI ids have no length limit here: the launch policy decides how long a platform's
#: ids may be (``LaunchPolicy.enforce_id_limits``); SQL tables hold 255 characters.
_NO_LIMIT = sys.maxsize

#: Sweep expired nonces once this many have been stored since the last sweep.
_SWEEP_EVERY = 1024


@attrs.define
class MemoryLaunchStorage(Generic[R, D]):
    """Registrations, deployments and nonces in process memory.

    Satisfies :class:`credlti.ports.LaunchStorage`. Host objects are stored as given
    and returned as given, so a :class:`~credlti.lti.LaunchContext` carries them.

    Type parameters: ``R`` and ``D``, the host's registration and deployment
    classes (``MemoryLaunchStorage[MyRegistration, MyDeployment]()``); a tool built
    on the storage takes them (``Tool(storage)`` is a ``Tool[R, D]``).

    Args:
        auto_register_deployments: When True, an unknown ``deployment_id`` of a
            known registration is created on first launch (it is only looked up after
            the launch verified), as Canvas makes new deployments on course copy.
            Created deployments are plain :class:`~credlti.lti.Deployment` records,
            so use it with a ``D`` that admits them (``Deployment`` itself, or a
            union or protocol that includes it).

    Example::

        storage = MemoryLaunchStorage()
        storage.add_registration(registration)
        storage.add_deployment(registration, Deployment(deployment_id="1"))
    """

    auto_register_deployments: bool = False
    _registrations: dict[tuple[str, str], R] = attrs.field(factory=dict, init=False)
    _deployments: dict[tuple[str, str, str], D] = attrs.field(factory=dict, init=False)
    # (issuer, client_id, nonce) -> [expires_at timestamp, used]
    _nonces: dict[tuple[str, str, str], list[float | bool]] = attrs.field(factory=dict, init=False)
    _stored_since_sweep: int = attrs.field(default=0, init=False)
    # The latest "now" seen (store_nonce, validate_nonce): time only moves forward, so a nonce
    # that expired before it is dead whatever clock the tool uses.
    _last_now: float = attrs.field(default=0.0, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    # ------------------------------------------------------------- management

    def add_registration(self, registration: R) -> None:
        """Add or replace a registration (any :class:`~credlti.ports.Registerable`)."""
        record = registration.to_registration()
        check_ids("adding a registration", max_length=ISSUER_MAX_LENGTH, issuer=record.issuer)
        check_ids("adding a registration", client_id=record.client_id)
        with self._lock:
            self._registrations[record.issuer, record.client_id] = registration

    def remove_registration(self, issuer: str, client_id: str) -> None:
        """Remove a registration and its deployments; unknown ones are ignored."""
        with self._lock:
            self._registrations.pop((issuer, client_id), None)
            for key in [k for k in self._deployments if k[:2] == (issuer, client_id)]:
                del self._deployments[key]

    def add_deployment(self, registration: Registerable, deployment: D) -> None:
        """Add or replace a deployment under *registration*."""
        record = registration.to_registration()
        deployment_id = deployment.to_deployment().deployment_id
        check_ids("adding a deployment", max_length=_NO_LIMIT, deployment_id=deployment_id)
        with self._lock:
            self._deployments[record.issuer, record.client_id, deployment_id] = deployment

    # ------------------------------------------------------------- RegistrationStore

    def get_registration(self, issuer: str, client_id: str | None) -> R | None:
        """Return the registration for *issuer* (and *client_id*), or ``None``."""
        with self._lock:
            if client_id is not None:
                return self._registrations.get((issuer, client_id))
            matches = [r for (iss, _), r in self._registrations.items() if iss == issuer]
        if len(matches) > 1:
            msg = (
                f"issuer {issuer!r} has {len(matches)} registrations and the platform sent "
                "no client_id; ask it to send client_id or give each registration its own "
                "login URL"
            )
            raise RegistrationNotFoundError(msg, details={"issuer": issuer})
        return matches[0] if matches else None

    def get_deployment(self, registration: Registration, deployment_id: str) -> D | None:
        """Return the deployment, creating it when ``auto_register_deployments`` is set.

        A created deployment is a plain :class:`~credlti.lti.Deployment` record.
        """
        key = (registration.issuer, registration.client_id, deployment_id)
        if not usable(deployment_id, max_length=_NO_LIMIT):
            return None
        with self._lock:
            found = self._deployments.get(key)
            if found is None and self.auto_register_deployments:
                if (registration.issuer, registration.client_id) not in self._registrations:
                    return None
                # A plain record: the class docstring asks for a D that admits it.
                found = self._deployments[key] = cast("D", Deployment(deployment_id=deployment_id))
            return found

    # ------------------------------------------------------------- NonceStore

    def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        """Record an issued nonce until *expires_at*.

        Every 1,024 stores, the nonces expired at *now* (the tool's clock) are dropped,
        so the store stays bounded even when logins are never finished.
        """
        check_ids("storing a nonce", nonce=nonce)
        expiry = expires_at.timestamp()
        ts = now.timestamp()
        with self._lock:
            if ts > self._last_now:
                self._last_now = ts
            self._nonces[registration.issuer, registration.client_id, nonce] = [expiry, False]
            self._stored_since_sweep += 1
            if self._stored_since_sweep >= _SWEEP_EVERY:
                self._sweep(self._last_now)

    def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        """Consume *nonce* atomically (under the store's lock)."""
        key = (registration.issuer, registration.client_id, nonce)
        ts = now.timestamp()
        with self._lock:
            if ts > self._last_now:
                self._last_now = ts
            entry = self._nonces.get(key)
            if entry is None or entry[0] <= ts:
                return NonceStatus.NOT_FOUND
            if entry[1]:
                return NonceStatus.ALREADY_USED
            entry[1] = True  # kept as a tombstone until expiry to detect replays
            return NonceStatus.CONSUMED

    def sweep_nonces(self, now: datetime) -> int:
        """Drop nonces (used or not) that expired before *now*; return how many."""
        with self._lock:
            return self._sweep(now.timestamp())

    def _sweep(self, ts: float) -> int:
        # Called with the lock held.
        dead = [k for k, (expiry, _) in self._nonces.items() if expiry <= ts]
        for key in dead:
            del self._nonces[key]
        self._stored_since_sweep = 0
        return len(dead)

    def __len__(self) -> int:
        """The number of nonces held (issued or used, not yet swept)."""
        return len(self._nonces)


@attrs.define(init=False)
class AsyncMemoryLaunchStorage(Generic[R, D]):
    """The async form of :class:`MemoryLaunchStorage`, for :class:`~credlti.lti.AsyncTool`.

    Satisfies :class:`credlti.ports.AsyncLaunchStorage` and
    :class:`credlti.ports.AsyncRegistrationSink`. Its methods never wait (dicts under
    a short lock), so they are safe on the event loop. :attr:`sync` is the same
    storage with plain methods, e.g. to add registrations at start-up.

    Args:
        auto_register_deployments: As for :class:`MemoryLaunchStorage`.

    Example::

        storage = AsyncMemoryLaunchStorage()
        storage.sync.add_registration(registration)
        tool = AsyncTool(storage, state_secret=SECRET)
    """

    _storage: MemoryLaunchStorage[R, D] = attrs.field(repr=False)

    def __init__(self, *, auto_register_deployments: bool = False) -> None:
        self._storage = MemoryLaunchStorage(auto_register_deployments=auto_register_deployments)

    @classmethod
    def over(cls, storage: MemoryLaunchStorage[R, D]) -> AsyncMemoryLaunchStorage[R, D]:
        """The async form of an existing memory storage (both see the same data)."""
        made = cls.__new__(cls)
        made._storage = storage
        return made

    @property
    def sync(self) -> MemoryLaunchStorage[R, D]:
        """The same registrations, deployments and nonces, with plain methods."""
        return self._storage

    @property
    def auto_register_deployments(self) -> bool:
        """Whether unknown deployments of known registrations are created on launch."""
        return self._storage.auto_register_deployments

    async def add_registration(self, registration: R) -> None:
        """Add or replace a registration (any :class:`~credlti.ports.Registerable`)."""
        self._storage.add_registration(registration)

    async def remove_registration(self, issuer: str, client_id: str) -> None:
        """Remove a registration and its deployments; unknown ones are ignored."""
        self._storage.remove_registration(issuer, client_id)

    async def add_deployment(self, registration: Registerable, deployment: D) -> None:
        """Add or replace a deployment under *registration*."""
        self._storage.add_deployment(registration, deployment)

    async def get_registration(self, issuer: str, client_id: str | None) -> R | None:
        """Return the registration for *issuer* (and *client_id*), or ``None``."""
        return self._storage.get_registration(issuer, client_id)

    async def get_deployment(self, registration: Registration, deployment_id: str) -> D | None:
        """Return the deployment, creating it when ``auto_register_deployments`` is set."""
        return self._storage.get_deployment(registration, deployment_id)

    async def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        """Record an issued nonce until *expires_at*."""
        self._storage.store_nonce(nonce, registration, expires_at=expires_at, now=now)

    async def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        """Consume *nonce* atomically (under the store's lock)."""
        return self._storage.validate_nonce(nonce, registration, now=now)

    async def sweep_nonces(self, now: datetime) -> int:
        """Drop nonces (used or not) that expired before *now*; return how many."""
        return self._storage.sweep_nonces(now)

    def __len__(self) -> int:
        """The number of nonces held (issued or used, not yet swept)."""
        return len(self._storage)
