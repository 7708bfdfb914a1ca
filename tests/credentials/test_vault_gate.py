"""The vault's gate: hostile input gives a typed error that holds no secret; rule gaps closed."""

from __future__ import annotations

import types
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from credlti.adapters.memory import MemoryVaultStore
from credlti.credentials import BodyLimits, EncryptionKey, KeyRing, Vault, VaultConfig
from credlti.credentials._oauth import MAX_RETRY_AFTER, parse_expiry, parse_retry_after
from credlti.errors import (
    ConfigurationError,
    CredentialNotFoundError,
    CredentialValidationError,
    CredltiError,
    NotOwnerError,
    TransferTokenError,
    UserNotFoundError,
    VaultArgumentError,
)

from .helpers import Kit, json_response

SECRET = "zq9S3CR3T-value"
NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)
SRC = str(Path(__file__).resolve().parents[2] / "src" / "credlti")


def assert_clean(error: BaseException, secret: str = SECRET) -> None:
    """No secret in the error's text, args, repr, details, field errors, chain or frames."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        texts = [str(link), repr(link), repr(link.args)]
        if isinstance(link, CredltiError):
            texts.append(repr(dict(link.details)))
        texts.append(repr(getattr(link, "field_errors", ())))
        for text in texts:
            assert secret not in text, text[:200]
        link = link.__cause__ or link.__context__
    tb = error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        # The wrapper around the public method holds the caller's own arguments.
        if frame.f_code.co_filename.startswith(SRC) and frame.f_code.co_name != "_public_call":
            for name, value in frame.f_locals.items():
                assert secret not in repr(value), f"{frame.f_code.co_name}: {name}"
        tb = tb.tb_next


def _deep(n: int) -> dict[str, Any]:
    body: dict[str, Any] = {}
    inner = body
    for _ in range(n):
        inner["x"] = {}
        inner = inner["x"]
    inner["password"] = SECRET
    return body


HOSTILE_BODIES = {
    "bytes": {"password": SECRET.encode()},
    "set": {"password": {SECRET}},
    "datetime": {"password": NOW},
    "object": {"password": types.SimpleNamespace(secret=SECRET)},
    "surrogate": {"password": SECRET + "\udc80"},
    "deep": _deep(20_000),
    "huge-int": {"password": SECRET, "n": 10**5000},
    "nan": {"password": SECRET, "n": float("nan")},
    "inf": {"password": SECRET, "n": float("inf")},
    "nan-text": '{"password": "' + SECRET + '", "n": NaN}',
    "infinity-text": '{"password": "' + SECRET + '", "n": -Infinity}',
    "bad-text": '{"password": "' + SECRET + '"',
    "huge-secret": {"password": SECRET * 2000},
    "non-text-key": {1: SECRET},
}


@pytest.mark.parametrize("body", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
def test_hostile_bodies_are_refused_cleanly(kit: Kit, body: Any) -> None:
    attrs = {"name": "x", "schema": "raw", "owner_id": "alice", "body": body}
    with pytest.raises(CredentialValidationError) as caught:
        kit.vault.create_credential(attrs)
    assert_clean(caught.value)
    assert caught.value.field_errors
    assert all(e.path.startswith("body") for e in caught.value.field_errors)
    assert len(kit.store) == 0
    assert not kit.vault.change_credential(None, attrs).valid

    existing = kit.pg()
    with pytest.raises(CredentialValidationError) as caught:
        kit.vault.update_credential(existing, {"body": body})
    assert_clean(caught.value)
    assert kit.vault.get_credential(existing.id) == existing


@pytest.mark.parametrize("text", ["NaN", "-inf", "1e999", "Infinity", "٣", "²", "0x10"])
def test_schema_number_coercion_takes_ascii_finite_numbers_only(kit: Kit, text: str) -> None:
    kit.vault.schemas.register(
        "metric", {"type": "object", "properties": {"n": {"type": "number"}}}
    )
    result = kit.vault.change_credential(
        None, {"name": "m", "schema": "metric", "owner_id": "alice", "body": {"n": text}}
    )
    assert result.errors_for("body.n") == ["must be a number"]


def test_schema_integer_coercion_stays_within_safe_integers(kit: Kit) -> None:
    check = kit.vault.change_credential
    base = {"name": "m", "schema": "postgresql", "owner_id": "alice"}
    body = {"host": "h", "database": "d", "user": "u", "password": "p"}
    for bad in ["٥٤٣٢", "9" * 17, "9007199254740992"]:
        result = check(None, {**base, "body": {**body, "port": bad}})
        assert result.errors_for("body.port") == ["must be an integer"], bad
    assert check(None, {**base, "body": {**body, "port": "5432"}}).valid


def test_oauth_token_extra_fields_pass_the_gate(kit: Kit) -> None:
    with pytest.raises(CredentialValidationError) as caught:
        kit.oauth(id_token=SECRET + "\udc80", instance=float("nan"))
    assert_clean(caught.value)
    assert {e.path for e in caught.value.field_errors} == {
        "oauth_token.id_token",
        "oauth_token.instance",
    }


@pytest.mark.parametrize("value", ["²", "٣٦٠٠", "1e3", "-5", "9" * 40])
def test_expires_in_takes_ascii_digits_only(kit: Kit, value: str) -> None:
    with pytest.raises(CredentialValidationError) as caught:
        kit.oauth(expires_in=value)  # type: ignore[arg-type]
    assert [e.path for e in caught.value.field_errors] == ["oauth_token.expires_in"]


def test_expires_at_within_bounds(kit: Kit) -> None:
    now = kit.clock()

    def errors(when: Any) -> list[str]:
        token = {"access_token": "a", "refresh_token": "r", "scope": "s", "expires_at": when}
        result = kit.vault.change_credential(
            None,
            {
                "name": "o",
                "schema": "oauth",
                "owner_id": "alice",
                "body": {},
                "oauth_client_id": "google",
                "oauth_token": token,
            },
        )
        return [e.path for e in result.errors]

    assert errors((now - timedelta(days=2)).isoformat()) == ["oauth_token.expires_at"]
    assert errors(int((now + timedelta(days=730)).timestamp())) == ["oauth_token.expires_at"]
    assert errors("²") == ["oauth_token.expires_at"]
    assert errors((now - timedelta(hours=12)).isoformat()) == []
    assert errors(int((now + timedelta(days=300)).timestamp())) == []


def test_refresh_answer_out_of_bounds_falls_back_to_the_default_lifetime(kit: Kit) -> None:
    cred = kit.oauth(expires_in=60)
    kit.clock.advance(120)
    far = int((kit.clock() + timedelta(days=3650)).timestamp())
    kit.provider.responses.append(json_response(200, {"access_token": "n", "expires_at": far}))
    fresh = kit.vault.maybe_refresh_token(cred)
    assert fresh.oauth_token is not None
    assert fresh.oauth_token.expires_at == kit.clock() + timedelta(hours=1)


def test_parsers_take_ascii_digits_and_cap() -> None:
    assert parse_retry_after("²", NOW) is None
    assert parse_retry_after("٣", NOW) is None
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("9" * 12, NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("9" * 13, NOW) is None
    assert parse_expiry({"expires_in": "²"}, NOW) is None
    assert parse_expiry({"expires_at": "²"}, NOW) is None


def test_retry_after_superscript_in_the_refresh_path(kit: Kit) -> None:
    from credlti.errors import TemporaryRefreshError

    cred = kit.oauth(expires_in=60)
    kit.clock.advance(120)
    superscript = [(b"Retry-After", "²".encode())]  # as a peer may send it
    kit.provider.responses.append(httpx.Response(503, headers=superscript))
    with pytest.raises(TemporaryRefreshError) as caught:
        kit.vault.maybe_refresh_token(cred)
    assert caught.value.retry_after is None


@pytest.mark.parametrize("bad", ["\udc80", "a\x00b", "x" * 300, "", "a\nb"])
def test_malformed_ids_are_not_found(kit: Kit, bad: str) -> None:
    vault = kit.vault
    assert vault.get_credential(bad) is None
    assert vault.get_credential_by_project_credential(bad) is None
    for call in (
        lambda: vault.get_credential_or_raise(bad),
        lambda: vault.update_credential(bad, {"name": "n"}),
        lambda: vault.delete_credential(bad),
        lambda: vault.schedule_credential_deletion(bad),
        lambda: vault.cancel_scheduled_deletion(bad),
        lambda: vault.revoke_transfer(bad, "alice"),
        lambda: vault.confirm_transfer(bad, "bob", "alice", "t"),
        lambda: vault.has_activity_in_projects(bad),
        lambda: vault.sensitive_values_for(bad),
        lambda: vault.maybe_refresh_token(bad),
    ):
        with pytest.raises(CredentialNotFoundError):
            call()
    cred = kit.pg()
    with pytest.raises(UserNotFoundError):
        vault.confirm_transfer(cred.id, bad, "alice", "t")
    with pytest.raises(NotOwnerError):
        vault.confirm_transfer(cred.id, "bob", bad, "t")
    with pytest.raises(NotOwnerError):
        vault.revoke_transfer(cred.id, bad)


@pytest.mark.parametrize("token", [None, 42, b"t", "", "t\udc80", "t" * 500])
def test_confirm_transfer_with_a_malformed_token(kit: Kit, token: Any) -> None:
    cred = kit.pg()
    with pytest.raises(TransferTokenError):
        kit.vault.confirm_transfer(cred.id, "bob", "alice", token)


@pytest.mark.parametrize(
    "call",
    [
        lambda v: v.get_credential(None),
        lambda v: v.get_credential(b"id"),
        lambda v: v.create_credential(None),
        lambda v: v.create_credential([("name", "x")]),
        lambda v: v.create_credential({}, actor_id=b"alice"),
        lambda v: v.update_credential(42, {}),
        lambda v: v.list_credentials({"id": "alice"}),
        lambda v: v.list_user_credentials_in_project("alice", "p1"),
        lambda v: v.purge_deleted(batch_size=0),
        lambda v: v.purge_deleted(batch_size=True),
        lambda v: v.reencrypt(batch_size=10**9),
        lambda v: v.transfer_form(b"bob@example.org"),
        lambda v: v.validate_credential_transfer({"email": "x"}, None, None),
        lambda v: v.initiate_credential_transfer("alice", "bob", "c"),
        lambda v: v.change_credential("not-a-record", {}),
    ],
)
def test_wrong_typed_arguments_are_typed_errors(kit: Kit, call: Any) -> None:
    with pytest.raises(VaultArgumentError) as caught:
        call(kit.vault)
    assert isinstance(caught.value, TypeError)
    assert caught.value.code == "invalid_argument"


def test_names_and_emails_must_end_at_the_end(kit: Kit) -> None:
    result = kit.vault.change_credential(
        None, {"name": "db\n", "schema": "raw", "owner_id": "alice", "body": {}}
    )
    assert result.errors_for("name") == ["credential name has invalid format"]
    form = kit.vault.validate_credential_transfer(
        kit.vault.transfer_form("bob@example.org\n"), kit.alice, kit.pg()
    )
    assert not form.valid
    with pytest.raises(ConfigurationError):
        EncryptionKey(id="k1\n", material=bytes(32))


def test_unknown_oauth_client_is_refused_when_the_vault_has_a_registry(kit: Kit) -> None:
    with pytest.raises(CredentialValidationError) as caught:
        kit.vault.create_credential(
            {
                "name": "typo",
                "schema": "oauth",
                "owner_id": "alice",
                "body": {},
                "oauth_client_id": "gooogle",
                "oauth_token": {"access_token": "a", "refresh_token": "r", "scope": "s"},
            }
        )
    assert [e.path for e in caught.value.field_errors] == ["oauth_client_id"]
    cred = kit.oauth()
    with pytest.raises(CredentialValidationError):
        kit.vault.update_credential(cred, {"oauth_client_id": "gooogle"})
    # Echoing the stored client id is not a change.
    kit.vault.update_credential(cred, {"oauth_client_id": "google", "name": "renamed"})


def test_without_a_registry_client_ids_are_stored_unchecked() -> None:
    vault = Vault(
        store=MemoryVaultStore(), keyring=KeyRing([EncryptionKey(id="k", material=bytes(32))])
    )
    cred = vault.create_credential(
        {
            "name": "o",
            "schema": "oauth",
            "owner_id": "u",
            "body": {},
            "oauth_client_id": "any",
            "oauth_token": {"access_token": "a", "refresh_token": "r", "scope": "s"},
        }
    )
    assert cred.oauth_client_id == "any"
    assert vault.maybe_refresh_token(cred) == cred  # no registry: never refreshed


def test_schema_references_resolve_locally_or_are_refused(kit: Kit) -> None:
    remote = {"type": "object", "properties": {"k": {"$ref": "https://schemas.example/k.json"}}}
    with pytest.raises(ConfigurationError, match="fetches no remote schema"):
        kit.vault.schemas.register("remote", remote)
    with pytest.raises(ConfigurationError):
        kit.vault.schemas.register("dangling", {"type": "object", "$ref": "#/$defs/none"})
    local = kit.vault.schemas.register(
        "local",
        {
            "type": "object",
            "properties": {"k": {"$ref": "#/$defs/key"}},
            "$defs": {"key": {"type": "string", "minLength": 4}},
        },
    )
    assert [e.path for e in local.validate({"k": "abc"})[1]] == ["body.k"]


def test_caps_are_configurable() -> None:
    config = VaultConfig(body_limits=BodyLimits(max_value_bytes=8, max_body_bytes=64))
    vault = Vault(
        store=MemoryVaultStore(),
        keyring=KeyRing([EncryptionKey(id="k", material=bytes(32))]),
        config=config,
    )
    base = {"name": "n", "schema": "raw", "owner_id": "u"}
    assert vault.change_credential(None, {**base, "body": {"k": "x" * 8}}).valid
    result = vault.change_credential(None, {**base, "body": {"k": "x" * 9}})
    assert result.errors_for("body.k") == ["is longer than 8 bytes"]
    assert not vault.change_credential(None, {**base, "body": {"k": ["1234567"] * 10}}).valid


def test_sanitized_errors_keep_credlti_causes_and_drop_foreign_ones() -> None:
    from credlti.credentials._gate import sanitized
    from credlti.errors import StorageUnavailableError

    def throw(error: BaseException, cause: BaseException | None) -> None:
        raise error from cause

    def raised(error: BaseException, cause: BaseException | None) -> BaseException:
        try:
            throw(error, cause)
        except BaseException as exc:
            return exc
        raise AssertionError

    leaky = ValueError(SECRET)  # as a codec or parser error would carry the input
    error = raised(CredentialValidationError("fix the body"), leaky)
    assert isinstance(error, CredltiError)
    clean = sanitized(error)
    assert clean.__cause__ is None
    assert clean.__traceback__ is None
    assert_clean(clean)

    driver = RuntimeError("connection reset")  # a driver's error under a storage error
    storage = raised(StorageUnavailableError("the store failed"), driver)
    assert isinstance(storage, StorageUnavailableError)
    outer = raised(CredentialValidationError("name taken"), storage)
    assert isinstance(outer, CredltiError)
    kept = sanitized(outer)
    assert kept.__cause__ is storage
    assert storage.__cause__ is driver
