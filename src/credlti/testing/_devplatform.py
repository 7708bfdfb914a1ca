"""The live dev platform: a local LMS over HTTP, built on :class:`SimulatedPlatform`.

Each registered tool gets its own :class:`SimulatedPlatform` (same issuer, its own
client id, deployment, signing key and AGS/NRPS services) on a :class:`WallClock`,
so every signature, id_token, token-endpoint and service check is the test kit's.
This module adds what a live LMS needs around them: tool registration (by URLs and
by LTI Dynamic Registration), the course page, the OIDC auth endpoint's checks on
the tool's redirect URI, the deep-link return, and the grade pages. The HTTP server
is :mod:`credlti.testing._devserver`.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs
import httpx

from credlti.testing import _devpages as pages
from credlti.testing._clock import WallClock
from credlti.testing._devregistration import (
    http_url_ok,
    openid_configuration,
    registration_response,
    registration_settings,
)
from credlti.testing._launches import INSTRUCTOR, LEARNER
from credlti.testing._platform import SimulatedPlatform
from credlti.testing._support import SimulatedPlatformError

__all__ = ["DevPlatform", "DevTool", "Reply", "Request"]

_USERS = {
    "instructor": ("instructor-1", "Ada Lovelace", INSTRUCTOR),
    "learner": ("learner-1", "Grace Hopper", LEARNER),
}
_REGISTRATION_TOKEN_TTL = timedelta(hours=1)
_FETCH_TIMEOUT = 5.0


@attrs.frozen(kw_only=True)
class Request:
    """An HTTP request as the dev platform sees it."""

    method: str
    path: str
    query: Mapping[str, str] = attrs.field(factory=dict)
    form: Mapping[str, str] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


@attrs.frozen(kw_only=True)
class Reply:
    """An HTTP response of the dev platform."""

    status: int
    body: bytes = b""
    headers: Sequence[tuple[str, str]] = ()

    @classmethod
    def html(cls, text: str, status: int = 200) -> Reply:
        """An HTML page, never cached."""
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
        return cls(status=status, body=text.encode(), headers=headers)

    @classmethod
    def json(cls, value: Any, status: int = 200, *, cache: str | None = None) -> Reply:
        """A JSON document (with a ``Cache-Control`` header if *cache* is given)."""
        extra = [("Content-Type", "application/json")]
        if cache is not None:
            extra.append(("Cache-Control", cache))
        return cls(status=status, body=json.dumps(value).encode(), headers=extra)

    @classmethod
    def redirect(cls, location: str) -> Reply:
        """A 303 to *location*."""
        return cls(status=303, headers=[("Location", location)])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _jwt_payload(token: str) -> dict[str, Any]:
    """The payload of a compact JWT, *unverified* (only to pick whose key verifies it)."""
    try:
        part = token.split(".")[1]
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


@attrs.define(kw_only=True)
class DevTool:
    """A tool registered with the dev platform.

    Attributes:
        number: Its number on this platform (in its pages' URLs).
        name: A display name.
        client_id: The client id the platform gave it.
        deployment_id: Its deployment.
        login_url: Its OIDC login initiation URL.
        redirect_uris: The redirect URIs the auth endpoint accepts; the first is
            the resource-link launch URL.
        jwks_url: Where the platform fetches its public keys.
        deep_link_url: The target of deep-linking launches (the launch URL if unset).
        platform: The test-kit platform that signs its launches and serves its services.
        line_item: The line item its resource-link launches carry (AGS ``lineitem``).
        deep_link_items: The deep-linking content items received from it.
    """

    number: int
    name: str
    client_id: str
    deployment_id: str
    login_url: str
    redirect_uris: tuple[str, ...]
    jwks_url: str
    deep_link_url: str | None
    platform: SimulatedPlatform = attrs.field(repr=False)
    line_item: str = ""
    deep_link_items: list[dict[str, Any]] = attrs.field(factory=list)

    @property
    def launch_url(self) -> str:
        """The resource-link launch URL (the first redirect URI)."""
        return self.redirect_uris[0]

    @property
    def origins(self) -> frozenset[str]:
        """The origins the tool's pages run on (allowed to use platform storage)."""
        urls = (self.login_url, *self.redirect_uris, self.deep_link_url or self.launch_url)
        return frozenset(_origin(u) for u in urls)

    def summary(self) -> dict[str, Any]:
        """What the pages and ``/api/state`` show of this tool."""
        services = self.platform.services
        return {
            "number": self.number,
            "name": self.name,
            "client_id": self.client_id,
            "deployment_id": self.deployment_id,
            "login_url": self.login_url,
            "launch_url": self.launch_url,
            "redirect_uris": list(self.redirect_uris),
            "jwks_url": self.jwks_url,
            "deep_link_url": self.deep_link_url,
            "line_items": [
                {**item, "scores": services.scores(item["id"])} for item in services.line_items()
            ],
            "deep_link_items": list(self.deep_link_items),
        }


@attrs.define
class DevPlatform:
    """The state and the request handling of a live dev platform (thread safe).

    Args:
        base_url: Where it is served, e.g. ``http://127.0.0.1:8765``: its issuer.
        http_client: The client it fetches tools' key sets with.
        key_size: RSA key size of the per-tool signing keys.
    """

    base_url: str
    http_client: httpx.Client = attrs.field(factory=lambda: httpx.Client(timeout=_FETCH_TIMEOUT))
    key_size: int = 2048
    clock: WallClock = attrs.field(factory=WallClock)
    tools: list[DevTool] = attrs.field(factory=list)
    _registration_tokens: dict[str, datetime] = attrs.field(factory=dict, repr=False)
    _logins: dict[str, dict[str, str]] = attrs.field(factory=dict, repr=False)
    _lock: threading.RLock = attrs.field(factory=threading.RLock, repr=False)

    # ------------------------------------------------------------------ tools

    def register_tool(
        self,
        *,
        login_url: str,
        launch_url: str,
        jwks_url: str,
        deep_link_url: str | None = None,
        name: str = "",
        client_id: str | None = None,
        deployment_id: str | None = None,
        redirect_uris: Sequence[str] = (),
    ) -> DevTool:
        """Register a tool by its URLs; return it (with its client and deployment ids).

        Raises:
            ValueError: A URL is not an absolute http(s) URL, or the client id is taken.
        """
        uris = (launch_url, *(u for u in redirect_uris if u != launch_url))
        if deep_link_url and deep_link_url not in uris:
            uris = (*uris, deep_link_url)
        checks = [("login URL", login_url), ("JWKS URL", jwks_url)]
        for what, url in [*checks, *(("redirect URI", u) for u in uris)]:
            if not http_url_ok(url):
                msg = f"the {what} must be an absolute http(s) URL without fragment: {url!r}"
                raise ValueError(msg)
        with self._lock:
            number = len(self.tools) + 1
            client_id = client_id or f"dev-tool-{number}"
            if any(t.client_id == client_id for t in self.tools):
                msg = f"client id {client_id!r} is already registered"
                raise ValueError(msg)
            platform = SimulatedPlatform(
                issuer=self.base_url,
                client_id=client_id,
                deployment_id=deployment_id or f"deployment-{number}",
                clock=self.clock,
                key_size=self.key_size,
            )
            services = platform.services
            services.base_url = f"{self.base_url}/tools/{number}"
            line_item = services.add_line_item(
                "Week 1 quiz", 10, resourceLinkId="resource-link-1", tag="quiz"
            )
            for user_id, user_name, role in _USERS.values():
                services.add_member(user_id, [role], name=user_name)
            tool = DevTool(
                number=number,
                name=name or f"Tool {number}",
                client_id=client_id,
                deployment_id=platform.deployment_id,
                login_url=login_url,
                redirect_uris=uris,
                jwks_url=jwks_url,
                deep_link_url=deep_link_url or None,
                platform=platform,
                line_item=line_item,
            )
            self.tools.append(tool)
            return tool

    def tool(self, *, number: int | None = None, client_id: str | None = None) -> DevTool | None:
        """The registered tool with this number or client id, if any."""
        for tool in self.tools:
            if tool.number == number or (client_id is not None and tool.client_id == client_id):
                return tool
        return None

    def jwks(self) -> dict[str, Any]:
        """The platform's key set: the signing keys of every tool's launches."""
        return {"keys": [k for t in self.tools for k in t.platform.jwks()["keys"]]}

    def state(self) -> dict[str, Any]:
        """Every tool with its line items, scores and deep-link items (``/api/state``)."""
        with self._lock:
            return {"base_url": self.base_url, "tools": [t.summary() for t in self.tools]}

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Reply:
        """Answer one HTTP request."""
        path, method = request.path, request.method
        if path.startswith("/tools/") and "/api/lti/" in path:
            return self._service(request)
        routes = {
            ("GET", "/"): lambda: Reply.html(
                pages.home_page(self.base_url, [t.summary() for t in self.tools])
            ),
            ("POST", "/tools"): lambda: self._register_by_urls(request),
            ("GET", "/register"): lambda: self._start_registration(request),
            ("GET", "/.well-known/openid-configuration"): lambda: Reply.json(
                self.openid_configuration()
            ),
            ("POST", "/registrations"): lambda: self._registration_endpoint(request),
            ("GET", "/.well-known/jwks.json"): lambda: Reply.json(self.jwks(), cache="max-age=60"),
            ("GET", "/course"): lambda: self._course(request),
            ("GET", "/storage-frame"): lambda: Reply.html(
                pages.storage_frame_page(o for t in self.tools for o in t.origins)
            ),
            ("GET", "/auth"): lambda: self._auth(request),
            ("POST", "/auth"): lambda: self._auth(request),
            ("POST", "/token"): lambda: self._token(request),
            ("POST", "/deep_links"): lambda: self._deep_links(request),
            ("GET", "/grades"): lambda: Reply.html(pages.grades_page(self.state()["tools"])),
            ("GET", "/api/state"): lambda: Reply.json(self.state()),
        }
        route = routes.get((method, path))
        if route is None:
            known = any(p == path for _, p in routes)
            return Reply.json(
                {"error": "method_not_allowed" if known else "not_found"}, 405 if known else 404
            )
        return route()

    # ------------------------------------------------------------------ registration

    def _register_by_urls(self, request: Request) -> Reply:
        form = request.form
        try:
            self.register_tool(
                name=form.get("name", ""),
                login_url=form.get("login_url", ""),
                launch_url=form.get("launch_url", ""),
                jwks_url=form.get("jwks_url", ""),
                deep_link_url=form.get("deep_link_url") or None,
                client_id=form.get("client_id") or None,
                deployment_id=form.get("deployment_id") or None,
            )
        except ValueError as exc:
            return Reply.html(pages.auth_error_page(str(exc)), 400)
        return Reply.redirect("/")

    def new_registration_token(self) -> str:
        """A single-use registration token, valid for an hour."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = self.clock()
            self._registration_tokens = {
                k: v for k, v in self._registration_tokens.items() if v > now
            }
            self._registration_tokens[token] = now + _REGISTRATION_TOKEN_TTL
        return token

    def registration_url(self, tool_registration_url: str) -> str:
        """The URL the platform opens: the tool's with ``openid_configuration`` and a token."""
        params = {
            "openid_configuration": f"{self.base_url}/.well-known/openid-configuration",
            "registration_token": self.new_registration_token(),
        }
        joiner = "&" if urlsplit(tool_registration_url).query else "?"
        return f"{tool_registration_url}{joiner}{urlencode(params)}"

    def _start_registration(self, request: Request) -> Reply:
        url = request.query.get("url", "")
        if not http_url_ok(url):
            return Reply.html(pages.auth_error_page("the registration URL must be http(s)"), 400)
        return Reply.html(pages.register_page(self.registration_url(url), _origin(url)))

    def openid_configuration(self) -> dict[str, Any]:
        """The platform's OpenID configuration (LTI Dynamic Registration §3.4)."""
        return openid_configuration(self.base_url)

    def _registration_endpoint(self, request: Request) -> Reply:
        authorization = request.headers.get("authorization", "")
        token = authorization[len("Bearer ") :] if authorization.startswith("Bearer ") else ""
        with self._lock:
            expires = self._registration_tokens.pop(token, None)
        if expires is None or expires <= self.clock():
            return Reply.json(
                {
                    "error": "invalid_token",
                    "error_description": "the registration token is missing, used or expired",
                },
                401,
            )
        try:
            body = json.loads(request.body)
            tool = self._register_from_metadata(body)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return Reply.json(
                {"error": "invalid_client_metadata", "error_description": str(exc)}, 400
            )
        answer = registration_response(
            body, client_id=tool.client_id, deployment_id=tool.deployment_id
        )
        return Reply.json(answer, 201)

    def _register_from_metadata(self, body: Any) -> DevTool:
        return self.register_tool(**registration_settings(body))

    # ------------------------------------------------------------------ launches

    def login_url(
        self,
        tool: DevTool,
        *,
        role: str = "instructor",
        message: str = "resource",
        storage: str = pages.STORAGE_FRAME,
    ) -> str:
        """The tool's login initiation URL for a launch (Sec §5.1.1.1).

        Args:
            tool: The registered tool.
            role: ``instructor`` (Ada Lovelace) or ``learner`` (Grace Hopper).
            message: ``resource`` (a resource-link launch) or ``deep`` (deep linking).
            storage: The ``lti_storage_target`` to send (``none`` to send none).
        """
        deep = message == "deep"
        target = (tool.deep_link_url or tool.launch_url) if deep else tool.launch_url
        user_id = _USERS[role][0]
        hint = f"launch-{secrets.token_urlsafe(8)}"
        with self._lock:
            params = tool.platform.login_params(
                target_link_uri=target,
                login_hint=f"{user_id}:{hint}",
                lti_message_hint=hint,
                lti_deployment_id=tool.deployment_id,
            )
            if storage != "none":
                params["lti_storage_target"] = storage
            self._logins[params["login_hint"]] = {
                "role": role,
                "message": message,
                "client_id": tool.client_id,
                "storage": storage,
            }
        joiner = "&" if urlsplit(tool.login_url).query else "?"
        return f"{tool.login_url}{joiner}{urlencode(params)}"

    def _course(self, request: Request) -> Reply:
        try:
            number = int(request.query.get("tool", "1"))
        except ValueError:
            number = 0
        tool = self.tool(number=number)
        role = request.query.get("role", "instructor")
        message = request.query.get("message", "resource")
        storage = request.query.get("storage", pages.STORAGE_FRAME)
        if tool is None or role not in _USERS or message not in ("resource", "deep"):
            return Reply.html(pages.auth_error_page("no such tool, role or message"), 404)
        if storage not in (pages.STORAGE_FRAME, "_parent", "none"):
            return Reply.html(
                pages.auth_error_page("storage must be a frame name, _parent or none"), 400
            )
        url = self.login_url(tool, role=role, message=message, storage=storage)
        return Reply.html(
            pages.course_page(
                tool_name=tool.name,
                tool_origin=_origin(tool.launch_url),
                login_url=url,
                role=role,
                message=message,
                storage=storage,
            )
        )

    def _auth(self, request: Request) -> Reply:
        """The OIDC auth endpoint: check the tool's request, answer with a signed launch."""
        try:
            redirect_uri, fields = self.authorize({**request.query, **request.form})
        except SimulatedPlatformError as exc:
            # Never post to an unchecked redirect URI: show the error here (OIDC §3.1.2.6).
            return Reply.html(pages.auth_error_page(str(exc)), 400)
        return Reply.html(pages.form_post_page(redirect_uri, fields, "Launching"))

    def launch_form(self, authentication_request: str) -> dict[str, str]:
        """The form the auth endpoint posts back for a tool's authentication request URL.

        What the browser would post to the tool's redirect URI (``id_token``,
        ``state``, and ``lti_storage_target`` when the login had one), for testing
        a tool without a browser.

        Raises:
            SimulatedPlatformError: The platform refuses the request (the reason).
        """
        return self.authorize(dict(parse_qsl(urlsplit(authentication_request).query)))[1]

    def authorize(self, params: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """Check an authentication request; return the redirect URI and the form to post.

        Checks the client id, the redirect URI (registered, exactly), the login hint
        (issued by this platform for this tool), then everything
        :meth:`SimulatedPlatform.authorize` checks (scope, response type and mode,
        prompt, nonce, state, the echoed message hint).

        Raises:
            SimulatedPlatformError: A check failed.
        """
        tool = self.tool(client_id=params.get("client_id", ""))
        if tool is None:
            msg = "unknown client_id"
            raise SimulatedPlatformError(msg)
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in tool.redirect_uris:
            msg = "redirect_uri is not registered"
            raise SimulatedPlatformError(msg)
        with self._lock:
            login = self._logins.get(params.get("login_hint", ""))
            if login is None or login["client_id"] != tool.client_id:
                msg = "login_hint is unknown"
                raise SimulatedPlatformError(msg)
            url = f"{self.base_url}/auth?{urlencode(params)}"
            deep = login["message"] == "deep"
            message_type = "LtiDeepLinkingRequest" if deep else "LtiResourceLinkRequest"
            user_id, user_name, role = _USERS[login["role"]]
            claims = tool.platform.launch_claims(url, message_type=message_type, roles=[role])
            given, family = user_name.split(" ", 1)
            claims.update(
                sub=user_id,
                name=user_name,
                given_name=given,
                family_name=family,
                email=f"{user_id}@example.edu",
            )
            claims["https://purl.imsglobal.org/spec/lti/claim/tool_platform"] = {
                "guid": self.base_url,
                "name": "credlti dev platform",
            }
            if not deep:
                services = tool.platform.services
                claims.update(services.ags_claim(lineitem=tool.line_item))
                claims.update(services.nrps_claim())
            token = tool.platform.sign(claims)
        fields = {"id_token": token, "state": params["state"]}
        if login["storage"] != "none":
            fields["lti_storage_target"] = login["storage"]
        return redirect_uri, fields

    # ------------------------------------------------------------------ tokens, services

    def _trust_keys(self, tool: DevTool) -> str | None:
        """Fetch the tool's key set into its platform; return why it failed, if it did."""
        try:
            response = self.http_client.get(tool.jwks_url)
            response.raise_for_status()
            document = response.json()
            with self._lock:
                tool.platform.trust_tool_keys(document)
        except (httpx.HTTPError, ValueError, TypeError) as exc:
            return f"the tool's key set could not be fetched or read: {type(exc).__name__}"
        return None

    def _token(self, request: Request) -> Reply:
        issuer = _jwt_payload(request.form.get("client_assertion", "")).get("iss")
        tool = self.tool(client_id=issuer) if isinstance(issuer, str) else None
        if tool is None:
            return Reply.json(
                {"error": "invalid_client", "error_description": "unknown client"}, 400
            )
        problem = self._trust_keys(tool)
        if problem is not None:
            return Reply.json({"error": "invalid_client", "error_description": problem}, 400)
        with self._lock:
            response = tool.platform.handle_request(
                httpx.Request(
                    "POST",
                    tool.platform.token_endpoint,
                    content=request.body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            )
        return _reply(response)

    def _service(self, request: Request) -> Reply:
        try:
            number = int(request.path.split("/")[2])
        except ValueError:
            number = 0
        tool = self.tool(number=number)
        if tool is None:
            return Reply.json({"error": "not_found"}, 404)
        query = f"?{urlencode(request.query)}" if request.query else ""
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "accept", "content-type")
        }
        outgoing = httpx.Request(
            request.method,
            f"{self.base_url}{request.path}{query}",
            headers=headers,
            content=request.body,
        )
        with self._lock:
            return _reply(tool.platform.services.handle(outgoing))

    def _deep_links(self, request: Request) -> Reply:
        token = request.form.get("JWT", "")
        issuer = _jwt_payload(token).get("iss")
        tool = self.tool(client_id=issuer) if isinstance(issuer, str) else None
        if tool is None:
            return Reply.html(pages.deep_link_page([], "the response names no known client"), 400)
        problem = self._trust_keys(tool)
        if problem is not None:
            return Reply.html(pages.deep_link_page([], problem), 400)
        with self._lock:
            try:
                items = tool.platform.verify_deep_linking_response(token)
            except SimulatedPlatformError as exc:
                return Reply.html(pages.deep_link_page([], str(exc)), 400)
            received = self.clock().isoformat()
            tool.deep_link_items.extend({**item, "received": received} for item in items)
        return Reply.html(pages.deep_link_page(items, None))


def _reply(response: httpx.Response) -> Reply:
    headers = [
        (k, v)
        for k, v in response.headers.items()
        if k.lower() in ("content-type", "link", "cache-control", "retry-after")
    ]
    return Reply(status=response.status_code, body=response.content, headers=headers)
