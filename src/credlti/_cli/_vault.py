"""``credlti vault purge|reencrypt``: batch maintenance of the credentials vault in SQL.

Both run batch by batch, each batch committed on its own, with a progress line on
standard error. Ctrl-C (SIGINT) stops after the current batch with exit status 130
and the counts so far; running the command again continues where it stopped (a
purged credential is no longer due; a re-encrypted one no longer needs it).
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from credlti._cli._common import (
    EXIT_INTERRUPTED,
    CommandError,
    Interrupt,
    Output,
    key_ring_from_env,
    open_engine,
    progress_display,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from credlti._crypto import KeyRing
    from credlti.credentials import Vault

__all__ = ["add_parser", "vault_command"]

_MAX_BATCH = 10_000


def add_parser(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``credlti vault`` to the *commands* subparsers."""
    parser = commands.add_parser(
        "vault",
        help="purge due deletions or re-encrypt the credentials vault",
        description="purge: delete (or scrub, while runs still refer to them) the "
        "credentials whose scheduled deletion is due, with true counts. reencrypt: after "
        "putting a new key first in the key ring, rewrite every ciphertext (credential "
        "bodies, OAuth tokens, the tool's signing keys) under it; the old key can then be "
        "removed from the ring. Both work in committed batches with progress on stderr; "
        "Ctrl-C stops after the current batch (exit 130) and a new run continues.",
        epilog="The key ring is read from the environment variable named by "
        "--key-ring-env (comma-separated id:base64 pairs, primary first); reencrypt needs "
        "it, purge does not (it never decrypts). Exit status: 0 done; 1 the database "
        "failed, is unreachable or needs credlti db upgrade; 2 bad input, unusable URL or "
        "driver not installed; 3 the database's schema is newer than this credlti; 130 "
        "interrupted (the counts so far are printed).",
    )
    parser.add_argument("action", choices=["purge", "reencrypt"])
    common(parser)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=2000,
        help=f"rows per committed batch, 1 to {_MAX_BATCH} (default 2000)",
    )
    parser.add_argument(
        "--key-ring-env",
        metavar="VAR",
        help="name of the environment variable holding the key ring (reencrypt)",
    )
    parser.add_argument("--dry-run", action="store_true", help="count what is due, change nothing")
    parser.add_argument(
        "--no-progress", action="store_true", help="do not print the progress line on stderr"
    )


def vault_command(args: argparse.Namespace, out: Output) -> int:
    """Run ``credlti vault ACTION``; return the exit status."""
    return out.run(lambda: _vault(args, out))


def _vault(args: argparse.Namespace, out: Output) -> int:
    if not 0 < args.batch_size <= _MAX_BATCH:
        raise CommandError(f"--batch-size must be from 1 to {_MAX_BATCH}", 2)
    if args.action == "reencrypt":
        if not args.key_ring_env:
            raise CommandError("vault reencrypt needs --key-ring-env VAR (the new key first)", 2)
        ring = key_ring_from_env(args.key_ring_env)
    else:
        ring = _throwaway_ring() if not args.key_ring_env else key_ring_from_env(args.key_ring_env)
    with open_engine(args.url) as engine:
        vault = _vault_on(engine, ring)
        try:
            if args.dry_run:
                return _dry_run(args, out, engine, ring)
            if args.action == "purge":
                return _drive(
                    out,
                    "purge",
                    vault.purge_deleted_batches(batch_size=args.batch_size),
                    ("scrubbed", "deleted", "kept"),
                    show=not args.no_progress,
                    total=lambda: _count(engine, due=True),
                    done=lambda counts: counts["deleted"] + counts["kept"],
                )
            return _reencrypt(args, out, engine, ring, vault)
        finally:
            vault.close()


def _throwaway_ring() -> KeyRing:
    # The purge scrubs and deletes rows without opening a ciphertext; a Vault needs a
    # ring all the same, so an unused random one stands in when none is given.
    from credlti._crypto import EncryptionKey, KeyRing

    return KeyRing([EncryptionKey(id="unused", material=secrets.token_bytes(32))])


def _vault_on(engine: Engine, ring: KeyRing) -> Vault:
    from credlti.adapters.sql import SqlAuditSink, SqlStepActivity, SqlVaultStore
    from credlti.credentials import Vault

    return Vault(
        store=SqlVaultStore(engine),
        keyring=ring,
        audit=SqlAuditSink(engine),
        activity=SqlStepActivity(engine),
    )


