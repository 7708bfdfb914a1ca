"""The tools the browser tests launch, each on its own ``http://localhost:<port>`` site.

``core`` is tests/browser/devtool.py (the framework-free core, written by hand).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import attrs

from credlti.testing import DevPlatform
from tests.browser.devtool import serve_tool


@attrs.frozen(kw_only=True)
class Site:
    """A running tool registered with the platform, and how to drive its pages."""

    name: str
    base_url: str
    launch_url: str
    number: int  # the tool's number on the dev platform
    launched_text: str = "Launched"
    grade_button: str = "#send-grade"
    graded_text: str = "Grade sent"
    deep_link_button: str = "#add-items"


@contextlib.contextmanager
def start_sites(platform: DevPlatform) -> Iterator[dict[str, Site]]:
    """Start every tool, register each with *platform*; stop them afterwards."""
    with contextlib.ExitStack() as stack:
        core = stack.enter_context(serve_tool())
        core.install(platform)
        sites = {
            "core": Site(
                name="core",
                base_url=core.base_url,
                launch_url=core.urls["launch_url"],
                number=platform.tools[-1].number,
            )
        }
        yield sites
