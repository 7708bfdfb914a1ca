"""The ``credlti`` command.

``credlti demo`` runs a complete LTI 1.3 launch, end to end and offline: a simulated
platform initiates a login, the tool answers with the OIDC authentication request,
the platform posts a signed launch, and the tool validates it and prints what it
parsed. Then it replays the same launch and shows the rejection.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from credlti._version import __version__
from credlti.errors import CredltiError
from credlti.lti import LaunchContext
from credlti.testing import LEARNER, BadLaunch, SimulatedPlatform

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


def demo(out: TextIO, *, as_json: bool = False) -> int:
    """Run the offline end-to-end launch demo; return the exit status."""
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

    if as_json:
        json.dump(steps, out, indent=2)
        out.write("\n")
        return 0
    out.write(f"credlti {__version__}: simulated LTI 1.3 launch (offline, in-memory storage)\n\n")
    for step in steps:
        name = step.pop("step")
        out.write(f"== {name}\n{json.dumps(step, indent=2)}\n\n")
    out.write("OK: launch accepted, replay and tampering rejected.\n")
    return 0


def db_command(out: TextIO, action: str, url: str) -> int:
    """Run ``credlti db upgrade|status --url URL``; return the exit status."""
    try:
        from credlti.adapters import sql
    except ImportError as exc:
        out.write(f"error: {exc}\n")
        return 2
    engine = sql.create_engine(url)
    try:
        before = sql.current_version(engine)
        after = before if action == "status" else sql.upgrade(engine)
    except CredltiError as exc:
        out.write(f"error: {exc}\n")
        return 1
    finally:
        engine.dispose()
    if action == "status":
        state = "up to date" if before == sql.SCHEMA_VERSION else "upgrade needed"
        out.write(f"schema version {before} of {sql.SCHEMA_VERSION} ({state})\n")
        return 0 if before == sql.SCHEMA_VERSION else 1
    out.write(f"schema upgraded from version {before} to {after}\n")
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``credlti`` command."""
    stream = out if out is not None else sys.stdout
    parser = argparse.ArgumentParser(prog="credlti", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"credlti {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="run an offline end-to-end LTI launch")
    demo_parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    db_parser = commands.add_parser("db", help="manage credlti's SQL tables")
    db_parser.add_argument("action", choices=["upgrade", "status"])
    db_parser.add_argument("--url", required=True, help="SQLAlchemy URL, e.g. sqlite:///credlti.db")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(stream, as_json=args.json)
    if args.command == "db":
        return db_command(stream, args.action, args.url)
    raise AssertionError(args.command)  # pragma: no cover - argparse rejects others


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
