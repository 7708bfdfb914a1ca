"""The Advantage stores: contracts on memory and SQL, and SQL's encryption at rest."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from credlti.adapters.memory import (
    AsyncEncryptedToolKeyStore,
    AsyncMemoryServiceTokenCache,
    AsyncMemoryToolKeyStore,
    EncryptedToolKeyStore,
    MemoryServiceTokenCache,
    MemoryToolKeyStore,
)
from credlti.adapters.sql import (
    SCHEMA_VERSION,
    AsyncSqlServiceTokenCache,
    AsyncSqlToolKeyStore,
    SqlServiceTokenCache,
    SqlToolKeyStore,
    create_engine,
    metadata,
    upgrade,
)
from credlti.credentials import EncryptionKey, KeyRing
from credlti.errors import DecryptionError
from credlti.lti.keys import KeyState, generate_key
from credlti.lti.services import SCOPE_NRPS_READONLY
from credlti.testing import SimulatedPlatform
from tests.adapters.advantage_contract import (
    KEYS,
    T0,
    ServiceTokenCacheContract,
    ToolKeyStoreContract,
    cache_key,
    token,
)
from tests.adapters.sql_async_engines import async_engine_for, dispose

K1 = EncryptionKey(id="k1", material=secrets.token_bytes(32))
RING = KeyRing([K1])


@pytest.fixture(name="engine", params=["sqlite", "postgresql"])
def _engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An upgraded database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'advantage.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = create_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


class TestMemoryToolKeyStore(ToolKeyStoreContract):
    """The contract on the plain memory store."""

    @pytest.fixture
    def key_store(self) -> MemoryToolKeyStore:
        return MemoryToolKeyStore()

    @pytest.fixture
    def async_key_store(self) -> AsyncMemoryToolKeyStore:
        return AsyncMemoryToolKeyStore()


class TestEncryptedMemoryToolKeyStore(ToolKeyStoreContract):
    """The contract on the encrypted memory store."""

    @pytest.fixture
    def key_store(self) -> EncryptedToolKeyStore:
        return EncryptedToolKeyStore(RING)

    @pytest.fixture
    def async_key_store(self) -> AsyncEncryptedToolKeyStore:
        return AsyncEncryptedToolKeyStore(RING)


# The contract looks its adapter fixture up per form at run time: name the
# parametrised engine here so that its parameters are generated.
@pytest.mark.usefixtures("engine")
class TestSqlToolKeyStore(ToolKeyStoreContract):
    """The contract on SQLite and PostgreSQL."""

    @pytest.fixture
    def key_store(self, engine: sa.Engine) -> SqlToolKeyStore:
        return SqlToolKeyStore(engine, ring=RING)

    @pytest.fixture
    def async_key_store(
        self, engine: sa.Engine, loop: asyncio.AbstractEventLoop
    ) -> Iterator[AsyncSqlToolKeyStore]:
        async_engine = async_engine_for(engine, loop)
        yield AsyncSqlToolKeyStore(async_engine, ring=RING)
        dispose(async_engine, loop)


class TestMemoryServiceTokenCache(ServiceTokenCacheContract):
    """The contract on the memory cache."""

    @pytest.fixture
    def token_cache(self) -> MemoryServiceTokenCache:
        return MemoryServiceTokenCache()

    @pytest.fixture
    def async_token_cache(self) -> AsyncMemoryServiceTokenCache:
        return AsyncMemoryServiceTokenCache()


# The contract looks its adapter fixture up per form at run time: name the
# parametrised engine here so that its parameters are generated.
@pytest.mark.usefixtures("engine")
class TestSqlServiceTokenCache(ServiceTokenCacheContract):
    """The contract on SQLite and PostgreSQL."""

    @pytest.fixture
    def token_cache(self, engine: sa.Engine) -> SqlServiceTokenCache:
        return SqlServiceTokenCache(engine, ring=RING)

    @pytest.fixture
    def async_token_cache(
        self, engine: sa.Engine, loop: asyncio.AbstractEventLoop
    ) -> Iterator[AsyncSqlServiceTokenCache]:
        async_engine = async_engine_for(engine, loop)
        yield AsyncSqlServiceTokenCache(async_engine, ring=RING)
        dispose(async_engine, loop)


def _all_bytes(engine: sa.Engine, table: str) -> bytes:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(metadata.tables[table])).all()
    return repr([tuple(r) for r in rows]).encode()


def test_sql_stores_keep_no_secret_in_clear(engine: sa.Engine) -> None:
    """Neither private key material nor the access token is readable in the tables."""
    keys, tokens = SqlToolKeyStore(engine, ring=RING), SqlServiceTokenCache(engine, ring=RING)
    keys.save_key(KEYS[0])
    tokens.put_token(cache_key(), token("very-secret-access-token"))

    dump = _all_bytes(engine, "credlti_tool_keys") + _all_bytes(engine, "credlti_service_tokens")

    pem_body = KEYS[0].to_pem().decode().splitlines()[1]
    assert pem_body.encode() not in dump
    assert b"very-secret-access-token" not in dump
    assert KEYS[0].private_jwk()["d"].encode() not in dump


def test_swapped_ciphertexts_fail_to_open(engine: sa.Engine) -> None:
    """A key ciphertext copied under another kid does not decrypt (AAD binds the kid)."""
    store = SqlToolKeyStore(engine, ring=RING)
    store.save_key(KEYS[0])
    store.save_key(KEYS[1])
    table = metadata.tables["credlti_tool_keys"]
    with engine.begin() as conn:
        blob = conn.execute(
            sa.select(table.c.ciphertext).where(table.c.kid == KEYS[0].kid)
        ).scalar_one()
        conn.execute(table.update().where(table.c.kid == KEYS[1].kid).values(ciphertext=blob))

    with pytest.raises(DecryptionError):
        store.get_key(KEYS[1].kid)


def test_key_ring_rotation_and_reencrypt(engine: sa.Engine) -> None:
    """After a new primary key, old rows still open; reencrypt moves them to the new key."""
    SqlToolKeyStore(engine, ring=RING).save_key(KEYS[0])
    k2 = EncryptionKey(id="k2", material=secrets.token_bytes(32))
    rotated = SqlToolKeyStore(engine, ring=KeyRing([k2, K1]))

    assert rotated.get_key(KEYS[0].kid) is not None
    assert rotated.reencrypt() == 1
    assert rotated.reencrypt() == 0  # already under the primary key: nothing rewritten
    found = SqlToolKeyStore(engine, ring=KeyRing([k2])).get_key(KEYS[0].kid)
    assert found is not None
    assert found.to_record() == KEYS[0].to_record()
    with pytest.raises(DecryptionError):
        SqlToolKeyStore(engine, ring=RING).get_key(KEYS[0].kid)


def test_workers_sharing_the_sql_cache_request_one_token(engine: sa.Engine) -> None:
    """Two Tools (two workers) on one database share keys and tokens: one token request."""
    platform = SimulatedPlatform()
    key = generate_key(now=platform.clock(), state=KeyState.CURRENT)
    SqlToolKeyStore(engine, ring=RING).save_key(key)
    workers = [
        platform.tool(
            keys=SqlToolKeyStore(engine, ring=RING),
            token_cache=SqlServiceTokenCache(engine, ring=RING),
        )
        for _ in range(2)
    ]
    platform.trust_tool_keys(workers[0].jwks())

    tokens = [w.services.get_token(platform.registration, [SCOPE_NRPS_READONLY]) for w in workers]

    assert tokens[0] == tokens[1]
    assert platform.token_requests == 1
    assert workers[0].jwks() == workers[1].jwks()


def test_expired_tokens_are_swept(engine: sa.Engine) -> None:
    """sweep() deletes tokens past their expiry and keeps the others."""
    cache = SqlServiceTokenCache(engine, ring=RING)
    cache.put_token(cache_key(), token("short", minutes=1))
    cache.put_token(cache_key(deployment_id="d"), token("long", minutes=90))

    assert cache.sweep(T0 + (token("x", minutes=30).expires_at - T0)) == 1
    assert cache.get_token(cache_key()) is None
    assert cache.get_token(cache_key(deployment_id="d")) == token("long", minutes=90)


def test_schema_has_the_advantage_tables(engine: sa.Engine) -> None:
    """Migration 3 created the tool-key and service-token tables."""
    tables = set(sa.inspect(engine).get_table_names())
    assert {"credlti_tool_keys", "credlti_service_tokens"} <= tables
    assert SCHEMA_VERSION >= 3


@pytest.mark.parametrize("form", ["sync", "async"])
def test_service_token_cache_reencrypt(
    engine: sa.Engine, loop: asyncio.AbstractEventLoop, form: str
) -> None:
    """Cached tokens move to the new primary key; one no key opens is dropped."""
    SqlServiceTokenCache(engine, ring=RING).put_token(cache_key(), token("old-at", minutes=60))
    lost = EncryptionKey(id="lost", material=secrets.token_bytes(32))
    SqlServiceTokenCache(engine, ring=KeyRing([lost])).put_token(
        cache_key(deployment_id="d"), token("lost-at", minutes=60)
    )
    k2 = EncryptionKey(id="k2", material=secrets.token_bytes(32))
    rotated = KeyRing([k2, K1])
    if form == "sync":
        cache = SqlServiceTokenCache(engine, ring=rotated)
        counts = [cache.reencrypt(), cache.reencrypt()]
    else:
        async_engine = async_engine_for(engine, loop)
        try:
            acache = AsyncSqlServiceTokenCache(async_engine, ring=rotated)
            counts = [loop.run_until_complete(acache.reencrypt()) for _ in range(2)]
        finally:
            dispose(async_engine, loop)

    assert counts == [2, 0]  # one resealed, one dropped; then nothing to do
    only_new = SqlServiceTokenCache(engine, ring=KeyRing([k2]))
    assert only_new.get_token(cache_key()) == token("old-at", minutes=60)
    assert only_new.get_token(cache_key(deployment_id="d")) is None  # a miss, not an error


def test_service_token_reencrypt_never_overwrites_a_newer_token(engine: sa.Engine) -> None:
    """A token stored between the read and the reseal is kept (compare-and-set)."""
    from credlti.adapters.sql._advantage import _SEALED_TOKENS, _stale_tokens

    SqlServiceTokenCache(engine, ring=RING).put_token(cache_key(), token("old-at", minutes=60))
    k2 = EncryptionKey(id="k2", material=secrets.token_bytes(32))
    rotated = KeyRing([k2, K1])
    with engine.connect() as conn:
        statements = _stale_tokens(conn.execute(_SEALED_TOKENS).all(), rotated, secrets.token_bytes)
    SqlServiceTokenCache(engine, ring=rotated).put_token(cache_key(), token("new-at", minutes=60))
    with engine.begin() as conn:
        assert [conn.execute(s).rowcount for s in statements] == [0]
    assert SqlServiceTokenCache(engine, ring=KeyRing([k2])).get_token(cache_key()) == token(
        "new-at", minutes=60
    )
