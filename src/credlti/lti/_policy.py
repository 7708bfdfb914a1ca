"""The launch validation policy: accepted message types, clock leeway, lifetimes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from credlti._text import NormalisedUrl, normalise_url, safe_excerpt
from credlti.errors import ConfigurationError
from credlti.lti import _claims as c
from credlti.lti._jwks import JwksPolicy

__all__ = [
    "DEEP_LINKING_REQUEST",
    "DEFAULT_MESSAGE_TYPES",
    "RESOURCE_LINK_REQUEST",
    "SUBMISSION_REVIEW_REQUEST",
    "LaunchPolicy",
    "MessageType",
    "normalised_entries",
]


@attrs.frozen
class MessageType:
    """What a message type requires beyond the common launch claims.

    Register extra types with the tool's ``message_types`` policy; a launch whose
    ``message_type`` is not registered is rejected (Core §5.3.1).

    Args:
        name: The ``message_type`` claim value, e.g. ``"LtiResourceLinkRequest"``.
        requires_resource_link: The ``resource_link`` claim with an ``id`` is required.
        requires_roles: The ``roles`` claim (an array, possibly empty) is required.
        requires_subject: ``sub`` is required (unless the registration allows
            anonymous launches).
        required_claims: Further claims (full names) that must be present.
        spec_ref: The section that defines this message.
    """

    name: str
    requires_resource_link: bool = False
    requires_roles: bool = False
    requires_subject: bool = True
    required_claims: tuple[str, ...] = ()
    spec_ref: str = "Core §5.3"


#: ``LtiResourceLinkRequest`` (Core §5.3).
RESOURCE_LINK_REQUEST = MessageType(
    "LtiResourceLinkRequest", requires_resource_link=True, requires_roles=True
)
#: ``LtiDeepLinkingRequest``: no resource link, optional sub and roles (DL §4.4).
DEEP_LINKING_REQUEST = MessageType(
    "LtiDeepLinkingRequest",
    requires_subject=False,
    required_claims=(c.DL_SETTINGS_CLAIM,),
    spec_ref="DL §4.4",
)
#: ``LtiSubmissionReviewRequest`` (opt in by adding it to ``message_types``).
SUBMISSION_REVIEW_REQUEST = MessageType(
    "LtiSubmissionReviewRequest",
    requires_resource_link=True,
    requires_roles=True,
    required_claims=(c.AGS_CLAIM, c.LTI_CLAIM + "for_user"),
    spec_ref="Submission Review §3",
)
#: The message types a tool accepts unless configured otherwise.
DEFAULT_MESSAGE_TYPES: Mapping[str, MessageType] = {
    m.name: m for m in (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST)
}


def _message_types(value: Any) -> Mapping[str, MessageType]:
    if isinstance(value, Mapping):
        return dict(value)
    return {m.name: m for m in value}


@attrs.frozen(kw_only=True)
class LaunchPolicy:
    """The tool's launch validation policy.

    Args:
        leeway: Seconds of clock skew tolerated on ``exp``, ``iat`` and ``nbf``
            (platform clocks drift; zero leeway causes random failures).
        max_token_age: Reject tokens issued longer ago than this (Sec §5.1.3(8)).
        state_ttl: Seconds a login stays valid; also the nonce lifetime.
        message_types: Accepted message types, by name or as an iterable.
        allowed_target_link_uris: If non-empty, the login's ``target_link_uri`` must
            have the origin of one of these and a path equal to or below its path,
            both compared in normal form (an open-redirect guard; Core §4.1). Each
            entry must be an absolute http(s) URL without dot segments.
        trusted_audiences: Audiences besides our client id that may appear in
            ``aud`` (normally none; Sec §5.1.3(3)).
        enforce_id_limits: Reject ids (``sub``, ``deployment_id``, resource-link and
            context ids) longer than 255 characters (Core §5.3).
        jwks: How platform key sets are fetched and cached.
    """

    leeway: float = 10.0
    max_token_age: float = 600.0
    state_ttl: float = 600.0
    message_types: Mapping[str, MessageType] = attrs.field(
        default=DEFAULT_MESSAGE_TYPES, converter=_message_types
    )
    allowed_target_link_uris: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    trusted_audiences: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    enforce_id_limits: bool = True
    jwks: JwksPolicy = attrs.field(factory=JwksPolicy)

    def __attrs_post_init__(self) -> None:
        if self.leeway < 0 or self.max_token_age <= 0 or self.state_ttl <= 0:
            msg = "leeway must be >= 0 and max_token_age, state_ttl must be > 0"
            raise ConfigurationError(msg)
        normalised_entries(self.allowed_target_link_uris)


def normalised_entries(urls: tuple[str, ...]) -> tuple[NormalisedUrl, ...]:
    """The normal forms of ``allowed_target_link_uris`` (ConfigurationError if unusable)."""
    return tuple(_normalised_entry(url) for url in urls)


def _normalised_entry(url: object) -> NormalisedUrl:
    if not isinstance(url, str):
        msg = f"allowed_target_link_uris holds a {type(url).__name__}, not a URL string"
        raise ConfigurationError(msg, spec_ref="Core §4.1")
    try:
        return normalise_url(url)
    except ValueError as exc:
        msg = f"allowed_target_link_uris entry '{safe_excerpt(url, limit=200)}' is unusable: {exc}"
        raise ConfigurationError(msg, spec_ref="Core §4.1") from None
