"""A complete LTI 1.3 tool on Django, in one file, built with :mod:`credlti.contrib.django`.

``lti_urlpatterns`` serves the LTI views (``login/``, ``launch/``,
``launch/finish``, ``deep-link/``, ``jwks.json``, ``register/``) with what Django
needs for a tool inside the platform's iframe done for you: CSRF exemption of
the platform's POSTs, ``X-Frame-Options`` exemption with a
``Content-Security-Policy: frame-ancestors`` instead, and ``Partitioned`` cookies
written as raw ``Set-Cookie`` headers. This file adds the launch page
(``on_launch``), the deep-linking choice (``select_items``) and ``grade/``, a view
of this project that reopens the launch with ``open_launch``.

Run it:

- ``python examples/django_tool.py --demo`` runs one launch against a simulated
  platform and prints the page;
- ``python examples/django_tool.py --port 8003`` serves it on
  http://127.0.0.1:8003 (a threaded WSGI server): register it by dynamic
  registration (``http://127.0.0.1:8003/register/``), or pass ``--platform-url``
  (with ``--client-id`` and ``--deployment-id``) for a platform that registered it
  by its URLs. Plain http works on loopback hosts only; use https anywhere else.

In a real project the settings live in ``settings.py`` and the URL patterns in
``urls.py``: ``path("lti/", include(lti_urlpatterns(tool, ...)))``.
"""

from __future__ import annotations

import argparse
import html
import secrets
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import django
from django.conf import settings as django_settings

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.contrib.django import OpenedLaunch, error_page, lti_urlpatterns, open_launch
from credlti.errors import CredltiError
from credlti.lti import DEEP_LINKING_REQUEST, Deployment, Registration, Tool, utc_now
from credlti.lti.deep_linking import LtiResourceLink
from credlti.lti.keys import KeySet, KeyState, generate_key
from credlti.lti.registration import DynamicRegistration, ToolMessage, ToolSettings
from credlti.lti.services import SCOPE_LINEITEM, SCOPE_SCORE, Score

TITLE = "credlti Django example"
#: The tool (and its registrar) the URL patterns of this module serve.
TOOL: dict[str, Any] = {}


def configure(*, allowed_hosts: Sequence[str] = ("*",), debug: bool = False) -> None:
    """Configure Django for this one-file project (once per process)."""
    if django_settings.configured:
        return
    django_settings.configure(
        DEBUG=debug,
        SECRET_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS=list(allowed_hosts),
        ROOT_URLCONF=__name__,
        # Django's defaults that matter for an iframe tool: CSRF and X-Frame-Options.
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()


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


def urlpatterns_for(
    tool: Tool[Any, Any], *, registrar: DynamicRegistration | None = None
) -> list[Any]:
    """The project's URL patterns around *tool*."""
    from django.http import HttpRequest, HttpResponse
    from django.urls import path, reverse
    from django.views.decorators.clickjacking import xframe_options_exempt
    from django.views.decorators.csrf import csrf_exempt
    from django.views.decorators.http import require_POST

    def show_launch(request: HttpRequest, opened: OpenedLaunch) -> HttpResponse:
        grade_url = request.build_absolute_uri(reverse("grade"))
        return HttpResponse(render_launch(opened, grade_url=grade_url))

    def chosen_items(request: HttpRequest, opened: OpenedLaunch) -> list[LtiResourceLink]:
        title = str(request.POST.get("title", "")).strip() or "Quiz"
        return [LtiResourceLink(title=title[:200])]

    # The form's launch token stands in for Django's CSRF cookie, which a
    # cross-site iframe never sends; the page is framed by the platform.
    def grade(request: HttpRequest) -> HttpResponse:
        try:
            opened = open_launch(tool, request, form=True)
            given = float(request.POST.get("score", "0"))
            score = Score(
                user_id=opened.launch.claims.subject or "",
                activity_progress="Completed",
                grading_progress="FullyGraded",
                score_given=max(0.0, min(given, 10.0)),
                score_maximum=10,
            )
            tool.grades(opened.launch).post_score(score)
        except CredltiError as error:
            return error_page(error)
        return HttpResponse(
            "<!doctype html><title>Score sent</title>"
            f"<p id='sent'>Score {score.score_given:g}/10 sent.</p>"
        )

    return [
        *lti_urlpatterns(
            tool, on_launch=show_launch, select_items=chosen_items, registrar=registrar
        ),
        path("grade/", csrf_exempt(xframe_options_exempt(require_POST(grade))), name="grade"),
    ]


def __getattr__(name: str) -> Any:
    # Django reads ``urlpatterns`` from ROOT_URLCONF (this module) on first use.
    if name == "urlpatterns":
        return urlpatterns_for(TOOL["tool"], registrar=TOOL.get("registrar"))
    raise AttributeError(name)


def install(tool: Tool[Any, Any], *, registrar: DynamicRegistration | None = None) -> None:
    """Serve *tool* from this module's URL patterns (configures Django if needed)."""
    configure()
    from django.urls import clear_url_caches

    TOOL.clear()
    TOOL.update(tool=tool, registrar=registrar)
    clear_url_caches()


def build_tool(
    base_url: str,
    *,
    platform_url: str | None = None,
    client_id: str = "credlti-django-example",
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
        initiate_login_uri=f"{base_url}/login/",
        redirect_uris=[f"{base_url}/launch/"],
        jwks_uri=f"{base_url}/jwks.json",
        target_link_uri=f"{base_url}/launch/",
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
    from django.test import Client, override_settings

    from credlti.testing import SimulatedPlatform  # the demo's stand-in LMS

    platform = SimulatedPlatform()
    install(platform.tool(state_secret=secrets.token_bytes(32)))
    client = Client(HTTP_HOST="tool.example.com")
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["tool.example.com"]):
        params = platform.login_params(target_link_uri="https://tool.example.com/launch/")
        start = client.get("/login/", params, secure=True)
        form = platform.launch(start["Location"])
        done = client.post("/launch/", form, secure=True, follow=True)
    page: str = done.content.decode()
    return page


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument("--base-url", help="the tool's public URL (default http://HOST:PORT)")
    parser.add_argument("--platform-url", help="a platform that registered the tool by URL")
    parser.add_argument("--client-id", default="credlti-django-example")
    parser.add_argument("--deployment-id", default="deployment-1")
    parser.add_argument("--demo", action="store_true", help="print one simulated launch")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the tool (a threaded WSGI server), or print the demo."""
    args = parse_args(argv)
    if args.demo:
        print(demo())
        return
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIServer, make_server

    from django.core.wsgi import get_wsgi_application

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    base_url = (args.base_url or f"http://{args.host}:{args.port}").rstrip("/")
    tool, registrar = build_tool(
        base_url,
        platform_url=args.platform_url,
        client_id=args.client_id,
        deployment_id=args.deployment_id,
    )
    install(tool, registrar=registrar)
    print(f"{TITLE}: {base_url} (dynamic registration: {base_url}/register/)", flush=True)
    with make_server(args.host, args.port, get_wsgi_application(), server_class=Server) as server:
        server.serve_forever()


if __name__ == "__main__":
    sys.modules.setdefault("django_tool", sys.modules[__name__])
    main()
