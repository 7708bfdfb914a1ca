r"""Validation of credential attributes (pure), field by field, before anything is saved.

Names: required, at most 255 characters of ``[A-Za-z0-9_\\- ]``;
unique per owner (checked by the facade against the store). The owner can only
change through a transfer, never through an update; the schema is fixed at creation.
Ids (owner, projects, OAuth client, external id) are identifiers: text of at most 255
printable characters. The body (a mapping or its JSON text) and the OAuth token data
pass the body gate (:mod:`credlti.credentials._values`) before the schema sees them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from credlti._text import id_problem
from credlti.credentials._oauth import token_from_grant
from credlti.credentials._records import BodyLimits, Credential, FieldError
from credlti.credentials._schemas import SchemaRegistry
from credlti.credentials._values import check_body, check_coerced, parse_body_text
from credlti.errors import SchemaNotFoundError

__all__ = ["KNOWN_FIELDS", "normalize_attrs", "validate_changes"]

NAME = re.compile(r"[a-zA-Z0-9_\- ]*\Z")
MAX_NAME = 255
KNOWN_FIELDS = frozenset(
    {
        "name",
        "schema",
        "owner_id",
        "body",
        "production",
        "external_id",
        "project_ids",
        "oauth_client_id",
        "oauth_token",
        "expected_scopes",
    }
)
DUPLICATE_NAME = "you have another credential with the same name"
#: Stands for a body or token the gate refused (its errors are already listed).
REFUSED: Any = object()


def normalize_attrs(
    attrs: Mapping[Any, Any], limits: BodyLimits | None = None
) -> tuple[dict[str, Any], list[FieldError]]:
    """Normalise raw attributes; return them and the errors found on the way.

    Field names must be text; ``user_id`` is accepted for ``owner_id``; the body (a
    mapping or its JSON text) and ``oauth_token`` are checked by the body gate and
    replaced by plain JSON copies (:data:`REFUSED` when refused, with the errors).
    """
    limits = limits if limits is not None else BodyLimits()
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, value in attrs.items():
        if not isinstance(key, str) or id_problem(key, max_length=64):
            errors.append(FieldError(path="attrs", message="has a field name that is not text"))
        else:
            out[key] = value
    if "user_id" in out and "owner_id" not in out:
        out["owner_id"] = out.pop("user_id")
    for field in ("body", "oauth_token"):
        value = out.get(field)
        if value is None:
            continue
        if field == "body" and isinstance(value, str):
            plain, problems = parse_body_text(value, limits=limits, path=field)
        else:
            plain, problems = check_body(value, limits=limits, path=field)
        errors.extend(problems)
        out[field] = REFUSED if plain is None else plain
    return out, errors


def _id_error(value: Any, path: str) -> FieldError | None:
    problem = id_problem(value)
    return FieldError(path=path, message=problem) if problem else None


def _scopes_error(value: Any) -> FieldError | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    ok = isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value)
    if not ok or check_body({"s": list(value)}, limits=BodyLimits())[1]:
        return FieldError(path="expected_scopes", message="must be text or a list of texts")
    return None


def validate_changes(
    existing: Credential | None,
    attrs: Mapping[Any, Any],
    schemas: SchemaRegistry,
    now: datetime,
    *,
    default_token_lifetime: timedelta | None = None,
    limits: BodyLimits | None = None,
) -> tuple[dict[str, Any], tuple[FieldError, ...]]:
    """Check *attrs* for a new credential (*existing* None) or an update.

    Returns the normalised changes (coerced body, parsed token, project id set) and
    the field errors; never raises for bad input.
    """
    limits = limits if limits is not None else BodyLimits()
    raw, errors = normalize_attrs(attrs, limits)
    refused = {k for k in ("body", "oauth_token") if raw.get(k) is REFUSED}
    changes: dict[str, Any] = {}
    creating = existing is None
    errors.extend(
        FieldError(path=key, message="is not a known credential field")
        for key in sorted(set(raw) - KNOWN_FIELDS)
    )

    if "name" in raw or creating:
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(FieldError(path="name", message="can't be blank"))
        elif len(name) > MAX_NAME:
            errors.append(
                FieldError(path="name", message=f"should be at most {MAX_NAME} characters")
            )
        elif not NAME.match(name):
            errors.append(FieldError(path="name", message="credential name has invalid format"))
        else:
            changes["name"] = name

    if creating:
        owner = raw.get("owner_id")
        if not isinstance(owner, str) or not owner:
            errors.append(FieldError(path="owner_id", message="can't be blank"))
        elif (problem := _id_error(owner, "owner_id")) is not None:
            errors.append(problem)
        else:
            changes["owner_id"] = owner
    elif existing is not None and "owner_id" in raw and raw["owner_id"] != existing.owner_id:
        errors.append(
            FieldError(path="owner_id", message="can only change through a credential transfer")
        )

    schema_name = existing.schema if existing else raw.get("schema")
    if not creating and "schema" in raw and raw["schema"] != schema_name:
        errors.append(FieldError(path="schema", message="can't be changed after creation"))
    schema = None
    if not isinstance(schema_name, str) or not schema_name:
        errors.append(FieldError(path="schema", message="can't be blank"))
    else:
        try:
            schema = schemas.get(schema_name)
        except SchemaNotFoundError:
            errors.append(FieldError(path="schema", message="is not a known credential schema"))
        else:
            changes["schema"] = schema_name

    if (creating or raw.get("body") is not None) and "body" not in refused:
        body = raw.get("body")
        if body is None:
            errors.append(FieldError(path="body", message="can't be blank"))
        elif schema is not None:
            typed, body_errors = schema.validate(body)
            if not body_errors and schema.typed:
                # Coercion may make values (numbers from text, objects from JSON text):
                # what is sealed passes the same gate as what was sent.
                plain, body_errors = check_coerced(body, typed, limits=limits)
                typed = plain if plain is not None else typed
            errors.extend(body_errors)
            changes["body"] = typed

    if "production" in raw:
        if isinstance(raw["production"], bool):
            changes["production"] = raw["production"]
        else:
            errors.append(FieldError(path="production", message="must be true or false"))

    if "external_id" in raw:
        ext = raw["external_id"]
        if ext is not None and not isinstance(ext, str):
            errors.append(FieldError(path="external_id", message="must be a string"))
        elif ext and (problem := _id_error(ext, "external_id")) is not None:
            errors.append(problem)
        else:
            changes["external_id"] = ext or None

    if "project_ids" in raw:
        ids = raw["project_ids"]
        if (
            not isinstance(ids, list)
            or len(ids) > limits.max_items
            or any(id_problem(i) for i in ids)
        ):
            errors.append(FieldError(path="project_ids", message="must be a list of project ids"))
        else:
            changes["project_ids"] = frozenset(ids)

    is_oauth = schema_name == "oauth"
    if "oauth_client_id" in raw:
        client_id = raw["oauth_client_id"]
        if not is_oauth:
            errors.append(FieldError(path="oauth_client_id", message="only for OAuth credentials"))
        elif client_id is not None and not isinstance(client_id, str):
            errors.append(FieldError(path="oauth_client_id", message="must be a string"))
        elif client_id is not None and (problem := _id_error(client_id, "oauth_client_id")):
            errors.append(problem)
        else:
            changes["oauth_client_id"] = client_id
    scopes_error = _scopes_error(raw.get("expected_scopes"))
    if scopes_error is not None:
        errors.append(scopes_error)
    wants_token = "oauth_token" in raw or (creating and is_oauth)
    if wants_token and "oauth_token" not in refused:
        if not is_oauth:
            errors.append(FieldError(path="oauth_token", message="only for OAuth credentials"))
        elif raw.get("oauth_token") is None:
            errors.append(
                FieldError(path="oauth_token", message="OAuth credentials require token data")
            )
        else:
            token, token_errors = token_from_grant(
                raw["oauth_token"],
                now,
                previous=existing.oauth_token if existing else None,
                expected_scopes=None if scopes_error else raw.get("expected_scopes"),
                default_lifetime=default_token_lifetime,
            )
            errors.extend(token_errors)
            if token is not None:
                changes["oauth_token"] = token
    return changes, tuple(errors)
