"""The operator commands ``credlti keys|vault|registrations``, through ``python -m credlti``.

Every test runs the real entry point in a subprocess, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import credlti

SRC = str(Path(credlti.__file__).resolve().parents[1])
RING_VAR = "CREDLTI_TEST_KEY_RING"
ISSUER = "https://lms.example.edu"


def _ring_value(*ids: str) -> tuple[str, dict[str, bytes]]:
    materials = {key_id: secrets.token_bytes(32) for key_id in ids}
    text = ",".join(f"{k}:{base64.b64encode(m).decode()}" for k, m in materials.items())
    return text, materials


def _env(ring: str | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    env.pop(RING_VAR, None)
    if ring is not None:
        env[RING_VAR] = ring
    return env


def _run(*args: str, ring: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credlti", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(ring),
        check=False,
    )


def _json(*args: str, ring: str | None = None, status: int = 0) -> Any:
    result = _run(*args, "--json", ring=ring)
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An upgraded, empty credlti database on each backend."""
    from credlti.adapters.sql import create_engine, upgrade

    if request.param == "sqlite":
        database = f"sqlite:///{tmp_path / 'ops.db'}"
    else:
        import sqlalchemy as sa

        server: str = request.getfixturevalue("postgres_url")
        name = f"credlti_ops_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        database = server.rsplit("/", 1)[0] + "/" + name
    engine = create_engine(database)
    upgrade(engine)
    engine.dispose()
    return database


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("group", ["keys", "vault", "registrations"])
def test_every_group_has_help_with_exit_statuses(group: str) -> None:
    result = _run(group, "--help")

    assert result.returncode == 0
    assert "exit status" in " ".join(result.stdout.lower().split())
    assert "--url" in result.stdout
    assert "--json" in result.stdout


# --------------------------------------------------------------------------- keys


def test_key_lifecycle_generate_rotate_prune_list_jwks(url: str) -> None:
    """generate (current, then next), rotate with overlap, prune after it, jwks public."""
    ring, materials = _ring_value("k1")
    first = _json("keys", "generate", "--url", url, "--key-ring-env", RING_VAR, ring=ring)
    assert first["added"]["state"] == "current"
    assert first["added"]["alg"] == "RS256"
    second = _json("keys", "generate", "--url", url, "--key-ring-env", RING_VAR, ring=ring)
    assert second["added"]["state"] == "next"
    dry = _json(
        "keys", "generate", "--url", url, "--key-ring-env", RING_VAR, "--dry-run", ring=ring
    )
    assert dry["dry_run"] is True

    listed = _json("keys", "list", "--url", url, "--key-ring-env", RING_VAR, ring=ring)
    states = [k["state"] for k in listed["keys"]]
    assert states == ["current", "next"]

    refused = _run("keys", "rotate", "--url", url, "--key-ring-env", RING_VAR, ring=ring)
    assert refused.returncode == 4
    assert refused.stderr.startswith("error: the next key")
    assert refused.stderr.count("\n") == 1

    rotate = (
        "keys",
        "rotate",
        "--url",
        url,
        "--key-ring-env",
        RING_VAR,
        "--min-next-age-hours",
        "0",
    )
    preview = _json(*rotate, "--dry-run", ring=ring)
    assert preview["current"] == second["added"]["kid"]
    after_preview = _json("keys", "list", "--url", url, "--key-ring-env", RING_VAR, ring=ring)
    assert after_preview == listed

    rotated = _json(*rotate, "--overlap-hours", "0", ring=ring)
    assert rotated["current"] == second["added"]["kid"]
    assert rotated["retired"] == [first["added"]["kid"]]
    assert len(rotated["next"]) == 1

    pruned = _json("keys", "prune", "--url", url, "--key-ring-env", RING_VAR, ring=ring)
    assert pruned["pruned"] == [first["added"]["kid"]]

    document = _json("keys", "jwks", "--url", url, "--key-ring-env", RING_VAR, ring=ring)
    published = document["keys"]
    assert [k["kid"] for k in published] == [
        second["added"]["kid"],
        rotated["next"][0],
    ]
    for key in published:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["alg"] == "RS256"
    human = _run("keys", "list", "--url", url, "--key-ring-env", RING_VAR, ring=ring)
    assert human.returncode == 0
    assert "current" in human.stdout
    for material in materials.values():
        for shown in (human.stdout, json.dumps(document)):
            assert base64.b64encode(material).decode() not in shown


