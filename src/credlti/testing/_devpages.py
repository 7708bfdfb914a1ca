"""The dev platform's HTML pages and the platform side of LTI platform storage.

Plain HTML with a little inline script, no dependency. Every value shown is escaped;
values given to scripts go through JSON in a ``data-`` attribute.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "STORAGE_FRAME",
    "auth_error_page",
    "course_page",
    "deep_link_page",
    "form_post_page",
    "grades_page",
    "home_page",
    "register_page",
    "storage_frame_page",
]

#: The name of the hidden frame that answers the platform-storage messages (as Canvas).
STORAGE_FRAME = "post_message_forwarding"

_STYLE = (
    "<style>body{font-family:sans-serif;margin:1.5em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .5em;"
    "text-align:left}iframe.tool{width:100%;height:30em;border:1px solid #888}"
    "code{background:#f3f3f3}</style>"
)

# The platform side of the LTI Client Side postMessages draft (lti.capabilities,
# lti.put_data, lti.get_data). It answers only the origins of registered tools, to
# the asking window and origin, with "<subject>.response" and the same message_id.
# Storage is a map partitioned by the sender's origin: a tool never reads another's.
_STORAGE_SCRIPT = """
(function () {
  var script = document.currentScript;
  var allowed = JSON.parse(script.getAttribute("data-origins"));
  var frame = script.getAttribute("data-frame");
  var store = new Map();
  var log = window.credltiStorageLog = [];
  var supported = ["lti.capabilities", "lti.put_data", "lti.get_data"];
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.subject !== "string") { return; }
    if (allowed.indexOf(event.origin) < 0 || !event.source) {
      log.push({origin: event.origin, subject: data.subject, refused: "origin"});
      return;
    }
    var subject = data.subject.replace(/^org\\.imsglobal\\./, "");
    if (/\\.response$/.test(subject)) { return; }
    var reply = {subject: data.subject + ".response", message_id: data.message_id};
    var key = data.key;
    if (supported.indexOf(subject) < 0) {
      reply.error = {code: "unsupported_subject", message: "unsupported subject " + subject};
    } else if (typeof data.message_id !== "string" || !data.message_id) {
      reply.error = {code: "bad_request", message: "message_id is required"};
    } else if (subject === "lti.capabilities") {
      reply.supported_messages = supported.map(function (name) {
        return frame ? {subject: name, frame: frame} : {subject: name};
      });
    } else if (typeof key !== "string" || !key) {
      reply.error = {code: "bad_request", message: "key must be a non-empty string"};
    } else if (subject === "lti.put_data") {
      if (typeof data.value !== "string") {
        reply.error = {code: "bad_request", message: "value must be a string"};
      } else {
        store.set(event.origin + "\\n" + key, data.value);
        reply.key = key;
        reply.value = data.value;
      }
    } else {
      var found = store.get(event.origin + "\\n" + key);
      reply.key = key;
      if (found === undefined) {
        reply.error = {code: "not_found", message: "no value stored under this key"};
      } else {
        reply.value = found;
      }
    }
    log.push({origin: event.origin, subject: data.subject, error: reply.error || null});
    event.source.postMessage(reply, event.origin);
  });
})();
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"{_STYLE}</head><body>{body}</body></html>"
    )


def _storage_script(origins: Iterable[str], frame: str | None) -> str:
    return (
        f'<script data-origins="{_e(json.dumps(sorted(set(origins))))}" '
        f'data-frame="{_e(frame or "")}">{_STORAGE_SCRIPT}</script>'
    )


