"""The facades: :class:`Tool` (sync) and :class:`AsyncTool`, the only LTI code that does IO.

Both drive the same flows (:mod:`credlti.lti._login`, :mod:`credlti.lti._launch`)
with the one effect runtime, :func:`credlti._effects.run` / :func:`~credlti._effects.arun`;
they differ only in how an effect is performed (a call or an await). Keep them thin.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import attrs
from typing_extensions import Self, Unpack

from credlti import _telemetry
from credlti._clock import Clock, utc_now
from credlti._effects import AsyncLocks, AsyncLockTable, LockTable, SyncLocks, arun, run
from credlti._http import HttpRequest, perform_async, perform_sync
from credlti.errors import CredltiError
from credlti.lti._policy import LaunchPolicy
from credlti.lti._records import LaunchContext, LoginRedirect
from credlti.lti._sessions import DEFAULT_LAUNCH_TTL, end_flow
from credlti.lti._storage_launch import StorageLaunch
from credlti.lti._tool_core import (
    LAUNCH_SPAN,
    LOGIN_SPAN,
    PolicyOptions,
    RandomBytes,
    ToolCore,
    key_set_fetch_span,
    launch_attributes,
    make_http_client,
    new_token,
    note_effect,
    storage_failure,
)
from credlti.lti.ports import (
    Deployable,
    LaunchSessionStore,
    Lti1p1Secrets,
    Registerable,
    ServiceTokenCache,
)

if TYPE_CHECKING:
    # Deep linking, tool keys, the Advantage services and httpx load on first use:
    # `import credlti.lti` stays as light as a launch needs.
    import httpx

    from credlti.lti.deep_linking import ContentItem, DeepLinkingResponse
    from credlti.lti.services import (
        AsyncGradeService,
        AsyncRosterService,
        AsyncServiceTokenClient,
        GradeService,
        RosterService,
        ServiceTokenClient,
        SigningKeys,
        TokenPolicy,
    )

__all__ = ["AsyncTool", "Tool"]

R = TypeVar("R", bound=Registerable)
D = TypeVar("D", bound=Deployable)
T = TypeVar("T")

_MAX_SERVICES = 1024


class _Facade:
    """Read-only accessors common to both facades."""

    _core: ToolCore
    _service_cache: dict[tuple[Any, ...], Any]

    @property
    def storage(self) -> Any:
        """The registration (and, by default, nonce) storage."""
        return self._core.storage

    @property
    def policy(self) -> LaunchPolicy:
        """The launch validation policy."""
        return self._core.policy

    @property
    def key_set_fetches(self) -> int:
        """How many platform key-set fetches this tool has made (for monitoring)."""
        return self._core.platform_keys.fetches

    def jwks(self) -> dict[str, Any]:
        """The tool's public key set, to serve at its JWKS URL (Sec §6.2-6.4).

        Every key the tool holds is listed (next, current and retired ones, so
        platforms can verify during a rotation); no private parameter ever appears.
        Serve it with :func:`credlti.lti.keys.jwks_headers` for a ``Cache-Control``.
        """
        from credlti.lti.keys import jwks  # loaded on first use
        from credlti.lti.services._client import all_keys

        return jwks(all_keys(self._core.require_signing_keys()))

    def _service_key(self, launch: LaunchContext[Any, Any], kind: str) -> tuple[Any, ...]:
        registration = launch.registration.to_registration()
        claims = launch.claims
        endpoint = claims.ags if kind == "ags" else claims.nrps
        return (kind, registration.issuer, registration.client_id, claims.deployment_id, endpoint)

    def _cached_service(self, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        # One service per (registration, deployment, endpoint): repeated calls for one
        # course share its state (e.g. AGS score timestamps stay strictly increasing).
        cache: dict[tuple[Any, ...], Any] = self._service_cache
        found = cache.get(key)
        if found is None:
            found = build()
            if len(cache) >= _MAX_SERVICES:
                cache.pop(next(iter(cache)))
            cache[key] = found
        return found

    def deep_link_response(
        self,
        launch: LaunchContext[Any, Any],
        items: Iterable[ContentItem],
        *,
        msg: str | None = None,
        log: str | None = None,
        errormsg: str | None = None,
        errorlog: str | None = None,
    ) -> DeepLinkingResponse:
        """Sign the response to a deep-linking launch (DL §4.5, Sec §5.2).

        The items are checked against the request's settings; the JWT is signed with
        the registration's current tool key. Send ``response.form_html()`` to the
        browser: it posts the JWT back to the platform.
        """
        from credlti.lti.deep_linking import build_response  # loaded on first use
        from credlti.lti.services._client import signing_key_for

        registration = launch.registration.to_registration()
        return build_response(
            launch.claims,
            items,
            key=signing_key_for(self._core.require_signing_keys(), launch.registration),
            client_id=registration.client_id,
            now=self._core.clock(),
            nonce=new_token(self._core.random_bytes, 24),
            msg=msg,
            log=log,
            errormsg=errormsg,
            errorlog=errorlog,
        )


@attrs.define(init=False)
class Tool(_Facade, Generic[R, D]):
    """An LTI 1.3 tool: OIDC login initiation and launch validation.

    Args:
        storage: Registrations, deployments and nonces (any
            :class:`~credlti.ports.LaunchStorage`).
        http_client: The client used to fetch platform key sets. Defaults to a
            private ``httpx.Client`` with timeouts; pass your own to share pools or
            to test through a transport.
        clock: Returns the current aware datetime; injectable for tests.
        random_bytes: ``n -> n random bytes``, the source of the login's ``state``
            and ``nonce``, deep-linking nonces and the default state secret;
            injectable for tests (defaults to :func:`secrets.token_bytes`).
        state_secret: Key(s) signing the browser-bound state, at least 32 bytes.
            Give every worker the same value; with a sequence, the first signs and
            any verifies (rotation). Defaults to a random per-process key, which
            only works with a single process.
        nonce_store: A separate :class:`~credlti.ports.NonceStore` (e.g. Redis);
            defaults to *storage*.
        policy: A complete :class:`LaunchPolicy`; or pass its fields as keywords.
        keys: The tool's signing keys (a :class:`~credlti.lti.keys.ToolKey`,
            :class:`~credlti.lti.keys.KeySet` or :class:`~credlti.ports.ToolKeyStore`),
            needed for deep linking, Advantage services and :meth:`jwks`.
        token_cache: Where service access tokens are cached (memory by default;
            share one across workers).
        token_policy: Service-token refresh margin, assertion lifetime, timeouts.
        sessions: Where :meth:`save_launch` keeps launches (any
            :class:`~credlti.ports.LaunchSessionStore`). Defaults to a
            :class:`~credlti.adapters.memory.MemoryLaunchSessionStore`, which is per
            process: with several workers, pass a shared store.
        lti1p1_secrets: The LTI 1.1 shared secrets (any
            :class:`~credlti.ports.Lti1p1Secrets`) of a tool moving from LTI 1.1:
            the ``lti1p1`` migration claim is then verified and the verified 1.1
            ids are in ``launch.lti1p1`` (see ``docs/migration.md``). Without it
            the claim is only parsed (``launch.claims.lti1p1``, unverified).
        locks: Where single flight takes its locks (one platform key-set fetch, one
            service-token request per key at a time): this tool's threads by
            default; a ``credlti.adapters.redis.RedisLockTable`` (with a shared
            token cache) makes it one for every worker process. ``AsyncTool``
            takes an async table (``AsyncRedisLockTable``).

    Example::

        tool = Tool(storage, state_secret=SECRET)
        redirect = tool.handle_login(request.values, "https://tool.example/launch")
        # ... 302 to redirect.url, set the cookie redirect.set_cookie_header()
        launch = tool.handle_callback(request.form, request.cookies.get(...))
        handle = tool.save_launch(launch)  # later, on any worker: tool.load_launch(handle)
    """

    #: False: services come as sync clients (``tool.grades(launch)``, ``tool.roster(launch)``).
    asynchronous: ClassVar[bool] = False
    _core: ToolCore
    _services: ServiceTokenClient | None = attrs.field(repr=False)
    _service_cache: dict[tuple[Any, ...], Any] = attrs.field(repr=False)
    _http: httpx.Client = attrs.field(repr=False)
    _owns_http: bool = attrs.field(repr=False)
    _locks: LockTable = attrs.field(repr=False)

    def __init__(
        self,
        storage: Any,
        *,
        http_client: httpx.Client | None = None,
        clock: Clock = utc_now,
        random_bytes: RandomBytes = secrets.token_bytes,
        state_secret: bytes | str | Sequence[bytes | str] | None = None,
        nonce_store: Any = None,
        policy: LaunchPolicy | None = None,
        keys: SigningKeys | None = None,
        token_cache: ServiceTokenCache | None = None,
        token_policy: TokenPolicy | None = None,
        sessions: LaunchSessionStore | None = None,
        lti1p1_secrets: Lti1p1Secrets | None = None,
        locks: LockTable | None = None,
        **options: Unpack[PolicyOptions],
    ) -> None:
        self._core = ToolCore.build(
            storage,
            nonce_store,
            (clock, random_bytes),
            state_secret,
            policy,
            options,
            (keys, token_cache, token_policy),
            sessions,
            lti1p1_secrets,
        )
        self._services, self._service_cache = None, {}
        self._http, self._owns_http = make_http_client(http_client, False, self._core, "Tool")
        self._locks = locks if locks is not None else SyncLocks()

    def handle_login(self, params: Mapping[str, Any], redirect_uri: str) -> LoginRedirect:
        """Handle an OIDC login initiation (GET query or POST form parameters).

        Args:
            params: The request's parameters; ``iss``, ``login_hint`` and
                ``target_link_uri`` are required.
            redirect_uri: This tool's launch URL, exactly as registered.

        Returns:
            The authorization URL to redirect to and the state binding to keep.

        Raises:
            InvalidLaunchError: A parameter is missing or wrong, or the platform is
                not registered (answer 400).
        """
        flow = self._core.login(params, redirect_uri)
        if not _telemetry.enabled():
            return run(flow, self._perform, locks=self._locks)
        with _telemetry.span(LOGIN_SPAN) as span:
            return run(flow, self._observed(span), locks=self._locks)

    def handle_callback(self, params: Mapping[str, Any], state: str | None) -> LaunchContext[R, D]:
        """Validate a launch: the platform's form POST to the redirect URI.

        Args:
            params: The POST form (``id_token`` and ``state``, or an OIDC ``error``).
            state: The value kept from :attr:`LoginRedirect.cookie_value` (read the
                cookie :func:`state_cookie_name` ``(params["state"])``).

        Returns:
            The validated launch with typed claims and your own registration and
            deployment objects.

        Raises:
            InvalidLaunchError: Malformed or incomplete launch (answer 400).
            LaunchSecurityError: A security check failed (answer 401).
            KeySetFetchError: The platform's keys could not be fetched (502).
        """
        flow = self._core.callback(params, state)
        if not _telemetry.enabled():
            return run(flow, self._perform, locks=self._locks)
        with _telemetry.span(LAUNCH_SPAN) as span:
            launch = run(flow, self._observed(span), locks=self._locks)
            launch_attributes(span, launch)
            return launch

    def start_storage_launch(self, params: Mapping[str, Any], *, finish_url: str) -> StorageLaunch:
        """Validate a launch POST that came without the state cookie (platform storage).

        Call it when the cookie named ``state_cookie_name(params["state"])`` is
        absent and the POST carries ``lti_storage_target``. Every check of
        :meth:`handle_callback` is made except the state binding, which is in the
        platform's storage; the nonce is consumed, and the launch is kept pending
        (sealed, in the launch-session store, for a few minutes, single use).
        Answer with :meth:`StorageLaunch.page`: it reads the binding back and posts
        it to *finish_url*, whose handler calls :meth:`finish_storage_launch`.

        Args:
            params: The platform's POST form (``id_token``, ``state``,
                ``lti_storage_target``).
            finish_url: The absolute URL of the tool's finish route.

        Raises:
            StateMismatchError: No ``lti_storage_target`` either (answer with
                :func:`~credlti.lti.fallback_page`).
            InvalidLaunchError, LaunchSecurityError, KeySetFetchError: As
                :meth:`handle_callback`.
        """
        flow = self._core.start_storage(params, finish_url)
        if not _telemetry.enabled():
            return run(flow, self._perform, locks=self._locks)
        with _telemetry.span(LAUNCH_SPAN) as span:
            return run(flow, self._observed(span), locks=self._locks)

    def finish_storage_launch(
        self, form: Mapping[str, Any], *, origin: str | None = None
    ) -> LaunchContext[R, D]:
        """Finish a launch from :meth:`start_storage_launch` with its browser binding.

        Args:
            form: The page's POST (``credlti_pending`` and ``credlti_binding``).
            origin: The request's ``Origin`` header, if you pass it: it must be the
                finish URL's origin.

        Returns:
            The validated launch, as :meth:`handle_callback` returns it.

        Raises:
            StateMismatchError: Unknown, already finished or expired pending launch;
                a missing, altered or swapped binding (answer 401).
            StateExpiredError: The login or the pending launch is too old.
        """
        flow = self._core.finish_storage(form, origin)
        if not _telemetry.enabled():
            return run(flow, self._perform, locks=self._locks)
        with _telemetry.span(LAUNCH_SPAN) as span:
            launch = run(flow, self._observed(span), locks=self._locks)
            launch_attributes(span, launch)
            return launch

    def save_launch(
        self, launch: LaunchContext[R, D], *, ttl: float | timedelta = DEFAULT_LAUNCH_TTL
    ) -> str:
        """Keep *launch* for later requests, on any worker that shares the store.

        What is stored is sealed (encrypted and authenticated under a key derived
        from ``state_secret``), so give every worker the same secret.

        Args:
            launch: A launch from :meth:`handle_callback` (or :meth:`load_launch`).
            ttl: How long it can be reopened (seconds or a timedelta, at most 30 days).

        Returns:
            An unguessable URL-safe handle (256 random bits). It is a bearer secret:
            bind it to the browser with :func:`launch_session_cookie_header`, never
            put it in a URL.
        """
        return run(self._core.save_session(launch, ttl), self._perform, locks=self._locks)

    def load_launch(self, handle: str) -> LaunchContext[R, D]:
        """Reopen a saved launch, with this tool's own registration and deployment objects.

        Raises:
            LaunchSessionNotFoundError: The handle is malformed, unknown, expired or
                ended, the stored session was altered, or its registration or
                deployment was removed (answer 401: launch again).
        """
        return run(self._core.load_session(handle), self._perform, locks=self._locks)

    def end_launch(self, handle: str) -> bool:
        """Forget a saved launch (e.g. at logout); True if it was stored."""
        return run(end_flow(handle), self._perform, locks=self._locks)

    @property
    def services(self) -> ServiceTokenClient:
        """The service-token client (client-credentials grant, cached tokens).

        It shares the tool's HTTP client, clock and signing keys.
        """
        from credlti.lti import services as advantage  # loaded on first use

        if self._services is None:
            self._services = advantage.ServiceTokenClient(
                keys=self._core.require_signing_keys(),
                http_client=self._http,
                clock=self._core.clock,
                cache=self._core.token_cache,
                policy=self._core.token_policy,
                locks=self._locks,
            )
        return self._services

    def grades(self, launch: LaunchContext[Any, Any]) -> GradeService:
        """The Assignment and Grade Services client for *launch*'s context (AGS).

        Raises:
            ServiceNotAvailableError: The launch carries no AGS claim.
            ConfigurationError: The tool has no signing keys.
        """
        from credlti.lti import services as advantage  # loaded on first use

        claims = launch.claims
        return self._cached_service(
            self._service_key(launch, "ags"),
            lambda: advantage.GradeService(
                self.services,
                launch.registration,
                claims.ags,  # type: ignore[arg-type] # None raises ServiceNotAvailableError
                deployment_id=claims.deployment_id,
                clock=self._core.clock,
            ),
        )

    def roster(
        self, launch: LaunchContext[Any, Any], *, resource_link: bool = False
    ) -> RosterService:
        """The Names and Role Provisioning Services client for *launch*'s context (NRPS).

        With ``resource_link=True`` the roster is limited to members who can reach
        the launched resource link (NRPS §3).

        Raises:
            ServiceNotAvailableError: The launch carries no NRPS claim.
            ConfigurationError: The tool has no signing keys.
        """
        from credlti.lti import services as advantage  # loaded on first use

        claims = launch.claims
        link = claims.resource_link.id if resource_link and claims.resource_link else None
        return self._cached_service(
            (*self._service_key(launch, "nrps"), link),
            lambda: advantage.RosterService(
                self.services,
                launch.registration,
                claims.nrps,  # type: ignore[arg-type] # None raises ServiceNotAvailableError
                resource_link_id=link,
                resource_link=resource_link,
                deployment_id=claims.deployment_id,
            ),
        )

    def close(self) -> None:
        """Close the HTTP client if the tool created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _observed(self, span: _telemetry.Span) -> Callable[[Any], Any]:
        def perform(effect: Any) -> Any:
            note_effect(span, effect)
            return self._perform(effect)

        return perform

    def _perform(self, effect: Any) -> Any:
        """Carry out one effect of the launch flows: an HTTP request or a storage call."""
        if type(effect) is HttpRequest:
            with key_set_fetch_span(effect.url) as span:
                response = perform_sync(self._http, effect)
                span.set("http.response.status_code", response.status_code)
                return response
        try:
            return self._core.call_storage(effect)
        except CredltiError:
            raise
        except Exception as exc:
            raise storage_failure(exc) from exc


