"""The credlti tables, and the engine settings credlti's adapters rely on.

Rules of this module:

1. Every table is prefixed ``credlti_`` so it can live in a host application's database.
2. A schema change is a new numbered migration in
   :mod:`credlti.adapters.sql._migrations`; a migration only adds (tables, columns,
   indexes) or transforms rows in place, so upgrading an old schema keeps every row.
3. Timestamps are stored as UTC seconds since the epoch (double precision): the same
   comparisons work on SQLite and PostgreSQL, and no driver guesses time zones.
4. Migrations create tables from the *current* ``Table`` objects. A later migration
   that changes an existing table must therefore work both on databases created by
   older migrations (alter them) and on fresh ones where an earlier migration already
   created the new shape (check before altering).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from sqlalchemy.engine import Engine

from credlti.errors import ConfigurationError

__all__ = ["create_engine", "metadata"]

metadata = sa.MetaData()

schema_version = sa.Table(
    "credlti_schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

registrations = sa.Table(
    "credlti_registrations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issuer", sa.String(1024), nullable=False),
    sa.Column("client_id", sa.String(255), nullable=False),
    sa.Column("auth_endpoint", sa.String(2048), nullable=False),
    sa.Column("jwks_uri", sa.String(2048), nullable=False),
    sa.Column("token_endpoint", sa.String(2048)),
    sa.Column("authorization_server", sa.String(2048)),
    sa.Column("allowed_algorithms", sa.JSON, nullable=False),
    sa.Column("allow_anonymous", sa.Boolean, nullable=False, default=False),
    sa.Column("redirect_uris", sa.JSON, nullable=False),
    sa.UniqueConstraint("issuer", "client_id", name="uq_credlti_registrations_issuer_client"),
)

deployments = sa.Table(
    "credlti_deployments",
    metadata,
    sa.Column(
        "registration_id",
        sa.Integer,
        sa.ForeignKey("credlti_registrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # Case-sensitive on both backends: SQLite's default BINARY collation and PG's
    # default collation compare bytes/code points for equality.
    sa.Column("deployment_id", sa.String(255), primary_key=True),
)

nonces = sa.Table(
    "credlti_nonces",
    metadata,
    sa.Column("issuer", sa.String(1024), primary_key=True),
    sa.Column("client_id", sa.String(255), primary_key=True),
    sa.Column("nonce", sa.String(255), primary_key=True),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("used_at", sa.Double),
    sa.Index("ix_credlti_nonces_expires_at", "expires_at"),
)

launch_sessions = sa.Table(
    "credlti_launch_sessions",
    metadata,
    # The SHA-256 (hex) of the handle the browser holds, never the handle itself.
    sa.Column("session_key", sa.CHAR(64), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),  # sealed by the tool; opaque here
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index("ix_credlti_launch_sessions_expires_at", "expires_at"),
)

# --------------------------------------------------------------------------- credentials vault
#
# Ids, owner ids and names compare and sort by code point on both backends: SQLite's
# BINARY collation, and the "C" collation on PostgreSQL (whatever the database's
# default), so keyset pagination and ``lower(name)`` ordering match the memory adapter.
_KEY = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")


def _credential_fk(**kwargs: Any) -> sa.Column[Any]:
    return sa.Column(
        "credential_id",
        _KEY,
        sa.ForeignKey("credlti_credentials.id", ondelete="CASCADE"),
        nullable=False,
        **kwargs,
    )


credentials = sa.Table(
    "credlti_credentials",
    metadata,
    sa.Column("id", _KEY, primary_key=True),
    sa.Column("name", _KEY, nullable=False),
    sa.Column("schema", sa.String(255), nullable=False),
    sa.Column("owner_id", _KEY, nullable=False),
    sa.Column("body_ciphertext", sa.LargeBinary),  # NULL once purged
    sa.Column("production", sa.Boolean, nullable=False, default=False),
    sa.Column("external_id", sa.String(255)),
    sa.Column("transfer_status", sa.String(16)),
    sa.Column("scheduled_deletion", sa.Double),
    sa.Column("oauth_client_id", sa.String(255)),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    # The vault's naming rule: unique per owner, case-sensitive (as the facade checks).
    sa.UniqueConstraint("owner_id", "name", name="uq_credlti_credentials_owner_name"),
    sa.Index("ix_credlti_credentials_scheduled_deletion", "scheduled_deletion"),
)

#: An owner's credentials in listing order (``find(owner_id=...)``: by lower(name), id),
#: read from the index instead of sorting every row the owner has. Name uniqueness is
#: a point lookup on the unique ``(owner_id, name)`` constraint's own index.
credentials_by_owner_name = sa.Index(
    "ix_credlti_credentials_owner_lower_name",
    credentials.c.owner_id,
    sa.func.lower(credentials.c.name),
    credentials.c.id,
)

project_shares = sa.Table(
    "credlti_project_shares",
    metadata,
    sa.Column("id", _KEY, primary_key=True),
    _credential_fk(),
    sa.Column("project_id", _KEY, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint(
        "credential_id", "project_id", name="uq_credlti_project_shares_credential_project"
    ),
    sa.Index("ix_credlti_project_shares_project_id", "project_id"),
)

oauth_tokens = sa.Table(
    "credlti_oauth_tokens",
    metadata,
    _credential_fk(primary_key=True),
    sa.Column("client_id", sa.String(255)),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),  # every secret of the token
    sa.Column("token_type", sa.String(255), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("expires_at", sa.Double),
    sa.Column("last_refreshed", sa.Double, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

transfer_tokens = sa.Table(
    "credlti_transfer_tokens",
    metadata,
    sa.Column("id", _KEY, primary_key=True),
    _credential_fk(index=True),
    sa.Column("owner_id", _KEY, nullable=False),
    sa.Column("receiver_id", _KEY, nullable=False),
    sa.Column("token_hash", sa.LargeBinary, nullable=False),  # SHA-256, never the token
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
)

audit_events = sa.Table(
    "credlti_audit_events",
    metadata,
    # Insertion order ("oldest first"); INTEGER on SQLite so it aliases the rowid.
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("id", _KEY, nullable=False, unique=True),
    sa.Column("action", sa.String(64), nullable=False),
    # No foreign key: the audit trail outlives deleted and purged credentials.
    sa.Column("credential_id", _KEY, nullable=False),
    sa.Column("actor_id", _KEY),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("item_type", sa.String(64), nullable=False),
    sa.Index("ix_credlti_audit_events_credential", "credential_id", "seq"),
)

oauth_clients = sa.Table(
    "credlti_oauth_clients",
    metadata,
    sa.Column("id", _KEY, primary_key=True),
    sa.Column("client_id", sa.String(1024), nullable=False),
    # Encrypted with the registry's key ring (associated data binds it to the row).
    sa.Column("client_secret_ciphertext", sa.LargeBinary),
    sa.Column("token_endpoint", sa.String(2048), nullable=False),
    sa.Column("revocation_endpoint", sa.String(2048)),
    sa.Column("auth_method", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
)

step_activity = sa.Table(
    "credlti_step_activity",
    metadata,
    # No foreign key: activity records runs, which may outlive the credential row.
    sa.Column("credential_id", _KEY, primary_key=True),
)


tool_keys = sa.Table(
    "credlti_tool_keys",
    metadata,
    sa.Column("kid", sa.String(255), primary_key=True),
    # The private key and its metadata, AES-256-GCM-sealed with the vault's key ring
    # and bound to the kid by associated data (credlti.lti.keys.seal_key).
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

service_tokens = sa.Table(
    "credlti_service_tokens",
    metadata,
    # SHA-256 of the canonical cache key (issuer, client id, token URL, scopes, deployment).
    sa.Column("cache_key", sa.String(64), primary_key=True),
    sa.Column("issuer", sa.String(1024), nullable=False),
    sa.Column("client_id", sa.String(255), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),  # the sealed access token
    sa.Column("token_digest", sa.String(64), nullable=False),  # SHA-256, never the token
    sa.Column("scopes", sa.JSON, nullable=False),  # granted scopes
    sa.Column("token_type", sa.String(32), nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index("ix_credlti_service_tokens_expires_at", "expires_at"),
)


def create_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the settings credlti's adapters rely on.

    The pool keeps 10 connections (``pool_size=10, max_overflow=10`` unless given)
    and checks a connection out without a round trip to the database (no pre-ping:
    pass ``pool_pre_ping=True`` to survive server restarts at that price).

    For SQLite, foreign keys are switched on for every connection, a busy timeout
    is set so concurrent writers wait instead of failing at once, and file databases
    use write-ahead logging (readers never block the writer; commits are durable
    across application crashes, and cheap) checkpointed every 4,096 pages (16 MiB).

    No connection is opened here: an unreachable database is reported by the first
    operation (:class:`~credlti.errors.StorageUnavailableError`).

    Raises:
        ConfigurationError: *url* is not a database URL, names a dialect or driver
            SQLAlchemy does not know, or a driver that is not installed. The message
            names the extra to install; it never repeats the URL (it may hold a
            password).
    """
    memory = _engine_settings(url, kwargs)
    try:
        engine = sa.create_engine(url, **kwargs)
    except sa_exc.NoSuchModuleError as exc:
        raise _unknown_driver(url) from exc
    except ImportError as exc:
        raise _missing_driver(url, exc) from exc
    if engine.dialect.name == "sqlite":
        install_sqlite_pragmas(engine, memory=memory)
    return engine


