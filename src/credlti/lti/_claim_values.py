"""Claim names, the small claim records and the value checks every claim parser uses.

A record module (pure, no IO): :mod:`credlti.lti._claims` builds
:class:`~credlti.lti._claims.LaunchClaims` from these and re-exports the records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from credlti._text import safe_excerpt
from credlti.errors import InvalidClaimError, MissingClaimError

__all__ = [
    "AGS_CLAIM",
    "CONTEXT",
    "CUSTOM",
    "DEPLOYMENT_ID",
    "DL_SETTINGS_CLAIM",
    "LAUNCH_PRESENTATION",
    "LIS",
    "LTI_CLAIM",
    "MESSAGE_TYPE",
    "NRPS_CLAIM",
    "RESOURCE_LINK",
    "ROLES",
    "ROLE_SCOPE_MENTOR",
    "TARGET_LINK_URI",
    "TOOL_PLATFORM",
    "VERSION",
    "AgsEndpoint",
    "Context",
    "DeepLinkingSettings",
    "LaunchPresentation",
    "Lis",
    "NrpsEndpoint",
    "ResourceLink",
    "ToolPlatform",
    "as_object",
    "invalid",
    "opt_bool",
    "opt_number",
    "opt_str",
    "req_id",
    "short_name",
    "str_list",
]

#: Prefix of the core LTI claims (compare full URLs, never short names).
LTI_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
#: The AGS endpoint claim.
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
#: The NRPS service claim.
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
#: The deep-linking settings claim.
DL_SETTINGS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"

MESSAGE_TYPE = LTI_CLAIM + "message_type"
VERSION = LTI_CLAIM + "version"
DEPLOYMENT_ID = LTI_CLAIM + "deployment_id"
TARGET_LINK_URI = LTI_CLAIM + "target_link_uri"
RESOURCE_LINK = LTI_CLAIM + "resource_link"
ROLES = LTI_CLAIM + "roles"
CONTEXT = LTI_CLAIM + "context"
TOOL_PLATFORM = LTI_CLAIM + "tool_platform"
LAUNCH_PRESENTATION = LTI_CLAIM + "launch_presentation"
LIS = LTI_CLAIM + "lis"
CUSTOM = LTI_CLAIM + "custom"
ROLE_SCOPE_MENTOR = LTI_CLAIM + "role_scope_mentor"


def short_name(claim: str) -> str:
    """Return the short name of a claim URL for messages (``.../claim/roles`` -> ``roles``)."""
    return claim.rsplit("/", 1)[-1] if claim.startswith("https://purl.imsglobal.org/") else claim


def invalid(path: str, expected: str, value: object, spec_ref: str) -> InvalidClaimError:
    if isinstance(value, str):
        shown = f"'{safe_excerpt(value, limit=80)}'"
    elif isinstance(value, (int, float, bool)):
        shown = safe_excerpt(value, limit=80)
    else:
        shown = type(value).__name__
    return InvalidClaimError(
        f"claim {path!r} must be {expected}, got {shown}",
        spec_ref=spec_ref,
        details={"claim": path},
    )


def as_object(value: object, path: str, spec_ref: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(path, "a JSON object", value, spec_ref)
    return value


def opt_str(obj: Mapping[str, Any], key: str, path: str, spec_ref: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise invalid(f"{path}.{key}", "a string", value, spec_ref)


def req_id(obj: Mapping[str, Any], key: str, path: str, spec_ref: str) -> str:
    value = obj.get(key)
    full = f"{path}.{key}"
    if value is None or value == "":
        raise MissingClaimError(
            f"claim {full!r} is required and must be a non-empty string",
            spec_ref=spec_ref,
            details={"claim": full},
        )
    if not isinstance(value, str):
        raise invalid(full, "a string", value, spec_ref)
    # Length limits are policy (LaunchPolicy.enforce_id_limits), checked by the validator.
    return value


def str_list(value: object, path: str, spec_ref: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(path, "an array of strings", value, spec_ref)
    return tuple(value)


def opt_bool(obj: Mapping[str, Any], key: str, path: str, spec_ref: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise invalid(f"{path}.{key}", "a boolean", value, spec_ref)


def opt_number(obj: Mapping[str, Any], key: str) -> float | None:
    # Lenient: a non-numeric hint (height, width) is dropped rather than failing a launch.
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


@attrs.frozen(kw_only=True)
class ResourceLink:
    """The resource link launched (Core §5.3.5); ``id`` changes when a link is copied."""

    id: str
    title: str | None = None
    description: str | None = None


@attrs.frozen(kw_only=True)
class Context:
    """The course or group the launch came from (Core §5.4.1)."""

    id: str
    label: str | None = None
    title: str | None = None
    type: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ToolPlatform:
    """The platform instance (Core §5.4.2); ``guid`` identifies a tenant within an issuer."""

    guid: str | None = None
    name: str | None = None
    contact_email: str | None = None
    description: str | None = None
    url: str | None = None
    product_family_code: str | None = None
    version: str | None = None


@attrs.frozen(kw_only=True)
class LaunchPresentation:
    """How the platform shows the tool (Core §5.4.4)."""

    document_target: str | None = None
    height: float | None = None
    width: float | None = None
    return_url: str | None = None
    locale: str | None = None


@attrs.frozen(kw_only=True)
class Lis:
    """LIS identifiers for SIS integration (Core §5.4.5, Appendix D)."""

    person_sourcedid: str | None = None
    course_offering_sourcedid: str | None = None
    course_section_sourcedid: str | None = None


@attrs.frozen(kw_only=True)
class AgsEndpoint:
    """The Assignment and Grade Services claim (AGS §3.1)."""

    scope: tuple[str, ...] = ()
    lineitems: str | None = None
    lineitem: str | None = None


@attrs.frozen(kw_only=True)
class NrpsEndpoint:
    """The Names and Role Provisioning Services claim (NRPS §3.6.1)."""

    context_memberships_url: str
    service_versions: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class DeepLinkingSettings:
    """What the platform accepts back from a deep-linking request (DL §4.4.1)."""

    deep_link_return_url: str
    accept_types: tuple[str, ...]
    accept_presentation_document_targets: tuple[str, ...]
    accept_media_types: str | None = None
    accept_multiple: bool | None = None
    accept_lineitem: bool | None = None
    auto_create: bool | None = None
    title: str | None = None
    text: str | None = None
    #: Opaque value that MUST be echoed unchanged in the response (DL §4.5.5).
    data: Any = None