def _counts(result: Any, fields: tuple[str, ...]) -> dict[str, int]:
    return {name: int(getattr(result, name)) for name in fields}


def _drive(
    out: Output,
    label: str,
    batches: Iterator[Any],
    fields: tuple[str, ...],
    *,
    show: bool,
    total: Callable[[], int],
    done: Callable[[dict[str, int]], int],
    extra: dict[str, int] | None = None,
) -> int:
    """Consume *batches* (running totals), showing progress; stop cleanly on SIGINT.

    *total* counts the rows the run will handle (asked only for a progress bar) and
    *done* those handled, from the running totals.
    """
    counts = dict.fromkeys(fields, 0)
    progress = progress_display(out.err, label, total) if show else None
    batch = 0
    interrupted = False
    with Interrupt() as interrupt:
        try:
            for running in batches:
                counts = _counts(running, fields)
                batch += 1
                if progress is not None:
                    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
                    progress.update(f"batch {batch}: {summary}", done=done(counts))
                if interrupt.requested:
                    interrupted = True
                    break
        finally:
            if isinstance(batches, Generator):
                batches.close()  # ends the flow between batches; nothing is half done
            if progress is not None:
                progress.close()
        interrupted = interrupted or interrupt.requested
    data: dict[str, Any] = {**counts, **(extra or {}), "batches": batch}
    data["interrupted"] = interrupted
    summary = ", ".join(f"{v} {k}" for k, v in {**counts, **(extra or {})}.items())
    if interrupted:
        out.result(
            data, f"{label} interrupted after {batch} batches: {summary}; run it again to continue"
        )
        return EXIT_INTERRUPTED
    out.result(data, f"{label} done: {summary}")
    return 0


def _reencrypt(
    args: argparse.Namespace, out: Output, engine: Engine, ring: KeyRing, vault: Vault
) -> int:
    from credlti.adapters.sql import (
        SqlOAuthClientRegistry,
        SqlServiceTokenCache,
        SqlToolKeyStore,
    )

    # Everything else sealed with the ring: signing keys, OAuth client secrets and the
    # cached Advantage tokens, so the old key can go once every count is zero.
    extra = {
        "tool_keys": SqlToolKeyStore(engine, ring=ring).reencrypt(),
        "oauth_clients": SqlOAuthClientRegistry(engine, ring).reencrypt(),
        "service_tokens": SqlServiceTokenCache(engine, ring=ring).reencrypt(),
    }
    return _drive(
        out,
        "reencrypt",
        vault.reencrypt_batches(batch_size=args.batch_size),
        ("credentials", "tokens"),
        show=not args.no_progress,
        total=lambda: _count(engine, due=False),
        done=lambda counts: counts["credentials"],
        extra=extra,
    )


def _count(engine: Engine, *, due: bool) -> int:
    """Credential rows in the database (*due*: only those whose deletion is due now)."""
    import sqlalchemy as sa

    from credlti._clock import utc_now
    from credlti.adapters.sql import metadata

    table = metadata.tables["credlti_credentials"]
    query = sa.select(sa.func.count()).select_from(table)
    if due:
        query = query.where(table.c.scheduled_deletion <= utc_now().timestamp())
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _dry_run(args: argparse.Namespace, out: Output, engine: Engine, ring: KeyRing) -> int:
    """Count what a run would touch (credential rows; read-only)."""
    from credlti.adapters.sql import SqlVaultStore

    if args.action == "purge":
        count = _count(engine, due=True)  # one indexed count
    else:
        store = SqlVaultStore(engine)
        after: str | None = None
        count = 0
        while rows := store.scan_credentials(after_id=after, limit=args.batch_size):
            after = rows[-1].id
            count += sum(
                1
                for row in rows
                if row.body_ciphertext is not None
                and ring.key_id_of(row.body_ciphertext) != ring.primary_id
            )
    if args.action == "purge":
        out.result({"dry_run": True, "due": count}, f"would purge {count} due credentials")
    else:
        out.result(
            {"dry_run": True, "credentials": count},
            f"would re-encrypt {count} credential bodies (OAuth tokens and tool keys "
            "are not counted in a dry run)",
        )
    return 0
