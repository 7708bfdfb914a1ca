"""The dev platform's side of LTI Dynamic Registration.

Its OpenID configuration, and the checks on a tool's registration request (RFC 7591
client metadata with the LTI tool configuration).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from credlti.lti.services import (
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_NRPS_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
)

__all__ = [
    "TOOL_CONFIGURATION",
    "http_url_ok",
    "openid_configuration",
    "registration_response",
    "registration_settings",
]

#: The key of the LTI part of a tool's registration request.
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
_PLATFORM_CONFIG = "https://purl.imsglobal.org/spec/lti-platform-configuration"
_SCOPES = (SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE)


def http_url_ok(value: object) -> bool:
    """True for an absolute http(s) URL without fragment."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def openid_configuration(base_url: str) -> dict[str, Any]:
    """The platform's OpenID configuration (LTI Dynamic Registration §3.4)."""
    return {
        "issuer": base_url,
        "authorization_endpoint": f"{base_url}/auth",
        "token_endpoint": f"{base_url}/token",
        "jwks_uri": f"{base_url}/.well-known/jwks.json",
        "registration_endpoint": f"{base_url}/registrations",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "scopes_supported": ["openid", *_SCOPES, SCOPE_NRPS_READONLY],
        "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
        _PLATFORM_CONFIG: {
            "product_family_code": "credlti-dev-platform",
            "version": "1.0",
            "messages_supported": [
                {"type": "LtiResourceLinkRequest"},
                {"type": "LtiDeepLinkingRequest"},
            ],
        },
    }


def registration_settings(body: Any) -> dict[str, Any]:
    """Check a tool's registration request; return ``DevPlatform.register_tool``'s arguments.

    Raises:
        ValueError, TypeError: A required member is missing or wrong (answer 400
            ``invalid_client_metadata`` with the message).
    """
    if not isinstance(body, dict):
        msg = "the registration must be a JSON object"
        raise TypeError(msg)
    expected = {
        "application_type": "web",
        "token_endpoint_auth_method": "private_key_jwt",
    }
    for name, value in expected.items():
        if body.get(name) != value:
            msg = f"{name} must be {value!r}"
            raise ValueError(msg)
    if "id_token" not in body.get("response_types", []):
        msg = "response_types must include id_token"
        raise ValueError(msg)
    if not {"implicit", "client_credentials"} <= set(body.get("grant_types", [])):
        msg = "grant_types must include implicit and client_credentials"
        raise ValueError(msg)
    redirects = body.get("redirect_uris")
    if not isinstance(redirects, list) or not redirects:
        msg = "redirect_uris must be a non-empty array"
        raise ValueError(msg)
    config = body.get(TOOL_CONFIGURATION)
    if not isinstance(config, dict) or not http_url_ok(config.get("target_link_uri")):
        msg = f"{TOOL_CONFIGURATION} must be an object with a target_link_uri"
        raise ValueError(msg)
    deep_link = None
    for message in config.get("messages", []):
        if message.get("type") == "LtiDeepLinkingRequest":
            deep_link = message.get("target_link_uri") or config["target_link_uri"]
    launch = config["target_link_uri"]
    return {
        "name": str(body.get("client_name") or ""),
        "login_url": str(body.get("initiate_login_uri")),
        "launch_url": launch if launch in redirects else redirects[0],
        "redirect_uris": [str(uri) for uri in redirects],
        "jwks_url": str(body.get("jwks_uri")),
        "deep_link_url": deep_link,
    }


def registration_response(
    body: Mapping[str, Any], *, client_id: str, deployment_id: str
) -> dict[str, Any]:
    """The registration endpoint's answer: the request, with the client and deployment ids."""
    config = dict(body[TOOL_CONFIGURATION])
    config["deployment_id"] = deployment_id
    return {**body, "client_id": client_id, TOOL_CONFIGURATION: config}
