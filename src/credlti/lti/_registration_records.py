"""Records of LTI Dynamic Registration: the tool's settings, the platform, the outcome.

Rules of this module:

1. :class:`ToolSettings` and :class:`ToolMessage` are the host's configuration:
   they check themselves at construction and raise
   :class:`~credlti.errors.ConfigurationError`, so a settings object that exists
   can be registered.
2. :class:`PlatformConfiguration` and :class:`RegistrationResult` are built only by
   the registration checks from values a platform sent and checked.
3. No record shows the registration token in its ``repr``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from credlti._text import id_problem, safe_excerpt
from credlti.errors import ConfigurationError
from credlti.lti._records import Deployment, Registration, check_url

__all__ = [
    "CANVAS_PRIVACY_LEVEL",
    "CANVAS_TOOL_ID",
    "LTI_PLATFORM_CONFIGURATION",
    "LTI_TOOL_CONFIGURATION",
    "PlatformConfiguration",
    "RegistrationInitiation",
    "RegistrationResult",
    "SupportedMessage",
    "ToolMessage",
    "ToolSettings",
]

#: The key of the tool configuration in a registration request (LTI-DR §3.5.2).
LTI_TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
#: The key of the LTI part of a platform's OpenID configuration (LTI-DR §3.4).
LTI_PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
#: Canvas's tool-configuration extension for the data the tool receives.
CANVAS_PRIVACY_LEVEL = "https://canvas.instructure.com/lti/privacy_level"
#: Canvas's tool-configuration extension naming the tool across deployments.
CANVAS_TOOL_ID = "https://canvas.instructure.com/lti/tool_id"

_PRIVACY_LEVELS = frozenset({"public", "name_only", "email_only", "anonymous"})
_MAX_TEXT = 1000


def _text(what: str, value: object, *, limit: int = _MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"{what} must be non-empty text, got '{safe_excerpt(value)}'"
        raise ConfigurationError(msg, spec_ref="LTI-DR §3.5.2")
    if len(value) > limit or not value.isprintable():
        msg = f"{what} must be at most {limit} printable characters"
        raise ConfigurationError(msg, spec_ref="LTI-DR §3.5.2")
    return value


def _optional_url(what: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None:
            check_url(value, what)

    return validate


def _url(what: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: str) -> None:
        check_url(value, what)

    return validate


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _check_names(what: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
        for item in value:
            problem = id_problem(item, max_length=_MAX_TEXT)
            if problem is not None or " " in item:
                msg = f"every entry of {what} must be text without spaces: '{safe_excerpt(item)}'"
                raise ConfigurationError(msg, spec_ref="LTI-DR §3.5.2")

    return validate


def _optional_text(what: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            _text(what, value)

    return validate


def _check_json(_inst: object, attr: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    try:
        json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"{attr.name} must map text keys to JSON values ({type(exc).__name__})"
        raise ConfigurationError(msg) from None


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _check_custom(_inst: object, attr: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    for key, item in value.items():
        if id_problem(key) is not None or not isinstance(item, str):
            msg = f"{attr.name} maps names to text values; '{safe_excerpt(key)}' does not"
            raise ConfigurationError(msg, spec_ref="LTI-DR §3.5.2")


@attrs.frozen(kw_only=True)
class ToolMessage:
    """One message the tool accepts, as offered to the platform (LTI-DR §3.5.2).

    Args:
        type: The message type, e.g. ``LtiResourceLinkRequest`` or
            ``LtiDeepLinkingRequest``.
        target_link_uri: Where this message launches, if not the tool's default.
        label: The link text the platform shows.
        icon_uri: An icon for the link.
        placements: Where the platform shows the link (Canvas:
            ``course_navigation``, ``assignment_selection``...; Moodle:
            ``ContentArea``, ``RichTextEditor``). Placements the platform does not
            list for this message type are dropped.
        custom_parameters: Custom parameters for this message only.
        roles: Roles allowed to launch this message (empty: everyone).
        extensions: Further keys of the message object, such as
            ``https://canvas.instructure.com/lti/course_navigation/default_enabled``.
    """

    type: str = attrs.field(validator=lambda _i, _a, v: _text("message type", v, limit=100))
    target_link_uri: str | None = attrs.field(
        default=None, validator=_optional_url("message target_link_uri")
    )
    label: str | None = attrs.field(default=None, validator=_optional_text("label"))
    icon_uri: str | None = attrs.field(default=None, validator=_optional_url("icon_uri"))
    placements: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=_check_names("placements")
    )
    custom_parameters: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, validator=_check_custom
    )
    roles: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=_check_names("roles")
    )
    extensions: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_frozen_mapping, validator=_check_json
    )


def _message_tuple(value: Iterable[ToolMessage]) -> tuple[ToolMessage, ...]:
    return tuple(value)


def _default_messages() -> tuple[ToolMessage, ...]:
    return (ToolMessage(type="LtiResourceLinkRequest"),)


def _check_privacy(_inst: object, _attr: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and value not in _PRIVACY_LEVELS:
        msg = f"privacy_level must be one of {sorted(_PRIVACY_LEVELS)}"
        raise ConfigurationError(msg)


def _check_redirects(_inst: object, _attr: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value:
        msg = "redirect_uris must name at least one launch URL"
        raise ConfigurationError(msg, spec_ref="LTI-DR §3.5.2")
    for uri in value:
        check_url(uri, "redirect_uris")


def _check_messages(
    _inst: object, _attr: attrs.Attribute[Any], value: tuple[ToolMessage, ...]
) -> None:
    if not value or not all(isinstance(m, ToolMessage) for m in value):
        msg = "messages must be a non-empty sequence of ToolMessage records"
        raise ConfigurationError(msg, spec_ref="LTI-DR §3.5.2")


@attrs.frozen(kw_only=True)
class ToolSettings:
    """What the tool tells a platform about itself when it registers (LTI-DR §3.5.2).

    Args:
        client_name: The tool's name, shown to administrators.
        initiate_login_uri: The tool's OIDC login initiation URL.
        redirect_uris: The tool's launch URLs (``redirect_uri`` values at login).
        jwks_uri: The URL of the tool's public key set.
        target_link_uri: The default launch URL.
        domain: The tool's host; taken from *target_link_uri* when not given.
        secondary_domains: Further hosts the tool launches on.
        description: A short description.
        messages: The messages the tool accepts; messages whose type the platform
            does not support are left out of the request (see
            :attr:`RegistrationResult.dropped_messages`).
        claims: The identity claims the tool asks for (``sub``, ``name``,
            ``email``...).
        scopes: The service scopes the tool asks for (AGS, NRPS...); scopes the
            platform does not support are left out.
        custom_parameters: Custom parameters for every launch.
        logo_uri: The tool's logo.
        client_uri: The tool's home page.
        policy_uri: The tool's privacy policy.
        tos_uri: The tool's terms of service.
        contacts: Administrator e-mail addresses.
        privacy_level: Canvas's privacy level (``public``, ``name_only``,
            ``email_only``, ``anonymous``), sent as
            ``https://canvas.instructure.com/lti/privacy_level``.
        canvas_tool_id: Canvas's ``https://canvas.instructure.com/lti/tool_id``.
        extensions: Further keys of the tool configuration object.
    """

    client_name: str = attrs.field(validator=lambda _i, _a, v: _text("client_name", v, limit=200))
    initiate_login_uri: str = attrs.field(validator=_url("initiate_login_uri"))
    redirect_uris: tuple[str, ...] = attrs.field(converter=_strings, validator=_check_redirects)
    jwks_uri: str = attrs.field(validator=_url("jwks_uri"))
    target_link_uri: str = attrs.field(validator=_url("target_link_uri"))
    domain: str | None = attrs.field(default=None, validator=_optional_text("domain"))
    secondary_domains: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=_check_names("secondary_domains")
    )
    description: str | None = attrs.field(default=None, validator=_optional_text("description"))
    messages: tuple[ToolMessage, ...] = attrs.field(
        factory=_default_messages, converter=_message_tuple, validator=_check_messages
    )
    claims: tuple[str, ...] = attrs.field(
        default=("iss", "sub"), converter=_strings, validator=_check_names("claims")
    )
    scopes: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=_check_names("scopes")
    )
    custom_parameters: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, validator=_check_custom
    )
    logo_uri: str | None = attrs.field(default=None, validator=_optional_url("logo_uri"))
    client_uri: str | None = attrs.field(default=None, validator=_optional_url("client_uri"))
    policy_uri: str | None = attrs.field(default=None, validator=_optional_url("policy_uri"))
    tos_uri: str | None = attrs.field(default=None, validator=_optional_url("tos_uri"))
    contacts: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=_check_names("contacts")
    )
    privacy_level: str | None = attrs.field(default=None, validator=_check_privacy)
    canvas_tool_id: str | None = attrs.field(
        default=None, validator=_optional_text("canvas_tool_id")
    )
    extensions: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_frozen_mapping, validator=_check_json
    )


def _without_query(url: str) -> str:
    """*url* without its query and fragment (a query may carry the registration token)."""
    return url.split("?", 1)[0].split("#", 1)[0]


@attrs.frozen(kw_only=True)
class RegistrationInitiation:
    """The platform's registration initiation request (LTI-DR §3.3), checked.

    Attributes:
        openid_configuration: The platform's OpenID configuration URL (shown
            without its query in ``repr``: it may carry the token).
        registration_token: The token to send as ``Bearer`` to the platform, if it
            gave one (never shown in ``repr``).
    """

    openid_configuration: str = attrs.field(repr=lambda url: repr(_without_query(url)))
    registration_token: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class SupportedMessage:
    """A message type the platform supports, with its placements when it lists them."""

    type: str
    placements: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class PlatformConfiguration:
    """A platform's OpenID configuration, checked (LTI-DR §3.4).

    Attributes:
        issuer: The platform's issuer, a prefix of the configuration URL.
        authorization_endpoint: Its OIDC authorization endpoint.
        token_endpoint: Its OAuth 2 token endpoint.
        jwks_uri: Its key set.
        registration_endpoint: Where the tool registers.
        scopes_supported: The scopes it supports.
        signing_algorithms: Its ``id_token_signing_alg_values_supported``.
        product_family_code: E.g. ``canvas``, ``moodle``.
        version: The platform's version.
        messages_supported: The message types (and placements) it supports.
        variables: The custom-parameter variables it can substitute.
        raw: The whole configuration as decoded JSON (read-only use).
    """

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    scopes_supported: tuple[str, ...]
    signing_algorithms: tuple[str, ...]
    product_family_code: str
    version: str
    messages_supported: tuple[SupportedMessage, ...]
    variables: tuple[str, ...] = ()
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    def supported(self, message_type: str) -> SupportedMessage | None:
        """The platform's entry for *message_type*, or ``None``."""
        for message in self.messages_supported:
            if message.type == message_type:
                return message
        return None


@attrs.frozen(kw_only=True)
class RegistrationResult:
    """What a completed dynamic registration stored and what the platform answered.

    Attributes:
        registration: The stored registration (issuer, client id, endpoints).
        deployment: The stored deployment, or ``None`` when the platform assigned
            none yet (Canvas creates deployments when the tool is installed).
        platform: The platform's checked OpenID configuration.
        granted_scopes: The scopes the platform's answer lists (``scope``), or
            the requested ones when it lists none.
        dropped_scopes: Requested scopes left out because the platform does not
            support them.
        dropped_messages: Message types left out because the platform does not
            support them.
        dropped_placements: ``type:placement`` pairs left out because the platform
            does not list the placement for that message type.
        request: The registration request the tool sent (read-only use).
        response: The platform's answer as decoded JSON (read-only use).
    """

    registration: Registration
    deployment: Deployment | None
    platform: PlatformConfiguration
    granted_scopes: tuple[str, ...]
    dropped_scopes: tuple[str, ...] = ()
    dropped_messages: tuple[str, ...] = ()
    dropped_placements: tuple[str, ...] = ()
    request: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    response: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
