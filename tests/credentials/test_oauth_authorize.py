"""The authorization-code flow with PKCE against a loopback provider that checks everything."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import httpx
import pytest

from credlti.credentials import (
    AuthorizationRequest,
    ClientAuthMethod,
    OAuthAuthorizer,
    OAuthClient,
    PendingAuthorization,
)
from credlti.errors import (
    AuthorizationCallbackError,
    AuthorizationDeniedError,
    AuthorizationRequestError,
    AuthorizationStateError,
    ConfigurationError,
    CredentialValidationError,
    CredltiError,
    MissingScopesError,
    NotOwnerError,
    OAuthAuthorizationError,
    OAuthProviderError,
    OAuthProviderRejectedError,
    OAuthProviderUnavailableError,
)

from .oauth_server import LoopbackProvider, Response
from .oauth_world import World, error_text, leaks, make_world


@pytest.fixture(name="provider")
def _provider() -> Iterator[LoopbackProvider]:
    with LoopbackProvider() as provider:
        yield provider
    assert provider.violations == []


@pytest.fixture(name="world", params=["memory-clients", "sql-clients"])
def _world(
    provider: LoopbackProvider, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[World]:
    """The world, its OAuth clients in the memory registry or the SQL one (SQLite file)."""
    sql_file = tmp_path / "clients.db" if request.param == "sql-clients" else None
    yield from make_world(provider, sql_file=sql_file)


def _no_leak(exc: BaseException, world: World, *extra: str) -> None:
    assert leaks(error_text(exc), world, *extra) == []


# ---------------------------------------------------------------- happy paths


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic", "none"])
def test_authorize_creates_the_credential(method: str) -> None:
    """URL, consent, callback: a new oauth credential holds the token (each client auth)."""
    with LoopbackProvider(auth_method=method) as provider:
        secret = None if method == "none" else provider.client_secret
        for world in make_world(provider, client_secret=secret):
            request = world.begin(optional_scopes=["calendar"])
            query = dict(parse_qsl(urlsplit(request.url).query))
            assert query["scope"] == "openid mail.read calendar"
            assert query["code_challenge_method"] == "S256"
            assert query["state"] == request.state
            pending = next(iter(world.pending._items.values()))
            assert pending.code_verifier not in request.url
            assert request.state not in repr(request)
            assert pending.code_verifier not in repr(pending)

            result = world.authorizer.complete(world.consent(request), user_id="alice")

            cred = result.credential
            assert result.created
            assert result.granted_scopes == ("openid", "mail.read", "calendar")
            assert result.userinfo == {"sub": "user-42", "email": "alice@provider.example"}
            assert cred.schema == "oauth"
            assert cred.owner_id == "alice"
            assert cred.oauth_client_id == "loop"
            token = cred.oauth_token
            assert token is not None
            assert token.access_token in provider.access_tokens
            assert token.refresh_token in provider.refresh_tokens
            assert token.scopes == ("openid", "mail.read", "calendar")
            assert world.vault.get_credential_or_raise(cred.id).oauth_token == token
            assert len(world.pending) == 0
            for event in world.audit.events:
                assert leaks(repr(event), world) == []
        assert provider.violations == []


def test_async_authorizer(world: World) -> None:
    """The async twin drives the same flow through an httpx.AsyncClient."""

    async def main() -> Any:
        async with httpx.AsyncClient() as http:
            authorizer = world.async_authorizer(http)
            request = await authorizer.begin(
                "loop", user_id="alice", redirect_uri=world.provider.redirect_uri, name="async"
            )
            response = await http.get(request.url)
            params = dict(parse_qsl(urlsplit(response.headers["location"]).query))
            first = await authorizer.complete(params, user_id="alice")
            with pytest.raises(AuthorizationStateError):
                await authorizer.complete(params, user_id="alice")
            return first

    result = asyncio.run(main())
    assert result.credential.name == "async"
    assert result.credential.oauth_token is not None


def test_async_authorizer_owns_its_client(world: World) -> None:
    """Without an injected client the async authorizer makes and closes its own."""

    async def main() -> None:
        authorizer = world.async_authorizer(None)  # type: ignore[arg-type]
        request = await authorizer.begin(
            "loop", user_id="alice", redirect_uri=world.provider.redirect_uri, name="own"
        )
        params = world.consent(request)
        await authorizer.complete(params, user_id="alice")
        await authorizer.aclose()

    asyncio.run(main())


def test_reauthorize_updates_the_token(world: World) -> None:
    """credential_id= re-authorizes an existing credential: same id, new token."""
    first = world.authorizer.complete(world.consent(world.begin()), user_id="alice").credential
    request = world.begin(name=None, credential_id=first.id)
    second = world.authorizer.complete(world.consent(request), user_id="alice")
    assert not second.created
    assert second.credential.id == first.id
    assert first.oauth_token is not None
    assert second.credential.oauth_token is not None
    assert second.credential.oauth_token.access_token != first.oauth_token.access_token
    with pytest.raises(NotOwnerError):
        world.begin(user_id="bob", name=None, credential_id=first.id)


def test_injected_randomness_and_owned_http(provider: LoopbackProvider) -> None:
    """State and verifier come from random_bytes; a default HTTP client is closed by close()."""
    for world in make_world(provider):
        calls: list[int] = []

        def fixed(n: int, calls: list[int] = calls) -> bytes:
            calls.append(n)
            return bytes([len(calls)]) * n

        authorizer = OAuthAuthorizer(
            vault=world.vault,
            oauth_clients=world.clients,
            pending=world.pending,
            clock=world.clock,
            random_bytes=fixed,
        )
        request = authorizer.begin(
            "loop", user_id="alice", redirect_uri=provider.redirect_uri, name="x"
        )
        assert calls == [32, 32]
        assert request.state == "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
        result = authorizer.complete(world.consent(request), user_id="alice")
        assert result.credential.name == "x"
        authorizer.close()
        bad = OAuthAuthorizer(
            vault=world.vault,
            oauth_clients=world.clients,
            pending=world.pending,
            http_client=world.http,
            random_bytes=lambda n: b"short",
        )
        with pytest.raises(ConfigurationError):
            bad.begin("loop", user_id="alice", redirect_uri=provider.redirect_uri, name="y")
        with pytest.raises(ConfigurationError):
            OAuthAuthorizer(
                vault=world.vault,
                oauth_clients=world.clients,
                pending=world.pending,
                authorization_ttl=timedelta(days=2),
            )


def test_scope_omitted_in_answer_means_requested(provider: LoopbackProvider) -> None:
    """RFC 6749 §5.1: no scope in the answer grants what was requested."""
    provider.echo_scope = False
    for world in make_world(provider):
        result = world.authorizer.complete(world.consent(world.begin()), user_id="alice")
        assert result.granted_scopes == ("openid", "mail.read")


# ---------------------------------------------------------------- client metadata


def test_client_metadata_defaults_and_projects(provider: LoopbackProvider) -> None:
    """New OAuthClient fields are optional; per-project clients are only offered there."""
    plain = OAuthClient(id="c", client_id="x", token_endpoint="https://t.example/token")
    assert plain.is_global
    assert plain.mandatory_scopes == ()
    assert plain.available_in(None)
    for world in make_world(provider, is_global=False, project_ids=["p1"]):
        assert world.client.mandatory_scopes == ("openid", "mail.read")
        assert world.clients.clients_for_project("p1") == [world.client]
        assert world.clients.clients_for_project("p2") == []
        with pytest.raises(AuthorizationRequestError):
            world.begin()
        with pytest.raises(AuthorizationRequestError):
            world.begin(project_id="p2")
        request = world.begin(project_id="p1")
        result = world.authorizer.complete(world.consent(request), user_id="alice")
        assert result.credential.project_ids == frozenset({"p1"})


def test_begin_refusals(world: World) -> None:
    """Unknown clients, scopes not offered, reserved extra params, bad redirect URIs."""
    with pytest.raises(AuthorizationRequestError):
        world.authorizer.begin(
            "nope", user_id="alice", redirect_uri="https://a.example/cb", name="n"
        )
    with pytest.raises(AuthorizationRequestError, match="admin"):
        world.begin(optional_scopes=["admin"])
    with pytest.raises(AuthorizationRequestError):
        world.begin(optional_scopes="calendar")
    with pytest.raises(AuthorizationRequestError):
        world.begin(extra_params={"state": "mine"})
    for uri in ["http://evil.example/cb", "https://a.example/cb#frag", "/relative", "javascript:x"]:
        with pytest.raises(AuthorizationRequestError):
            world.begin(redirect_uri=uri)
    with pytest.raises(AuthorizationRequestError):
        world.begin(name=None)
    world.clients.add(attrs.evolve(world.client, id="noauth", authorization_endpoint=None))
    with pytest.raises(AuthorizationRequestError):
        world.authorizer.begin(
            "noauth", user_id="alice", redirect_uri="https://a.example/cb", name="n"
        )
    request = world.begin(extra_params={"prompt": "consent", "access_type": "offline"})
    query = dict(parse_qsl(urlsplit(request.url).query))
    assert query["prompt"] == "consent"
    assert query["access_type"] == "offline"


# ---------------------------------------------------------------- attacker cases


def test_state_replay_is_refused(world: World) -> None:
    """A callback is used once: replaying it is refused without calling the provider."""
    params = world.consent(world.begin())
    world.authorizer.complete(params, user_id="alice")
    before = len(world.provider.requests)
    with pytest.raises(AuthorizationStateError) as info:
        world.authorizer.complete(params, user_id="alice")
    assert info.value.details["reason"] == "unknown"
    assert len(world.provider.requests) == before
    _no_leak(info.value, world)


def test_state_mismatch_is_refused_and_the_real_callback_still_works(world: World) -> None:
    """A forged state finds nothing; the genuine callback is unaffected."""
    params = world.consent(world.begin())
    last = "A" if params["state"][-1] != "A" else "B"
    forged = {**params, "state": params["state"][:-1] + last}
    with pytest.raises(AuthorizationStateError):
        world.authorizer.complete(forged, user_id="alice")
    assert world.authorizer.complete(params, user_id="alice").created


def test_expired_pending_authorization(world: World) -> None:
    """After the TTL the callback is refused (and the record is gone)."""
    params = world.consent(world.begin())
    world.clock.advance(timedelta(minutes=10).total_seconds())
    with pytest.raises(AuthorizationStateError) as info:
        world.authorizer.complete(params, user_id="alice")
    assert info.value.details["reason"] == "expired"
    assert len(world.pending) == 0


def test_another_users_callback_is_refused(world: World) -> None:
    """Bob cannot complete Alice's authorization (login CSRF / account mix-up)."""
    params = world.consent(world.begin())
    with pytest.raises(AuthorizationStateError) as info:
        world.authorizer.complete(params, user_id="bob")
    assert info.value.details["reason"] == "wrong_user"
    assert world.vault.list_credentials(world.vault.directory.get_user("bob")) == []  # type: ignore[union-attr,arg-type]


