"""The LTI views once, for every framework: neutral requests in, neutral responses out.

A framework module (``flask``, ``starlette``, ``django``) turns its request into a
:class:`WebRequest`, runs one of the flows below with the one effect runtime
(:func:`run_sync` for a :class:`~credlti.lti.Tool`, :func:`run_async` for an
:class:`~credlti.lti.AsyncTool`) and turns the :class:`WebResponse` back into its
own response. Nothing here imports a web framework.

Rules of this module:

1. Flows do no IO: every call on the tool, the registrar or the randomness source
   is a :class:`Call` effect, so one flow serves the sync and the async facades.
2. Every response carries the frame and cache headers (:func:`base_headers`): the
   tool lives in the platform's iframe, so ``Content-Security-Policy:
   frame-ancestors`` says who may frame it, and nothing personal is cached.
3. Errors become pages with the error's ``code`` and ``http_status`` and a short
   safe sentence; the details go to the log, never a token, a handle or a message
   that may quote the request.
4. Launch-session handles are bearer secrets: they live in an ``HttpOnly`` cookie
   (or, when the browser keeps no cookie, a form field), never in a URL. A form
   that acts on a launch proves it came from the tool's own page with a token
   derived from the handle (:meth:`OpenedLaunch.form_fields`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import inspect
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs

from credlti._effects import Flow, arun, run
from credlti.errors import (
    ConfigurationError,
    CredltiError,
    FormTokenInvalidError,
    LaunchNotOpenError,
    LaunchSecurityError,
    NotDeepLinkingLaunchError,
    StateMismatchError,
)
from credlti.lti import (
    DEEP_LINKING_REQUEST,
    LaunchContext,
    clear_state_cookie_header,
    fallback_page,
    launch_session_cookie_header,
    launch_session_cookie_name,
    page_headers,
    state_cookie_name,
)

__all__ = [
    "Call",
    "Launched",
    "LtiSettings",
    "OpenedLaunch",
    "WebRequest",
    "WebResponse",
    "base_headers",
    "deep_link_flow",
    "default_items",
    "default_page",
    "error_response",
    "finish_flow",
    "finish_url",
    "form_token",
    "host_headers",
    "jwks_response",
    "launch_flow",
    "login_flow",
    "open_flow",
    "registration_flow",
    "run_async",
    "run_sync",
    "with_query",
]

log = logging.getLogger("credlti.contrib")

#: Form fields the views read besides the platform's own.
LAUNCH_ID_FIELD = "launch_id"
TOKEN_FIELD = "credlti_token"
HANDLE_FIELD = "credlti_launch"

#: What users see for each family of errors; the precise reason goes to the log.
SAFE_MESSAGES = {
    400: "This request is incomplete or not known to this tool.",
    401: "This launch could not be verified. Please start it again from your course.",
    403: "This form did not come from this tool's own page. Please start again from your course.",
    404: "This launch is not open in this browser. Please start it again from your course.",
    409: "This tool is already registered with this platform.",
    502: "The learning platform could not be reached. Please try again in a minute.",
    503: "The tool is temporarily unavailable. Please try again in a minute.",
}


def _check_ancestors(_inst: object, _attr: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    try:
        page_headers(frame_ancestors=value)  # the platform-storage pages take them too
    except ValueError:
        msg = "frame_ancestors must be '*' or origins such as 'https://lms.example.edu'"
        raise ConfigurationError(msg) from None


def _sources(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _check_ttl(_inst: object, _attr: attrs.Attribute[int], value: int) -> None:
    given: object = value
    if isinstance(given, bool) or not isinstance(given, int) or given <= 0:
        msg = "launch_ttl must be a positive number of seconds"
        raise ConfigurationError(msg)


@attrs.frozen(kw_only=True)
class LtiSettings:
    """How the LTI views answer; every field has a safe default.

    Attributes:
        launch_url: The launch URL exactly as registered with the platforms (the
            OIDC ``redirect_uri``). By default the absolute URL of the launch
            route as the framework builds it from the request; set it when the
            tool runs behind a proxy that changes the scheme or host.
        frame_ancestors: Who may frame the tool's pages (the CSP
            ``frame-ancestors`` sources). ``*`` (any http or https page) by
            default, since the tool runs inside the platform's iframe; list your
            platforms' origins to narrow it.
        launch_ttl: Seconds a launch stays open for follow-up requests (the
            launch session's ``ttl`` and its cookie's ``Max-Age``).
        partitioned: Mark cookies ``Partitioned`` (CHIPS), so browsers that block
            third-party cookies keep them for the platform's frame.
        cookie_path: The ``Path`` of the cookies the views set.
        jwks_max_age: Seconds platforms may cache the tool's key set.
        random_bytes: ``n -> n random bytes``, for the pages' CSP nonces.
    """

    launch_url: str | None = None
    frame_ancestors: tuple[str, ...] = attrs.field(
        default=("*",), converter=_sources, validator=_check_ancestors
    )
    launch_ttl: int = attrs.field(default=3600, validator=_check_ttl)
    partitioned: bool = True
    cookie_path: str = "/"
    jwks_max_age: int = 3600
    random_bytes: Callable[[int], bytes] = attrs.field(default=secrets.token_bytes, repr=False)


@attrs.frozen(kw_only=True)
class WebRequest:
    """A request as the views need it, whatever the framework.

    Attributes:
        method: ``GET`` or ``POST``.
        query: The query string, every value of every name.
        form: The urlencoded or multipart form (first value of each name).
        cookies: The request's cookies.
        launch_url: The absolute URL of the launch route; the route finishing a
            launch through platform storage is ``launch_url + "/finish"``.
        deep_link_url: The absolute URL of the deep-linking return route.
        origin: The ``Origin`` header, if the browser sent one.
    """

    method: str
    query: Mapping[str, Sequence[str]] = attrs.field(factory=dict)
    form: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    cookies: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    launch_url: str = ""
    deep_link_url: str = ""
    origin: str | None = None

    def first(self, name: str) -> str:
        """The first query value of *name* (empty when absent)."""
        values = self.query.get(name) or ()
        return values[0] if values else ""

    def params(self) -> dict[str, str]:
        """Query and form parameters together (the form wins), first values only."""
        merged = {name: values[0] for name, values in self.query.items() if values}
        merged.update(self.form)
        return merged


@attrs.frozen(kw_only=True)
class WebResponse:
    """A response as the views build it: status, headers (in order, repeatable), body."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header ("" when none)."""
        for name, value in self.headers:
            if name.lower() == "content-type":
                return value
        return ""


