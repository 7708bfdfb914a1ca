"""The tools the browser tests launch, each on its own ``http://localhost:<port>`` site.

- ``core``: tests/browser/devtool.py, written by hand on the framework-free core;
- ``flask``, ``starlette``, ``django``: the examples (examples/*_tool.py, built on
  ``credlti.contrib``), each started as a server in its own process with the command
  line a user would type, registered with the dev platform by URLs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx

from credlti.testing import DevPlatform
from tests.browser.devtool import serve_tool

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("flask", "starlette", "django")
_START_TIMEOUT = 30.0


@attrs.frozen(kw_only=True)
class Site:
    """A running tool registered with the platform, and how to drive its pages."""

    name: str
    base_url: str
    launch_url: str
    register_url: str
    number: int  # the tool's number on the dev platform
    launched_text: str
    grade_button: str
    graded_text: str
    deep_link_button: str


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(process: subprocess.Popen[str], url: str, name: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            msg = f"examples/{name}_tool.py exited with {process.returncode}:\n{output}"
            raise RuntimeError(msg)
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    msg = f"examples/{name}_tool.py did not answer {url} within {_START_TIMEOUT} s"
    raise RuntimeError(msg)


@contextlib.contextmanager
def example_site(platform: DevPlatform, name: str) -> Iterator[Site]:
    """Run ``examples/<name>_tool.py`` as a server on localhost, registered by URLs."""
    port = free_port()
    base = f"http://localhost:{port}"
    slash = "/" if name == "django" else ""
    client_id = f"credlti-{name}-example"
    command = [
        sys.executable,
        str(ROOT / "examples" / f"{name}_tool.py"),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--base-url", base,
        "--platform-url", platform.base_url,
        "--client-id", client_id,
        "--deployment-id", "deployment-1",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        _wait_until_serving(process, f"{base}/jwks.json", name)
        tool = platform.register_tool(
            name=f"{name.title()} example",
            login_url=f"{base}/login{slash}",
            launch_url=f"{base}/launch{slash}",
            jwks_url=f"{base}/jwks.json",
            deep_link_url=f"{base}/launch{slash}",
            client_id=client_id,
            deployment_id="deployment-1",
        )
        yield Site(
            name=name,
            base_url=base,
            launch_url=tool.launch_url,
            register_url=f"{base}/register{slash}",
            number=tool.number,
            launched_text="Launched",
            grade_button="#grade",
            graded_text="Score 7/10 sent.",
            deep_link_button="#add",
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextlib.contextmanager
def core_site(platform: DevPlatform) -> Iterator[Site]:
    """Serve tests/browser/devtool.py on localhost, registered by URLs."""
    with serve_tool() as core:
        core.install(platform)
        yield Site(
            name="core",
            base_url=core.base_url,
            launch_url=core.urls["launch_url"],
            register_url=f"{core.base_url}/register",
            number=platform.tools[-1].number,
            launched_text="Launched",
            grade_button="#send-grade",
            graded_text="Grade sent",
            deep_link_button="#add-items",
        )


@attrs.define
class Sites:
    """The tools of one platform, each started on first use and stopped at :meth:`close`."""

    platform: DevPlatform
    _running: dict[str, Site] = attrs.field(factory=dict)
    _stack: contextlib.ExitStack = attrs.field(factory=contextlib.ExitStack)

    def get(self, name: str) -> Site:
        """The running tool *name* (``core`` or an example's framework)."""
        if name not in self._running:
            started = (
                core_site(self.platform) if name == "core" else example_site(self.platform, name)
            )
            self._running[name] = self._stack.enter_context(started)
        return self._running[name]

    def close(self) -> None:
        """Stop every tool started."""
        self._stack.close()
