"""Credential body schemas: JSON Schema (Draft 2020-12) plus documented type coercion.

Coercion applies to *declared top-level properties* of typed schemas (every schema
except ``raw`` and ``oauth``), before validation:

==========  ===============================================================
type        accepted input and result
==========  ===============================================================
integer     ``"5432"`` → ``5432`` (ASCII digits with an optional sign, within
            +/- 2**53-1)
number      ``"1.5"`` → ``1.5``; ``"3"`` → ``3.0`` (ASCII decimal notation;
            ``"NaN"``, ``"inf"``, ``"1e999"`` are refused)
boolean     ``"true"``/``"false"`` (any case) → ``True``/``False``
object      a JSON text that decodes to an object → that object
any         ``""`` or ``None`` for a non-string type → the field is absent
==========  ===============================================================

Undeclared keys are kept verbatim. Error messages name the field path (``body.port``)
and never contain the submitted value, which may be a secret.

``$ref`` is resolved within the schema document only: nothing is fetched. A schema
whose references do not resolve is refused at registration with a
:class:`~credlti.errors.ConfigurationError`.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, cast
from urllib.parse import urlsplit

import attrs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from credlti.credentials._records import FieldError
from credlti.credentials._schema_fast import compile_fast_check
from credlti.errors import ConfigurationError, SchemaNotFoundError

__all__ = ["BUILTIN_SCHEMAS", "UNTYPED_SCHEMAS", "CredentialSchema", "SchemaRegistry"]

#: The schema files shipped in ``credlti/credentials/schemas``.
BUILTIN_SCHEMAS = ("http", "mysql", "oauth", "postgresql", "raw")
#: Schemas whose bodies are validated as objects but never coerced.
UNTYPED_SCHEMAS = frozenset({"raw", "oauth"})
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}\Z")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_INT = re.compile(r"[+-]?[0-9]{1,16}\Z")
_NUMBER = re.compile(r"[+-]?([0-9]{1,300}(\.[0-9]{0,300})?|\.[0-9]{1,300})([eE][+-]?[0-9]{1,4})?\Z")
_MAX_SAFE_INTEGER = 2**53 - 1
#: The base URI a schema document is known by while its references are checked.
_BASE = "urn:credlti:credential-schema"


def _strict_json(text: str) -> Any:
    """``json.loads`` refusing NaN and Infinity (ValueError), as the body gate does."""

    def refuse(name: str) -> Any:
        msg = f"{name} is not JSON"
        raise ValueError(msg)

    try:
        return json.loads(text, parse_constant=refuse)
    except RecursionError:
        msg = "nested too deeply"
        raise ValueError(msg) from None


def _checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme and (parts.netloc or parts.path))

    @checker.checks("email")
    def _email(value: object) -> bool:
        return not isinstance(value, str) or bool(_EMAIL.match(value))

    @checker.checks("ipv4")
    def _ipv4(value: object) -> bool:
        if not isinstance(value, str):
            return True
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return False
        return True

    @checker.checks("ipv6")
    def _ipv6(value: object) -> bool:
        if not isinstance(value, str):
            return True
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return False
        return True

    return checker


_FORMATS = _checker()
_FORMAT_MESSAGES = {
    "uri": "expected to be a URI",
    "email": "expected to be an email",
    "ipv4": "expected to be an IPv4 address",
    "ipv6": "expected to be an IPv6 address",
}


@attrs.frozen(kw_only=True)
class CredentialSchema:
    """A named credential schema: the JSON Schema and each declared field's type."""

    name: str
    document: Mapping[str, Any] = attrs.field(repr=False)
    #: Declared top-level properties, in declaration order, with their JSON type.
    types: Mapping[str, str] = attrs.field(factory=dict)
    typed: bool = True
    validator: Draft202012Validator = attrs.field(repr=False, eq=False)
    #: A fast acceptance check for flat schemas (``None``: always use *validator*).
    fast: Callable[[Any], bool] | None = attrs.field(default=None, repr=False, eq=False)

    @property
    def fields(self) -> tuple[str, ...]:
        """The declared top-level property names."""
        return tuple(self.types)

    @property
    def required(self) -> frozenset[str]:
        """Required top-level properties."""
        return frozenset(self.document.get("required", ()))

    def validate(self, body: Any) -> tuple[dict[str, Any], tuple[FieldError, ...]]:
        """Coerce and validate *body*; return the normalised body and the field errors."""
        if isinstance(body, str):
            try:
                body = _strict_json(body)
            except ValueError:
                return {}, (FieldError(path="body", message="invalid JSON"),)
        if not isinstance(body, Mapping):
            return {}, (FieldError(path="body", message="must be a JSON object"),)
        out: dict[str, Any] = {str(k): v for k, v in body.items()}
        errors: list[FieldError] = []
        if self.typed:
            for name, kind in self.types.items():
                if name in out:
                    value, error = _coerce(out[name], kind)
                    if error:
                        errors.append(FieldError(path=f"body.{name}", message=error))
                    elif value is _ABSENT:
                        del out[name]
                    else:
                        out[name] = value
        bad = {e.path for e in errors}
        if self.fast is not None and self.fast(out):
            return out, tuple(errors)  # valid: jsonschema would find nothing
        try:
            found = sorted(self.validator.iter_errors(out), key=_sort_key)
        except RecursionError:
            # A value nested thousands deep (jsonschema describes it recursively); the
            # vault's body gate refuses these before, direct callers get the same rule.
            return out, (*errors, FieldError(path="body", message="nests too deeply"))
        except Unresolvable:
            # Registration checks references; a $dynamicRef may still fail here.
            msg = f"schema {self.name!r} has a reference that cannot be resolved; fix the schema"
            raise ConfigurationError(msg) from None
        for err in found:
            for fe in _field_errors(err):
                if fe.path not in bad:
                    errors.append(fe)
                    bad.add(fe.path)
        return out, tuple(errors)


