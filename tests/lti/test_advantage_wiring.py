"""Tool exposes keys, service tokens and deep-linking responses for a validated launch."""

from __future__ import annotations

import asyncio
import base64
import json
import pickle
from typing import Any

import pytest

from credlti.errors import ConfigurationError, ContentItemNotAcceptedError
from credlti.lti import AsyncTool, LaunchContext, Tool
from credlti.lti._claims import DL_SETTINGS_CLAIM
from credlti.lti.deep_linking import HtmlFragment, Link
from credlti.lti.keys import KeySet, KeyState, ToolKey, generate_key
from credlti.lti.services import SCOPE_NRPS_READONLY
from credlti.testing import SimulatedPlatform

LAUNCH_URL = "https://tool.example.com/launch"


@pytest.fixture(name="tool_key", scope="module")
def _tool_key() -> ToolKey:
    """One RSA-2048 tool key (generation is slow: shared by the module)."""
    return generate_key(now=SimulatedPlatform().clock(), state=KeyState.CURRENT)


def _deep_linking_launch(
    tool: Tool[Any, Any], platform: SimulatedPlatform
) -> LaunchContext[Any, Any]:
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    return tool.handle_callback(platform.deep_linking_launch(redirect), redirect.cookie_value)


def test_launch_context_signs_a_response_the_platform_accepts(
    platform: SimulatedPlatform, tool_key: ToolKey
) -> None:
    """tool.deep_link_response(launch, items) is signed with the tool key and echoes data."""
    tool = platform.tool(keys=tool_key)
    platform.trust_tool_keys(tool.jwks())
    launch = _deep_linking_launch(tool, platform)

    response = tool.deep_link_response(
        launch, [Link(url="https://tool.example.com/a", title="A")], msg="1 item added"
    )

    items = platform.verify_deep_linking_response(response.jwt, data="opaque-data-1")
    assert items == [{"type": "link", "url": "https://tool.example.com/a", "title": "A"}]
    assert response.return_url == f"{platform.issuer}/deep_links"
    assert response.claims["https://purl.imsglobal.org/spec/lti-dl/claim/msg"] == "1 item added"
    assert 'name="JWT"' in response.form_html()


def test_items_are_checked_against_the_request_settings(
    platform: SimulatedPlatform, tool_key: ToolKey
) -> None:
    """An item type the platform did not accept is refused before anything is signed."""
    tool = platform.tool(keys=tool_key)
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    settings = {
        "deep_link_return_url": f"{platform.issuer}/deep_links",
        "accept_types": ["link"],
        "accept_presentation_document_targets": ["iframe"],
    }
    form = platform.deep_linking_launch(redirect, settings=settings)
    launch = tool.handle_callback(form, redirect.cookie_value)

    with pytest.raises(ContentItemNotAcceptedError) as info:
        tool.deep_link_response(launch, [HtmlFragment(html="<p>x</p>")])

    assert info.value.details["rule"] == "accept_types"
    assert launch.claims.deep_linking is not None
    assert DL_SETTINGS_CLAIM in launch.raw


def test_without_keys_every_advantage_feature_says_what_to_pass(
    platform: SimulatedPlatform,
) -> None:
    """No keys: jwks(), services and deep_link_response raise ConfigurationError naming keys=."""
    tool = platform.tool()
    launch = _deep_linking_launch(tool, platform)

    for call in (
        tool.jwks,
        lambda: tool.services,
        lambda: tool.deep_link_response(launch, []),
    ):
        with pytest.raises(ConfigurationError, match="pass keys="):
            call()


def test_launch_context_is_a_plain_record_that_pickles(
    platform: SimulatedPlatform, tool_key: ToolKey
) -> None:
    """A validated launch holds no tool: it pickles, and a copy still signs through the tool."""
    tool = platform.tool(keys=tool_key)
    platform.trust_tool_keys(tool.jwks())
    launch = _deep_linking_launch(tool, platform)

    copy = pickle.loads(pickle.dumps(launch))  # noqa: S301 - our own bytes

    assert copy == launch
    assert copy.claims == launch.claims
    assert copy.registration == launch.registration
    assert copy.launch_id == launch.launch_id
    rebuilt = LaunchContext(
        claims=copy.claims,
        registration=copy.registration,
        deployment=copy.deployment,
        raw=copy.raw,
    )
    response = tool.deep_link_response(rebuilt, [Link(url="https://tool.example.com/p")])
    assert platform.verify_deep_linking_response(response.jwt, data="opaque-data-1")


