"""A small LTI tool on Flask, served over HTTP for the browser tests.

It is written like a tool author would write one on the framework-free core (no
framework integration): login, launch (cookie and, when the core offers it, platform
storage), a grade button, a deep-linking picker, its JWKS and a dynamic-registration
page. Launches are kept server-side, named by a random id in the page's forms.
"""

from __future__ import annotations

import contextlib
import html
import secrets
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from flask import Flask, request
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from credlti import CredltiError
from credlti.adapters.memory import MemoryLaunchStorage
from credlti.lti import (
    Deployment,
    LaunchContext,
    Registration,
    Tool,
    page_headers,
    state_cookie_name,
)
from credlti.lti.deep_linking import Link, LtiResourceLink
from credlti.lti.keys import KeySet, KeyState, generate_key, jwks
from credlti.lti.registration import DynamicRegistration, ToolMessage, ToolSettings, completion_page
from credlti.lti.services import Score
from credlti.testing import DevPlatform


def _page(title: str, body: str, status: int = 200) -> Response:
    text = f"<!doctype html><title>{html.escape(title)}</title>{body}"
    return Response(text, status=status, content_type="text/html; charset=utf-8")


class DevTool:
    """The tool, its storage and its Flask app, at *base_url* (e.g. http://localhost:P)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.storage: MemoryLaunchStorage[Any, Any] = MemoryLaunchStorage()
        self.keys = KeySet([generate_key(now=datetime.now(timezone.utc), state=KeyState.CURRENT)])
        self.tool: Tool[Any, Any] = Tool(
            self.storage, keys=self.keys, state_secret=secrets.token_bytes(32)
        )
        self.launches: dict[str, LaunchContext[Any, Any]] = {}
        self.errors: list[str] = []
        self.storage_launches = 0
        self.app = self._create_app()

    @property
    def urls(self) -> dict[str, str]:
        """The URLs to register with a platform."""
        return {
            "login_url": f"{self.base_url}/login",
            "launch_url": f"{self.base_url}/launch",
            "jwks_url": f"{self.base_url}/jwks",
            "deep_link_url": f"{self.base_url}/launch",
        }

    def install(self, platform: DevPlatform) -> None:
        """Register with *platform* by URLs, and store its registration on the tool side."""
        dev_tool = platform.register_tool(name="Browser test tool", **self.urls)
        registration = Registration(
            issuer=platform.base_url,
            client_id=dev_tool.client_id,
            auth_endpoint=f"{platform.base_url}/auth",
            jwks_uri=f"{platform.base_url}/.well-known/jwks.json",
            token_endpoint=f"{platform.base_url}/token",
        )
        self.storage.add_registration(registration)
        self.storage.add_deployment(registration, Deployment(deployment_id=dev_tool.deployment_id))

    def _create_app(self) -> Flask:
        app = Flask("credlti_browser_devtool")
        launch_url = f"{self.base_url}/launch"

        @app.route("/login", methods=["GET", "POST"])
        def login() -> Response:
            redirect = self.tool.handle_login(request.values, launch_url)
            if redirect.storage_target is not None:
                # A page that keeps the state in platform storage, then goes on.
                response = Response(redirect.login_page(), headers=page_headers())
            else:
                response = Response(status=302, headers={"Location": redirect.url})
            response.headers.add("Set-Cookie", redirect.set_cookie_header())
            return response

        @app.post("/launch")
        def launch() -> Response:
            state = request.form.get("state", "")
            cookie = request.cookies.get(state_cookie_name(state))
            if cookie is None and "lti_storage_target" in request.form:
                self.storage_launches += 1
                pending = self.tool.start_storage_launch(
                    request.form, finish_url=f"{self.base_url}/launch/finish"
                )
                return Response(pending.page(), headers=page_headers())
            return self._launched(self.tool.handle_callback(request.form, cookie))

        @app.post("/launch/finish")
        def finish() -> Response:
            origin = request.headers.get("Origin")  # checked against the finish URL's origin
            return self._launched(self.tool.finish_storage_launch(request.form, origin=origin))

        @app.post("/grade")
        def grade() -> Response:
            launch = self.launches[request.form["launch"]]
            ags = launch.claims.ags
            assert ags is not None
            assert ags.lineitem is not None
            score = Score(
                user_id=launch.claims.subject or "",
                score_given=7,
                score_maximum=10,
                activity_progress="Completed",
                grading_progress="FullyGraded",
                comment="Well done",
            )
            self.tool.grades(launch).post_score(score, ags.lineitem)
            return _page("Graded", '<h1 id="graded">Grade sent: 7/10</h1>')

        @app.post("/deep-link")
        def deep_link() -> Response:
            launch = self.launches[request.form["launch"]]
            items: list[Link | LtiResourceLink] = [
                LtiResourceLink(title="Week 2 quiz", custom={"quiz_id": "2"}),
                Link(url="https://example.org/reading", title="Reading"),
            ]
            response = self.tool.deep_link_response(launch, items, msg="Added 2 items")
            return _page("Returning", response.form_html())

        @app.get("/jwks")
        def tool_jwks() -> dict[str, Any]:
            return jwks(self.keys)

        @app.get("/register")
        def register() -> Response:
            settings = ToolSettings(
                client_name="Dynamically registered tool",
                initiate_login_uri=f"{self.base_url}/login",
                redirect_uris=[launch_url],
                jwks_uri=f"{self.base_url}/jwks",
                target_link_uri=launch_url,
                messages=[
                    ToolMessage(type="LtiResourceLinkRequest"),
                    ToolMessage(type="LtiDeepLinkingRequest", target_link_uri=launch_url),
                ],
                scopes=["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
            )
            registrar = DynamicRegistration(settings, self.storage, allow_loopback=True)
            registrar.register(request.args)
            return _page("Registered", completion_page())

        @app.errorhandler(CredltiError)
        def failed(error: CredltiError) -> Response:
            self.errors.append(error.code)
            body = (
                '<h1>Launch failed</h1><p>Error code: <code id="error-code">'
                f"{html.escape(error.code)}</code></p>"
            )
            return _page("Launch failed", body, error.http_status)

        return app

    def _launched(self, launch: LaunchContext[Any, Any]) -> Response:
        key = secrets.token_urlsafe(16)
        self.launches[key] = launch
        claims = launch.claims
        who = html.escape(
            f"{claims.name} ({'instructor' if claims.roles.is_instructor else 'learner'})"
        )
        hidden = f'<input type="hidden" name="launch" value="{key}">'
        if claims.message_type == "LtiDeepLinkingRequest":
            action = (
                f'<form method="post" action="/deep-link">{hidden}'
                '<button id="add-items" type="submit">Add 2 items</button></form>'
            )
        else:
            action = (
                f'<form method="post" action="/grade">{hidden}'
                '<button id="send-grade" type="submit">Send grade</button></form>'
            )
        kind = html.escape(claims.message_type)
        body = f'<h1 id="launched">Launched: {who}</h1><p>{kind}</p>{action}'
        return _page("Launched", body)


@contextlib.contextmanager
def serve_tool(host: str = "localhost") -> Iterator[DevTool]:
    """Serve a :class:`DevTool` on a free port of *host* in a thread."""
    server = make_server(host, 0, Flask("placeholder"), threaded=True)
    tool = DevTool(f"http://{host}:{server.server_port}")
    server.app = tool.app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tool
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        tool.tool.close()
