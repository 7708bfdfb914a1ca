"""LTI 1.3 routes for Flask: one blueprint around a :class:`~credlti.lti.Tool`.

::

    from flask import Flask
    from credlti.contrib.flask import lti_blueprint

    app = Flask(__name__)
    app.register_blueprint(lti_blueprint(tool, on_launch=show_launch))

Routes (under the blueprint's ``url_prefix``):

- ``GET|POST /login``: the OIDC login initiation (Sec §5.1.1.1).
- ``POST /launch``: the platform's launch; answers 303 to the signed
  ``target_link_uri`` with ``?launch_id=...``, the handle in an ``HttpOnly``
  cookie. ``POST /launch/finish`` finishes a launch kept in platform storage.
- ``GET /launch?launch_id=...``: the launch reopened; *on_launch* answers.
- ``POST /deep-link``: the deep-linking return: *select_items* chooses, the
  browser posts the signed response to the platform.
- ``GET /jwks.json``: the tool's public keys.
- ``GET /register``: dynamic registration (with a *registrar*).

Every :class:`~credlti.errors.CredltiError` becomes a page with its code and
status. Install with ``pip install "credlti[flask]"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, make_response, request, url_for
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

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
    run_sync,
)
from credlti.errors import CredltiError

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from credlti.lti import Tool
    from credlti.lti.deep_linking import ContentItem
    from credlti.lti.registration import DynamicRegistration

__all__ = ["LtiSettings", "OpenedLaunch", "error_page", "lti_blueprint", "open_launch"]

#: ``on_launch(opened)``: the tool's page for a launch (any Flask return value).
OnLaunch = Callable[[OpenedLaunch], "ResponseReturnValue"]
#: ``select_items(opened)``: the content items chosen in the picker (read ``request.form``).
SelectItems = Callable[[OpenedLaunch], "Iterable[ContentItem]"]


def _url(endpoint: str) -> str:
    try:
        return url_for(endpoint, _external=True)
    except BuildError:
        return ""


def _web_request(blueprint: str) -> WebRequest:
    return WebRequest(
        method=request.method,
        query={name: request.args.getlist(name) for name in request.args},
        form=dict(request.form.items()),
        cookies=dict(request.cookies),
        launch_url=_url(f"{blueprint}.launch"),
        deep_link_url=_url(f"{blueprint}.deep_link"),
        origin=request.headers.get("Origin"),
    )


def _response(answer: WebResponse) -> Response:
    response = Response(answer.body, status=answer.status)
    response.headers.clear()
    for name, value in answer.headers:
        response.headers.add(name, value)
    if answer.body and "Content-Type" not in response.headers:
        response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


def _host(
    rv: ResponseReturnValue, settings: LtiSettings, extra: Iterable[tuple[str, str]] = ()
) -> Response:
    response = make_response(rv)
    for name, value in [*host_headers(settings, response.headers.keys()), *extra]:
        response.headers.add(name, value)
    return response


def open_launch(
    tool: Tool[Any, Any], *, form: bool = False, blueprint: str = "credlti"
) -> OpenedLaunch:
    """Reopen the launch the current request names, in any view of the app.

    The request names it with ``launch_id`` in its query (``form=False``) or in
    its form (``form=True``: a form of the tool's page, carrying
    ``opened.hidden_inputs()``). Errors become error pages through the handlers
    :func:`lti_blueprint` registers.

    Args:
        tool: The tool the launch was saved with.
        form: Read a POSTed form (and demand its token) rather than the query.
        blueprint: The name of the LTI blueprint (for ``opened.deep_link_url``).

    Raises:
        LaunchSessionNotFoundError: The launch expired, ended or was altered (401).
    """
    return run_sync(open_flow(tool, _web_request(blueprint), form=form))  # type: ignore[no-any-return]


def error_page(error: CredltiError, settings: LtiSettings | None = None) -> Response:
    """The error page for a :class:`~credlti.errors.CredltiError` (its status and code)."""
    return _response(error_response(error, settings or LtiSettings()))


def lti_blueprint(
    tool: Tool[Any, Any],
    *,
    on_launch: OnLaunch | None = None,
    select_items: SelectItems | None = None,
    registrar: DynamicRegistration | None = None,
    settings: LtiSettings | None = None,
    name: str = "credlti",
    url_prefix: str | None = None,
) -> Blueprint:
    """Build the blueprint of LTI routes around *tool*.

    Args:
        tool: The configured :class:`~credlti.lti.Tool`. With several workers,
            give it shared storage, a shared launch-session store and
            ``state_secret``.
        on_launch: Answers ``GET /launch`` (and a launch finished through platform
            storage) for the reopened launch; a summary page by default. Show a
            picker here for deep-linking launches, posting to
            ``opened.deep_link_url`` with ``opened.hidden_inputs()``.
        select_items: The deep-linking choice: the content items to return for
            ``POST /deep-link`` (read the picker's fields from ``request.form``).
            By default one resource link to the tool.
        registrar: Serves ``GET /register`` (dynamic registration) when given.
        settings: Frame ancestors, cookie and launch lifetime settings.
        name: The blueprint's name (its endpoints are ``name.login`` and so on).
        url_prefix: Where the routes live (``"/lti"``); the app's root by default.
    """
    options = settings or LtiSettings()
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix)
    # Host views that reopen a launch (open_launch) get the same error pages.
    blueprint.app_errorhandler(CredltiError)(lambda error: error_page(error, options))
    show: OnLaunch = on_launch or default_page
    choose: SelectItems = select_items or default_items

    def guarded(view: Callable[[], Response]) -> Callable[[], Response]:
        def run_view() -> Response:
            try:
                return view()
            except CredltiError as error:
                return _response(error_response(error, options))

        run_view.__name__ = view.__name__
        return run_view

    @guarded
    def login() -> Response:
        return _response(run_sync(login_flow(tool, _web_request(name), options)))

    @guarded
    def launch() -> Response:
        req = _web_request(name)
        if request.method == "POST":
            return _response(run_sync(launch_flow(tool, req, options)))
        opened = run_sync(open_flow(tool, req))
        return _host(show(opened), options)

    @guarded
    def finish() -> Response:
        done = run_sync(finish_flow(tool, _web_request(name), options))
        return _host(show(done.opened), options, done.headers)

    @guarded
    def deep_link() -> Response:
        opened = run_sync(open_flow(tool, _web_request(name), form=True))
        items = list(choose(opened))
        return _response(run_sync(deep_link_flow(tool, opened, items, options)))

    @guarded
    def jwks() -> Response:
        return _response(jwks_response(tool, options))

    blueprint.add_url_rule("/login", view_func=login, methods=["GET", "POST"])
    blueprint.add_url_rule("/launch", view_func=launch, methods=["GET", "POST"])
    blueprint.add_url_rule("/launch/finish", view_func=finish, methods=["POST"])
    blueprint.add_url_rule("/deep-link", view_func=deep_link, methods=["POST"])
    blueprint.add_url_rule("/jwks.json", view_func=jwks, methods=["GET"])
    if registrar is not None:
        chosen = registrar

        @guarded
        def register() -> Response:
            return _response(run_sync(registration_flow(chosen, _web_request(name), options)))

        blueprint.add_url_rule("/register", view_func=register, methods=["GET"])
    return blueprint