def test_es256_is_explicit_and_warns(url: str) -> None:
    ring, _ = _ring_value("k1")

    result = _run(
        "keys", "generate", "--url", url, "--key-ring-env", RING_VAR, "--alg", "ES256", ring=ring
    )

    assert result.returncode == 0
    assert "ES256" in result.stdout
    assert result.stderr.startswith("warning: ES256 tool keys sign JWTs that many LTI platforms")


@pytest.mark.parametrize(
    ("ring", "extra", "status", "message"),
    [
        (None, (), 2, f"the environment variable {RING_VAR} is not set"),
        ("k1", (), 2, f"{RING_VAR}: entry 1 is not id:base64"),
        ("k1:!!!", (), 2, f"{RING_VAR}: key 'k1' is not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), (), 2, f"{RING_VAR}: key 'k1' must be"),
        ("good", ("--size", "1000"), 2, "RSA key size must be one of"),
    ],
    ids=["unset", "no-colon", "bad-base64", "short-key", "bad-size"],
)
def test_keys_bad_input_is_one_line(
    url: str, ring: str | None, extra: tuple[str, ...], status: int, message: str
) -> None:
    if ring == "good":
        ring, _ = _ring_value("k1")

    result = _run("keys", "generate", "--url", url, "--key-ring-env", RING_VAR, *extra, ring=ring)

    assert result.returncode == status
    assert result.stderr.startswith("error: " + message)
    assert result.stderr.count("\n") == 1


def test_keys_under_another_ring_cannot_be_opened(url: str) -> None:
    ring, _ = _ring_value("k1")
    other, _ = _ring_value("k1")
    assert (
        _run("keys", "generate", "--url", url, "--key-ring-env", RING_VAR, ring=ring).returncode
        == 0
    )

    result = _run("keys", "list", "--url", url, "--key-ring-env", RING_VAR, ring=other)

    assert result.returncode == 1
    assert result.stderr.startswith("error: the stored keys cannot be opened with the key ring")
    assert result.stderr.count("\n") == 1


# --------------------------------------------------------------------------- registrations


def _registration_args(client_id: str = "client-1") -> tuple[str, ...]:
    return (
        "--issuer",
        ISSUER,
        "--client-id",
        client_id,
        "--auth-endpoint",
        f"{ISSUER}/auth",
        "--jwks-uri",
        f"{ISSUER}/jwks",
    )


def test_registrations_add_list_show_remove(url: str) -> None:
    who = ("--issuer", ISSUER, "--client-id", "client-1")
    dry = _json("registrations", "add", "--url", url, *_registration_args(), "--dry-run")
    assert dry["created"] is True
    assert _json("registrations", "list", "--url", url) == {"registrations": []}

    added = _json(
        "registrations",
        "add",
        "--url",
        url,
        *_registration_args(),
        "--token-endpoint",
        f"{ISSUER}/token",
        "--deployment",
        "d-1",
        "--deployment",
        "d-2",
    )
    assert added["created"] is True
    assert added["deployments_added"] == ["d-1", "d-2"]
    again = _json(
        "registrations", "add", "--url", url, *_registration_args(), "--deployment", "d-3"
    )
    assert again["created"] is False
    assert again["deployments_added"] == ["d-3"]

    listed = _json("registrations", "list", "--url", url)["registrations"]
    assert [(r["client_id"], r["deployments"]) for r in listed] == [
        ("client-1", ["d-1", "d-2", "d-3"])
    ]
    shown = _json("registrations", "show", "--url", url, *who)
    assert shown["jwks_uri"] == f"{ISSUER}/jwks"
    assert shown["token_endpoint"] is None  # the update without it cleared it
    human = _run("registrations", "list", "--url", url)
    assert human.returncode == 0
    assert "deployments: d-1, d-2, d-3" in human.stdout

    one = _json("registrations", "remove", "--url", url, *who, "--deployment", "d-2")
    assert one["deployments_removed"] == ["d-2"]
    preview = _json("registrations", "remove", "--url", url, *who, "--dry-run")
    assert preview["deployments_removed"] == ["d-1", "d-3"]
    assert _json("registrations", "show", "--url", url, *who)["deployments"] == ["d-1", "d-3"]
    gone = _json("registrations", "remove", "--url", url, *who)
    assert gone["registration_removed"] is True
    assert _json("registrations", "list", "--url", url) == {"registrations": []}
    missing = _run("registrations", "show", "--url", url, *who)
    assert missing.returncode == 4
    assert missing.stderr.startswith("error: no registration for issuer")


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (("add", "--issuer", ISSUER), 2, "registrations add needs --client-id"),
        (("show",), 2, "registrations show needs --issuer and --client-id"),
        (
            (
                "add",
                *_registration_args()[:4],
                "--auth-endpoint",
                "http://x.example/a",
                "--jwks-uri",
                f"{ISSUER}/jwks",
            ),
            2,
            "invalid registration: auth_endpoint must use https",
        ),
        (("add", *_registration_args(), "--alg", "none"), 2, "invalid registration:"),
        (("add", *_registration_args(), "--deployment", "x" * 300), 2, "invalid registration:"),
        (
            ("remove", "--issuer", ISSUER, "--client-id", "nobody", "--deployment", "d"),
            4,
            "no registration for issuer",
        ),
    ],
    ids=[
        "missing-client-id",
        "show-needs-ids",
        "http-endpoint",
        "bad-alg",
        "long-deployment",
        "remove-unknown",
    ],
)
def test_registrations_bad_input_is_one_line(
    url: str, args: tuple[str, ...], status: int, message: str
) -> None:
    result = _run("registrations", args[0], "--url", url, *args[1:])

    assert result.returncode == status
    assert result.stdout == ""
    assert result.stderr.startswith("error: " + message), result.stderr
    assert result.stderr.count("\n") == 1


