"""Checks on text that arrives from outside (URLs, forms, tokens) before it is used.

Three jobs, all on values a peer chose:

* :func:`id_problem` says whether a value can be stored as an identifier. Every
  adapter must treat an id the same way, whatever its backend accepts: SQLite stores
  NUL and any length, PostgreSQL refuses NUL in text and the drivers refuse lone
  surrogates. So ids are checked once, here, before they reach a port.
* :func:`safe_excerpt` makes a peer's value safe to quote in an error message or in
  error details: bounded, no control or invisible characters, no markup.
* :func:`normalise_url` puts an http(s) URL in the normal form of RFC 3986 §6 so two
  URLs can be compared by origin and path, and refuses URLs whose path different
  servers would read differently (dot segments, encoded separators, backslashes).
"""

from __future__ import annotations

import reprlib
from typing import NamedTuple
from urllib.parse import quote, urlsplit

__all__ = [
    "MAX_EXCERPT_LENGTH",
    "MAX_ID_LENGTH",
    "NormalisedUrl",
    "id_problem",
    "normalise_url",
    "safe_excerpt",
]

#: The longest identifier credlti stores (a VARCHAR(255) column on every backend).
MAX_ID_LENGTH = 255


def id_problem(value: object, *, max_length: int = MAX_ID_LENGTH) -> str | None:
    """Why *value* cannot be an identifier, or ``None`` when it can.

    An identifier is non-empty text of at most *max_length* characters, encodable as
    UTF-8 (no lone surrogates), without control characters (NUL, CR, LF...). The
    reason never repeats the value.
    """
    if not isinstance(value, str):
        return f"must be text, not {type(value).__name__}"
    if not value:
        return "must not be empty"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if not value.isprintable():
        # isprintable() is False for controls, separators other than space, and
        # surrogates; tell the two cases apart for the message.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid text (it holds a lone surrogate)"
        return "must not hold control or separator characters"
    return None


# --------------------------------------------------------------------------- excerpts

#: The longest excerpt of a peer's value (after escaping) quoted in an error.
MAX_EXCERPT_LENGTH = 100

# Markup and quoting characters are escaped so that a message pasted into HTML (even
# into an attribute) or a log line cannot open a tag or close a quoted string.
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\x3c",
    ">": "\\x3e",
    "`": "\\x60",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_SPECIAL = "\\'\"<>`"
_REPLACEMENT = "\ufffd"
_ELLIPSIS = "..."
_SAFE_REPR = reprlib.Repr()
_SAFE_REPR.maxstring = MAX_EXCERPT_LENGTH
_SAFE_REPR.maxother = MAX_EXCERPT_LENGTH


def _escape(char: str) -> str:
    escaped = _ESCAPES.get(char)
    if escaped is not None:
        return escaped
    if char.isprintable():
        return char
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:  # a lone surrogate cannot be encoded anywhere
        return _REPLACEMENT
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return _SAFE_REPR.repr(value)
    except Exception:  # a hostile __repr__ must not turn an error into a crash
        return f"(a {type(value).__name__})"


def safe_excerpt(value: object, *, limit: int = MAX_EXCERPT_LENGTH) -> str:
    r"""Return *value* made safe to quote in an error message or its details.

    Text is kept as is where it is harmless (letters of any script, digits,
    punctuation, spaces). Backslashes, quotes, ``<``, ``>`` and backticks are
    backslash-escaped; control, format and separator characters (CR, LF, NUL,
    bidirectional overrides, zero-width spaces...) become ``\xNN``/``\uNNNN``
    escapes; lone surrogates become U+FFFD. The result holds at most *limit*
    characters plus ``...`` when it was cut. Values that are not text are shown by a
    bounded ``repr``, escaped the same way.

    The result never contains a control character, a lone surrogate or ``<``, so it
    can be logged, sent in a header or shown in a page without further care.
    """
    text = _as_text(value)
    if (
        len(text) <= limit
        and text.isascii()
        and text.isprintable()
        and not any(char in text for char in _SPECIAL)
    ):
        return text  # the common case: nothing to escape
    pieces: list[str] = []
    size = 0
    for char in text:
        piece = _escape(char)
        size += len(piece)
        if size > limit:
            pieces.append(_ELLIPSIS)
            break
        pieces.append(piece)
    return "".join(pieces)


# --------------------------------------------------------------------------- URLs

#: RFC 3986 §2.3 unreserved characters: percent-encoding them changes nothing.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset("0123456789abcdefABCDEF")
#: Characters left as they are in a normalised path (RFC 3986 pchar and '/'); the
#: rest (non-ASCII text of an IRI) is percent-encoded as UTF-8, as browsers do.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
#: ASCII characters RFC 3986 never allows unencoded anywhere in a URL.
_NEVER_IN_URL = frozenset(' "<>\\^`{|}')
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
_IPV6_CHARS = frozenset("0123456789abcdef:.")
#: Octets that must never arrive percent-encoded in a path: separators ('/', '\\'),
#: '%' itself (double encoding) and controls. Servers disagree on decoding them.
_FORBIDDEN_ENCODED = frozenset({0x2F, 0x5C, 0x25, 0x7F, *range(0x20)})


