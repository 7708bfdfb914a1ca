"""Schema versions: the numbered migrations and the runner that applies them.

The database records its version in ``credlti_schema_version`` (one row, ``id = 1``).
The runner applies every pending migration in ONE transaction, under a lock that
one process holds at a time:

- PostgreSQL: ``pg_advisory_xact_lock`` is the first statement, before even the
  version table is created, so processes racing on an empty database queue up
  instead of colliding; DDL is transactional, so a failure rolls back every table,
  index and the version row together. The transaction runs at ``READ COMMITTED`` so
  a process that waited sees what the previous holder committed.
- SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock up front (waiting up
  to the busy timeout). DDL is transactional in SQLite too; the explicit ``BEGIN``
  matters because Python's sqlite3 module only opens a transaction by itself before
  INSERT/UPDATE/DELETE, so CREATE statements would otherwise commit one by one.

A database whose version is newer than the migrations this credlti knows is refused
with :class:`~credlti.errors.StorageSchemaTooNewError`, never used or "upgraded".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.schema import CreateIndex

from credlti.adapters.sql._errors import read
from credlti.adapters.sql._schema import (
    audit_events,
    credentials,
    credentials_by_owner_name,
    deployments,
    launch_sessions,
    nonces,
    oauth_clients,
    oauth_tokens,
    project_shares,
    registrations,
    schema_version,
    service_tokens,
    step_activity,
    tool_keys,
    transfer_tokens,
)
from credlti.errors import StorageSchemaTooNewError, StorageUnavailableError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "apply_migrations",
    "current_version",
    "too_new_error",
    "upgrade",
]

#: One migration: applies its changes on a connection inside the upgrade transaction.
Migration = Callable[[Connection], None]

# The PostgreSQL advisory lock key of schema upgrades: the bytes of "credltiM".
_LOCK_KEY = int.from_bytes(b"credltiM", "big")

# A write that changes nothing but takes SQLite's write lock (see _lock_and_prepare).
_TAKE_WRITE_LOCK = (
    schema_version.update()
    .where(schema_version.c.id.is_(None))
    .values(version=schema_version.c.version)
)


def _migration_1(conn: Connection) -> None:
    """Version 1: LTI registrations, deployments and nonces."""
    for table in (registrations, deployments, nonces):
        table.create(conn, checkfirst=True)


def _migration_2(conn: Connection) -> None:
    """Version 2: the credentials vault (credentials, shares, tokens, audit, clients)."""
    for table in (
        credentials,
        project_shares,
        oauth_tokens,
        transfer_tokens,
        audit_events,
        oauth_clients,
        step_activity,
    ):
        table.create(conn, checkfirst=True)


def _migration_3(conn: Connection) -> None:
    """Version 3: LTI Advantage (tool signing keys, cached service access tokens)."""
    for table in (tool_keys, service_tokens):
        table.create(conn, checkfirst=True)


def _migration_4(conn: Connection) -> None:
    """Version 4: an index listing an owner's credentials by name without sorting them.

    ``CREATE INDEX IF NOT EXISTS``: a fresh database already has it (migration 2
    creates the credentials table with its current indexes).
    """
    conn.execute(CreateIndex(credentials_by_owner_name, if_not_exists=True))


def _migration_5(conn: Connection) -> None:
    """Version 5: saved launch sessions (``tool.save_launch``), readable from every worker."""
    launch_sessions.create(conn, checkfirst=True)


#: Ordered migrations; ``MIGRATIONS[n - 1]`` upgrades version n-1 to n. Append only.
MIGRATIONS: tuple[Migration, ...] = (
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
)
#: The schema version this credlti creates and works with.
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(engine: Engine) -> int:
    """Return the schema version of the database (0 when credlti's tables are absent).

    A version above :data:`SCHEMA_VERSION` is returned as it is: it means a newer
    credlti upgraded the database, and :func:`upgrade` refuses it.

    Raises:
        StorageUnavailableError: The database cannot be reached or read.
    """
    with _connection(engine, "reading the schema version") as conn:
        if not sa.inspect(conn).has_table(schema_version.name):
            return 0
        return _read_version(conn) or 0


def upgrade(engine: Engine, *, target: int = SCHEMA_VERSION) -> int:
    """Apply pending migrations up to *target* in one transaction; return the new version.

    All or nothing: if any step fails, the database keeps its previous version with
    every table, index and row it had. Safe to run again (it does nothing when the
    database is current) and from many processes at once, on SQLite and PostgreSQL:
    one process migrates while the others wait, then find nothing to do. It never
    downgrades: a *target* below the current version changes nothing.

    Raises:
        ValueError: *target* is not between 0 and :data:`SCHEMA_VERSION`.
        StorageSchemaTooNewError: The database is at a newer version than this credlti
            knows (a newer credlti upgraded it); nothing was changed.
        StorageUnavailableError: The database cannot be reached, or a statement failed;
            nothing was changed.
    """
    return apply_migrations(engine, MIGRATIONS, target=target)[1]


def apply_migrations(
    engine: Engine, migrations: Sequence[Migration], *, target: int | None = None
) -> tuple[int, int]:
    """Apply *migrations* up to *target* (default: all); return the versions before and after.

    The runner behind :func:`upgrade`, taking the migration list as a parameter (the
    ``credlti db`` command reports both versions; tests pass lists with extra steps).
    The "before" version is read under the migration lock, so of several processes
    upgrading at once exactly one sees the old version.
    """
    newest = len(migrations)
    goal = newest if target is None else target
    if not 0 <= goal <= newest:
        msg = f"target must be between 0 and {newest}, got {target}"
        raise ValueError(msg)
    with _connection(engine, "upgrading the schema") as conn:
        if conn.dialect.name == "postgresql":
            # A process that waited for the lock must see what the holder committed.
            conn = conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            _lock_and_prepare(conn)
            found = _read_version(conn)
            if found is None:
                conn.execute(schema_version.insert().values(id=1, version=0))
                found = 0
            if found > newest:
                raise too_new_error(found, newest)
            for number in range(found + 1, goal + 1):
                migrations[number - 1](conn)
            if goal > found:
                conn.execute(
                    schema_version.update().where(schema_version.c.id == 1).values(version=goal)
                )
            return found, max(found, goal)


def _lock_and_prepare(conn: Connection) -> None:
    """Take the migration lock for this transaction, then create the version table."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
        schema_version.create(conn, checkfirst=True)
    elif conn.dialect.name == "sqlite":
        if not getattr(conn.connection.dbapi_connection, "in_transaction", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            schema_version.create(conn, checkfirst=True)
        else:
            # The host's engine already began the transaction (SQLAlchemy's BEGIN
            # event recipe, or sqlite3's autocommit=False): a first write takes the lock.
            schema_version.create(conn, checkfirst=True)
            conn.execute(_TAKE_WRITE_LOCK)
    else:  # pragma: no cover - credlti supports SQLite and PostgreSQL only
        schema_version.create(conn, checkfirst=True)


def _read_version(conn: Connection) -> int | None:
    query = sa.select(schema_version.c.version).where(schema_version.c.id == 1)
    version = conn.execute(query).scalar_one_or_none()
    return None if version is None else int(version)


def too_new_error(found: int, supported: int) -> StorageSchemaTooNewError:
    """The error for a database at schema version *found*, above *supported*."""
    msg = (
        f"the database schema is at version {found}, newer than version {supported}, the "
        "newest this credlti knows: a newer credlti upgraded it. Run that credlti "
        "version or a later one (schemas are never downgraded), or use another database"
    )
    return StorageSchemaTooNewError(msg, details={"found": found, "supported": supported})


@contextlib.contextmanager
def _connection(engine: Engine, action: str) -> Iterator[Connection]:
    """A connection with typed errors; a failure to connect says where and why."""
    connected = False
    try:
        with read(engine, action) as conn:
            connected = True
            yield conn
    except StorageUnavailableError as exc:
        if connected:
            raise
        where = _where(engine.url)
        msg = f"cannot connect to the database ({where}): {_reason(exc.__cause__)}"
        raise StorageUnavailableError(
            msg, details={"action": action, "database": where}
        ) from exc.__cause__


def _where(url: URL) -> str:
    """The database a URL names, without its password or query (options may hold one)."""
    if url.get_backend_name() == "sqlite":
        memory = url.database in (None, "", ":memory:")
        return "SQLite in memory" if memory else f"SQLite file {url.database}"
    host = url.host or "local socket"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()} on {host}{port}, database {url.database or '(default)'}"


def _reason(exc: BaseException | None) -> str:
    """The first line of the driver's connection error (it holds no bound parameters)."""
    original = getattr(exc, "orig", None) or exc
    if original is None:  # pragma: no cover - storage errors always have a cause
        return "unknown error"
    lines = str(original).strip().splitlines()
    first = lines[0][:300] if lines else ""
    return f"{type(original).__name__}: {first}" if first else type(original).__name__
