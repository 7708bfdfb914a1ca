"""SQL :class:`~credlti.ports.LaunchStorage`: registrations, deployments, nonces."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from credlti.adapters._ids import ISSUER_MAX_LENGTH, check_ids, usable
from credlti.adapters.sql._errors import read, transaction
from credlti.adapters.sql._raw import Sql, cursor
from credlti.adapters.sql._schema import deployments, nonces, registrations
from credlti.errors import RegistrationNotFoundError
from credlti.lti._records import Deployment, Registration
from credlti.lti.ports import Deployable, NonceStatus, Registerable

__all__ = ["SqlLaunchStorage"]

#: Every this many stored nonces, one store also deletes up to SWEEP_BATCH expired ones
#: (more than it added meanwhile), so the table stays bounded without a scheduled job.
SWEEP_EVERY = 64
SWEEP_BATCH = 256

_STORE = Sql(
    "INSERT INTO credlti_nonces (issuer, client_id, nonce, expires_at, used_at) "
    "VALUES (?, ?, ?, ?, NULL)"
)
_SWEEP_SOME = Sql(
    "DELETE FROM credlti_nonces WHERE (issuer, client_id, nonce) IN ("
    " SELECT issuer, client_id, nonce FROM credlti_nonces WHERE expires_at <= ? LIMIT ?)"
)
_CONSUME = Sql(
    "UPDATE credlti_nonces SET used_at = ? WHERE issuer = ? AND client_id = ? AND nonce = ?"
    " AND used_at IS NULL AND expires_at > ?"
)
_EXPIRY = Sql(
    "SELECT expires_at FROM credlti_nonces WHERE issuer = ? AND client_id = ? AND nonce = ?"
)
# PostgreSQL: consume and classify in one round trip (the SELECT sees the row as it
# was before the UPDATE, which is what the classification needs).
_CONSUME_AND_CLASSIFY = Sql(
    "WITH hit AS (UPDATE credlti_nonces SET used_at = ? WHERE issuer = ? AND client_id = ?"
    " AND nonce = ? AND used_at IS NULL AND expires_at > ? RETURNING 1)"
    " SELECT (SELECT count(*) FROM hit),"
    " (SELECT expires_at FROM credlti_nonces WHERE issuer = ? AND client_id = ? AND nonce = ?)"
)


def _usable_registration(issuer: str, client_id: str | None) -> bool:
    if not usable(issuer, max_length=ISSUER_MAX_LENGTH):
        return False
    return client_id is None or usable(client_id)


def _check_registration(action: str, issuer: str, client_id: str) -> None:
    check_ids(action, max_length=ISSUER_MAX_LENGTH, issuer=issuer)
    check_ids(action, client_id=client_id)


def _registration_values(record: Registration) -> dict[str, object]:
    """The columns of a registration row other than its key (issuer, client id)."""
    return {
        "auth_endpoint": record.auth_endpoint,
        "jwks_uri": record.jwks_uri,
        "token_endpoint": record.token_endpoint,
        "authorization_server": record.authorization_server,
        "allowed_algorithms": list(record.allowed_algorithms),
        "allow_anonymous": record.allow_anonymous,
        "redirect_uris": list(record.redirect_uris),
    }


def _registration_key(issuer: str, client_id: str) -> sa.ColumnElement[bool]:
    return (registrations.c.issuer == issuer) & (registrations.c.client_id == client_id)


def _registration_id_query(issuer: str, client_id: str) -> sa.Select[Any]:
    return sa.select(registrations.c.id).where(_registration_key(issuer, client_id))


def _deployment_key(reg_id: int, deployment_id: str) -> sa.ColumnElement[bool]:
    return (deployments.c.registration_id == reg_id) & (
        deployments.c.deployment_id == deployment_id
    )


#: Every registration joined to its deployments (``list_registrations``).
_LIST_REGISTRATIONS = (
    sa.select(registrations, deployments.c.deployment_id)
    .select_from(
        registrations.outerjoin(deployments, deployments.c.registration_id == registrations.c.id)
    )
    .order_by(registrations.c.issuer, registrations.c.client_id, deployments.c.deployment_id)
)


def _grouped(rows: Sequence[sa.Row[Any]]) -> list[tuple[Registration, list[Deployment]]]:
    """``list_registrations`` rows grouped by registration."""
    found: dict[int, tuple[Registration, list[Deployment]]] = {}
    for row in rows:
        entry = found.get(row.id)
        if entry is None:
            entry = found[row.id] = (_record(row), [])
        if row.deployment_id is not None:
            entry[1].append(Deployment(deployment_id=row.deployment_id))
    return list(found.values())


def _registration_query(issuer: str, client_id: str | None) -> sa.Select[Any]:
    query = sa.select(registrations).where(registrations.c.issuer == issuer)
    if client_id is not None:
        query = query.where(registrations.c.client_id == client_id)
    return query.limit(2)


def _one_registration(rows: Sequence[sa.Row[Any]], issuer: str) -> Registration | None:
    """The registration among *rows* (at most two), refusing an ambiguous issuer."""
    if len(rows) > 1:
        msg = (
            f"issuer {issuer!r} has several registrations and the platform sent no "
            "client_id; ask it to send client_id or give each registration its own "
            "login URL"
        )
        raise RegistrationNotFoundError(msg, details={"issuer": issuer})
    return _record(rows[0]) if rows else None


def _deployment_query(registration: Registration, deployment_id: str) -> sa.Select[Any]:
    """The registration's id and, when it exists, the deployment's id (one row)."""
    return (
        sa.select(registrations.c.id, deployments.c.deployment_id)
        .select_from(
            registrations.outerjoin(
                deployments,
                (deployments.c.registration_id == registrations.c.id)
                & (deployments.c.deployment_id == deployment_id),
            )
        )
        .where(_registration_key(registration.issuer, registration.client_id))
    )


def _insert_deployment_statement(dialect: str, reg_id: int, deployment_id: str) -> sa.Executable:
    """An insert of the deployment that does nothing when it exists (PostgreSQL, SQLite)."""
    values = {"registration_id": reg_id, "deployment_id": deployment_id}
    if dialect == "postgresql":
        return postgresql.insert(deployments).values(**values).on_conflict_do_nothing()
    return sqlite.insert(deployments).values(**values).on_conflict_do_nothing()


def _nonce_status(expiry: float | None, ts: float) -> NonceStatus:
    """A nonce that was not consumed: unknown or expired, or used before."""
    if expiry is None or expiry <= ts:
        return NonceStatus.NOT_FOUND
    return NonceStatus.ALREADY_USED


def _record(row: sa.Row[Any]) -> Registration:
    m = row._mapping
    return Registration(
        issuer=m["issuer"],
        client_id=m["client_id"],
        auth_endpoint=m["auth_endpoint"],
        jwks_uri=m["jwks_uri"],
        token_endpoint=m["token_endpoint"],
        authorization_server=m["authorization_server"],
        allowed_algorithms=tuple(m["allowed_algorithms"]),
        allow_anonymous=bool(m["allow_anonymous"]),
        redirect_uris=tuple(m["redirect_uris"]),
    )


@attrs.define
class SqlLaunchStorage:
    """Registrations, deployments and nonces in SQL tables (see :data:`metadata`).

    Satisfies :class:`credlti.ports.LaunchStorage` and is safe to share between
    threads, worker processes and machines: nonce consumption is one conditional
    ``UPDATE``, so two concurrent launches with one nonce get exactly one success.

    Args:
        engine: A SQLAlchemy engine (see :func:`credlti.adapters.sql.create_engine`).
        auto_register_deployments: Create unknown deployments of known
            registrations on first (verified) launch.
    """

    engine: Engine
    auto_register_deployments: bool = False
    _stores: Iterator[int] = attrs.field(factory=itertools.count, init=False, repr=False)
    # The latest "now" seen (store_nonce, validate_nonce, sweep_nonces): the sweep's cut-off.
    _latest_now: float = attrs.field(default=0.0, init=False, repr=False)

    # ------------------------------------------------------------- management

    def add_registration(self, registration: Registerable) -> None:
        """Add a registration, or update the one with the same issuer and client id."""
        record = registration.to_registration()
        _check_registration("adding a registration", record.issuer, record.client_id)
        values = _registration_values(record)
        key = _registration_key(record.issuer, record.client_id)
        with transaction(self.engine, "adding a registration") as conn:
            if conn.execute(registrations.update().where(key).values(**values)).rowcount == 0:
                conn.execute(
                    registrations.insert().values(
                        issuer=record.issuer, client_id=record.client_id, **values
                    )
                )

    def remove_registration(self, issuer: str, client_id: str) -> None:
        """Remove a registration and its deployments; unknown ones are ignored."""
        if not _usable_registration(issuer, client_id):
            return
        with transaction(self.engine, "removing a registration") as conn:
            reg_id = self._registration_id(conn, issuer, client_id)
            if reg_id is not None:
                conn.execute(deployments.delete().where(deployments.c.registration_id == reg_id))
                conn.execute(registrations.delete().where(registrations.c.id == reg_id))

    def add_deployment(self, registration: Registerable, deployment: Deployable) -> None:
        """Add a deployment under an existing registration (idempotent)."""
        record = registration.to_registration()
        deployment_id = deployment.to_deployment().deployment_id
        check_ids("adding a deployment", deployment_id=deployment_id)
        with transaction(self.engine, "adding a deployment") as conn:
            reg_id = self._registration_id(conn, record.issuer, record.client_id)
            if reg_id is None:
                msg = f"register {record.issuer!r} / {record.client_id!r} before its deployments"
                raise RegistrationNotFoundError(msg)
            self._insert_deployment(conn, reg_id, deployment_id)

    def list_registrations(self) -> list[tuple[Registration, list[Deployment]]]:
        """Every registration with its deployments, ordered by issuer and client id.

        For operators (``credlti registrations list``); launches never need it.
        """
        with read(self.engine, "listing registrations") as conn:
            rows = conn.execute(_LIST_REGISTRATIONS).all()
        return _grouped(rows)

    def remove_deployment(self, registration: Registerable, deployment_id: str) -> bool:
        """Remove one deployment of a registration; True if it existed."""
        record = registration.to_registration()
        if not usable(deployment_id) or not _usable_registration(record.issuer, record.client_id):
            return False
        with transaction(self.engine, "removing a deployment") as conn:
            reg_id = self._registration_id(conn, record.issuer, record.client_id)
            if reg_id is None:
                return False
            gone = conn.execute(
                deployments.delete().where(_deployment_key(reg_id, deployment_id))
            ).rowcount
        return bool(gone)

    @staticmethod
    def _registration_id(conn: Connection, issuer: str, client_id: str) -> int | None:
        found = conn.execute(_registration_id_query(issuer, client_id)).scalar_one_or_none()
        return None if found is None else int(found)

    @staticmethod
    def _insert_deployment(conn: Connection, reg_id: int, deployment_id: str) -> None:
        """Insert a deployment unless it exists; concurrent inserts of one id are safe."""
        dialect = conn.dialect.name
        if dialect in {"postgresql", "sqlite"}:
            statement = _insert_deployment_statement(dialect, reg_id, deployment_id)
        else:  # pragma: no cover - other dialects: check, then insert
            exists = conn.execute(
                sa.select(sa.literal(1)).where(_deployment_key(reg_id, deployment_id))
            ).first()
            if exists is not None:
                return
            statement = deployments.insert().values(
                registration_id=reg_id, deployment_id=deployment_id
            )
        conn.execute(statement)

    # ------------------------------------------------------------- RegistrationStore

    def get_registration(self, issuer: str, client_id: str | None) -> Registration | None:
        """Return the registration for *issuer* (and *client_id*), or ``None``."""
        if not _usable_registration(issuer, client_id):
            return None
        query = _registration_query(issuer, client_id)
        with read(self.engine, "reading a registration") as conn:
            rows = conn.execute(query).all()
        return _one_registration(rows, issuer)

    def get_deployment(self, registration: Registration, deployment_id: str) -> Deployment | None:
        """Return the deployment (creating it when ``auto_register_deployments`` is set)."""
        if not usable(deployment_id) or not _usable_registration(
            registration.issuer, registration.client_id
        ):
            return None
        query = _deployment_query(registration, deployment_id)
        with read(self.engine, "reading a deployment") as conn:
            row = conn.execute(query).first()
        if row is None or (row.deployment_id is None and not self.auto_register_deployments):
            return None
        if row.deployment_id is None:
            with transaction(self.engine, "registering a deployment") as conn:
                self._insert_deployment(conn, int(row.id), deployment_id)
        return Deployment(deployment_id=deployment_id)

    # ------------------------------------------------------------- NonceStore

    def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        """Record an issued nonce until *expires_at* (one INSERT).

        Every :data:`SWEEP_EVERY` stores, the same transaction also deletes up to
        :data:`SWEEP_BATCH` nonces that had expired at *now* (the tool's clock, never
        the wall clock; the latest ``now`` this adapter saw if that is later): the
        table stays bounded however many logins are started and never finished.
        """
        check_ids("storing a nonce", nonce=nonce)
        _check_registration("storing a nonce", registration.issuer, registration.client_id)
        engine = self.engine
        ts = expires_at.timestamp()
        latest = self._latest_now = max(self._latest_now, now.timestamp())
        sweep = next(self._stores) % SWEEP_EVERY == SWEEP_EVERY - 1
        with cursor(engine, "storing a nonce") as cur:
            cur.execute(
                _STORE.for_engine(engine),
                (registration.issuer, registration.client_id, nonce, ts),
            )
            if sweep:
                cur.execute(_SWEEP_SOME.for_engine(engine), (latest, SWEEP_BATCH))

    def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        """Consume *nonce* with one conditional UPDATE (atomic on every backend)."""
        if not usable(nonce) or not _usable_registration(
            registration.issuer, registration.client_id
        ):
            return NonceStatus.NOT_FOUND
        engine = self.engine
        ts = now.timestamp()
        self._latest_now = max(self._latest_now, ts)
        key = (registration.issuer, registration.client_id, nonce)
        with cursor(engine, "consuming a nonce") as cur:
            if engine.dialect.name == "postgresql":
                cur.execute(_CONSUME_AND_CLASSIFY.for_engine(engine), (ts, *key, ts, *key))
                consumed, expiry = cur.fetchone()
                if consumed:
                    return NonceStatus.CONSUMED
            else:
                cur.execute(_CONSUME.for_engine(engine), (ts, *key, ts))
                if cur.rowcount == 1:
                    return NonceStatus.CONSUMED
                cur.execute(_EXPIRY.for_engine(engine), key)
                row = cur.fetchone()
                expiry = None if row is None else row[0]
        return _nonce_status(expiry, ts)

    def sweep_nonces(self, now: datetime) -> int:
        """Delete nonces (used or not) that expired before *now*; return how many."""
        self._latest_now = max(self._latest_now, now.timestamp())
        with transaction(self.engine, "sweeping nonces") as conn:
            return int(
                conn.execute(nonces.delete().where(nonces.c.expires_at <= now.timestamp())).rowcount
            )
