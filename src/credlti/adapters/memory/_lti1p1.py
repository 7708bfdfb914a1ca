"""In-memory :class:`~credlti.ports.Lti1p1Secrets`: LTI 1.1 secrets by consumer key."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import attrs

from credlti.lti._records import Registration

__all__ = ["AsyncMemoryLti1p1Secrets", "MemoryLti1p1Secrets"]


@attrs.define(init=False)
class MemoryLti1p1Secrets:
    """LTI 1.1 shared secrets in process memory, for ``Tool(..., lti1p1_secrets=...)``.

    A secret added with an ``issuer`` is returned only for launches from that
    platform (recommended: a consumer key belonged to one LMS); one added without
    serves every registration.

    Args:
        secrets: Initial ``{oauth_consumer_key: secret}`` entries, for any issuer.

    Example::

        secrets = MemoryLti1p1Secrets()
        secrets.add("179248902", "my-lti11-secret", issuer="https://lms.example.edu")
        tool = Tool(storage, lti1p1_secrets=secrets)
    """

    _secrets: dict[tuple[str | None, str], str] = attrs.field(repr=False)
    _lock: threading.Lock = attrs.field(repr=False)

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._secrets = {}
        self._lock = threading.Lock()
        for key, secret in (secrets or {}).items():
            self.add(key, secret)

    def add(self, oauth_consumer_key: str, secret: str, *, issuer: str | None = None) -> None:
        """Add or replace the secret of *oauth_consumer_key* (for *issuer* only, if given)."""
        if not secret:
            msg = "an LTI 1.1 secret must be a non-empty string"
            raise ValueError(msg)
        with self._lock:
            self._secrets[issuer, oauth_consumer_key] = secret

    def remove(self, oauth_consumer_key: str, *, issuer: str | None = None) -> bool:
        """Forget a secret; True if it was there."""
        with self._lock:
            return self._secrets.pop((issuer, oauth_consumer_key), None) is not None

    def get_lti1p1_secret(self, registration: Registration, oauth_consumer_key: str) -> str | None:
        """The secret for *oauth_consumer_key*: the issuer's own first, then a shared one."""
        with self._lock:
            found = self._secrets.get((registration.issuer, oauth_consumer_key))
            if found is None:
                found = self._secrets.get((None, oauth_consumer_key))
            return found


@attrs.define(init=False)
class AsyncMemoryLti1p1Secrets:
    """The async form of :class:`MemoryLti1p1Secrets`, for ``AsyncTool(..., lti1p1_secrets=...)``.

    Same arguments; :attr:`sync` is the same secrets with plain methods (``add``,
    ``remove``).
    """

    _secrets: MemoryLti1p1Secrets = attrs.field(repr=False)

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._secrets = MemoryLti1p1Secrets(secrets)

    @classmethod
    def over(cls, secrets: MemoryLti1p1Secrets) -> AsyncMemoryLti1p1Secrets:
        """The async form of existing memory secrets (both see the same secrets)."""
        made = cls.__new__(cls)
        made._secrets = secrets
        return made

    @property
    def sync(self) -> MemoryLti1p1Secrets:
        """The same secrets, with plain methods."""
        return self._secrets

    async def get_lti1p1_secret(
        self, registration: Registration, oauth_consumer_key: str
    ) -> str | None:
        """The secret for *oauth_consumer_key*: the issuer's own first, then a shared one."""
        return self._secrets.get_lti1p1_secret(registration, oauth_consumer_key)