@attrs.frozen
class Call:
    """Effect: call ``fn(*args, **kwargs)`` (awaited when it returns an awaitable)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)


def _perform(effect: Call) -> Any:
    return effect.fn(*effect.args, **effect.kwargs)


async def _aperform(effect: Call) -> Any:
    result = effect.fn(*effect.args, **effect.kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def run_sync(flow: Flow[Any]) -> Any:
    """Drive *flow* with a sync tool or registrar."""
    return run(flow, _perform)


async def run_async(flow: Flow[Any]) -> Any:
    """Drive *flow* with an async tool or registrar (plain results are accepted too)."""
    return await arun(flow, _aperform)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def form_token(handle: str) -> str:
    """The token a tool page's form carries to prove it knows the launch's handle."""
    return _b64(hashlib.sha256(b"credlti form token\x00" + handle.encode()).digest())


@attrs.frozen(kw_only=True)
class OpenedLaunch:
    """A launch reopened for a request: what a host's page or form needs.

    Attributes:
        launch: The validated launch.
        launch_id: Names the launch's cookie; safe in URLs and pages.
        handle: The launch session's handle (a bearer secret).
        via_cookie: The browser holds the handle in a cookie. Otherwise (no
            cookies, launched through platform storage) forms carry the handle.
        deep_link_url: Where a deep-linking picker posts its choice (with
            :meth:`form_fields`).
    """

    launch: LaunchContext[Any, Any]
    launch_id: str
    handle: str = attrs.field(repr=False)
    via_cookie: bool = True
    deep_link_url: str = ""

    def form_fields(self) -> dict[str, str]:
        """Hidden fields for a form that acts on this launch (e.g. deep-link return)."""
        fields = {LAUNCH_ID_FIELD: self.launch_id}
        if self.via_cookie:
            fields[TOKEN_FIELD] = form_token(self.handle)
        else:
            fields[HANDLE_FIELD] = self.handle
        return fields

    def hidden_inputs(self) -> str:
        """:meth:`form_fields` as ``<input type="hidden">`` elements."""
        return "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in self.form_fields().items()
        )


@attrs.frozen(kw_only=True)
class Launched:
    """A launch just validated: the host's page answers, with these extra headers."""

    opened: OpenedLaunch
    headers: tuple[tuple[str, str], ...] = ()