def _engine_settings(url: str, kwargs: dict[str, Any]) -> bool:
    """Check *url* and fill in credlti's engine defaults; True for in-memory SQLite.

    Shared by :func:`create_engine` and the async engine: the same pool sizes, the
    same shared connection for in-memory SQLite, the same errors for bad URLs.
    """
    try:
        sa.make_url(url).get_backend_name()
    except (sa_exc.ArgumentError, ValueError) as exc:  # ValueError: e.g. a bad port
        msg = (
            "the database URL cannot be parsed; expected for example "
            "sqlite:///credlti.db or postgresql+psycopg://user@host/dbname"
        )
        raise ConfigurationError(msg) from exc
    memory = url.startswith("sqlite") and (
        url.endswith(":memory:") or url.rstrip("/") == "sqlite:" or "mode=memory" in url
    )
    if memory:
        # One shared in-memory database for every thread of this engine.
        kwargs.setdefault("poolclass", sa.pool.StaticPool)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
    elif "poolclass" not in kwargs:
        # Connections kept for 10 threads at once (8 request threads plus a lock or a
        # refresh): fewer and the extra ones are opened and closed on every checkout.
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
    return memory


def install_sqlite_pragmas(engine: Engine, *, memory: bool) -> None:
    """Set credlti's SQLite pragmas on every new connection of *engine*.

    Foreign keys on, a 30 s busy timeout and, for database files, write-ahead logging.
    """

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if memory is False:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint the log at 16 MiB rather than 4: a purge commits every batch,
            # and each checkpoint rewrites and syncs the pages the batch touched.
            cursor.execute("PRAGMA wal_autocheckpoint=4096")
        cursor.close()


def _unknown_driver(url: str) -> ConfigurationError:
    """The error for a URL naming a dialect or driver SQLAlchemy does not know."""
    driver = sa.make_url(url).drivername
    msg = (
        f"unknown database dialect or driver {driver!r} in the database URL; credlti "
        "supports sqlite:// and postgresql+psycopg://"
    )
    return ConfigurationError(msg, details={"driver": driver})


def _missing_driver(url: str, exc: ImportError) -> ConfigurationError:
    """The error for a URL whose database driver module is not installed."""
    dialect = sa.make_url(url).get_backend_name()
    driver = sa.make_url(url).drivername
    missing = exc.name or "its module"
    if dialect == "postgresql":
        hint = 'install "credlti[postgres]" (psycopg 3) and use a postgresql+psycopg:// URL'
    elif dialect == "sqlite":
        hint = 'install "credlti[sql]" and use a sqlite:// URL'
    else:
        hint = (
            'credlti supports SQLite (install "credlti[sql]") and PostgreSQL '
            '(install "credlti[postgres]", postgresql+psycopg:// URLs)'
        )
    msg = f"the database driver for {driver}:// is not installed (no module {missing!r}); {hint}"
    return ConfigurationError(msg, details={"driver": driver, "module": missing})