# --------------------------------------------------------------------------- vault


def _seed_due(url: str, count: int) -> None:
    """*count* credentials whose scheduled deletion is long due, in one set-based INSERT."""
    import sqlalchemy as sa

    from credlti.adapters.sql import create_engine

    past = datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp()
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        statement = (
            "INSERT INTO credlti_credentials (id, name, schema, owner_id, body_ciphertext,"
            " production, scheduled_deletion, created_at, updated_at)"
            " SELECT 'cred-' || lpad(i::text, 6, '0'), 'c' || i, 'raw', 'owner',"
            " :body, false, :at, :at, :at FROM generate_series(0, :n - 1) AS i"
        )
    else:
        statement = (
            "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :n - 1)"
            " INSERT INTO credlti_credentials (id, name, schema, owner_id, body_ciphertext,"
            " production, scheduled_deletion, created_at, updated_at)"
            " SELECT printf('cred-%06d', i), 'c' || i, 'raw', 'owner', :body, 0, :at, :at, :at"
            " FROM seq"
        )
    with engine.begin() as conn:
        conn.execute(sa.text(statement), {"n": count, "at": past, "body": b"sealed"})
    engine.dispose()


def _remaining(url: str) -> int:
    import sqlalchemy as sa

    from credlti.adapters.sql import create_engine, metadata

    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(sa.func.count()).select_from(metadata.tables["credlti_credentials"])
        ).scalar_one()
    engine.dispose()
    return int(found)


