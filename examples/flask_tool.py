"""A complete LTI 1.3 tool on Flask, built on :class:`credlti.lti.Tool`.

Routes:

- ``GET|POST /login``: the OIDC login initiation (Sec §5.1.1.1). Answers with a 302
  to the platform and a ``Set-Cookie`` that binds the login to this browser.
- ``POST /launch``: the platform's form POST (Sec §5.1.1.3). Validates the launch,
  saves it with ``tool.save_launch`` (a launch session any worker can reopen),
  keeps the session's handle in an ``HttpOnly`` cookie named after the launch,
  deletes the one-time state cookie and sends the browser on to the signed
  ``target_link_uri`` (Core §5.3.4).
- ``GET /launch?launch_id=...``: the page itself: user, roles and course. The
  ``launch_id`` in the URL only says *which* cookie to read; the handle in that
  cookie is what reopens the launch (``tool.load_launch``), so a copied URL is
  useless in another browser.

Every :class:`~credlti.CredltiError` becomes its ``http_status`` with a short,
safe page; the details go to the log, never the token.

Run ``python examples/flask_tool.py`` to see one launch go through against a
simulated platform (no LMS, no network). For a real platform, build the ``Tool``
with your own storage, a shared launch-session store (``sessions=``:
``SqlLaunchSessionStore(engine)`` or ``RedisLaunchSessionStore(client)``) and
``state_secret``, and serve ``create_app(tool)`` with any WSGI server over HTTPS:
every worker can then reopen every launch.
"""

from __future__ import annotations

import html
import logging
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Flask, abort, redirect, request
from werkzeug.wrappers import Response

from credlti import CredltiError, LaunchSecurityError
from credlti.lti import (
    LaunchContext,
    Tool,
    clear_state_cookie_header,
    launch_session_cookie_header,
    launch_session_cookie_name,
    state_cookie_name,
)

log = logging.getLogger("credlti.examples.flask")

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


def create_app(tool: Tool[Any, Any], *, launch_url: str = DEFAULT_LAUNCH_URL) -> Flask:
    """Build the Flask app around *tool*.

    Args:
        tool: The configured :class:`~credlti.lti.Tool` (in tests: ``platform.tool()``).
        launch_url: This tool's launch URL exactly as registered with the platform.
    """
    app = Flask("credlti_flask_example")

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        # Platforms may start the login by GET or by form POST (Sec §5.1.1.1):
        # request.values reads both the query string and the form.
        login = tool.handle_login(request.values, launch_url)
        response = redirect(login.url, code=302)
        response.headers.add("Set-Cookie", login.set_cookie_header())
        return response

    @app.post("/launch")
    def launch() -> Response:
        # Each login has its own cookie, named after its state: tabs don't collide.
        state = request.form.get("state", "")
        launch = tool.handle_callback(request.form, request.cookies.get(state_cookie_name(state)))
        # Keep the launch for the next requests, on whichever worker they land.
        handle = tool.save_launch(launch, ttl=LAUNCH_TTL)
        launch_id = launch.launch_id  # not a secret: it only names this launch's cookie
        # Go on to the *signed* target_link_uri, never the unsigned login parameter.
        response = redirect(with_query(launch.claims.target_link_uri, launch_id=launch_id), 303)
        response.headers.add("Set-Cookie", clear_state_cookie_header(state))  # single use
        # The handle is a bearer secret: an HttpOnly cookie, never the URL.
        response.headers.add(
            "Set-Cookie",
            launch_session_cookie_header(handle, launch_id=launch_id, max_age=LAUNCH_TTL),
        )
        return response

    @app.get("/launch")
    def show_launch() -> str:
        return render_launch(current_launch())

    def current_launch() -> LaunchContext[Any, Any]:
        """Reopen the launch named in the URL from this browser's cookie (404 if none)."""
        try:
            cookie = launch_session_cookie_name(request.args.get("launch_id", ""))
        except ValueError:
            abort(404)
        handle = request.cookies.get(cookie)
        if not handle:
            abort(404)
        # LaunchSessionNotFoundError (expired, ended, altered) is a CredltiError: 401 below.
        return tool.load_launch(handle)

    @app.errorhandler(CredltiError)
    def launch_failed(error: CredltiError) -> tuple[str, int]:
        # Security failures may be attacks: warn. Log codes and ids, never the token.
        level = logging.WARNING if isinstance(error, LaunchSecurityError) else logging.INFO
        if error.http_status >= 500:
            level = logging.ERROR
        log.log(
            level,
            "LTI launch rejected: %s (%s) %s",
            error.code,
            error.spec_ref,
            dict(error.details),
        )
        message = SAFE_MESSAGES.get(error.http_status, "Something went wrong.")
        body = (
            "<!doctype html><title>Launch failed</title><h1>Launch failed</h1>"
            f"<p>{html.escape(message)}</p>"
            f"<p>Error code: <code>{html.escape(error.code)}</code></p>"
        )
        return body, error.http_status

    return app


def demo() -> str:
    """Run one launch through the app against a simulated platform; return the page."""
    from credlti.testing import SimulatedPlatform  # the demo's stand-in LMS

    platform = SimulatedPlatform()
    tool = platform.tool(state_secret=secrets.token_bytes(32))
    client = create_app(tool).test_client()
    start = client.get(
        "/login", query_string=platform.login_params(), base_url="https://tool.example.com"
    )
    form = platform.launch(start.headers["Location"])
    done = client.post(
        "/launch", data=form, base_url="https://tool.example.com", follow_redirects=True
    )
    return done.get_data(as_text=True)


if __name__ == "__main__":
    print(demo())
