"""SQL :class:`~credlti.ports.LaunchSessionStore`: saved launches in one table."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime

import attrs
from sqlalchemy.engine import Engine

from credlti.adapters.sql._raw import Sql, cursor

__all__ = ["SqlLaunchSessionStore"]

#: Every this many saves, one save also deletes up to SWEEP_BATCH expired sessions
#: (more than were saved meanwhile), so the table stays bounded without a scheduled job.
SWEEP_EVERY = 64
SWEEP_BATCH = 256

_SAVE = Sql(
    "INSERT INTO credlti_launch_sessions (session_key, data, expires_at) VALUES (?, ?, ?)"
    " ON CONFLICT (session_key) DO UPDATE"
    " SET data = excluded.data, expires_at = excluded.expires_at"
)
_LOAD = Sql("SELECT data FROM credlti_launch_sessions WHERE session_key = ? AND expires_at > ?")
_DELETE = Sql("DELETE FROM credlti_launch_sessions WHERE session_key = ?")
_SWEEP_SOME = Sql(
    "DELETE FROM credlti_launch_sessions WHERE session_key IN ("
    " SELECT session_key FROM credlti_launch_sessions WHERE expires_at <= ? LIMIT ?)"
)
_SWEEP_ALL = Sql("DELETE FROM credlti_launch_sessions WHERE expires_at <= ?")


@attrs.define
class SqlLaunchSessionStore:
    """Saved launches in ``credlti_launch_sessions`` (schema version 5 and later).

    Satisfies :class:`credlti.ports.LaunchSessionStore`; pass it to a tool as
    ``Tool(storage, sessions=SqlLaunchSessionStore(engine))``. A save is one
    ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite 3.24+ and PostgreSQL), a load one
    ``SELECT ... WHERE expires_at > now``, a delete one ``DELETE``. Every
    :data:`SWEEP_EVERY` saves, the same transaction deletes up to
    :data:`SWEEP_BATCH` sessions that had expired by the latest ``now`` a load
    passed (the tool's clock, never the wall clock), so sessions nobody reopens do
    not pile up; :meth:`sweep` deletes all of them at once.

    Args:
        engine: A SQLAlchemy engine (see :func:`credlti.adapters.sql.create_engine`).
    """

    engine: Engine
    _saves: Iterator[int] = attrs.field(factory=itertools.count, init=False, repr=False)
    # The latest "now" a load or sweep passed: the amortised sweep's cut-off.
    _latest_now: float = attrs.field(default=0.0, init=False, repr=False)

    def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
        """Store *data* under *key* until *expires_at*, replacing any older value.

        Raises:
            StorageUnavailableError: The database failed or could not be reached.
        """
        engine = self.engine
        sweep = next(self._saves) % SWEEP_EVERY == SWEEP_EVERY - 1
        with cursor(engine, "saving a launch session") as cur:
            cur.execute(_SAVE.for_engine(engine), (key, bytes(data), expires_at.timestamp()))
            if sweep and self._latest_now:
                cur.execute(_SWEEP_SOME.for_engine(engine), (self._latest_now, SWEEP_BATCH))

    def load(self, key: str, *, now: datetime) -> bytes | None:
        """The bytes under *key*, or ``None`` if there are none or they expired by *now*.

        Raises:
            StorageUnavailableError: The database failed or could not be reached.
        """
        engine = self.engine
        ts = now.timestamp()
        self._latest_now = max(self._latest_now, ts)
        with cursor(engine, "loading a launch session") as cur:
            cur.execute(_LOAD.for_engine(engine), (key, ts))
            row = cur.fetchone()
        return None if row is None else bytes(row[0])

    def delete(self, key: str) -> bool:
        """Drop the entry under *key*; True if one was dropped.

        Raises:
            StorageUnavailableError: The database failed or could not be reached.
        """
        engine = self.engine
        with cursor(engine, "deleting a launch session") as cur:
            cur.execute(_DELETE.for_engine(engine), (key,))
            return bool(cur.rowcount)

    def sweep(self, now: datetime) -> int:
        """Delete every session that expired by *now*; return how many.

        Raises:
            StorageUnavailableError: The database failed or could not be reached.
        """
        engine = self.engine
        ts = now.timestamp()
        self._latest_now = max(self._latest_now, ts)
        with cursor(engine, "sweeping launch sessions") as cur:
            cur.execute(_SWEEP_ALL.for_engine(engine), (ts,))
            return int(cur.rowcount)
