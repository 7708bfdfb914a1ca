"""The credentials vault: encrypted third-party credentials for users and projects.

::

    from credlti.credentials import Vault, KeyRing, EncryptionKey
    from credlti.adapters.memory import MemoryVaultStore

    vault = Vault(store=MemoryVaultStore(), keyring=KeyRing([EncryptionKey(id="k1", material=key)]))
    cred = vault.create_credential({"name": "db", "schema": "postgresql", "owner_id": "u1",
                                    "body": {...}})

The :class:`Vault` facade runs the vault's flows (generators yielding effect records,
in the private ``_flows_*`` modules) and performs their effects through the ports of
:mod:`credlti.credentials.ports`; :class:`AsyncVault` drives the same flows with
``await`` through the async ports; the decisions (validation, transfer checks, purge
plans, token freshness, sensitive values) are pure functions in private modules.
Exported here: the facade and its configuration, the records hosts read and store
adapters write, schemas, keys and the secret scrubber, the OAuth authorization-code
flow (:class:`OAuthAuthorizer`) and the runtime resolver (:class:`CredentialResolver`).
See ``docs/credentials.md`` and ``docs/oauth.md``.
"""

from credlti._crypto import EncryptionKey, KeyRing, associated_data
from credlti.credentials._async_vault import AsyncVault
from credlti.credentials._authorize import AsyncOAuthAuthorizer, OAuthAuthorizer
from credlti.credentials._oauth_records import (
    AuthorizationRequest,
    AuthorizationResult,
    PendingAuthorization,
    ResolvedCredential,
    ResolveStatus,
)
from credlti.credentials._records import (
    AuditAction,
    AuditEvent,
    BodyLimits,
    ChangeResult,
    ClientAuthMethod,
    Credential,
    CredentialRow,
    OAuthClient,
    OAuthToken,
    OAuthTokenRow,
    PendingTransfer,
    ProjectRef,
    ProjectShare,
    PurgeResult,
    ReencryptResult,
    ScrubbedRow,
    TransferForm,
    TransferStatus,
    TransferTokenRow,
    VaultConfig,
    VaultUser,
)
from credlti.credentials._resolve import AsyncCredentialResolver, CredentialResolver
from credlti.credentials._schemas import CredentialSchema, SchemaRegistry
from credlti.credentials._sensitive import (
    SAFE_KEYS,
    Scrubber,
    basic_auth_values,
    sensitive_values,
)
from credlti.credentials._vault import Vault
from credlti.errors import FieldError

__all__ = [
    "SAFE_KEYS",
    "AsyncCredentialResolver",
    "AsyncOAuthAuthorizer",
    "AsyncVault",
    "AuditAction",
    "AuditEvent",
    "AuthorizationRequest",
    "AuthorizationResult",
    "BodyLimits",
    "ChangeResult",
    "ClientAuthMethod",
    "Credential",
    "CredentialResolver",
    "CredentialRow",
    "CredentialSchema",
    "EncryptionKey",
    "FieldError",
    "KeyRing",
    "OAuthAuthorizer",
    "OAuthClient",
    "OAuthToken",
    "OAuthTokenRow",
    "PendingAuthorization",
    "PendingTransfer",
    "ProjectRef",
    "ProjectShare",
    "PurgeResult",
    "ReencryptResult",
    "ResolveStatus",
    "ResolvedCredential",
    "SchemaRegistry",
    "ScrubbedRow",
    "Scrubber",
    "TransferForm",
    "TransferStatus",
    "TransferTokenRow",
    "Vault",
    "VaultConfig",
    "VaultUser",
    "associated_data",
    "basic_auth_values",
    "sensitive_values",
]