def test_wrong_verifier_is_refused_by_the_provider(world: World) -> None:
    """A pending record with another verifier fails PKCE at the token endpoint."""
    params = world.consent(world.begin())
    key, pending = next(iter(world.pending._items.items()))
    world.pending._items[key] = attrs.evolve(pending, code_verifier="x" * 43)
    with pytest.raises(OAuthProviderRejectedError) as info:
        world.authorizer.complete(params, user_id="alice")
    assert info.value.details == {"endpoint": "token", "status": 400, "error": "invalid_grant"}
    assert not info.value.retryable
    _no_leak(info.value, world, params["code"], "x" * 43)


def test_code_injection_and_reuse(world: World) -> None:
    """A code from another authorization fails PKCE; a used code is refused (and revoked)."""
    first = world.consent(world.begin(name="one"))
    second = world.consent(world.begin(name="two"))
    with pytest.raises(OAuthProviderRejectedError):
        world.authorizer.complete({**second, "code": first["code"]}, user_id="alice")
    third = world.consent(world.begin(name="three"))
    world.authorizer.complete(third, user_id="alice")
    fourth = world.consent(world.begin(name="four"))
    with pytest.raises(OAuthProviderRejectedError) as info:
        world.authorizer.complete({**fourth, "code": third["code"]}, user_id="alice")
    assert info.value.details["error"] == "invalid_grant"


