"""A vault, an authorizer and resolvers wired to a loopback OAuth provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import httpx

from credlti.adapters.memory import (
    MemoryAuditSink,
    MemoryOAuthClientRegistry,
    MemoryPendingAuthorizations,
    MemoryUserDirectory,
    MemoryVaultStore,
)
from credlti.adapters.sql import SqlOAuthClientRegistry, create_engine, upgrade
from credlti.credentials import (
    AsyncOAuthAuthorizer,
    AuthorizationRequest,
    ClientAuthMethod,
    CredentialResolver,
    KeyRing,
    OAuthAuthorizer,
    OAuthClient,
    Vault,
    VaultUser,
)
from credlti.testing import FrozenClock

from .helpers import KEY1
from .oauth_server import LoopbackProvider

ClientRegistry = MemoryOAuthClientRegistry | SqlOAuthClientRegistry


@attrs.define
class World:
    provider: LoopbackProvider
    vault: Vault
    clients: ClientRegistry
    pending: MemoryPendingAuthorizations
    authorizer: OAuthAuthorizer
    resolver: CredentialResolver
    clock: FrozenClock
    http: httpx.Client
    audit: MemoryAuditSink
    client: OAuthClient

    def begin(self, **kw: Any) -> AuthorizationRequest:
        args: dict[str, Any] = {
            "user_id": "alice",
            "redirect_uri": self.provider.redirect_uri,
            "name": "mail",
        }
        args.update(kw)
        return self.authorizer.begin("loop", **args)

    def consent(self, request: AuthorizationRequest) -> dict[str, str]:
        """Play the browser: follow the authorize URL, return the callback's parameters."""
        response = self.http.get(request.url)
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(self.provider.redirect_uri + "?")
        return dict(parse_qsl(urlsplit(location).query))

    def async_authorizer(self, http: httpx.AsyncClient) -> AsyncOAuthAuthorizer:
        return AsyncOAuthAuthorizer(
            vault=self.vault,
            oauth_clients=self.clients,
            pending=self.pending,
            http_client=http,
            clock=self.clock,
        )


def loop_client(provider: LoopbackProvider, **extra: Any) -> OAuthClient:
    values: dict[str, Any] = {
        "id": "loop",
        "name": "Loopback mail",
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "token_endpoint": f"{provider.base}/token",
        "authorization_endpoint": f"{provider.base}/authorize",
        "userinfo_endpoint": f"{provider.base}/userinfo",
        "auth_method": ClientAuthMethod(provider.auth_method),
        "mandatory_scopes": "openid, mail.read",
        "optional_scopes": ["calendar", "offline_access"],
    }
    values.update(extra)
    return OAuthClient(**values)


def make_world(
    provider: LoopbackProvider, *, sql_file: Path | None = None, **client_extra: Any
) -> Iterator[World]:
    """The world; with *sql_file*, its OAuth clients live in a SQLite database there."""
    clock = FrozenClock()
    directory = MemoryUserDirectory()
    directory.add_user(VaultUser(id="alice", email="alice@example.org"), projects=["p1"])
    directory.add_user(VaultUser(id="bob", email="bob@example.org"), projects=["p1"])
    engine = None if sql_file is None else create_engine(f"sqlite:///{sql_file}")
    clients: ClientRegistry
    if engine is None:
        clients = MemoryOAuthClientRegistry()
    else:
        upgrade(engine)
        clients = SqlOAuthClientRegistry(engine, KeyRing([KEY1]))
    client = clients.add(loop_client(provider, **client_extra))
    audit = MemoryAuditSink()
    http = httpx.Client()
    vault = Vault(
        store=MemoryVaultStore(),
        keyring=KeyRing([KEY1]),
        directory=directory,
        audit=audit,
        oauth_clients=clients,
        http_client=http,
        clock=clock,
    )
    pending = MemoryPendingAuthorizations()
    authorizer = OAuthAuthorizer(
        vault=vault, oauth_clients=clients, pending=pending, http_client=http, clock=clock
    )
    try:
        yield World(
            provider=provider,
            vault=vault,
            clients=clients,
            pending=pending,
            authorizer=authorizer,
            resolver=CredentialResolver(vault, clock=clock),
            clock=clock,
            http=http,
            audit=audit,
            client=client,
        )
    finally:
        http.close()
        if engine is not None:
            engine.dispose()


def leaks(text: str, world: World, *extra: str) -> list[str]:
    """Secrets of the provider or the flow (codes, tokens, client secret) found in *text*."""
    secrets_ = [world.provider.client_secret, *world.provider.access_tokens, *extra]
    secrets_ += list(world.provider.refresh_tokens)
    secrets_ += list(world.provider.grants)
    return [s for s in secrets_ if s and s in text]


def error_text(exc: BaseException) -> str:
    """Everything an error tracker would store about *exc*: text, repr, args, details, chain."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        parts.append(repr(dict(getattr(current, "details", {}) or {})))
        current = current.__cause__ or current.__context__
    return "\n".join(parts)
