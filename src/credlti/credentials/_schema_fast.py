"""A fast acceptance check for the common, flat credential schemas (pure).

Most credential schemas (every built-in one) are an object of typed properties with
length and range bounds and a ``required`` list. For those, :func:`compile_fast_check`
builds a plain Python predicate that answers "is this body valid?" about ten times
faster than walking the schema with ``jsonschema``. It only ever *accepts*: a body it
refuses is validated again by ``jsonschema``, which then reports the errors, so the
messages are unchanged. A schema using any keyword outside the small set below gets
no predicate and is always validated by ``jsonschema``.

Supported: ``type`` (a name or a list), ``properties``, ``required``,
``additionalProperties`` (a boolean), ``minLength``/``maxLength``,
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, ``format`` (through
the same format checker), and the annotations (``title``, ``description``, ...).
Its answers equal ``jsonschema``'s on these keywords (the same type definitions, the
same comparisons, the same format checker); ``tests/credentials/test_schema_fast.py``
checks that over generated schemas and bodies.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import FormatChecker

__all__ = ["compile_fast_check"]

Check = Callable[[Any], bool]
Compare = Callable[[Any, Any], bool]

_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "readOnly",
        "writeOnly",
        "deprecated",
    }
)
_OBJECT_KEYWORDS = _ANNOTATIONS | {"type", "properties", "required", "additionalProperties"}
_VALUE_KEYWORDS = _ANNOTATIONS | {
    "type",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "format",
}
_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


# Draft 2020-12 types, as jsonschema's type checker defines them (an integral float
# is an integer; any Number but a bool is a number).
_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _is_bound(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_check(kind: Any) -> Check | None:
    if isinstance(kind, str):
        return _TYPES.get(kind)
    if isinstance(kind, list) and kind and all(isinstance(k, str) and k in _TYPES for k in kind):
        checks = [_TYPES[k] for k in kind]
        return lambda v: any(check(v) for check in checks)
    return None


# Each keyword's *failure* test, as jsonschema writes it (so NaN behaves the same).
_LENGTHS: dict[str, Compare] = {
    "minLength": operator.lt,
    "maxLength": operator.gt,
}
_RANGES: dict[str, Compare] = {
    "minimum": operator.lt,
    "maximum": operator.gt,
    "exclusiveMinimum": operator.le,
    "exclusiveMaximum": operator.ge,
}


def _length(fails: Compare, bound: int) -> Check:
    # Applies to text only, counted in code points (as jsonschema does).
    return lambda v: not isinstance(v, str) or not fails(len(v), bound)


def _range(fails: Compare, bound: float) -> Check:
    # Applies to numbers only.
    return lambda v: not _is_number(v) or not fails(v, bound)


def _format(formats: FormatChecker, name: str) -> Check:
    return lambda v: formats.conforms(v, name)


def _value_check(schema: Any, formats: FormatChecker) -> Check | None:
    """The predicate of one property's schema, or ``None`` if it is not supported."""
    if schema is True:
        return lambda _: True
    if not isinstance(schema, Mapping) or not set(schema) <= _VALUE_KEYWORDS:
        return None
    if schema.get("$schema", _DRAFT_2020_12) != _DRAFT_2020_12:
        return None  # jsonschema validates this part with another draft's rules
    checks: list[Check] = []
    if "type" in schema:
        typed = _type_check(schema["type"])
        if typed is None:
            return None
        checks.append(typed)
    for keyword, fails in _LENGTHS.items():
        if keyword in schema:
            bound = schema[keyword]
            if not isinstance(bound, int) or isinstance(bound, bool) or bound < 0:
                return None
            checks.append(_length(fails, bound))
    for keyword, fails in _RANGES.items():
        if keyword in schema:
            bound = schema[keyword]
            if not _is_bound(bound):
                return None
            checks.append(_range(fails, bound))
    if "format" in schema:
        name = schema["format"]
        if not isinstance(name, str):
            return None
        checks.append(_format(formats, name))
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)


def compile_fast_check(document: Mapping[str, Any], formats: FormatChecker) -> Check | None:
    """The acceptance predicate of *document*, or ``None`` when it uses other keywords.

    *formats* must be the format checker the ``jsonschema`` validator uses.
    """
    if not set(document) <= _OBJECT_KEYWORDS:
        return None
    if document.get("$schema", _DRAFT_2020_12) != _DRAFT_2020_12:
        return None
    if document.get("type", "object") != "object":
        return None
    properties = document.get("properties", {})
    required = document.get("required", [])
    extra = document.get("additionalProperties", True)
    if not isinstance(properties, Mapping) or not isinstance(extra, bool):
        return None
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return None
    checks: dict[str, Check] = {}
    for name, schema in properties.items():
        check = _value_check(schema, formats)
        if not isinstance(name, str) or check is None:
            return None
        checks[name] = check
    needed = tuple(dict.fromkeys(required))
    known = frozenset(checks)

    def accepts(body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        for name in needed:
            if name not in body:
                return False
        if not extra and not known.issuperset(body):
            return False
        for name, value in body.items():
            check = checks.get(name)
            if check is not None and not check(value):
                return False
        return True

    return accepts
