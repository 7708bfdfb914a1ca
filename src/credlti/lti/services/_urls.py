"""URL building for service calls: keep the claim's URL intact, add only what is needed."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

__all__ = ["add_query", "append_path"]


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
