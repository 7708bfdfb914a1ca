"""The credentials vault: encrypted third-party credentials for users and projects.

::

    from credlti.credentials import Vault, KeyRing, EncryptionKey
    from credlti.adapters.memory import MemoryVaultStore

    vault = Vault(store=MemoryVaultStore(), keyring=KeyRing([EncryptionKey(id="k1", material=key)]))
    cred = vault.create_credential({"name": "db", "schema": "postgresql", "owner_id": "u1",
                                    "body": {...}})

The :class:`Vault` facade performs IO through the ports of :mod:`credlti.ports`; the
decisions (validation, transfer checks, purge plans, token freshness, sensitive
values, encryption) are pure functions in the private modules, re-exported here
where hosts need them. See ``docs/credentials.md``.
"""

from credlti._crypto import EncryptionKey, KeyRing, associated_data
from credlti.credentials._records import (
    AuditAction,
    AuditEvent,
    ChangeResult,
    ClientAuthMethod,
    Credential,
    CredentialRow,
    FieldError,
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
from credlti.credentials._schemas import CredentialSchema, SchemaRegistry
from credlti.credentials._sensitive import (
    SAFE_KEYS,
    Scrubber,
    basic_auth_values,
    sensitive_values,
)
from credlti.credentials._vault import Vault

__all__ = [
    "SAFE_KEYS",
    "AuditAction",
    "AuditEvent",
    "ChangeResult",
    "ClientAuthMethod",
    "Credential",
    "CredentialRow",
    "CredentialSchema",
    "EncryptionKey",
    "FieldError",
    "KeyRing",
    "OAuthClient",
    "OAuthToken",
    "OAuthTokenRow",
    "PendingTransfer",
    "ProjectRef",
    "ProjectShare",
    "PurgeResult",
    "ReencryptResult",
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
