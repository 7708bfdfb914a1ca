"""A scripted platform and a tool on two loopback origins, to test the storage script.

The *platform* (``http://127.0.0.1:<port>``) serves a course page that embeds the
tool in an iframe named ``tool``, answers the LTI Client Side postMessages
(``lti.capabilities``, ``lti.put_data``, ``lti.get_data``, or their
``org.imsglobal.lti.*`` forms) as a :class:`Scenario` says, from the page itself
(``_parent``) or from a forwarding frame named ``post_message_forwarding``, and runs
the OIDC authorization endpoint (a :class:`~credlti.testing.SimulatedPlatform` signs
the launch, posted back by an auto-submitting form). An *attacker* frame on a third
origin answers whatever it is told to, with the right message ids.

The *tool* (``http://localhost:<port>``) is a :class:`~credlti.lti.Tool` with the
pages of credlti: ``/login`` (the login page when ``lti_storage_target`` is sent),
``/launch`` (cookie, or ``start_storage_launch``), ``/finish``
(``finish_storage_launch``). It records what happened in :attr:`ToolSite.events`.
"""

from __future__ import annotations

import contextlib
import html
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from credlti.errors import CredltiError
from credlti.lti import LaunchContext, Tool, page_headers, state_cookie_name
from credlti.testing import SimulatedPlatform

Response = tuple[int, list[tuple[str, str]], str]
Handler = Callable[[str, str, dict[str, str], Any], Response]


@attrs.frozen(kw_only=True)
class Scenario:
    """How the scripted platform answers.

    Attributes:
        caps: ``lti`` (answers ``lti.capabilities``), ``legacy`` (only the
            ``org.imsglobal.lti.*`` subjects), ``silent`` (no answer), ``no_put``
            (lists only ``lti.capabilities``) or ``error``.
        frame: The frame named in the capabilities answer and in
            ``lti_storage_target`` (``None``: ``_parent``, the page itself).
        put, get: ``ok``, ``silent``, ``error`` or ``wrong_id`` (answers with
            another message id).
        attacker: Subjects (``put``/``get``) that the attacker frame, on another
            origin, answers with the right message id and a forged value.
        storage_target: Overrides the ``lti_storage_target`` sent at login.
    """

    caps: str = "lti"
    frame: str | None = None
    put: str = "ok"
    get: str = "ok"
    attacker: tuple[str, ...] = ()
    storage_target: str | None = None

    @property
    def target(self) -> str:
        """The ``lti_storage_target`` the platform sends."""
        return self.storage_target or self.frame or "_parent"


# The scripted platform: one script for the course page ("top") and the forwarding
# frame; it answers the tool's messages as the scenario says.
_PLATFORM_JS = r"""
(function () {
  var sc = JSON.parse(document.getElementById("scenario").textContent);
  var role = document.documentElement.getAttribute("data-role");
  var top = role === "top" ? window : window.parent;
  top.__store = top.__store || {};
  top.__log = top.__log || [];
  function legacy(subject) { return subject.indexOf("org.imsglobal.") === 0; }
  function reply(event, body) {
    event.source.postMessage(body, event.origin);
  }
  function storage(event, data, kind) {
    var mode = sc[kind];
    if (sc.attacker.indexOf(kind) !== -1 && role === "top") {
      window.frames.attacker.postMessage(data, "*");
    }
    if (mode === "silent") { return; }
    var body = {subject: data.subject + ".response", message_id: data.message_id, key: data.key};
    if (mode === "wrong_id") { body.message_id = data.message_id + "-other"; }
    if (mode === "error") {
      body.error = {code: "storage_exhausted", message: "no room"};
    } else if (kind === "put") {
      top.__store[event.origin + " " + data.key] = data.value;
      body.value = data.value;
    } else {
      body.value = top.__store[event.origin + " " + data.key];
    }
    reply(event, body);
  }
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || typeof data.subject !== "string") { return; }
    top.__log.push({role: role, origin: event.origin, subject: data.subject,
                    message_id: data.message_id, key: data.key});
    var subject = data.subject.replace("org.imsglobal.", "");
    var wrongFlavour = sc.caps === "legacy" ? !legacy(data.subject) : legacy(data.subject);
    if (subject === "lti.capabilities") {
      if (role !== "top" || sc.caps === "silent" || wrongFlavour) { return; }
      if (sc.caps === "error") {
        reply(event, {subject: data.subject + ".response", message_id: data.message_id,
                      error: {code: "unsupported_subject", message: "no"}});
        return;
      }
      var prefix = sc.caps === "legacy" ? "org.imsglobal." : "";
      var listed = [{subject: prefix + "lti.capabilities"}];
      if (sc.caps !== "no_put") {
        ["lti.put_data", "lti.get_data"].forEach(function (s) {
          var entry = {subject: prefix + s};
          if (sc.frame) { entry.frame = sc.frame; }
          listed.push(entry);
        });
      }
      reply(event, {subject: data.subject + ".response", message_id: data.message_id,
                    supported_messages: listed});
      return;
    }
    var mine = (role === "forwarder") === Boolean(sc.frame);
    if (!mine && !(role === "top" && sc.attacker.length)) { return; }
    if (sc.caps === "legacy" && !legacy(data.subject)) { return; }
    if (subject === "lti.put_data") { storage(event, data, "put"); }
    if (subject === "lti.get_data") { storage(event, data, "get"); }
  });
})();
"""

