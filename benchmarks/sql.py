"""SQL adapter benchmarks: nonces, credential create/read and purge, against memory.

Every figure is measured in the same run for the memory adapter and for each SQL
backend, and reported with ``ratio_to_memory`` = SQL figure / memory figure (for
ops/s below 1 means slower; for seconds and MiB above 1 means slower / bigger).

* **nonce ops/s**: one ``store_nonce`` + one ``validate_nonce`` (atomic consume) per
  op, ``SqlLaunchStorage`` vs ``MemoryLaunchStorage``.
* **credential create / read ops/s**: ``Vault.create_credential`` (validation,
  AES-GCM, row + audit row in one transaction) and ``Vault.get_credential``,
  ``SqlVaultStore`` + ``SqlAuditSink`` vs the memory store and sink.
* **purge**: ``Vault.purge_deleted`` (batches of 500) of N due credentials, seeded
  in bulk outside the timing; wall time of one run, and peak traced memory
  (``tracemalloc``) of a second run on a fresh seed.

Backends: SQLite (a file in a temporary directory, WAL, as ``create_engine`` sets it
up) and PostgreSQL (``CREDLTI_TEST_POSTGRES_URL`` if set, else a throwaway server
started with ``tests/pg_server.py``; a scratch database is created and dropped).

Run::

    python benchmarks/sql.py                       # defaults, a minute or two on 2 cores
    python benchmarks/sql.py --purge 100000        # the 100k purge
    python benchmarks/sql.py --json --backends sqlite
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import platform as py_platform
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from credlti.adapters.memory import MemoryAuditSink, MemoryLaunchStorage, MemoryVaultStore
from credlti.adapters.sql import (
    SqlAuditSink,
    SqlLaunchStorage,
    SqlVaultStore,
    create_engine,
    metadata,
    upgrade,
)
from credlti.credentials import CredentialRow, EncryptionKey, KeyRing, Vault, associated_data
from credlti.lti import Registration
from credlti.ports import NonceStatus

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)
KEYRING = KeyRing([EncryptionKey(id="bench", material=bytes(range(32)))])
REGISTRATION = Registration(
    issuer="https://platform.example.edu",
    client_id="tool-1",
    auth_endpoint="https://platform.example.edu/auth",
    jwks_uri="https://platform.example.edu/jwks",
)
BODY = {"host": "db", "port": "5432", "database": "app", "user": "svc", "password": "x" * 24}
BATCH = 500
METRICS = (
    "nonce_ops_per_s",
    "credential_create_ops_per_s",
    "credential_read_ops_per_s",
    "purge_seconds",
    "purge_peak_mib",
)

# A backend: (name, makes a fresh engine-or-None for memory, tears it down)
Backend = Callable[[], contextlib.AbstractContextManager[sa.Engine | None]]


# --------------------------------------------------------------------------- backends


@contextlib.contextmanager
def memory_backend() -> Iterator[None]:
    yield None


@contextlib.contextmanager
def sqlite_backend() -> Iterator[sa.Engine]:
    with tempfile.TemporaryDirectory(prefix="credlti-bench-") as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def postgres_server() -> contextlib.AbstractContextManager[str]:
    """``CREDLTI_TEST_POSTGRES_URL``, or a throwaway server (the test suite's helper)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.pg_server import temporary_postgres

    return temporary_postgres()


def postgres_backend(server_url: str) -> Backend:
    @contextlib.contextmanager
    def backend() -> Iterator[sa.Engine]:
        name = f"credlti_bench_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine = create_engine(server_url.rsplit("/", 1)[0] + "/" + name)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()

    return backend


# --------------------------------------------------------------------------- measurements


def _rate(n: int, fn: Callable[[int], None]) -> float:
    gc.collect()
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def nonces(engine: sa.Engine | None, n: int) -> float:
    storage: Any = MemoryLaunchStorage() if engine is None else SqlLaunchStorage(engine)
    storage.add_registration(REGISTRATION)
    expires = NOW + timedelta(minutes=5)

    def op(i: int) -> None:
        storage.store_nonce(f"nonce-{i}", REGISTRATION, expires_at=expires)
        status = storage.validate_nonce(f"nonce-{i}", REGISTRATION, now=NOW)
        assert status is NonceStatus.CONSUMED

    for i in range(min(50, n)):  # warm-up: connections, compiled statements
        op(n + i)
    return _rate(n, op)


def _vault(engine: sa.Engine | None) -> Vault:
    if engine is None:
        return Vault(
            store=MemoryVaultStore(), keyring=KEYRING, audit=MemoryAuditSink(), clock=lambda: NOW
        )
    return Vault(
        store=SqlVaultStore(engine), keyring=KEYRING, audit=SqlAuditSink(engine), clock=lambda: NOW
    )


def credentials(engine: sa.Engine | None, n: int) -> tuple[float, float]:
    vault = _vault(engine)
    ids: list[str] = []

    def create(i: int) -> None:
        attrs = {"name": f"c{i}", "schema": "postgresql", "owner_id": f"u{i % 50}", "body": BODY}
        ids.append(vault.create_credential(attrs).id)

    def get(i: int) -> None:
        assert vault.get_credential(ids[i]) is not None

    for i in range(min(20, n)):  # warm-up
        create(n + i)
        get(i)
    ids.clear()
    create_rate = _rate(n, create)
    read_rate = _rate(n, get)
    vault.close()
    return create_rate, read_rate


def _rows(n: int) -> Iterator[CredentialRow]:
    due = NOW - timedelta(days=1)
    for i in range(n):
        cid = f"{i:08d}"
        body = KEYRING.encrypt(
            b'{"password":"p"}', associated_data("credential", cid, "body"), nonce=bytes(12)
        )
        yield CredentialRow(
            id=cid,
            name=f"c{i}",
            schema="raw",
            owner_id=f"u{i % 1000}",
            body_ciphertext=body,
            scheduled_deletion=due,
            created_at=due,
            updated_at=due,
        )


def _seed(engine: sa.Engine | None, n: int) -> Any:
    """A store holding n due credentials (bulk insert for SQL: seeding is not timed)."""
    if engine is None:
        store = MemoryVaultStore()
        with store.transaction() as tx:
            for row in _rows(n):
                tx.credentials.add(row)
        return store
    table = metadata.tables["credlti_credentials"]
    with engine.begin() as conn:
        for name in ("credlti_audit_events", "credlti_credentials"):
            conn.execute(metadata.tables[name].delete())
        chunk: list[dict[str, Any]] = []
        for row in _rows(n):
            chunk.append(
                {
                    "id": row.id,
                    "name": row.name,
                    "schema": row.schema,
                    "owner_id": row.owner_id,
                    "body_ciphertext": row.body_ciphertext,
                    "production": False,
                    "scheduled_deletion": row.created_at.timestamp(),  # due (seeded so)
                    "created_at": row.created_at.timestamp(),
                    "updated_at": row.updated_at.timestamp(),
                }
            )
            if len(chunk) == 5000:
                conn.execute(table.insert(), chunk)
                chunk = []
        if chunk:
            conn.execute(table.insert(), chunk)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE credlti_credentials")
    return SqlVaultStore(engine)


def purge(engine: sa.Engine | None, n: int) -> tuple[float, float]:
    audit: Any = MemoryAuditSink() if engine is None else SqlAuditSink(engine)
    vault = Vault(store=_seed(engine, n), keyring=KEYRING, audit=audit, clock=lambda: NOW)
    gc.collect()
    start = time.perf_counter()
    result = vault.purge_deleted(batch_size=BATCH)
    seconds = time.perf_counter() - start
    assert result.deleted == n, result
    vault = Vault(store=_seed(engine, n), keyring=KEYRING, audit=audit, clock=lambda: NOW)
    gc.collect()
    tracemalloc.start()
    assert vault.purge_deleted(batch_size=BATCH).deleted == n
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20


def measure(backend: Backend, sizes: dict[str, int]) -> dict[str, float]:
    with backend() as engine:
        create_rate, read_rate = credentials(engine, sizes["credentials"])
        seconds, peak = purge(engine, sizes["purge"])
        return {
            "nonce_ops_per_s": nonces(engine, sizes["nonces"]),
            "credential_create_ops_per_s": create_rate,
            "credential_read_ops_per_s": read_rate,
            "purge_seconds": seconds,
            "purge_peak_mib": peak,
        }


# --------------------------------------------------------------------------- report


def run(sizes: dict[str, int], backends: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "sizes": {**sizes, "purge_batch": BATCH},
        "python": py_platform.python_version(),
        "sqlalchemy": sa.__version__,
        "ratio_to_memory": "SQL figure / memory figure, same run",
    }
    memory = measure(memory_backend, sizes)
    result["memory"] = memory
    with contextlib.ExitStack() as stack:
        for name in backends:
            if name == "sqlite":
                backend: Backend = sqlite_backend
            else:
                backend = postgres_backend(stack.enter_context(postgres_server()))
            figures = measure(backend, sizes)
            if name == "postgresql":
                with backend() as engine:
                    assert engine is not None
                    with engine.connect() as conn:
                        version = conn.exec_driver_sql("SHOW server_version").scalar()
                result["postgresql_server"] = str(version)
            result[name] = {
                **figures,
                "ratio_to_memory": {k: figures[k] / memory[k] for k in METRICS},
            }
    return result


def print_report(result: dict[str, Any], backends: list[str]) -> None:
    sizes = result["sizes"]
    print(
        f"credlti SQL benchmark (python {result['python']}, SQLAlchemy {result['sqlalchemy']}"
        + (f", PostgreSQL {result['postgresql_server']}" if "postgresql_server" in result else "")
        + ")"
    )
    print(
        f"sizes: {sizes['nonces']} nonce ops, {sizes['credentials']} credentials, "
        f"purge {sizes['purge']} due credentials in batches of {sizes['purge_batch']}"
    )
    labels = {
        "nonce_ops_per_s": ("nonce store+consume", "ops/s", ",.0f"),
        "credential_create_ops_per_s": ("credential create", "ops/s", ",.0f"),
        "credential_read_ops_per_s": ("credential read", "ops/s", ",.0f"),
        "purge_seconds": ("purge (time)", "s", ".3f"),
        "purge_peak_mib": ("purge (peak traced memory)", "MiB", ".2f"),
    }
    header = f"{'':34}{'memory':>12}" + "".join(f"{b:>14}{'x mem':>9}" for b in backends)
    print(header)
    for key, (label, unit, fmt) in labels.items():
        line = f"{label + ' [' + unit + ']':34}{format(result['memory'][key], fmt):>12}"
        for b in backends:
            line += f"{format(result[b][key], fmt):>14}{result[b]['ratio_to_memory'][key]:>9.3f}"
        print(line)
    print("x mem = SQL figure / memory figure (ops/s: <1 is slower; s, MiB: >1 is more)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nonces", type=int, default=2000, help="nonce store+consume ops")
    parser.add_argument("--credentials", type=int, default=1000, help="credentials created/read")
    parser.add_argument("--purge", type=int, default=10_000, help="due credentials to purge")
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backends: {sorted(unknown)}")
    sizes = {"nonces": args.nonces, "credentials": args.credentials, "purge": args.purge}
    result = run(sizes, backends)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result, backends)
    return 0


if __name__ == "__main__":
    sys.exit(main())
