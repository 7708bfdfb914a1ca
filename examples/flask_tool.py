"""A complete LTI 1.3 tool on Flask, built with :mod:`credlti.contrib.flask`.

The blueprint serves the LTI routes (``/login``, ``/launch``, ``/launch/finish``,
``/deep-link``, ``/jwks.json``, ``/register``); this file adds what the tool
itself does:

- the launch page (``on_launch``): who launched, from which course, and
  - for a deep-linking request, a picker whose choice goes back to the platform
    (``select_items``);
  - with the grades service, a form posting a score (``POST /grade``, a route of
    this app that reopens the launch with ``open_launch``).

Run it:

- ``python examples/flask_tool.py --demo`` runs one launch against a simulated
  platform (no LMS, no network) and prints the page;
- ``python examples/flask_tool.py --port 8001`` serves it on
  http://127.0.0.1:8001: register it with an LMS by dynamic registration
  (``http://127.0.0.1:8001/register``), or pass ``--platform-url`` (with
  ``--client-id`` and ``--deployment-id``) for a platform that registered it by
  its URLs. Plain http works on loopback hosts only; use https anywhere else.

For several workers, build the ``Tool`` with shared storage, a shared launch-session
store (``SqlLaunchSessionStore`` or ``RedisLaunchSessionStore``) and one
``state_secret``.
"""

from __future__ import annotations

import argparse
import html
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, request, url_for

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.contrib.flask import OpenedLaunch, lti_blueprint, open_launch
from credlti.lti import DEEP_LINKING_REQUEST, Deployment, Registration, Tool, utc_now
from credlti.lti.deep_linking import LtiResourceLink
from credlti.lti.keys import KeySet, KeyState, generate_key
from credlti.lti.registration import DynamicRegistration, ToolMessage, ToolSettings
from credlti.lti.services import SCOPE_LINEITEM, SCOPE_SCORE, Score

TITLE = "credlti Flask example"


def render_launch(opened: OpenedLaunch, *, grade_url: str) -> str:
    """The tool's page: who launched, from which course; a picker or a grade form."""
    claims = opened.launch.claims
    roles = claims.roles
    role_names = [
        f"{r.kind.value}:{r.name}" + (f"#{r.sub_role}" if r.sub_role else "") for r in roles
    ]
    course = (claims.context.title or claims.context.id) if claims.context else "(no course)"
    rows = {
        "User": f"{claims.name or '(anonymous)'} ({claims.subject or 'no sub'})",
        "Roles": ", ".join(role_names) or "(none)",
        "Instructor": "yes" if roles.is_instructor else "no",
        "Course": course,
        "Message": claims.message_type,
        "Deployment": claims.deployment_id,
    }
    items = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows.items()
    )
    action = ""
    if claims.message_type == DEEP_LINKING_REQUEST.name:
        action = (
            f'<form method="post" action="{html.escape(opened.deep_link_url)}">'
            f"{opened.hidden_inputs()}"
            '<label>Title <input name="title" value="Week 1 quiz"></label>'
            '<button id="add">Add to course</button></form>'
        )
    elif claims.ags is not None:
        action = (
            f'<form method="post" action="{html.escape(grade_url)}">{opened.hidden_inputs()}'
            '<label>Score <input name="score" value="7"></label> / 10 '
            '<button id="grade">Send score</button></form>'
        )
    return f"<!doctype html><title>Launched</title><h1>Launched</h1><dl>{items}</dl>{action}"