def test_jwks_publishes_every_key_and_no_private_part(
    platform: SimulatedPlatform, tool_key: ToolKey
) -> None:
    """tool.jwks() lists current and next keys, public parameters only."""
    upcoming = generate_key(now=platform.clock(), state=KeyState.NEXT, alg="ES256")
    tool = platform.tool(keys=KeySet((tool_key, upcoming)))

    document = tool.jwks()

    assert {k["kid"] for k in document["keys"]} == {tool_key.kid, upcoming.kid}
    for entry in document["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(entry)


def test_services_share_the_tools_http_client_and_cache_tokens(
    platform: SimulatedPlatform, tool_key: ToolKey
) -> None:
    """tool.services reaches the platform's token endpoint and reuses the token."""
    tool = platform.tool(keys=tool_key)
    platform.trust_tool_keys(tool.jwks())
    launch = _deep_linking_launch(tool, platform)

    first = tool.services.get_token(launch.registration, [SCOPE_NRPS_READONLY])
    second = tool.services.get_token(launch.registration, [SCOPE_NRPS_READONLY])

    assert first == second
    assert platform.token_requests == 1
    assert tool.services is tool.services


def test_async_tool_signs_and_gets_tokens(platform: SimulatedPlatform, tool_key: ToolKey) -> None:
    """AsyncTool offers the same: a signed response and an async token client."""
    tool: AsyncTool[Any, Any] = platform.async_tool(keys=tool_key)
    platform.trust_tool_keys(tool.jwks())

    async def main() -> tuple[str, int]:
        redirect = await tool.handle_login(platform.login_params(), LAUNCH_URL)
        launch = await tool.handle_callback(
            platform.deep_linking_launch(redirect), redirect.cookie_value
        )
        response = tool.deep_link_response(launch, [Link(url="https://tool.example.com/b")])
        await tool.services.get_token(launch.registration, [SCOPE_NRPS_READONLY])
        await tool.aclose()
        return response.jwt, platform.token_requests

    jwt, requests = asyncio.run(main())

    assert platform.verify_deep_linking_response(jwt, data="opaque-data-1")[0]["type"] == "link"
    assert requests == 1


def test_wrong_http_client_kind_names_the_twin() -> None:
    """Tool refuses an AsyncClient and AsyncTool a Client, naming the facade to use."""
    import httpx

    from credlti.adapters.memory import AsyncMemoryLaunchStorage, MemoryLaunchStorage

    async_client, sync_client = httpx.AsyncClient(), httpx.Client()
    with pytest.raises(TypeError, match="use AsyncTool"):
        Tool(MemoryLaunchStorage(), http_client=async_client)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="use Tool"):
        AsyncTool(AsyncMemoryLaunchStorage(), http_client=sync_client)  # type: ignore[arg-type]
    sync_client.close()
    asyncio.run(async_client.aclose())


def test_store_with_shared_and_per_registration_keys(
    platform: SimulatedPlatform, tool_key: ToolKey
) -> None:
    """A store may hold several current keys: jwks() lists all, signing picks the owner's."""
    from credlti.adapters.memory import MemoryToolKeyStore

    own = generate_key(
        now=platform.clock(),
        state=KeyState.CURRENT,
        alg="ES256",
        owner=(platform.issuer, platform.client_id),
    )
    store = MemoryToolKeyStore()
    store.save_key(tool_key)  # shared
    store.save_key(own)  # this registration's
    tool = platform.tool(keys=store)
    platform.trust_tool_keys(tool.jwks())
    launch = _deep_linking_launch(tool, platform)

    response = tool.deep_link_response(launch, [Link(url="https://tool.example.com/c")])

    assert {k["kid"] for k in tool.jwks()["keys"]} == {tool_key.kid, own.kid}
    assert platform.verify_deep_linking_response(response.jwt, data="opaque-data-1")
    header = json.loads(base64.urlsafe_b64decode(response.jwt.split(".")[0] + "=="))
    assert header["kid"] == own.kid
