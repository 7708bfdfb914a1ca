"""The fast acceptance check of flat schemas agrees with jsonschema, always.

It may only ever say "valid" when jsonschema does; on the keywords it supports it
answers exactly as jsonschema does, for generated schemas and any Python values.
"""

from __future__ import annotations

import decimal
import fractions
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from credlti.credentials import SchemaRegistry
from credlti.credentials._schema_fast import compile_fast_check
from credlti.credentials._schemas import _FORMATS, BUILTIN_SCHEMAS, build_schema

TYPES = ["string", "integer", "number", "boolean", "object", "array", "null"]
BOUNDS = st.one_of(
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 0.5, -1, 65535, 2**53]),
)
PROPERTY = st.one_of(
    st.just(True),
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.one_of(st.sampled_from(TYPES), st.lists(st.sampled_from(TYPES), min_size=1)),
            "minLength": st.integers(0, 5),
            "maxLength": st.integers(0, 8),
            "minimum": BOUNDS,
            "maximum": BOUNDS,
            "exclusiveMinimum": BOUNDS,
            "exclusiveMaximum": BOUNDS,
            "format": st.sampled_from(["uri", "email", "ipv4", "ipv6", "hostname", "date"]),
            "title": st.text(max_size=5),
            "writeOnly": st.booleans(),
        },
    ),
)
NAMES = st.sampled_from(["host", "port", "user", "password", "ssl", "extra", "ünï"])
SCHEMAS = st.builds(
    lambda props, required, extra: {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": props,
        "required": required,
        **extra,
    },
    st.dictionaries(NAMES, PROPERTY, max_size=5),
    st.lists(NAMES, max_size=3),
    st.fixed_dictionaries({}, optional={"additionalProperties": st.booleans()}),
)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"x": value}
    return value


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.sampled_from([5.0, -0.0, 65535.0, 2.0**53, 1e308, float("nan"), float("inf")]),
    st.text(max_size=10),
    st.sampled_from(["http://x.org", "a@b.co", "127.0.0.1", "::1", "not a uri", "é" * 3]),
    st.builds(decimal.Decimal, st.integers(-5, 70000)),
    st.builds(fractions.Fraction, st.integers(-5, 5), st.integers(1, 3)),
    st.binary(max_size=3),
    st.sampled_from(["\udc80", "a\x00b", "x" * 100_000, "\U0001f600" * 4]),
    st.integers(1, 150).map(_nested),
)
VALUES = st.recursive(
    LEAVES,
    lambda kids: (
        st.lists(kids, max_size=2) | st.dictionaries(st.text(max_size=3), kids, max_size=2)
    ),
    max_leaves=4,
)
BODIES = st.one_of(st.dictionaries(NAMES, VALUES, max_size=6), VALUES)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=SCHEMAS, data=st.data())
def test_fast_check_answers_as_jsonschema_does(document: dict[str, Any], data: Any) -> None:
    check = compile_fast_check(document, _FORMATS)
    assert check is not None, "every generated schema is in the supported subset"
    validator = Draft202012Validator(document, format_checker=_FORMATS)
    # Values at and around the schema's own bounds and lengths, where off-by-one hides.
    edges: list[Any] = [0]
    for prop in document["properties"].values():
        if isinstance(prop, dict):
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if key in prop:
                    edges += [prop[key], prop[key] + 1, prop[key] - 1, float(prop[key])]
            for key in ("minLength", "maxLength"):
                if key in prop:
                    edges += ["x" * prop[key], "x" * (prop[key] + 1), "é" * max(prop[key] - 1, 0)]
    value = st.one_of(st.sampled_from(edges), VALUES)
    near = st.fixed_dictionaries(
        dict.fromkeys(document["required"], value),
        optional={n: value for n in document["properties"] if n not in document["required"]},
    )
    for _ in range(5):
        body = data.draw(st.one_of(near, near, BODIES))
        assert check(body) == validator.is_valid(body), (document, body)


@pytest.mark.parametrize(
    "document",
    [
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}},
        {"type": "object", "properties": {"a": {"enum": [1, 2]}}},
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {}}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "patternProperties": {"^a": {"type": "string"}}},
        {"type": "object", "allOf": [{"required": ["a"]}]},
        {"type": "object", "properties": {"a": False}},
        {"type": "object", "properties": {"a": {"type": "string", "minLength": -1}}},
        {"type": "object", "properties": {"a": {"type": "integer", "minimum": "5"}}},
        {"type": "object", "properties": {"a": {"type": "tuple"}}},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
        {
            "type": "object",
            "properties": {
                "n": {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"}
            },
        },
        {
            "type": "object",
            "properties": {
                "n": {
                    "$schema": "http://json-schema.org/draft-04/schema#",
                    "minimum": 3,
                    "exclusiveMinimum": 1,
                }
            },
        },
        {"type": "object", "if": {"required": ["a"]}, "then": {"required": ["b"]}},
    ],
)
def test_other_keywords_always_go_to_jsonschema(document: dict[str, Any]) -> None:
    assert compile_fast_check(document, _FORMATS) is None


@pytest.mark.parametrize("name", BUILTIN_SCHEMAS)
def test_every_builtin_schema_has_the_fast_check(name: str) -> None:
    assert SchemaRegistry().get(name).fast is not None


ANY_BODY = st.one_of(
    BODIES,
    st.fixed_dictionaries(
        {},
        optional={
            "host": st.one_of(st.just("db"), st.just(""), VALUES),
            "port": st.one_of(st.sampled_from(["5432", " 7 ", "0", "70000", 5432, 5.0]), VALUES),
            "database": st.one_of(st.just("app"), VALUES),
            "user": st.one_of(st.just("svc"), VALUES),
            "password": st.one_of(st.just("pw"), VALUES),
            "ssl": st.one_of(st.sampled_from(["true", "no", True]), VALUES),
            "url": st.one_of(st.sampled_from(["https://x.org", "nope"]), VALUES),
        },
    ),
    st.text(max_size=20),
)


@settings(max_examples=600, deadline=None)
@given(name=st.sampled_from(BUILTIN_SCHEMAS), body=ANY_BODY)
def test_validate_gives_the_same_result_with_and_without_it(name: str, body: Any) -> None:
    schema = SchemaRegistry().get(name)
    assert schema.fast is not None
    assert schema.validate(body) == attrs.evolve(schema, fast=None).validate(body)


def test_a_registered_flat_schema_gets_it_and_reports_errors_as_before() -> None:
    document = {
        "type": "object",
        "properties": {"key": {"type": "string", "minLength": 8}, "n": {"type": "integer"}},
        "required": ["key"],
    }
    schema = build_schema("api", document)
    assert schema.fast is not None
    assert schema.validate({"key": "k" * 8, "n": "3"}) == ({"key": "k" * 8, "n": 3}, ())
    _, errors = schema.validate({"key": "short"})
    assert [e.path for e in errors] == ["body.key"]
    assert errors == attrs.evolve(schema, fast=None).validate({"key": "short"})[1]


@pytest.mark.parametrize("where", ["host", "extra"])
def test_a_value_nested_thousands_deep_is_a_field_error(where: str) -> None:
    """Invalid or not, a hostile depth never escapes as RecursionError."""
    schema = SchemaRegistry().get("postgresql")
    body = {"host": "h", "database": "d", "user": "u", "password": "p", where: _nested(5000)}
    _, errors = schema.validate(body)
    if where == "host":  # not text: jsonschema's report of it recurses
        assert [(e.path, e.message) for e in errors] == [("body", "nests too deeply")]
    else:  # an undeclared key is kept verbatim and never looked into
        assert errors == ()
