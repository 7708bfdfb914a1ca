"""The browser side of cookieless launches: the pages, their headers and the script.

Rules of this module:

1. Pure text building: no clock, no randomness, no storage. The script is package
   data (``_static/credlti-storage.js``), read once.
2. Every value from a request or a registration is escaped for where it goes: HTML
   text and attributes with :func:`html.escape`, the script's configuration as JSON
   in a ``<script type="application/json">`` block with ``<``, ``>`` and ``&``
   written as JSON Unicode escapes, so no value can close the block (``</script>``).
3. The pages run exactly one script, the package's own, unchanged: a Content
   Security Policy allows it by its SHA-256 hash (constant) and by the host's
   nonce when one is given. No inline handler, no ``eval``.
4. Frame names are checked here, once: ``_parent`` or a name of at most 64 letters,
   digits, ``_``, ``.`` and ``-`` that starts with a letter or digit (no ``_top``,
   ``_blank``, ``_self``, no markup).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from credlti.errors import InvalidParameterError

__all__ = [
    "BINDING_FIELD",
    "PENDING_FIELD",
    "STORAGE_KEY_PREFIX",
    "binding_storage_key",
    "fallback_page",
    "launch_page",
    "login_page",
    "origin_of",
    "page_headers",
    "parse_storage_target",
    "storage_script",
]

#: The finish form's field holding the pending-launch handle.
PENDING_FIELD = "credlti_pending"
#: The finish form's field holding the binding read back from platform storage.
BINDING_FIELD = "credlti_binding"
#: Platform-storage keys of state bindings: this prefix plus the OIDC ``state``.
STORAGE_KEY_PREFIX = "credlti_state_"

#: Milliseconds the script waits for a capabilities answer, then for put/get data.
CAPABILITIES_TIMEOUT_MS = 2000
STORAGE_TIMEOUT_MS = 4000

_FRAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_NONCE = re.compile(r"[A-Za-z0-9+/_=-]{1,128}\Z")
_SOURCE = re.compile(r"[A-Za-z0-9*][A-Za-z0-9*.:/\[\]_-]{0,255}\Z")
_SCRIPT_NAME = "credlti-storage.js"

_FALLBACK_TEXT = (
    "Your browser blocks the storage this tool needs while it is shown inside the platform's page."
)


def parse_storage_target(value: str | None) -> str | None:
    """Check an ``lti_storage_target`` value; ``None`` or empty means no platform storage.

    Raises:
        InvalidParameterError: Not ``_parent`` nor a safe frame name.
    """
    if not value:
        return None
    if value == "_parent" or (len(value) <= 64 and _FRAME.match(value)):
        return value
    msg = (
        "parameter 'lti_storage_target' must be '_parent' or a frame name of at most 64 "
        "letters, digits, '_', '.' or '-'"
    )
    raise InvalidParameterError(
        msg, spec_ref="LTI Client Side postMessages", details={"parameter": "lti_storage_target"}
    )


def binding_storage_key(state: str) -> str:
    """The platform-storage key under which a login keeps the binding of *state*."""
    return STORAGE_KEY_PREFIX + state


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, as ``event.origin`` spells it."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


@lru_cache(maxsize=1)
def storage_script() -> str:
    """The platform-storage script (plain JavaScript, no dependencies).

    The pages inline it; a host that prefers to serve it as a file (with its own
    CSP) can serve this text as ``application/javascript``.
    """
    return (resources.files("credlti.lti") / "_static" / _SCRIPT_NAME).read_text("utf-8")


@lru_cache(maxsize=1)
def _script_hash() -> str:
    digest = hashlib.sha256(storage_script().encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _check_nonce(csp_nonce: str | None) -> str | None:
    if csp_nonce is None:
        return None
    given: object = csp_nonce
    if not isinstance(given, str) or not _NONCE.match(given):
        msg = "csp_nonce must be 1 to 128 base64 characters"
        raise ValueError(msg)
    return csp_nonce


def page_headers(
    csp_nonce: str | None = None, *, frame_ancestors: str | Iterable[str] = "*"
) -> list[tuple[str, str]]:
    """Response headers for the login, launch and fallback pages.

    The Content Security Policy allows no resource but the page's one script
    (by its hash, and by *csp_nonce* when given: pass the nonce the page was built
    with). The pages are meant to be framed by the platform: *frame_ancestors*
    (``"*"`` by default, or the platforms' origins) goes into ``frame-ancestors``.

    Raises:
        ValueError: *csp_nonce* or a *frame_ancestors* entry cannot go in a header.
    """
    nonce = _check_nonce(csp_nonce)
    given: object = frame_ancestors
    sources: list[object] = [given] if isinstance(given, str) else list(frame_ancestors)
    if not sources or not all(isinstance(s, str) and _SOURCE.match(s) for s in sources):
        msg = "frame_ancestors must be '*' or origins such as 'https://lms.example.edu'"
        raise ValueError(msg)
    script_src = [_script_hash()]
    if nonce is not None:
        script_src.append(f"'nonce-{nonce}'")
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(script_src),
            "base-uri 'none'",
            "frame-ancestors " + " ".join(str(s) for s in sources),
        ]
    )
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", policy),
        # same-origin, not no-referrer: nothing goes to other sites, but the launch
        # page's POST to the finish URL keeps its Origin header (no-referrer makes it
        # "null"), which finish_storage_launch compares with the finish URL's origin.
        ("Referrer-Policy", "same-origin"),
        ("X-Content-Type-Options", "nosniff"),
    ]


def _json_block(config: Mapping[str, Any]) -> str:
    text = json.dumps(dict(config), ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="credlti-storage-config">{text}</script>'


def _script_tag(nonce: str | None) -> str:
    attribute = "" if nonce is None else f' nonce="{html.escape(nonce, quote=True)}"'
    return f"<script{attribute}>{storage_script()}</script>"


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="referrer" content="same-origin">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def _hidden_inputs(params: Mapping[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{html.escape(name, quote=True)}" '
        f'value="{html.escape(value, quote=True)}">'
        for name, value in params.items()
    )


def _new_window_form(login_url: str | None, params: Mapping[str, str]) -> str:
    action = "" if login_url is None else f' action="{html.escape(login_url, quote=True)}"'
    return (
        f'<form method="post" target="_blank"{action}>{_hidden_inputs(params)}'
        '<button type="submit">Open in a new window</button></form>'
        "<p>Then continue in the new window.</p>"
    )


def fallback_page(
    login_url: str | None = None,
    params: Mapping[str, str] | None = None,
    *,
    csp_nonce: str | None = None,
) -> str:
    """A page saying the tool cannot run in this frame, with a way out.

    With *login_url*, a button opens the tool's login (POSTing *params*: the login
    initiation parameters, without ``lti_storage_target``) in a new window, where
    the browser keeps the tool's cookies. Without it, the page asks the user to open
    the tool in a new window from the platform. Serve it with :func:`page_headers`.
    The page runs no script; *csp_nonce* is accepted for symmetry and checked.
    """
    _check_nonce(csp_nonce)
    way_out = (
        _new_window_form(login_url, dict(params or {}))
        if login_url is not None
        else "<p>Open the tool in a new window from the platform, then continue there.</p>"
    )
    body = f'<div id="credlti-fallback"><p>{html.escape(_FALLBACK_TEXT)}</p>{way_out}</div>'
    return _page("Open in a new window", body)


def login_page(
    *,
    next_url: str,
    platform_origin: str,
    storage_target: str | None,
    state: str,
    binding: str,
    login_url: str | None,
    login_params: Mapping[str, str],
    csp_nonce: str | None,
) -> str:
    """The login answer that stores the binding in platform storage, then goes on.

    The script asks for ``lti.capabilities``, puts the binding under
    :func:`binding_storage_key` with ``lti.put_data`` and navigates to *next_url*
    (the platform's authorization URL). Without platform storage it navigates when
    this frame keeps cookies (the state cookie carries the binding), and otherwise
    shows the new-window fallback.
    """
    nonce = _check_nonce(csp_nonce)
    config = {
        "mode": "login",
        "origin": platform_origin,
        "target": storage_target,
        "key": binding_storage_key(state),
        "value": binding,
        "next": next_url,
        "capabilities_timeout": CAPABILITIES_TIMEOUT_MS,
        "timeout": STORAGE_TIMEOUT_MS,
    }
    body = "\n".join(
        [
            '<p id="credlti-status">Signing you in&hellip;</p>',
            f'<noscript><p><a href="{html.escape(next_url, quote=True)}">Continue</a></p>'
            "</noscript>",
            f'<div id="credlti-fallback" hidden><p>{html.escape(_FALLBACK_TEXT)}</p>'
            f"{_new_window_form(login_url, login_params)}</div>",
            _json_block(config),
            _script_tag(nonce),
        ]
    )
    return _page("Signing in", body)


def launch_page(
    *,
    finish_url: str,
    platform_origin: str,
    storage_target: str,
    state: str,
    pending: str,
    csp_nonce: str | None,
) -> str:
    """The launch answer that reads the binding back and posts it to *finish_url*.

    The script asks for ``lti.capabilities``, gets :func:`binding_storage_key` with
    ``lti.get_data`` and submits the form ``{credlti_pending, credlti_binding}``;
    when the platform cannot answer it shows the fallback text.
    """
    nonce = _check_nonce(csp_nonce)
    config = {
        "mode": "launch",
        "origin": platform_origin,
        "target": storage_target,
        "key": binding_storage_key(state),
        "capabilities_timeout": CAPABILITIES_TIMEOUT_MS,
        "timeout": STORAGE_TIMEOUT_MS,
    }
    form = (
        f'<form id="credlti-finish" method="post" action="{html.escape(finish_url, quote=True)}">'
        f"{_hidden_inputs({PENDING_FIELD: pending, BINDING_FIELD: ''})}</form>"
    )
    body = "\n".join(
        [
            '<p id="credlti-status">Launching&hellip;</p>',
            "<noscript><p>This launch needs JavaScript, or open the tool in a new window "
            "from the platform.</p></noscript>",
            f'<div id="credlti-fallback" hidden><p>{html.escape(_FALLBACK_TEXT)}</p>'
            "<p>Open the tool in a new window from the platform, then continue there.</p></div>",
            form,
            _json_block(config),
            _script_tag(nonce),
        ]
    )
    return _page("Launching", body)