# ----------------------------------------------------------------------------- headers


def base_headers(settings: LtiSettings, *, csp: str | None = None) -> list[tuple[str, str]]:
    """The headers of every response the views make (frame, cache, referrer)."""
    ancestors = "frame-ancestors " + " ".join(settings.frame_ancestors)
    policy = f"{csp}; {ancestors}" if csp else ancestors
    return [
        ("Content-Security-Policy", policy),
        ("Cache-Control", "no-store"),
        # same-origin: no referrer to other sites, and same-origin POSTs (the storage
        # launch page to its finish route) keep the Origin the finish check compares.
        ("Referrer-Policy", "same-origin"),
        ("X-Content-Type-Options", "nosniff"),
        # The registration page posts to window.opener; a new-window fallback uses it too.
        ("Cross-Origin-Opener-Policy", "unsafe-none"),
    ]


def host_headers(settings: LtiSettings, present: Iterable[str]) -> list[tuple[str, str]]:
    """The headers to add to a host's page after a launch, unless the host set them."""
    have = {name.lower() for name in present}
    wanted = [
        ("Content-Security-Policy", "frame-ancestors " + " ".join(settings.frame_ancestors)),
        ("Cache-Control", "no-store"),
    ]
    return [(name, value) for name, value in wanted if name.lower() not in have]


