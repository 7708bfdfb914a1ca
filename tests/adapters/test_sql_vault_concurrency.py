"""OAuth single-flight refresh across worker processes on the SQL vault store.

Several processes, each with several threads, refresh one expired token against a
real loopback HTTP token endpoint; the store's named lock (a PostgreSQL advisory lock,
or a POSIX byte-range lock next to a SQLite file) must let exactly one request out.
"""

from __future__ import annotations

import http.server
import json
import multiprocessing
import queue as queue_module
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from credlti.adapters.sql import (
    SqlAuditSink,
    SqlOAuthClientRegistry,
    SqlVaultStore,
    create_engine,
    upgrade,
)
from credlti.credentials import AuditAction, EncryptionKey, KeyRing, OAuthClient, Vault

KEY = EncryptionKey(id="k1", material=bytes(range(32)))
START = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
LATER = START + timedelta(hours=2)  # the stored token has expired by then
PROCESSES, THREADS = 3, 4


class _TokenEndpoint(http.server.BaseHTTPRequestHandler):
    """Counts refresh requests and answers slowly, to widen any race window."""

    count = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        with self.lock:
            type(self).count += 1
            number = type(self).count
        time.sleep(0.3)
        body = json.dumps({"access_token": f"at-new-{number}", "expires_in": 3600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return None


@pytest.fixture(name="token_endpoint")
def _token_endpoint() -> Iterator[tuple[str, type[_TokenEndpoint]]]:
    """A loopback token endpoint in a thread: (its URL, the handler class with the count)."""
    handler = type("Endpoint", (_TokenEndpoint,), {"count": 0, "lock": threading.Lock()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _vault(engine: Engine, now: datetime) -> Vault:
    keyring = KeyRing([KEY])
    return Vault(
        store=SqlVaultStore(engine),
        keyring=keyring,
        audit=SqlAuditSink(engine),
        oauth_clients=SqlOAuthClientRegistry(engine, keyring),
        http_client=httpx.Client(timeout=10, trust_env=False),
        clock=lambda: now,
    )


def _refresh_worker(
    url: str,
    credential_id: str,
    ready: multiprocessing.Queue[str],
    go: Any,
    results: multiprocessing.Queue[list[str]],
) -> None:
    """Worker process: THREADS threads call maybe_refresh_token at the same moment."""
    vault = _vault(create_engine(url), LATER)
    vault.get_credential_or_raise(credential_id)  # warm up imports and connections
    barrier = threading.Barrier(THREADS)
    seen: list[str] = []
    guard = threading.Lock()

    def refresh() -> None:
        barrier.wait(30)
        try:
            token = vault.maybe_refresh_token(credential_id).oauth_token
            outcome = token.access_token if token else "no token"
        except Exception as exc:  # reported to the parent
            outcome = f"error: {type(exc).__name__}: {exc}"
        with guard:
            seen.append(outcome)

    threads = [threading.Thread(target=refresh) for _ in range(THREADS)]
    ready.put("ready")
    go.wait(60)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    results.put(seen)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql", "sqlite-file"])
def test_refresh_single_flight_across_processes(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    token_endpoint: tuple[str, type[_TokenEndpoint]],
) -> None:
    """3 processes x 4 threads refreshing one expired token make exactly one token request."""
    endpoint_url, endpoint = token_endpoint
    url = (
        str(request.getfixturevalue("fresh_postgres_url"))
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'oauth.db'}"
    )
    engine = create_engine(url)
    upgrade(engine)
    setup = _vault(engine, START)
    SqlOAuthClientRegistry(engine, KeyRing([KEY])).add(
        OAuthClient(id="idp", client_id="c-1", client_secret="s-1", token_endpoint=endpoint_url)
    )
    cred = setup.create_credential(
        {
            "name": "mail",
            "schema": "oauth",
            "owner_id": "alice",
            "body": {},
            "oauth_client_id": "idp",
            "oauth_token": {
                "access_token": "at-old",
                "refresh_token": "rt-1",
                "scope": "mail.read",
                "expires_in": 60,
            },
        }
    )
    # Spawned workers import this module by name: give them the repository root.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[str] = context.Queue()
    results: multiprocessing.Queue[list[str]] = context.Queue()
    go = context.Event()
    workers = [
        context.Process(target=_refresh_worker, args=(url, cred.id, ready, go, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()

    def collect(q: multiprocessing.Queue[Any], n: int) -> list[Any]:
        got: list[Any] = []
        deadline = time.monotonic() + 120
        while len(got) < n and time.monotonic() < deadline:
            try:
                got.append(q.get(timeout=1))
            except queue_module.Empty:
                dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                assert not dead, f"a worker process failed with exit code {dead}"
        assert len(got) == n, "the workers did not finish in time"
        return got

    collect(ready, PROCESSES)
    go.set()
    seen = [outcome for batch in collect(results, PROCESSES) for outcome in batch]
    for worker in workers:
        worker.join(30)

    assert endpoint.count == 1
    assert seen == ["at-new-1"] * (PROCESSES * THREADS)
    final = setup.get_credential_or_raise(cred.id).oauth_token
    assert final is not None
    assert (final.access_token, final.refresh_token, final.version) == ("at-new-1", "rt-1", 2)
    refreshed = [
        e for e in setup.audit.events_for(cred.id) if e.action is AuditAction.TOKEN_REFRESHED
    ]
    assert len(refreshed) == 1
    setup.close()
    engine.dispose()
