"""``credlti registrations list|show|add|remove``: platform registrations in SQL.

Registrations and their deployments as :class:`~credlti.adapters.sql.SqlLaunchStorage`
keeps them. ``add`` validates every field the way :class:`~credlti.lti.Registration`
does (https URLs, identifiers, algorithms) and reports the first problem in one line.
Nothing secret is stored in a registration, and nothing secret is printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from credlti._cli._common import CommandError, Output, open_engine

if TYPE_CHECKING:
    from credlti.adapters.sql import SqlLaunchStorage
    from credlti.lti import Deployment, Registration

__all__ = ["add_parser", "registrations_command"]

#: Exit status when the registration or deployment named does not exist.
EXIT_NOT_FOUND = 4


def add_parser(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``credlti registrations`` to the *commands* subparsers."""
    parser = commands.add_parser(
        "registrations",
        help="list, show, add or remove platform registrations and their deployments",
        description="The platforms this tool is registered with, and their deployments. "
        "add creates a registration (or updates the one with the same issuer and client "
        "id) and adds the --deployment ids given; remove deletes a registration with its "
        "deployments, or only the --deployment ids given. Nothing is asked: use --dry-run "
        "to see what would change.",
        epilog="Exit status: 0 done; 1 the database failed, is unreachable or needs "
        "credlti db upgrade; 2 bad input, unusable URL or driver not installed; 3 the "
        "database's schema is newer than this credlti; 4 no such registration or "
        "deployment.",
    )
    parser.add_argument("action", choices=["list", "show", "add", "remove"])
    common(parser)
    parser.add_argument("--issuer", help="the platform's issuer (show, add, remove)")
    parser.add_argument("--client-id", help="the client id the platform gave the tool")
    parser.add_argument("--auth-endpoint", help="add: the platform's OIDC authorization URL")
    parser.add_argument("--jwks-uri", help="add: the platform's key-set URL")
    parser.add_argument("--token-endpoint", help="add: the platform's OAuth2 token URL")
    parser.add_argument(
        "--authorization-server", help="add: the client-assertion audience, if not the token URL"
    )
    parser.add_argument(
        "--alg",
        action="append",
        dest="algorithms",
        metavar="ALG",
        help="add: an accepted launch algorithm (repeatable; default RS256)",
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        metavar="URL",
        help="add: an allowed launch redirect URI (repeatable)",
    )
    parser.add_argument(
        "--allow-anonymous", action="store_true", help="add: accept launches without a subject"
    )
    parser.add_argument(
        "--deployment",
        action="append",
        dest="deployments",
        metavar="ID",
        help="add: a deployment id to add; remove: a deployment id to remove (repeatable)",
    )
    parser.add_argument("--dry-run", action="store_true", help="add/remove: change nothing")


def _info(registration: Registration, deployments: list[Deployment]) -> dict[str, Any]:
    return {
        "issuer": registration.issuer,
        "client_id": registration.client_id,
        "auth_endpoint": registration.auth_endpoint,
        "jwks_uri": registration.jwks_uri,
        "token_endpoint": registration.token_endpoint,
        "authorization_server": registration.authorization_server,
        "allowed_algorithms": list(registration.allowed_algorithms),
        "allow_anonymous": registration.allow_anonymous,
        "redirect_uris": list(registration.redirect_uris),
        "deployments": [d.deployment_id for d in deployments],
    }


def _human(info: dict[str, Any]) -> str:
    lines = [f"{info['issuer']}  client {info['client_id']}"]
    names = ("auth_endpoint", "jwks_uri", "token_endpoint", "authorization_server")
    lines.extend(f"  {name}: {info[name]}" for name in names if info[name] is not None)
    lines.append(f"  allowed_algorithms: {', '.join(info['allowed_algorithms'])}")
    if info["allow_anonymous"]:
        lines.append("  allow_anonymous: yes")
    if info["redirect_uris"]:
        lines.append(f"  redirect_uris: {', '.join(info['redirect_uris'])}")
    deployments = info["deployments"]
    lines.append(f"  deployments: {', '.join(deployments) if deployments else '(none)'}")
    return "\n".join(lines)


def registrations_command(args: argparse.Namespace, out: Output) -> int:
    """Run ``credlti registrations ACTION``; return the exit status."""
    return out.run(lambda: _registrations(args, out))


def _need(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if not getattr(args, n)]
    if missing:
        raise CommandError(f"registrations {args.action} needs {' and '.join(missing)}", 2)


def _find(
    storage: SqlLaunchStorage, issuer: str, client_id: str
) -> tuple[Registration, list[Deployment]] | None:
    for registration, deployments in storage.list_registrations():
        if registration.issuer == issuer and registration.client_id == client_id:
            return registration, deployments
    return None


