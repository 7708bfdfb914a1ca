"""A service's answer and how it maps to errors: status codes, JSON bodies, Retry-After.

Pure functions over :class:`ServiceResponse`; nothing here does IO.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import attrs

from credlti.errors import (
    MalformedServiceResponseError,
    ServiceAccessDeniedError,
    ServiceCallFailedError,
    ServiceResourceNotFoundError,
    ServiceTemporarilyUnavailableError,
)

__all__ = [
    "ServiceResponse",
    "call_failed",
    "check_status",
    "header",
    "json_body",
    "malformed",
    "parse_retry_after",
]


@attrs.frozen(kw_only=True)
class ServiceResponse:
    """An Advantage service's answer (body capped, read in full)."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)

    def json(self) -> Any:
        """The body as JSON.

        Raises:
            MalformedServiceResponseError: The body is not JSON.
        """
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            msg = f"the service answered HTTP {self.status_code} with a body that is not JSON"
            raise MalformedServiceResponseError(msg, details={"status": self.status_code}) from exc


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header *name* (case-insensitive lookup), or ``None``."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, item in headers.items():
            if key.lower() == lowered:
                return item
    return value


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date)."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # "²" is a digit to isdigit(), not to int()
        return float(text) if len(text) <= 12 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.utcoffset() is None:
        return None
    return max(0.0, (when - now).total_seconds())


def call_failed(url: str, reason: str) -> ServiceCallFailedError:
    """The error for a call that failed on the network (*reason* holds no secret)."""
    return ServiceCallFailedError(
        f"the call to {url} failed ({reason})", spec_ref="Sec §4.1", details={"url": url}
    )


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
        retry_after = parse_retry_after(header(response.headers, "Retry-After"), now=now)
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
