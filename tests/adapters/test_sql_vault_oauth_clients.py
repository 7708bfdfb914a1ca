"""SqlOAuthClientRegistry: every OAuthClient field, sealed with the secret (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credlti._crypto import NONCE_BYTES, associated_data
from credlti.adapters.sql import (
    AsyncSqlOAuthClientRegistry,
    SqlOAuthClientRegistry,
    create_engine,
    upgrade,
)
from credlti.credentials import ClientAuthMethod, EncryptionKey, KeyRing, OAuthClient
from credlti.errors import DecryptionError
from tests.adapters.sql_async_engines import async_engine_for, dispose

OLD_KEY = EncryptionKey(id="old", material=bytes(range(32)))
NEW_KEY = EncryptionKey(id="new", material=bytes(range(1, 33)))
KEYRING = KeyRing([OLD_KEY])
TABLE = "credlti_oauth_clients"

RICH = OAuthClient(
    id="mail",
    name="Example Mail",
    client_id="cid-123",
    client_secret="client-S3cret-value",
    auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
    token_endpoint="https://accounts.example.org/token",
    revocation_endpoint="https://accounts.example.org/revoke",
    authorization_endpoint="https://accounts.example.org/authorize-hidden",
    userinfo_endpoint="https://accounts.example.org/userinfo-hidden",
    mandatory_scopes="openid mail.read-hidden",
    optional_scopes=["mail.send-hidden", "offline_access"],
    is_global=False,
    project_ids=["project-etl-hidden", "project-bi-hidden"],
)
PUBLIC = OAuthClient(
    id="public",
    client_id="cid-public",
    auth_method=ClientAuthMethod.NONE,
    token_endpoint="https://idp.example/token",
    authorization_endpoint="https://idp.example/authorize",
    optional_scopes="calendar",
)
HIDDEN = (
    "client-S3cret-value",
    "authorize-hidden",
    "userinfo-hidden",
    "mail.read-hidden",
    "mail.send-hidden",
    "project-etl-hidden",
    "project-bi-hidden",
)


@pytest.fixture(name="engine", params=["sqlite-file", "postgresql"])
def _engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite-file":
        engine = create_engine(f"sqlite:///{tmp_path / 'clients.db'}")
    else:
        engine = create_engine(request.getfixturevalue("fresh_postgres_url"))
    upgrade(engine)
    yield engine
    engine.dispose()


def _sealed(engine: Engine, client_id: str) -> bytes | None:
    table = sa.table(TABLE, sa.column("id"), sa.column("client_secret_ciphertext"))
    query = sa.select(table.c.client_secret_ciphertext).where(table.c.id == client_id)
    with engine.connect() as conn:
        value = conn.execute(query).scalar_one()
    return None if value is None else bytes(value)


def _set_sealed(engine: Engine, client_id: str, value: bytes | None) -> None:
    table = sa.table(TABLE, sa.column("id"), sa.column("client_secret_ciphertext"))
    with engine.begin() as conn:
        conn.execute(
            table.update().where(table.c.id == client_id).values(client_secret_ciphertext=value)
        )


def _insert_old_row(engine: Engine, client_id: str, sealed: bytes | None) -> None:
    """A row as written before the metadata was sealed: a bare JSON secret, or NULL."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO credlti_oauth_clients (id, client_id, client_secret_ciphertext,"
                " token_endpoint, revocation_endpoint, auth_method, name) VALUES (:id,"
                " 'cid-old', :sealed, 'https://old.example/token', NULL, 'client_secret_post',"
                " 'Old')"
            ),
            {"id": client_id, "sealed": sealed},
        )


def _old_secret(keyring: KeyRing, client_id: str, secret: str) -> bytes:
    aad = associated_data("oauth_client", client_id, "client_secret")
    return keyring.encrypt_json(secret, aad, nonce=bytes(NONCE_BYTES))


def test_every_field_round_trips(engine: Engine) -> None:
    """Secret, endpoints, scopes and availability come back equal; replacing rewrites them."""
    registry = SqlOAuthClientRegistry(engine, KEYRING)
    registry.add(RICH)
    registry.add(PUBLIC)

    assert registry.get_client("mail") == RICH
    assert registry.get_client("public") == PUBLIC
    assert PUBLIC.client_secret is None
    # The column is set even for a client without a secret (its metadata is sealed).
    assert _sealed(engine, "public") is not None

    # A fresh registry (another process) reads the same.
    again = SqlOAuthClientRegistry(engine, KeyRing([OLD_KEY]))
    assert again.get_client("mail") == RICH

    narrowed = OAuthClient(id="mail", client_id="cid-2", token_endpoint="https://t.example/token")
    registry.add(narrowed)
    assert registry.get_client("mail") == narrowed


def test_clients_for_project(engine: Engine) -> None:
    """Global clients everywhere, the others only in their projects; ordered by name."""
    registry = SqlOAuthClientRegistry(engine, KEYRING)
    registry.add(RICH)
    registry.add(PUBLIC)
    _insert_old_row(engine, "legacy", None)
    legacy = registry.get_client("legacy")
    assert legacy is not None

    assert registry.clients_for_project("project-etl-hidden") == [PUBLIC, RICH, legacy]
    assert registry.clients_for_project("other") == [PUBLIC, legacy]
    assert registry.clients_for_project(None) == [PUBLIC, legacy]


