"""What AGS and NRPS share: call effects, status mapping, paging flow, sync/async drivers.

Service operations are written once as generators (architecture rule 2): they
yield :class:`ServiceCall` effects (the driver performs them through the token
client and sends back the :class:`~credlti.lti.services.ServiceResponse`) and
:class:`Emit` values (a page, handed to the caller). Everything here but the four
driver functions at the bottom is pure.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs

from credlti.errors import (
    MalformedServiceResponseError,
    ServiceAccessDeniedError,
    ServiceCallFailedError,
    ServiceResourceNotFoundError,
    ServiceTemporarilyUnavailableError,
)
from credlti.lti.ports import Registerable
from credlti.lti.services._client import (
    AsyncServiceTokenClient,
    ServiceResponse,
    ServiceTokenClient,
)
from credlti.lti.services._oauth import parse_retry_after
from credlti.lti.services._paging import PageGuard, find_link, link_header, parse_link_header

__all__ = [
    "Emit",
    "ServiceCall",
    "add_query",
    "append_path",
    "check_status",
    "json_body",
    "paged_flow",
]

T = TypeVar("T")
R = TypeVar("R")
_EMPTY: Mapping[str, str] = MappingProxyType({})


@attrs.frozen(kw_only=True)
class ServiceCall:
    """Effect: one HTTP call to an Advantage service with a bearer token.

    Attributes:
        method: HTTP method.
        url: The full URL (query included).
        scopes: The scopes the token is requested with (its cache key).
        require: Scopes the token must carry for this call.
        headers: ``Accept`` / ``Content-Type``.
        content: The request body.
        spec_ref: The section that defines this call (for error messages).
    """

    method: str
    url: str
    scopes: frozenset[str]
    require: frozenset[str]
    headers: Mapping[str, str] = _EMPTY
    content: bytes | None = attrs.field(default=None, repr=False)
    spec_ref: str | None = None


@attrs.frozen
class Emit(Generic[T]):
    """Effect: hand *value* (a page) to the caller; the driver sends back ``None``."""

    value: T


# --------------------------------------------------------------------------- URLs


def append_path(url: str, segment: str) -> str:
    """Append ``/segment`` to *url*'s path, keeping its query (AGS §3.3.1, §3.4.1).

    ``https://lms/li/1?x=y`` + ``scores`` -> ``https://lms/li/1/scores?x=y``.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/") + "/" + segment
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def add_query(url: str, params: Mapping[str, str | int | None]) -> str:
    """Add *params* (``None`` values skipped) to *url*'s query, keeping what is there."""
    extra = urlencode([(k, str(v)) for k, v in params.items() if v is not None])
    if not extra:
        return url
    parts = urlsplit(url)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# --------------------------------------------------------------------------- responses


def _details(response: ServiceResponse, url: str) -> dict[str, object]:
    return {"url": url, "status": response.status_code}


