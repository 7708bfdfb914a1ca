"""The dynamic registration flow: fetch, check, register, store (LTI-DR §3.4 to §3.6).

Rules of this module:

1. One flow for the sync and the async facade: it yields
   :class:`~credlti._http.HttpRequest` effects and the storage effects below, and
   :func:`credlti._effects.run` / :func:`~credlti._effects.arun` drive it.
2. Every HTTP failure is thrown back into the flow and becomes a typed
   registration error; no ``httpx`` exception and no registration token escapes.
3. Nothing is half-stored: an issuer and client id already stored are never
   replaced, and when the deployment cannot be stored the registration is removed
   again before the error goes on.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from credlti._effects import Flow
from credlti._http import HttpRequest, RemoteCallFailed, RemoteResponse
from credlti.errors import (
    ConfigurationError,
    CredltiError,
    MalformedRegistrationResponseError,
    PlatformConfigurationError,
    RegistrationCallFailedError,
    RegistrationConflictError,
    StorageUnavailableError,
)
from credlti.lti._records import SUPPORTED_ALGORITHMS, Deployment, Registration
from credlti.lti._registration_checks import (
    MAX_DOCUMENT_BYTES,
    build_tool_request,
    check_platform_configuration,
    parse_registration_response,
    rejection,
    shown_url,
)
from credlti.lti._registration_records import (
    PlatformConfiguration,
    RegistrationInitiation,
    RegistrationResult,
    ToolSettings,
)
from credlti.lti.ports import AsyncRegistrationSink, RegistrationSink

__all__ = [
    "AddDeployment",
    "AddRegistration",
    "FindRegistration",
    "HttpLimits",
    "RemoveRegistration",
    "aperform_storage",
    "perform_storage",
    "registration_flow",
    "storage_call",
    "storage_failure",
]


@attrs.frozen
class FindRegistration:
    """Effect: the stored registration for ``(issuer, client_id)``, or ``None``."""

    issuer: str
    client_id: str


@attrs.frozen
class AddRegistration:
    """Effect: store a registration."""

    registration: Registration


@attrs.frozen
class AddDeployment:
    """Effect: store a deployment under a stored registration."""

    registration: Registration
    deployment: Deployment


@attrs.frozen
class RemoveRegistration:
    """Effect: remove a registration (and its deployments)."""

    issuer: str
    client_id: str


@attrs.frozen(kw_only=True)
class HttpLimits:
    """Bounds of every request the flow sends."""

    timeout: float
    deadline: float | None
    max_bytes: int = MAX_DOCUMENT_BYTES


def storage_call(sink: RegistrationSink | AsyncRegistrationSink, effect: Any) -> Any:
    """The port call of one storage effect on *sink* (its result, or an awaitable)."""
    if type(effect) is FindRegistration:
        return sink.get_registration(effect.issuer, effect.client_id)
    if type(effect) is AddRegistration:
        return sink.add_registration(effect.registration)
    if type(effect) is AddDeployment:
        return sink.add_deployment(effect.registration, effect.deployment)
    if type(effect) is RemoveRegistration:
        return sink.remove_registration(effect.issuer, effect.client_id)
    msg = f"no handler for {type(effect).__name__}"
    raise TypeError(msg)


def storage_failure(exc: Exception) -> StorageUnavailableError:
    """The typed error for a sink's own exception (library failures never leak)."""
    msg = f"the registration storage failed ({type(exc).__name__}); nothing was stored"
    return StorageUnavailableError(msg)


def perform_storage(sink: RegistrationSink, effect: Any) -> Any:
    """Carry out one storage effect on a sync *sink*; library failures become typed errors."""
    try:
        return storage_call(sink, effect)
    except CredltiError:
        raise
    except Exception as exc:
        raise storage_failure(exc) from exc


async def aperform_storage(sink: AsyncRegistrationSink, effect: Any) -> Any:
    """Await one storage effect on an async *sink*; library failures become typed errors."""
    try:
        return await storage_call(sink, effect)
    except CredltiError:
        raise
    except Exception as exc:
        raise storage_failure(exc) from exc


