"""``credlti platform serve``: a local LMS to develop and test an LTI 1.3 tool against.

It serves :class:`credlti.testing.DevPlatform` on a loopback port, on the wall clock,
with its state in memory: register a tool by its URLs (the home page's form, or the
``--tool-*`` options here) or by LTI Dynamic Registration, open the course page to
launch it in an iframe, and read the grades and deep-link items it sent back.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from typing import Any, TextIO

from credlti.testing import serve_platform

__all__ = ["add_parser", "platform_command"]


def add_parser(commands: Any) -> None:
    """Add ``credlti platform`` to the *commands* subparsers."""
    parser = commands.add_parser(
        "platform",
        help="run a local LTI 1.3 platform (an LMS) to develop a tool against",
        description="serve: start a local LMS with a real clock and in-memory state. "
        "Open its home page to register a tool (by its URLs or by dynamic registration) "
        "and to launch it from a course page. Ctrl-C stops it.",
        epilog="exit status: 0 stopped with Ctrl-C; 2 bad options or the port is taken",
    )
    parser.add_argument("action", choices=["serve"])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to listen on (8000; 0 picks a free one)"
    )
    parser.add_argument("--tool-name", default="", help="register a tool at start: its name")
    parser.add_argument("--tool-login-url", help="the tool's OIDC login initiation URL")
    parser.add_argument("--tool-launch-url", help="the tool's launch (redirect) URL")
    parser.add_argument("--tool-jwks-url", help="the tool's public key set URL")
    parser.add_argument("--tool-deep-link-url", help="the tool's deep-linking launch URL")
    parser.add_argument("--tool-client-id", help="the client id to give the tool")
    parser.add_argument("--tool-deployment-id", help="the deployment id to give the tool")
    parser.add_argument("--verbose", action="store_true", help="log every request")


def platform_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``credlti platform serve`` until Ctrl-C; return the exit status."""
    urls = (args.tool_login_url, args.tool_launch_url, args.tool_jwks_url)
    if any(urls) and not all(urls):
        err.write("error: --tool-login-url, --tool-launch-url and --tool-jwks-url go together\n")
        return 2
    with contextlib.ExitStack() as stack:
        try:
            platform = stack.enter_context(
                serve_platform(host=args.host, port=args.port, verbose=args.verbose)
            )
        except OSError as exc:
            err.write(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}\n")
            return 2
        base = platform.base_url
        out.write(
            f"credlti dev platform on {base} (Ctrl-C to stop)\n"
            f"  issuer          {base}\n"
            f"  auth endpoint   {base}/auth\n"
            f"  token endpoint  {base}/token\n"
            f"  key set (JWKS)  {base}/.well-known/jwks.json\n"
            f"  dynamic registration: {base}/.well-known/openid-configuration\n"
        )
        if all(urls):
            try:
                tool = platform.register_tool(
                    name=args.tool_name,
                    login_url=args.tool_login_url,
                    launch_url=args.tool_launch_url,
                    jwks_url=args.tool_jwks_url,
                    deep_link_url=args.tool_deep_link_url,
                    client_id=args.tool_client_id,
                    deployment_id=args.tool_deployment_id,
                )
            except ValueError as exc:
                err.write(f"error: {exc}\n")
                return 2
            out.write(
                f"registered {tool.name}: client id {tool.client_id}, deployment "
                f"{tool.deployment_id}\n  launch it: {base}/course?tool={tool.number}\n"
            )
        out.flush()
        try:
            threading.Event().wait()  # the server runs in its own thread
        except KeyboardInterrupt:
            out.write("stopped\n")
            out.flush()
    return 0