_ABSENT: Any = object()


def _coerce(value: Any, kind: str) -> tuple[Any, str | None]:
    if kind != "string" and (value is None or value == ""):
        return _ABSENT, None
    if not isinstance(value, str) or kind == "string":
        return value, None
    text = value.strip()
    if kind == "integer":
        if _INT.match(text) and abs(number := int(text)) <= _MAX_SAFE_INTEGER:
            return number, None
        return value, "must be an integer"
    if kind == "number":
        if _NUMBER.match(text) and math.isfinite(real := float(text)):
            return real, None
        return value, "must be a number"
    if kind == "boolean":
        if text.lower() in {"true", "false"}:
            return text.lower() == "true", None
        return value, "must be true or false"
    if kind == "object":
        try:
            parsed = _strict_json(text)
        except ValueError:
            return value, "invalid JSON"
        return (parsed, None) if isinstance(parsed, dict) else (value, "must be a JSON object")
    return value, None


def _sort_key(err: ValidationError) -> tuple[str, str]:
    return (".".join(str(p) for p in err.absolute_path), str(err.validator))


def _path(parts: Any) -> str:
    return ".".join(["body", *(str(p) for p in parts)])


def _field_errors(err: ValidationError) -> list[FieldError]:
    """Map one jsonschema error to field errors whose messages never echo the value."""
    where = list(err.absolute_path)
    validator, arg = str(err.validator), cast("Any", err.validator_value)
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    if validator == "required":
        instance = err.instance if isinstance(err.instance, Mapping) else {}
        return [
            FieldError(path=_path([*where, name]), message="can't be blank")
            for name in arg
            if name not in instance
        ]
    if validator == "type":
        kinds = arg if isinstance(arg, list) else [arg]
        kind = " or ".join(str(k) for k in kinds)
        message = "must be a JSON object" if kinds == ["object"] else f"must be of type {kind}"
        return [FieldError(path=_path(where), message=message)]
    if validator == "format":
        message = _FORMAT_MESSAGES.get(str(arg), f"expected the format {arg}")
        return [FieldError(path=_path(where), message=message)]
    if validator == "additionalProperties":
        instance = err.instance if isinstance(err.instance, Mapping) else {}
        extra = sorted(set(instance) - set(schema.get("properties", {})))
        return [FieldError(path=_path([*where, k]), message="is not allowed") for k in extra]
    messages = {
        "minLength": f"should be at least {arg} character(s)",
        "maxLength": f"should be at most {arg} character(s)",
        "minimum": f"must be greater than or equal to {arg}",
        "maximum": f"must be less than or equal to {arg}",
        "enum": "is not one of the allowed values",
        "const": "is not the allowed value",
        "pattern": "has an invalid format",
    }
    message = messages.get(validator, f"does not satisfy the {validator!r} rule")
    return [FieldError(path=_path(where), message=message)]


