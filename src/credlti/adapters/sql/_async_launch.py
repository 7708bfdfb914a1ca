"""Async SQL :class:`~credlti.ports.AsyncLaunchStorage`: the sync adapter's SQL, awaited."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime

import attrs
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from credlti.adapters._ids import check_ids, usable
from credlti.adapters.sql._aio import araw, aread, atransaction
from credlti.adapters.sql._launch import (
    _CONSUME,
    _CONSUME_AND_CLASSIFY,
    _EXPIRY,
    _LIST_REGISTRATIONS,
    _STORE,
    _SWEEP_SOME,
    SWEEP_BATCH,
    SWEEP_EVERY,
    _check_registration,
    _deployment_key,
    _deployment_query,
    _grouped,
    _insert_deployment_statement,
    _nonce_status,
    _one_registration,
    _registration_id_query,
    _registration_key,
    _registration_query,
    _registration_values,
    _usable_registration,
)
from credlti.adapters.sql._schema import deployments, nonces, registrations
from credlti.errors import RegistrationNotFoundError
from credlti.lti._records import Deployment, Registration
from credlti.lti.ports import Deployable, NonceStatus, Registerable

__all__ = ["AsyncSqlLaunchStorage"]


@attrs.define
class AsyncSqlLaunchStorage:
    """Registrations, deployments and nonces in SQL tables, for asyncio servers.

    The async twin of :class:`~credlti.adapters.sql.SqlLaunchStorage` (same tables,
    same statements, same bounded nonce sweep) on an engine from
    :func:`~credlti.adapters.sql.open_async_engine`; satisfies
    :class:`credlti.ports.AsyncLaunchStorage`. No call blocks the event loop: the
    nonce statements are awaited on psycopg's or aiosqlite's own connection.

    Args:
        engine: An async engine (see :func:`credlti.adapters.sql.open_async_engine`).
        auto_register_deployments: Create unknown deployments of known
            registrations on first (verified) launch.
    """

    engine: AsyncEngine
    auto_register_deployments: bool = False
    _stores: Iterator[int] = attrs.field(factory=itertools.count, init=False, repr=False)
    # The latest "now" seen (store_nonce, validate_nonce, sweep_nonces): the sweep's cut-off.
    _latest_now: float = attrs.field(default=0.0, init=False, repr=False)

    # ------------------------------------------------------------- management

    async def add_registration(self, registration: Registerable) -> None:
        """Add a registration, or update the one with the same issuer and client id."""
        record = registration.to_registration()
        _check_registration("adding a registration", record.issuer, record.client_id)
        values = _registration_values(record)
        key = _registration_key(record.issuer, record.client_id)
        async with atransaction(self.engine, "adding a registration") as conn:
            changed = await conn.execute(registrations.update().where(key).values(**values))
            if changed.rowcount == 0:
                await conn.execute(
                    registrations.insert().values(
                        issuer=record.issuer, client_id=record.client_id, **values
                    )
                )

    async def remove_registration(self, issuer: str, client_id: str) -> None:
        """Remove a registration and its deployments; unknown ones are ignored."""
        if not _usable_registration(issuer, client_id):
            return
        async with atransaction(self.engine, "removing a registration") as conn:
            reg_id = await self._registration_id(conn, issuer, client_id)
            if reg_id is not None:
                await conn.execute(
                    deployments.delete().where(deployments.c.registration_id == reg_id)
                )
                await conn.execute(registrations.delete().where(registrations.c.id == reg_id))

    async def add_deployment(self, registration: Registerable, deployment: Deployable) -> None:
        """Add a deployment under an existing registration (idempotent)."""
        record = registration.to_registration()
        deployment_id = deployment.to_deployment().deployment_id
        check_ids("adding a deployment", deployment_id=deployment_id)
        async with atransaction(self.engine, "adding a deployment") as conn:
            reg_id = await self._registration_id(conn, record.issuer, record.client_id)
            if reg_id is None:
                msg = f"register {record.issuer!r} / {record.client_id!r} before its deployments"
                raise RegistrationNotFoundError(msg)
            await conn.execute(
                _insert_deployment_statement(conn.dialect.name, reg_id, deployment_id)
            )

    async def list_registrations(self) -> list[tuple[Registration, list[Deployment]]]:
        """Every registration with its deployments, ordered by issuer and client id."""
        async with aread(self.engine, "listing registrations") as conn:
            rows = (await conn.execute(_LIST_REGISTRATIONS)).all()
        return _grouped(rows)

    async def remove_deployment(self, registration: Registerable, deployment_id: str) -> bool:
        """Remove one deployment of a registration; True if it existed."""
        record = registration.to_registration()
        if not usable(deployment_id) or not _usable_registration(record.issuer, record.client_id):
            return False
        async with atransaction(self.engine, "removing a deployment") as conn:
            reg_id = await self._registration_id(conn, record.issuer, record.client_id)
            if reg_id is None:
                return False
            gone = await conn.execute(
                deployments.delete().where(_deployment_key(reg_id, deployment_id))
            )
        return bool(gone.rowcount)

    @staticmethod
    async def _registration_id(conn: AsyncConnection, issuer: str, client_id: str) -> int | None:
        found = (await conn.execute(_registration_id_query(issuer, client_id))).scalar_one_or_none()
        return None if found is None else int(found)

    # ------------------------------------------------------------- RegistrationStore

    async def get_registration(self, issuer: str, client_id: str | None) -> Registration | None:
        """Return the registration for *issuer* (and *client_id*), or ``None``."""
        if not _usable_registration(issuer, client_id):
            return None
        async with aread(self.engine, "reading a registration") as conn:
            rows = (await conn.execute(_registration_query(issuer, client_id))).all()
        return _one_registration(rows, issuer)

    async def get_deployment(
        self, registration: Registration, deployment_id: str
    ) -> Deployment | None:
        """Return the deployment (creating it when ``auto_register_deployments`` is set)."""
        if not usable(deployment_id) or not _usable_registration(
            registration.issuer, registration.client_id
        ):
            return None
        async with aread(self.engine, "reading a deployment") as conn:
            row = (await conn.execute(_deployment_query(registration, deployment_id))).first()
        if row is None or (row.deployment_id is None and not self.auto_register_deployments):
            return None
        if row.deployment_id is None:
            async with atransaction(self.engine, "registering a deployment") as conn:
                await conn.execute(
                    _insert_deployment_statement(conn.dialect.name, int(row.id), deployment_id)
                )
        return Deployment(deployment_id=deployment_id)

    # ------------------------------------------------------------- NonceStore

    async def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        """Record an issued nonce until *expires_at* (one INSERT).

        Every :data:`~credlti.adapters.sql._launch.SWEEP_EVERY` stores, the same
        transaction also deletes a bounded batch of nonces expired at *now* (as the
        sync adapter does).
        """
        check_ids("storing a nonce", nonce=nonce)
        _check_registration("storing a nonce", registration.issuer, registration.client_id)
        ts = expires_at.timestamp()
        latest = self._latest_now = max(self._latest_now, now.timestamp())
        sweep = next(self._stores) % SWEEP_EVERY == SWEEP_EVERY - 1
        action = "storing a nonce"
        async with araw(self.engine, action) as raw:
            await raw.execute(
                _STORE, (registration.issuer, registration.client_id, nonce, ts), action
            )
            if sweep:
                await raw.execute(_SWEEP_SOME, (latest, SWEEP_BATCH), action)

    async def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        """Consume *nonce* with one conditional UPDATE (atomic on every backend)."""
        if not usable(nonce) or not _usable_registration(
            registration.issuer, registration.client_id
        ):
            return NonceStatus.NOT_FOUND
        ts = now.timestamp()
        self._latest_now = max(self._latest_now, ts)
        key = (registration.issuer, registration.client_id, nonce)
        action = "consuming a nonce"
        async with araw(self.engine, action) as raw:
            if self.engine.dialect.name == "postgresql":
                consumed, expiry = await raw.fetchone(
                    _CONSUME_AND_CLASSIFY, (ts, *key, ts, *key), action
                )
                if consumed:
                    return NonceStatus.CONSUMED
            else:
                cur = await raw.execute(_CONSUME, (ts, *key, ts), action)
                if cur.rowcount == 1:
                    return NonceStatus.CONSUMED
                row = await raw.fetchone(_EXPIRY, key, action)
                expiry = None if row is None else row[0]
        return _nonce_status(expiry, ts)

    async def sweep_nonces(self, now: datetime) -> int:
        """Delete nonces (used or not) that expired before *now*; return how many."""
        self._latest_now = max(self._latest_now, now.timestamp())
        expired = nonces.delete().where(nonces.c.expires_at <= now.timestamp())
        async with atransaction(self.engine, "sweeping nonces") as conn:
            return int((await conn.execute(expired)).rowcount)
