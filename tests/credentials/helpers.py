"""Helpers for the credentials vault tests: a wired vault and a fake OAuth provider."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import attrs
import httpx

from credlti.adapters.memory import (
    MemoryAuditSink,
    MemoryNotifier,
    MemoryOAuthClientRegistry,
    MemoryStepActivity,
    MemoryUserDirectory,
    MemoryVaultStore,
)
from credlti.credentials import (
    Credential,
    EncryptionKey,
    KeyRing,
    OAuthClient,
    Vault,
    VaultConfig,
    VaultUser,
)
from credlti.testing import FrozenClock

KEY1 = EncryptionKey(id="k1", material=bytes(range(32)))
KEY2 = EncryptionKey(id="k2", material=bytes(range(32, 64)))
PG_BODY = {
    "host": "db.example.org",
    "port": "5432",
    "database": "app",
    "user": "svc",
    "password": "pg-S3cret-pass",
}


@attrs.define
class Provider:
    """A fake OAuth token endpoint behind an httpx.MockTransport."""

    responses: list[httpx.Response] = attrs.field(factory=list)
    requests: list[httpx.Request] = attrs.field(factory=list)
    default: Callable[[httpx.Request], httpx.Response] | None = None
    delay: threading.Event | None = None
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            queued = self.responses.pop(0) if self.responses else None
        if self.delay is not None:
            self.delay.wait(2)
        if queued is not None:
            return queued
        if self.default is not None:
            return self.default(request)
        return httpx.Response(
            200, json={"access_token": f"at-{len(self.requests)}", "expires_in": 3600}
        )

    def form(self, index: int = -1) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.requests[index].content.decode()))


@attrs.define
class Kit:
    vault: Vault
    store: MemoryVaultStore
    directory: MemoryUserDirectory
    notifier: MemoryNotifier
    audit: MemoryAuditSink
    activity: MemoryStepActivity
    clients: MemoryOAuthClientRegistry
    provider: Provider
    clock: FrozenClock
    alice: VaultUser
    bob: VaultUser
    carol: VaultUser

    def pg(self, name: str = "db", owner: str = "alice", **extra: Any) -> Credential:
        attrs_: dict[str, Any] = {
            "name": name,
            "schema": "postgresql",
            "owner_id": owner,
            "body": dict(PG_BODY),
        }
        attrs_.update(extra)
        return self.vault.create_credential(attrs_)

    def oauth(self, name: str = "gmail", expires_in: int = 3600, **extra: Any) -> Credential:
        token = {
            "access_token": "at-original",
            "refresh_token": "rt-original",
            "token_type": "Bearer",
            "scope": "mail.read offline_access",
            "expires_in": expires_in,
        }
        token.update(extra)
        return self.vault.create_credential(
            {
                "name": name,
                "schema": "oauth",
                "owner_id": "alice",
                "body": {"apiVersion": "v1"},
                "oauth_client_id": "google",
                "oauth_token": token,
            }
        )


def make_kit(config: VaultConfig | None = None, keyring: KeyRing | None = None) -> Kit:
    clock = FrozenClock()
    directory = MemoryUserDirectory()
    alice = directory.add_user(
        VaultUser(id="alice", email="alice@example.org"), projects=["p1", "p2"]
    )
    bob = directory.add_user(VaultUser(id="bob", email="Bob@Example.org"), projects=["p1", "p2"])
    carol = directory.add_user(VaultUser(id="carol", email="carol@example.org"), projects=["p1"])
    clients = MemoryOAuthClientRegistry()
    clients.add(
        OAuthClient(
            id="google",
            client_id="client-123",
            client_secret="client-S3cret",
            token_endpoint="https://oauth.example.org/token",
            revocation_endpoint="https://oauth.example.org/revoke",
        )
    )
    provider = Provider()
    store = MemoryVaultStore()
    notifier, audit, activity = MemoryNotifier(), MemoryAuditSink(), MemoryStepActivity()
    vault = Vault(
        store=store,
        keyring=keyring or KeyRing([KEY1]),
        directory=directory,
        notifier=notifier,
        audit=audit,
        activity=activity,
        oauth_clients=clients,
        http_client=httpx.Client(transport=httpx.MockTransport(provider)),
        clock=clock,
        config=config,
    )
    return Kit(
        vault,
        store,
        directory,
        notifier,
        audit,
        activity,
        clients,
        provider,
        clock,
        alice,
        bob,
        carol,
    )


def json_response(status: int, data: Any, **headers: str) -> httpx.Response:
    """A JSON response with extra headers."""
    return httpx.Response(status, content=json.dumps(data).encode(), headers=headers)
