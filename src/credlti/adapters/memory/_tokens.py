"""In-memory :class:`~credlti.lti.ports.ServiceTokenCache`, re-exported for hosts.

The class lives in the LTI services package (it is the service-token client's
default cache, and the library never imports an adapter).
"""

from __future__ import annotations

from credlti.lti.services._cache import AsyncMemoryServiceTokenCache, MemoryServiceTokenCache

__all__ = ["AsyncMemoryServiceTokenCache", "MemoryServiceTokenCache"]
