"""``credlti keys generate|rotate|prune|list|jwks``: the tool's signing keys in SQL.

The keys live sealed in ``credlti_tool_keys`` (:class:`~credlti.adapters.sql.SqlToolKeyStore`);
the key ring that seals them is read from an environment variable. No command prints
private key material: ``list`` shows ids, algorithms, states and dates, ``jwks`` the
public keys only.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from credlti._cli._common import CommandError, Output, key_ring_from_env, open_engine

if TYPE_CHECKING:
    from credlti.adapters.sql import SqlToolKeyStore
    from credlti.lti.keys import KeySet, ToolKey

__all__ = ["add_parser", "keys_command"]

_ACTIONS = ("generate", "rotate", "prune", "list", "jwks")


def add_parser(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``credlti keys`` to the *commands* subparsers."""
    parser = commands.add_parser(
        "keys",
        help="manage the tool's signing keys (generate, rotate, prune, list, jwks)",
        description="The tool's signing keys, stored sealed in credlti's SQL tables. "
        "generate: add a key (the current one if there is none, else a next key published "
        "ahead of use); rotate: the oldest next key starts signing, the current one is "
        "retired and stays published for the overlap, and a new next key is added; prune: "
        "drop retired keys whose overlap ended; list: the keys (never their secrets); jwks: "
        "the public JWKS document to serve at the tool's JWKS URL.",
        epilog="The key ring that seals the keys is read from the environment variable "
        "named by --key-ring-env, as comma-separated id:base64 pairs (32-byte AES keys), "
        "the primary first, e.g. CREDLTI_KEY_RING='2026-02:BASE64,2026-01:BASE64'. "
        "Exit status: 0 done; 1 the database failed, is unreachable or needs credlti db "
        "upgrade, or the keys cannot be opened with the ring; 2 bad input, unusable URL, "
        "driver not installed or ring missing; 3 the database's schema is newer than this "
        "credlti; 4 rotate refused (no next key old enough).",
    )
    parser.add_argument("action", choices=_ACTIONS)
    common(parser)
    parser.add_argument(
        "--key-ring-env",
        required=True,
        metavar="VAR",
        help="name of the environment variable holding the key ring (never the key itself)",
    )
    parser.add_argument(
        "--alg",
        choices=["RS256", "ES256"],
        default="RS256",
        help="generate/rotate: algorithm of new keys (RS256, the LTI baseline, by default; "
        "ES256 must be explicit and is not accepted by every platform)",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=2048,
        help="generate/rotate: RSA key size in bits (2048, 3072 or 4096)",
    )
    parser.add_argument(
        "--overlap-hours",
        type=float,
        default=24.0,
        help="rotate: how long the retired key stays published (default 24)",
    )
    parser.add_argument(
        "--min-next-age-hours",
        type=float,
        default=24.0,
        help="rotate: how long the next key must have been published (default 24)",
    )
    parser.add_argument(
        "--no-new-next",
        action="store_true",
        help="rotate: do not add a new next key after rotating",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="generate/rotate/prune: show, change nothing"
    )


def _key_info(key: ToolKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state.value,
        "created_at": key.created_at.isoformat(),
        "retire_after": None if key.retire_after is None else key.retire_after.isoformat(),
        "owner": None if key.owner is None else {"issuer": key.owner[0], "client_id": key.owner[1]},
    }


def _human(keys: list[ToolKey]) -> str:
    if not keys:
        return "no keys"
    lines = []
    for key in keys:
        line = f"{key.kid}  {key.alg}  {key.state.value:<7}  created {key.created_at.isoformat()}"
        if key.retire_after is not None:
            line += f"  published until {key.retire_after.isoformat()}"
        if key.owner is not None:
            line += f"  owner {key.owner[0]} / {key.owner[1]}"
        lines.append(line)
    return "\n".join(lines)


def _generate(alg: str, size: int, now: datetime, state: Any, out: Output) -> ToolKey:
    from credlti.errors import ConfigurationError
    from credlti.lti.keys import generate_key

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            key = generate_key(now=now, alg=alg, size=size, state=state)
        except ConfigurationError as exc:
            raise CommandError(str(exc), 2) from exc
    for warning in caught:
        out.err.write(f"warning: {' '.join(str(warning.message).split())}\n")
    return key


