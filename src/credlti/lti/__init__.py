"""LTI 1.3 tool side: OIDC login initiation and launch validation.

Two calls accept a launch from any platform::

    from credlti.lti import Tool

    tool = Tool(storage, state_secret=SECRET)
    redirect = tool.handle_login(params, "https://tool.example/launch")
    launch = tool.handle_callback(form, kept_state)

and two more keep it for later requests on any worker::

    handle = tool.save_launch(launch)   # bind it to the browser, never the URL
    launch = tool.load_launch(handle)
"""

from credlti._clock import Clock, utc_now
from credlti.lti._claims import (
    AgsEndpoint,
    Context,
    DeepLinkingSettings,
    LaunchClaims,
    LaunchPresentation,
    Lis,
    NrpsEndpoint,
    ResourceLink,
    ToolPlatform,
)
from credlti.lti._jwks import JwksPolicy
from credlti.lti._lti1p1_claim import Lti1p1Claim, VerifiedLti1p1
from credlti.lti._policy import (
    ASSET_PROCESSOR_SETTINGS_REQUEST,
    DEEP_LINKING_REQUEST,
    DEFAULT_MESSAGE_TYPES,
    END_ASSESSMENT,
    EULA_REQUEST,
    OPT_IN_MESSAGE_TYPES,
    REPORT_REVIEW_REQUEST,
    RESOURCE_LINK_REQUEST,
    START_PROCTORING,
    SUBMISSION_REVIEW_REQUEST,
    LaunchPolicy,
    MessageType,
)
from credlti.lti._records import (
    SUPPORTED_ALGORITHMS,
    Deployment,
    LaunchContext,
    LoginRedirect,
    Registration,
    clear_state_cookie_header,
    state_cookie_name,
)
from credlti.lti._roles import Role, RoleKind, Roles, parse_role, parse_roles
from credlti.lti._sessions import (
    DEFAULT_LAUNCH_TTL,
    clear_launch_session_cookie_header,
    launch_session_cookie_header,
    launch_session_cookie_name,
)
from credlti.lti._storage_launch import StorageLaunch
from credlti.lti._storage_pages import fallback_page, page_headers, storage_script
from credlti.lti._tool import AsyncTool, Tool
from credlti.lti._tool_core import PolicyOptions

__all__ = [
    "ASSET_PROCESSOR_SETTINGS_REQUEST",
    "DEEP_LINKING_REQUEST",
    "DEFAULT_LAUNCH_TTL",
    "DEFAULT_MESSAGE_TYPES",
    "END_ASSESSMENT",
    "EULA_REQUEST",
    "OPT_IN_MESSAGE_TYPES",
    "REPORT_REVIEW_REQUEST",
    "RESOURCE_LINK_REQUEST",
    "START_PROCTORING",
    "SUBMISSION_REVIEW_REQUEST",
    "SUPPORTED_ALGORITHMS",
    "AgsEndpoint",
    "AsyncTool",
    "Clock",
    "Context",
    "DeepLinkingSettings",
    "Deployment",
    "JwksPolicy",
    "LaunchClaims",
    "LaunchContext",
    "LaunchPolicy",
    "LaunchPresentation",
    "Lis",
    "LoginRedirect",
    "Lti1p1Claim",
    "MessageType",
    "NrpsEndpoint",
    "PolicyOptions",
    "Registration",
    "ResourceLink",
    "Role",
    "RoleKind",
    "Roles",
    "StorageLaunch",
    "Tool",
    "ToolPlatform",
    "VerifiedLti1p1",
    "clear_launch_session_cookie_header",
    "clear_state_cookie_header",
    "fallback_page",
    "launch_session_cookie_header",
    "launch_session_cookie_name",
    "page_headers",
    "parse_role",
    "parse_roles",
    "state_cookie_name",
    "storage_script",
    "utc_now",
]
