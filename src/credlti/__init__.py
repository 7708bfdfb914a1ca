"""credlti: LTI 1.3 tool launches and Advantage services, plus an encrypted credentials vault.

The package root stays light: it re-exports the error tree and the version. Import
the capabilities from their namespaces::

    from credlti.lti import Tool, Registration, Deployment
    from credlti.adapters.memory import MemoryLaunchStorage
    from credlti.testing import SimulatedPlatform
"""

from credlti._version import __version__
from credlti.errors import (
    ConfigurationError,
    CredentialError,
    CredltiError,
    InvalidLaunchError,
    LaunchError,
    LaunchSecurityError,
    RemoteServiceError,
    StorageError,
)

__all__ = [
    "ConfigurationError",
    "CredentialError",
    "CredltiError",
    "InvalidLaunchError",
    "LaunchError",
    "LaunchSecurityError",
    "RemoteServiceError",
    "StorageError",
    "__version__",
]
