"""The storage ports: small :class:`typing.Protocol` classes that adapters satisfy by shape.

Adapters never inherit from these; any object with the right methods works. The
built-in adapters live in :mod:`credlti.adapters` (``memory`` built in, ``sql`` and
``redis`` as extras). To write your own, implement the methods below and run the
contract test suite against it (see ``docs/storage.md``).

Every method should raise :class:`~credlti.errors.StorageError` (or a subclass) when
the backend fails, as the built-in adapters do. As a safety net, the LTI facades wrap
any other exception from a storage call into
:class:`~credlti.errors.StorageUnavailableError`, and the vault does the same for
failures to open or commit a unit of work; an exception raised by a repository
*inside* a vault transaction rolls it back and propagates as raised.
"""

from credlti.credentials.ports import (
    AsyncAuditSink,
    AsyncCredentialRepository,
    AsyncOAuthClientRegistry,
    AsyncOAuthTokenRepository,
    AsyncPendingAuthorizationStore,
    AsyncShareRepository,
    AsyncStepActivity,
    AsyncTransferTokenRepository,
    AsyncUserDirectory,
    AsyncVaultNotifier,
    AsyncVaultSession,
    AsyncVaultStore,
    AuditSink,
    CredentialRepository,
    OAuthClientRegistry,
    OAuthTokenRepository,
    PendingAuthorizationStore,
    ShareRepository,
    StepActivity,
    TransferTokenRepository,
    UserDirectory,
    VaultNotifier,
    VaultSession,
    VaultStore,
)
from credlti.lti.ports import (
    AsyncLaunchSessionStore,
    AsyncLaunchStorage,
    AsyncLti1p1Secrets,
    AsyncNonceStore,
    AsyncRegistrationSink,
    AsyncRegistrationStore,
    AsyncServiceTokenCache,
    AsyncToolKeyStore,
    Deployable,
    LaunchSessionStore,
    LaunchStorage,
    Lti1p1Secrets,
    NonceStatus,
    NonceStore,
    Registerable,
    RegistrationSink,
    RegistrationStore,
    ServiceTokenCache,
    ToolKeyStore,
)

__all__ = [
    "AsyncAuditSink",
    "AsyncCredentialRepository",
    "AsyncLaunchSessionStore",
    "AsyncLaunchStorage",
    "AsyncLti1p1Secrets",
    "AsyncNonceStore",
    "AsyncOAuthClientRegistry",
    "AsyncOAuthTokenRepository",
    "AsyncPendingAuthorizationStore",
    "AsyncRegistrationSink",
    "AsyncRegistrationStore",
    "AsyncServiceTokenCache",
    "AsyncShareRepository",
    "AsyncStepActivity",
    "AsyncToolKeyStore",
    "AsyncTransferTokenRepository",
    "AsyncUserDirectory",
    "AsyncVaultNotifier",
    "AsyncVaultSession",
    "AsyncVaultStore",
    "AuditSink",
    "CredentialRepository",
    "Deployable",
    "LaunchSessionStore",
    "LaunchStorage",
    "Lti1p1Secrets",
    "NonceStatus",
    "NonceStore",
    "OAuthClientRegistry",
    "OAuthTokenRepository",
    "PendingAuthorizationStore",
    "Registerable",
    "RegistrationSink",
    "RegistrationStore",
    "ServiceTokenCache",
    "ShareRepository",
    "StepActivity",
    "ToolKeyStore",
    "TransferTokenRepository",
    "UserDirectory",
    "VaultNotifier",
    "VaultSession",
    "VaultStore",
]
