"""The simulated LTI 1.3 platform: keys, OIDC login, signed launches, token endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from credlti.adapters.memory import AsyncMemoryLaunchStorage, MemoryLaunchStorage
from credlti.lti import AsyncTool, Tool
from credlti.lti._claims import (
    CONTEXT,
    DEPLOYMENT_ID,
    DL_SETTINGS_CLAIM,
    LTI_CLAIM,
    MESSAGE_TYPE,
    RESOURCE_LINK,
    ROLES,
    TARGET_LINK_URI,
    VERSION,
)
from credlti.lti._jwks import ParsedKey, parse_key_set
from credlti.lti._jws import key_matches_alg, parse_compact, verify_signature
from credlti.lti._records import Deployment, LoginRedirect, Registration
from credlti.testing._clock import FrozenClock
from credlti.testing._launches import INSTRUCTOR, BadLaunch
from credlti.testing._services import SimulatedServices
from credlti.testing._support import (
    ASSERTION_TYPE,
    LEEWAY,
    SimulatedPlatformError,
    b64,
    check_times,
    new_key,
)

__all__ = ["SimulatedPlatform"]

_UNSET: Any = object()

_DEFAULT_TARGET = "https://tool.example.com/launch"
_DEFAULT_REDIRECT = "https://tool.example.com/launch"


class _Installable(Protocol):
    def add_registration(self, registration: Registration) -> None: ...
    def add_deployment(self, registration: Registration, deployment: Deployment) -> None: ...


@attrs.define
class SimulatedPlatform:
    """An LTI 1.3 platform in process, for tests.

    Args:
        issuer: The platform's issuer URL.
        client_id: The client id it gave the tool.
        deployment_id: The deployment the launches come from.
        clock: The platform's clock (a :class:`FrozenClock` by default); tools built
            with :meth:`tool` share it.
        key_size: RSA key size of the platform's signing keys.

    Attributes:
        jwks_requests: How many times the key set was fetched.
        jwks_status: The HTTP status the key-set endpoint answers (set 503 to
            simulate an outage).
        jwks_cache_control: The key set's ``Cache-Control`` header.
        token_lifetime: ``expires_in`` of issued access tokens (seconds).
        token_status: Force the token endpoint to answer this status (e.g. 401,
            429, 503) instead of checking the request; ``None`` to behave.
        token_retry_after: The ``Retry-After`` sent with a forced status.
        granted_scopes: If set, tokens carry only the requested scopes in this set.
        token_requests: How many token requests arrived.
        token_rejections: Why each refused token request was refused.
        services: The simulated AGS and NRPS endpoints (:class:`SimulatedServices`):
            add line items and members there, read what the tool posted.
    """

    issuer: str = "https://platform.example.edu"
    client_id: str = "credlti-tool"
    deployment_id: str = "deployment-1"
    clock: FrozenClock = attrs.field(factory=FrozenClock)
    key_size: int = 2048
    jwks_requests: int = attrs.field(default=0, init=False)
    jwks_status: int = attrs.field(default=200, init=False)
    jwks_cache_control: str = attrs.field(default="max-age=300", init=False)
    _keys: list[RSAKey] = attrs.field(init=False, repr=False)
    _retired: list[RSAKey] = attrs.field(factory=list, init=False, repr=False)
    _logins: dict[str, dict[str, str]] = attrs.field(factory=dict, init=False, repr=False)
    _counter: int = attrs.field(default=0, init=False, repr=False)
    # Token endpoint and deep-linking verification (see trust_tool_keys).
    token_lifetime: int = attrs.field(default=3600, init=False)
    token_status: int | None = attrs.field(default=None, init=False)
    token_retry_after: str | None = attrs.field(default="30", init=False)
    granted_scopes: frozenset[str] | None = attrs.field(default=None, init=False)
    token_requests: int = attrs.field(default=0, init=False)
    token_rejections: list[str] = attrs.field(factory=list, init=False)
    _tool_keys: dict[str, tuple[ParsedKey, ...]] = attrs.field(factory=dict, init=False, repr=False)
    _access_tokens: dict[str, tuple[frozenset[str], float]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _jtis: dict[str, float] = attrs.field(factory=dict, init=False, repr=False)
    _dl_nonces: set[str] = attrs.field(factory=set, init=False, repr=False)
    _dl_data: Any = attrs.field(default=None, init=False, repr=False)
    services: SimulatedServices = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._keys = [new_key(self.key_size)]
        self.services = SimulatedServices(self.issuer, self.access_token_scopes, self.clock)

    # ------------------------------------------------------------- configuration

    @property
    def jwks_uri(self) -> str:
        """The platform's key-set URL."""
        return f"{self.issuer}/.well-known/jwks.json"

    @property
    def auth_endpoint(self) -> str:
        """The platform's OIDC authorization endpoint."""
        return f"{self.issuer}/auth"

    @property
    def token_endpoint(self) -> str:
        """The platform's OAuth2 token endpoint."""
        return f"{self.issuer}/token"

    @property
    def registration(self) -> Registration:
        """The tool-side registration for this platform."""
        return Registration(
            issuer=self.issuer,
            client_id=self.client_id,
            auth_endpoint=self.auth_endpoint,
            jwks_uri=self.jwks_uri,
            token_endpoint=self.token_endpoint,
        )

    @property
    def deployment(self) -> Deployment:
        """The tool-side deployment record."""
        return Deployment(deployment_id=self.deployment_id)

    @property
    def kid(self) -> str:
        """The kid of the current signing key."""
        return str(self._keys[-1].kid)

    def install(self, storage: _Installable) -> None:
        """Add this platform's registration and deployment to *storage*.

        Works with any storage that has ``add_registration`` and ``add_deployment``
        (the memory and SQL adapters do).
        """
        storage.add_registration(self.registration)
        storage.add_deployment(self.registration, self.deployment)

    def tool(self, storage: Any = None, **kwargs: Any) -> Tool[Any, Any]:
        """Build a :class:`~credlti.lti.Tool` wired to this platform.

        It uses *storage* (a fresh memory storage with this platform installed by
        default), this platform's transport and clock; *kwargs* go to ``Tool``.
        """
        if storage is None:
            storage = MemoryLaunchStorage()
            self.install(storage)
        kwargs.setdefault("clock", self.clock)
        kwargs.setdefault("http_client", self.http_client())
        return Tool(storage, **kwargs)

    def async_tool(self, storage: Any = None, **kwargs: Any) -> AsyncTool[Any, Any]:
        """Like :meth:`tool`, for :class:`~credlti.lti.AsyncTool` (async ports)."""
        if storage is None:
            storage = AsyncMemoryLaunchStorage()
            self.install(storage.sync)
        kwargs.setdefault("clock", self.clock)
        kwargs.setdefault("http_client", self.async_http_client())
        return AsyncTool(storage, **kwargs)

    # ------------------------------------------------------------- keys and HTTP

    def jwks(self) -> dict[str, Any]:
        """The platform's public key set (current keys plus retained old ones)."""
        return {
            "keys": [
                {**k.as_dict(private=False), "kid": k.kid, "alg": "RS256", "use": "sig"}
                for k in [*self._retired, *self._keys]
            ]
        }

    def rotate_keys(self, *, keep_old: bool = True) -> str:
        """Start signing with a new key; return its kid.

        With ``keep_old`` the old public key stays published (the overlap window);
        without it, the old key disappears from the key set at once.
        """
        if keep_old:
            self._retired.extend(self._keys)
        self._keys = [new_key(self.key_size)]
        return self.kid

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer an HTTP request the tool sends to the platform."""
        if request.method == "POST" and str(request.url) == self.token_endpoint:
            return self._token_response(request)
        if self.services.handles(request):
            return self.services.handle(request)
        if request.method == "GET" and str(request.url) == self.jwks_uri:
            self.jwks_requests += 1
            if self.jwks_status != 200:
                return httpx.Response(self.jwks_status, text="unavailable")
            return httpx.Response(
                200, json=self.jwks(), headers={"Cache-Control": self.jwks_cache_control}
            )
        return httpx.Response(404, json={"error": "not_found"})

    @property
    def transport(self) -> httpx.MockTransport:
        """An ``httpx`` transport that serves this platform's endpoints."""
        return httpx.MockTransport(self.handle_request)

    def http_client(self) -> httpx.Client:
        """A sync client routed to this platform."""
        return httpx.Client(transport=self.transport)

    def async_http_client(self) -> httpx.AsyncClient:
        """An async client routed to this platform."""
        return httpx.AsyncClient(transport=self.transport)

    # ------------------------------------------------------------- tool keys, tokens, deep links

    def trust_tool_keys(self, document: Mapping[str, Any]) -> None:
        """Register the tool's public JWKS (what the platform fetches from the tool's JWKS URL).

        Token requests and deep-linking responses are verified with these keys.
        """
        self._tool_keys = parse_key_set(document)

    def _verify_tool_jwt(self, token: str) -> dict[str, Any]:
        """Verify a JWT the tool signed: kid, alg, signature (Sec §5.2.3, §6.3)."""
        try:
            jws = parse_compact(token)
        except Exception as exc:
            msg = "the JWT is not a compact JWS"
            raise SimulatedPlatformError(msg) from exc
        alg, kid = jws.header.get("alg"), jws.header.get("kid")
        if alg not in ("RS256", "ES256"):
            msg = f"alg {alg!r} is not allowed"
            raise SimulatedPlatformError(msg)
        if not isinstance(kid, str) or not kid:
            msg = "the JWT header has no kid"
            raise SimulatedPlatformError(msg)
        candidates = [
            k.key
            for k in self._tool_keys.get(kid, ())
            if (k.alg is None or k.alg == alg) and key_matches_alg(k.key, alg)
        ]
        if not candidates:
            msg = f"kid {kid!r} is not in the tool's key set"
            raise SimulatedPlatformError(msg)
        if not verify_signature(candidates[0], alg, jws.signing_input, jws.signature):
            msg = "the signature does not verify with the tool's key"
            raise SimulatedPlatformError(msg)
        return jws.payload

    def _check_assertion(self, form: Mapping[str, str]) -> frozenset[str]:
        """Check a client-credentials request as a platform would; return the scopes asked for."""
        if form.get("grant_type") != "client_credentials":
            msg = "grant_type must be client_credentials"
            raise SimulatedPlatformError(msg)
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            msg = "client_assertion_type must be the RFC 7523 jwt-bearer type"
            raise SimulatedPlatformError(msg)
        scopes = frozenset(form.get("scope", "").split())
        if not scopes:
            msg = "the request names no scope"
            raise SimulatedPlatformError(msg)
        payload = self._verify_tool_jwt(form.get("client_assertion", ""))
        if payload.get("iss") != self.client_id or payload.get("sub") != self.client_id:
            msg = "iss and sub must both be the client id"
            raise SimulatedPlatformError(msg)
        aud = payload.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.token_endpoint not in audiences:
            msg = f"aud must name the token endpoint, got {aud!r}"
            raise SimulatedPlatformError(msg)
        now = self.clock().timestamp()
        check_times(payload, now, 300 + LEEWAY)
        jti = payload.get("jti")
        if not isinstance(jti, str) or not jti:
            msg = "the assertion has no jti"
            raise SimulatedPlatformError(msg)
        self._jtis = {k: v for k, v in self._jtis.items() if v > now}
        if jti in self._jtis:
            msg = "the assertion's jti was already used (replay)"
            raise SimulatedPlatformError(msg)
        self._jtis[jti] = float(payload["exp"]) + LEEWAY
        deployment = payload.get(DEPLOYMENT_ID)
        if deployment is not None and deployment != self.deployment_id:
            msg = f"deployment_id {deployment!r} is unknown"
            raise SimulatedPlatformError(msg)
        return scopes

    def _token_response(self, request: httpx.Request) -> httpx.Response:
        self.token_requests += 1
        if self.token_status is not None:
            headers = {"Retry-After": self.token_retry_after} if self.token_retry_after else {}
            error = (
                "invalid_client" if self.token_status in (400, 401) else "temporarily_unavailable"
            )
            return httpx.Response(self.token_status, json={"error": error}, headers=headers)
        form = {
            k: v[-1] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()
        }
        try:
            scopes = self._check_assertion(form)
        except SimulatedPlatformError as exc:
            self.token_rejections.append(str(exc))
            return httpx.Response(
                400, json={"error": "invalid_client", "error_description": str(exc)}
            )
        granted = scopes if self.granted_scopes is None else scopes & self.granted_scopes
        if not granted:
            self.token_rejections.append("no requested scope is granted")
            return httpx.Response(400, json={"error": "invalid_scope"})
        token = secrets.token_urlsafe(24)
        self._access_tokens[token] = (granted, self.clock().timestamp() + self.token_lifetime)
        return httpx.Response(
            200,
            json={
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
                "scope": " ".join(sorted(granted)),
            },
            headers={"Cache-Control": "no-store"},
        )

    def access_token_scopes(self, authorization: str | None) -> frozenset[str]:
        """The scopes of a valid, unexpired bearer token in an ``Authorization`` header.

        Returns an empty set for a missing, unknown, revoked or expired token (answer 401).
        """
        if not authorization or not authorization.startswith("Bearer "):
            return frozenset()
        found = self._access_tokens.get(authorization[len("Bearer ") :])
        if found is None or found[1] <= self.clock().timestamp():
            return frozenset()
        return found[0]

    def revoke_access_tokens(self) -> None:
        """Forget every access token issued so far (services then answer 401)."""
        self._access_tokens.clear()

    def verify_deep_linking_response(
        self,
        token: str,
        *,
        data: Any = _UNSET,
        deployment_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Check a deep-linking response as a platform would; return its content items.

        Checks (Sec §5.2.3; DL §4.5): signature with the tool's key (kid, alg),
        ``iss`` = client id, ``aud`` names the issuer (``azp``, if sent, too), ``exp``
        and ``iat``, the nonce not replayed, message type and version, the deployment,
        and ``data`` echoed exactly (by default the data of the last deep-linking
        request this platform sent).

        Raises:
            SimulatedPlatformError: A check failed.
        """
        payload = self._verify_tool_jwt(token)
        if payload.get("iss") != self.client_id:
            msg = f"iss must be the client id, got {payload.get('iss')!r}"
            raise SimulatedPlatformError(msg)
        aud = payload.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.issuer not in audiences:
            msg = f"aud must name the platform issuer, got {aud!r}"
            raise SimulatedPlatformError(msg)
        if "azp" in payload and payload["azp"] != self.issuer:
            msg = "azp, if sent, must be the platform issuer"
            raise SimulatedPlatformError(msg)
        now = self.clock().timestamp()
        check_times(payload, now, 3600)
        nonce = payload.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            msg = "the response has no nonce"
            raise SimulatedPlatformError(msg)
        if nonce in self._dl_nonces:
            msg = "the response's nonce was already used (replay)"
            raise SimulatedPlatformError(msg)
        if payload.get(MESSAGE_TYPE) != "LtiDeepLinkingResponse":
            msg = f"message_type is {payload.get(MESSAGE_TYPE)!r}"
            raise SimulatedPlatformError(msg)
        if payload.get(VERSION) != "1.3.0":
            msg = f"version is {payload.get(VERSION)!r}"
            raise SimulatedPlatformError(msg)
        expected_deployment = deployment_id or self.deployment_id
        if payload.get(DEPLOYMENT_ID) != expected_deployment:
            msg = f"deployment_id is {payload.get(DEPLOYMENT_ID)!r}, not {expected_deployment!r}"
            raise SimulatedPlatformError(msg)
        expected_data = self._dl_data if data is _UNSET else data
        data_claim = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
        if expected_data is not None and payload.get(data_claim) != expected_data:
            msg = "the request's data was not echoed unchanged"
            raise SimulatedPlatformError(msg)
        items = payload.get("https://purl.imsglobal.org/spec/lti-dl/claim/content_items", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            msg = "content_items must be an array of objects"
            raise SimulatedPlatformError(msg)
        self._dl_nonces.add(nonce)
        return items

    # ------------------------------------------------------------- login

    def login_params(
        self,
        *,
        target_link_uri: str = _DEFAULT_TARGET,
        login_hint: str | None = None,
        lti_message_hint: str | None = "message-hint-1",
        include_client_id: bool = True,
        lti_deployment_id: str | None = None,
    ) -> dict[str, str]:
        """Parameters of a third-party login initiation (Sec §5.1.1.1)."""
        self._counter += 1
        hint = login_hint or f"login-hint-{self._counter}"
        params = {"iss": self.issuer, "login_hint": hint, "target_link_uri": target_link_uri}
        if lti_message_hint is not None:
            params["lti_message_hint"] = lti_message_hint
        if include_client_id:
            params["client_id"] = self.client_id
        if lti_deployment_id is not None:
            params["lti_deployment_id"] = lti_deployment_id
        self._logins[hint] = params
        return params

    def authorize(self, redirect: LoginRedirect | str) -> dict[str, str]:
        """Check the tool's authentication request as a platform would; return its params.

        Raises:
            SimulatedPlatformError: A required parameter is missing or wrong.
        """
        url = redirect.url if isinstance(redirect, LoginRedirect) else redirect
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}{parts.path}" != self.auth_endpoint:
            msg = f"authentication request sent to {url!r}, not {self.auth_endpoint!r}"
            raise SimulatedPlatformError(msg)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        expected = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": self.client_id,
        }
        for name, value in expected.items():
            if query.get(name) != value:
                msg = f"authentication request has {name}={query.get(name)!r}, expected {value!r}"
                raise SimulatedPlatformError(msg)
        for name in ("redirect_uri", "login_hint", "nonce", "state"):
            if not query.get(name):
                msg = f"authentication request lacks {name!r}"
                raise SimulatedPlatformError(msg)
        login = self._logins.get(query["login_hint"])
        if login is None:
            msg = "login_hint was not echoed unchanged"
            raise SimulatedPlatformError(msg)
        if query.get("lti_message_hint") != login.get("lti_message_hint"):
            msg = "lti_message_hint was not echoed unchanged"
            raise SimulatedPlatformError(msg)
        return query

    # ------------------------------------------------------------- launches

    def launch_claims(
        self,
        redirect: LoginRedirect | str,
        *,
        message_type: str = "LtiResourceLinkRequest",
        roles: Iterable[str] = (INSTRUCTOR,),
    ) -> dict[str, Any]:
        """The baseline payload a platform would sign for this authentication request."""
        query = self.authorize(redirect)
        login = self._logins[query["login_hint"]]
        now = int(self.clock().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [self.client_id],
            "azp": self.client_id,
            "sub": "user-1",
            "exp": now + 300,
            "iat": now,
            "nonce": query["nonce"],
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.edu",
            MESSAGE_TYPE: message_type,
            VERSION: "1.3.0",
            DEPLOYMENT_ID: login.get("lti_deployment_id", self.deployment_id),
            TARGET_LINK_URI: login["target_link_uri"],
            ROLES: list(roles),
            CONTEXT: {
                "id": "context-1",
                "label": "CS101",
                "title": "Introduction to Computing",
                "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
            },
            LTI_CLAIM + "tool_platform": {"guid": "platform-guid-1", "name": "Simulated LMS"},
        }
        if message_type == "LtiDeepLinkingRequest":
            claims[DL_SETTINGS_CLAIM] = {
                "deep_link_return_url": f"{self.issuer}/deep_links",
                "accept_types": ["link", "file", "html", "ltiResourceLink", "image"],
                "accept_presentation_document_targets": ["iframe", "window", "embed"],
                "accept_multiple": True,
                "data": "opaque-data-1",
            }
            self._dl_data = "opaque-data-1"
        else:
            claims[RESOURCE_LINK] = {"id": "resource-link-1", "title": "Week 1 quiz"}
        return claims

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        alg: str = "RS256",
        kid: str | None = None,
        include_kid: bool = True,
        key: RSAKey | None = None,
    ) -> str:
        """Sign *claims* as a compact JWS with the current (or given) key."""
        signing_key = key or self._keys[-1]
        header: dict[str, Any] = {"typ": "JWT", "alg": alg}
        if include_kid:
            header["kid"] = kid if kid is not None else signing_key.kid
        return jwt.encode(header, dict(claims), signing_key, algorithms=[alg])

    def _form(self, redirect: LoginRedirect | str, token: str) -> dict[str, str]:
        query = self.authorize(redirect)
        return {"id_token": token, "state": query["state"]}

    def launch(
        self,
        redirect: LoginRedirect | str,
        *,
        message_type: str = "LtiResourceLinkRequest",
        roles: Iterable[str] = (INSTRUCTOR,),
        claims: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        lti1p1: Mapping[str, Any] | None = None,
        lti1p1_secret: str | None = None,
    ) -> dict[str, str]:
        """The platform's form POST answering *redirect*: ``{"id_token", "state"}``.

        Args:
            redirect: What the tool's ``handle_login`` returned (or its URL).
            message_type: The LTI message type.
            roles: The ``roles`` claim.
            claims: Claims to add or override (full claim names).
            remove: Claims to delete (full claim names).
            lti1p1: The LTI 1.1 migration claim to send (``user_id``,
                ``oauth_consumer_key``, ``context_id``, ``resource_link_id``...).
            lti1p1_secret: Sign the claim's ``oauth_consumer_key`` with this LTI 1.1
                secret (sets ``oauth_consumer_key_sign`` over the final payload).
        """
        payload = self.launch_claims(redirect, message_type=message_type, roles=roles)
        payload.update(claims or {})
        for name in remove:
            payload.pop(name, None)
        if lti1p1 is not None:
            migration = dict(lti1p1)
            if lti1p1_secret is not None:
                migration["oauth_consumer_key_sign"] = self._lti1p1_sign(
                    payload, str(migration["oauth_consumer_key"]), lti1p1_secret
                )
            payload[LTI_CLAIM + "lti1p1"] = migration
        return self._form(redirect, self.sign(payload))

    def _lti1p1_sign(self, payload: Mapping[str, Any], key: str, secret: str) -> str:
        # As a platform signs it: key&deployment_id&iss&client_id&exp&nonce, HMAC-SHA256.
        base = "&".join(
            (
                key,
                str(payload[DEPLOYMENT_ID]),
                str(payload["iss"]),
                self.client_id,
                str(payload["exp"]),
                str(payload["nonce"]),
            )
        )
        digest = hmac.new(secret.encode(), base.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def deep_linking_launch(
        self, redirect: LoginRedirect | str, *, settings: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        """A deep-linking request answering *redirect*."""
        payload = self.launch_claims(redirect, message_type="LtiDeepLinkingRequest")
        if settings is not None:
            payload[DL_SETTINGS_CLAIM] = dict(settings)
            self._dl_data = settings.get("data")
        return self._form(redirect, self.sign(payload))

    def bad_launch(self, redirect: LoginRedirect | str, kind: BadLaunch) -> dict[str, str]:
        """A launch broken in one specific way (see :class:`BadLaunch`)."""
        payload = self.launch_claims(redirect)
        now = int(self.clock().timestamp())
        token: str | None = None
        edits: dict[BadLaunch, dict[str, Any]] = {
            BadLaunch.EXPIRED: {"exp": now - 3600, "iat": now - 3900},
            BadLaunch.ISSUED_IN_FUTURE: {"iat": now + 3600, "exp": now + 3900},
            BadLaunch.TOO_OLD: {"iat": now - 86_400, "exp": now + 300},
            BadLaunch.IAT_AFTER_EXP: {"iat": now + 5, "exp": now + 1},
            BadLaunch.NON_NUMERIC_EXP: {"exp": "tomorrow"},
            BadLaunch.NOT_BEFORE_IN_FUTURE: {"nbf": now + 3600},
            BadLaunch.WRONG_ISSUER: {"iss": self.issuer + "/"},
            BadLaunch.WRONG_AUDIENCE: {"aud": ["someone-else"], "azp": "someone-else"},
            BadLaunch.EXTRA_AUDIENCE: {"aud": [self.client_id, "untrusted-client"]},
            BadLaunch.MULTIPLE_AUDIENCES_NO_AZP: {"aud": [self.client_id, "x"], "azp": None},
            BadLaunch.WRONG_AZP: {"azp": "someone-else"},
            BadLaunch.NO_NONCE: {"nonce": None},
            BadLaunch.WRONG_NONCE: {"nonce": "a-nonce-this-browser-never-got"},
            BadLaunch.WRONG_VERSION: {VERSION: "1.2.0"},
            BadLaunch.NO_VERSION: {VERSION: None},
            BadLaunch.NO_MESSAGE_TYPE: {MESSAGE_TYPE: None},
            BadLaunch.UNKNOWN_MESSAGE_TYPE: {MESSAGE_TYPE: "LtiMadeUpRequest"},
            BadLaunch.NO_ROLES: {ROLES: None},
            BadLaunch.NO_DEPLOYMENT_ID: {DEPLOYMENT_ID: None},
            BadLaunch.UNKNOWN_DEPLOYMENT: {DEPLOYMENT_ID: "deployment-nobody-made"},
            BadLaunch.NO_RESOURCE_LINK_ID: {RESOURCE_LINK: {"title": "no id"}},
            BadLaunch.NO_RESOURCE_LINK: {RESOURCE_LINK: None},
            BadLaunch.NO_SUB: {"sub": None},
            BadLaunch.WRONG_TARGET_LINK_URI: {TARGET_LINK_URI: "https://evil.example.com/"},
            BadLaunch.MISSING_LTI_CLAIMS: {
                MESSAGE_TYPE: None,
                VERSION: None,
                DEPLOYMENT_ID: None,
                ROLES: None,
            },
        }
        if kind in edits:
            for name, value in edits[kind].items():
                if value is None:
                    payload.pop(name, None)
                else:
                    payload[name] = value
            token = self.sign(payload)
        elif kind is BadLaunch.NO_KID:
            token = self.sign(payload, include_kid=False)
        elif kind is BadLaunch.WRONG_KID:
            token = self.sign(payload, kid="kid-the-platform-never-published")
        elif kind is BadLaunch.WRONG_KEY:
            token = self.sign(payload, kid=self.kid, key=new_key(self.key_size))
        elif kind is BadLaunch.ALG_RS512:
            token = self.sign(payload, alg="RS512")
        elif kind is BadLaunch.ALG_NONE:
            header = {"typ": "JWT", "alg": "none", "kid": self.kid}
            token = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}."
        elif kind is BadLaunch.ALG_HS256:
            # The classic key-confusion attack: HMAC keyed with the public key.
            header = {"typ": "JWT", "alg": "HS256", "kid": self.kid}
            signing_input = (
                f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
            )
            secret = self._keys[-1].as_pem(private=False)
            mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            token = f"{signing_input}.{b64(mac)}"
        elif kind is BadLaunch.TAMPERED:
            h, _, s = self.sign(payload).split(".")
            payload["sub"] = "user-admin"
            token = f"{h}.{b64(json.dumps(payload).encode())}.{s}"
        elif kind is BadLaunch.GARBAGE:
            token = "this-is-not-a-jwt"
        if token is None:  # pragma: no cover
            raise AssertionError(kind)
        return self._form(redirect, token)
