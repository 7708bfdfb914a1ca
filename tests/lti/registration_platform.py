"""A platform's side of LTI Dynamic Registration, written from the spec, not from credlti.

It serves an OpenID configuration (LTI-DR §3.4) and a registration endpoint
(LTI-DR §3.5.2, §3.6) through an ``httpx.MockTransport`` and checks what the tool
sends: the bearer registration token (single use, as Moodle and Canvas enforce),
the content type and the shape of the registration request. It imports nothing
from credlti.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"


def _lti_part(configuration: dict[str, Any]) -> dict[str, Any]:
    for key, value in configuration.items():
        if key.strip() == PLATFORM_CONFIGURATION:
            return value  # type: ignore[no-any-return]
    return {}


class SpecPlatform:
    """An OpenID configuration and a registration endpoint with their checks.

    Attributes:
        received: ``(method, url, headers, body)`` of every request, in order.
        problems: What the registration endpoint found wrong in a request.
        registered: The registration requests it accepted.
    """

    def __init__(
        self,
        configuration_url: str,
        configuration: dict[str, Any],
        *,
        tokens: set[str] | None = None,
        answer_extra: dict[str, Any] | None = None,
        configuration_body: bytes | None = None,
        registration_answer: Callable[[httpx.Request], httpx.Response] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.configuration_url = configuration_url
        self.configuration = configuration
        self.tokens = tokens  # None: no token needed
        self.used: set[str] = set()
        self.answer_extra = answer_extra or {}
        self.configuration_body = configuration_body
        self.registration_answer = registration_answer
        self.delay = delay
        self.received: list[tuple[str, str, httpx.Headers, bytes]] = []
        self.problems: list[str] = []
        self.registered: list[dict[str, Any]] = []
        self.next_client = 1

    # ------------------------------------------------------------------ transports

    def transport(self) -> httpx.MockTransport:
        """A sync transport (a delay sleeps in the handler)."""

        def handle(request: httpx.Request) -> httpx.Response:
            if self.delay:
                import time

                time.sleep(self.delay)
            return self.handle(request)

        return httpx.MockTransport(handle)

    def async_transport(self) -> httpx.MockTransport:
        """An async transport (a delay awaits, so deadlines can cancel it)."""

        async def handle(request: httpx.Request) -> httpx.Response:
            if self.delay:
                await asyncio.sleep(self.delay)
            return self.handle(request)

        return httpx.MockTransport(handle)

    # ------------------------------------------------------------------ endpoints

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.received.append((request.method, str(request.url), request.headers, body))
        if request.method == "GET" and str(request.url) == self.configuration_url:
            return self._configuration(request)
        if request.method == "POST" and str(request.url) == self.configuration.get(
            "registration_endpoint"
        ):
            if self.registration_answer is not None:
                return self.registration_answer(request)
            return self._register(request, body)
        return httpx.Response(404)

    def _configuration(self, request: httpx.Request) -> httpx.Response:
        if self.configuration_body is not None:
            return httpx.Response(
                200, content=self.configuration_body, headers={"Content-Type": "application/json"}
            )
        return httpx.Response(200, json=self.configuration)

    def _token_problem(self, request: httpx.Request) -> str | None:
        if self.tokens is None:
            return None
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return "no bearer registration token"
        token = header.removeprefix("Bearer ")
        if token in self.used:
            return "token_already_used"
        if token not in self.tokens:
            return "unknown token"
        return None

    def _register(self, request: httpx.Request, body: bytes) -> httpx.Response:
        problem = self._token_problem(request)
        if problem is not None:
            self.problems.append(problem)
            return httpx.Response(401, json={"error": "invalid_token"})
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            self.problems.append("content type is not application/json")
            return httpx.Response(400, json={"error": "invalid_client_metadata"})
        try:
            sent = json.loads(body)
        except ValueError:
            self.problems.append("body is not JSON")
            return httpx.Response(400, json={"error": "invalid_client_metadata"})
        shape = self._shape_problems(sent)
        if shape:
            self.problems.extend(shape)
            return httpx.Response(400, json={"error": "invalid_client_metadata"})
        if self.tokens is not None:
            self.used.add(request.headers["authorization"].removeprefix("Bearer "))
        self.registered.append(sent)
        answer = dict(sent)
        answer["client_id"] = f"client-{self.next_client}"
        self.next_client += 1
        for key, value in self.answer_extra.items():
            if key == TOOL_CONFIGURATION:
                answer[key] = {**sent[TOOL_CONFIGURATION], **value}
            else:
                answer[key] = value
        return httpx.Response(201, json=answer)

    def _shape_problems(self, sent: Any) -> list[str]:
        """The LTI-DR §3.5.2 rules for a registration request, checked one by one."""
        problems: list[str] = []
        if not isinstance(sent, dict):
            return ["request is not an object"]
        if sent.get("application_type") != "web":
            problems.append("application_type must be web")
        if "id_token" not in (sent.get("response_types") or []):
            problems.append("response_types must include id_token")
        grants = sent.get("grant_types") or []
        if "implicit" not in grants or "client_credentials" not in grants:
            problems.append("grant_types must include implicit and client_credentials")
        problems += [
            f"{field} is required"
            for field in ("initiate_login_uri", "jwks_uri", "client_name")
            if not isinstance(sent.get(field), str) or not sent[field]
        ]
        problems += [
            f"{field} must be https"
            for field in ("initiate_login_uri", "jwks_uri")
            if isinstance(sent.get(field), str) and not sent[field].startswith("https://")
        ]
        uris = sent.get("redirect_uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
            problems.append("redirect_uris must be a non-empty list of URLs")
        if sent.get("token_endpoint_auth_method") != "private_key_jwt":
            problems.append("token_endpoint_auth_method must be private_key_jwt")
        scope = sent.get("scope", "")
        if not isinstance(scope, str):
            problems.append("scope must be a space-separated string")
        else:
            supported = set(self.configuration.get("scopes_supported", []))
            problems += [f"unsupported scope {s}" for s in scope.split() if s not in supported]
        tool = sent.get(TOOL_CONFIGURATION)
        if not isinstance(tool, dict):
            return [*problems, "the lti-tool-configuration object is required"]
        for field in ("domain", "target_link_uri"):
            if not isinstance(tool.get(field), str) or not tool[field]:
                problems.append(f"tool configuration {field} is required")
        if not isinstance(tool.get("claims"), list):
            problems.append("tool configuration claims must be a list")
        messages = tool.get("messages")
        supported_types = set()
        for entry in _lti_part(self.configuration).get("messages_supported", []):
            supported_types.add(entry if isinstance(entry, str) else entry.get("type"))
        if not isinstance(messages, list):
            problems.append("tool configuration messages must be a list")
        else:
            for message in messages:
                if not isinstance(message, dict) or message.get("type") not in supported_types:
                    problems.append(f"unsupported message {message!r}")
        return problems
