"""Outbound HTTP helpers shared by every remote call: timeouts, size limits, redirects.

Rules of this module:

1. Every request has a timeout; every body read is capped; redirects are followed
   only within the same origin (scheme, host, port), a few hops at most.
2. A request may also carry an overall *deadline* (seconds): connecting, sending,
   the headers and the whole body must be done within it, however slowly the peer
   drips bytes. Each phase's timeout is the smaller of its own timeout and the time
   left, and the time left is checked between body chunks (the async sender also
   cancels the whole exchange when the deadline passes).
3. Only :mod:`httpx` exceptions are caught and they never escape: callers receive
   :class:`RemoteCallFailed` carrying a reason without secrets, and wrap it in the
   error type of their domain.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import attrs

if TYPE_CHECKING:
    # httpx loads with the first request (a facade creating its client loads it too):
    # `import credlti.lti` stays light.
    import httpx

__all__ = [
    "HttpRequest",
    "RemoteCallFailed",
    "RemoteResponse",
    "check_deadline",
    "get_json_bytes_async",
    "get_json_bytes_sync",
    "get_json_flow",
    "perform_async",
    "perform_sync",
    "post_form_async",
    "post_form_sync",
    "send_async",
    "send_sync",
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


@attrs.frozen(kw_only=True)
class HttpRequest:
    """Effect: send one request (redirects are not followed) and read its capped body.

    Performed by :func:`perform_sync` / :func:`perform_async`; a failure is
    :class:`RemoteCallFailed`, thrown back into the flow that asked.

    Attributes:
        timeout: Seconds for connecting, and for each read or write.
        deadline: Seconds for the whole exchange (connect, send, headers and the
            whole body); ``None`` for no overall bound beyond *timeout*.
    """

    method: str
    url: str
    timeout: float
    max_bytes: int
    headers: Mapping[str, str] | None = attrs.field(default=None, repr=False)
    content: bytes | None = attrs.field(default=None, repr=False)
    data: Mapping[str, str] | None = attrs.field(default=None, repr=False)
    deadline: float | None = None


def perform_sync(client: httpx.Client, request: HttpRequest) -> RemoteResponse:
    """Carry out an :class:`HttpRequest` with a sync client."""
    return send_sync(
        client,
        request.method,
        request.url,
        timeout=request.timeout,
        max_bytes=request.max_bytes,
        headers=request.headers,
        content=request.content,
        data=request.data,
        deadline=request.deadline,
    )


async def perform_async(client: httpx.AsyncClient, request: HttpRequest) -> RemoteResponse:
    """Carry out an :class:`HttpRequest` with an async client."""
    return await send_async(
        client,
        request.method,
        request.url,
        timeout=request.timeout,
        max_bytes=request.max_bytes,
        headers=request.headers,
        content=request.content,
        data=request.data,
        deadline=request.deadline,
    )


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


def _check_declared(response: httpx.Response, max_bytes: int) -> None:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)


def _append_capped(body: bytearray, chunk: bytes, max_bytes: int) -> None:
    body += chunk
    if len(body) > max_bytes:
        raise _too_large(max_bytes)


def check_deadline(deadline: float | None) -> float | None:
    """Return *deadline* if it is ``None`` or a positive finite number of seconds.

    Raises:
        ValueError: Anything else (zero, negative, NaN, infinite, not a number).
    """
    if deadline is None:
        return None
    value: object = deadline
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        msg = "deadline must be a positive finite number of seconds, or None"
        raise ValueError(msg)
    return float(value)


class _Budget:
    """The time left of one request's overall deadline (monotonic clock)."""

    __slots__ = ("deadline", "ends")

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.ends = None if deadline is None else time.monotonic() + deadline

    def left(self) -> float | None:
        if self.ends is None:
            return None
        return self.ends - time.monotonic()

    def bound(self, timeout: float) -> float:
        """*timeout*, shortened to the time left (never below a millisecond)."""
        left = self.left()
        return timeout if left is None else max(0.001, min(timeout, left))

    def spent(self) -> bool:
        """True once (almost) no time is left: a timeout then means the deadline."""
        left = self.left()
        return left is not None and left <= 0.01

    def check(self) -> None:
        left = self.left()
        if left is not None and left <= 0:
            raise _past_deadline(self.deadline)

    def shorten_reads(self, response: httpx.Response, timeout: float) -> None:
        """Bound the body's reads by the time left (httpcore reads this once per body)."""
        if self.ends is None:
            return
        timeouts = response.request.extensions.get("timeout")
        if isinstance(timeouts, dict):
            timeouts["read"] = self.bound(timeout)


def _past_deadline(deadline: float | None) -> RemoteCallFailed:
    return RemoteCallFailed(f"the peer did not answer in full within the {deadline} s deadline")