def test_missing_mandatory_scopes(provider: LoopbackProvider) -> None:
    """A grant without a mandatory scope raises MissingScopesError; nothing is stored."""
    provider.grant_scopes = ("openid", "calendar")
    for world in make_world(provider):
        with pytest.raises(MissingScopesError) as info:
            world.authorizer.complete(world.consent(world.begin()), user_id="alice")
        error = info.value
        assert error.code == "missing_scopes"
        assert error.expected_scopes == ("openid", "mail.read")
        assert error.granted_scopes == ("openid", "calendar")
        assert error.missing_scopes == ("mail.read",)
        assert error.details["missing_scopes"] == ["mail.read"]
        assert [e.path for e in error.field_errors] == ["oauth_token.scope"]
        assert isinstance(error, CredentialValidationError)
        assert isinstance(error, OAuthAuthorizationError)
        assert world.vault.list_credentials(world.vault.directory.get_user("alice")) == []  # type: ignore[union-attr,arg-type]
        _no_leak(error, world)


def test_offline_access_need_not_be_echoed(provider: LoopbackProvider) -> None:
    """offline_access is never required in the granted scopes."""
    provider.grant_scopes = ("openid", "mail.read")
    for world in make_world(provider, mandatory_scopes=("openid", "mail.read", "offline_access")):
        assert world.authorizer.complete(world.consent(world.begin()), user_id="alice").created


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        ("access_denied", AuthorizationDeniedError, False),
        ("invalid_scope", AuthorizationDeniedError, False),
        ("temporarily_unavailable", OAuthProviderUnavailableError, True),
    ],
)
def test_error_callbacks(
    provider: LoopbackProvider, error: str, kind: type[CredltiError], retryable: bool
) -> None:
    """error=... on the callback is typed and classified; the record is used up."""
    provider.deny = error
    for world in make_world(provider):
        params = world.consent(world.begin())
        with pytest.raises(kind) as info:
            world.authorizer.complete(params, user_id="alice")
        assert isinstance(info.value, OAuthAuthorizationError)
        assert info.value.retryable is retryable
        assert "said no" not in error_text(info.value)
        assert len(world.pending) == 0
        assert [m for m, p in provider.requests if p.startswith("/token")] == []


