"""What both LTI facades share: configuration, flow builders and storage calls.

:class:`ToolCore` holds a tool's configuration and turns each storage effect of the
LTI flows into one port call; :class:`~credlti.lti.Tool` and
:class:`~credlti.lti.AsyncTool` differ only in how they drive flows and await results.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Generator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar
from urllib.parse import urlsplit

import attrs

from credlti import _telemetry
from credlti._clock import Clock
from credlti._crypto import NONCE_BYTES, KeyRing
from credlti.errors import ConfigurationError, StorageUnavailableError
from credlti.lti._jwks import JwksPolicy
from credlti.lti._launch import callback_flow
from credlti.lti._launch_effects import (
    ConsumeNonce,
    DeleteLaunchSession,
    GetDeployment,
    GetLti1p1Secret,
    GetRegistration,
    LoadLaunchSession,
    SaveLaunchSession,
    StoreNonce,
)
from credlti.lti._login import login_flow
from credlti.lti._platform_keys import KeyCache
from credlti.lti._policy import LaunchPolicy, MessageType
from credlti.lti._records import LaunchContext, LoginRedirect
from credlti.lti._session_memory import MemoryLaunchSessionStore
from credlti.lti._sessions import HANDLE_BYTES, load_flow, new_handle, save_flow, session_key_ring
from credlti.lti._state import mac_key
from credlti.lti._storage_launch import StorageLaunch, finish_flow, start_flow
from credlti.lti.ports import LaunchSessionStore, Lti1p1Secrets, ServiceTokenCache

if TYPE_CHECKING:
    import httpx

    from credlti.lti.services import SigningKeys, TokenPolicy

__all__ = [
    "KEY_SET_FETCH_SPAN",
    "LAUNCH_SPAN",
    "LOGIN_SPAN",
    "PolicyOptions",
    "RandomBytes",
    "ToolCore",
    "key_set_fetch_span",
    "launch_attributes",
    "make_http_client",
    "new_token",
    "note_effect",
    "secrets_tuple",
    "storage_failure",
]
#: ``n -> n random bytes``: the randomness source of the facades.
RandomBytes = Callable[[int], bytes]

_USER_AGENT = "credlti (+https://github.com/credlti/credlti)"

#: Span names of the two browser-facing steps (see docs/operations.md, Telemetry).
LOGIN_SPAN = "credlti.lti.login"
LAUNCH_SPAN = "credlti.lti.launch"
#: Span name of one platform key-set HTTP request.
KEY_SET_FETCH_SPAN = "credlti.lti.key_set.fetch"


def note_effect(span: _telemetry.Span, effect: Any) -> None:
    """Put the ids a storage effect reveals on *span* (issuer, client id, deployment id)."""
    cls = type(effect)
    if cls is GetRegistration:
        span.set("credlti.issuer", effect.issuer)
        span.set("credlti.client_id", effect.client_id)
    elif cls is GetDeployment:
        span.set("credlti.deployment_id", effect.deployment_id)


def launch_attributes(span: _telemetry.Span, launch: LaunchContext[Any, Any]) -> None:
    """Put a validated launch's ids and message type on *span*."""
    registration = launch.registration.to_registration()
    claims = launch.claims
    span.set("credlti.issuer", registration.issuer)
    span.set("credlti.client_id", registration.client_id)
    span.set("credlti.deployment_id", claims.deployment_id)
    span.set("credlti.message_type", claims.message_type)


def key_set_fetch_span(url: str) -> _telemetry.Span:
    """The span of one key-set HTTP request (only the host of *url* is recorded)."""
    return _telemetry.span(KEY_SET_FETCH_SPAN, {"server.address": urlsplit(url).hostname})


class PolicyOptions(TypedDict, total=False):
    """Keyword options of :class:`~credlti.lti.Tool`, forwarded to :class:`LaunchPolicy`."""

    leeway: float
    max_token_age: float
    state_ttl: float
    message_types: Mapping[str, MessageType] | Sequence[MessageType]
    allowed_target_link_uris: Sequence[str]
    trusted_audiences: Sequence[str]
    enforce_id_limits: bool
    jwks: JwksPolicy
    allow_unverified_lti1p1: bool