class NormalisedUrl(NamedTuple):
    """An http(s) URL's origin and path in RFC 3986 §6 normal form.

    ``scheme`` and ``host`` are lower case, ``port`` is ``None`` for the scheme's
    default port, and ``path`` starts with ``/``, has unreserved characters decoded
    and other percent-escapes in upper case.
    """

    scheme: str
    host: str
    port: int | None
    path: str

    def is_within(self, base: NormalisedUrl) -> bool:
        """True if this URL has *base*'s origin and its path is *base*'s or below it.

        Paths are compared by whole segments: ``/launch`` contains ``/launch`` and
        ``/launch/7`` but not ``/launcher``.
        """
        if (self.scheme, self.host, self.port) != (base.scheme, base.host, base.port):
            return False
        prefix = base.path.rstrip("/")
        return not prefix or self.path == prefix or self.path.startswith(prefix + "/")


def _normalise_path(path: str) -> str:
    """Decode unreserved escapes, upper-case the others; raise on unsafe segments."""
    if not path:
        return "/"
    if not path.isascii() or any(char not in _PATH_SAFE and not char.isalnum() for char in path):
        path = quote(path, safe=_PATH_SAFE)
    out: list[str] = []
    i = 0
    size = len(path)
    while i < size:
        char = path[i]
        if char != "%":
            out.append(char)
            i += 1
            continue
        pair = path[i + 1 : i + 3]
        if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
            msg = "it has a '%' that does not start a percent-escape"
            raise ValueError(msg)
        octet = int(pair, 16)
        if octet in _FORBIDDEN_ENCODED:
            msg = "its path holds an encoded '/', '\\', '%' or control character"
            raise ValueError(msg)
        decoded = chr(octet)
        out.append(decoded if decoded in _UNRESERVED else "%" + pair.upper())
        i += 3
    normal = "".join(out)
    segments = normal.split("/")
    for index, segment in enumerate(segments):
        # '..;x' (and '..%3Bx') is a dot segment for servers that strip path parameters.
        if segment.split(";", 1)[0].split("%3B", 1)[0] in (".", ".."):
            msg = "its path holds a '.' or '..' segment"
            raise ValueError(msg)
        if not segment and 0 < index < len(segments) - 1:
            msg = "its path holds an empty segment ('//')"
            raise ValueError(msg)
    return normal


def normalise_url(url: str) -> NormalisedUrl:
    r"""Return the normal form of an absolute http(s) *url*'s origin and path.

    Normalisation (RFC 3986 §6.2.2): scheme and host in lower case, the default port
    dropped, percent-escapes of unreserved characters decoded (so ``%2e`` is ``.``)
    and the others in upper case, non-ASCII characters (an IRI) percent-encoded as
    UTF-8. Query and fragment are not part of the result.

    Raises:
        ValueError: The URL is not absolute http(s) with a plain host (no userinfo, no
            percent-encoded or non-ASCII host), or it holds a control character, a
            backslash, a character URLs never hold raw (space, ``"``, ``<``, ``>``,
            ``^``, backtick, ``{``, ``|``, ``}``), a malformed percent-escape, or a
            path that servers disagree about: a ``.`` or ``..`` segment (however
            encoded, also ``..;``), an
            encoded ``/``, ``\`` or ``%``, or an empty segment (``//``). The
            message never repeats the URL.
    """
    if not url.isprintable():  # urlsplit would silently drop tabs and newlines
        msg = "it holds control or invisible characters"
        raise ValueError(msg)
    if "\\" in url:  # browsers read '\' as '/', servers do not
        msg = "it holds a backslash"
        raise ValueError(msg)
    if not _NEVER_IN_URL.isdisjoint(url):
        msg = "it holds a character URLs never hold unencoded (a space, a quote, angle brackets...)"
        raise ValueError(msg)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        msg = "it is not a valid URL"
        raise ValueError(msg) from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        msg = "it is not an absolute http(s) URL"
        raise ValueError(msg)
    if "@" in parts.netloc:
        msg = "it carries credentials (user@host)"
        raise ValueError(msg)
    host = parts.hostname
    if not host:
        msg = "it has no host"
        raise ValueError(msg)
    allowed = _IPV6_CHARS if parts.netloc.startswith("[") else _HOST_CHARS
    if not set(host) <= allowed:
        msg = "its host is not a plain DNS name or IP address"
        raise ValueError(msg)
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return NormalisedUrl(scheme, host, port, _normalise_path(parts.path))
