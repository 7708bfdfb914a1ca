"""A throwaway PostgreSQL server for the test suite: initdb + pg_ctl on a loopback port.

The suite needs a real PostgreSQL (never skipped). If ``CREDLTI_TEST_POSTGRES_URL`` is
set it is used as is; otherwise the first test that asks for PostgreSQL starts a
private server in a temporary directory and the session stops it at the end. When
the tests run as root (as in CI), the server runs as the unprivileged ``postgres``
system user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENV_URL = "CREDLTI_TEST_POSTGRES_URL"


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    msg = (
        f"PostgreSQL's {name!r} was not found; install the PostgreSQL 15 server "
        f"(e.g. apt-get install postgresql-15) or set {ENV_URL}"
    )
    raise RuntimeError(msg)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def temporary_postgres() -> Iterator[str]:
    """Start a private PostgreSQL server; yield its SQLAlchemy URL; stop it afterwards."""
    existing = os.environ.get(ENV_URL)
    if existing:
        yield existing
        return

    run_as: str | None = None
    if os.geteuid() == 0:
        run_as = "postgres"
        pwd.getpwnam(run_as)  # KeyError if the system user does not exist

    base = Path(tempfile.mkdtemp(prefix="credlti-pg-"))
    data, sock_dir, log = base / "data", base / "sock", base / "server.log"
    sock_dir.mkdir()
    if run_as:
        entry = pwd.getpwnam(run_as)
        for path in (base, sock_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def run(*args: str) -> None:
        subprocess.run(
            args, check=True, capture_output=True, text=True, user=run_as, timeout=120, cwd=base
        )

    port = _free_port()
    try:
        run(_binary("initdb"), "-D", str(data), "-U", "credlti", "--auth=trust", "-E", "UTF8")
        options = (
            f"-p {port} -k {sock_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        run(_binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    except subprocess.CalledProcessError as exc:
        details = exc.stderr or ""
        if log.exists():
            details += log.read_text(errors="replace")
        shutil.rmtree(base, ignore_errors=True)
        msg = f"could not start PostgreSQL: {details.strip()[-2000:]}"
        raise RuntimeError(msg) from exc
    try:
        yield f"postgresql+psycopg://credlti@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            run(_binary("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