PURGE_ROWS = 100_000


@pytest.mark.slow
def test_purge_interrupted_then_resumed_to_the_true_total(url: str) -> None:
    """100k due credentials: SIGINT after the first progress line stops after a batch
    (exit 130, the counts so far); a second run purges the rest; totals add up."""
    _seed_due(url, PURGE_ROWS)
    assert _json("vault", "purge", "--url", url, "--dry-run") == {
        "dry_run": True,
        "due": PURGE_ROWS,
    }

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "credlti",
            "vault",
            "purge",
            "--url",
            url,
            "--json",
            "--batch-size",
            "200",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    process.send_signal(signal.SIGINT)
    stdout, rest = process.communicate(timeout=300)

    assert first.startswith("purge: batch 1: scrubbed 200, deleted 200, kept 0"), first + rest
    assert process.returncode == 130, rest
    assert "Traceback" not in rest
    stopped = json.loads(stdout)
    assert stopped["interrupted"] is True
    assert 200 <= stopped["deleted"] < PURGE_ROWS
    assert stopped["deleted"] == 200 * stopped["batches"]
    assert _remaining(url) == PURGE_ROWS - stopped["deleted"]

    resumed = _json("vault", "purge", "--url", url, "--batch-size", "5000")
    assert resumed["interrupted"] is False
    assert stopped["deleted"] + resumed["deleted"] == PURGE_ROWS
    assert _remaining(url) == 0
    assert _json("vault", "purge", "--url", url)["deleted"] == 0


def test_purge_human_output_and_progress(url: str) -> None:
    _seed_due(url, 30)

    result = _run("vault", "purge", "--url", url, "--batch-size", "10")

    assert result.returncode == 0
    assert result.stdout == "purge done: 30 scrubbed, 30 deleted, 0 kept\n"
    assert result.stderr.startswith("purge: batch 1: scrubbed 10, deleted 10, kept 0")