def new_token(random_bytes: RandomBytes, size: int) -> str:
    """A URL-safe text token of *size* random bytes (as ``secrets.token_urlsafe``)."""
    return base64.urlsafe_b64encode(random_bytes(size)).rstrip(b"=").decode("ascii")


def secrets_tuple(
    value: bytes | str | Sequence[bytes | str] | None, random_bytes: RandomBytes
) -> tuple[bytes, ...]:
    """The state secrets as bytes, first one signing (a random one when none is given)."""
    if value is None:
        return (random_bytes(32),)
    items = [value] if isinstance(value, (bytes, str)) else list(value)
    out = tuple(v.encode() if isinstance(v, str) else bytes(v) for v in items)
    if not out or any(len(v) < 32 for v in out):
        msg = "state_secret must be at least 32 bytes (e.g. secrets.token_bytes(32))"
        raise ConfigurationError(msg)
    return out


@attrs.define
class ToolCore:
    """Configuration, flow builders and storage calls shared by both facades."""

    storage: Any
    nonce_store: Any
    clock: Clock
    random_bytes: RandomBytes = attrs.field(repr=False)
    policy: LaunchPolicy
    state_keys: tuple[bytes, ...] = attrs.field(repr=False)
    platform_keys: KeyCache = attrs.field(repr=False)
    signing_keys: SigningKeys | None = attrs.field(repr=False)
    token_cache: ServiceTokenCache | None = attrs.field(repr=False)
    token_policy: TokenPolicy | None = attrs.field(repr=False)
    sessions: LaunchSessionStore = attrs.field(repr=False)
    session_keys: KeyRing = attrs.field(repr=False)
    lti1p1_secrets: Lti1p1Secrets | None = attrs.field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        storage: Any,
        nonce_store: Any,
        runtime: tuple[Clock, RandomBytes],
        state_secret: bytes | str | Sequence[bytes | str] | None,
        policy: LaunchPolicy | None,
        options: PolicyOptions,
        advantage: tuple[SigningKeys | None, ServiceTokenCache | None, TokenPolicy | None],
        sessions: LaunchSessionStore | None,
        lti1p1_secrets: Lti1p1Secrets | None = None,
    ) -> ToolCore:
        if policy is not None and options:
            msg = "pass either policy= or individual policy options, not both"
            raise TypeError(msg)
        resolved = policy if policy is not None else LaunchPolicy(**options)  # type: ignore[arg-type]
        clock, random_bytes = runtime
        secrets_ = secrets_tuple(state_secret, random_bytes)
        return cls(
            storage=storage,
            nonce_store=nonce_store if nonce_store is not None else storage,
            clock=clock,
            random_bytes=random_bytes,
            policy=resolved,
            state_keys=tuple(mac_key(secret) for secret in secrets_),
            platform_keys=KeyCache(resolved.jwks),
            signing_keys=advantage[0],
            token_cache=advantage[1],
            token_policy=advantage[2],
            sessions=sessions if sessions is not None else MemoryLaunchSessionStore(),
            lti1p1_secrets=lti1p1_secrets,
            session_keys=session_key_ring(secrets_),
        )

    def login(
        self, params: Mapping[str, Any], redirect_uri: str
    ) -> Generator[Any, Any, LoginRedirect]:
        return login_flow(
            params,
            redirect_uri,
            policy=self.policy,
            now=self.clock(),
            state=new_token(self.random_bytes, 32),
            nonce=new_token(self.random_bytes, 32),
            state_key=self.state_keys[0],
        )

    def callback(
        self, params: Mapping[str, Any], state: str | None
    ) -> Generator[Any, Any, LaunchContext[Any, Any]]:
        return callback_flow(
            params,
            state,
            policy=self.policy,
            now=self.clock(),
            state_keys=self.state_keys,
            keys=self.platform_keys,
            verify_lti1p1=self.lti1p1_secrets is not None,
        )

    def start_storage(
        self, params: Mapping[str, Any], finish_url: str
    ) -> Generator[Any, Any, StorageLaunch]:
        return start_flow(
            params,
            finish_url=finish_url,
            policy=self.policy,
            now=self.clock(),
            keys=self.platform_keys,
            verify_lti1p1=self.lti1p1_secrets is not None,
            ring=self.session_keys,
            handle=new_handle(self.random_bytes(HANDLE_BYTES)),
            seal_nonce=self.random_bytes(NONCE_BYTES),
        )

    def finish_storage(
        self, form: Mapping[str, Any], origin: str | None
    ) -> Generator[Any, Any, LaunchContext[Any, Any]]:
        return finish_flow(
            form,
            ring=self.session_keys,
            state_keys=self.state_keys,
            policy=self.policy,
            now=self.clock(),
            origin=origin,
        )

    def save_session(
        self, launch: LaunchContext[Any, Any], ttl: float | timedelta
    ) -> Generator[Any, Any, str]:
        return save_flow(
            launch,
            ring=self.session_keys,
            handle=new_handle(self.random_bytes(HANDLE_BYTES)),
            nonce=self.random_bytes(NONCE_BYTES),
            now=self.clock(),
            ttl=ttl,
        )

    def load_session(self, handle: str) -> Generator[Any, Any, LaunchContext[Any, Any]]:
        return load_flow(handle, ring=self.session_keys, now=self.clock())

    def call_storage(self, effect: Any) -> Any:
        """Carry out a storage effect (the result may be awaitable, for AsyncTool)."""
        cls = type(effect)
        if cls is GetRegistration:
            return self.storage.get_registration(effect.issuer, effect.client_id)
        if cls is GetDeployment:
            return self.storage.get_deployment(effect.registration, effect.deployment_id)
        if cls is ConsumeNonce:
            return self.nonce_store.validate_nonce(
                effect.nonce, effect.registration, now=effect.now
            )
        if cls is StoreNonce:
            return self.nonce_store.store_nonce(
                effect.nonce, effect.registration, expires_at=effect.expires_at, now=effect.now
            )
        if cls is GetLti1p1Secret and self.lti1p1_secrets is not None:
            return self.lti1p1_secrets.get_lti1p1_secret(
                effect.registration, effect.oauth_consumer_key
            )
        if cls is LoadLaunchSession:
            return self.sessions.load(effect.key, now=effect.now)
        if cls is SaveLaunchSession:
            return self.sessions.save(effect.key, effect.data, expires_at=effect.expires_at)
        if cls is DeleteLaunchSession:
            return self.sessions.delete(effect.key)
        msg = f"the LTI facades cannot perform {cls.__name__}"
        raise TypeError(msg)

    def require_signing_keys(self) -> SigningKeys:
        if self.signing_keys is None:
            msg = (
                "this tool has no signing keys: pass keys= (a ToolKey, KeySet or "
                "ToolKeyStore, see credlti.lti.keys) to sign deep-linking responses, "
                "call Advantage services and publish a JWKS"
            )
            raise ConfigurationError(msg, spec_ref="Sec §6")
        return self.signing_keys


def storage_failure(exc: Exception) -> StorageUnavailableError:
    """The typed error for an adapter's own exception (never shown raw to the host)."""
    return StorageUnavailableError(
        f"the storage adapter failed with {type(exc).__name__}; the launch was not completed"
    )


H = TypeVar("H", "httpx.Client", "httpx.AsyncClient")


def make_http_client(
    given: H | None, asynchronous: bool, core: ToolCore, owner: str
) -> tuple[H, bool]:
    """The facade's HTTP client (a private one with timeouts if none is given) and ownership."""
    import httpx  # loaded with the first facade, not with the package

    kind: type[H] = httpx.AsyncClient if asynchronous else httpx.Client  # type: ignore[assignment]
    found: object = given
    if found is not None and not isinstance(found, kind):
        twin = "AsyncTool" if owner == "Tool" else "Tool"
        msg = f"{owner} needs an {kind.__module__}.{kind.__name__}; use {twin} for the other kind"
        raise TypeError(msg)
    if given is not None:
        return given, False
    return kind(timeout=core.policy.jwks.timeout, headers={"User-Agent": _USER_AGENT}), True