# The attacker: told a message by the platform page, it answers it to the tool frame
# with the right id and a forged value, from its own origin.
_ATTACKER_JS = r"""
window.addEventListener("message", function (event) {
  var data = event.data;
  if (!data || typeof data.subject !== "string") { return; }
  window.parent.frames.tool.postMessage({
    subject: data.subject + ".response", message_id: data.message_id,
    key: data.key, value: "v3.forged.binding"
  }, "*");
});
"""


def _page(body: str, *, role: str = "", scenario: Scenario | None = None) -> str:
    config = ""
    if scenario is not None:
        text = json.dumps(attrs.asdict(scenario)).replace("<", "\\u003c")
        config = f'<script type="application/json" id="scenario">{text}</script>'
        config += f"<script>{_PLATFORM_JS}</script>"
    return (
        f'<!DOCTYPE html><html data-role="{role}"><head><meta charset="utf-8">'
        f"<title>{role or 'page'}</title></head><body>{body}{config}</body></html>"
    )


def _html(body: str, status: int = 200) -> Response:
    return status, [("Content-Type", "text/html; charset=utf-8")], body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    handler: Handler


class _Request(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Quiet."""

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            params.update(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        status, headers, body = self.server.handler(method, parts.path, params, self.headers)
        data = body.encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve("POST")


@contextlib.contextmanager
def _serving(handler: Handler) -> Iterator[int]:
    server = _Server(("127.0.0.1", 0), _Request)
    server.handler = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@attrs.define
class ToolSite:
    """The tool's routes, on ``http://localhost:<port>``."""

    base_url: str
    tool: Tool[Any, Any] = attrs.field(repr=False)
    set_cookie: bool = True
    events: list[tuple[str, dict[str, Any]]] = attrs.field(factory=list)

    def handle(self, method: str, path: str, params: dict[str, str], headers: Any) -> Response:
        """One request to the tool."""
        try:
            if path == "/login":
                return self._login(method, params)
            if path == "/launch":
                return self._launch(params, headers)
            if path == "/finish":
                launch = self.tool.finish_storage_launch(params, origin=headers.get("Origin"))
                return self._launched("storage", launch)
        except CredltiError as exc:
            self.events.append(("error", {"path": path, "code": exc.code}))
            return _html(f'<p id="error">{html.escape(exc.code)}</p>', exc.http_status)
        return _html("not found", 404)

    def _login(self, method: str, params: dict[str, str]) -> Response:
        redirect = self.tool.handle_login(params, self.base_url + "/launch")
        self.events.append(("login", {"method": method, "params": dict(params)}))
        cookies = [("Set-Cookie", redirect.set_cookie_header())] if self.set_cookie else []
        if redirect.storage_target is None:
            return 302, [("Location", redirect.url), *cookies], ""
        nonce = secrets.token_urlsafe(16)
        page = redirect.login_page(csp_nonce=nonce, login_url=self.base_url + "/login")
        return 200, [*page_headers(nonce), *cookies], page

    def _launch(self, params: dict[str, str], headers: Any) -> Response:
        jar: SimpleCookie = SimpleCookie(headers.get("Cookie") or "")
        morsel = jar.get(state_cookie_name(params.get("state", "")))
        if morsel is not None:
            return self._launched("cookie", self.tool.handle_callback(params, morsel.value))
        pending = self.tool.start_storage_launch(params, finish_url=self.base_url + "/finish")
        self.events.append(("pending", {"state": pending.state}))
        nonce = secrets.token_urlsafe(16)
        return 200, page_headers(nonce), pending.page(csp_nonce=nonce)

    def _launched(self, how: str, launch: LaunchContext[Any, Any]) -> Response:
        self.events.append(("launched", {"how": how, "sub": launch.claims.subject}))
        return _html(f'<p id="launched">Launched via {how} as {launch.claims.subject}</p>')

    def finished(self) -> list[dict[str, Any]]:
        """The launches that completed."""
        return [data for name, data in self.events if name == "launched"]


@attrs.define
class PlatformSite:
    """The scripted platform's routes, on ``http://127.0.0.1:<port>``."""

    base_url: str
    attacker_url: str
    simulated: SimulatedPlatform = attrs.field(repr=False)
    scenarios: dict[str, Scenario] = attrs.field(factory=dict)

    def course_url(self, tool: ToolSite, scenario: Scenario, *, send_target: bool = True) -> str:
        """The course page embedding *tool* under *scenario* (a fresh login)."""
        params = self.simulated.login_params(target_link_uri=tool.base_url + "/launch")
        if send_target:
            params["lti_storage_target"] = scenario.target
        self.scenarios[params["login_hint"]] = scenario
        return f"{self.base_url}/course?" + urlencode(
            {"tool": f"{tool.base_url}/login?{urlencode(params)}", "hint": params["login_hint"]}
        )

    def handle(self, method: str, path: str, params: dict[str, str], headers: Any) -> Response:
        """One request to the platform."""
        if path == "/course":
            scenario = self.scenarios[params["hint"]]
            frames = [
                f'<iframe name="tool" src="{html.escape(params["tool"])}" '
                'width="700" height="300"></iframe>',
                f'<iframe name="attacker" src="{self.attacker_url}/attacker"></iframe>',
            ]
            if scenario.frame:  # in place before the tool loads, as platforms do
                frames.insert(
                    0,
                    f'<iframe name="{scenario.frame}" '
                    f'src="/forwarder?hint={html.escape(params["hint"])}"></iframe>',
                )
            return _html(_page("".join(frames), role="top", scenario=scenario))
        if path == "/forwarder":
            return _html(_page("", role="forwarder", scenario=self.scenarios[params["hint"]]))
        if path == "/auth":
            return self._authorize(params)
        return _html("not found", 404)

    def _authorize(self, params: dict[str, str]) -> Response:
        url = f"{self.base_url}/auth?{urlencode(params)}"
        form = self.simulated.launch(url)
        scenario = self.scenarios[params["login_hint"]]
        if scenario.target:
            form["lti_storage_target"] = scenario.target
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in form.items()
        )
        body = (
            f'<form method="post" action="{html.escape(params["redirect_uri"])}">{inputs}</form>'
            "<script>document.forms[0].submit()</script>"
        )
        return _html(body)


def _attacker(method: str, path: str, params: dict[str, str], headers: Any) -> Response:
    return _html(f"<!DOCTYPE html><html><body><script>{_ATTACKER_JS}</script></body></html>")


@attrs.frozen
class Sites:
    """The running platform and tool."""

    platform: PlatformSite
    tool: ToolSite


@contextlib.contextmanager
def start_sites(*, set_cookie: bool = True) -> Iterator[Sites]:
    """Start the platform, the attacker and the tool; stop them afterwards."""
    with (
        _serving(_attacker) as attacker_port,
        _serving(lambda *a: platform.handle(*a)) as platform_port,
        _serving(lambda *a: tool.handle(*a)) as tool_port,
    ):
        simulated = SimulatedPlatform(issuer=f"http://127.0.0.1:{platform_port}")
        platform = PlatformSite(
            base_url=simulated.issuer,
            attacker_url=f"http://127.0.0.1:{attacker_port}",
            simulated=simulated,
        )
        tool = ToolSite(
            base_url=f"http://localhost:{tool_port}",
            tool=simulated.tool(state_secret=secrets.token_bytes(32)),
            set_cookie=set_cookie,
        )
        yield Sites(platform=platform, tool=tool)
