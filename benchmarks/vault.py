"""Credentials vault benchmarks: encryption overhead, scrubber throughput, purge at scale.

Run: ``python benchmarks/vault.py`` (add ``--quick`` for a smoke run with small sizes).
"""

from __future__ import annotations

import random
import string
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from typing import Any

from credlti.adapters.memory import MemoryVaultStore
from credlti.credentials import (
    AuditEvent,
    CredentialRow,
    EncryptionKey,
    KeyRing,
    Scrubber,
    Vault,
    associated_data,
)

NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)
KEY = EncryptionKey(id="bench", material=bytes(range(32)))


class PlainRing(KeyRing):
    """A key ring that does not encrypt: the baseline for the overhead ratio."""

    def encrypt(self, plaintext: bytes, aad: bytes, *, nonce: bytes) -> bytes:
        return b"\x01\x05bench" + nonce + plaintext + bytes(16)

    def decrypt(self, ciphertext: bytes, aad: bytes) -> bytes:
        return ciphertext[2 + 5 + 12 : -16]


class CountingAudit:
    def __init__(self) -> None:
        self.count = 0

    def record(self, event: AuditEvent) -> None:
        self.count += 1

    def events_for(self, credential_id: str) -> list[AuditEvent]:
        return []


def crud(ring: KeyRing, n: int) -> float:
    vault = Vault(store=MemoryVaultStore(), keyring=ring, clock=lambda: NOW, audit=CountingAudit())
    body = {"host": "db", "port": "5432", "database": "app", "user": "svc", "password": "x" * 24}
    start = time.perf_counter()
    for i in range(n):
        cred = vault.create_credential(
            {"name": f"c{i}", "schema": "postgresql", "owner_id": f"u{i % 50}", "body": body}
        )
        vault.get_credential(cred.id)
    return n / (time.perf_counter() - start)


def scrub(size: int, n_secrets: int) -> tuple[float, float]:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    secrets = ["".join(rng.choices(alphabet, k=rng.randint(12, 40))) for _ in range(n_secrets)]
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "run", "step", "GET", "/api/v1", "200"]
    parts: list[str] = []
    length = 0
    while length < size:
        piece = rng.choice(secrets) if rng.random() < 0.02 else rng.choice(words)
        parts.append(piece)
        length += len(piece) + 1
    text = " ".join(parts)[:size]
    start = time.perf_counter()
    scrubber = Scrubber(secrets)
    build = time.perf_counter() - start
    start = time.perf_counter()
    out = scrubber.scrub(text)
    elapsed = time.perf_counter() - start
    assert not any(s in out for s in secrets[:50])
    return build, len(text) / elapsed / 1e6


def seeded_store(n: int, ring: KeyRing) -> MemoryVaultStore:
    store = MemoryVaultStore()
    with store.transaction() as tx:
        for i in range(n):
            cid = f"{i:08d}"
            body = ring.encrypt(
                b'{"password":"p"}', associated_data("credential", cid, "body"), nonce=bytes(12)
            )
            tx.credentials.add(
                CredentialRow(
                    id=cid,
                    name=f"c{i}",
                    schema="raw",
                    owner_id=f"u{i % 1000}",
                    body_ciphertext=body,
                    scheduled_deletion=NOW - timedelta(days=1),
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    return store


def purge(n: int) -> dict[str, Any]:
    ring = KeyRing([KEY])
    store = seeded_store(n, ring)
    vault = Vault(store=store, keyring=ring, clock=lambda: NOW, audit=CountingAudit())
    start = time.perf_counter()
    result = vault.purge_deleted(batch_size=500)
    elapsed = time.perf_counter() - start
    assert result.deleted == n
    store = seeded_store(n, ring)
    vault = Vault(store=store, keyring=ring, clock=lambda: NOW, audit=CountingAudit())
    tracemalloc.start()
    vault.purge_deleted(batch_size=500)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": elapsed, "peak_mib": peak / 2**20, "deleted": result.deleted}


def main() -> None:
    quick = "--quick" in sys.argv
    n_crud = 300 if quick else 3000
    enc = crud(KeyRing([KEY]), n_crud)
    plain = crud(PlainRing([KEY]), n_crud)
    print(f"create+read, {n_crud} credentials:")
    print(f"  with AES-256-GCM : {enc:8.0f} ops/s")
    print(f"  without          : {plain:8.0f} ops/s   (ratio encrypted/plain = {enc / plain:.2f})")
    size, n_secrets = (100_000, 100) if quick else (1_000_000, 1000)
    build, mbps = scrub(size, n_secrets)
    print(f"scrubber, {size / 1e6:.1f} MB text, {n_secrets} secrets (+ base64 forms):")
    print(f"  build {build * 1000:.0f} ms, scrub {mbps:.1f} MB/s")
    n_purge = 5_000 if quick else 100_000
    stats = purge(n_purge)
    print(f"purge of {n_purge} due credentials (batches of 500):")
    print(
        f"  {stats['seconds']:.2f} s, peak traced memory during purge {stats['peak_mib']:.1f} MiB"
    )


if __name__ == "__main__":
    main()
