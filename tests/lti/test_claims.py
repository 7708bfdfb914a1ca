"""Optional launch claims (checklist B3, B4) parsed into typed records.

Signed launches through ``platform.tool()`` where natural; ``parse_claims`` directly
for the shape rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from credlti.errors import InvalidClaimError, MissingClaimError
from credlti.lti import (
    AgsEndpoint,
    Context,
    DeepLinkingSettings,
    LaunchClaims,
    LaunchPresentation,
    Lis,
    NrpsEndpoint,
    ResourceLink,
    Tool,
    ToolPlatform,
)
from credlti.lti._claims import (
    AGS_CLAIM,
    CONTEXT,
    CUSTOM,
    DEPLOYMENT_ID,
    DL_SETTINGS_CLAIM,
    LAUNCH_PRESENTATION,
    LIS,
    LTI_CLAIM,
    MESSAGE_TYPE,
    NRPS_CLAIM,
    RESOURCE_LINK,
    ROLE_SCOPE_MENTOR,
    ROLES,
    TARGET_LINK_URI,
    TOOL_PLATFORM,
    VERSION,
    parse_claims,
)
from credlti.testing import INSTRUCTOR, SimulatedPlatform

from .helpers import LAUNCH_URL, expect_error, login

AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]
BASE: dict[str, Any] = {
    "iss": "https://platform.example.edu",
    "aud": ["credlti-tool"],
    "sub": "user-1",
    "exp": 1_768_478_700,
    "iat": 1_768_478_400,
    "nonce": "nonce-1",
    MESSAGE_TYPE: "LtiResourceLinkRequest",
    VERSION: "1.3.0",
    DEPLOYMENT_ID: "deployment-1",
    TARGET_LINK_URI: LAUNCH_URL,
    ROLES: [INSTRUCTOR],
    RESOURCE_LINK: {"id": "rl-1"},
}


def _parse(**claims: Any) -> LaunchClaims:
    payload = {**BASE, **claims}
    return parse_claims(payload, audience=("credlti-tool",), roles=None)


def _parse_with(claims: Mapping[str, Any]) -> Callable[[], LaunchClaims]:
    payload = {**BASE, **claims}
    return lambda: parse_claims(payload, audience=("credlti-tool",), roles=None)


def _launch(
    platform: SimulatedPlatform, tool: Tool[Any, Any], claims: Mapping[str, Any]
) -> LaunchClaims:
    redirect = login(tool, platform)
    form = platform.launch(redirect, claims=claims)
    return tool.handle_callback(form, redirect.cookie_value).claims


# --------------------------------------------------------------------------- typed records


def test_signed_launch_builds_every_typed_record(platform: SimulatedPlatform) -> None:
    """A launch carrying every optional claim yields each typed record, field by field."""
    tool = platform.tool()
    claims = _launch(
        platform,
        tool,
        {
            RESOURCE_LINK: {"id": "rl-1", "title": "Quiz 1", "description": "First quiz"},
            CONTEXT: {
                "id": "ctx-1",
                "label": "CS101",
                "title": "Intro",
                "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
            },
            TOOL_PLATFORM: {
                "guid": "guid-1",
                "name": "LMS",
                "contact_email": "admin@example.edu",
                "description": "Our LMS",
                "url": "https://lms.example.edu",
                "product_family_code": "moodle",
                "version": "4.3",
            },
            LAUNCH_PRESENTATION: {
                "document_target": "iframe",
                "height": 600,
                "width": 800.5,
                "return_url": "https://lms.example.edu/return",
                "locale": "en-GB",
            },
            LIS: {
                "person_sourcedid": "p-1",
                "course_offering_sourcedid": "co-1",
                "course_section_sourcedid": "cs-1",
                "outcome_service_url": "https://lms.example.edu/legacy",
            },
            CUSTOM: {"course": "CS101", "empty": ""},
            ROLE_SCOPE_MENTOR: ["user-2", "user-3"],
            AGS_CLAIM: {
                "scope": AGS_SCOPES,
                "lineitems": "https://lms.example.edu/ctx-1/lineitems",
                "lineitem": "https://lms.example.edu/ctx-1/lineitems/1",
            },
            NRPS_CLAIM: {
                "context_memberships_url": "https://lms.example.edu/ctx-1/memberships",
                "service_versions": ["2.0"],
            },
            "middle_name": "Byron",
            "picture": "https://lms.example.edu/ada.png",
            "locale": "en",
        },
    )
    assert claims.resource_link == ResourceLink(id="rl-1", title="Quiz 1", description="First quiz")
    assert claims.context == Context(
        id="ctx-1",
        label="CS101",
        title="Intro",
        type=("http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering",),
    )
    assert claims.tool_platform == ToolPlatform(
        guid="guid-1",
        name="LMS",
        contact_email="admin@example.edu",
        description="Our LMS",
        url="https://lms.example.edu",
        product_family_code="moodle",
        version="4.3",
    )
    assert claims.launch_presentation == LaunchPresentation(
        document_target="iframe",
        height=600,
        width=800.5,
        return_url="https://lms.example.edu/return",
        locale="en-GB",
    )
    assert claims.lis == Lis(
        person_sourcedid="p-1", course_offering_sourcedid="co-1", course_section_sourcedid="cs-1"
    )
    assert dict(claims.custom) == {"course": "CS101", "empty": ""}
    assert claims.role_scope_mentor == ("user-2", "user-3")
    assert claims.ags == AgsEndpoint(
        scope=tuple(AGS_SCOPES),
        lineitems="https://lms.example.edu/ctx-1/lineitems",
        lineitem="https://lms.example.edu/ctx-1/lineitems/1",
    )
    assert claims.nrps == NrpsEndpoint(
        context_memberships_url="https://lms.example.edu/ctx-1/memberships",
        service_versions=("2.0",),
    )
    assert claims.deep_linking is None
    assert (claims.name, claims.given_name, claims.family_name) == (
        "Ada Lovelace",
        "Ada",
        "Lovelace",
    )
    assert (claims.middle_name, claims.email) == ("Byron", "ada@example.edu")
    assert claims.picture == "https://lms.example.edu/ada.png"
    assert claims.locale == "en"
    assert claims.roles.is_instructor
    assert claims.extensions == {}


def test_required_claims_copied_exactly(platform: SimulatedPlatform) -> None:
    """Core claims land in typed fields unchanged (ids are not trimmed or case-folded)."""
    tool = platform.tool()
    claims = _launch(
        platform,
        tool,
        {"sub": " User-ONE ", RESOURCE_LINK: {"id": " RL-1 "}, CONTEXT: {"id": "Ctx-1 "}},
    )
    assert claims.issuer == platform.issuer
    assert claims.subject == " User-ONE "
    assert claims.audience == (platform.client_id,)
    assert claims.authorized_party == platform.client_id
    assert claims.message_type == "LtiResourceLinkRequest"
    assert claims.version == "1.3.0"
    assert claims.deployment_id == platform.deployment_id
    assert claims.target_link_uri == LAUNCH_URL
    assert claims.resource_link == ResourceLink(id=" RL-1 ")
    assert claims.context == Context(id="Ctx-1 ")
    assert claims.expires_at - claims.issued_at == 300


def test_optional_claims_absent_give_none_or_empty(platform: SimulatedPlatform) -> None:
    """Without optional claims the records are ``None`` and the maps and tuples empty."""
    tool = platform.tool()
    claims = _launch(platform, tool, {})
    redirect = login(tool, platform)
    form = platform.launch(
        redirect, remove=[CONTEXT, TOOL_PLATFORM, "name", "given_name", "family_name", "email"]
    )
    bare = tool.handle_callback(form, redirect.cookie_value).claims
    assert claims.context is not None
    assert bare.context is None
    assert bare.tool_platform is None
    assert bare.launch_presentation is None
    assert bare.lis is None
    assert bare.ags is None
    assert bare.nrps is None
    assert bare.deep_linking is None
    assert dict(bare.custom) == {}
    assert bare.unresolved_custom == ()
    assert bare.role_scope_mentor == ()
    assert (bare.name, bare.email, bare.given_name, bare.family_name) == (None,) * 4


@pytest.mark.parametrize(
    ("nrps", "versions"),
    [
        ({"service_versions": ["2.0"]}, ("2.0",)),
        ({"service_versions": ["1.0", "2.0"]}, ("1.0", "2.0")),
        ({"service_version": "2.0"}, ("2.0",)),
        ({"service_version": ["2.0"]}, ("2.0",)),
        ({"service_versions": "2.0"}, ("2.0",)),
        ({}, ()),
    ],
)
def test_nrps_accepts_service_versions_and_service_version(
    nrps: dict[str, Any], versions: tuple[str, ...]
) -> None:
    """The NRPS claim takes ``service_versions`` (example) or ``service_version`` (prose)."""
    url = "https://lms.example.edu/memberships"
    claims = _parse(**{NRPS_CLAIM: {"context_memberships_url": url, **nrps}})
    assert claims.nrps == NrpsEndpoint(context_memberships_url=url, service_versions=versions)


def test_nrps_through_a_signed_launch(platform: SimulatedPlatform) -> None:
    """``service_version`` (singular) survives a real launch."""
    tool = platform.tool()
    url = "https://lms.example.edu/ctx/memberships?x=1"
    claims = _launch(
        platform, tool, {NRPS_CLAIM: {"context_memberships_url": url, "service_version": "2.0"}}
    )
    assert claims.nrps == NrpsEndpoint(context_memberships_url=url, service_versions=("2.0",))


def test_ags_with_only_lineitems(platform: SimulatedPlatform) -> None:
    """An AGS claim without ``lineitem`` (several line items) leaves it ``None``."""
    tool = platform.tool()
    claims = _launch(
        platform, tool, {AGS_CLAIM: {"scope": AGS_SCOPES, "lineitems": "https://lms/li"}}
    )
    assert claims.ags == AgsEndpoint(scope=tuple(AGS_SCOPES), lineitems="https://lms/li")


# --------------------------------------------------------------------------- deep linking

DATA = {"opaque": [1, 2.5, None, {"nested": True}], "text": "kept \u00e9 as-is"}


def test_deep_linking_settings_typed_with_opaque_data(platform: SimulatedPlatform) -> None:
    """Deep-linking settings are typed; ``data`` is kept exactly as sent (any JSON)."""
    tool = platform.tool()
    redirect = login(tool, platform)
    settings = {
        "deep_link_return_url": "https://lms.example.edu/dl/return",
        "accept_types": ["ltiResourceLink", "link"],
        "accept_presentation_document_targets": ["iframe", "window"],
        "accept_media_types": "image/*,text/html",
        "accept_multiple": False,
        "accept_lineitem": True,
        "auto_create": True,
        "title": "Pick one",
        "text": "Choose content",
        "data": DATA,
    }
    form = platform.deep_linking_launch(redirect, settings=settings)
    claims = tool.handle_callback(form, redirect.cookie_value).claims
    assert claims.message_type == "LtiDeepLinkingRequest"
    assert claims.resource_link is None
    assert claims.deep_linking == DeepLinkingSettings(
        deep_link_return_url="https://lms.example.edu/dl/return",
        accept_types=("ltiResourceLink", "link"),
        accept_presentation_document_targets=("iframe", "window"),
        accept_media_types="image/*,text/html",
        accept_multiple=False,
        accept_lineitem=True,
        auto_create=True,
        title="Pick one",
        text="Choose content",
        data=DATA,
    )


@pytest.mark.parametrize("data", ["opaque-data-1", 42, ["a"], None, "", {"k": {"k": {"k": []}}}])
def test_deep_linking_data_kept_as_is(data: Any) -> None:
    """``data`` is opaque: strings, numbers, arrays and objects come back unchanged."""
    settings = {
        "deep_link_return_url": "https://lms/return",
        "accept_types": ["link"],
        "accept_presentation_document_targets": ["iframe"],
        "data": data,
    }
    claims = _parse(**{DL_SETTINGS_CLAIM: settings})
    assert claims.deep_linking is not None
    assert claims.deep_linking.data == data
    assert claims.deep_linking.accept_multiple is None
    assert claims.deep_linking.accept_lineitem is None


@pytest.mark.parametrize(
    "missing",
    ["deep_link_return_url", "accept_types", "accept_presentation_document_targets"],
)
def test_deep_linking_required_fields_missing(missing: str) -> None:
    """A missing required deep-linking field is ``MissingClaimError`` naming the dotted path."""
    settings = {
        "deep_link_return_url": "https://lms/return",
        "accept_types": ["link"],
        "accept_presentation_document_targets": ["iframe"],
    }
    del settings[missing]
    exc = expect_error(
        _parse_with({DL_SETTINGS_CLAIM: settings}), MissingClaimError, "missing_claim", status=400
    )
    assert exc.details["claim"] == f"deep_linking_settings.{missing}"


# --------------------------------------------------------------------------- wrong shapes

WRONG_SHAPES: list[tuple[str, Any, str]] = [
    (CONTEXT, "ctx-1", "context"),
    (CONTEXT, ["ctx-1"], "context"),
    (CONTEXT, {"id": "c", "type": "CourseOffering"}, "context.type"),
    (CONTEXT, {"id": "c", "type": [1, 2]}, "context.type"),
    (CONTEXT, {"id": "c", "label": 101}, "context.label"),
    (CONTEXT, {"id": "c", "title": ["t"]}, "context.title"),
    (CONTEXT, {"id": 7}, "context.id"),
    (RESOURCE_LINK, {"id": "rl", "title": 5}, "resource_link.title"),
    (RESOURCE_LINK, {"id": "rl", "description": {}}, "resource_link.description"),
    (TOOL_PLATFORM, "lms", "tool_platform"),
    (TOOL_PLATFORM, {"guid": 123}, "tool_platform.guid"),
    (TOOL_PLATFORM, {"guid": "g", "version": 4.3}, "tool_platform.version"),
    (LAUNCH_PRESENTATION, [], "launch_presentation"),
    (LAUNCH_PRESENTATION, {"document_target": 1}, "launch_presentation.document_target"),
    (LAUNCH_PRESENTATION, {"return_url": False}, "launch_presentation.return_url"),
    (LIS, "p-1", "lis"),
    (LIS, {"person_sourcedid": 1}, "lis.person_sourcedid"),
    (CUSTOM, ["a", "b"], "custom"),
    (CUSTOM, "a=b", "custom"),
    (ROLE_SCOPE_MENTOR, "user-2", "role_scope_mentor"),
    (ROLE_SCOPE_MENTOR, [1], "role_scope_mentor"),
    (AGS_CLAIM, "https://lms/li", "ags_endpoint"),
    (AGS_CLAIM, {"scope": "lineitem"}, "ags_endpoint.scope"),
    (AGS_CLAIM, {"scope": [None]}, "ags_endpoint.scope"),
    (AGS_CLAIM, {"scope": [], "lineitems": 5}, "ags_endpoint.lineitems"),
    (AGS_CLAIM, {"scope": [], "lineitem": ["x"]}, "ags_endpoint.lineitem"),
    (NRPS_CLAIM, True, "namesroleservice"),
    (NRPS_CLAIM, {"context_memberships_url": 5}, "namesroleservice.context_memberships_url"),
    (DL_SETTINGS_CLAIM, "settings", "deep_linking_settings"),
    ("name", 5, "name"),
    ("email", ["a@b"], "email"),
    ("given_name", {"x": 1}, "given_name"),
    ("locale", 1, "locale"),
]


@pytest.mark.parametrize(
    ("claim", "value", "path"), WRONG_SHAPES, ids=[p for _, _, p in WRONG_SHAPES]
)
def test_wrong_shapes_raise_invalid_claim_with_dotted_path(
    claim: str, value: Any, path: str
) -> None:
    """A wrongly shaped claim is ``InvalidClaimError`` (400) with its dotted path in details."""
    exc = expect_error(_parse_with({claim: value}), InvalidClaimError, "invalid_claim", status=400)
    assert exc.details["claim"] == path


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("accept_types", "link"),
        ("accept_types", [1]),
        ("accept_presentation_document_targets", None),
        ("accept_multiple", "false"),
        ("accept_lineitem", 1),
        ("auto_create", "yes"),
        ("accept_media_types", ["image/*"]),
        ("title", 5),
        ("text", []),
    ],
)
def test_deep_linking_wrong_shapes(field: str, value: Any) -> None:
    """Wrongly typed deep-linking fields name ``deep_linking_settings.<field>``."""
    settings = {
        "deep_link_return_url": "https://lms/return",
        "accept_types": ["link"],
        "accept_presentation_document_targets": ["iframe"],
        field: value,
    }
    exc = expect_error(
        _parse_with({DL_SETTINGS_CLAIM: settings}), InvalidClaimError, "invalid_claim"
    )
    assert exc.details["claim"] == f"deep_linking_settings.{field}"


@pytest.mark.parametrize("value", [5, ["https://lms/return"]])
def test_deep_link_return_url_of_wrong_type_is_invalid_not_missing(value: Any) -> None:
    """A present but non-string ``deep_link_return_url`` is ``InvalidClaimError``, not "missing"."""
    settings = {
        "deep_link_return_url": value,
        "accept_types": ["link"],
        "accept_presentation_document_targets": ["iframe"],
    }
    exc = expect_error(
        _parse_with({DL_SETTINGS_CLAIM: settings}), InvalidClaimError, "invalid_claim"
    )
    assert exc.details["claim"] == "deep_linking_settings.deep_link_return_url"


@pytest.mark.parametrize(
    ("nrps", "field"),
    [
        ({"service_versions": 2.0}, "service_versions"),
        ({"service_versions": [2.0]}, "service_versions"),
        ({"service_version": {"v": "2.0"}}, "service_version"),
    ],
)
def test_nrps_bad_service_versions_names_the_field(nrps: dict[str, Any], field: str) -> None:
    """A malformed NRPS version list names its field, e.g. ``namesroleservice.service_versions``."""
    value = {"context_memberships_url": "https://lms/m", **nrps}
    exc = expect_error(_parse_with({NRPS_CLAIM: value}), InvalidClaimError, "invalid_claim")
    assert exc.details["claim"] == f"namesroleservice.{field}"


def test_nrps_without_memberships_url_rejected() -> None:
    """An NRPS claim without ``context_memberships_url`` is rejected, naming that field."""
    with pytest.raises((InvalidClaimError, MissingClaimError)) as info:
        _parse(**{NRPS_CLAIM: {"service_versions": ["2.0"]}})
    assert info.value.details["claim"] == "namesroleservice.context_memberships_url"


def test_context_without_id_is_missing_claim() -> None:
    """``context`` without ``id`` is ``MissingClaimError`` for ``context.id``."""
    exc = expect_error(
        _parse_with({CONTEXT: {"label": "CS101"}}), MissingClaimError, "missing_claim"
    )
    assert exc.details["claim"] == "context.id"


@pytest.mark.parametrize(
    ("claim", "value", "path"),
    [
        (CONTEXT, "ctx-1", "context"),
        (CONTEXT, {"id": "c", "type": "CourseOffering"}, "context.type"),
        (AGS_CLAIM, {"scope": "lineitem"}, "ags_endpoint.scope"),
        (LAUNCH_PRESENTATION, {"document_target": 3}, "launch_presentation.document_target"),
        (CUSTOM, [1], "custom"),
        (CONTEXT, {"id": "x" * 256}, "context.id"),
        (RESOURCE_LINK, {"id": "x" * 256}, "resource_link.id"),
    ],
)
def test_wrong_shapes_in_signed_launch(
    platform: SimulatedPlatform, claim: str, value: Any, path: str
) -> None:
    """Through a real launch, a wrong shape is ``InvalidClaimError`` with its dotted path."""
    tool = platform.tool()
    exc = expect_error(
        lambda: _launch(platform, tool, {claim: value}), InvalidClaimError, "invalid_claim"
    )
    assert exc.details["claim"] == path


def test_wrong_shape_does_not_burn_the_nonce(platform: SimulatedPlatform) -> None:
    """A launch rejected for a claim shape leaves its nonce unconsumed for a retry."""
    tool = platform.tool()
    redirect = login(tool, platform)
    bad = platform.launch(redirect, claims={CONTEXT: "ctx"})
    expect_error(
        lambda: tool.handle_callback(bad, redirect.cookie_value), InvalidClaimError, "invalid_claim"
    )
    good = platform.launch(redirect)
    tool.handle_callback(good, redirect.cookie_value)


# --------------------------------------------------------------------------- leniency


@pytest.mark.parametrize(
    ("height", "expected"),
    [("600px", None), ("600", None), (True, None), (None, None), ([600], None), (480, 480)],
)
def test_launch_presentation_non_numeric_size_is_dropped(height: Any, expected: Any) -> None:
    """A non-numeric ``height``/``width`` hint is ``None`` instead of failing the launch."""
    claims = _parse(**{LAUNCH_PRESENTATION: {"height": height, "width": height}})
    assert claims.launch_presentation == LaunchPresentation(height=expected, width=expected)


def test_custom_values_lenient_and_unresolved(platform: SimulatedPlatform) -> None:
    """Custom numbers/bools/objects become JSON text, nulls are dropped, ``$`` values listed."""
    tool = platform.tool()
    claims = _launch(
        platform,
        tool,
        {
            CUSTOM: {
                "text": "hello",
                "empty": "",
                "int": 42,
                "float": 1.5,
                "true": True,
                "false": False,
                "null": None,
                "list": [1, "a"],
                "object": {"b": 1, "a": [True]},
                "unresolved": "$Canvas.user.id",
                "resolved": "12345",
                "dollar_mid": "costs $5",
                "also_unresolved": "$ResourceLink.available.startDateTime",
            }
        },
    )
    assert dict(claims.custom) == {
        "text": "hello",
        "empty": "",
        "int": "42",
        "float": "1.5",
        "true": "true",
        "false": "false",
        "list": '[1,"a"]',
        "object": '{"a":[true],"b":1}',
        "unresolved": "$Canvas.user.id",
        "resolved": "12345",
        "dollar_mid": "costs $5",
        "also_unresolved": "$ResourceLink.available.startDateTime",
    }
    assert claims.unresolved_custom == ("unresolved", "also_unresolved")
    with pytest.raises(TypeError):
        claims.custom["x"] = "y"  # type: ignore[index]


def test_unknown_claims_land_in_extensions(platform: SimulatedPlatform) -> None:
    """Claims credlti does not model are kept in ``extensions`` by full name; typed ones are not."""
    tool = platform.tool()
    vendor = "https://www.instructure.com/placement"
    unknown_lti = LTI_CLAIM + "future_claim"
    claims = _launch(
        platform,
        tool,
        {
            vendor: "course_navigation",
            unknown_lti: {"a": [1, 2]},
            "https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome": {
                "lis_result_sourcedid": "r"
            },
            "short": None,
            "typ": 3,
        },
    )
    assert dict(claims.extensions) == {
        vendor: "course_navigation",
        unknown_lti: {"a": [1, 2]},
        "https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome": {"lis_result_sourcedid": "r"},
        "short": None,
        "typ": 3,
    }
    for typed in (CONTEXT, ROLES, "iss", "nonce", "email", TOOL_PLATFORM):
        assert typed not in claims.extensions


def test_unknown_fields_inside_claims_are_ignored() -> None:
    """Unknown fields inside modelled claims are ignored, not rejected (Core §3.5)."""
    claims = _parse(
        **{
            CONTEXT: {"id": "c", "vendor_field": {"x": 1}},
            TOOL_PLATFORM: {"guid": "g", "extra": [1]},
            AGS_CLAIM: {"scope": [], "unknown": 1},
            LIS: {"outcome_service_url": "https://lms/legacy", "result_sourcedid": 5},
        }
    )
    assert claims.context == Context(id="c")
    assert claims.tool_platform == ToolPlatform(guid="g")
    assert claims.ags == AgsEndpoint()
    assert claims.lis == Lis()


def test_roles_parsed_when_not_given() -> None:
    """``parse_claims(roles=None)`` parses the roles claim itself; absent roles are empty."""
    assert _parse().roles.is_instructor
    payload = {k: v for k, v in BASE.items() if k != ROLES}
    assert len(parse_claims(payload, audience=("a",), roles=None).roles) == 0
    exc = expect_error(_parse_with({ROLES: "Instructor"}), InvalidClaimError, "invalid_claim")
    assert exc.details["claim"] == "roles"
