r"""Validation of credential attributes (pure), field by field, before anything is saved.

Names: required, at most 255 characters of ``[A-Za-z0-9_\\- ]``;
unique per owner (checked by the facade against the store). The owner can only
change through a transfer, never through an update; the schema is fixed at creation.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from credlti.credentials._oauth import token_from_grant
from credlti.credentials._records import Credential, FieldError
from credlti.credentials._schemas import SchemaRegistry
from credlti.errors import SchemaNotFoundError

__all__ = ["KNOWN_FIELDS", "normalize_attrs", "validate_changes"]

NAME = re.compile(r"^[a-zA-Z0-9_\- ]*$")
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


def _stringify(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _stringify(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_stringify(v) for v in value]
    return value


def normalize_attrs(attrs: Mapping[Any, Any]) -> dict[str, Any]:
    """Normalise raw attributes.

    Keys are stringified at every depth (lists too), ``user_id`` is accepted for
    ``owner_id``, and a JSON-text ``body`` is decoded.
    """
    out: dict[str, Any] = _stringify(attrs)
    if "user_id" in out and "owner_id" not in out:
        out["owner_id"] = out.pop("user_id")
    body = out.get("body")
    if isinstance(body, str):
        # Left as text when it does not decode: schema validation says "invalid JSON".
        with contextlib.suppress(ValueError):
            out["body"] = json.loads(body)
    return out


def validate_changes(
    existing: Credential | None,
    attrs: Mapping[Any, Any],
    schemas: SchemaRegistry,
    now: datetime,
    *,
    default_token_lifetime: timedelta | None = None,
) -> tuple[dict[str, Any], tuple[FieldError, ...]]:
    """Check *attrs* for a new credential (*existing* None) or an update.

    Returns the normalised changes (coerced body, parsed token, project id set) and
    the field errors; never raises for bad input.
    """
    raw = normalize_attrs(attrs)
    errors: list[FieldError] = []
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

    if creating or raw.get("body") is not None:
        body = raw.get("body")
        if body is None:
            errors.append(FieldError(path="body", message="can't be blank"))
        elif schema is not None:
            typed, body_errors = schema.validate(body)
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
        else:
            changes["external_id"] = ext or None

    if "project_ids" in raw:
        ids = raw["project_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
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
        else:
            changes["oauth_client_id"] = client_id
    if "oauth_token" in raw or (creating and is_oauth):
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
                expected_scopes=raw.get("expected_scopes"),
                default_lifetime=default_token_lifetime,
            )
            errors.extend(token_errors)
            if token is not None:
                changes["oauth_token"] = token
    return changes, tuple(errors)
