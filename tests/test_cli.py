"""The ``credlti`` command."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import credlti
from credlti import __version__
from credlti.cli import main

SRC = str(Path(credlti.__file__).resolve().parents[1])


def test_demo_runs_a_launch_and_rejects_replay_and_tampering() -> None:
    """`credlti demo --json`: launch accepted, replay and forgery rejected, vault round trip."""
    out = io.StringIO()

    status = main(["demo", "--json"], out)

    steps = {step["step"]: step for step in json.loads(out.getvalue())}
    assert status == 0
    assert steps["launch"]["accepted"] is True
    assert steps["launch"]["launch"]["roles"]["is_learner"] is True
    assert steps["launch"]["launch"]["roles"]["unrecognized"] == ["http://example.com/role#Custom"]
    assert steps["replay"] == {"step": "replay", "accepted": False, "error": "nonce_reused"}
    assert steps["tampered"]["error"] == "signature_invalid"
    assert steps["key_set_fetches"]["count"] == 1
    assert steps["vault_create"]["secret_in_storage"] is False
    assert steps["vault_create"]["port_coerced_to"] == 5432
    assert "correct-horse-battery-staple" not in steps["vault_scrub"]["log"]
    assert steps["vault_scrub"]["log"].endswith("with ***")
    assert steps["vault_transfer"]["owner"] == "bob"
    assert steps["vault_purge"]["deleted"] == 1
    assert steps["vault_purge"]["audit"][0] == "created"
    assert steps["vault_purge"]["audit"][-1] == "purged"


def test_demo_text_output_ends_with_ok() -> None:
    """The human-readable demo prints each step and a final OK line."""
    out = io.StringIO()

    assert main(["demo"], out) == 0

    text = out.getvalue()
    assert "== launch" in text
    assert "== vault_purge" in text
    assert text.rstrip().endswith("transferred and purged.")


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """`--version` prints the package version."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"credlti {__version__}"


def test_python_dash_m_entry_point() -> None:
    """`python -m credlti demo` works as an installed command would."""
    result = subprocess.run(
        [sys.executable, "-m", "credlti", "demo", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )

    assert json.loads(result.stdout)[1]["accepted"] is True


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python`` with this checkout's source first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        (
            "nosuchdialect://x",
            2,
            "unknown database dialect or driver 'nosuchdialect' in the database URL; "
            "credlti supports sqlite:// and postgresql+psycopg://",
        ),
        ("not a url", 2, "the database URL cannot be parsed; expected for example"),
        ("postgresql+psycopg://app:hunter2@db:port/app", 2, "the database URL cannot be parsed"),
        (
            "postgresql+pg8000://app:hunter2@127.0.0.1/app",
            2,
            "the database driver for postgresql+pg8000:// is not installed (no module "
            "'pg8000'); install \"credlti[postgres]\" (psycopg 3) and use a "
            "postgresql+psycopg:// URL",
        ),
        (
            "mysql://app:hunter2@127.0.0.1/app",
            2,
            "the database driver for mysql:// is not installed (no module 'MySQLdb'); "
            'credlti supports SQLite (install "credlti[sql]") and PostgreSQL',
        ),
        (
            "postgresql+psycopg://app:hunter2@127.0.0.1:{port}/app?password=hunter2",
            1,
            "cannot connect to the database (postgresql on 127.0.0.1:{port}, database app): "
            "OperationalError: ",
        ),
        (
            "sqlite:////nonexistent-credlti-dir/x.db",
            1,
            "cannot connect to the database (SQLite file /nonexistent-credlti-dir/x.db): "
            "OperationalError: unable to open database file",
        ),
    ],
    ids=[
        "unknown-dialect",
        "not-a-url",
        "bad-port",
        "missing-driver",
        "unsupported",
        "refused",
        "no-dir",
    ],
)
@pytest.mark.parametrize("action", ["status", "upgrade"])
def test_db_errors_are_one_line_never_a_traceback(
    url: str, status: int, message: str, action: str
) -> None:
    """`python -m credlti db` on a bad URL, a missing driver or an unreachable database:
    one line on stderr naming the reason (and the extra to install), a non-zero exit,
    and never the password."""
    port = _closed_port()

    result = _run("-m", "credlti", "db", action, "--url", url.format(port=port))

    assert result.returncode == status
    assert result.stdout == ""
    assert result.stderr.startswith("error: " + message.format(port=port))
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr


