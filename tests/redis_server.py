"""A throwaway Redis server for the test suite: ``redis-server`` on a loopback port.

If ``CREDLTI_TEST_REDIS_URL`` is set it is used as is; otherwise the first test that
asks for Redis starts a private server (no persistence, a temporary directory) and
the session stops it at the end. When ``redis-server`` is missing, the tests that
need it fail under CI (``CI=true``: scripts/bootstrap.sh installs it there) and are
skipped with a message elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ENV_URL = "CREDLTI_TEST_REDIS_URL"


class RedisMissingError(RuntimeError):
    """``redis-server`` is not installed (and no URL was given)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def temporary_redis() -> Iterator[str]:
    """Start a private Redis server; yield its URL; stop it afterwards."""
    existing = os.environ.get(ENV_URL)
    if existing:
        yield existing
        return
    binary = shutil.which("redis-server")
    if binary is None:
        msg = (
            "Redis's 'redis-server' was not found; install it (apt-get install redis-server, "
            f"as scripts/bootstrap.sh does when run as root) or set {ENV_URL}"
        )
        raise RedisMissingError(msg)

    base = Path(tempfile.mkdtemp(prefix="credlti-redis-"))
    port = _free_port()
    args = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(base),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--protected-mode", "yes",
        "--logfile", str(base / "server.log"),
    ]  # fmt: skip
    with (base / "stdout.log").open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=base)
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = base / "server.log"
                details = log.read_text(errors="replace") if log.exists() else ""
                msg = f"could not start redis-server: {details.strip()[-2000:]}"
                raise RuntimeError(msg)
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)
