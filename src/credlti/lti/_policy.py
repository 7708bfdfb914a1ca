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
    "ASSET_PROCESSOR_SETTINGS_REQUEST",
    "DEEP_LINKING_REQUEST",
    "DEFAULT_MESSAGE_TYPES",
    "END_ASSESSMENT",
    "EULA_REQUEST",
    "OPT_IN_MESSAGE_TYPES",
    "REPORT_REVIEW_REQUEST",
    "RESOURCE_LINK_REQUEST",
    "START_PROCTORING",
    "SUBMISSION_REVIEW_REQUEST",
    "LaunchPolicy",
    "MessageType",
    "normalised_entries",
]


_PROCTORING = "https://purl.imsglobal.org/spec/lti-ap/claim/"
_EULA_SERVICE = c.LTI_CLAIM + "eulaservice"
_ACTIVITY = c.LTI_CLAIM + "activity"


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
#: ``LtiEulaRequest``: show the tool's end-user licence agreement (opt in). The
#: ``eulaservice`` claim tells where to record the user's acceptance.
EULA_REQUEST = MessageType(
    "LtiEulaRequest",
    requires_roles=True,
    required_claims=(_EULA_SERVICE,),
    spec_ref="EULA Service 1.0 (LtiEulaRequest)",
)
#: ``LtiAssetProcessorSettingsRequest``: configure an asset processor attached to an
#: activity (opt in).
ASSET_PROCESSOR_SETTINGS_REQUEST = MessageType(
    "LtiAssetProcessorSettingsRequest",
    requires_roles=True,
    required_claims=(_ACTIVITY, c.CONTEXT),
    spec_ref="Asset Processor 1.0 (LtiAssetProcessorSettingsRequest)",
)
#: ``LtiReportReviewRequest``: show the processor's report on one submitted asset
#: (opt in).
REPORT_REVIEW_REQUEST = MessageType(
    "LtiReportReviewRequest",
    requires_resource_link=True,
    requires_roles=True,
    required_claims=(
        _ACTIVITY,
        c.LTI_CLAIM + "for_user",
        c.LTI_CLAIM + "submission",
        c.LTI_CLAIM + "asset",
        c.LTI_CLAIM + "assetreport_type",
    ),
    spec_ref="Asset Processor 1.0 (LtiReportReviewRequest)",
)
#: ``LtiStartProctoring``: the assessment platform asks the proctoring tool to start
#: proctoring an attempt (opt in). The tool answers with an ``LtiStartAssessment``
#: message of its own, carrying ``session_data`` back unchanged.
START_PROCTORING = MessageType(
    "LtiStartProctoring",
    requires_resource_link=True,
    requires_roles=True,
    required_claims=(
        _PROCTORING + "attempt_number",
        _PROCTORING + "start_assessment_url",
        _PROCTORING + "session_data",
    ),
    spec_ref="Proctoring 1.0 §4 (Start Proctoring message)",
)
#: ``LtiEndAssessment``: the assessment attempt is over (opt in).
END_ASSESSMENT = MessageType(
    "LtiEndAssessment",
    requires_resource_link=True,
    required_claims=(_PROCTORING + "attempt_number",),
    spec_ref="Proctoring 1.0 §4.4",
)
#: The message types a tool accepts unless configured otherwise.
DEFAULT_MESSAGE_TYPES: Mapping[str, MessageType] = {
    m.name: m for m in (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST)
}
#: Every predefined type a tool must opt in to, by name: add the ones you handle.
OPT_IN_MESSAGE_TYPES: Mapping[str, MessageType] = {
    m.name: m
    for m in (
        SUBMISSION_REVIEW_REQUEST,
        EULA_REQUEST,
        ASSET_PROCESSOR_SETTINGS_REQUEST,
        REPORT_REVIEW_REQUEST,
        START_PROCTORING,
        END_ASSESSMENT,
    )
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
        allow_unverified_lti1p1: With ``lti1p1_secrets`` on the tool, accept a launch
            whose ``lti1p1`` claim names a consumer key that has no secret, or
            carries no signature (``launch.lti1p1`` is then ``None``). By default
            such a launch is refused with ``Lti1p1UnverifiedError``. A wrong
            signature is refused either way.
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
    allow_unverified_lti1p1: bool = False

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
