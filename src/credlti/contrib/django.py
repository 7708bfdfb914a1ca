"""LTI 1.3 views for Django: URL patterns around a :class:`~credlti.lti.Tool` or ``AsyncTool``.

::

    from django.urls import include, path
    from credlti.contrib.django import lti_urlpatterns

    urlpatterns = [
        path("lti/", include(lti_urlpatterns(tool, on_launch=show_launch))),
    ]

With a :class:`~credlti.lti.Tool` the views are plain functions; with an
:class:`~credlti.lti.AsyncTool` they are ``async def`` views (run them under
ASGI). What Django needs for a tool in a cross-site iframe is done by the views:

- the platform's form POSTs (login, launch) and the tool's own forms inside the
  iframe (deep-link return) are exempt from Django's CSRF check, which relies on
  a ``SameSite=Lax`` cookie the iframe never sends; the launch and the tool's
  forms are checked by the launch's own binding instead (state cookie, launch
  handle and a form token derived from it);
- responses are exempt from ``X-Frame-Options`` and carry a
  ``Content-Security-Policy: frame-ancestors`` instead (also added to the pages
  *on_launch* returns, unless they set one);
- cookies are written as raw ``Set-Cookie`` headers, so they carry
  ``Partitioned`` on every Python version (``HttpResponse.set_cookie`` cannot
  before Python 3.14).

Routes: ``login/`` (GET, POST), ``launch/`` (POST: the launch; GET: the reopened
launch, answered by *on_launch*), ``launch/finish``, ``deep-link/``,
``jwks.json`` and, with a *registrar*, ``register/``. Install with
``pip install "credlti[django]"``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from http.cookies import Morsel
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from credlti.contrib._web import (
    LtiSettings,
    OpenedLaunch,
    WebRequest,
    WebResponse,
    deep_link_flow,
    default_items,
    default_page,
    error_response,
    finish_flow,
    host_headers,
    jwks_response,
    launch_flow,
    login_flow,
    open_flow,
    registration_flow,
    run_async,
    run_sync,
)
from credlti.errors import CredltiError

if TYPE_CHECKING:
    from credlti.lti import AsyncTool, Tool
    from credlti.lti.deep_linking import ContentItem
    from credlti.lti.registration import AsyncDynamicRegistration, DynamicRegistration

__all__ = [
    "LtiSettings",
    "OpenedLaunch",
    "aopen_launch",
    "error_page",
    "lti_urlpatterns",
    "open_launch",
]

#: ``on_launch(request, opened)``: the tool's page for a launch (``async`` with an AsyncTool).
OnLaunch = Callable[[HttpRequest, OpenedLaunch], Any]
#: ``select_items(request, opened)``: the content items chosen in the picker.
SelectItems = Callable[[HttpRequest, OpenedLaunch], Any]

View = Callable[..., Any]


class _RawCookie(Morsel[str]):
    """A cookie Django writes exactly as given (with ``Partitioned``)."""

    def __init__(self, header: str) -> None:
        super().__init__()
        name, _, value = header.split(";", 1)[0].partition("=")
        self.set(name, value, value)
        self._header = header

    def OutputString(self, attrs: Any = None) -> str:  # noqa: N802 - the Morsel API
        return self._header


def _url(request: HttpRequest, name: str, namespace: str | None) -> str:
    if namespace is None:
        match = request.resolver_match
        namespace = match.namespace if match is not None else ""
    try:
        return str(
            request.build_absolute_uri(reverse(f"{namespace}:{name}" if namespace else name))
        )
    except NoReverseMatch:
        return ""


def _web_request(request: HttpRequest, namespace: str | None = None) -> WebRequest:
    form = {name: request.POST.getlist(name)[0] for name in request.POST}
    return WebRequest(
        method=request.method or "GET",
        query={name: request.GET.getlist(name) for name in request.GET},
        form={name: value for name, value in form.items() if isinstance(value, str)},
        cookies=dict(request.COOKIES),
        launch_url=_url(request, "credlti-launch", namespace),
        deep_link_url=_url(request, "credlti-deep-link", namespace),
        origin=request.headers.get("Origin"),
    )


def _add_headers(response: HttpResponseBase, headers: Iterable[tuple[str, str]]) -> None:
    for name, value in headers:
        if name.lower() == "set-cookie":
            cookie = _RawCookie(value)
            response.cookies[cookie.key] = cookie
        else:
            response[name] = value


def _response(answer: WebResponse) -> HttpResponse:
    location = dict(answer.headers).get("Location")
    if location is not None and 300 <= answer.status < 400:
        response: HttpResponse = HttpResponseRedirect(location)  # what Django's tools expect
        response.status_code = answer.status
    else:
        response = HttpResponse(answer.body, status=answer.status)
    _add_headers(response, [(k, v) for k, v in answer.headers if k != "Location"])
    response.xframe_options_exempt = True
    return response


def _host(
    response: HttpResponseBase, settings: LtiSettings, extra: Iterable[tuple[str, str]] = ()
) -> HttpResponseBase:
    _add_headers(response, [*host_headers(settings, response.headers.keys()), *extra])
    response.xframe_options_exempt = True
    return response


def open_launch(
    tool: Tool[Any, Any], request: HttpRequest, *, form: bool = False, namespace: str = ""
) -> OpenedLaunch:
    """Reopen the launch *request* names, in any view of the project.

    The request names it with ``launch_id`` in its query (``form=False``) or in
    its form (``form=True``: a form of the tool's page, carrying
    ``opened.hidden_inputs()``; decorate that view with ``csrf_exempt``, the
    form's token stands in for Django's). Answer failures with :func:`error_page`.

    Args:
        tool: The tool the launch was saved with.
        request: The request.
        form: Read the POSTed form (and demand its token) rather than the query.
        namespace: The namespace the LTI URL patterns are included under (for
            ``opened.deep_link_url``).

    Raises:
        CredltiError: e.g. LaunchSessionNotFoundError (401) when the launch
            expired, ended or was altered.
        LaunchNotOpenError: No launch is open in this browser (404).
        FormTokenInvalidError: The form's token is wrong (403).
    """
    opened: OpenedLaunch = run_sync(open_flow(tool, _web_request(request, namespace), form=form))
    return opened


async def aopen_launch(
    tool: AsyncTool[Any, Any], request: HttpRequest, *, form: bool = False, namespace: str = ""
) -> OpenedLaunch:
    """Async twin of :func:`open_launch`, for async views with an AsyncTool."""
    req = _web_request(request, namespace)
    opened: OpenedLaunch = await run_async(open_flow(tool, req, form=form))
    return opened


def error_page(error: CredltiError, settings: LtiSettings | None = None) -> HttpResponse:
    """The error page for a :class:`~credlti.errors.CredltiError` (its status and code)."""
    return _response(error_response(error, settings or LtiSettings()))


def _default_launch_page(request: HttpRequest, opened: OpenedLaunch) -> HttpResponse:
    return HttpResponse(default_page(opened))


def _default_items(request: HttpRequest, opened: OpenedLaunch) -> list[Any]:
    return default_items(opened)


def _sync_views(
    tool: Tool[Any, Any],
    show: OnLaunch,
    choose: SelectItems,
    registrar: DynamicRegistration | None,
    options: LtiSettings,
) -> dict[str, View]:
    def guarded(view: Callable[[HttpRequest], HttpResponseBase]) -> View:
        def run_view(request: HttpRequest) -> HttpResponseBase:
            try:
                return view(request)
            except CredltiError as error:
                return _response(error_response(error, options))

        return run_view

    @guarded
    def login(request: HttpRequest) -> HttpResponseBase:
        return _response(run_sync(login_flow(tool, _web_request(request), options)))

    @guarded
    def launch(request: HttpRequest) -> HttpResponseBase:
        req = _web_request(request)
        if request.method == "POST":
            return _response(run_sync(launch_flow(tool, req, options)))
        opened = run_sync(open_flow(tool, req))
        return _host(show(request, opened), options)

    @guarded
    def finish(request: HttpRequest) -> HttpResponseBase:
        done = run_sync(finish_flow(tool, _web_request(request), options))
        return _host(show(request, done.opened), options, done.headers)

    @guarded
    def deep_link(request: HttpRequest) -> HttpResponseBase:
        opened = run_sync(open_flow(tool, _web_request(request), form=True))
        items: list[ContentItem] = list(choose(request, opened))
        return _response(run_sync(deep_link_flow(tool, opened, items, options)))

    @guarded
    def jwks(request: HttpRequest) -> HttpResponseBase:
        return _response(jwks_response(tool, options))

    views: dict[str, View] = {
        "login": login,
        "launch": launch,
        "finish": finish,
        "deep_link": deep_link,
        "jwks": jwks,
    }
    if registrar is not None:
        chosen = registrar

        @guarded
        def register(request: HttpRequest) -> HttpResponseBase:
            return _response(run_sync(registration_flow(chosen, _web_request(request), options)))

        views["register"] = register
    return views


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _async_views(
    tool: AsyncTool[Any, Any],
    show: OnLaunch,
    choose: SelectItems,
    registrar: AsyncDynamicRegistration | None,
    options: LtiSettings,
) -> dict[str, View]:
    def guarded(view: Callable[[HttpRequest], Any]) -> View:
        async def run_view(request: HttpRequest) -> HttpResponseBase:
            try:
                response: HttpResponseBase = await view(request)
            except CredltiError as error:
                return _response(error_response(error, options))
            return response

        return run_view

    @guarded
    async def login(request: HttpRequest) -> HttpResponseBase:
        return _response(await run_async(login_flow(tool, _web_request(request), options)))

    @guarded
    async def launch(request: HttpRequest) -> HttpResponseBase:
        req = _web_request(request)
        if request.method == "POST":
            return _response(await run_async(launch_flow(tool, req, options)))
        opened = await run_async(open_flow(tool, req))
        return _host(await _maybe_await(show(request, opened)), options)

    @guarded
    async def finish(request: HttpRequest) -> HttpResponseBase:
        done = await run_async(finish_flow(tool, _web_request(request), options))
        page = await _maybe_await(show(request, done.opened))
        return _host(page, options, done.headers)

    @guarded
    async def deep_link(request: HttpRequest) -> HttpResponseBase:
        opened = await run_async(open_flow(tool, _web_request(request), form=True))
        items = list(await _maybe_await(choose(request, opened)))
        return _response(await run_async(deep_link_flow(tool, opened, items, options)))

    @guarded
    async def jwks(request: HttpRequest) -> HttpResponseBase:
        return _response(jwks_response(tool, options))

    views: dict[str, View] = {
        "login": login,
        "launch": launch,
        "finish": finish,
        "deep_link": deep_link,
        "jwks": jwks,
    }
    if registrar is not None:
        chosen = registrar

        @guarded
        async def register(request: HttpRequest) -> HttpResponseBase:
            req = _web_request(request)
            return _response(await run_async(registration_flow(chosen, req, options)))

        views["register"] = register
    return views


def lti_urlpatterns(
    tool: Tool[Any, Any] | AsyncTool[Any, Any],
    *,
    on_launch: OnLaunch | None = None,
    select_items: SelectItems | None = None,
    registrar: DynamicRegistration | AsyncDynamicRegistration | None = None,
    settings: LtiSettings | None = None,
) -> list[URLPattern]:
    """The LTI URL patterns around *tool*, named ``credlti-login``, ``credlti-launch`` and so on.

    Include them under any prefix and namespace (``path("lti/", include(...))``).

    Args:
        tool: A :class:`~credlti.lti.Tool` (sync views) or an
            :class:`~credlti.lti.AsyncTool` (async views). With several workers,
            give it shared storage, a shared launch-session store and ``state_secret``.
        on_launch: ``(request, opened) -> HttpResponse`` for ``GET launch/`` (and
            a launch finished through platform storage); a summary page by
            default. With an AsyncTool it may be ``async``. Show a picker here for
            deep-linking launches, posting to ``opened.deep_link_url`` with
            ``opened.hidden_inputs()``.
        select_items: ``(request, opened) -> content items`` for ``POST
            deep-link/`` (read the picker's fields from ``request.POST``); one
            resource link to the tool by default.
        registrar: Serves ``GET register/`` (dynamic registration) when given:
            a ``DynamicRegistration`` with a Tool, an ``AsyncDynamicRegistration``
            with an AsyncTool.
        settings: Frame ancestors, cookie and launch lifetime settings.
    """
    from credlti.lti import AsyncTool

    options = settings or LtiSettings()
    show: OnLaunch = on_launch or _default_launch_page
    choose: SelectItems = select_items or _default_items
    if isinstance(tool, AsyncTool):
        views = _async_views(tool, show, choose, registrar, options)  # type: ignore[arg-type]
    else:
        views = _sync_views(tool, show, choose, registrar, options)  # type: ignore[arg-type]
    routes = [
        ("login/", "login", ["GET", "POST"], "credlti-login"),
        ("launch/", "launch", ["GET", "POST"], "credlti-launch"),
        ("launch/finish", "finish", ["POST"], "credlti-finish"),
        ("deep-link/", "deep_link", ["POST"], "credlti-deep-link"),
        ("jwks.json", "jwks", ["GET"], "credlti-jwks"),
        ("register/", "register", ["GET"], "credlti-register"),
    ]
    return [
        path(route, csrf_exempt(require_http_methods(methods)(views[key])), name=name)
        for route, key, methods, name in routes
        if key in views
    ]
