"""A loopback OAuth 2.0 provider for tests, written from RFC 6749 and RFC 7636.

A real HTTP server on 127.0.0.1 (an ephemeral port) in a daemon thread. It checks
what it receives and records every violation in :attr:`LoopbackProvider.violations`
(tests assert it stays empty), answering as a strict provider would:

- ``GET /authorize``: ``response_type=code``, a known ``client_id``, the registered
  ``redirect_uri``, ``code_challenge_method=S256`` with a 43-character challenge and
  a state; "the user" consents at once and the server answers 302 to the redirect
  URI with a fresh single-use code (or ``error=access_denied`` when told to deny);
- ``POST /token``: form body, ``grant_type`` ``authorization_code`` (code known,
  unused, unexpired; ``redirect_uri`` identical to the authorize request's; the
  PKCE verifier hashes to the challenge) or ``refresh_token``; client
  authentication as registered (HTTP Basic with URL-encoded parts, form fields, or
  a public client sending only its id); a reused code is refused and revokes the
  tokens issued for it (RFC 6749 §4.1.2);
- ``GET /userinfo``: a Bearer access token it issued.

Bounded and self-stopping: at most ``max_requests`` requests, and a watchdog shuts
the server down after ``lifetime`` seconds even if a test forgets to.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import attrs

Response = tuple[int, dict[str, str], bytes]


@attrs.define
class Grant:
    """One issued authorization code and what it was bound to."""

    client_id: str
    redirect_uri: str
    challenge: str
    scopes: tuple[str, ...]
    used: bool = False
    tokens: list[str] = attrs.field(factory=list)


@attrs.define
class LoopbackProvider:
    """The provider's state; :meth:`start` serves it on 127.0.0.1."""

    client_id: str = "loop-client"
    client_secret: str = "loop-S3cret-value"
    redirect_uri: str = "http://127.0.0.1/callback"
    #: ``client_secret_post``, ``client_secret_basic`` or ``none``.
    auth_method: str = "client_secret_post"
    #: Scopes granted; ``None`` grants what was asked.
    grant_scopes: tuple[str, ...] | None = None
    #: Echo ``scope`` in the token response.
    echo_scope: bool = True
    #: Answer the authorize request with this error instead of a code.
    deny: str | None = None
    #: Replace the token endpoint's answer (after the checks pass).
    token_override: Callable[[], Response] | None = None
    issue_refresh_token: bool = True
    #: Replace the refresh grant's answer (after client authentication passes).
    refresh_override: Callable[[], Response] | None = None
    #: Answer every userinfo request with this status instead.
    userinfo_status: int | None = None
    max_requests: int = 200
    lifetime: float = 60.0

    violations: list[str] = attrs.field(factory=list)
    requests: list[tuple[str, str]] = attrs.field(factory=list)
    grants: dict[str, Grant] = attrs.field(factory=dict)
    access_tokens: set[str] = attrs.field(factory=set)
    refresh_tokens: dict[str, str] = attrs.field(factory=dict)
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    threads: list[threading.Thread] = attrs.field(factory=list)
    watchdog: threading.Timer | None = None

    # ---------------------------------------------------------------- lifecycle

    @property
    def base(self) -> str:
        assert self.server is not None
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> LoopbackProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

            def do_GET(self) -> None:
                self._answer(provider.handle("GET", self.path, self.headers, b""))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20))
                self._answer(provider.handle("POST", self.path, self.headers, body))

            def _answer(self, response: Response) -> None:
                status, headers, body = response
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        serve = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        watchdog = threading.Timer(self.lifetime, self.stop)
        watchdog.daemon = True
        serve.start()
        watchdog.start()
        self.threads = [serve]
        self.watchdog = watchdog
        return self

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self.watchdog is not None:
            self.watchdog.cancel()

    def __enter__(self) -> LoopbackProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- routing

    def violation(self, text: str) -> None:
        self.violations.append(text)

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> Response:
        with self.lock:
            self.requests.append((method, path))
            if len(self.requests) > self.max_requests:
                return _json(503, {"error": "temporarily_unavailable"})
            url = urlsplit(path)
            if method == "GET" and url.path == "/authorize":
                return self._authorize(dict(parse_qsl(url.query)))
            if method == "POST" and url.path == "/token":
                return self._token(headers, body)
            if method == "GET" and url.path == "/userinfo":
                return self._userinfo(headers)
            self.violation(f"unexpected {method} {url.path}")
            return _json(404, {"error": "not_found"})

    def _authorize(self, q: dict[str, str]) -> Response:
        checks = {
            "response_type": q.get("response_type") == "code",
            "client_id": q.get("client_id") == self.client_id,
            "redirect_uri": q.get("redirect_uri") == self.redirect_uri,
            "code_challenge_method": q.get("code_challenge_method") == "S256",
            "code_challenge": len(q.get("code_challenge", "")) == 43,
            "state": bool(q.get("state")),
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            self.violation(f"authorize: bad {', '.join(failed)}")
            return _json(400, {"error": "invalid_request"})
        back = {"state": q["state"]}
        if self.deny:
            back["error"] = self.deny
            back["error_description"] = "The user said no"
        else:
            code = secrets.token_urlsafe(24)
            asked = tuple(q.get("scope", "").split())
            self.grants[code] = Grant(
                client_id=q["client_id"],
                redirect_uri=q["redirect_uri"],
                challenge=q["code_challenge"],
                scopes=self.grant_scopes if self.grant_scopes is not None else asked,
            )
            back["code"] = code
        return 302, {"Location": f"{self.redirect_uri}?{urlencode(back)}"}, b""

    def _client_ok(self, headers: Any, form: dict[str, str]) -> bool:
        auth = headers.get("Authorization")
        if self.auth_method == "client_secret_basic":
            if not auth or not auth.startswith("Basic ") or "client_secret" in form:
                return False
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return unquote(user) == self.client_id and unquote(password) == self.client_secret
        if auth is not None:
            return False
        if self.auth_method == "client_secret_post":
            return (
                form.get("client_id") == self.client_id
                and form.get("client_secret") == self.client_secret
            )
        return form.get("client_id") == self.client_id and "client_secret" not in form

    def _token(self, headers: Any, body: bytes) -> Response:
        if headers.get("Content-Type") != "application/x-www-form-urlencoded":
            self.violation("token: not a form body")
            return _json(400, {"error": "invalid_request"})
        form = dict(parse_qsl(body.decode()))
        if not self._client_ok(headers, form):
            self.violation("token: bad client authentication")
            return _json(401, {"error": "invalid_client"}, {"WWW-Authenticate": "Basic"})
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            return self._refresh(form)
        if grant_type != "authorization_code":
            self.violation(f"token: grant_type {grant_type!r}")
            return _json(400, {"error": "unsupported_grant_type"})
        grant = self.grants.get(form.get("code", ""))
        if grant is None:
            return _json(400, {"error": "invalid_grant"})
        if grant.used:
            for token in grant.tokens:  # RFC 6749 §4.1.2: revoke what the code issued
                self.access_tokens.discard(token)
            return _json(400, {"error": "invalid_grant"})
        grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            self.violation("token: redirect_uri differs from the authorize request")
            return _json(400, {"error": "invalid_grant"})
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return _json(400, {"error": "invalid_grant"})
        if self.token_override is not None:
            return self.token_override()
        return self._issue(grant.scopes, grant.tokens)

    def _issue(self, scopes: tuple[str, ...], record: list[str]) -> Response:
        access = "at-" + secrets.token_urlsafe(16)
        self.access_tokens.add(access)
        record.append(access)
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        if self.issue_refresh_token:
            refresh = "rt-" + secrets.token_urlsafe(16)
            self.refresh_tokens[refresh] = " ".join(scopes)
            answer["refresh_token"] = refresh
        if self.echo_scope:
            answer["scope"] = " ".join(scopes)
        return _json(200, answer, {"Cache-Control": "no-store"})

    def _refresh(self, form: dict[str, str]) -> Response:
        if self.refresh_override is not None:
            return self.refresh_override()
        scopes = self.refresh_tokens.get(form.get("refresh_token", ""))
        if scopes is None:
            return _json(400, {"error": "invalid_grant"})
        access = "at-" + secrets.token_urlsafe(16)
        self.access_tokens.add(access)
        return _json(200, {"access_token": access, "token_type": "Bearer", "expires_in": 3600})

    def _userinfo(self, headers: Any) -> Response:
        if self.userinfo_status is not None:
            return _json(self.userinfo_status, {"error": "invalid_token"})
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in self.access_tokens:
            return _json(401, {"error": "invalid_token"})
        return _json(200, {"sub": "user-42", "email": "alice@provider.example"})


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    merged = {"Content-Type": "application/json", **(headers or {})}
    return status, merged, json.dumps(data).encode()