def create_app(tool: Tool[Any, Any], *, registrar: DynamicRegistration | None = None) -> Flask:
    """Build the Flask app around *tool* (in tests: ``platform.tool()``)."""
    app = Flask("credlti_flask_example")

    def show_launch(opened: OpenedLaunch) -> str:
        return render_launch(opened, grade_url=url_for("grade", _external=True))

    def chosen_items(opened: OpenedLaunch) -> list[LtiResourceLink]:
        title = request.form.get("title", "").strip() or "Quiz"
        return [LtiResourceLink(title=title[:200])]

    app.register_blueprint(
        lti_blueprint(tool, on_launch=show_launch, select_items=chosen_items, registrar=registrar)
    )

    @app.post("/grade")
    def grade() -> str:
        # The form carries the launch's id and token; the handle stays in its cookie.
        opened = open_launch(tool, form=True)
        given = float(request.form.get("score", "0"))
        score = Score(
            user_id=opened.launch.claims.subject or "",
            activity_progress="Completed",
            grading_progress="FullyGraded",
            score_given=max(0.0, min(given, 10.0)),
            score_maximum=10,
        )
        tool.grades(opened.launch).post_score(score)
        return (
            "<!doctype html><title>Score sent</title>"
            f"<p id='sent'>Score {score.score_given:g}/10 sent.</p>"
        )

    return app


def build_tool(
    base_url: str,
    *,
    platform_url: str | None = None,
    client_id: str = "credlti-flask-example",
    deployment_id: str = "deployment-1",
) -> tuple[Tool[Any, Any], DynamicRegistration]:
    """A tool with its own signing key, memory storage and a dynamic registrar.

    With *platform_url*, that platform is registered already (by its URLs).
    """
    storage: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage()
    if platform_url:
        registration = Registration(
            issuer=platform_url,
            client_id=client_id,
            auth_endpoint=f"{platform_url}/auth",
            jwks_uri=f"{platform_url}/.well-known/jwks.json",
            token_endpoint=f"{platform_url}/token",
        )
        storage.add_registration(registration)
        storage.add_deployment(registration, Deployment(deployment_id=deployment_id))
    key = generate_key(now=utc_now(), state=KeyState.CURRENT)
    tool: Tool[Any, Any] = Tool(storage, keys=KeySet([key]), state_secret=secrets.token_bytes(32))
    settings = ToolSettings(
        client_name=TITLE,
        initiate_login_uri=f"{base_url}/login",
        redirect_uris=[f"{base_url}/launch"],
        jwks_uri=f"{base_url}/jwks.json",
        target_link_uri=f"{base_url}/launch",
        messages=[
            ToolMessage(type="LtiResourceLinkRequest", label=TITLE),
            ToolMessage(type="LtiDeepLinkingRequest", label=TITLE),
        ],
        claims=["iss", "sub", "name"],
        scopes=[SCOPE_LINEITEM, SCOPE_SCORE],
    )
    loopback = urlsplit(base_url).hostname in {"127.0.0.1", "localhost", "::1"}
    registrar = DynamicRegistration(settings, storage, allow_loopback=loopback)
    return tool, registrar


def demo() -> str:
    """Run one launch through the app against a simulated platform; return the page."""
    from credlti.testing import SimulatedPlatform  # the demo's stand-in LMS

    platform = SimulatedPlatform()
    tool = platform.tool(state_secret=secrets.token_bytes(32))
    client = create_app(tool).test_client()
    base = "https://tool.example.com"
    start = client.get("/login", query_string=platform.login_params(), base_url=base)
    form = platform.launch(start.headers["Location"])
    done = client.post("/launch", data=form, base_url=base, follow_redirects=True)
    return done.get_data(as_text=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--base-url", help="the tool's public URL (default http://HOST:PORT)")
    parser.add_argument("--platform-url", help="a platform that registered the tool by URL")
    parser.add_argument("--client-id", default="credlti-flask-example")
    parser.add_argument("--deployment-id", default="deployment-1")
    parser.add_argument("--demo", action="store_true", help="print one simulated launch")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the tool, or print the demo."""
    args = parse_args(argv)
    if args.demo:
        print(demo())
        return
    base_url = (args.base_url or f"http://{args.host}:{args.port}").rstrip("/")
    tool, registrar = build_tool(
        base_url,
        platform_url=args.platform_url,
        client_id=args.client_id,
        deployment_id=args.deployment_id,
    )
    print(f"{TITLE}: {base_url} (dynamic registration: {base_url}/register)", flush=True)
    create_app(tool, registrar=registrar).run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
