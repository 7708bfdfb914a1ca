"""Outbound HTTP helpers shared by every remote call: timeouts, size limits, redirects.

Rules of this module:

1. Every request has a timeout; every body read is capped; redirects are followed
   only within the same origin (scheme, host, port), a few hops at most.
2. Only :mod:`httpx` exceptions are caught and they never escape: callers receive
   :class:`RemoteCallFailed` carrying a reason without secrets, and wrap it in the
   error type of their domain.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import attrs
import httpx

__all__ = [
    "RemoteCallFailed",
    "get_json_bytes_async",
    "get_json_bytes_sync",
    "post_form_async",
    "post_form_sync",
]

MAX_REDIRECTS = 3


@attrs.frozen
class RemoteResponse:
    """The parts of a response our callers use."""

    status_code: int
    headers: httpx.Headers
    body: bytes


class RemoteCallFailed(Exception):  # noqa: N818 - internal signal, wrapped by callers
    """Internal: a remote call failed; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def same_origin_redirect(url: str, location: str | None) -> str:
    """Return the absolute redirect target if it stays on *url*'s origin."""
    if not location:
        msg = "redirect without a Location header"
        raise RemoteCallFailed(msg)
    target = urljoin(url, location)
    a, b = urlsplit(url), urlsplit(target)
    if (a.scheme, a.hostname, a.port) != (b.scheme, b.hostname, b.port):
        msg = f"refused a redirect to another origin ({b.scheme}://{b.hostname})"
        raise RemoteCallFailed(msg)
    return target


def _too_large(limit: int) -> RemoteCallFailed:
    return RemoteCallFailed(f"response body is larger than {limit} bytes")


def get_json_bytes_sync(
    client: httpx.Client, url: str, *, timeout: float, max_bytes: int
) -> RemoteResponse:
    """GET *url* and return the capped body, following same-origin redirects."""
    try:
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream(
                "GET",
                url,
                headers={"Accept": "application/json"},
                timeout=timeout,
                follow_redirects=False,
            ) as response:
                if response.is_redirect:
                    url = same_origin_redirect(url, response.headers.get("location"))
                    continue
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(max_bytes)
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise _too_large(max_bytes)
                return RemoteResponse(response.status_code, response.headers, bytes(body))
    except httpx.HTTPError as exc:
        msg = f"{type(exc).__name__} while fetching"
        raise RemoteCallFailed(msg) from exc
    msg = f"more than {MAX_REDIRECTS} redirects"
    raise RemoteCallFailed(msg)


async def get_json_bytes_async(
    client: httpx.AsyncClient, url: str, *, timeout: float, max_bytes: int
) -> RemoteResponse:
    """Async twin of :func:`get_json_bytes_sync`."""
    try:
        for _ in range(MAX_REDIRECTS + 1):
            async with client.stream(
                "GET",
                url,
                headers={"Accept": "application/json"},
                timeout=timeout,
                follow_redirects=False,
            ) as response:
                if response.is_redirect:
                    url = same_origin_redirect(url, response.headers.get("location"))
                    continue
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(max_bytes)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise _too_large(max_bytes)
                return RemoteResponse(response.status_code, response.headers, bytes(body))
    except httpx.HTTPError as exc:
        msg = f"{type(exc).__name__} while fetching"
        raise RemoteCallFailed(msg) from exc
    msg = f"more than {MAX_REDIRECTS} redirects"
    raise RemoteCallFailed(msg)


def post_form_sync(
    client: httpx.Client,
    url: str,
    *,
    data: dict[str, str],
    headers: dict[str, str],
    timeout: float,
    max_bytes: int,
) -> RemoteResponse:
    """POST a form to *url* (no redirects: token endpoints must answer directly).

    A redirect is returned as its own response (3xx) for the caller to reject.
    """
    try:
        with client.stream(
            "POST", url, data=data, headers=headers, timeout=timeout, follow_redirects=False
        ) as response:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(max_bytes)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise _too_large(max_bytes)
            return RemoteResponse(response.status_code, response.headers, bytes(body))
    except httpx.HTTPError as exc:
        msg = f"{type(exc).__name__} while posting"
        raise RemoteCallFailed(msg) from exc


async def post_form_async(
    client: httpx.AsyncClient,
    url: str,
    *,
    data: dict[str, str],
    headers: dict[str, str],
    timeout: float,
    max_bytes: int,
) -> RemoteResponse:
    """Async twin of :func:`post_form_sync`."""
    try:
        async with client.stream(
            "POST", url, data=data, headers=headers, timeout=timeout, follow_redirects=False
        ) as response:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(max_bytes)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise _too_large(max_bytes)
            return RemoteResponse(response.status_code, response.headers, bytes(body))
    except httpx.HTTPError as exc:
        msg = f"{type(exc).__name__} while posting"
        raise RemoteCallFailed(msg) from exc