def _answer(status: int, body: bytes, **headers: str) -> Any:
    def override() -> Response:
        return status, {"Content-Type": "application/json", **headers}, body

    return override


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (503, b'{"error":"temporarily_unavailable"}', {"Retry-After": "7"}, "unavailable", 7.0),
        (500, b"oops", {}, "unavailable", None),
        (429, b"", {"Retry-After": "99999999999"}, "unavailable", None),
        (400, b'{"error":"invalid_request","error_description":"at-leaked"}', {}, "rejected", None),
        (200, b"not json", {}, "rejected", None),
        (200, b"[1, 2]", {}, "rejected", None),
        (200, b'{"access_token": NaN}', {}, "rejected", None),
        (200, b"[" * 5000 + b"]" * 5000, {}, "rejected", None),
        (200, b'{"access_token": "a", "token_type": "mac"}', {}, "rejected", None),
        (200, b'{"token_type": "Bearer"}', {}, "rejected", None),
        (200, b'{"access_token": "a", "scope": 7}', {}, "rejected", None),
        (200, '{"access_token": "a", "expires_in": "²"}'.encode(), {}, "rejected", None),
        (200, b'{"access_token": "a", "expires_in": true}', {}, "rejected", None),
        (200, b'{"access_token": "a", "expires_at": "soon"}', {}, "rejected", None),
        (200, b'{"access_token": "\\udc80"}', {}, "rejected", None),
        (200, b'{"access_token": "a", "x": ' + b"9" * 4000 + b"}", {}, "rejected", None),
        (200, b'{"access_token": "' + b"a" * 70_000 + b'"}', {}, "rejected", None),
        (302, b"", {"Location": "https://evil.example/"}, "rejected", None),
    ],
)
def test_token_endpoint_failures(
    provider: LoopbackProvider,
    status: int,
    body: bytes,
    headers: dict[str, str],
    kind: str,
    retry_after: float | None,
) -> None:
    """Token endpoint errors and hostile answers become classified errors without secrets."""
    provider.token_override = _answer(status, body, **headers)
    for world in make_world(provider):
        params = world.consent(world.begin())
        expected: type[OAuthProviderError] = OAuthProviderRejectedError
        if kind == "unavailable":
            expected = OAuthProviderUnavailableError
        with pytest.raises(expected) as info:
            world.authorizer.complete(params, user_id="alice")
        assert info.value.retryable is (kind == "unavailable")
        if status == 429:
            assert info.value.retry_after == 86_400.0
        else:
            assert info.value.retry_after == retry_after
        assert "at-leaked" not in error_text(info.value)
        _no_leak(info.value, world, params["code"])
        assert world.vault.list_credentials(world.vault.directory.get_user("alice")) == []  # type: ignore[union-attr,arg-type]


