"""The storage ports: small :class:`typing.Protocol` classes that adapters satisfy by shape.

Adapters never inherit from these; any object with the right methods works. The
built-in adapters live in :mod:`credlti.adapters` (``memory`` built in, ``sql`` and
``redis`` as extras). To write your own, implement the methods below and run the
contract test suite against it (see ``docs/storage.md``).

Every method may raise :class:`~credlti.errors.StorageError` (or a subclass) when
the backend fails; any other exception is wrapped into one by the facades.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    # Annotations only: importing credlti.lti here would make an import cycle.
    from credlti.lti._records import Deployment, Registration

__all__ = [
    "Deployable",
    "LaunchStorage",
    "NonceStatus",
    "NonceStore",
    "Registerable",
    "RegistrationStore",
]


@runtime_checkable
class Registerable(Protocol):
    """**Protocol:** a host object that describes a platform registration.

    Return your own ORM row or dataclass from ``get_registration``; credlti reads it
    through ``to_registration()`` and hands the very same object back in
    :attr:`credlti.lti.LaunchContext.registration`.
    """

    def to_registration(self) -> Registration:
        """Return the registration as a :class:`credlti.lti.Registration` record."""
        ...


@runtime_checkable
class Deployable(Protocol):
    """**Protocol:** a host object that describes one deployment of the tool."""

    def to_deployment(self) -> Deployment:
        """Return the deployment as a :class:`credlti.lti.Deployment` record."""
        ...


R_co = TypeVar("R_co", bound=Registerable, covariant=True)
D_co = TypeVar("D_co", bound=Deployable, covariant=True)


class NonceStatus(enum.Enum):
    """The outcome of an atomic nonce consumption."""

    #: The nonce was issued, unexpired and unused; it is now consumed.
    CONSUMED = "consumed"
    #: The nonce was issued but has already been consumed (a replay).
    ALREADY_USED = "already_used"
    #: The nonce was never issued for this registration, or it expired.
    NOT_FOUND = "not_found"


class RegistrationStore(Protocol[R_co, D_co]):
    """**Protocol:** look up platform registrations and deployments (Ltix ``StorageAdapter``)."""

    def get_registration(self, issuer: str, client_id: str | None) -> R_co | None:
        """Return the registration for *issuer* and *client_id*, or ``None``.

        *client_id* is ``None`` when the platform's login request did not include
        it: return the issuer's only registration then. When the issuer has several,
        raise :class:`~credlti.errors.RegistrationNotFoundError` saying so (the
        platform must send ``client_id``, or use per-registration login URLs).
        """
        ...

    def get_deployment(self, registration: Registration, deployment_id: str) -> D_co | None:
        """Return the deployment *deployment_id* (case-sensitive) under *registration*.

        Return ``None`` if it is unknown; an adapter may instead create it here
        (auto-registration). This is called only after the launch's signature and
        claims have been verified, so an upsert here is safe.
        """
        ...


class NonceStore(Protocol):
    """**Protocol:** issue and atomically consume launch nonces (Sec §5.1.3(9))."""

    def store_nonce(self, nonce: str, registration: Registration, *, expires_at: datetime) -> None:
        """Record that *nonce* was issued for *registration*, valid until *expires_at*."""
        ...

    def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        """Consume *nonce* atomically and say whether that succeeded.

        Must be a single atomic step (a conditional delete or update), never a
        check followed by a separate write: two concurrent calls with the same nonce
        must yield exactly one :attr:`NonceStatus.CONSUMED`.
        """
        ...


class LaunchStorage(RegistrationStore[R_co, D_co], NonceStore, Protocol[R_co, D_co]):
    """**Protocol:** everything a :class:`~credlti.lti.Tool` needs from storage."""