def test_reencrypt_moves_every_ciphertext_to_the_new_primary_key(url: str) -> None:
    from credlti._crypto import EncryptionKey, KeyRing
    from credlti.adapters.sql import (
        SqlOAuthClientRegistry,
        SqlServiceTokenCache,
        SqlToolKeyStore,
        SqlVaultStore,
        create_engine,
    )
    from credlti.credentials import OAuthClient, Vault
    from credlti.lti.services import ServiceToken, TokenCacheKey

    old, materials = _ring_value("old")
    engine = create_engine(url)
    ring = KeyRing([EncryptionKey(id="old", material=materials["old"])])
    vault = Vault(store=SqlVaultStore(engine), keyring=ring)
    credential_ids = [
        vault.create_credential(
            {
                "name": f"c{i}",
                "schema": "raw",
                "owner_id": "o",
                "body": {"password": f"pw-{i}"},
            }
        ).id
        for i in range(5)
    ]
    vault.close()
    clients = SqlOAuthClientRegistry(engine, ring)
    clients.add(
        OAuthClient(
            id="google",
            client_id="client-1",
            client_secret="client-S3cret",
            token_endpoint="https://oauth.example.org/token",
        )
    )
    cache_key = TokenCacheKey(
        issuer="https://lms.example.edu",
        client_id="tool",
        token_url="https://lms.example.edu/token",
        scopes=frozenset({"https://purl.imsglobal.org/spec/lti-ags/scope/score"}),
        deployment_id="d1",
    )
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    SqlServiceTokenCache(engine, ring=ring).put_token(
        cache_key, ServiceToken(access_token="at-S3cret", scopes=cache_key.scopes, expires_at=soon)
    )
    engine.dispose()
    assert (
        _run("keys", "generate", "--url", url, "--key-ring-env", RING_VAR, ring=old).returncode == 0
    )
    new, _ = _ring_value("new")
    both = f"{new},{old}"

    preview = _json(
        "vault", "reencrypt", "--url", url, "--key-ring-env", RING_VAR, "--dry-run", ring=both
    )
    assert preview == {"dry_run": True, "credentials": 5}
    done = _json(
        "vault",
        "reencrypt",
        "--url",
        url,
        "--key-ring-env",
        RING_VAR,
        "--batch-size",
        "2",
        ring=both,
    )
    assert (done["credentials"], done["tool_keys"], done["batches"]) == (5, 1, 3)
    assert (done["oauth_clients"], done["service_tokens"]) == (1, 1)
    again = _json("vault", "reencrypt", "--url", url, "--key-ring-env", RING_VAR, ring=both)
    counted = ("credentials", "tool_keys", "oauth_clients", "service_tokens")
    assert [again[k] for k in counted] == [0, 0, 0, 0]
    only_new = new
    listed = _run("keys", "list", "--url", url, "--key-ring-env", RING_VAR, ring=only_new)
    assert listed.returncode == 0, listed.stderr
    engine = create_engine(url)
    new_ring = KeyRing([EncryptionKey.from_base64("new", new.partition(":")[2])])
    assert len(SqlToolKeyStore(engine, ring=new_ring).list_keys()) == 1
    # Everything sealed opens with the new key alone: the old one can go.
    client = SqlOAuthClientRegistry(engine, new_ring).get_client("google")
    assert client is not None
    assert client.client_secret == "client-S3cret"
    cached = SqlServiceTokenCache(engine, ring=new_ring).get_token(cache_key)
    assert cached is not None
    assert cached.access_token == "at-S3cret"
    assert Vault(store=SqlVaultStore(engine), keyring=new_ring).get_credential_or_raise(
        credential_ids[0]
    ).body == {"password": "pw-0"}
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "ring", "message"),
    [
        (("reencrypt",), None, "vault reencrypt needs --key-ring-env VAR"),
        (("purge", "--batch-size", "0"), None, "--batch-size must be from 1 to 10000"),
        (("reencrypt", "--key-ring-env", RING_VAR), "x:y", f"{RING_VAR}: key 'x' is not"),
    ],
    ids=["reencrypt-needs-ring", "bad-batch-size", "bad-ring"],
)
def test_vault_bad_input_is_one_line(
    url: str, args: tuple[str, ...], ring: str | None, message: str
) -> None:
    result = _run("vault", args[0], "--url", url, *args[1:], ring=ring)

    assert result.returncode == 2
    assert result.stderr.startswith("error: " + message)
    assert result.stderr.count("\n") == 1


# --------------------------------------------------------------------------- shared failures


def _closed_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


COMMANDS = [
    ("keys", "list", "--key-ring-env", RING_VAR),
    ("keys", "rotate", "--key-ring-env", RING_VAR, "--dry-run"),
    ("vault", "purge"),
    ("vault", "reencrypt", "--key-ring-env", RING_VAR),
    ("registrations", "list"),
    ("registrations", "remove", "--issuer", ISSUER, "--client-id", "c", "--dry-run"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("nosuchdialect://x", 2, "unknown database dialect or driver 'nosuchdialect'"),
        ("postgresql+pg8000://app:hunter2@127.0.0.1/app", 2, "the database driver for"),
        (
            "postgresql+psycopg://app:hunter2@127.0.0.1:{port}/app",
            1,
            "cannot connect to the database",
        ),
        ("sqlite://", 1, "the database has no credlti tables yet; run credlti db upgrade"),
    ],
    ids=["unknown-dialect", "missing-driver", "unreachable", "not-upgraded"],
)
def test_database_failures_are_one_line(
    command: tuple[str, ...], url: str, status: int, message: str
) -> None:
    ring, _ = _ring_value("k1")

    result = _run(*command, "--url", url.format(port=_closed_port()), ring=ring)

    assert result.returncode == status
    assert result.stdout == ""
    assert result.stderr.startswith("error: " + message), result.stderr
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("group", ["keys", "vault", "registrations"])
def test_missing_sql_extra_names_it(group: str) -> None:
    ring, _ = _ring_value("k1")
    action = {"keys": "list", "vault": "purge", "registrations": "list"}[group]
    args = [group, action, "--url", "sqlite://"]
    if group == "keys":
        args += ["--key-ring-env", RING_VAR]
    code = (
        "import sys; sys.modules['sqlalchemy'] = None; from credlti.cli import main; "
        f"raise SystemExit(main({args!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(ring), check=False
    )

    assert result.returncode == 2
    assert result.stderr.startswith("error: credlti.adapters.sql needs SQLAlchemy")
    assert result.stderr.count("\n") == 1


