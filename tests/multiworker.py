"""Helpers for running examples/multiworker_tool.py as a real multi-process server.

Used by tests/test_multiworker.py and benchmarks/workers.py:

- :class:`LoopbackPlatform`: a :class:`~credlti.testing.SimulatedPlatform` on a real
  clock, served over HTTP on a loopback port (key set, token and AGS endpoints), so
  that the tool's worker processes can reach it. Thread-safe: one lock around the
  platform.
- :func:`tool_server`: the example under ``gunicorn -w N`` on a loopback port, with a
  fresh PostgreSQL database and a Redis key prefix of its own.
- :class:`Browser`: one user agent's cookies (sent by hand: the tool's cookies are
  ``Secure`` and the loopback server speaks plain HTTP).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import httpx
import sqlalchemy as sa

from credlti.adapters.sql import SqlLaunchStorage, create_engine
from credlti.testing import FrozenClock, SimulatedPlatform

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
_SKIPPED_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


class WallClock(FrozenClock):
    """A "frozen" clock that reads the real time: worker processes run on real time."""

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackPlatform:
    """A simulated platform answering HTTP on ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        handler = self._handler_class()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.platform = SimulatedPlatform(issuer=issuer, clock=WallClock())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackPlatform:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    @property
    def issuer(self) -> str:
        return self.platform.issuer

    def login_params(self, **kwargs: Any) -> dict[str, str]:
        with self.lock:
            return self.platform.login_params(**kwargs)

    def launch(self, redirect_url: str, **kwargs: Any) -> dict[str, str]:
        with self.lock:
            return self.platform.launch(redirect_url, **kwargs)

    def _answer(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Any:
        sent = {k: v for k, v in headers.items() if k.lower() not in {"host", "content-length"}}
        request = httpx.Request(method, self.issuer + path, headers=sent, content=body)
        with self.lock:
            return self.platform.handle_request(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                response = owner._answer(self.command, self.path, dict(self.headers), body)
                content = response.content
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in _SKIPPED_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server's names

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet: the test reads the platform's records, not its access log."""

        return Handler


@attrs.frozen(kw_only=True)
class ToolServer:
    """A running ``gunicorn -w N`` of the example."""

    base_url: str
    workers: int
    pid: int  # gunicorn's master process
    database_url: str
    env: Mapping[str, str] = attrs.field(repr=False)
    log: Path

    @property
    def launch_url(self) -> str:
        return self.base_url + "/launch"

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the master), from /proc; [] elsewhere."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]


def cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU seconds used so far by *pids* (Linux /proc); None elsewhere."""
    if not pids:
        return None
    total = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def tool_environment(database_url: str, redis_url: str, launch_url: str) -> dict[str, str]:
    """The ``CREDLTI_*`` variables of the example (fresh secrets, a private Redis prefix)."""
    material = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "CREDLTI_DATABASE_URL": database_url,
        "CREDLTI_REDIS_URL": redis_url,
        "CREDLTI_STATE_SECRET": secrets.token_urlsafe(32),
        "CREDLTI_KEY_RING": f"test-1:{material}",
        "CREDLTI_LAUNCH_URL": launch_url,
        "CREDLTI_REDIS_PREFIX": f"mw-{uuid.uuid4().hex[:8]}:",
    }


@contextlib.contextmanager
def fresh_database(postgres_url: str) -> Iterator[str]:
    """A new empty database on the server, dropped afterwards."""
    name = f"credlti_mw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def load_example() -> Any:
    """Import examples/multiworker_tool.py (examples/ is not a package)."""
    import importlib.util

    name = "credlti_example_multiworker_tool"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "multiworker_tool.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def prepare(platform: LoopbackPlatform, database_url: str, env: Mapping[str, str]) -> None:
    """What an operator does once: tables, a tool key, the registration; the platform
    then trusts the tool's key set."""
    example = load_example()
    document = example.init(example.Settings.from_env(env))
    platform.platform.trust_tool_keys(document)
    engine = create_engine(database_url)
    try:
        platform.platform.install(SqlLaunchStorage(engine))
    finally:
        engine.dispose()


@contextlib.contextmanager
def tool_server(
    *, workers: int, database_url: str, env: Mapping[str, str], port: int
) -> Iterator[ToolServer]:
    """Run the example under ``gunicorn -w workers``; stop it afterwards."""
    base_url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkstemp(prefix="credlti-gunicorn-", suffix=".log")[1])
    src = str(ROOT / "src")
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    full_env = {**os.environ, **env, "PYTHONPATH": path}
    args = [
        sys.executable, "-m", "gunicorn",
        "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}",
        "--chdir", str(EXAMPLES),
        "--backlog", "256",
        "--graceful-timeout", "5",
        "--timeout", "120",  # a worker starved of CPU on a busy machine is not killed
        "--log-level", "warning",
        "multiworker_tool:create_app_from_env()",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    server = ToolServer(
        base_url=base_url,
        workers=workers,
        pid=proc.pid,
        database_url=database_url,
        env=env,
        log=log,
    )
    try:
        _wait_for_workers(server, proc)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.unlink(missing_ok=True)


def _wait_for_workers(server: ToolServer, proc: subprocess.Popen[bytes]) -> None:
    """Wait until every worker has answered /health once (at most 60 s)."""
    deadline = time.monotonic() + 60
    seen: set[str] = set()
    with httpx.Client(timeout=5) as client:
        while len(seen) < server.workers:
            if proc.poll() is not None or time.monotonic() > deadline:
                output = server.log.read_text(errors="replace")[-3000:]
                msg = f"gunicorn did not start {server.workers} workers: {output}"
                raise RuntimeError(msg)
            try:
                seen.add(client.get(server.base_url + "/health").headers["X-Worker-Pid"])
            except httpx.TransportError:
                time.sleep(0.1)


@attrs.define
class Browser:
    """One user agent: its cookies, sent by hand (they are ``Secure``, the server is http)."""

    client: httpx.Client
    cookies: dict[str, str] = attrs.field(factory=dict)

    def keep(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            pair, _, attributes = header.partition(";")
            name, _, value = pair.strip().partition("=")
            if "max-age=0" in attributes.lower().replace(" ", ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def headers(self, avoid: int | None = None) -> dict[str, str]:
        """The Cookie header, and ``X-Avoid-Worker`` to keep worker *avoid* off the request."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if avoid is not None:
            headers["X-Avoid-Worker"] = str(avoid)
        return headers

    def get(self, url: str, *, avoid: int | None = None) -> httpx.Response:
        response = self.client.get(url, headers=self.headers(avoid))
        self.keep(response)
        return response

    def post(
        self, url: str, data: Mapping[str, str], *, avoid: int | None = None
    ) -> httpx.Response:
        response = self.client.post(url, data=dict(data), headers=self.headers(avoid))
        self.keep(response)
        return response


def worker_of(response: httpx.Response) -> int:
    return int(response.headers["X-Worker-Pid"])
