"""In-memory adapters: thread-safe, dependency-free, for tests, demos and single-process tools.

Everything is lost when the process exits, and nothing is shared between worker
processes: use the SQL adapter (``credlti[sql]``) for deployments with several workers.
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
from credlti.adapters.memory._keys import EncryptedToolKeyStore, MemoryToolKeyStore
from credlti.adapters.memory._launch import MemoryLaunchStorage
from credlti.adapters.memory._lti1p1 import MemoryLti1p1Secrets
from credlti.adapters.memory._sessions import MemoryLaunchSessionStore
from credlti.adapters.memory._tokens import MemoryServiceTokenCache
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
    "AsyncMemoryAuditSink",
    "AsyncMemoryNotifier",
    "AsyncMemoryOAuthClientRegistry",
    "AsyncMemoryPendingAuthorizations",
    "AsyncMemoryStepActivity",
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