def storage_frame_page(origins: Iterable[str]) -> str:
    """The hidden frame the tool writes its login state into (platform storage)."""
    return _page("Platform storage", _storage_script(origins, STORAGE_FRAME))


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def home_page(base_url: str, tools: Sequence[Mapping[str, Any]]) -> str:
    """The platform's home: its endpoints, the tools, the two registration forms."""
    endpoints = {
        "Issuer": base_url,
        "OIDC auth endpoint": f"{base_url}/auth",
        "Token endpoint": f"{base_url}/token",
        "Key set (JWKS)": f"{base_url}/.well-known/jwks.json",
        "OpenID configuration": f"{base_url}/.well-known/openid-configuration",
    }
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in endpoints.items()
    )
    items = []
    for tool in tools:
        number = tool["number"]
        links = " · ".join(
            f'<a href="/course?tool={number}&amp;role={role}&amp;message={message}">'
            f"{label} as {role}</a>"
            for message, label in (("resource", "Launch"), ("deep", "Deep link"))
            for role in ("instructor", "learner")
        )
        items.append(
            f'<li id="tool-{number}"><strong>{_e(tool["name"])}</strong>: client id '
            f'<code class="client-id">{_e(tool["client_id"])}</code>, deployment '
            f'<code class="deployment-id">{_e(tool["deployment_id"])}</code>, login '
            f"<code>{_e(tool['login_url'])}</code>, launch <code>{_e(tool['launch_url'])}</code>"
            f"<br>{links}</li>"
        )
    tool_list = "<ul>" + "".join(items) + "</ul>" if items else "<p><em>No tool yet.</em></p>"
    field = '<label>{label} <input name="{name}" size="50"{extra}></label><br>'
    form = "".join(
        field.format(label=label, name=name, extra=extra)
        for label, name, extra in (
            ("Name", "name", ' value="My tool"'),
            ("Login initiation URL", "login_url", " required"),
            ("Launch (redirect) URL", "launch_url", " required"),
            ("JWKS URL", "jwks_url", " required"),
            ("Deep-linking URL (optional)", "deep_link_url", ""),
            ("Client id (optional)", "client_id", ""),
            ("Deployment id (optional)", "deployment_id", ""),
        )
    )
    body = (
        "<h1>credlti dev platform</h1>"
        "<p>A local LMS for developing LTI 1.3 tools. State is in memory.</p>"
        f"<table>{rows}</table><h2>Tools</h2>{tool_list}"
        '<p><a href="/grades">Grades and deep-link items</a></p>'
        '<h2>Register a tool by its URLs</h2><form method="post" action="/tools">'
        f'{form}<button type="submit">Register</button></form>'
        "<h2>Register a tool dynamically</h2>"
        '<form method="get" action="/register"><label>Registration URL '
        '<input name="url" size="50" required></label> '
        '<button type="submit">Start dynamic registration</button></form>'
    )
    return _page("credlti dev platform", body)


def register_page(registration_url: str, tool_origin: str) -> str:
    """The tool's registration page in a frame; closes on ``org.imsglobal.lti.close``."""
    script = (
        f'<script data-origin="{_e(tool_origin)}">(function () {{'
        'var origin = document.currentScript.getAttribute("data-origin");'
        'window.addEventListener("message", function (event) {'
        "  if (event.origin !== origin || !event.data) { return; }"
        '  if (event.data.subject === "org.imsglobal.lti.close") {'
        '    document.getElementById("status").textContent = "Registration finished.";'
        '    window.location.assign("/");'
        "  }"
        "});})();</script>"
    )
    body = (
        "<h1>Dynamic registration</h1>"
        '<p id="status">The tool\'s registration page runs below; it closes itself.</p>'
        f'<iframe class="tool" name="registration" src="{_e(registration_url)}"></iframe>{script}'
    )
    return _page("Dynamic registration", body)


