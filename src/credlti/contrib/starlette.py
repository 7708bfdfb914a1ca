"""LTI 1.3 routes for Starlette and FastAPI around an :class:`~credlti.lti.AsyncTool`.

::

    from starlette.applications import Starlette
    from credlti.contrib.starlette import lti_routes

    app = Starlette(routes=lti_routes(tool, on_launch=show_launch))

In FastAPI, mount them (``app.mount("/lti", lti_router(tool, ...))``) or add them
to the app's routes (``app.router.routes.extend(lti_routes(tool, ...))``).

Routes (relative to where they are mounted):

- ``GET|POST /login``: the OIDC login initiation (Sec §5.1.1.1).
- ``POST /launch``: the platform's launch; answers 303 to the signed
  ``target_link_uri`` with ``?launch_id=...``, the handle in an ``HttpOnly``
  cookie. ``POST /launch/finish`` finishes a launch kept in platform storage.
- ``GET /launch?launch_id=...``: the launch reopened; *on_launch* answers.
- ``POST /deep-link``: the deep-linking return.
- ``GET /jwks.json``: the tool's public keys.
- ``GET /register``: dynamic registration (with a *registrar*).

Every :class:`~credlti.errors.CredltiError` becomes a page with its code and
status. Install with ``pip install "credlti[starlette]"`` (it brings
``python-multipart``, which form parsing needs).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, NoMatchFound, Route, Router

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
)
from credlti.errors import CredltiError

if TYPE_CHECKING:
    from credlti.lti import AsyncTool
    from credlti.lti.deep_linking import ContentItem
    from credlti.lti.registration import AsyncDynamicRegistration

__all__ = [
    "LtiSettings",
    "OpenedLaunch",
    "error_page",
    "lti_exception_handlers",
    "lti_router",
    "lti_routes",
    "open_launch",
]

#: ``on_launch(request, opened)``: the tool's page for a launch (may be ``async``).
OnLaunch = Callable[[Request, OpenedLaunch], "Response | Awaitable[Response]"]
#: ``select_items(request, opened)``: the content items chosen (may be ``async``).
SelectItems = Callable[
    [Request, OpenedLaunch], "Iterable[ContentItem] | Awaitable[Iterable[ContentItem]]"
]


def _url(request: Request, name: str) -> str:
    try:
        return str(request.url_for(name))
    except NoMatchFound:
        return ""


async def _web_request(request: Request) -> WebRequest:
    form: dict[str, str] = {}
    if request.method == "POST":
        async with request.form() as parsed:
            form = {name: value for name, value in parsed.items() if isinstance(value, str)}
    query = request.query_params
    return WebRequest(
        method=request.method,
        query={name: query.getlist(name) for name in query},
        form=form,
        cookies=dict(request.cookies),
        launch_url=_url(request, "credlti_launch"),
        deep_link_url=_url(request, "credlti_deep_link"),
        origin=request.headers.get("origin"),
    )


def _response(answer: WebResponse) -> Response:
    response = Response(answer.body, status_code=answer.status)
    for name, value in answer.headers:
        if name.lower() == "content-type":
            response.headers[name] = value
        else:
            response.headers.append(name, value)
    return response


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _with_host_headers(
    response: Response, settings: LtiSettings, extra: Iterable[tuple[str, str]] = ()
) -> Response:
    headers: MutableHeaders = response.headers
    for name, value in [*host_headers(settings, headers.keys()), *extra]:
        headers.append(name, value)
    return response


async def open_launch(
    tool: AsyncTool[Any, Any], request: Request, *, form: bool = False
) -> OpenedLaunch:
    """Reopen the launch *request* names, in any route of the app.

    The request names it with ``launch_id`` in its query (``form=False``) or in
    its form (``form=True``: a form of the tool's page, carrying
    ``opened.hidden_inputs()``). Pass :func:`lti_exception_handlers` to the app
    so that failures become error pages.

    Raises:
        LaunchSessionNotFoundError: The launch expired, ended or was altered (401).
    """
    opened: OpenedLaunch = await run_async(open_flow(tool, await _web_request(request), form=form))
    return opened


def error_page(error: CredltiError, settings: LtiSettings | None = None) -> Response:
    """The error page for a :class:`~credlti.errors.CredltiError` (its status and code)."""
    return _response(error_response(error, settings or LtiSettings()))


def lti_exception_handlers(
    settings: LtiSettings | None = None,
) -> dict[Any, Callable[[Request, Exception], Response]]:
    """Exception handlers for the app (``Starlette(exception_handlers=...)``).

    They answer the errors of host routes that use :func:`open_launch` (or call
    the tool themselves) with the same pages as the LTI routes.
    """
    options = settings or LtiSettings()

    def handle(request: Request, error: Exception) -> Response:
        if not isinstance(error, CredltiError):  # pragma: no cover - registered for it only
            raise error
        return error_page(error, options)

    return {CredltiError: handle}


def lti_routes(
    tool: AsyncTool[Any, Any],
    *,
    on_launch: OnLaunch | None = None,
    select_items: SelectItems | None = None,
    registrar: AsyncDynamicRegistration | None = None,
    settings: LtiSettings | None = None,
) -> list[BaseRoute]:
    """The LTI routes around *tool*, named ``credlti_login``, ``credlti_launch`` and so on.

    Args:
        tool: The configured :class:`~credlti.lti.AsyncTool`. With several
            workers, give it shared storage, a shared launch-session store and
            ``state_secret``.
        on_launch: Answers ``GET /launch`` (and a launch finished through platform
            storage) for the reopened launch; a summary page by default. Show a
            picker here for deep-linking launches, posting to
            ``opened.deep_link_url`` with ``opened.hidden_inputs()``.
        select_items: The deep-linking choice: the content items to return for
            ``POST /deep-link`` (read the picker's fields with ``await
            request.form()``). By default one resource link to the tool.
        registrar: Serves ``GET /register`` (dynamic registration) when given.
        settings: Frame ancestors, cookie and launch lifetime settings.
    """
    options = settings or LtiSettings()

    async def show(request: Request, opened: OpenedLaunch) -> Response:
        if on_launch is None:
            from starlette.responses import HTMLResponse

            return HTMLResponse(default_page(opened))
        response: Response = await _maybe_await(on_launch(request, opened))
        return response

    async def choose(request: Request, opened: OpenedLaunch) -> list[Any]:
        if select_items is None:
            return default_items(opened)
        return list(await _maybe_await(select_items(request, opened)))

    def guarded(
        view: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run_view(request: Request) -> Response:
            try:
                return await view(request)
            except CredltiError as error:
                return _response(error_response(error, options))

        return run_view

    @guarded
    async def login(request: Request) -> Response:
        return _response(await run_async(login_flow(tool, await _web_request(request), options)))

    @guarded
    async def launch(request: Request) -> Response:
        req = await _web_request(request)
        if request.method == "POST":
            return _response(await run_async(launch_flow(tool, req, options)))
        opened = await run_async(open_flow(tool, req))
        return _with_host_headers(await show(request, opened), options)

    @guarded
    async def finish(request: Request) -> Response:
        done = await run_async(finish_flow(tool, await _web_request(request), options))
        return _with_host_headers(await show(request, done.opened), options, done.headers)

    @guarded
    async def deep_link(request: Request) -> Response:
        opened = await run_async(open_flow(tool, await _web_request(request), form=True))
        items = await choose(request, opened)
        return _response(await run_async(deep_link_flow(tool, opened, items, options)))

    @guarded
    async def jwks(request: Request) -> Response:
        return _response(jwks_response(tool, options))

    routes: list[BaseRoute] = [
        Route("/login", login, methods=["GET", "POST"], name="credlti_login"),
        Route("/launch", launch, methods=["GET", "POST"], name="credlti_launch"),
        Route("/launch/finish", finish, methods=["POST"], name="credlti_finish"),
        Route("/deep-link", deep_link, methods=["POST"], name="credlti_deep_link"),
        Route("/jwks.json", jwks, methods=["GET"], name="credlti_jwks"),
    ]
    if registrar is not None:
        chosen = registrar

        @guarded
        async def register(request: Request) -> Response:
            req = await _web_request(request)
            return _response(await run_async(registration_flow(chosen, req, options)))

        routes.append(Route("/register", register, methods=["GET"], name="credlti_register"))
    return routes


def lti_router(
    tool: AsyncTool[Any, Any],
    *,
    on_launch: OnLaunch | None = None,
    select_items: SelectItems | None = None,
    registrar: AsyncDynamicRegistration | None = None,
    settings: LtiSettings | None = None,
) -> Router:
    """The routes of :func:`lti_routes` as one ASGI app, to mount under a prefix.

    ``app.mount("/lti", lti_router(tool))`` in Starlette and FastAPI alike. Mount
    it without a name: the views find their own URLs by their route names (or set
    ``settings=LtiSettings(launch_url=...)``).
    """
    return Router(
        routes=lti_routes(
            tool,
            on_launch=on_launch,
            select_items=select_items,
            registrar=registrar,
            settings=settings,
        )
    )
