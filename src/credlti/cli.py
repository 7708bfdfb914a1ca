"""The ``credlti`` command.

``credlti demo`` runs both capabilities end to end and offline. First a complete LTI
1.3 launch: a simulated platform initiates a login, the tool answers with the OIDC
authentication request, the platform posts a signed launch, and the tool validates it
and prints what it parsed; a replay and a tampered token are rejected. Then the
credentials vault: a credential is stored encrypted, scrubbed from a log line,
transferred to another user and purged, with its audit trail.

``credlti db upgrade|status --url URL`` manages the SQL adapter's tables;
``credlti nonces sweep --url URL`` deletes the expired launch nonces now (with
``--redis-url`` it only checks the server: Redis expires nonces by their TTL). The operator
commands ``credlti keys``, ``credlti vault`` and ``credlti registrations`` live in
``credlti._cli`` (one module per command group); ``docs/operations.md`` is their guide.
``credlti platform serve`` runs a local LMS to develop a tool against.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from credlti._cli import _keys, _platform, _registrations, _vault
from credlti._cli._common import CommandError as _DbCommandError
from credlti._cli._common import Output, no_redis_store, open_engine, open_redis
from credlti._version import __version__
from credlti.adapters.memory import (
    MemoryAuditSink,
    MemoryNotifier,
    MemoryUserDirectory,
    MemoryVaultStore,
)
from credlti.credentials import EncryptionKey, KeyRing, Vault, VaultConfig, VaultUser
from credlti.errors import CredltiError
from credlti.lti import LaunchContext
from credlti.testing import LEARNER, BadLaunch, FrozenClock, SimulatedPlatform

__all__ = ["main"]

_LAUNCH_URL = "https://tool.example.com/launch"


def _launch_summary(launch: LaunchContext[Any, Any]) -> dict[str, Any]:
    claims = launch.claims
    roles = claims.roles
    return {
        "launch_id": launch.launch_id,
        "message_type": claims.message_type,
        "issuer": claims.issuer,
        "deployment_id": claims.deployment_id,
        "user": {"sub": claims.subject, "name": claims.name, "email": claims.email},
        "roles": {
            "recognized": [r.canonical_uri for r in roles],
            "unrecognized": list(roles.unrecognized),
            "is_instructor": roles.is_instructor,
            "is_learner": roles.is_learner,
        },
        "context": None
        if claims.context is None
        else {
            "id": claims.context.id,
            "label": claims.context.label,
            "title": claims.context.title,
        },
        "resource_link": None if claims.resource_link is None else claims.resource_link.id,
        "redirect_to": claims.target_link_uri,
    }


def _vault_demo(steps: list[dict[str, Any]]) -> None:
    """Store, share, scrub, transfer and purge a credential on in-memory adapters."""
    clock = FrozenClock()
    directory = MemoryUserDirectory()
    alice = directory.add_user(VaultUser(id="alice", email="alice@example.org"), projects=["etl"])
    directory.add_user(VaultUser(id="bob", email="bob@example.org"), projects=["etl"])
    store, audit = MemoryVaultStore(), MemoryAuditSink()
    vault = Vault(
        store=store,
        keyring=KeyRing([EncryptionKey(id="demo-key", material=secrets.token_bytes(32))]),
        directory=directory,
        notifier=MemoryNotifier(),
        audit=audit,
        clock=clock,
        config=VaultConfig(purge_deleted_after_days=7),
    )
    password = "correct-horse-battery-staple"
    credential = vault.create_credential(
        {
            "name": "warehouse",
            "schema": "postgresql",
            "owner_id": "alice",
            "body": {
                "host": "db.internal",
                "port": "5432",
                "database": "dw",
                "user": "etl",
                "password": password,
            },
            "project_ids": ["etl"],
        }
    )
    with store.transaction() as tx:
        row = tx.credentials.get(credential.id)
    ciphertext = b"" if row is None or row.body_ciphertext is None else row.body_ciphertext
    steps.append(
        {
            "step": "vault_create",
            "schema": credential.schema,
            "port_coerced_to": (credential.body or {}).get("port"),
            "shared_with": sorted(credential.project_ids),
            "stored_bytes": len(ciphertext),
            "secret_in_storage": password.encode() in ciphertext,
        }
    )
    log_line = f"connecting to db.internal as etl with {password}"
    steps.append({"step": "vault_scrub", "log": vault.scrubber_for(credential).scrub(log_line)})
    form = vault.validate_credential_transfer(
        vault.transfer_form("bob@example.org"), alice, credential
    )
    if form.receiver is None:  # pragma: no cover - bob exists and shares the project
        raise AssertionError(form)
    pending = vault.initiate_credential_transfer(alice, form.receiver, credential)
    credential = vault.confirm_transfer(credential.id, "bob", "alice", pending.token)
    steps.append({"step": "vault_transfer", "owner": credential.owner_id})
    vault.schedule_credential_deletion(credential, actor_id="bob")
    clock.advance(8 * 24 * 3600)
    purged = vault.purge_deleted()
    steps.append(
        {
            "step": "vault_purge",
            "deleted": purged.deleted,
            "audit": [event.action.value for event in audit.events_for(credential.id)],
        }
    )


def demo(out: TextIO, *, as_json: bool = False) -> int:
    """Run the offline end-to-end launch and vault demo; return the exit status."""
    platform = SimulatedPlatform()
    steps: list[dict[str, Any]] = []

    with platform.tool() as tool:
        # 1. The platform starts a third-party login (Sec §5.1.1.1).
        params = platform.login_params(target_link_uri=_LAUNCH_URL)
        redirect = tool.handle_login(params, _LAUNCH_URL)
        steps.append({"step": "login", "redirect_to": redirect.url.split("?")[0]})

        # 2. The platform answers the authentication request with a signed launch.
        form = platform.launch(redirect, roles=[LEARNER, "http://example.com/role#Custom"])
        launch = tool.handle_callback(form, redirect.cookie_value)
        steps.append({"step": "launch", "accepted": True, "launch": _launch_summary(launch)})

        # 3. A replay of the same launch is refused (the nonce is single-use).
        try:
            tool.handle_callback(form, redirect.cookie_value)
        except CredltiError as exc:
            steps.append({"step": "replay", "accepted": False, "error": exc.code})

        # 4. A tampered launch is refused too.
        redirect = tool.handle_login(platform.login_params(), _LAUNCH_URL)
        try:
            tool.handle_callback(
                platform.bad_launch(redirect, BadLaunch.TAMPERED), redirect.cookie_value
            )
        except CredltiError as exc:
            steps.append({"step": "tampered", "accepted": False, "error": exc.code})
        steps.append({"step": "key_set_fetches", "count": tool.key_set_fetches})

    _vault_demo(steps)

    if as_json:
        json.dump(steps, out, indent=2)
        out.write("\n")
        return 0
    out.write(
        f"credlti {__version__}: a simulated LTI 1.3 launch, then the credentials vault "
        "(offline, in-memory storage)\n\n"
    )
    for step in steps:
        name = step.pop("step")
        out.write(f"== {name}\n{json.dumps(step, indent=2)}\n\n")
    out.write(
        "OK: launch accepted, replay and tampering rejected; credential stored encrypted, "
        "scrubbed from logs, transferred and purged.\n"
    )
    return 0


def db_command(out: TextIO, action: str, url: str, *, err: TextIO | None = None) -> int:
    """Run ``credlti db upgrade|status --url URL``; return the exit status.

    Exit statuses: 0 done (``status``: up to date); 1 ``status``: an upgrade is
    pending, or the database cannot be reached or failed; 2 the URL is unusable (not
    a URL, an unknown dialect, a driver or SQLAlchemy not installed); 3 the database's
    schema is newer than this credlti. Every error is one line on *err* (default
    *out*), never a traceback.
    """
    errors = out if err is None else err
    try:
        status = _db_command(out, action, url)
    except _DbCommandError as exc:
        message = " ".join(str(exc).split())
        errors.write(f"error: {message}\n")
        return exc.status
    return status


def _db_command(out: TextIO, action: str, url: str) -> int:
    # open_engine reports a missing SQL extra in one line; the imports follow it.
    with open_engine(url, need_schema=False) as engine:
        from credlti.adapters import sql
        from credlti.adapters.sql._migrations import MIGRATIONS, apply_migrations, too_new_error

        if action == "status":
            version = sql.current_version(engine)
        else:
            before, after = apply_migrations(engine, MIGRATIONS)
    if action == "status":
        if version > sql.SCHEMA_VERSION:
            raise _DbCommandError(str(too_new_error(version, sql.SCHEMA_VERSION)), 3)
        state = "up to date" if version == sql.SCHEMA_VERSION else "upgrade needed"
        out.write(f"schema version {version} of {sql.SCHEMA_VERSION} ({state})\n")
        return 0 if version == sql.SCHEMA_VERSION else 1
    if after == before:
        out.write(f"schema already at version {after}; nothing to do\n")
    else:
        out.write(f"schema upgraded from version {before} to {after}\n")
    return 0


def nonces_command(
    out: TextIO,
    url: str | None,
    *,
    as_json: bool = False,
    err: TextIO | None = None,
    redis_url: str | None = None,
) -> int:
    """Run ``credlti nonces sweep --url URL`` (or ``--redis-url URL``); return the exit status.

    SQL: deletes every launch nonce (used or not) that expired before the current
    time. Redis: every nonce key carries its own TTL, so Redis removes expired ones
    by itself; the command checks the server answers and sweeps nothing. Exit
    statuses as ``credlti db``: 0 done; 1 the database cannot be reached, failed or
    needs ``credlti db upgrade``; 2 the URL is unusable; 3 the database's schema is
    newer than this credlti. Every error is one line on *err* (default *out*).
    """
    errors = out if err is None else err
    try:
        if redis_url is not None:
            with open_redis(redis_url):
                pass
            swept = None
        else:
            assert url is not None  # noqa: S101 - argparse requires --url or --redis-url
            swept = _sweep_nonces(url)
    except _DbCommandError as exc:
        message = " ".join(str(exc).split())
        if as_json:
            json.dump({"error": message, "exit_status": exc.status}, out)
            out.write("\n")
        else:
            errors.write(f"error: {message}\n")
        return exc.status
    if swept is None:
        note = "Redis expires launch nonces by itself (each key has the nonce's TTL)"
        if as_json:
            json.dump({"swept": 0, "store": "redis", "expired_by_ttl": True}, out)
            out.write("\n")
        else:
            out.write(f"nothing to sweep: {note}\n")
        return 0
    if as_json:
        json.dump({"swept": swept}, out)
        out.write("\n")
    else:
        out.write(f"swept {swept} expired nonce{'' if swept == 1 else 's'}\n")
    return 0


def _sweep_nonces(url: str) -> int:
    from credlti._clock import utc_now

    # open_engine reports a missing SQL extra in one line; the imports follow it.
    with open_engine(url, need_schema=False) as engine:
        from credlti.adapters import sql
        from credlti.adapters.sql._migrations import too_new_error

        version = sql.current_version(engine)
        if 1 <= version <= sql.SCHEMA_VERSION:
            return sql.SqlLaunchStorage(engine).sweep_nonces(utc_now())
    if version > sql.SCHEMA_VERSION:
        raise _DbCommandError(str(too_new_error(version, sql.SCHEMA_VERSION)), 3)
    msg = "the database has no credlti tables yet; run credlti db upgrade --url ..."
    raise _DbCommandError(msg, 1)


def _store_options(parser: argparse.ArgumentParser) -> None:
    _targets(parser, redis="not for this command: its data lives in SQL only (a one-line error)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _targets(parser: argparse.ArgumentParser, *, redis: str) -> None:
    """``--url`` or ``--redis-url`` (exactly one); *redis* is what the latter does here."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="SQLAlchemy URL, e.g. sqlite:///credlti.db (never printed)")
    target.add_argument(
        "--redis-url", metavar="URL", help=f"Redis URL, e.g. redis://localhost:6379/0: {redis}"
    )