def _declared_types(document: Mapping[str, Any]) -> dict[str, str]:
    types: dict[str, str] = {}
    properties = document.get("properties", {})
    if not isinstance(properties, Mapping):
        return types
    for name, spec in properties.items():
        kind: Any = spec.get("type", "string") if isinstance(spec, Mapping) else "string"
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if isinstance(spec, Mapping) and "anyOf" in spec and "type" not in spec:
            options = [o.get("type") for o in spec["anyOf"] if isinstance(o, Mapping)]
            kind = next((k for k in options if k and k != "null"), "string")
        types[str(name)] = str(kind)
    return types


def build_schema(name: str, document: Mapping[str, Any]) -> CredentialSchema:
    """Check a schema document and build a :class:`CredentialSchema` (ConfigurationError if bad)."""
    if not _NAME.match(name):
        msg = f"schema name {name!r} must be lowercase letters, digits, '_', '-' or '.'"
        raise ConfigurationError(msg)
    try:
        Draft202012Validator.check_schema(document)
    except SchemaError as exc:
        msg = f"schema {name!r} is not a valid Draft 2020-12 JSON Schema: {exc.message}"
        raise ConfigurationError(msg) from None
    if document.get("type", "object") != "object":
        msg = f"schema {name!r} must describe an object (type: object)"
        raise ConfigurationError(msg)
    _check_references(name, document)
    return CredentialSchema(
        name=name,
        document=document,
        types=_declared_types(document),
        typed=name not in UNTYPED_SCHEMAS,
        # An empty registry: references resolve inside the document, nothing is fetched.
        validator=Draft202012Validator(document, format_checker=_FORMATS, registry=Registry()),
        fast=compile_fast_check(document, _FORMATS),
    )


def _check_references(name: str, document: Mapping[str, Any]) -> None:
    """Refuse a schema with a ``$ref`` that does not resolve inside the document."""
    try:
        resource = DRAFT202012.create_resource(document)
        registry: Registry[Any] = Registry().with_resource(_BASE, resource).crawl()
        work: list[tuple[Any, Any]] = [(document, registry.resolver(base_uri=_BASE))]
        while work:
            node, resolver = work.pop()
            if isinstance(node, Mapping):
                if isinstance(node.get("$id"), str):
                    resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
                ref = node.get("$ref")
                if isinstance(ref, str):
                    resolver.lookup(ref)
                work.extend((value, resolver) for value in node.values())
            elif isinstance(node, list):
                work.extend((value, resolver) for value in node)
    except Unresolvable as exc:
        ref = str(getattr(exc, "ref", ""))[:200]
        msg = (
            f"schema {name!r} has a $ref that does not resolve inside the document ({ref!r}); "
            "credlti fetches no remote schema: inline it under $defs"
        )
        raise ConfigurationError(msg) from None


def _load_builtin(name: str) -> CredentialSchema:
    text = resources.files("credlti.credentials").joinpath(f"schemas/{name}.json").read_text()
    return build_schema(name, json.loads(text))


@attrs.define
class SchemaRegistry:
    """Built-in schemas plus the host's own (``extra`` may override a built-in).

    Example::

        registry = SchemaRegistry(extra={"dhis2": {"type": "object", ...}})
    """

    extra: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict, repr=False)
    _schemas: dict[str, CredentialSchema] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._schemas = {name: _load_builtin(name) for name in BUILTIN_SCHEMAS}
        for name, document in self.extra.items():
            self._schemas[name] = build_schema(name, document)

    def register(self, name: str, document: Mapping[str, Any]) -> CredentialSchema:
        """Add or replace a schema; returns it."""
        schema = self._schemas[name] = build_schema(name, document)
        return schema

    def names(self) -> list[str]:
        """Every schema name, sorted."""
        return sorted(self._schemas)

    def get(self, name: str) -> CredentialSchema:
        """Return the schema *name* or raise :class:`~credlti.errors.SchemaNotFoundError`."""
        key: object = name  # any value may come in; only text can name a schema
        schema = self._schemas.get(key) if isinstance(key, str) else None
        if schema is None:
            shown = key[:100] if isinstance(key, str) else type(key).__name__
            raise SchemaNotFoundError(
                f"no credential schema named {shown!r}; use one of {self.names()} "
                "or register it with SchemaRegistry.register",
                details={"schema": shown},
            )
        return schema