def check_status(
    response: ServiceResponse, *, url: str, now: datetime, spec_ref: str | None = None
) -> None:
    """Map a non-2xx answer to a typed error; return quietly on any 2xx.

    - 401 (already after one token renewal) and 403:
      :class:`~credlti.errors.ServiceAccessDeniedError`;
    - 404: :class:`~credlti.errors.ServiceResourceNotFoundError`;
    - 429 and 503: :class:`~credlti.errors.ServiceTemporarilyUnavailableError`
      with ``retry_after`` from ``Retry-After``;
    - anything else: :class:`~credlti.errors.ServiceCallFailedError`.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    details = _details(response, url)
    if status in (401, 403):
        msg = (
            f"the service refused the call (HTTP {status}); check that the platform "
            "enabled this service for the tool and that the resource is the tool's"
        )
        raise ServiceAccessDeniedError(msg, details=details)
    if status == 404:
        msg = f"the service has no such resource (HTTP 404 for {url})"
        raise ServiceResourceNotFoundError(msg, spec_ref=spec_ref, details=details)
    if status in (429, 503):
        retry_after = None
        for key, value in response.headers.items():
            if key.lower() == "retry-after":
                retry_after = parse_retry_after(value, now=now)
        raise ServiceTemporarilyUnavailableError(
            f"the service is busy or down (HTTP {status}); retry later",
            retry_after=retry_after,
            details={**details, "retry_after": retry_after},
        )
    msg = f"the service answered HTTP {status}"
    raise ServiceCallFailedError(msg, spec_ref=spec_ref, details=details)


def json_body(response: ServiceResponse, *, url: str, spec_ref: str | None = None) -> Any:
    """The body as JSON, or :class:`~credlti.errors.MalformedServiceResponseError`."""
    try:
        return json.loads(response.body)
    except (ValueError, RecursionError) as exc:
        msg = f"the service answered HTTP {response.status_code} with a body that is not JSON"
        raise MalformedServiceResponseError(
            msg, spec_ref=spec_ref, details=_details(response, url)
        ) from exc


def malformed(what: str, *, url: str, spec_ref: str | None = None) -> MalformedServiceResponseError:
    """A :class:`~credlti.errors.MalformedServiceResponseError` for *url*."""
    return MalformedServiceResponseError(
        f"the service's answer is malformed: {what}", spec_ref=spec_ref, details={"url": url}
    )


@attrs.frozen(kw_only=True)
class RawPage:
    """One fetched page: the JSON body, the links, and the URL it came from."""

    url: str
    document: Any
    next_url: str | None
    links: tuple[Any, ...]


def paged_flow(
    call: ServiceCall,
    parse: Callable[[RawPage], T],
    *,
    now: datetime,
    max_pages: int,
) -> Generator[ServiceCall | Emit[T], Any, None]:
    """Fetch *call* and every ``rel="next"`` page after it, emitting each parsed page.

    ``next`` links are used as given (AGS §3.2.4; NRPS §2.4.2), checked by a
    :class:`~credlti.lti.services._paging.PageGuard` (same https origin, no loops,
    at most *max_pages*) before they are fetched.
    """
    guard = PageGuard(call.url, max_pages=max_pages)
    url: str | None = call.url
    while url is not None:
        guard.visit(url)
        response: ServiceResponse = yield attrs.evolve(call, url=url)
        check_status(response, url=url, now=now, spec_ref=call.spec_ref)
        document = json_body(response, url=url, spec_ref=call.spec_ref)
        links = parse_link_header(link_header(response.headers), base_url=url)
        next_url = find_link(links, "next")
        if next_url is not None:
            guard.follow(next_url)
        yield Emit(parse(RawPage(url=url, document=document, next_url=next_url, links=links)))
        url = next_url


# --------------------------------------------------------------------------- drivers


@attrs.frozen(kw_only=True)
class Binding:
    """Who calls: the registration and deployment the token is for."""

    registration: Registerable
    deployment_id: str | None = None


def _perform(client: ServiceTokenClient, binding: Binding, call: ServiceCall) -> ServiceResponse:
    return client.request(
        call.method,
        call.url,
        registration=binding.registration,
        scopes=call.scopes,
        deployment_id=binding.deployment_id,
        require=call.require,
        headers=call.headers,
        content=call.content,
    )


def iter_flow(
    client: ServiceTokenClient, binding: Binding, flow: Generator[Any, Any, Any]
) -> Iterator[Any]:
    """Drive *flow* synchronously, yielding each emitted value as it comes (lazily)."""
    value: Any = None
    while True:
        try:
            effect = flow.send(value)
        except StopIteration:
            return
        if isinstance(effect, Emit):
            value = None
            yield effect.value
        else:
            value = _perform(client, binding, effect)


def run_flow(client: ServiceTokenClient, binding: Binding, flow: Generator[Any, Any, R]) -> R:
    """Drive *flow* synchronously to its return value (emitted values are dropped)."""
    value: Any = None
    while True:
        try:
            effect = flow.send(value)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        value = None if isinstance(effect, Emit) else _perform(client, binding, effect)


async def _aperform(
    client: AsyncServiceTokenClient, binding: Binding, call: ServiceCall
) -> ServiceResponse:
    return await client.request(
        call.method,
        call.url,
        registration=binding.registration,
        scopes=call.scopes,
        deployment_id=binding.deployment_id,
        require=call.require,
        headers=call.headers,
        content=call.content,
    )


async def aiter_flow(
    client: AsyncServiceTokenClient, binding: Binding, flow: Generator[Any, Any, Any]
) -> AsyncIterator[Any]:
    """Async twin of :func:`iter_flow`."""
    value: Any = None
    while True:
        try:
            effect = flow.send(value)
        except StopIteration:
            return
        if isinstance(effect, Emit):
            value = None
            yield effect.value
        else:
            value = await _aperform(client, binding, effect)


async def arun_flow(
    client: AsyncServiceTokenClient, binding: Binding, flow: Generator[Any, Any, R]
) -> R:
    """Async twin of :func:`run_flow`."""
    value: Any = None
    while True:
        try:
            effect = flow.send(value)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        value = None if isinstance(effect, Emit) else await _aperform(client, binding, effect)