def _headers(token: str | None, *, json_body: bool) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if json_body:
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _fetch_configuration(
    initiation: RegistrationInitiation, limits: HttpLimits, allow_loopback: bool
) -> Flow[PlatformConfiguration]:
    url = initiation.openid_configuration
    where = shown_url(url)
    try:
        response: RemoteResponse = yield HttpRequest(
            method="GET",
            url=url,
            headers=_headers(initiation.registration_token, json_body=False),
            timeout=limits.timeout,
            max_bytes=limits.max_bytes,
            deadline=limits.deadline,
        )
    except RemoteCallFailed as exc:
        msg = f"the platform's OpenID configuration at {where} could not be fetched: {exc.reason}"
        raise PlatformConfigurationError(msg, details={"url": where}) from None
    if response.status_code != 200:
        msg = (
            f"the platform's OpenID configuration at {where} answered HTTP "
            f"{response.status_code} (redirects are not followed)"
        )
        raise PlatformConfigurationError(
            msg, details={"url": where, "status": response.status_code}
        )
    return check_platform_configuration(response.body, url, allow_loopback=allow_loopback)


def _registration(
    platform: PlatformConfiguration, settings: ToolSettings, client_id: str
) -> Registration:
    algorithms = tuple(a for a in platform.signing_algorithms if a in SUPPORTED_ALGORITHMS)
    try:
        return Registration(
            issuer=platform.issuer,
            client_id=client_id,
            auth_endpoint=platform.authorization_endpoint,
            jwks_uri=platform.jwks_uri,
            token_endpoint=platform.token_endpoint,
            allowed_algorithms=algorithms,
            redirect_uris=settings.redirect_uris,
        )
    except ConfigurationError as exc:
        msg = f"the platform's registration answer is unusable: {exc.message}"
        raise MalformedRegistrationResponseError(msg) from None


def registration_flow(
    initiation: RegistrationInitiation,
    settings: ToolSettings,
    *,
    limits: HttpLimits,
    allow_loopback: bool = False,
) -> Flow[RegistrationResult]:
    """Flow: register the tool with the platform that sent *initiation*, and store it."""
    platform = yield from _fetch_configuration(initiation, limits, allow_loopback)
    request = build_tool_request(settings, platform)
    endpoint = platform.registration_endpoint
    try:
        response: RemoteResponse = yield HttpRequest(
            method="POST",
            url=endpoint,
            headers=_headers(initiation.registration_token, json_body=True),
            content=json.dumps(request.body, separators=(",", ":")).encode(),
            timeout=limits.timeout,
            max_bytes=limits.max_bytes,
            deadline=limits.deadline,
        )
    except RemoteCallFailed as exc:
        msg = f"the platform's registration endpoint failed: {exc.reason}; nothing was stored"
        raise RegistrationCallFailedError(msg, details={"url": shown_url(endpoint)}) from None
    if response.status_code not in (200, 201):
        raise rejection(response.status_code, response.body, endpoint)
    client_id, deployment_id, scopes, document = parse_registration_response(response.body)
    registration = _registration(platform, settings, client_id)
    deployment = None if deployment_id is None else Deployment(deployment_id=deployment_id)
    existing = yield FindRegistration(registration.issuer, registration.client_id)
    if existing is not None:
        msg = (
            "the platform answered with a client id this tool already stores for its "
            "issuer; the stored registration is left unchanged"
        )
        raise RegistrationConflictError(
            msg, details={"issuer": registration.issuer, "client_id": registration.client_id}
        )
    yield AddRegistration(registration)
    if deployment is not None:
        try:
            yield AddDeployment(registration, deployment)
        except Exception:
            try:
                yield RemoveRegistration(registration.issuer, registration.client_id)
            except Exception as exc:
                msg = (
                    "the deployment could not be stored and the registration could not be "
                    "removed again; remove it by hand"
                )
                raise StorageUnavailableError(
                    msg, details={"issuer": registration.issuer, "client_id": client_id}
                ) from exc
            raise
    return RegistrationResult(
        registration=registration,
        deployment=deployment,
        platform=platform,
        granted_scopes=request.scopes if scopes is None else scopes,
        dropped_scopes=request.dropped_scopes,
        dropped_messages=request.dropped_messages,
        dropped_placements=request.dropped_placements,
        request=request.body,
        response=document,
    )