def _registrations(args: argparse.Namespace, out: Output) -> int:
    if args.action != "list":
        _need(args, "issuer", "client_id")
    if args.action == "add":
        _need(args, "auth_endpoint", "jwks_uri")
    new = _validated(args) if args.action == "add" else None
    with open_engine(args.url) as engine:
        from credlti.adapters.sql import SqlLaunchStorage

        storage = SqlLaunchStorage(engine)
        if args.action == "list":
            found = [_info(r, d) for r, d in storage.list_registrations()]
            human = "\n".join(_human(i) for i in found) if found else "no registrations"
            out.result({"registrations": found}, human)
            return 0
        existing = _find(storage, args.issuer, args.client_id)
        if new is not None:
            return _add(args, out, storage, new, existing)
        if existing is None:
            msg = f"no registration for issuer {args.issuer!r} and client id {args.client_id!r}"
            raise CommandError(msg, EXIT_NOT_FOUND)
        info = _info(*existing)
        if args.action == "show":
            out.result(info, _human(info))
            return 0
        return _remove(args, out, storage, existing[0], info)


def _validated(args: argparse.Namespace) -> Registration:
    from credlti.adapters._ids import ISSUER_MAX_LENGTH, check_ids
    from credlti.errors import CredltiError
    from credlti.lti import Deployment, Registration

    try:
        registration = Registration(
            issuer=args.issuer,
            client_id=args.client_id,
            auth_endpoint=args.auth_endpoint,
            jwks_uri=args.jwks_uri,
            token_endpoint=args.token_endpoint,
            authorization_server=args.authorization_server,
            allowed_algorithms=tuple(args.algorithms or ("RS256",)),
            allow_anonymous=args.allow_anonymous,
            redirect_uris=tuple(args.redirect_uris or ()),
        )
        check_ids("the registration", max_length=ISSUER_MAX_LENGTH, issuer=registration.issuer)
        check_ids("the registration", client_id=registration.client_id)
        for deployment_id in args.deployments or ():
            Deployment(deployment_id=deployment_id)
            check_ids("a deployment", deployment_id=deployment_id)
    except (CredltiError, TypeError, ValueError) as exc:
        raise CommandError(f"invalid registration: {exc}", 2) from exc
    return registration


def _add(
    args: argparse.Namespace,
    out: Output,
    storage: SqlLaunchStorage,
    registration: Registration,
    existing: tuple[Registration, list[Deployment]] | None,
) -> int:
    from credlti.lti import Deployment

    known = {d.deployment_id for d in existing[1]} if existing is not None else set()
    wanted = list(dict.fromkeys(args.deployments or ()))
    added = [d for d in wanted if d not in known]
    if not args.dry_run:
        storage.add_registration(registration)
        for deployment_id in added:
            storage.add_deployment(registration, Deployment(deployment_id=deployment_id))
    verb = (
        ("would update" if args.dry_run else "updated")
        if existing
        else ("would add" if args.dry_run else "added")
    )
    info = _info(registration, [Deployment(deployment_id=d) for d in sorted(known | set(added))])
    data = {
        "dry_run": args.dry_run,
        "created": existing is None,
        "deployments_added": added,
        "registration": info,
    }
    human = f"{verb} registration {registration.issuer} / {registration.client_id}"
    if added:
        human += f"; deployments added: {', '.join(added)}"
    out.result(data, human)
    return 0


def _remove(
    args: argparse.Namespace,
    out: Output,
    storage: SqlLaunchStorage,
    registration: Registration,
    info: dict[str, Any],
) -> int:
    if args.deployments:
        unknown = [d for d in args.deployments if d not in info["deployments"]]
        if unknown:
            msg = f"no deployment {unknown[0]!r} under {args.issuer!r} / {args.client_id!r}"
            raise CommandError(msg, EXIT_NOT_FOUND)
        gone = list(dict.fromkeys(args.deployments))
        if not args.dry_run:
            for deployment_id in gone:
                storage.remove_deployment(registration, deployment_id)
        verb = "would remove" if args.dry_run else "removed"
        out.result(
            {"dry_run": args.dry_run, "registration_removed": False, "deployments_removed": gone},
            f"{verb} deployments {', '.join(gone)} of {args.issuer} / {args.client_id}",
        )
        return 0
    if not args.dry_run:
        storage.remove_registration(args.issuer, args.client_id)
    verb = "would remove" if args.dry_run else "removed"
    out.result(
        {
            "dry_run": args.dry_run,
            "registration_removed": True,
            "deployments_removed": info["deployments"],
        },
        f"{verb} registration {args.issuer} / {args.client_id} and "
        f"{len(info['deployments'])} deployments",
    )
    return 0
