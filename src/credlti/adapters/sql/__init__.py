"""SQL adapters on SQLAlchemy Core 2.x: SQLite (embedded default) and PostgreSQL.

Install with ``pip install "credlti[sql]"`` (SQLite) or ``"credlti[postgres]"`` (adds
psycopg 3). The tables are exposed as :data:`metadata` so host applications can
include them in their own migrations (Alembic, ...); standalone users run
:func:`upgrade` (or ``credlti db upgrade --url ...``).

Adapters: :class:`SqlLaunchStorage` (LTI registrations, deployments, nonces),
:class:`SqlLaunchSessionStore` (saved launches) and,
for the credentials vault, :class:`SqlVaultStore`, :class:`SqlAuditSink`,
:class:`SqlOAuthClientRegistry` and :class:`SqlStepActivity`.

Asyncio servers use the async twins on an engine from :func:`open_async_engine`
(aiosqlite for SQLite, psycopg's async driver for PostgreSQL), same tables:
:class:`AsyncSqlLaunchStorage`, :class:`AsyncSqlLaunchSessionStore`,
:class:`AsyncSqlToolKeyStore`, :class:`AsyncSqlServiceTokenCache`,
:class:`AsyncSqlVaultStore`, :class:`AsyncSqlAuditSink`,
:class:`AsyncSqlOAuthClientRegistry` and :class:`AsyncSqlStepActivity`.

No ORM session ever leaks into the public API: adapters take an ``Engine`` and
return credlti records.
"""

from __future__ import annotations

try:
    import sqlalchemy as _sa  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    msg = (
        "credlti.adapters.sql needs SQLAlchemy: install the extra with "
        '`pip install "credlti[sql]"` (or "credlti[postgres]" for PostgreSQL)'
    )
    raise ImportError(msg) from exc

from credlti.adapters.sql._advantage import SqlServiceTokenCache, SqlToolKeyStore
from credlti.adapters.sql._aio import open_async_engine, upgrade_async
from credlti.adapters.sql._async_advantage import AsyncSqlServiceTokenCache, AsyncSqlToolKeyStore
from credlti.adapters.sql._async_launch import AsyncSqlLaunchStorage
from credlti.adapters.sql._async_sessions import AsyncSqlLaunchSessionStore
from credlti.adapters.sql._async_vault import (
    AsyncSqlAuditSink,
    AsyncSqlOAuthClientRegistry,
    AsyncSqlStepActivity,
    AsyncSqlVaultStore,
)
from credlti.adapters.sql._launch import SqlLaunchStorage
from credlti.adapters.sql._migrations import SCHEMA_VERSION, current_version, upgrade
from credlti.adapters.sql._schema import create_engine, metadata
from credlti.adapters.sql._sessions import SqlLaunchSessionStore
from credlti.adapters.sql._vault import (
    SqlAuditSink,
    SqlOAuthClientRegistry,
    SqlStepActivity,
    SqlVaultStore,
)

__all__ = [
    "SCHEMA_VERSION",
    "AsyncSqlAuditSink",
    "AsyncSqlLaunchSessionStore",
    "AsyncSqlLaunchStorage",
    "AsyncSqlOAuthClientRegistry",
    "AsyncSqlServiceTokenCache",
    "AsyncSqlStepActivity",
    "AsyncSqlToolKeyStore",
    "AsyncSqlVaultStore",
    "SqlAuditSink",
    "SqlLaunchSessionStore",
    "SqlLaunchStorage",
    "SqlOAuthClientRegistry",
    "SqlServiceTokenCache",
    "SqlStepActivity",
    "SqlToolKeyStore",
    "SqlVaultStore",
    "create_engine",
    "current_version",
    "metadata",
    "open_async_engine",
    "upgrade",
    "upgrade_async",
]
