"""A complete LTI 1.3 tool on Starlette, built on :class:`credlti.lti.AsyncTool`.

The same tool as ``examples/flask_tool.py``, async end to end: the platform's key
set is fetched with ``httpx.AsyncClient`` and never blocks the event loop.

Routes:

- ``GET|POST /login``: the OIDC login initiation (Sec §5.1.1.1): a 302 to the
  platform plus a ``Set-Cookie`` binding the login to this browser.
- ``POST /launch``: the platform's form POST (Sec §5.1.1.3): validate, save the launch
  (``tool.save_launch``) and keep its handle in an ``HttpOnly`` cookie named after
  the launch, delete the state cookie, go on to the signed ``target_link_uri``
  (Core §5.3.4).
- ``GET /launch?launch_id=...``: the page: user, roles and course, reopened from the
  cookie's handle (``tool.load_launch``); the ``launch_id`` only names the cookie.

Run ``python examples/starlette_tool.py`` to see one launch go through against a
simulated platform. For a real platform, build the ``AsyncTool`` with your storage
in its async form (an ``AsyncTool`` awaits every port: e.g. ``AsyncMemoryLaunchStorage``
from ``credlti.adapters.memory``, or the SQL adapter's async form), a shared
launch-session store (``sessions=AsyncRedisLaunchSessionStore(client)`` from
``credlti.adapters.redis``) and ``state_secret``, and serve ``create_app(tool)`` with
any ASGI server (uvicorn, hypercorn) over HTTPS.
"""

from __future__ import annotations

import contextlib
import html
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from credlti import CredltiError, LaunchSecurityError
from credlti.lti import (
    AsyncTool,
    LaunchContext,
    clear_state_cookie_header,
    launch_session_cookie_header,
    launch_session_cookie_name,
    state_cookie_name,
)

log = logging.getLogger("credlti.examples.starlette")

#: The launch URL registered with the platform (the OIDC ``redirect_uri``).
DEFAULT_LAUNCH_URL = "https://tool.example.com/launch"

#: Seconds a launch stays usable for follow-up requests (the session's ttl and cookie age).
LAUNCH_TTL = 3600

#: What users see for each family of errors; the precise reason goes to the log.
SAFE_MESSAGES = {
    400: "This launch request is incomplete or not known to this tool.",
    401: "This launch could not be verified. Please start it again from your course.",
    502: "The learning platform could not be reached. Please try again in a minute.",
    503: "The tool is temporarily unavailable. Please try again in a minute.",
}


def with_query(url: str, **params: str) -> str:
    """Return *url* with *params* appended to its query string."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def render_launch(launch: LaunchContext[Any, Any]) -> str:
    """The tool's page: who launched, with which roles, from which course."""
    claims = launch.claims
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
    return f"<!doctype html><title>Launched</title><h1>Launched</h1><dl>{items}</dl>"


def create_app(tool: AsyncTool[Any, Any], *, launch_url: str = DEFAULT_LAUNCH_URL) -> Starlette:
    """Build the Starlette app around *tool*; the app closes the tool on shutdown.

    Args:
        tool: The configured :class:`~credlti.lti.AsyncTool` (in tests:
            ``platform.async_tool()``).
        launch_url: This tool's launch URL exactly as registered with the platform.
    """

    async def login(request: Request) -> Response:
        # Platforms may start the login by GET or by form POST (Sec §5.1.1.1).
        params: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            params.update(await request.form())
        login = await tool.handle_login(params, launch_url)
        response = RedirectResponse(login.url, status_code=302)
        response.headers.append("set-cookie", login.set_cookie_header())
        return response

    async def launch(request: Request) -> Response:
        form = await request.form()
        posted = form.get("state")
        # Each login has its own cookie, named after its state: tabs don't collide.
        state = posted if isinstance(posted, str) else ""
        cookie = state_cookie_name(state)
        launch = await tool.handle_callback(form, request.cookies.get(cookie))
        # Keep the launch for the next requests, on whichever worker they land.
        handle = await tool.save_launch(launch, ttl=LAUNCH_TTL)
        launch_id = launch.launch_id  # not a secret: it only names this launch's cookie
        # Go on to the *signed* target_link_uri, never the unsigned login parameter.
        target = with_query(launch.claims.target_link_uri, launch_id=launch_id)
        response = RedirectResponse(target, status_code=303)
        response.headers.append("set-cookie", clear_state_cookie_header(state))  # single use
        # The handle is a bearer secret: an HttpOnly cookie, never the URL.
        response.headers.append(
            "set-cookie",
            launch_session_cookie_header(handle, launch_id=launch_id, max_age=LAUNCH_TTL),
        )
        return response

    async def current_launch(request: Request) -> LaunchContext[Any, Any]:
        """Reopen the launch named in the URL from this browser's cookie (404 if none)."""
        try:
            cookie = launch_session_cookie_name(request.query_params.get("launch_id", ""))
        except ValueError:
            raise HTTPException(404) from None
        handle = request.cookies.get(cookie)
        if not handle:
            raise HTTPException(404)
        # LaunchSessionNotFoundError (expired, ended, altered) is a CredltiError: 401 below.
        return await tool.load_launch(handle)

    async def show_launch(request: Request) -> Response:
        return HTMLResponse(render_launch(await current_launch(request)))

    async def launch_failed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CredltiError)
        # Security failures may be attacks: warn. Log codes and ids, never the token.
        level = logging.WARNING if isinstance(exc, LaunchSecurityError) else logging.INFO
        if exc.http_status >= 500:
            level = logging.ERROR
        log.log(level, "LTI launch rejected: %s (%s) %s", exc.code, exc.spec_ref, dict(exc.details))
        message = SAFE_MESSAGES.get(exc.http_status, "Something went wrong.")
        body = (
            "<!doctype html><title>Launch failed</title><h1>Launch failed</h1>"
            f"<p>{html.escape(message)}</p>"
            f"<p>Error code: <code>{html.escape(exc.code)}</code></p>"
        )
        return HTMLResponse(body, status_code=exc.http_status)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await tool.aclose()  # closes the HTTP client if the tool created it

    return Starlette(
        routes=[
            Route("/login", login, methods=["GET", "POST"]),
            Route("/launch", launch, methods=["POST"]),
            Route("/launch", show_launch, methods=["GET"]),
        ],
        exception_handlers={CredltiError: launch_failed},
        lifespan=lifespan,
    )


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


if __name__ == "__main__":
    print(demo())