def test_json_errors_are_json(tmp_path: Path) -> None:
    result = _run("vault", "purge", "--url", "sqlite://", "--json")

    assert result.returncode == 1
    assert json.loads(result.stdout)["exit_status"] == 1


def test_main_in_a_worker_thread_runs_batches_without_signal_handlers(tmp_path: Path) -> None:
    """A host calling main() off the main thread: no signal handler, the purge still runs."""
    import io
    import threading

    from credlti.adapters.sql import create_engine, upgrade
    from credlti.cli import main

    database = f"sqlite:///{tmp_path / 'thread.db'}"
    engine = create_engine(database)
    upgrade(engine)
    engine.dispose()
    _seed_due(database, 5)
    out = io.StringIO()
    statuses: list[int] = []

    worker = threading.Thread(
        target=lambda: statuses.append(
            main(["vault", "purge", "--url", database, "--json", "--batch-size", "2"], out)
        )
    )
    worker.start()
    worker.join(60)

    assert statuses == [0]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("purge: batch 1: scrubbed 2, deleted 2, kept 0")
    assert json.loads(lines[-1])["deleted"] == 5


def _on_a_terminal(
    *args: str, pythonpath: str | None = None
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the CLI with its stderr on a pseudo-terminal; (result, what the terminal got)."""
    import pty

    env = _env()
    env["COLUMNS"] = "200"
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, env["PYTHONPATH"]])
    master, slave = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "credlti", *args],
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
    finally:
        os.close(slave)
    received = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal is closed and drained
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    return result, received.decode("utf-8", "replace")


def test_purge_draws_a_progress_bar_on_a_terminal(url: str) -> None:
    """With Rich installed (the cli extra) and stderr a terminal: a bar with the total."""
    _seed_due(url, 3000)

    result, terminal = _on_a_terminal("vault", "purge", "--url", url, "--batch-size", "500")

    assert result.returncode == 0
    assert result.stdout == "purge done: 3000 scrubbed, 3000 deleted, 0 kept\n"
    assert "3000/3000" in terminal
    assert "\u2501" in terminal  # the bar
    assert "batch 6: scrubbed 3000, deleted 3000, kept 0" in terminal
    assert "Traceback" not in terminal


def test_purge_json_with_a_bar_keeps_stdout_machine_readable(url: str) -> None:
    _seed_due(url, 30)

    result, terminal = _on_a_terminal(
        "vault", "purge", "--url", url, "--batch-size", "10", "--json"
    )

    assert result.returncode == 0
    assert json.loads(result.stdout)["deleted"] == 30
    assert "30/30" in terminal


def test_purge_without_rich_prints_the_progress_line(tmp_path: Path) -> None:
    """Rich missing: the plain progress line, even on a terminal."""
    database = f"sqlite:///{tmp_path / 'ops.db'}"
    from credlti.adapters.sql import create_engine, upgrade

    engine = create_engine(database)
    upgrade(engine)
    engine.dispose()
    _seed_due(database, 30)
    blocked = tmp_path / "no_rich"
    (blocked / "rich").mkdir(parents=True)
    (blocked / "rich" / "__init__.py").write_text("raise ImportError('rich is not installed')\n")

    result, terminal = _on_a_terminal(
        "vault", "purge", "--url", database, "--batch-size", "10", pythonpath=str(blocked)
    )

    assert result.returncode == 0
    assert "purge: batch 1: scrubbed 10, deleted 10, kept 0" in terminal
    assert "\u2501" not in terminal


# --------------------------------------------------------------------------- Redis


def test_nonces_sweep_on_redis_checks_the_server_and_sweeps_nothing(redis_url: str) -> None:
    """Redis nonce keys carry their own TTL: the sweep has nothing to delete."""
    import redis

    from credlti.adapters.redis import RedisNonceStore
    from credlti.lti import Registration

    client = redis.Redis.from_url(redis_url)
    registration = Registration(
        issuer=ISSUER,
        client_id="c",
        auth_endpoint=f"{ISSUER}/auth",
        jwks_uri=f"{ISSUER}/jwks",
    )
    now = datetime.now(timezone.utc)
    RedisNonceStore(client, prefix="credlti-cli-test:").store_nonce(
        "n-1", registration, expires_at=now + timedelta(seconds=60), now=now
    )
    keys = client.keys("credlti-cli-test:*")
    assert keys
    assert all(0 < client.pttl(key) <= 61_000 for key in keys)
    client.close()

    human = _run("nonces", "sweep", "--redis-url", redis_url)
    assert human.returncode == 0, human.stderr
    assert human.stdout == (
        "nothing to sweep: Redis expires launch nonces by itself (each key has the nonce's TTL)\n"
    )
    assert _json("nonces", "sweep", "--redis-url", redis_url) == {
        "swept": 0,
        "store": "redis",
        "expired_by_ttl": True,
    }


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("redis://:hunter2@127.0.0.1:{port}/0", 1, "Redis cannot be reached"),
        ("nosuchscheme://:hunter2@x", 2, "the Redis URL cannot be used"),
    ],
    ids=["unreachable", "bad-url"],
)
def test_nonces_sweep_redis_failures_are_one_line(url: str, status: int, message: str) -> None:
    result = _run("nonces", "sweep", "--redis-url", url.format(port=_closed_port()))

    assert result.returncode == status
    assert result.stdout == ""
    assert result.stderr.startswith("error: " + message), result.stderr
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr


REDIS_LESS = [
    ("keys", "list", "--key-ring-env", RING_VAR),
    ("vault", "purge"),
    ("vault", "reencrypt", "--key-ring-env", RING_VAR),
    ("registrations", "list"),
    ("db", "status"),
]


@pytest.mark.parametrize("command", REDIS_LESS, ids=[" ".join(c[:2]) for c in REDIS_LESS])
def test_commands_without_a_redis_store_say_so_in_one_line(command: tuple[str, ...]) -> None:
    result = _run(*command, "--redis-url", "redis://:hunter2@127.0.0.1:6379/0")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: credlti {command[0]} has no Redis store: ")
    assert result.stderr.endswith("give --url with a SQLAlchemy URL\n")
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr


def test_redis_error_is_json_with_json() -> None:
    found = _json("vault", "purge", "--redis-url", "redis://x", status=2)
    assert found["exit_status"] == 2
    assert found["error"].startswith("credlti vault has no Redis store")


def test_url_and_redis_url_are_exclusive() -> None:
    result = _run("nonces", "sweep", "--url", "sqlite://", "--redis-url", "redis://x")
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr


def test_missing_redis_extra_names_it(tmp_path: Path) -> None:
    blocked = tmp_path / "no_redis"
    (blocked / "redis").mkdir(parents=True)
    (blocked / "redis" / "__init__.py").write_text("raise ImportError('no redis')\n")
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([str(blocked), env["PYTHONPATH"]])

    result = subprocess.run(
        [sys.executable, "-m", "credlti", "nonces", "sweep", "--redis-url", "redis://x"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr == (
        "error: the Redis commands need redis-py: install the extra with"
        ' pip install "credlti[redis]"\n'
    )
