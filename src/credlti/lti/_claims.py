"""Launch claims parsed into typed records (Core §5.3-5.4, AGS §3.1, NRPS §3.6.1, DL §4.4).

Rules of this module:

1. Pure: values in, frozen records out, or an :class:`~credlti.errors.InvalidClaimError`
   naming the dotted claim path. Hostile shapes (a list where an object belongs, a
   number where text belongs) never raise anything else.
2. Unknown claims and unknown fields are ignored, never rejected (Core §3.5, §4.3);
   unknown top-level claims are kept in ``LaunchClaims.extensions``.
3. Identifiers are stored exactly as received: no trimming, no case folding.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from credlti.errors import InvalidClaimError, MissingClaimError
from credlti.lti._roles import Roles, parse_roles

__all__ = [
    "AGS_CLAIM",
    "LTI_CLAIM",
    "AgsEndpoint",
    "Context",
    "DeepLinkingSettings",
    "LaunchClaims",
    "LaunchPresentation",
    "Lis",
    "NrpsEndpoint",
    "ResourceLink",
    "ToolPlatform",
    "parse_claims",
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

_EMPTY_MAP: Mapping[str, Any] = MappingProxyType({})

# Claims with a typed field; every other key lands in ``extensions``.
_OIDC_KEYS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "azp",
        "exp",
        "iat",
        "nbf",
        "nonce",
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "email",
        "picture",
        "locale",
    }
)
_TYPED_KEYS = _OIDC_KEYS | {
    MESSAGE_TYPE,
    VERSION,
    DEPLOYMENT_ID,
    TARGET_LINK_URI,
    RESOURCE_LINK,
    ROLES,
    CONTEXT,
    TOOL_PLATFORM,
    LAUNCH_PRESENTATION,
    LIS,
    CUSTOM,
    ROLE_SCOPE_MENTOR,
    AGS_CLAIM,
    NRPS_CLAIM,
    DL_SETTINGS_CLAIM,
}


def short_name(claim: str) -> str:
    """Return the short name of a claim URL for messages (``.../claim/roles`` -> ``roles``)."""
    return claim.rsplit("/", 1)[-1] if claim.startswith("https://purl.imsglobal.org/") else claim


def _invalid(path: str, expected: str, value: object, spec_ref: str) -> InvalidClaimError:
    shown = type(value).__name__ if not isinstance(value, (str, int, float, bool)) else repr(value)
    if isinstance(value, str) and len(value) > 80:
        shown = repr(value[:80] + "...")
    return InvalidClaimError(
        f"claim {path!r} must be {expected}, got {shown}",
        spec_ref=spec_ref,
        details={"claim": path},
    )


def _object(value: object, path: str, spec_ref: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(path, "a JSON object", value, spec_ref)
    return value


def _opt_str(obj: Mapping[str, Any], key: str, path: str, spec_ref: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _invalid(f"{path}.{key}", "a string", value, spec_ref)


def _strings(
    obj: Mapping[str, Any], names: tuple[str, ...], path: str, spec_ref: str
) -> dict[str, str]:
    """Return the present string fields *names* of *obj*; a non-string value is an error."""
    out: dict[str, str] = {}
    for name in names:
        value = obj.get(name)
        if value is not None:
            if type(value) is not str:
                raise _invalid(f"{path}.{name}" if path else name, "a string", value, spec_ref)
            out[name] = value
    return out


def _req_id(obj: Mapping[str, Any], key: str, path: str, spec_ref: str) -> str:
    value = obj.get(key)
    full = f"{path}.{key}"
    if value is None or value == "":
        raise MissingClaimError(
            f"claim {full!r} is required and must be a non-empty string",
            spec_ref=spec_ref,
            details={"claim": full},
        )
    if not isinstance(value, str):
        raise _invalid(full, "a string", value, spec_ref)
    # Length limits are policy (LaunchPolicy.enforce_id_limits), checked by the validator.
    return value


def _str_list(value: object, path: str, spec_ref: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(path, "an array of strings", value, spec_ref)
    return tuple(value)


def _opt_bool(obj: Mapping[str, Any], key: str, path: str, spec_ref: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _invalid(f"{path}.{key}", "a boolean", value, spec_ref)


def _opt_number(obj: Mapping[str, Any], key: str) -> float | None:
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


@attrs.frozen(kw_only=True)
class LaunchClaims:
    """Every claim of a validated launch, typed.

    Timestamps are seconds since the epoch, as in the token. Optional claims the
    platform did not send are ``None`` (or empty). Claims credlti does not model are
    in :attr:`extensions`, keyed by their full claim name.
    """

    issuer: str
    subject: str | None
    audience: tuple[str, ...]
    authorized_party: str | None
    expires_at: float
    issued_at: float
    nonce: str
    message_type: str
    version: str
    deployment_id: str
    target_link_uri: str
    roles: Roles
    resource_link: ResourceLink | None = None
    context: Context | None = None
    tool_platform: ToolPlatform | None = None
    launch_presentation: LaunchPresentation | None = None
    lis: Lis | None = None
    custom: Mapping[str, str] = _EMPTY_MAP
    role_scope_mentor: tuple[str, ...] = ()
    ags: AgsEndpoint | None = None
    nrps: NrpsEndpoint | None = None
    deep_linking: DeepLinkingSettings | None = None
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    middle_name: str | None = None
    email: str | None = None
    picture: str | None = None
    locale: str | None = None
    extensions: Mapping[str, Any] = _EMPTY_MAP

    @property
    def unresolved_custom(self) -> tuple[str, ...]:
        """Custom keys whose value still starts with ``$``.

        Such values are substitutions the platform lacks or refused (Core Appendix B).
        """
        return tuple(k for k, v in self.custom.items() if v.startswith("$"))


def _resource_link(value: object) -> ResourceLink:
    path, ref = "resource_link", "Core §5.3.5"
    obj = _object(value, path, ref)
    return ResourceLink(id=_req_id(obj, "id", path, ref), **_strings(obj, _RL_FIELDS, path, ref))


def _context(value: object) -> Context:
    path, ref = "context", "Core §5.4.1"
    obj = _object(value, path, ref)
    types = obj.get("type")
    return Context(
        id=_req_id(obj, "id", path, ref),
        type=() if types is None else _str_list(types, "context.type", ref),
        **_strings(obj, _CONTEXT_FIELDS, path, ref),
    )


def _tool_platform(value: object) -> ToolPlatform:
    path, ref = "tool_platform", "Core §5.4.2"
    return ToolPlatform(**_strings(_object(value, path, ref), _PLATFORM_FIELDS, path, ref))


def _launch_presentation(value: object) -> LaunchPresentation:
    path, ref = "launch_presentation", "Core §5.4.4"
    obj = _object(value, path, ref)
    return LaunchPresentation(
        height=_opt_number(obj, "height"),
        width=_opt_number(obj, "width"),
        **_strings(obj, _PRESENTATION_FIELDS, path, ref),
    )


def _lis(value: object) -> Lis:
    path, ref = "lis", "Core §5.4.5"
    return Lis(**_strings(_object(value, path, ref), _LIS_FIELDS, path, ref))


def _custom(value: object) -> Mapping[str, str]:
    # Core §5.4.6 says string values only. Platforms do send numbers and booleans;
    # rather than failing the launch they are kept as their JSON text, and nulls
    # (invalid) are dropped. Objects and arrays are kept as JSON text too.
    obj = _object(value, "custom", "Core §5.4.6")
    out: dict[str, str] = {}
    for key, item in obj.items():
        if isinstance(item, str):
            out[key] = item
        elif item is not None:
            out[key] = json.dumps(item, separators=(",", ":"), sort_keys=True)
    return MappingProxyType(out)


def _ags(value: object) -> AgsEndpoint:
    path, ref = "ags_endpoint", "AGS §3.1"
    obj = _object(value, path, ref)
    scope = obj.get("scope")
    return AgsEndpoint(
        scope=() if scope is None else _str_list(scope, "ags_endpoint.scope", ref),
        lineitems=_opt_str(obj, "lineitems", path, ref),
        lineitem=_opt_str(obj, "lineitem", path, ref),
    )


def _nrps(value: object) -> NrpsEndpoint:
    path, ref = "namesroleservice", "NRPS §3.6.1"
    obj = _object(value, path, ref)
    url = obj.get("context_memberships_url")
    if not isinstance(url, str) or not url:
        raise _invalid(f"{path}.context_memberships_url", "a non-empty URL string", url, ref)
    # The NRPS prose says service_version, the example service_versions: accept both.
    field = "service_versions" if "service_versions" in obj else "service_version"
    versions = obj.get(field)
    if isinstance(versions, str):
        versions = [versions]
    return NrpsEndpoint(
        context_memberships_url=url,
        service_versions=() if versions is None else _str_list(versions, f"{path}.{field}", ref),
    )


def _deep_linking(value: object) -> DeepLinkingSettings:
    path, ref = "deep_linking_settings", "DL §4.4.1"
    obj = _object(value, path, ref)
    url = obj.get("deep_link_return_url")
    if url is not None and not isinstance(url, str):
        raise _invalid(f"{path}.deep_link_return_url", "a URL string", url, ref)
    if not url:
        raise MissingClaimError(
            "claim 'deep_linking_settings.deep_link_return_url' is required",
            spec_ref=ref,
            details={"claim": "deep_linking_settings.deep_link_return_url"},
        )
    for field in ("accept_types", "accept_presentation_document_targets"):
        if field not in obj:
            raise MissingClaimError(
                f"claim 'deep_linking_settings.{field}' is required",
                spec_ref=ref,
                details={"claim": f"deep_linking_settings.{field}"},
            )
    return DeepLinkingSettings(
        deep_link_return_url=url,
        accept_types=_str_list(obj["accept_types"], f"{path}.accept_types", ref),
        accept_presentation_document_targets=_str_list(
            obj["accept_presentation_document_targets"],
            f"{path}.accept_presentation_document_targets",
            ref,
        ),
        accept_media_types=_opt_str(obj, "accept_media_types", path, ref),
        accept_multiple=_opt_bool(obj, "accept_multiple", path, ref),
        accept_lineitem=_opt_bool(obj, "accept_lineitem", path, ref),
        auto_create=_opt_bool(obj, "auto_create", path, ref),
        title=_opt_str(obj, "title", path, ref),
        text=_opt_str(obj, "text", path, ref),
        data=obj.get("data"),
    )


_RL_FIELDS = ("title", "description")
_CONTEXT_FIELDS = ("label", "title")
_PLATFORM_FIELDS = (
    "guid",
    "name",
    "contact_email",
    "description",
    "url",
    "product_family_code",
    "version",
)
_PRESENTATION_FIELDS = ("document_target", "return_url", "locale")
_LIS_FIELDS = ("person_sourcedid", "course_offering_sourcedid", "course_section_sourcedid")
_PROFILE_FIELDS = ("name", "given_name", "family_name", "middle_name", "email", "picture", "locale")


def parse_claims(
    payload: Mapping[str, Any],
    *,
    audience: tuple[str, ...],
    roles: Roles | None,
) -> LaunchClaims:
    """Build :class:`LaunchClaims` from a verified payload.

    The launch validator has already checked the security and required claims
    (iss, aud, exp, iat, nonce, message type, version, deployment, target link,
    subject); this parses everything else and raises
    :class:`~credlti.errors.InvalidClaimError` on wrong shapes.

    Args:
        payload: The verified token payload.
        audience: The ``aud`` claim normalised to a tuple.
        roles: The parsed roles, or ``None`` to parse them here (absent roles give an
            empty :class:`Roles`).
    """
    get = payload.get
    if roles is None:
        raw_roles = get(ROLES)
        roles = (
            Roles()
            if raw_roles is None
            else parse_roles(_str_list(raw_roles, "roles", "Core §5.3.7"))
        )

    resource_link = get(RESOURCE_LINK)
    context = get(CONTEXT)
    tool_platform = get(TOOL_PLATFORM)
    presentation = get(LAUNCH_PRESENTATION)
    lis = get(LIS)
    custom = get(CUSTOM)
    mentor = get(ROLE_SCOPE_MENTOR)
    ags = get(AGS_CLAIM)
    nrps = get(NRPS_CLAIM)
    deep_linking = get(DL_SETTINGS_CLAIM)

    extensions = {k: v for k, v in payload.items() if k not in _TYPED_KEYS}

    return LaunchClaims(
        issuer=payload["iss"],
        subject=get("sub"),
        audience=audience,
        authorized_party=get("azp"),
        expires_at=payload["exp"],
        issued_at=payload["iat"],
        nonce=payload["nonce"],
        message_type=payload[MESSAGE_TYPE],
        version=payload[VERSION],
        deployment_id=payload[DEPLOYMENT_ID],
        target_link_uri=payload[TARGET_LINK_URI],
        roles=roles,
        resource_link=None if resource_link is None else _resource_link(resource_link),
        context=None if context is None else _context(context),
        tool_platform=None if tool_platform is None else _tool_platform(tool_platform),
        launch_presentation=None if presentation is None else _launch_presentation(presentation),
        lis=None if lis is None else _lis(lis),
        custom=_EMPTY_MAP if custom is None else _custom(custom),
        role_scope_mentor=()
        if mentor is None
        else _str_list(mentor, "role_scope_mentor", "Core §5.4.3"),
        ags=None if ags is None else _ags(ags),
        nrps=None if nrps is None else _nrps(nrps),
        deep_linking=None if deep_linking is None else _deep_linking(deep_linking),
        **_strings(payload, _PROFILE_FIELDS, "", "Core §5.3.6"),
        extensions=MappingProxyType(extensions) if extensions else _EMPTY_MAP,
    )
