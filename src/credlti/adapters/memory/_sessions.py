"""In-memory :class:`~credlti.lti.ports.LaunchSessionStore`, re-exported for hosts.

The class lives in the LTI package (it is the tools' default session store, and the
library never imports an adapter).
"""

from __future__ import annotations

from credlti.lti._session_memory import AsyncMemoryLaunchSessionStore, MemoryLaunchSessionStore

__all__ = ["AsyncMemoryLaunchSessionStore", "MemoryLaunchSessionStore"]