def _write(store: SqlToolKeyStore, before: KeySet, after: KeySet) -> None:
    from credlti.lti.keys import store_differences

    to_save, to_delete = store_differences(before, after)
    for key in to_save:
        store.save_key(key)
    for kid in to_delete:
        store.delete_key(kid)


def keys_command(args: argparse.Namespace, out: Output) -> int:
    """Run ``credlti keys ACTION``; return the exit status."""
    return out.run(lambda: _keys(args, out))


def _keys(args: argparse.Namespace, out: Output) -> int:
    from credlti._clock import utc_now
    from credlti.errors import ConfigurationError, DecryptionError
    from credlti.lti.keys import KeySet, KeyState, jwks, prune, rotate

    ring = key_ring_from_env(args.key_ring_env)
    with open_engine(args.url) as engine:
        from credlti.adapters.sql import SqlToolKeyStore

        store = SqlToolKeyStore(engine, ring=ring)
        try:
            every = store.list_keys()
        except DecryptionError as exc:
            msg = f"the stored keys cannot be opened with the key ring: {exc}"
            raise CommandError(msg, 1) from exc
        if args.action == "list":
            out.result({"keys": [_key_info(k) for k in every]}, _human(every))
            return 0
        if args.action == "jwks":
            document = jwks(every)
            out.result(document, json.dumps(document, indent=2, sort_keys=True))
            return 0
        now = utc_now()
        shared = [k for k in every if k.owner is None]
        try:
            before = KeySet(shared)
        except ConfigurationError as exc:
            raise CommandError(f"the stored shared keys are inconsistent: {exc}", 1) from exc
        if args.action == "generate":
            has_current = any(k.state is KeyState.CURRENT for k in shared)
            state = KeyState.NEXT if has_current else KeyState.CURRENT
            key = _generate(args.alg, args.size, now, state, out)
            if not args.dry_run:
                store.save_key(key)
            verb = "would add" if args.dry_run else "added"
            out.result(
                {"dry_run": args.dry_run, "added": _key_info(key)},
                f"{verb} {key.state.value} key {key.kid} ({key.alg})",
            )
            return 0
        if args.action == "prune":
            after = prune(before, now=now)
            gone = [k for k in before.keys if after.get(k.kid) is None]
            if not args.dry_run:
                _write(store, before, after)
            verb = "would prune" if args.dry_run else "pruned"
            out.result(
                {"dry_run": args.dry_run, "pruned": [k.kid for k in gone]},
                f"{verb} {len(gone)} retired key{'' if len(gone) == 1 else 's'}"
                + "".join(f"\n  {k.kid}" for k in gone),
            )
            return 0
        return _rotate(args, out, store, before, now, rotate)


def _rotate(
    args: argparse.Namespace,
    out: Output,
    store: SqlToolKeyStore,
    before: KeySet,
    now: datetime,
    rotate: Callable[..., KeySet],
) -> int:
    from credlti.errors import ConfigurationError
    from credlti.lti.keys import KeyState

    if args.overlap_hours < 0 or args.min_next_age_hours < 0:
        raise CommandError("--overlap-hours and --min-next-age-hours must not be negative", 2)
    new_next = None if args.no_new_next else _generate(args.alg, args.size, now, KeyState.NEXT, out)
    try:
        after = rotate(
            before,
            now=now,
            overlap=timedelta(hours=args.overlap_hours),
            min_next_age=timedelta(hours=args.min_next_age_hours),
            new_next=new_next,
        )
    except ConfigurationError as exc:
        raise CommandError(str(exc), 4) from exc
    if not args.dry_run:
        _write(store, before, after)
    current = after.current
    old_current = [k.kid for k in before.keys if k.state is KeyState.CURRENT]
    retired = [k.kid for k in after.retired_keys if k.kid in old_current]
    data = {
        "dry_run": args.dry_run,
        "current": current.kid,
        "retired": retired,
        "next": [k.kid for k in after.next_keys],
        "pruned": [k.kid for k in before.keys if after.get(k.kid) is None],
    }
    verb = "would rotate" if args.dry_run else "rotated"
    human = f"{verb}: {current.kid} now signs"
    if retired:
        human += f"; {retired[0]} retired, published for {args.overlap_hours:g} h"
    if data["next"]:
        human += f"; next key {', '.join(data['next'])}"
    out.result(data, human)
    return 0
