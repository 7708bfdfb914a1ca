"""Where a platform's bearer token may be sent, checked before any byte leaves.

Rules of this module (RFC 6750 §5.3: a bearer token goes only where it is meant to):

1. Every URL a token is sent to is absolute https, without user info. Plain http
   is accepted only for loopback hosts, and only when the platform itself lives on
   a loopback host (a test server).
2. Host names that are IP literals must be public addresses: private, link-local,
   shared, reserved and unspecified ranges are refused, and so are numeric host
   names that are not canonical IP literals (``2130706433`` resolves to 127.0.0.1).
3. A URL the platform announced (AGS and NRPS claim URLs, links in its answers)
   must be on the platform's *site*: the host of its issuer, login, key-set or
   token URL, or a host sharing their registrable domain (the last two labels,
   three under country domains such as ``ac.uk``). Canvas announces services on
   ``school.instructure.com`` for the issuer ``canvas.instructure.com``; both are
   ``instructure.com``. ``TokenPolicy(same_site=False)`` accepts any public host.
4. A URL the *caller* names (``post_score(line_item=...)``, ``get_line_item``,
   results) must be on the origin (scheme, host, port) of one of the launch's
   claim URLs.
5. Origins in ``TokenPolicy.allowed_origins`` are always accepted (an on-premises
   platform on a private address, a service on a custom domain).

A refusal is :class:`~credlti.errors.UnsafeServiceUrlError`; the check runs in the
flows before the :class:`~credlti._http.HttpRequest` effect is yielded.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

import attrs

from credlti.errors import UnsafeServiceUrlError
from credlti.lti.ports import Registerable

__all__ = [
    "Destinations",
    "Origin",
    "is_loopback",
    "origin_of",
    "parse_origins",
    "site_of",
]

#: ``(scheme, host, port)``, lower-cased, with the default port filled in.
Origin = tuple[str, str, int]

_COUNTRY_SECOND_LEVEL = frozenset(
    {"ac", "co", "com", "edu", "gob", "go", "gov", "ltd", "mil", "ne", "net", "or", "org", "sch"}
)
_MAX_SHOWN = 300
_HEX = frozenset("0123456789abcdef")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` (and its subdomains) and loopback IP literals."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> Origin | None:
    """The origin of an absolute http(s) URL without user info, else ``None``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    if port is None:
        port = 443 if scheme == "https" else 80
    return scheme, host, port


def parse_origins(values: Iterable[str]) -> frozenset[Origin]:
    """``"https://host[:port]"`` strings as origins.

    Raises:
        ValueError: A value is not an http(s) origin (a path, query or user info
            is not allowed).
    """
    origins: set[Origin] = set()
    for value in values:
        text: object = value
        origin = origin_of(value) if isinstance(text, str) else None
        parts = urlsplit(value) if origin is not None else None
        if origin is None or parts is None or parts.path not in ("", "/") or parts.query:
            msg = f"allowed origin {value!r} is not scheme://host[:port]"
            raise ValueError(msg)
        origins.add(origin)
    return frozenset(origins)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def site_of(host: str) -> str:
    """The registrable part of *host*: its last two labels (three under ``ac.uk``...).

    IP literals and single-label hosts are their own site.
    """
    if _ip(host) is not None or "." not in host:
        return host
    labels = host.rstrip(".").split(".")
    count = 2
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _COUNTRY_SECOND_LEVEL:
        count = 3
    return ".".join(labels[-count:])


def _numeric_name(host: str) -> bool:
    """A host name whose last label has no letter: not a DNS name, not a canonical IP."""
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if last.startswith("0x") and all(c in _HEX for c in last[2:]):
        return True
    return not any(c.isalpha() for c in last)


def _refuse(url: str, reason: str) -> UnsafeServiceUrlError:
    return UnsafeServiceUrlError(
        f"refused to send the platform's access token to this URL: {reason} (nothing was sent)",
        details={"url": url[:_MAX_SHOWN], "reason": reason},
    )


