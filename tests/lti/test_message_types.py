"""The opt-in message types: refused by default, accepted when enabled, required claims checked."""

from __future__ import annotations

from typing import Any

import pytest

from credlti.errors import MissingClaimError, UnsupportedMessageTypeError
from credlti.lti import (
    ASSET_PROCESSOR_SETTINGS_REQUEST,
    DEFAULT_MESSAGE_TYPES,
    END_ASSESSMENT,
    EULA_REQUEST,
    OPT_IN_MESSAGE_TYPES,
    REPORT_REVIEW_REQUEST,
    START_PROCTORING,
    SUBMISSION_REVIEW_REQUEST,
    MessageType,
)
from credlti.testing import SimulatedPlatform
from tests.lti.helpers import LAUNCH_URL, expect_error

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
RESOURCE_LINK = LTI + "resource_link"
ROLES = LTI + "roles"

#: Each opt-in type with the claims a platform sends with it (from the specs' examples).
EXTRA: dict[str, dict[str, Any]] = {
    "LtiSubmissionReviewRequest": {
        AGS: {"scope": [], "lineitem": "https://platform.example.edu/lineitems/1"},
        LTI + "for_user": {"user_id": "user-7"},
    },
    "LtiEulaRequest": {
        LTI + "eulaservice": {
            "url": "https://platform.example.edu/eula/deployment/1",
            "scope": ["https://purl.imsglobal.org/spec/lti/scope/eula/user"],
        },
    },
    "LtiAssetProcessorSettingsRequest": {
        LTI + "activity": {"id": "activity-1", "title": "Essay 1"},
    },
    "LtiReportReviewRequest": {
        LTI + "activity": {"id": "activity-1"},
        LTI + "for_user": {"user_id": "user-7"},
        LTI + "submission": {"id": "submission-1"},
        LTI + "asset": {"id": "asset-1"},
        LTI + "assetreport_type": "originality",
    },
    "LtiStartProctoring": {
        AP + "attempt_number": 1,
        AP + "start_assessment_url": "https://platform.example.edu/start_assessment",
        AP + "session_data": "csrf-token-1",
    },
    "LtiEndAssessment": {AP + "attempt_number": 1},
}


def _launch(
    platform: SimulatedPlatform, tool: Any, name: str, *, remove: tuple[str, ...] = ()
) -> Any:
    login = tool.handle_login(platform.login_params(), LAUNCH_URL)
    form = platform.launch(login, message_type=name, claims=EXTRA[name], remove=remove)
    return tool.handle_callback(form, login.cookie_value)


def test_every_opt_in_type_is_listed_and_none_is_default() -> None:
    assert set(OPT_IN_MESSAGE_TYPES) == set(EXTRA)
    assert not set(OPT_IN_MESSAGE_TYPES) & set(DEFAULT_MESSAGE_TYPES)
    named = (
        SUBMISSION_REVIEW_REQUEST,
        EULA_REQUEST,
        ASSET_PROCESSOR_SETTINGS_REQUEST,
        REPORT_REVIEW_REQUEST,
        START_PROCTORING,
        END_ASSESSMENT,
    )
    assert {m.name: m for m in named} == dict(OPT_IN_MESSAGE_TYPES)
    for message in named:
        assert message.spec_ref
        assert message.spec_ref != "Core §5.3"
    # Messages a tool sends, never receives, are not launch types.
    assert "LtiStartAssessment" not in OPT_IN_MESSAGE_TYPES
    assert "LtiDeepLinkingResponse" not in OPT_IN_MESSAGE_TYPES


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_refused_by_default(platform: SimulatedPlatform, name: str) -> None:
    tool = platform.tool()
    error = expect_error(
        lambda: _launch(platform, tool, name),
        UnsupportedMessageTypeError,
        "unsupported_message_type",
    )
    assert name in str(error)


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_accepted_when_enabled(platform: SimulatedPlatform, name: str) -> None:
    message: MessageType = OPT_IN_MESSAGE_TYPES[name]
    tool = platform.tool(message_types={**DEFAULT_MESSAGE_TYPES, name: message})
    launch = _launch(platform, tool, name)
    assert launch.claims.message_type == name
    for claim in message.required_claims:
        assert claim in launch.raw


@pytest.mark.parametrize(
    ("name", "claim"),
    [
        (name, claim)
        for name in sorted(EXTRA)
        for claim in OPT_IN_MESSAGE_TYPES[name].required_claims
    ],
)
def test_each_required_claim_is_checked(platform: SimulatedPlatform, name: str, claim: str) -> None:
    message = OPT_IN_MESSAGE_TYPES[name]
    tool = platform.tool(message_types=[*DEFAULT_MESSAGE_TYPES.values(), message])
    error = expect_error(
        lambda: _launch(platform, tool, name, remove=(claim,)), MissingClaimError, "missing_claim"
    )
    assert error.spec_ref == message.spec_ref


@pytest.mark.parametrize(
    "name", sorted(n for n in EXTRA if OPT_IN_MESSAGE_TYPES[n].requires_resource_link)
)
def test_resource_link_required_where_the_spec_says(platform: SimulatedPlatform, name: str) -> None:
    tool = platform.tool(message_types=[OPT_IN_MESSAGE_TYPES[name]])
    error = expect_error(
        lambda: _launch(platform, tool, name, remove=(RESOURCE_LINK,)),
        MissingClaimError,
        "missing_claim",
    )
    assert error.details["claim"] == "resource_link"


@pytest.mark.parametrize("name", sorted(n for n in EXTRA if OPT_IN_MESSAGE_TYPES[n].requires_roles))
def test_roles_required_where_the_spec_says(platform: SimulatedPlatform, name: str) -> None:
    tool = platform.tool(message_types=[OPT_IN_MESSAGE_TYPES[name]])
    error = expect_error(
        lambda: _launch(platform, tool, name, remove=(ROLES,)), MissingClaimError, "missing_claim"
    )
    assert error.details["claim"] == "roles"


def test_eula_request_needs_no_resource_link(platform: SimulatedPlatform) -> None:
    tool = platform.tool(message_types=[EULA_REQUEST])
    launch = _launch(platform, tool, "LtiEulaRequest", remove=(RESOURCE_LINK,))
    assert launch.claims.resource_link is None
    assert launch.claims.extensions[LTI + "eulaservice"]["url"].endswith("/eula/deployment/1")
