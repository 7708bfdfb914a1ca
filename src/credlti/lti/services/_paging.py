"""RFC 8288 ``Link`` headers and the rules for following paging links.

Rules of this module:

1. :func:`parse_link_header` is a real RFC 8288 §3 parser: several links per
   header (and several headers joined with commas), quoted or unquoted parameter
   values, commas and semicolons inside quotes, several space-separated ``rel``
   values, case-insensitive relation types, relative targets resolved against the
   request URL. On any input it returns links or raises
   :class:`~credlti.errors.MalformedServiceResponseError`, nothing else.
   It also reads what real platforms send: typographic quotes around parameter
   values (Moodle's ``rel=“next”``, also when the UTF-8 bytes were decoded as
   Latin-1 or cp1252) and HTML-escaped targets (Moodle's ``&amp;``). A relation
   type that is still not a token or a URI after that is an error, not a link
   silently ignored: a listing never stops early on a header it misread.
2. A link is followed only if it stays on the endpoint: https, same host, same
   port (plain http only when the endpoint itself is loopback http, for tests).
   The bearer token goes with every page, so a cross-host link would leak it
   (AGS §3.2.4; NRPS §2.4.2).
3. :class:`PageGuard` stops paging loops (a URL seen twice) and caps the page count.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urljoin, urlsplit

import attrs

from credlti.errors import (
    MalformedServiceResponseError,
    PageLoopError,
    TooManyPagesError,
    UnsafePageLinkError,
)

__all__ = [
    "DEFAULT_MAX_PAGES",
    "LinkValue",
    "PageGuard",
    "RawPage",
    "check_link_target",
    "find_link",
    "link_header",
    "parse_link_header",
]

#: Default cap on the pages one listing follows.
DEFAULT_MAX_PAGES = 1000
_MAX_HEADER = 64 * 1024
_MAX_LINKS = 256
_OWS = " \t"
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_EMPTY: Mapping[str, str] = MappingProxyType({})


#: Opening and closing typographic quotes, as UTF-8 text and as its Latin-1 and
#: cp1252 misreadings.
_CURLY = (
    ("\u201c", "\u201d"),
    ("\u2018", "\u2019"),
    ("\u00e2\u0080\u009c", "\u00e2\u0080\u009d"),
    ("\u00e2\u20ac\u0153", "\u00e2\u20ac\u009d"),
)


#: A registered relation type (RFC 8288 §3.3), underscores tolerated.
_REL_TYPE = re.compile(r"[a-z][a-z0-9._\-]*")


def _malformed(reason: str) -> MalformedServiceResponseError:
    return MalformedServiceResponseError(
        f"the service sent a malformed Link header ({reason})",
        spec_ref="RFC 8288 §3",
        details={"reason": reason},
    )


@attrs.frozen(kw_only=True)
class LinkValue:
    """One link of a ``Link`` header (RFC 8288 §3).

    Attributes:
        target: The target URL, resolved against the request URL.
        rels: The relation types, lower-cased, in order (``rel="next last"`` gives two).
        params: The other parameters (names lower-cased; first occurrence wins).
    """

    target: str
    rels: tuple[str, ...] = ()
    params: Mapping[str, str] = _EMPTY


@attrs.frozen(kw_only=True)
class RawPage:
    """One fetched page of a listing: its JSON body, its links, the URL it came from."""

    url: str
    document: Any
    next_url: str | None
    links: tuple[LinkValue, ...]


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in chars:
            pos += 1
        self.pos = pos

    def token(self) -> str:
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and text[pos] in _TCHAR:
            pos += 1
        self.pos = pos
        return text[start:pos]

    def quoted(self) -> str:
        # at '"'; RFC 9110 §5.6.4 quoted-string with quoted-pairs
        text = self.text
        pos = self.pos + 1
        out: list[str] = []
        while pos < len(text):
            char = text[pos]
            if char == '"':
                self.pos = pos + 1
                return "".join(out)
            if char == "\\":
                pos += 1
                if pos >= len(text):
                    break
                char = text[pos]
            out.append(char)
            pos += 1
        raise _malformed("unterminated quoted string")

    def curly(self) -> str | None:
        # Typographic quotes (Moodle): read up to the matching closing quote.
        text = self.text
        for opening, closing in _CURLY:
            if text.startswith(opening, self.pos):
                end = text.find(closing, self.pos + len(opening))
                if end < 0:
                    raise _malformed("unterminated quoted string")
                value = text[self.pos + len(opening) : end]
                self.pos = end + len(closing)
                return value
        return None

    def bare_value(self) -> str:
        # Lenient: anything up to ; , or whitespace (``rel=next``, ``title*=UTF-8'de'x``).
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and text[pos] not in ";, \t":
            pos += 1
        self.pos = pos
        return text[start:pos]


def _resolve(base_url: str, target: str) -> str:
    try:
        if not base_url or urlsplit(target).scheme:
            return target  # absolute: kept exactly as sent (NRPS §2.4.3 "unchanged")
        return urljoin(base_url, target)
    except ValueError as exc:
        raise _malformed("a link target is not a URL") from exc


def parse_link_header(value: str, *, base_url: str = "") -> tuple[LinkValue, ...]:
    """Parse a ``Link`` header value into its links (RFC 8288 §3).

    Args:
        value: The header value (several headers joined with ``", "`` are fine).
        base_url: The request URL; relative targets are resolved against it.

    Returns:
        The links in order. An empty or blank header gives ``()``.

    Raises:
        MalformedServiceResponseError: The header is not a list of
            ``<target>; param=value`` links, or is unreasonably long.
    """
    if len(value) > _MAX_HEADER:
        raise _malformed(f"longer than {_MAX_HEADER} characters")
    scan = _Scanner(value)
    links: list[LinkValue] = []
    while True:
        scan.skip(_OWS + ",")
        if scan.at_end():
            return tuple(links)
        if scan.peek() != "<":
            raise _malformed("a link must start with <target>")
        end = value.find(">", scan.pos + 1)
        if end < 0:
            raise _malformed("a link target has no closing >")
        raw_target = value[scan.pos + 1 : end].strip()
        if any(c.isspace() or c == "<" for c in raw_target):
            raise _malformed("a link target contains spaces or <")
        scan.pos = end + 1
        params: dict[str, str] = {}
        while True:
            scan.skip(_OWS)
            if scan.at_end() or scan.peek() == ",":
                break
            if scan.peek() != ";":
                raise _malformed("link parameters must be separated by ;")
            scan.pos += 1
            scan.skip(_OWS)
            if scan.at_end() or scan.peek() in ",;":
                continue  # tolerate empty parameters ("<a>;;rel=next", "<a>;")
            name = scan.token().lower()
            if not name:
                raise _malformed("a link parameter has no name")
            scan.skip(_OWS)
            param = ""
            if scan.peek() == "=":
                scan.pos += 1
                scan.skip(_OWS)
                if scan.peek() == '"':
                    param = scan.quoted()
                else:
                    curly = scan.curly()
                    param = scan.bare_value() if curly is None else curly
            params.setdefault(name, param)  # RFC 8288 §3.3: later rel params are ignored
        if len(links) >= _MAX_LINKS:
            raise _malformed(f"more than {_MAX_LINKS} links")
        rels = tuple(r.lower() for r in params.pop("rel", "").split())
        for rel in rels:
            if ":" not in rel and not _REL_TYPE.fullmatch(rel):
                raise _malformed("a relation type is neither a token nor a URI")
        links.append(
            LinkValue(
                target=_resolve(base_url, raw_target.replace("&amp;", "&")),
                rels=rels,
                params=MappingProxyType(params) if params else _EMPTY,
            )
        )


def link_header(headers: Mapping[str, str]) -> str:
    """Every ``Link`` header of *headers*, joined (case-insensitive name)."""
    found = [v for k, v in headers.items() if k.lower() == "link"]
    return ", ".join(found)


def find_link(links: Iterable[LinkValue], rel: str) -> str | None:
    """The target of the first link with relation *rel* (case-insensitive), if any."""
    wanted = rel.lower()
    for link in links:
        if wanted in link.rels:
            return link.target
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80)


def check_link_target(endpoint: str, link: str) -> str:
    """Return *link* if a bearer token may follow it from *endpoint*, else raise.

    The link must be https on the endpoint's host and port, without user info.
    Plain http is accepted only when the endpoint itself is http on a loopback
    host (a test server), and then only to the same loopback origin.

    Raises:
        UnsafePageLinkError: The link leaves the endpoint's origin.
    """
    ours, theirs = _origin(endpoint), _origin(link)
    if ours is not None and theirs == ours:
        scheme, host, _port = ours
        if scheme == "https" or _is_loopback(host):
            return link
    msg = (
        "refused to follow a paging link that is not https on the endpoint's host and "
        "port (the bearer token would leak)"
    )
    raise UnsafePageLinkError(
        msg, spec_ref="NRPS §2.4.2", details={"endpoint": endpoint, "link": link[:300]}
    )


@attrs.define
class PageGuard:
    """Stops unsafe, looping or endless paging. One guard per listing.

    Args:
        endpoint: The URL the listing started from (from the launch claim).
        max_pages: Most pages fetched.
    """

    endpoint: str
    max_pages: int = DEFAULT_MAX_PAGES
    _seen: set[str] = attrs.field(factory=set, init=False)

    def visit(self, url: str) -> None:
        """Record that *url* is about to be fetched.

        Raises:
            PageLoopError: It was fetched before in this listing.
            TooManyPagesError: That would be more than ``max_pages`` pages.
        """
        if url in self._seen:
            raise PageLoopError(
                "the service's paging links loop (a page URL came back); stopped",
                details={"link": url[:300]},
            )
        if len(self._seen) >= self.max_pages:
            raise TooManyPagesError(
                f"the listing has more than {self.max_pages} pages; raise max_pages or "
                "narrow the query",
                details={"max_pages": self.max_pages},
            )
        self._seen.add(url)

    def follow(self, link: str) -> str:
        """Check *link* against the endpoint (see :func:`check_link_target`)."""
        return check_link_target(self.endpoint, link)
