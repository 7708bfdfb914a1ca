"""Credential schemas: built-ins, host schemas, coercion and value-free error messages."""

from __future__ import annotations

from typing import Any

import pytest

from credlti.credentials import SchemaRegistry
from credlti.errors import ConfigurationError, SchemaNotFoundError

REG = SchemaRegistry()


def test_builtins_present() -> None:
    """Raw, http basic auth, OAuth and two database logins ship with the package."""
    assert {"raw", "http", "oauth", "postgresql", "mysql"} <= set(REG.names())
    assert REG.get("postgresql").fields == ("host", "port", "database", "user", "password", "ssl")


def test_unknown_schema() -> None:
    """An unknown name raises SchemaNotFoundError listing the known ones."""
    with pytest.raises(SchemaNotFoundError, match="postgresql"):
        REG.get("nope")


@pytest.mark.parametrize(
    ("field", "given", "expected"),
    [("port", "5432", 5432), ("ssl", "TRUE", True), ("ssl", "false", False), ("port", "", None)],
)
def test_coercion(field: str, given: Any, expected: Any) -> None:
    """Declared integer/boolean fields are coerced from text; empty text means absent."""
    body = {"host": "h", "database": "d", "user": "u", "password": "p", field: given}
    out, errors = REG.get("postgresql").validate(body)
    assert errors == ()
    assert out.get(field) == expected


def test_object_fields_accept_json_text() -> None:
    """An object-typed field accepts a JSON object as text, and rejects other JSON."""
    schema = REG.get("http")
    out, errors = schema.validate({"username": "u", "password": "p", "tls": '{"ca": "x"}'})
    assert errors == ()
    assert out["tls"] == {"ca": "x"}
    _, errors = schema.validate({"username": "u", "password": "p", "tls": "[1]"})
    assert [e.path for e in errors] == ["body.tls"]


def test_errors_name_the_field_path_and_not_the_value() -> None:
    """Errors say body.<field> and never echo the (possibly secret) value."""
    _, errors = REG.get("postgresql").validate(
        {"host": "h", "database": "d", "user": "u", "password": 12345678, "port": "hunter2"}
    )
    paths = {e.path: e.message for e in errors}
    assert paths == {"body.port": "must be an integer", "body.password": "must be of type string"}
    assert all("hunter2" not in m and "12345678" not in m for m in paths.values())


def test_required_fields_and_formats() -> None:
    """Missing required fields read "can't be blank"; formats are checked."""
    _, errors = REG.get("http").validate({"baseUrl": "not a url"})
    assert {(e.path, e.message) for e in errors} == {
        ("body.username", "can't be blank"),
        ("body.password", "can't be blank"),
        ("body.baseUrl", "expected to be a URI"),
    }


def test_body_must_be_an_object() -> None:
    """Non-object bodies and bad JSON text are field errors on body."""
    assert REG.get("raw").validate([1])[1][0].message == "must be a JSON object"
    assert REG.get("raw").validate("{oops")[1][0].message == "invalid JSON"


def test_raw_is_not_coerced() -> None:
    """The raw schema keeps values verbatim."""
    out, errors = REG.get("raw").validate({"port": "5432"})
    assert errors == ()
    assert out == {"port": "5432"}


def test_host_schemas() -> None:
    """Hosts register Draft 2020-12 schemas; invalid ones are refused at registration."""
    reg = SchemaRegistry(
        extra={
            "dhis2": {
                "type": "object",
                "properties": {
                    "n": {"type": "number"},
                    "e": {"type": "string", "format": "email", "enum": ["a@b.c"]},
                },
                "additionalProperties": False,
            }
        }
    )
    out, errors = reg.get("dhis2").validate({"n": "1.5", "x": 1, "e": "zz"})
    assert out["n"] == 1.5
    assert {e.path for e in errors} == {"body.x", "body.e"}
    with pytest.raises(ConfigurationError):
        reg.register("bad", {"type": 5})
    with pytest.raises(ConfigurationError):
        reg.register("Bad Name", {"type": "object"})
    with pytest.raises(ConfigurationError):
        reg.register("arr", {"type": "array"})
