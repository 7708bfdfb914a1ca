"""The dev platform's side of platform storage, spoken to directly from tool frames.

Replies go to the asking window and origin as ``<subject>.response`` with the same
``message_id``; values are kept per tool origin; an origin that is not a registered
tool's gets no answer at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Frame, Page

from credlti.testing import DevPlatform, serve_platform
from tests.browser.sites import Site, Sites

pytestmark = pytest.mark.browser

# Ask the platform's storage frame, from the frame this runs in; null when unanswered.
ASK = """async (messages) => {
  const target = window.parent.frames["post_message_forwarding"];
  const ask = (message) => new Promise((resolve) => {
    const id = "m-" + Math.random().toString(36).slice(2);
    const timer = setTimeout(() => {
      window.removeEventListener("message", listen);
      resolve(null);
    }, 1500);
    function listen(event) {
      if (!event.data || event.data.message_id !== id) { return; }
      clearTimeout(timer);
      window.removeEventListener("message", listen);
      resolve({origin: event.origin, data: event.data});
    }
    window.addEventListener("message", listen);
    target.postMessage({...message, message_id: id}, "*");
  });
  const answers = [];
  for (const message of messages) { answers.push(await ask(message)); }
  return answers;
}"""


@pytest.fixture(name="platform", scope="module")
def _platform() -> Iterator[DevPlatform]:
    with serve_platform(port=0) as platform:
        yield platform


@pytest.fixture(name="sites", scope="module")
def _sites(platform: DevPlatform) -> Iterator[Sites]:
    sites = Sites(platform)
    yield sites
    sites.close()


def _frame(page: Page, name: str) -> Frame:
    frame = page.frame(name=name)
    assert frame is not None, name
    return frame


def _ask(frame: Frame, *messages: dict[str, str]) -> list[Any]:
    return list(frame.evaluate(ASK, list(messages)))


def test_storage_answers_each_tool_origin_in_its_own_partition(
    page: Page, platform: DevPlatform, sites: Sites
) -> None:
    core: Site = sites.get("core")
    other: Site = sites.get("flask")
    page.goto(f"{platform.base_url}/course?tool={core.number}&role=learner")
    page.frame_locator("#tool").get_by_text(core.launched_text).wait_for()

    capabilities, put, got, missing, unknown = _ask(
        _frame(page, "tool-frame"),
        {"subject": "lti.capabilities"},
        {"subject": "lti.put_data", "key": "k", "value": "core-value"},
        {"subject": "lti.get_data", "key": "k"},
        {"subject": "lti.get_data", "key": "never-stored"},
        {"subject": "lti.unheard_of"},
    )
    assert capabilities["origin"] == platform.base_url
    assert capabilities["data"]["subject"] == "lti.capabilities.response"
    assert {m["subject"] for m in capabilities["data"]["supported_messages"]} == {
        "lti.capabilities",
        "lti.put_data",
        "lti.get_data",
    }
    assert put["data"]["subject"] == "lti.put_data.response"
    assert (put["data"]["key"], put["data"]["value"]) == ("k", "core-value")
    assert got["data"]["value"] == "core-value"
    assert missing["data"]["error"]["code"] == "not_found"
    assert unknown["data"]["error"]["code"] == "unsupported_subject"

    # Another registered tool, on another origin, does not see the first one's values.
    page.evaluate(
        """(src) => { const f = document.createElement("iframe");
                      f.name = "other"; f.src = src; document.body.appendChild(f); }""",
        f"{other.base_url}/jwks.json",
    )
    page.wait_for_function("() => window.frames['other'] !== undefined")
    other_frame = _frame(page, "other")
    other_frame.wait_for_load_state()
    [foreign] = _ask(other_frame, {"subject": "lti.get_data", "key": "k"})
    assert foreign["data"]["error"]["code"] == "not_found"
    [own_put, own_get] = _ask(
        other_frame,
        {"subject": "lti.put_data", "key": "k", "value": "other-value"},
        {"subject": "lti.get_data", "key": "k"},
    )
    assert own_get["data"]["value"] == "other-value"
    [still] = _ask(_frame(page, "tool-frame"), {"subject": "lti.get_data", "key": "k"})
    assert still["data"]["value"] == "core-value"
    assert own_put["data"]["subject"] == "lti.put_data.response"


def test_storage_ignores_origins_that_are_not_registered_tools(
    page: Page, platform: DevPlatform, sites: Sites
) -> None:
    core = sites.get("core")
    page.goto(f"{platform.base_url}/course?tool={core.number}&role=learner")
    page.frame_locator("#tool").get_by_text(core.launched_text).wait_for()
    # The course page itself (the platform's origin) is no tool: no answer.
    assert _ask(page.main_frame, {"subject": "lti.capabilities"}) == [None]
    log = _frame(page, "post_message_forwarding").evaluate("window.credltiStorageLog")
    assert {"origin": platform.base_url, "subject": "lti.capabilities", "refused": "origin"} in log
