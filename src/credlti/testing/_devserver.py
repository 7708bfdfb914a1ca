"""Serve the dev platform over HTTP with the standard library's threading server."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from credlti.testing._devplatform import DevPlatform, Request

__all__ = ["make_server", "serve_platform"]

_MAX_BODY = 1_000_000


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        form: dict[str, str] = {}
        if content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            form=form,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.server.platform.handle(request)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer  # noqa: N815 - stdlib names

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    platform: DevPlatform
    verbose: bool = False


def make_server(
    host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False, key_size: int = 2048
) -> tuple[ThreadingHTTPServer, DevPlatform]:
    """Bind the dev platform's server (not yet serving); return it and the platform."""
    server = _Server((host, port), _Handler)
    bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    server.platform = DevPlatform(f"http://{shown}:{bound_port}", key_size=key_size)
    server.verbose = verbose
    return server, server.platform


@contextlib.contextmanager
def serve_platform(
    *, host: str = "127.0.0.1", port: int = 0, verbose: bool = False, key_size: int = 2048
) -> Iterator[DevPlatform]:
    """Run the dev platform in a background thread; yield it; stop it on exit.

    Example::

        with serve_platform(port=0) as platform:
            tool = platform.register_tool(login_url=..., launch_url=..., jwks_url=...)
            print(platform.base_url, tool.client_id)
    """
    server, platform = make_server(host, port, verbose=verbose, key_size=key_size)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.1,), name="credlti-dev-platform", daemon=True
    )
    thread.start()
    try:
        yield platform
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        platform.http_client.close()