def course_page(
    *, tool_name: str, tool_origin: str, login_url: str, role: str, message: str, storage: str
) -> str:
    """The course page: the tool in an iframe, the platform-storage frame beside it.

    The tool's frame starts its login only once the storage frame is ready, so the
    tool's first ``lti.capabilities`` message always finds an answer.
    """
    tool_frame = (
        f'<iframe class="tool" id="tool" name="tool-frame" src="{_e(login_url)}" '
        'allow="clipboard-write"></iframe>'
    )
    storage_frame = ""
    if storage != "none":
        # The tool's frame is created (with its URL) once the storage frame has loaded.
        storage_frame = (
            f'<iframe name="{STORAGE_FRAME}" src="/storage-frame" hidden '
            'onload="credltiStartTool()"></iframe>'
            f'<div id="tool-slot" data-src="{_e(login_url)}"></div><script>'
            "function credltiStartTool() {"
            '  var slot = document.getElementById("tool-slot");'
            '  if (document.getElementById("tool")) { return; }'
            '  var frame = document.createElement("iframe");'
            '  frame.id = "tool"; frame.name = "tool-frame"; frame.className = "tool";'
            '  frame.allow = "clipboard-write";'
            '  frame.src = slot.getAttribute("data-src");'
            "  slot.appendChild(frame);"
            "}</script>"
        )
        tool_frame = ""
    body = (
        "<h1>Introduction to Computing (CS101)</h1>"
        f"<p>{_e(tool_name)} at <code>{_e(tool_origin)}</code>, as <strong>{_e(role)}</strong>, "
        f'{_e(message)} launch. <a href="/">Platform home</a> · <a href="/grades">Grades</a></p>'
        f"{storage_frame}{tool_frame}{_storage_script([tool_origin], None)}"
    )
    return _page("Course: Introduction to Computing", body)


def form_post_page(action: str, fields: Mapping[str, str], title: str) -> str:
    """A page that posts *fields* to *action* at once (OIDC ``form_post``)."""
    inputs = "".join(
        f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in fields.items()
    )
    body = (
        f'<form id="post" method="post" action="{_e(action)}">{inputs}'
        f'<noscript><button type="submit">Continue</button></noscript></form>'
        '<script>document.getElementById("post").submit();</script>'
    )
    return _page(title, body)


def auth_error_page(reason: str) -> str:
    """What the auth endpoint shows when it refuses a request (never posts anything)."""
    body = f'<h1>Launch refused by the platform</h1><p id="reason">{_e(reason)}</p>'
    return _page("Launch refused", body)


def deep_link_page(items: Sequence[Mapping[str, Any]], error: str | None) -> str:
    """The deep-link return: the items the platform received, or why it refused them."""
    if error is not None:
        body = f'<h1>Deep-linking response refused</h1><p id="reason">{_e(error)}</p>'
        return _page("Deep linking refused", body)
    rows = [
        {"type": i.get("type", ""), "title": i.get("title", ""), "url": i.get("url", "")}
        for i in items
    ]
    body = (
        f'<h1>Deep-linking items received</h1><p id="count">{len(items)} item(s)</p>'
        f'{_table(rows, ("type", "title", "url"))}<p><a href="/grades" target="_top">'
        "Grades and items</a></p>"
    )
    return _page("Deep-linking items received", body)


def grades_page(tools: Sequence[Mapping[str, Any]]) -> str:
    """Every tool's line items with their scores, and the deep-link items received."""
    parts = ["<h1>Grades and deep-link items</h1>", '<p><a href="/">Platform home</a></p>']
    for tool in tools:
        parts.append(f"<h2>{_e(tool['name'])} (<code>{_e(tool['client_id'])}</code>)</h2>")
        for item in tool["line_items"]:
            parts.append(
                f"<h3>Line item: {_e(item['label'])} (out of {_e(item['scoreMaximum'])})</h3>"
            )
            parts.append(
                _table(
                    item["scores"],
                    (
                        "userId",
                        "scoreGiven",
                        "scoreMaximum",
                        "activityProgress",
                        "gradingProgress",
                        "comment",
                        "timestamp",
                    ),
                )
            )
        parts.append("<h3>Deep-link items received</h3>")
        parts.append(_table(tool["deep_link_items"], ("type", "title", "url", "received")))
    return _page("Grades", "".join(parts))