def send_sync(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    data: Mapping[str, str] | None = None,
    deadline: float | None = None,
) -> RemoteResponse:
    """Send one request (never following redirects) and read its body, capped.

    Args:
        client: The httpx client.
        method: The HTTP method.
        url: The URL.
        timeout: Seconds for connecting, and for each read or write.
        max_bytes: Largest body read.
        headers: Request headers.
        content: Request body bytes.
        data: A form body.
        deadline: Seconds for the whole exchange, body included (see rule 2).

    Raises:
        RemoteCallFailed: A network error, a body larger than *max_bytes*, or the
            deadline passed.
    """
    import httpx  # loaded already: the caller holds an httpx client

    budget = _Budget(check_deadline(deadline))
    try:
        with client.stream(
            method,
            url,
            headers=headers,
            content=content,
            data=data,
            timeout=budget.bound(timeout),
            follow_redirects=False,
        ) as response:
            _check_declared(response, max_bytes)
            budget.check()
            budget.shorten_reads(response, timeout)
            body = bytearray()
            for chunk in response.iter_bytes():
                _append_capped(body, chunk, max_bytes)
                budget.check()
            return RemoteResponse(response.status_code, response.headers, bytes(body))
    except httpx.TimeoutException as exc:
        if budget.spent():
            raise _past_deadline(budget.deadline) from exc
        msg = f"{type(exc).__name__} during {method}"
        raise RemoteCallFailed(msg) from exc
    except httpx.HTTPError as exc:
        msg = f"{type(exc).__name__} during {method}"
        raise RemoteCallFailed(msg) from exc


async def send_async(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    data: Mapping[str, str] | None = None,
    deadline: float | None = None,
) -> RemoteResponse:
    """Async twin of :func:`send_sync`; the deadline also cancels the whole exchange."""
    import asyncio  # loaded already: an async request is running

    import httpx

    budget = _Budget(check_deadline(deadline))

    async def exchange() -> RemoteResponse:
        async with client.stream(
            method,
            url,
            headers=headers,
            content=content,
            data=data,
            timeout=budget.bound(timeout),
            follow_redirects=False,
        ) as response:
            _check_declared(response, max_bytes)
            budget.check()
            budget.shorten_reads(response, timeout)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                _append_capped(body, chunk, max_bytes)
                budget.check()
            return RemoteResponse(response.status_code, response.headers, bytes(body))

    try:
        if budget.deadline is None:
            return await exchange()
        return await asyncio.wait_for(exchange(), timeout=budget.deadline)
    except asyncio.TimeoutError as exc:
        raise _past_deadline(budget.deadline) from exc
    except httpx.TimeoutException as exc:
        if budget.spent():
            raise _past_deadline(budget.deadline) from exc
        msg = f"{type(exc).__name__} during {method}"
        raise RemoteCallFailed(msg) from exc
    except httpx.HTTPError as exc:
        msg = f"{type(exc).__name__} during {method}"
        raise RemoteCallFailed(msg) from exc


_JSON = {"Accept": "application/json"}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _next_hop(url: str, response: RemoteResponse) -> str | None:
    """The same-origin redirect target, or ``None`` when *response* is final."""
    if response.status_code not in _REDIRECTS:
        return None
    return same_origin_redirect(url, response.headers.get("location"))


def _too_many_redirects() -> RemoteCallFailed:
    return RemoteCallFailed(f"more than {MAX_REDIRECTS} redirects")


def get_json_flow(
    url: str, *, timeout: float, max_bytes: int, deadline: float | None = None
) -> Generator[HttpRequest, RemoteResponse, RemoteResponse]:
    """Flow: GET *url* as JSON, following same-origin redirects (a few hops at most).

    *deadline* bounds each request (each redirect hop is one request).
    """
    for _ in range(MAX_REDIRECTS + 1):
        response = yield HttpRequest(
            method="GET",
            url=url,
            headers=_JSON,
            timeout=timeout,
            max_bytes=max_bytes,
            deadline=deadline,
        )
        target = _next_hop(url, response)
        if target is None:
            return response
        url = target
    raise _too_many_redirects()


def get_json_bytes_sync(
    client: httpx.Client, url: str, *, timeout: float, max_bytes: int
) -> RemoteResponse:
    """GET *url* and return the capped body, following same-origin redirects."""
    for _ in range(MAX_REDIRECTS + 1):
        response = send_sync(
            client, "GET", url, headers=_JSON, timeout=timeout, max_bytes=max_bytes
        )
        target = _next_hop(url, response)
        if target is None:
            return response
        url = target
    raise _too_many_redirects()


async def get_json_bytes_async(
    client: httpx.AsyncClient, url: str, *, timeout: float, max_bytes: int
) -> RemoteResponse:
    """Async twin of :func:`get_json_bytes_sync`."""
    for _ in range(MAX_REDIRECTS + 1):
        response = await send_async(
            client, "GET", url, headers=_JSON, timeout=timeout, max_bytes=max_bytes
        )
        target = _next_hop(url, response)
        if target is None:
            return response
        url = target
    raise _too_many_redirects()


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
    return send_sync(
        client, "POST", url, data=data, headers=headers, timeout=timeout, max_bytes=max_bytes
    )


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
    return await send_async(
        client, "POST", url, data=data, headers=headers, timeout=timeout, max_bytes=max_bytes
    )
