"""A runnable tour of the credentials vault: store, share, refresh, scrub, transfer, purge.

Run: ``python examples/credentials_example.py``. No network: the OAuth provider is an
``httpx.MockTransport``.
"""

from __future__ import annotations

import secrets

import httpx

from credlti.adapters.memory import (
    MemoryAuditSink,
    MemoryNotifier,
    MemoryOAuthClientRegistry,
    MemoryUserDirectory,
    MemoryVaultStore,
)
from credlti.credentials import (
    EncryptionKey,
    KeyRing,
    OAuthClient,
    ProjectRef,
    Vault,
    VaultConfig,
    VaultUser,
)
from credlti.errors import CredentialValidationError, TransferTokenError
from credlti.testing import FrozenClock


def provider(request: httpx.Request) -> httpx.Response:
    """A fake token endpoint that always issues a new access token."""
    return httpx.Response(200, json={"access_token": "fresh-access-token", "expires_in": 3600})


def main() -> None:
    clock = FrozenClock()
    directory = MemoryUserDirectory()
    alice = directory.add_user(VaultUser(id="alice", email="alice@example.org"), projects=["etl"])
    bob = directory.add_user(VaultUser(id="bob", email="bob@example.org"), projects=["etl"])
    clients = MemoryOAuthClientRegistry()
    clients.add(
        OAuthClient(
            id="google",
            client_id="my-client",
            client_secret="my-client-secret",  # noqa: S106 - demo value
            token_endpoint="https://oauth2.example.org/token",  # noqa: S106 - a URL
        )
    )
    notifier, audit = MemoryNotifier(), MemoryAuditSink()
    vault = Vault(
        store=MemoryVaultStore(),
        keyring=KeyRing([EncryptionKey(id="2026-01", material=secrets.token_bytes(32))]),
        directory=directory,
        notifier=notifier,
        audit=audit,
        oauth_clients=clients,
        http_client=httpx.Client(transport=httpx.MockTransport(provider)),
        clock=clock,
        config=VaultConfig(purge_deleted_after_days=7),
    )

    # 1. Validate without saving, then create a database login shared with a project.
    attrs = {
        "name": "warehouse",
        "schema": "postgresql",
        "owner_id": "alice",
        "body": {
            "host": "db.internal",
            "port": "5432",
            "database": "dw",
            "user": "etl",
            "password": "correct-horse",
        },
        "project_ids": ["etl"],
    }
    assert vault.change_credential(None, attrs).valid
    db = vault.create_credential(attrs)
    print("created:", db.name, "port coerced to", db.body["port"] if db.body else None)

    try:
        vault.create_credential({**attrs, "name": "bad/name"})
    except CredentialValidationError as exc:
        print("refused:", [(e.path, e.message) for e in exc.field_errors])

    # 2. An OAuth credential, refreshed when it is about to expire.
    gmail = vault.create_credential(
        {
            "name": "gmail",
            "schema": "oauth",
            "owner_id": "alice",
            "body": {},
            "oauth_client_id": "google",
            "oauth_token": {
                "access_token": "old",
                "refresh_token": "refresh-me",
                "token_type": "Bearer",
                "scope": "mail.read",
                "expires_in": 120,
            },
        }
    )
    gmail = vault.maybe_refresh_token(gmail)
    print("refreshed:", gmail.oauth_token is not None and gmail.oauth_token.access_token != "old")

    # 3. Scrub secrets out of a log line.
    scrubber = vault.scrubber_for(db, gmail)
    print("log:", scrubber.scrub("connecting with correct-horse and fresh-access-token"))

    # 4. Transfer ownership: the owner confirms with the token sent to them.
    pending = vault.initiate_credential_transfer(alice, bob, db)
    token = notifier.of_kind("transfer_requested")[0].token or ""
    try:
        vault.confirm_transfer(db.id, "bob", "alice", "forged")
    except TransferTokenError as exc:
        print("forged token:", exc.code)
    moved = vault.confirm_transfer(db.id, "bob", "alice", token)
    print(
        "new owner:",
        moved.owner_id,
        "until",
        pending.expires_at.date(),
        "shares kept:",
        sorted(moved.project_ids),
    )

    # 5. Schedule deletion, then purge after the grace period.
    vault.schedule_credential_deletion(gmail, actor_id="alice")
    print("purge now:", vault.purge_deleted())
    clock.advance(8 * 24 * 3600)
    print("purge in 8 days:", vault.purge_deleted())
    print("listed in etl:", [c.name for c in vault.list_credentials(ProjectRef(id="etl"))])
    print("audit:", [e.action.value for e in audit.events])


if __name__ == "__main__":
    main()
