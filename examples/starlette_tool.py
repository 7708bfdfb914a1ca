"""A complete LTI 1.3 tool on Starlette (or FastAPI), built with :mod:`credlti.contrib.starlette`.

The same tool as ``examples/flask_tool.py``, async end to end on an
:class:`~credlti.lti.AsyncTool`: platform key sets and the grades service are
called with ``httpx.AsyncClient`` and never block the event loop.

The LTI routes (``/login``, ``/launch``, ``/launch/finish``, ``/deep-link``,
``/jwks.json``, ``/register``) come from ``lti_routes``; this file adds the launch
page (``on_launch``), the deep-linking choice (``select_items``) and ``POST
/grade``, a route of this app that reopens the launch with ``open_launch``. In
FastAPI, ``app.mount("/", lti_router(tool, ...))`` or
``app.router.routes.extend(lti_routes(tool, ...))`` does the same.

Run it:

- ``python examples/starlette_tool.py --demo`` runs one launch against a
  simulated platform and prints the page;
- ``python examples/starlette_tool.py --port 8002`` serves it with uvicorn on
  http://127.0.0.1:8002: register it by dynamic registration
  (``http://127.0.0.1:8002/register``), or pass ``--platform-url`` (with
  ``--client-id`` and ``--deployment-id``) for a platform that registered it by
  its URLs. Plain http works on loopback hosts only; use https anywhere else.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import secrets
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.contrib.starlette import (
    OpenedLaunch,
    lti_exception_handlers,
    lti_routes,
    open_launch,
)
from credlti.lti import DEEP_LINKING_REQUEST, AsyncTool, Deployment, Registration, utc_now
from credlti.lti.deep_linking import LtiResourceLink
from credlti.lti.keys import KeySet, KeyState, generate_key
from credlti.lti.registration import AsyncDynamicRegistration, ToolMessage, ToolSettings
from credlti.lti.services import SCOPE_LINEITEM, SCOPE_SCORE, Score

TITLE = "credlti Starlette example"


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


def create_app(
    tool: AsyncTool[Any, Any], *, registrar: AsyncDynamicRegistration | None = None
) -> Starlette:
    """Build the app around *tool* (in tests: ``platform.async_tool()``); it closes the tool."""

    async def show_launch(request: Request, opened: OpenedLaunch) -> Response:
        grade_url = str(request.url_for("grade"))
        return HTMLResponse(render_launch(opened, grade_url=grade_url))

    async def chosen_items(request: Request, opened: OpenedLaunch) -> list[LtiResourceLink]:
        async with request.form() as form:
            title = form.get("title")
        text = title.strip() if isinstance(title, str) else ""
        return [LtiResourceLink(title=(text or "Quiz")[:200])]

    async def grade(request: Request) -> Response:
        # The form carries the launch's id and token; the handle stays in its cookie.
        opened = await open_launch(tool, request, form=True)
        async with request.form() as form:
            value = form.get("score")
        given = float(value) if isinstance(value, str) else 0.0
        score = Score(
            user_id=opened.launch.claims.subject or "",
            activity_progress="Completed",
            grading_progress="FullyGraded",
            score_given=max(0.0, min(given, 10.0)),
            score_maximum=10,
        )
        await tool.grades(opened.launch).post_score(score)
        return HTMLResponse(
            "<!doctype html><title>Score sent</title>"
            f"<p id='sent'>Score {score.score_given:g}/10 sent.</p>"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await tool.aclose()  # closes the HTTP client if the tool created it

    routes = lti_routes(tool, on_launch=show_launch, select_items=chosen_items, registrar=registrar)
    return Starlette(
        routes=[*routes, Route("/grade", grade, methods=["POST"], name="grade")],
        exception_handlers=lti_exception_handlers(),
        lifespan=lifespan,
    )


def build_tool(
    base_url: str,
    *,
    platform_url: str | None = None,
    client_id: str = "credlti-starlette-example",
    deployment_id: str = "deployment-1",
) -> tuple[AsyncTool[Any, Any], AsyncDynamicRegistration]:
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
    tool: AsyncTool[Any, Any] = AsyncTool(
        storage, keys=KeySet([key]), state_secret=secrets.token_bytes(32)
    )
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
    registrar = AsyncDynamicRegistration(settings, storage, allow_loopback=loopback)
    return tool, registrar


def demo() -> str:
    """Run one launch through the app against a simulated platform; return the page."""
    from starlette.testclient import TestClient  # demo only: drives the app in process

    from credlti.testing import SimulatedPlatform  # the demo's stand-in LMS

    platform = SimulatedPlatform()
    tool = platform.async_tool(state_secret=secrets.token_bytes(32))
    with TestClient(create_app(tool), base_url="https://tool.example.com") as client:
        start = client.get("/login", params=platform.login_params(), follow_redirects=False)
        form = platform.launch(start.headers["location"])
        page: str = client.post("/launch", data=form).text
    return page


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--base-url", help="the tool's public URL (default http://HOST:PORT)")
    parser.add_argument("--platform-url", help="a platform that registered the tool by URL")
    parser.add_argument("--client-id", default="credlti-starlette-example")
    parser.add_argument("--deployment-id", default="deployment-1")
    parser.add_argument("--demo", action="store_true", help="print one simulated launch")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the tool with uvicorn, or print the demo."""
    args = parse_args(argv)
    if args.demo:
        print(demo())
        return
    import uvicorn

    base_url = (args.base_url or f"http://{args.host}:{args.port}").rstrip("/")
    tool, registrar = build_tool(
        base_url,
        platform_url=args.platform_url,
        client_id=args.client_id,
        deployment_id=args.deployment_id,
    )
    print(f"{TITLE}: {base_url} (dynamic registration: {base_url}/register)", flush=True)
    app = create_app(tool, registrar=registrar)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
