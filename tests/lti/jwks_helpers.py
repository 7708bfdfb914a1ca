"""Helpers for the key-set tests: a scriptable JWKS endpoint and hand-built tools."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import httpx
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.lti import LaunchContext, LoginRedirect, Registration, Tool
from credlti.testing import SimulatedPlatform

from .helpers import LAUNCH_URL

Handler = Callable[[httpx.Request], httpx.Response]


@attrs.define
class KeySetEndpoint:
    """A scriptable key-set endpoint for ``httpx.MockTransport``.

    Serves :attr:`document` (JSON-encoded unless it is ``bytes``) at :attr:`url`
    with :attr:`status` and :attr:`cache_control`, and records every request.
    """

    url: str
    document: Any = attrs.field(factory=lambda: {"keys": []})
    status: int = 200
    cache_control: str | None = "max-age=300"
    requests: list[httpx.Request] = attrs.field(factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request."""
        self.requests.append(request)
        if str(request.url) != self.url:
            return httpx.Response(404, json={"error": "not_found"})
        headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
        body = self.document if isinstance(self.document, bytes) else json.dumps(self.document)
        return httpx.Response(self.status, content=body, headers=headers)

    def client(self) -> httpx.Client:
        """A sync client routed to this endpoint."""
        return httpx.Client(transport=httpx.MockTransport(self))


def registration_for(
    platform: SimulatedPlatform, *, allowed_algorithms: Sequence[str] = ("RS256",)
) -> Registration:
    """The platform's registration, allowing *allowed_algorithms*."""
    return Registration(
        issuer=platform.issuer,
        client_id=platform.client_id,
        auth_endpoint=platform.auth_endpoint,
        jwks_uri=platform.jwks_uri,
        allowed_algorithms=tuple(allowed_algorithms),
    )


def tool_with(
    platform: SimulatedPlatform,
    handler: Handler,
    *,
    allowed_algorithms: Sequence[str] = ("RS256",),
    **kwargs: Any,
) -> Tool[Registration, Any]:
    """A tool for *platform*'s registration whose HTTP goes to *handler*."""
    registration = registration_for(platform, allowed_algorithms=allowed_algorithms)
    storage: MemoryLaunchStorage[Registration, Any] = MemoryLaunchStorage()
    storage.add_registration(registration)
    storage.add_deployment(registration, platform.deployment)
    kwargs.setdefault("clock", platform.clock)
    return Tool(storage, http_client=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)


def sign_claims(
    key: RSAKey | ECKey,
    claims: Mapping[str, Any],
    *,
    alg: str,
    kid: str | None,
    extra_header: Mapping[str, Any] | None = None,
) -> str:
    """Sign *claims* as a compact JWS (JSON with ASCII escapes, so any text survives)."""
    header: dict[str, Any] = {"typ": "JWT", "alg": alg, **(extra_header or {})}
    if kid is not None:
        header["kid"] = kid
    payload = json.dumps(dict(claims)).encode()
    return jws.serialize_compact(header, payload, key, algorithms=[alg])


def form(redirect: LoginRedirect, token: str) -> dict[str, str]:
    """The platform's form POST carrying *token* for *redirect*."""
    return {"id_token": token, "state": redirect.state}


def launch_with_kid(
    tool: Tool[Any, Any], platform: SimulatedPlatform, kid: str
) -> LaunchContext[Any, Any]:
    """Log in, then post a launch signed with the platform's current key under *kid*."""
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    token = platform.sign(platform.launch_claims(redirect), kid=kid)
    return tool.handle_callback(form(redirect, token), redirect.cookie_value)


def full_launch(tool: Tool[Any, Any], platform: SimulatedPlatform) -> LaunchContext[Any, Any]:
    """One complete, valid login and launch."""
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    return tool.handle_callback(platform.launch(redirect), redirect.cookie_value)