#: What each command group keeps, for its error when given ``--redis-url``.
_SQL_ONLY = {
    "keys": "the tool's signing keys",
    "vault": "vault credentials",
    "registrations": "platform registrations and deployments",
    "db": "credlti's schema versions",
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``credlti`` command."""
    stream = out if out is not None else sys.stdout
    parser = argparse.ArgumentParser(prog="credlti", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"credlti {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="run an offline end-to-end LTI launch")
    demo_parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    db_parser = commands.add_parser(
        "db",
        help="manage credlti's SQL tables",
        description="Show (status) or bring up to date (upgrade) the schema of credlti's tables.",
        epilog="exit status: 0 done or up to date; 1 upgrade pending, or the database "
        "failed or is unreachable; 2 unusable URL or driver not installed; 3 the "
        "database's schema is newer than this credlti",
    )
    db_parser.add_argument("action", choices=["upgrade", "status"])
    _targets(db_parser, redis="not for this command: Redis has no schema (a one-line error)")
    nonces_parser = commands.add_parser(
        "nonces",
        help="sweep expired launch nonces (SQL; on Redis they expire by themselves)",
        description="Delete every launch nonce that expired before now (used or not). "
        "The SQL adapter also does this by itself, a bounded batch now and then.",
        epilog="exit status: 0 done; 1 the database failed, is unreachable or needs "
        "credlti db upgrade; 2 unusable URL or driver not installed; 3 the database's "
        "schema is newer than this credlti",
    )
    nonces_parser.add_argument("action", choices=["sweep"])
    _targets(
        nonces_parser,
        redis="Redis expires nonces by itself (TTL): checks the server, sweeps nothing",
    )
    nonces_parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    for group in (_keys, _vault, _registrations):
        group.add_parser(commands, _store_options)
    _platform.add_parser(commands)
    args = parser.parse_args(argv)
    errors = stream if out is not None else sys.stderr
    operators = {
        "keys": _keys.keys_command,
        "vault": _vault.vault_command,
        "registrations": _registrations.registrations_command,
    }
    if args.command in _SQL_ONLY and args.redis_url is not None:
        failure = no_redis_store(args.command, _SQL_ONLY[args.command])
        return Output(stream, errors, as_json=getattr(args, "json", False)).fail(failure)
    if args.command == "platform":
        return _platform.platform_command(args, stream, errors)
    if args.command in operators:
        return operators[args.command](args, Output(stream, errors, as_json=args.json))
    if args.command == "nonces":
        return nonces_command(
            stream,
            args.url,
            as_json=args.json,
            err=stream if out is not None else sys.stderr,
            redis_url=args.redis_url,
        )
    if args.command == "demo":
        return demo(stream, as_json=args.json)
    if args.command == "db":
        return db_command(
            stream, args.action, args.url, err=stream if out is not None else sys.stderr
        )
    raise AssertionError(args.command)  # pragma: no cover - argparse rejects others


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
