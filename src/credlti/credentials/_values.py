"""The gate every credential body passes before anything else sees it (pure).

A body must be a JSON value that every backend stores and every reader parses the
same way: objects with text keys, arrays, text, finite numbers, booleans and null.
Python values that JSON cannot say (bytes, sets, datetimes, objects, NaN, infinities,
integers beyond what JSON parsers agree on), text that UTF-8 cannot encode (lone
surrogates), nesting deeper than :attr:`BodyLimits.max_depth` and bodies or single
values larger than the caps are refused with a :class:`~credlti.errors.FieldError`
that names the path and never the value.

The walk is iterative (no recursion limit to hit) and stops at the first problems it
can report, so a hostile body costs time linear in its size, bounded by the caps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from credlti.credentials._records import BodyLimits
from credlti.errors import FieldError

__all__ = ["BodyLimits", "check_body", "check_coerced", "parse_body_text"]

#: The largest integer magnitude kept exactly by every JSON parser (IEEE doubles).
MAX_SAFE_INTEGER = 2**53 - 1
_MAX_ERRORS = 20


def _text_error(value: str, limits: BodyLimits) -> str | None:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid text (it holds a lone surrogate); send UTF-8 text"
    if size > limits.max_value_bytes:
        return f"is longer than {limits.max_value_bytes} bytes"
    return None


def _scalar_error(value: object, limits: BodyLimits) -> str | None:
    """Why a non-container value cannot be stored, or ``None`` when it can."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _text_error(value, limits)
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return None
        return f"is an integer beyond +/-{MAX_SAFE_INTEGER}; send it as text"
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return "is not a finite number (NaN and infinities are not JSON)"
    return f"is a {type(value).__name__}, not a JSON value (text, number, boolean, null)"


def check_body(
    body: object, *, limits: BodyLimits, path: str = "body"
) -> tuple[dict[str, Any] | None, tuple[FieldError, ...]]:
    """Check *body* and return ``(a plain JSON copy, ())`` or ``(None, errors)``.

    The copy has ``dict``/``list`` containers only, so what is sealed is exactly what
    a later read returns. Error messages name the path (``body.password``) and the
    rule, never the value.
    """
    if not isinstance(body, Mapping):
        return None, (FieldError(path=path, message="must be a JSON object"),)
    errors: list[FieldError] = []
    root: dict[str, Any] = {}
    # (source container, its copy, its path, its depth)
    work: list[tuple[Any, Any, str, int]] = [(body, root, path, 1)]
    items = 0
    while work and len(errors) < _MAX_ERRORS:
        source, copy, where, depth = work.pop()
        if depth > limits.max_depth:
            errors.append(FieldError(path=where, message=f"nests deeper than {limits.max_depth}"))
            continue
        pairs = source.items() if isinstance(copy, dict) else enumerate(source)
        for key, value in pairs:
            items += 1
            if items > limits.max_items:
                errors.append(
                    FieldError(path=path, message=f"holds more than {limits.max_items} items")
                )
                return None, tuple(errors)
            if isinstance(copy, dict):
                if not isinstance(key, str):
                    errors.append(FieldError(path=where, message="has a key that is not text"))
                    continue
                if _text_error(key, limits) is not None:
                    errors.append(
                        FieldError(path=where, message="has a key that is not valid text")
                    )
                    continue
                # Paths name keys, never values; keys are identifiers, not secrets.
                child = f"{where}.{key[:64]}"
            else:
                child = f"{where}[{key}]"
            if isinstance(value, Mapping):
                inner: Any = {}
                work.append((value, inner, child, depth + 1))
            elif isinstance(value, (list, tuple)):
                inner = []
                work.append((value, inner, child, depth + 1))
            else:
                problem = _scalar_error(value, limits)
                if problem is not None:
                    errors.append(FieldError(path=child, message=problem))
                    continue
                inner = value
            if isinstance(copy, dict):
                copy[key] = inner
            else:
                copy.append(inner)
    if errors:
        return None, tuple(errors)
    return _within_size(root, limits, path)


def _within_size(
    body: dict[str, Any], limits: BodyLimits, path: str
) -> tuple[dict[str, Any] | None, tuple[FieldError, ...]]:
    """*body* if its compact UTF-8 JSON fits ``max_body_bytes``, else the size error."""
    size = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > limits.max_body_bytes:
        return None, (
            FieldError(path=path, message=f"is larger than {limits.max_body_bytes} bytes"),
        )
    return body, ()


_MISSING: Any = object()


def check_coerced(
    gated: Mapping[str, Any], typed: dict[str, Any], *, limits: BodyLimits
) -> tuple[dict[str, Any] | None, tuple[FieldError, ...]]:
    """:func:`check_body` of *typed*, a gated body whose top-level values coercion changed.

    *gated* passed the gate already; *typed* is it with some top-level values
    replaced or removed. When every change replaces a value with a scalar (numbers
    and booleans from text) only those values and the total size can break a cap, so
    only they are checked; a container (an object from JSON text) or a new key sends
    the whole body through the gate again. Same result as ``check_body(typed)``.
    """
    changed = {k: v for k, v in typed.items() if gated.get(k, _MISSING) is not v}
    if not changed:
        return typed, ()
    if any(k not in gated or isinstance(v, (Mapping, list, tuple)) for k, v in changed.items()):
        return check_body(typed, limits=limits)  # a new key or a container: walk it all
    errors = tuple(
        FieldError(path=f"body.{key[:64]}", message=problem)
        for key, value in changed.items()
        if (problem := _scalar_error(value, limits)) is not None
    )
    if errors:
        return None, errors
    return _within_size(typed, limits, "body")


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def parse_body_text(
    text: object, *, limits: BodyLimits, path: str = "body"
) -> tuple[dict[str, Any] | None, tuple[FieldError, ...]]:
    """Parse a JSON text body (strict JSON: no NaN or Infinity) and check it.

    The parser's own messages are dropped: they quote the text, which holds secrets.
    """
    bad = FieldError(path=path, message="is not a JSON object text")
    if not isinstance(text, str):
        return None, (bad,)
    if _text_error(text, attrs.evolve(limits, max_value_bytes=limits.max_body_bytes)):
        return None, (FieldError(path=path, message="is not valid text or is too large"),)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None, (bad,)
    return check_body(value, limits=limits, path=path)