def test_db_without_sqlalchemy_names_the_extra() -> None:
    """Without SQLAlchemy installed, `credlti db` says which extra to install (exit 2)."""
    code = (
        "import sys; sys.modules['sqlalchemy'] = None; from credlti.cli import main; "
        "raise SystemExit(main(['db', 'status', '--url', 'sqlite://']))"
    )

    result = _run("-c", code)

    assert result.returncode == 2
    assert result.stderr.startswith("error: credlti.adapters.sql needs SQLAlchemy")
    assert 'pip install "credlti[sql]"' in result.stderr
    assert result.stderr.count("\n") == 1


def test_db_errors_go_to_the_given_stream() -> None:
    """Called with an output stream (as tests and embedding hosts do), errors go there."""
    out = io.StringIO()

    assert main(["db", "status", "--url", "nosuchdialect://x"], out) == 2

    assert out.getvalue().startswith("error: unknown database dialect")


# --------------------------------------------------------------------------- nonces sweep


def _nonce_database(url: str) -> None:
    """Two long-expired nonces (one used) and one live one, at schema version current."""
    from datetime import datetime, timedelta, timezone

    from credlti.adapters.sql import SqlLaunchStorage, create_engine, upgrade
    from credlti.lti import Registration

    past = datetime(2020, 1, 1, tzinfo=timezone.utc)
    record = Registration(
        issuer="https://lms.example.edu",
        client_id="client-1",
        auth_endpoint="https://lms.example.edu/auth",
        jwks_uri="https://lms.example.edu/jwks",
    )
    engine = create_engine(url)
    try:
        upgrade(engine)
        storage = SqlLaunchStorage(engine)
        storage.add_registration(record)
        for nonce in ("old-1", "old-2"):
            storage.store_nonce(nonce, record, expires_at=past + timedelta(minutes=5), now=past)
        storage.validate_nonce("old-1", record, now=past)
        future = datetime.now(timezone.utc) + timedelta(days=1)
        storage.store_nonce("live", record, expires_at=future, now=past)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_nonces_sweep_deletes_expired_nonces(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`credlti nonces sweep` deletes expired nonces (used or not), keeps live ones."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'n.db'}"
    else:
        import sqlalchemy as sa

        server = request.getfixturevalue("postgres_url")
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS "credlti_cli_sweep" WITH (FORCE)')
            conn.exec_driver_sql('CREATE DATABASE "credlti_cli_sweep"')
        admin.dispose()
        url = server.rsplit("/", 1)[0] + "/credlti_cli_sweep"
    _nonce_database(url)
    out = io.StringIO()

    assert main(["nonces", "sweep", "--url", url], out) == 0
    assert out.getvalue() == "swept 2 expired nonces\n"

    out = io.StringIO()
    assert main(["nonces", "sweep", "--url", url, "--json"], out) == 0
    assert json.loads(out.getvalue()) == {"swept": 0}


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("nosuchdialect://x", 2, "unknown database dialect or driver 'nosuchdialect'"),
        ("postgresql+pg8000://app:hunter2@127.0.0.1/app", 2, "the database driver for"),
        ("sqlite:////nonexistent-credlti-dir/x.db", 1, "cannot connect to the database"),
        ("sqlite://", 1, "the database has no credlti tables yet; run credlti db upgrade"),
    ],
    ids=["unknown-dialect", "missing-driver", "no-dir", "not-upgraded"],
)
def test_nonces_sweep_errors_are_one_line(url: str, status: int, message: str) -> None:
    """`python -m credlti nonces sweep` failures: one line, the `credlti db` exit statuses."""
    result = _run("-m", "credlti", "nonces", "sweep", "--url", url)

    assert result.returncode == status
    assert result.stdout == ""
    assert result.stderr.startswith("error: " + message)
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr


def test_nonces_sweep_refuses_a_newer_schema(tmp_path: Path) -> None:
    """A database upgraded by a newer credlti: exit 3; --json reports the error as JSON."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    _nonce_database(url)
    import sqlite3

    with sqlite3.connect(tmp_path / "new.db") as conn:
        conn.execute("UPDATE credlti_schema_version SET version = 99")
    out = io.StringIO()

    assert main(["nonces", "sweep", "--url", url, "--json"], out) == 3

    report = json.loads(out.getvalue())
    assert report["exit_status"] == 3
    assert "schema is at version 99" in report["error"]