@attrs.define(init=False)
class AsyncTool(_Facade, Generic[R, D]):
    """The async twin of :class:`Tool`, for asyncio frameworks (FastAPI, Starlette...).

    Storage methods may be plain or ``async def``: each result is awaited when it
    is awaitable, so the in-memory adapter works here too. Takes an
    ``httpx.AsyncClient``. Arguments are as for :class:`Tool`.
    """

    #: True: services come as async clients (``tool.grades(launch)`` is an async AGS client).
    asynchronous: ClassVar[bool] = True
    _core: ToolCore
    _services: AsyncServiceTokenClient | None = attrs.field(repr=False)
    _service_cache: dict[tuple[Any, ...], Any] = attrs.field(repr=False)
    _http: httpx.AsyncClient = attrs.field(repr=False)
    _owns_http: bool = attrs.field(repr=False)
    _locks: AsyncLockTable = attrs.field(repr=False)

    def __init__(
        self,
        storage: Any,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock = utc_now,
        random_bytes: RandomBytes = secrets.token_bytes,
        state_secret: bytes | str | Sequence[bytes | str] | None = None,
        nonce_store: Any = None,
        policy: LaunchPolicy | None = None,
        keys: SigningKeys | None = None,
        token_cache: ServiceTokenCache | None = None,
        token_policy: TokenPolicy | None = None,
        sessions: LaunchSessionStore | None = None,
        lti1p1_secrets: Lti1p1Secrets | None = None,
        locks: AsyncLockTable | None = None,
        **options: Unpack[PolicyOptions],
    ) -> None:
        self._core = ToolCore.build(
            storage,
            nonce_store,
            (clock, random_bytes),
            state_secret,
            policy,
            options,
            (keys, token_cache, token_policy),
            sessions,
            lti1p1_secrets,
        )
        self._services, self._service_cache = None, {}
        self._http, self._owns_http = make_http_client(http_client, True, self._core, "AsyncTool")
        self._locks = locks if locks is not None else AsyncLocks()

    async def handle_login(self, params: Mapping[str, Any], redirect_uri: str) -> LoginRedirect:
        """Async twin of :meth:`Tool.handle_login`."""
        flow = self._core.login(params, redirect_uri)
        if not _telemetry.enabled():
            return await arun(flow, self._perform, locks=self._locks)
        with _telemetry.span(LOGIN_SPAN) as span:
            return await arun(flow, self._observed(span), locks=self._locks)

    async def handle_callback(
        self, params: Mapping[str, Any], state: str | None
    ) -> LaunchContext[R, D]:
        """Async twin of :meth:`Tool.handle_callback`."""
        flow = self._core.callback(params, state)
        if not _telemetry.enabled():
            return await arun(flow, self._perform, locks=self._locks)
        with _telemetry.span(LAUNCH_SPAN) as span:
            launch = await arun(flow, self._observed(span), locks=self._locks)
            launch_attributes(span, launch)
            return launch

    async def start_storage_launch(
        self, params: Mapping[str, Any], *, finish_url: str
    ) -> StorageLaunch:
        """Async twin of :meth:`Tool.start_storage_launch`."""
        flow = self._core.start_storage(params, finish_url)
        if not _telemetry.enabled():
            return await arun(flow, self._perform, locks=self._locks)
        with _telemetry.span(LAUNCH_SPAN) as span:
            return await arun(flow, self._observed(span), locks=self._locks)

    async def finish_storage_launch(
        self, form: Mapping[str, Any], *, origin: str | None = None
    ) -> LaunchContext[R, D]:
        """Async twin of :meth:`Tool.finish_storage_launch`."""
        flow = self._core.finish_storage(form, origin)
        if not _telemetry.enabled():
            return await arun(flow, self._perform, locks=self._locks)
        with _telemetry.span(LAUNCH_SPAN) as span:
            launch = await arun(flow, self._observed(span), locks=self._locks)
            launch_attributes(span, launch)
            return launch

    async def save_launch(
        self, launch: LaunchContext[R, D], *, ttl: float | timedelta = DEFAULT_LAUNCH_TTL
    ) -> str:
        """Async twin of :meth:`Tool.save_launch`."""
        flow = self._core.save_session(launch, ttl)
        return await arun(flow, self._perform, locks=self._locks)

    async def load_launch(self, handle: str) -> LaunchContext[R, D]:
        """Async twin of :meth:`Tool.load_launch`."""
        return await arun(self._core.load_session(handle), self._perform, locks=self._locks)

    async def end_launch(self, handle: str) -> bool:
        """Async twin of :meth:`Tool.end_launch`."""
        return await arun(end_flow(handle), self._perform, locks=self._locks)

    @property
    def services(self) -> AsyncServiceTokenClient:
        """The async service-token client; it shares the tool's HTTP client and keys."""
        from credlti.lti import services as advantage  # loaded on first use

        if self._services is None:
            self._services = advantage.AsyncServiceTokenClient(
                keys=self._core.require_signing_keys(),
                http_client=self._http,
                clock=self._core.clock,
                cache=self._core.token_cache,
                policy=self._core.token_policy,
                locks=self._locks,
            )
        return self._services

    def grades(self, launch: LaunchContext[Any, Any]) -> AsyncGradeService:
        """The async AGS client for *launch*'s context (see :meth:`Tool.grades`)."""
        from credlti.lti import services as advantage  # loaded on first use

        claims = launch.claims
        return self._cached_service(
            self._service_key(launch, "ags"),
            lambda: advantage.AsyncGradeService(
                self.services,
                launch.registration,
                claims.ags,  # type: ignore[arg-type] # None raises ServiceNotAvailableError
                deployment_id=claims.deployment_id,
                clock=self._core.clock,
            ),
        )

    def roster(
        self, launch: LaunchContext[Any, Any], *, resource_link: bool = False
    ) -> AsyncRosterService:
        """The async NRPS client for *launch*'s context (see :meth:`Tool.roster`)."""
        from credlti.lti import services as advantage  # loaded on first use

        claims = launch.claims
        link = claims.resource_link.id if resource_link and claims.resource_link else None
        return self._cached_service(
            (*self._service_key(launch, "nrps"), link),
            lambda: advantage.AsyncRosterService(
                self.services,
                launch.registration,
                claims.nrps,  # type: ignore[arg-type] # None raises ServiceNotAvailableError
                resource_link_id=link,
                resource_link=resource_link,
                deployment_id=claims.deployment_id,
            ),
        )

    async def aclose(self) -> None:
        """Close the HTTP client if the tool created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _observed(self, span: _telemetry.Span) -> Callable[[Any], Any]:
        async def perform(effect: Any) -> Any:
            note_effect(span, effect)
            return await self._perform(effect)

        return perform

    async def _perform(self, effect: Any) -> Any:
        """Async twin of :meth:`Tool._perform`: storage results are awaited when awaitable."""
        if type(effect) is HttpRequest:
            with key_set_fetch_span(effect.url) as span:
                response = await perform_async(self._http, effect)
                span.set("http.response.status_code", response.status_code)
                return response
        try:
            result = self._core.call_storage(effect)
            if inspect.isawaitable(result):
                result = await result
        except CredltiError:
            raise
        except Exception as exc:
            raise storage_failure(exc) from exc
        return result