def test_unreachable_token_endpoint_is_retryable(world: World) -> None:
    """A network failure is OAuthProviderUnavailableError."""
    world.clients.add(attrs.evolve(world.client, token_endpoint="http://127.0.0.1:9/token"))
    params = world.consent(world.begin())
    with pytest.raises(OAuthProviderUnavailableError) as info:
        world.authorizer.complete(params, user_id="alice")
    assert info.value.details["endpoint"] == "token"


def test_userinfo_failure_is_classified(world: World) -> None:
    """A userinfo endpoint refusing the token is OAuthProviderRejectedError (userinfo)."""
    world.clients.add(
        attrs.evolve(world.client, userinfo_endpoint=f"{world.provider.base}/userinfo?x=1")
    )
    world.provider.userinfo_status = 401
    with pytest.raises(OAuthProviderRejectedError) as info:
        world.authorizer.complete(world.consent(world.begin()), user_id="alice")
    assert info.value.details["endpoint"] == "userinfo"
    assert info.value.details["status"] == 401


def test_vault_validation_still_applies(provider: LoopbackProvider) -> None:
    """Without a refresh token the vault refuses to create the credential."""
    provider.issue_refresh_token = False
    for world in make_world(provider):
        with pytest.raises(CredentialValidationError) as info:
            world.authorizer.complete(world.consent(world.begin()), user_id="alice")
        assert "oauth_token.refresh_token" in info.value.details["fields"]  # type: ignore[operator]
        _no_leak(info.value, world)


def test_callback_shape_errors(world: World) -> None:
    """No state, no code, lists, non-mappings: AuthorizationCallbackError."""
    shapes = [{}, {"code": "c"}, {"state": "s"}, {"state": ["a", "b"], "code": "c"}, "x", None]
    for params in shapes:
        with pytest.raises(AuthorizationCallbackError):
            world.authorizer.complete(params, user_id="alice")  # type: ignore[arg-type]
    with pytest.raises(AuthorizationStateError):
        world.authorizer.complete({"state": ["s"], "code": "c"}, user_id="alice")  # type: ignore[dict-item]


def test_pending_records_hide_secrets() -> None:
    """PendingAuthorization and AuthorizationRequest reprs show no state, URL or verifier."""
    from datetime import datetime, timezone

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    pending = PendingAuthorization(
        state_hash="h",
        code_verifier="VERIFIER-secret",
        client_id="c",
        user_id="u",
        redirect_uri="https://a.example/cb",
        scopes=("s",),
        created_at=now,
        expires_at=now,
    )
    request = AuthorizationRequest(
        url="https://p.example/?state=STATE-secret",
        state="STATE-secret",
        client_id="c",
        scopes=(),
        expires_at=now,
    )
    assert "secret" not in repr(pending)
    assert "secret" not in repr(request)
    assert ClientAuthMethod.NONE.value == "none"


def test_the_loopback_provider_checks_what_it_receives(world: World) -> None:
    """The provider catches a changed redirect_uri and a wrong client secret."""
    params = world.consent(world.begin())
    key, pending = next(iter(world.pending._items.items()))
    world.pending._items[key] = attrs.evolve(pending, redirect_uri="http://127.0.0.1/other")
    with pytest.raises(OAuthProviderRejectedError):
        world.authorizer.complete(params, user_id="alice")
    assert world.provider.violations == ["token: redirect_uri differs from the authorize request"]
    world.provider.violations.clear()

    world.clients.add(attrs.evolve(world.client, client_secret="wrong-S3cret"))
    params = world.consent(world.begin())
    with pytest.raises(OAuthProviderRejectedError) as info:
        world.authorizer.complete(params, user_id="alice")
    assert info.value.details == {"endpoint": "token", "status": 401, "error": "invalid_client"}
    assert "wrong-S3cret" not in error_text(info.value)
    assert world.provider.violations == ["token: bad client authentication"]
    world.provider.violations.clear()


def test_begin_checks_the_new_credential_first(world: World) -> None:
    """A name or project the vault would refuse is refused before the user consents."""
    with pytest.raises(CredentialValidationError) as info:
        world.begin(name="bad'name")
    assert info.value.details["fields"] == ["name"]
    with pytest.raises(CredentialValidationError):
        world.begin(project_id="p9")
    assert len(world.pending) == 0
