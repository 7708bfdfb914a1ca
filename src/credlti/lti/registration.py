"""LTI Dynamic Registration 1.0, tool side: install the tool in a platform in one click.

The platform opens the tool's registration URL with ``openid_configuration`` (and
usually ``registration_token``) in the query. The tool fetches and checks the
platform's OpenID configuration, posts its own configuration, stores the
registration (and deployment) the platform assigned, and answers with a page that
tells the platform the window can close::

    from credlti.lti.registration import DynamicRegistration, ToolSettings, completion_page

    registrar = DynamicRegistration(settings, storage)
    result = registrar.register(request.query_params)  # LTI-DR §3.3 to §3.6
    return HTMLResponse(completion_page())  # LTI-DR §3.7

See ``docs/registration.md`` for the settings, the checks and the errors.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from credlti._effects import Flow, arun, run
from credlti._http import HttpRequest, check_deadline, perform_async, perform_sync
from credlti.errors import ConfigurationError
from credlti.lti._port_kind import check_port
from credlti.lti._registration_checks import parse_initiation
from credlti.lti._registration_flow import (
    HttpLimits,
    aperform_storage,
    perform_storage,
    registration_flow,
)
from credlti.lti._registration_records import (
    CANVAS_PRIVACY_LEVEL,
    CANVAS_TOOL_ID,
    LTI_PLATFORM_CONFIGURATION,
    LTI_TOOL_CONFIGURATION,
    PlatformConfiguration,
    RegistrationInitiation,
    RegistrationResult,
    SupportedMessage,
    ToolMessage,
    ToolSettings,
)

if TYPE_CHECKING:
    import httpx

    from credlti.lti.ports import AsyncRegistrationSink, RegistrationSink

__all__ = [
    "CANVAS_PRIVACY_LEVEL",
    "CANVAS_TOOL_ID",
    "LTI_PLATFORM_CONFIGURATION",
    "LTI_TOOL_CONFIGURATION",
    "AsyncDynamicRegistration",
    "DynamicRegistration",
    "PlatformConfiguration",
    "RegistrationInitiation",
    "RegistrationResult",
    "SupportedMessage",
    "ToolMessage",
    "ToolSettings",
    "completion_page",
    "read_initiation",
]

_USER_AGENT = "credlti-registration"
_SINK_METHODS = ("get_registration", "add_registration", "add_deployment", "remove_registration")
_NONCE = re.compile(r"[A-Za-z0-9+/=_-]{1,200}")


def read_initiation(
    params: Mapping[str, Any], *, allow_loopback: bool = False
) -> RegistrationInitiation:
    """Check a registration initiation's query parameters (LTI-DR §3.3).

    Use it when the tool shows the administrator a page before registering: keep
    the two values (e.g. in hidden form fields) and pass them to ``register``.

    Raises:
        InvalidRegistrationRequestError: ``openid_configuration`` is missing,
            repeated, too long, not https or names a private or loopback host;
            ``registration_token`` is repeated or not printable ASCII.
    """
    return parse_initiation(params, allow_loopback=allow_loopback)


def completion_page(
    *, nonce: str | None = None, message: str = "The tool is registered. You can close this window."
) -> str:
    """The HTML page that tells the platform the registration window can close (LTI-DR §3.7).

    It posts ``{subject: "org.imsglobal.lti.close"}`` to ``window.opener`` (a new
    tab) or else ``window.parent`` (an iframe). The message holds nothing secret,
    so it goes to any origin. Pass the *nonce* of your Content-Security-Policy
    (``script-src 'nonce-...'``) to mark the one inline script.

    Raises:
        ConfigurationError: *nonce* is not 1 to 200 base64 characters.
    """
    attribute = ""
    if nonce is not None:
        given: object = nonce
        if not isinstance(given, str) or not _NONCE.fullmatch(given):
            msg = "nonce must be 1 to 200 base64 or base64url characters"
            raise ConfigurationError(msg)
        attribute = f' nonce="{nonce}"'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"><title>Registration complete</title>'
        "</head><body>"
        f"<p>{html.escape(message)}</p>"
        f"<script{attribute}>"
        '(window.opener || window.parent).postMessage({subject: "org.imsglobal.lti.close"}, "*");'
        "</script></body></html>\n"
    )


def _check_limits(timeout: float, deadline: float | None) -> HttpLimits:
    try:
        limit = check_deadline(deadline)
        seconds = check_deadline(timeout)
    except ValueError as exc:
        msg = f"timeout and deadline must be positive finite seconds: {exc}"
        raise ConfigurationError(msg) from None
    if seconds is None:
        msg = "timeout must be a number of seconds"
        raise ConfigurationError(msg)
    return HttpLimits(timeout=seconds, deadline=limit)


class _Registrar:
    """What both facades share: settings, limits."""

    def __init__(
        self,
        settings: ToolSettings,
        *,
        timeout: float,
        deadline: float | None,
        allow_loopback: bool,
    ) -> None:
        given: object = settings
        if not isinstance(given, ToolSettings):
            msg = "settings must be a credlti.lti.registration.ToolSettings"
            raise TypeError(msg)
        self._settings = settings
        self._limits = _check_limits(timeout, deadline)
        self._allow_loopback = allow_loopback

    @property
    def settings(self) -> ToolSettings:
        """The tool settings registered by default."""
        return self._settings

    def _flow_for(
        self,
        initiation: RegistrationInitiation | Mapping[str, Any],
        settings: ToolSettings | None,
    ) -> Flow[RegistrationResult]:
        if isinstance(initiation, RegistrationInitiation):
            # Checked again: a record may have been built from form fields by hand.
            initiation = {
                "openid_configuration": initiation.openid_configuration,
                "registration_token": initiation.registration_token,
            }
        initiation = parse_initiation(initiation, allow_loopback=self._allow_loopback)
        chosen = self._settings if settings is None else settings
        return registration_flow(
            initiation, chosen, limits=self._limits, allow_loopback=self._allow_loopback
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_name={self._settings.client_name!r})"


class DynamicRegistration(_Registrar):
    """Register the tool with a platform that started a dynamic registration.

    Args:
        settings: What the tool tells platforms about itself.
        storage: Where the registration and deployment go (a
            :class:`~credlti.lti.ports.RegistrationSink`, such as the memory or SQL
            launch storage).
        http_client: An ``httpx.Client`` to send the two requests with; a private
            one is used for each registration when none is given.
        timeout: Seconds for connecting and for each read or write.
        deadline: Seconds for each whole exchange, however slowly the platform
            answers (``None``: no bound beyond *timeout*).
        allow_loopback: Accept a platform on a loopback host over plain http (a
            platform running on the developer's machine). Never in production.
    """

    def __init__(
        self,
        settings: ToolSettings,
        storage: RegistrationSink,
        *,
        http_client: httpx.Client | None = None,
        timeout: float = 10.0,
        deadline: float | None = 30.0,
        allow_loopback: bool = False,
    ) -> None:
        super().__init__(
            settings, timeout=timeout, deadline=deadline, allow_loopback=allow_loopback
        )
        what = "storage= (a RegistrationSink)"
        check_port(storage, _SINK_METHODS, asynchronous=False, what=what, owner=type(self).__name__)
        self._storage = storage
        self._http = http_client

    def register(
        self,
        initiation: RegistrationInitiation | Mapping[str, Any],
        *,
        settings: ToolSettings | None = None,
    ) -> RegistrationResult:
        """Run the whole registration and store its outcome.

        Args:
            initiation: The initiation's query parameters (``openid_configuration``,
                ``registration_token``), or a :class:`RegistrationInitiation` from
                :func:`read_initiation`.
            settings: Settings for this registration only (choices the
                administrator made on the tool's page); the facade's by default.

        Raises:
            InvalidRegistrationRequestError: The initiation is malformed.
            PlatformConfigurationError: The platform's configuration is unusable
                (:class:`~credlti.errors.RegistrationIssuerMismatchError` when its
                issuer does not match the configuration URL).
            RegistrationCallFailedError: The registration endpoint failed or
                timed out.
            RegistrationRejectedError: The registration endpoint refused.
            MalformedRegistrationResponseError: Its answer is unusable.
            RegistrationConflictError: The issuer and client id are stored already.
            StorageError: The storage failed; nothing was stored.
        """
        flow = self._flow_for(initiation, settings)
        if self._http is not None:
            return run(flow, self._performer(self._http))
        import httpx  # loaded on first use, not with the package

        with httpx.Client(headers={"User-Agent": _USER_AGENT}) as client:
            return run(flow, self._performer(client))

    def _performer(self, client: httpx.Client) -> Any:
        storage = self._storage

        def perform(effect: Any) -> Any:
            if type(effect) is HttpRequest:
                return perform_sync(client, effect)
            return perform_storage(storage, effect)

        return perform


class AsyncDynamicRegistration(_Registrar):
    """Async twin of :class:`DynamicRegistration` (an ``httpx.AsyncClient``).

    The storage is an :class:`~credlti.lti.ports.AsyncRegistrationSink` (its
    methods are awaited), such as
    :class:`~credlti.adapters.memory.AsyncMemoryLaunchStorage`; one with plain
    methods is refused (``TypeError``).
    """

    def __init__(
        self,
        settings: ToolSettings,
        storage: AsyncRegistrationSink,
        *,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        deadline: float | None = 30.0,
        allow_loopback: bool = False,
    ) -> None:
        super().__init__(
            settings, timeout=timeout, deadline=deadline, allow_loopback=allow_loopback
        )
        what = "storage= (an AsyncRegistrationSink)"
        check_port(storage, _SINK_METHODS, asynchronous=True, what=what, owner=type(self).__name__)
        self._storage = storage
        self._http = http_client

    async def register(
        self,
        initiation: RegistrationInitiation | Mapping[str, Any],
        *,
        settings: ToolSettings | None = None,
    ) -> RegistrationResult:
        """Async twin of :meth:`DynamicRegistration.register`."""
        flow = self._flow_for(initiation, settings)
        if self._http is not None:
            return await arun(flow, self._performer(self._http))
        import httpx  # loaded on first use, not with the package

        async with httpx.AsyncClient(headers={"User-Agent": _USER_AGENT}) as client:
            return await arun(flow, self._performer(client))

    def _performer(self, client: httpx.AsyncClient) -> Any:
        storage = self._storage

        async def perform(effect: Any) -> Any:
            if type(effect) is HttpRequest:
                return await perform_async(client, effect)
            return await aperform_storage(storage, effect)

        return perform
