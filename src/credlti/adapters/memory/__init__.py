"""In-memory adapters: thread-safe, dependency-free, for tests, demos and single-process tools.

Everything is lost when the process exits, and nothing is shared between worker
processes: use the SQL adapter (``credlti[sql]``) for deployments with several workers.

Each LTI adapter ``MemoryFoo`` has an async form ``AsyncMemoryFoo`` (for
:class:`~credlti.lti.AsyncTool` and the async service clients) over the same kind of
in-process data; its methods never wait, so they are safe on the event loop.
"""

from credlti.adapters.memory._async_vault import (
    AsyncMemoryAuditSink,
    AsyncMemoryNotifier,
    AsyncMemoryOAuthClientRegistry,
    AsyncMemoryStepActivity,
    AsyncMemoryUserDirectory,
    AsyncMemoryVaultStore,
)
from credlti.adapters.memory._authorizations import (
    AsyncMemoryPendingAuthorizations,
    MemoryPendingAuthorizations,
)
from credlti.adapters.memory._keys import (
    AsyncEncryptedToolKeyStore,
    AsyncMemoryToolKeyStore,
    EncryptedToolKeyStore,
    MemoryToolKeyStore,
)
from credlti.adapters.memory._launch import AsyncMemoryLaunchStorage, MemoryLaunchStorage
from credlti.adapters.memory._lti1p1 import AsyncMemoryLti1p1Secrets, MemoryLti1p1Secrets
from credlti.adapters.memory._sessions import (
    AsyncMemoryLaunchSessionStore,
    MemoryLaunchSessionStore,
)
from credlti.adapters.memory._tokens import AsyncMemoryServiceTokenCache, MemoryServiceTokenCache
from credlti.adapters.memory._vault import (
    MemoryAuditSink,
    MemoryNotifier,
    MemoryOAuthClientRegistry,
    MemoryStepActivity,
    MemoryUserDirectory,
    MemoryVaultStore,
    Notification,
)

__all__ = [
    "AsyncEncryptedToolKeyStore",
    "AsyncMemoryAuditSink",
    "AsyncMemoryLaunchSessionStore",
    "AsyncMemoryLaunchStorage",
    "AsyncMemoryLti1p1Secrets",
    "AsyncMemoryNotifier",
    "AsyncMemoryOAuthClientRegistry",
    "AsyncMemoryPendingAuthorizations",
    "AsyncMemoryServiceTokenCache",
    "AsyncMemoryStepActivity",
    "AsyncMemoryToolKeyStore",
    "AsyncMemoryUserDirectory",
    "AsyncMemoryVaultStore",
    "EncryptedToolKeyStore",
    "MemoryAuditSink",
    "MemoryLaunchSessionStore",
    "MemoryLaunchStorage",
    "MemoryLti1p1Secrets",
    "MemoryNotifier",
    "MemoryOAuthClientRegistry",
    "MemoryPendingAuthorizations",
    "MemoryServiceTokenCache",
    "MemoryStepActivity",
    "MemoryToolKeyStore",
    "MemoryUserDirectory",
    "MemoryVaultStore",
    "Notification",
]