@functools.lru_cache(maxsize=256)
def _hosts(urls: tuple[str | None, ...]) -> frozenset[str]:
    """The host names of *urls* (cached: a registration's URLs rarely change)."""
    return frozenset(o[1] for o in (origin_of(u) for u in urls if u) if o is not None)


@functools.lru_cache(maxsize=1024)
def _base(url: str, hosts: frozenset[str], allowed: frozenset[Origin]) -> str | None:
    """Rules 1, 2 and 5: why *url* is refused, or ``None``."""
    origin = origin_of(url)
    if origin is None:
        return "not an absolute http(s) URL without user info"
    if origin in allowed:
        return None
    scheme, host, _port = origin
    loopback = is_loopback(host)
    if loopback and not any(is_loopback(h) for h in hosts):
        return "a loopback address (the platform is not on this machine)"
    if scheme != "https" and not loopback:
        return "plain http"
    address = _ip(host)
    if address is not None and not loopback and not address.is_global:
        return "a private, link-local or reserved IP address"
    if address is None and _numeric_name(host):
        return "a numeric host name that is not an IP address"
    return None


@functools.lru_cache(maxsize=1024)
def _announced(
    url: str, hosts: frozenset[str], allowed: frozenset[Origin], same_site: bool
) -> str | None:
    """Rules 1, 2, 3 and 5: why *url* is refused, or ``None`` (cached: pure)."""
    reason = _base(url, hosts, allowed)
    origin = origin_of(url)
    if reason is not None or origin is None or origin in allowed:
        return reason
    if not same_site or not hosts:
        return None
    site = site_of(origin[1])
    if any(site_of(host) == site for host in hosts):
        return None
    return "another site than the platform's"


@attrs.frozen(kw_only=True)
class Destinations:
    """The places one registration's tokens may go (see the module rules).

    Attributes:
        platform_hosts: The hosts of the registration's issuer, login, key-set,
            token and authorization-server URLs.
        allowed: Origins the host always allows.
        same_site: Claim URLs must share the registrable domain of a platform host.
    """

    platform_hosts: frozenset[str]
    allowed: frozenset[Origin] = frozenset()
    same_site: bool = True

    @classmethod
    def for_registration(
        cls, registration: Registerable, *, allowed: frozenset[Origin], same_site: bool
    ) -> Destinations:
        """The destinations of *registration* under the host's policy."""
        record = registration.to_registration()
        urls = (
            record.issuer,
            record.auth_endpoint,
            record.jwks_uri,
            record.token_endpoint,
            record.authorization_server,
        )
        return cls(platform_hosts=_hosts(urls), allowed=allowed, same_site=same_site)

    def check(self, url: str) -> str:
        """Return *url* if a token may go there as a platform-announced URL, else raise.

        Raises:
            UnsafeServiceUrlError: See rules 1, 2, 3 and 5.
        """
        reason = _announced(url, self.platform_hosts, self.allowed, self.same_site)
        if reason is not None:
            raise _refuse(url, reason)
        return url

    def check_own(self, url: str, endpoints: Iterable[str | None]) -> str:
        """Return a caller-named *url* if it is on the origin of one of *endpoints*.

        Raises:
            UnsafeServiceUrlError: See rules 1, 2, 4 and 5.
        """
        reason = _base(url, self.platform_hosts, self.allowed)
        if reason is not None:
            raise _refuse(url, reason)
        origin = origin_of(url)
        if origin in self.allowed:
            return url
        if origin not in {origin_of(e) for e in endpoints if e}:
            raise _refuse(url, "not on the origin of the launch's service endpoints")
        return self.check(url)

    def check_token_endpoint(self, url: str) -> str:
        """Return the registration's token endpoint if it is https (or loopback), else raise.

        It is the host's own configuration, so only rules 1 and 5 apply.
        """
        origin = origin_of(url)
        if origin is None:
            raise _refuse(url, "not an absolute http(s) URL without user info")
        if origin in self.allowed or origin[0] == "https" or is_loopback(origin[1]):
            return url
        raise _refuse(url, "plain http")