def _page(
    status: int,
    body: str,
    settings: LtiSettings,
    *,
    nonce: str | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> WebResponse:
    script = f"script-src 'nonce-{nonce}'" if nonce else "script-src 'none'"
    csp = (
        f"default-src 'none'; {script}; style-src 'unsafe-inline'; img-src 'self' data:; "
        "base-uri 'none'"
    )
    headers = [("Content-Type", "text/html; charset=utf-8"), *base_headers(settings, csp=csp)]
    return WebResponse(status=status, headers=(*headers, *extra), body=body)


def _nonce(settings: LtiSettings) -> Flow[str]:
    raw = yield Call(settings.random_bytes, (16,))
    return _b64(raw)


def finish_url(launch_url: str) -> str:
    """The route finishing a launch through platform storage, beside the launch route."""
    return launch_url.rstrip("/") + "/finish"


def with_query(url: str, **params: str) -> str:
    """Return *url* with *params* appended to its query string."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


# ----------------------------------------------------------------------------- errors


def error_response(error: CredltiError, settings: LtiSettings) -> WebResponse:
    """The page for *error*: its status and code, a safe sentence; the details are logged.

    Security failures may be attacks and are logged as warnings, server-side
    failures (status 5xx) as errors, the rest at info. Tokens and handles never
    reach the log or the page.
    """
    status, code = error.http_status, error.code
    level = logging.WARNING if isinstance(error, LaunchSecurityError) else logging.INFO
    if isinstance(error, FormTokenInvalidError):
        level = logging.WARNING
    if status >= 500:
        level = logging.ERROR
    details = dict(error.details)
    log.log(level, "LTI request rejected: %s (%s) %s", code, error.spec_ref, details)
    message = SAFE_MESSAGES.get(status, "Something went wrong.")
    body = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Launch failed</title></head><body><h1>Launch failed</h1>"
        f"<p>{html.escape(message)}</p>"
        f"<p>Error code: <code>{html.escape(code)}</code></p></body></html>\n"
    )
    return _page(status, body, settings)


# ----------------------------------------------------------------------------- platform storage
# Launches through platform storage (the LTI client-side postMessages): the login
# answers with a page instead of a redirect when the platform names a storage
# frame, and a launch without its cookie is finished through that storage.


def _storage_page(
    status: int,
    body: str,
    settings: LtiSettings,
    nonce: str,
    extra: Sequence[tuple[str, str]] = (),
) -> WebResponse:
    """A page of the platform-storage script, with the headers its script needs."""
    headers = [
        *page_headers(nonce, frame_ancestors=settings.frame_ancestors),
        ("Cross-Origin-Opener-Policy", "unsafe-none"),
        *extra,
    ]
    return WebResponse(status=status, headers=tuple(headers), body=body)


def _fallback(error: StateMismatchError, settings: LtiSettings, nonce: str) -> WebResponse:
    """The "open in a new window" page for a launch that came without its cookie."""
    details = dict(error.details)
    log.warning("LTI request rejected: %s (%s) %s", error.code, error.spec_ref, details)
    code = f"<p>Error code: <code>{html.escape(error.code)}</code></p>"
    body = fallback_page(csp_nonce=nonce).replace("</body>", code + "</body>", 1)
    return _storage_page(error.http_status, body, settings, nonce)


# ----------------------------------------------------------------------------- flows


def login_flow(tool: Any, req: WebRequest, settings: LtiSettings) -> Flow[WebResponse]:
    """OIDC login initiation, by GET or form POST (Sec §5.1.1.1).

    A 302 to the platform with the state cookie; or, when the platform offers its
    storage, a page that keeps the state there too before it goes on.
    """
    launch_url = settings.launch_url or req.launch_url
    redirect = yield Call(tool.handle_login, (req.params(), launch_url))
    cookie = redirect.set_cookie_header(path=settings.cookie_path, partitioned=settings.partitioned)
    if redirect.storage_target is not None:
        # The platform offers its storage: a page keeps the binding there too (the
        # cookie still goes out: whichever the browser keeps completes the launch).
        nonce = yield from _nonce(settings)
        body = redirect.login_page(csp_nonce=nonce)
        return _storage_page(200, body, settings, nonce, extra=[("Set-Cookie", cookie)])
    headers = [("Location", redirect.url), ("Set-Cookie", cookie), *base_headers(settings)]
    return WebResponse(status=302, headers=tuple(headers))


def _session_headers(settings: LtiSettings, handle: str, launch_id: str) -> tuple[str, str]:
    header = launch_session_cookie_header(
        handle,
        launch_id=launch_id,
        max_age=settings.launch_ttl,
        path=settings.cookie_path,
        partitioned=settings.partitioned,
    )
    return ("Set-Cookie", header)


def launch_flow(tool: Any, req: WebRequest, settings: LtiSettings) -> Flow[WebResponse]:
    """The platform's form POST to the launch URL (Sec §5.1.1.3).

    With the state cookie: validate, save the launch session, delete the state
    cookie, keep the handle in its cookie and go on (303) to the signed
    ``target_link_uri`` with the ``launch_id``. Without it, and with a platform
    storage frame named: a page that reads the binding back from platform storage
    and posts it to the finish route.
    """
    state = req.form.get("state", "")
    cookie = req.cookies.get(state_cookie_name(state)) if state else None
    if cookie is None and req.form.get("lti_storage_target"):
        pending = yield Call(
            tool.start_storage_launch,
            (req.form,),
            {"finish_url": finish_url(settings.launch_url or req.launch_url)},
        )
        nonce = yield from _nonce(settings)
        return _storage_page(200, pending.page(csp_nonce=nonce), settings, nonce)
    try:
        launch = yield Call(tool.handle_callback, (req.form, cookie))
    except StateMismatchError as error:
        if cookie is not None:
            raise
        # Neither cookie nor platform storage: offer to open the tool in a new window.
        nonce = yield from _nonce(settings)
        return _fallback(error, settings, nonce)
    handle = yield Call(tool.save_launch, (launch,), {"ttl": settings.launch_ttl})
    launch_id = launch.launch_id  # not a secret: it only names this launch's cookie
    target = with_query(launch.claims.target_link_uri, **{LAUNCH_ID_FIELD: launch_id})
    clear = clear_state_cookie_header(
        state, path=settings.cookie_path, partitioned=settings.partitioned
    )
    headers = [
        ("Location", target),
        ("Set-Cookie", clear),  # the binding is single use
        _session_headers(settings, handle, launch_id),
        *base_headers(settings),
    ]
    return WebResponse(status=303, headers=tuple(headers))


def finish_flow(tool: Any, req: WebRequest, settings: LtiSettings) -> Flow[Launched]:
    """Finish a launch whose binding came back from platform storage."""
    launch = yield Call(tool.finish_storage_launch, (req.form,), {"origin": req.origin})
    handle = yield Call(tool.save_launch, (launch,), {"ttl": settings.launch_ttl})
    launch_id = launch.launch_id
    opened = OpenedLaunch(
        launch=launch,
        launch_id=launch_id,
        handle=handle,
        via_cookie=False,
        deep_link_url=req.deep_link_url,
    )
    return Launched(opened=opened, headers=(_session_headers(settings, handle, launch_id),))


def open_flow(tool: Any, req: WebRequest, *, form: bool = False) -> Flow[OpenedLaunch]:
    """Reopen the launch a follow-up request names (``launch_id`` in its query or form).

    The handle comes from the cookie the launch named, or, for a form (*form*),
    from its ``credlti_launch`` field when the browser keeps no cookie. A form
    using the cookie must carry the ``credlti_token`` of the tool's own page.

    Raises:
        LaunchNotOpenError: No such launch in this browser (404).
        FormTokenInvalidError: A form without its page's token (403).
        LaunchSessionNotFoundError: The session expired, ended or was altered.
    """
    launch_id = req.form.get(LAUNCH_ID_FIELD, "") if form else req.first(LAUNCH_ID_FIELD)
    try:
        name = launch_session_cookie_name(launch_id)
    except ValueError:
        raise LaunchNotOpenError("the request names no launch") from None
    carried = req.form.get(HANDLE_FIELD, "") if form else ""
    handle = carried or req.cookies.get(name, "")
    if not handle:
        raise LaunchNotOpenError("no launch session is open for this launch in this browser")
    if form and not carried:
        token = req.form.get(TOKEN_FIELD, "")
        if not hmac.compare_digest(token.encode(), form_token(handle).encode()):
            raise FormTokenInvalidError("the form does not carry its launch's token")
    launch = yield Call(tool.load_launch, (handle,))
    if launch.launch_id != launch_id:
        raise LaunchNotOpenError("the launch session belongs to another launch")
    return OpenedLaunch(
        launch=launch,
        launch_id=launch_id,
        handle=handle,
        via_cookie=not carried,
        deep_link_url=req.deep_link_url,
    )


def deep_link_flow(
    tool: Any, opened: OpenedLaunch, items: Sequence[Any], settings: LtiSettings
) -> Flow[WebResponse]:
    """Sign the chosen items and answer with the page that posts them to the platform."""
    if opened.launch.claims.message_type != DEEP_LINKING_REQUEST.name:
        msg = "content items can only answer a deep-linking request"
        raise NotDeepLinkingLaunchError(msg)
    response = yield Call(tool.deep_link_response, (opened.launch, list(items)))
    nonce = yield from _nonce(settings)
    return _page(200, response.form_html(csp_nonce=nonce), settings, nonce=nonce)


def registration_flow(registrar: Any, req: WebRequest, settings: LtiSettings) -> Flow[WebResponse]:
    """Dynamic registration (LTI-DR §3.3 to §3.7): register, then the closing page."""
    from credlti.lti.registration import completion_page  # loaded on first use

    yield Call(registrar.register, ({k: list(v) for k, v in req.query.items()},))
    nonce = yield from _nonce(settings)
    return _page(200, completion_page(nonce=nonce), settings, nonce=nonce)


def jwks_response(tool: Any, settings: LtiSettings) -> WebResponse:
    """The tool's public key set (Sec §6.3), cacheable by platforms."""
    from credlti.lti.keys import jwks_headers  # loaded on first use

    body = json.dumps(tool.jwks(), separators=(",", ":"))
    headers = list(jwks_headers(max_age=settings.jwks_max_age).items())
    headers.append(("X-Content-Type-Options", "nosniff"))
    return WebResponse(status=200, headers=tuple(headers), body=body)


def default_page(opened: OpenedLaunch) -> str:
    """The page shown after a launch when the host gives no ``on_launch``."""
    claims = opened.launch.claims
    roles = ", ".join(
        f"{r.kind.value}:{r.name}" + (f"#{r.sub_role}" if r.sub_role else "") for r in claims.roles
    )
    course = (claims.context.title or claims.context.id) if claims.context else "(no course)"
    rows = {
        "User": f"{claims.name or '(anonymous)'} ({claims.subject or 'no sub'})",
        "Roles": roles or "(none)",
        "Instructor": "yes" if claims.roles.is_instructor else "no",
        "Course": course,
        "Message": claims.message_type,
        "Deployment": claims.deployment_id,
    }
    items = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows.items()
    )
    picker = ""
    if claims.message_type == DEEP_LINKING_REQUEST.name:
        picker = (
            f'<form method="post" action="{html.escape(opened.deep_link_url)}">'
            f"{opened.hidden_inputs()}<button>Add this tool</button></form>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Launched</title>'
        f"</head><body><h1>Launched</h1><dl>{items}</dl>{picker}</body></html>\n"
    )


def default_items(opened: OpenedLaunch) -> list[Any]:
    """The item the default deep-link return sends: a link to the tool itself."""
    from credlti.lti.deep_linking import LtiResourceLink  # loaded on first use

    return [LtiResourceLink(title="Tool")]