def test_old_format_rows_stay_readable(engine: Engine) -> None:
    """A bare sealed secret, or NULL, reads as a client without metadata."""
    registry = SqlOAuthClientRegistry(engine, KEYRING)
    _insert_old_row(engine, "with-secret", _old_secret(KEYRING, "with-secret", "old-s3cret"))
    _insert_old_row(engine, "no-secret", None)

    expected = OAuthClient(
        id="with-secret",
        client_id="cid-old",
        client_secret="old-s3cret",
        token_endpoint="https://old.example/token",
        name="Old",
    )
    assert registry.get_client("with-secret") == expected
    assert registry.get_client("no-secret") == OAuthClient(
        id="no-secret", client_id="cid-old", token_endpoint="https://old.example/token", name="Old"
    )


def test_tampered_or_moved_ciphertext_is_refused(engine: Engine) -> None:
    """A flipped byte, or a sealed value copied to another row, does not open."""
    registry = SqlOAuthClientRegistry(engine, KEYRING)
    registry.add(RICH)
    registry.add(PUBLIC)
    sealed = _sealed(engine, "mail")
    assert sealed is not None

    _set_sealed(engine, "public", sealed)
    with pytest.raises(DecryptionError):
        registry.get_client("public")
    with pytest.raises(DecryptionError):
        registry.clients_for_project(None)

    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    _set_sealed(engine, "mail", bytes(tampered))
    with pytest.raises(DecryptionError):
        registry.get_client("mail")


def test_unknown_sealed_format_is_refused(engine: Engine) -> None:
    """A sealed value that opens but is no known format is an error, not a guess."""
    registry = SqlOAuthClientRegistry(engine, KEYRING)
    registry.add(PUBLIC)
    aad = associated_data("oauth_client", "public", "client_secret")
    for value in ({"v": 3, "secret": "x"}, {"v": 2}, ["x"]):
        _set_sealed(engine, "public", KEYRING.encrypt_json(value, aad, nonce=bytes(NONCE_BYTES)))
        with pytest.raises(DecryptionError) as caught:
            registry.get_client("public")
        assert "x" not in json.dumps(dict(caught.value.details))


def test_reencrypt_keeps_the_metadata(engine: Engine) -> None:
    """After a key rotation every client is resealed by the new key, fields unchanged."""
    SqlOAuthClientRegistry(engine, KEYRING).add(RICH)
    SqlOAuthClientRegistry(engine, KEYRING).add(PUBLIC)
    _insert_old_row(engine, "legacy", _old_secret(KEYRING, "legacy", "old-s3cret"))
    _insert_old_row(engine, "empty", None)
    rotated = KeyRing([NEW_KEY, OLD_KEY])
    registry = SqlOAuthClientRegistry(engine, rotated)
    before = {i: registry.get_client(i) for i in ("mail", "public", "legacy", "empty")}

    assert registry.reencrypt() == 3
    assert registry.reencrypt() == 0

    only_new = SqlOAuthClientRegistry(engine, KeyRing([NEW_KEY]))
    assert {i: only_new.get_client(i) for i in before} == before
    assert _sealed(engine, "empty") is None
    legacy = _sealed(engine, "legacy")
    assert legacy is not None
    aad = associated_data("oauth_client", "legacy", "client_secret")
    assert KeyRing([NEW_KEY]).decrypt_json(legacy, aad)["v"] == 2  # rewritten as current


def test_nothing_sealed_is_stored_in_clear(engine: Engine, tmp_path: Path) -> None:
    """Neither the secret nor any metadata appears in the table (or the database file)."""
    registry = SqlOAuthClientRegistry(engine, KEYRING)
    registry.add(RICH)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM credlti_oauth_clients")).all()
    dump = repr(rows) + "".join(
        bytes(v).decode("latin-1") for row in rows for v in row if isinstance(v, bytes | memoryview)
    )
    assert "cid-123" in dump  # the public columns are there
    for text in HIDDEN:
        assert text not in dump
    if engine.dialect.name == "sqlite":
        engine.dispose()
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("clients"))
        assert b"cid-123" in raw
        for text in HIDDEN:
            assert text.encode() not in raw


def test_the_async_registry_reencrypts_like_the_sync_one(
    engine: Engine, loop: asyncio.AbstractEventLoop
) -> None:
    SqlOAuthClientRegistry(engine, KEYRING).add(RICH)
    SqlOAuthClientRegistry(engine, KEYRING).add(PUBLIC)
    _insert_old_row(engine, "legacy", _old_secret(KEYRING, "legacy", "old-s3cret"))
    rotated = KeyRing([NEW_KEY, OLD_KEY])
    before = {i: SqlOAuthClientRegistry(engine, rotated).get_client(i) for i in ("mail", "legacy")}
    async_engine = async_engine_for(engine, loop)
    try:
        registry = AsyncSqlOAuthClientRegistry(async_engine, rotated)
        assert loop.run_until_complete(registry.reencrypt()) == 3
        assert loop.run_until_complete(registry.reencrypt()) == 0
    finally:
        dispose(async_engine, loop)
    only_new = SqlOAuthClientRegistry(engine, KeyRing([NEW_KEY]))
    assert {i: only_new.get_client(i) for i in before} == before
