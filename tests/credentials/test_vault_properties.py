"""Property tests: every public Vault method, any input, on memory, SQLite and PostgreSQL.

For arbitrary JSON-ish and hostile values (bytes, lone surrogates, NUL, NaN and
infinities, huge integers, deep nesting, huge strings, objects) every call either
succeeds or raises a :class:`~credlti.errors.CredltiError`; after a failure the
store's rows are exactly as before; and the secret put in bodies and tokens appears
in no error (text, args, repr, details, field errors, chain, credlti's traceback
frames) and no audit event.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, cast

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlti.credentials import Credential, ProjectRef, TransferForm, Vault, VaultUser
from credlti.errors import CredltiError

from .backends import BACKENDS, Backend, open_backend
from .test_vault_gate import assert_clean

SECRET = "zq9S3CR3T"
EXAMPLES = {"memory": 50, "sqlite": 30, "postgresql": 30}
ALICE = VaultUser(id="alice", email="alice@example.org")
BOB = VaultUser(id="bob", email="bob@example.org")


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Pick a strategy by weight (``one_of`` flattens nested choices, skewing the mix)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


def mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """*valid* two times in three, else *hostile*."""
    return weighted((2, valid), (1, hostile))


def _nest(depth: int) -> dict[str, Any]:
    body: dict[str, Any] = {"password": SECRET + "-deep"}
    for _ in range(depth):
        body = {"x": body}
    return body


SECRET_TEXT = st.text(max_size=12).map(lambda t: SECRET + t)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**53, -(2**53), 2**64 + 1]),
    st.builds(lambda: 10**5000),  # built lazily: its repr() raises
    st.floats(),
    SECRET_TEXT,
    st.binary(max_size=8).map(lambda b: SECRET.encode() + b),
    st.sampled_from([SECRET + "\udc80", SECRET + "\x00", SECRET + "\n", SECRET * 2000]),
    st.datetimes(),
    st.frozensets(st.integers(), max_size=2),
    st.builds(object),
)
KEYS = st.one_of(
    st.text(max_size=6),
    st.integers(-3, 3),
    st.binary(max_size=3),
    st.sampled_from(["password", "\udc80", "a\x00", "k" * 300]),
)
JSONISH = st.recursive(
    LEAVES,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(KEYS, kids, max_size=3),
    max_leaves=8,
)
BODIES = st.one_of(
    st.dictionaries(KEYS, JSONISH, max_size=4),
    JSONISH,
    st.integers(30, 3000).map(_nest),
    st.sampled_from(
        [
            '{"password": "' + SECRET + '", "n": NaN}',
            '{"password": "' + SECRET + '", "n": Infinity}',
            '{"password": "' + SECRET + '"',
            '{"password": "' + SECRET + '", "n": 1e999}',
            "[" * 5000 + "]" * 5000,
            '{"password": "' + SECRET + '"}',
        ]
    ),
    st.fixed_dictionaries(
        {"host": st.just("db"), "port": st.sampled_from(["5432", "NaN", "²", "1e999"])},
        optional={"password": SECRET_TEXT, "user": st.just("u"), "database": st.just("d")},
    ),
)
BAD_IDS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["\udc80", "a\x00b", "x" * 300, "", "id\n", "alice"]),
    st.none(),
    st.integers(),
    st.binary(max_size=4),
    st.builds(object),
)
USERS = mostly(
    st.sampled_from(
        [
            ALICE,
            BOB,
            VaultUser(id="carol", email="carol@example.org"),
            VaultUser(id="\udc80", email="x@example.org"),
            VaultUser(id="ghost", email="ghost@example.org"),
            VaultUser(id="a\x00b", email="\udc80"),
        ]
    ),
    BAD_IDS,
)
ACTORS = weighted((3, st.none()), (1, st.sampled_from(["alice", "bob"])), (1, BAD_IDS))
TOKENS = st.fixed_dictionaries(
    {
        "access_token": st.one_of(SECRET_TEXT, LEAVES),
        "refresh_token": st.one_of(SECRET_TEXT, LEAVES),
        "scope": mostly(st.just("mail.read"), LEAVES),
    },
    optional={
        "expires_in": st.one_of(st.sampled_from([3600, "3600", "²", "٣٦٠٠", -1, 10**40]), LEAVES),
        "expires_at": st.one_of(st.sampled_from(["2026-01-15T13:00:00Z", "²", 10**20]), LEAVES),
        "token_type": mostly(st.just("Bearer"), LEAVES),
        "id_token": JSONISH,
    },
)
FIELDS = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(st.builds(lambda: f"n-{uuid.uuid4().hex[:10]}"), st.text(), LEAVES),
            "schema": st.one_of(st.sampled_from(["raw", "http", "postgresql", "oauth"]), LEAVES),
            "owner_id": mostly(st.just("alice"), BAD_IDS),
            "user_id": mostly(st.just("bob"), BAD_IDS),
            "body": BODIES,
            "production": st.one_of(st.booleans(), LEAVES),
            "external_id": mostly(st.just("ext-1"), BAD_IDS),
            "project_ids": st.one_of(
                st.lists(st.sampled_from(["p1", "p2", "p9"]), max_size=3),
                st.lists(BAD_IDS, max_size=2),
                LEAVES,
            ),
            "oauth_client_id": st.one_of(st.sampled_from(["google", "gooogle"]), BAD_IDS),
            "oauth_token": st.one_of(TOKENS, JSONISH),
            "expected_scopes": mostly(st.just(["mail.read"]), JSONISH),
            "bogus": LEAVES,
        },
    ),
    LEAVES,
)
SECRET_BODIES = st.dictionaries(st.sampled_from(["password", "api_key"]), SECRET_TEXT, min_size=1)
HOSTILE_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "production": LEAVES,
        "external_id": BAD_IDS,
        "project_ids": st.one_of(st.lists(BAD_IDS, max_size=2), LEAVES),
        "expected_scopes": JSONISH,
        "bogus": LEAVES,
    },
)
#: Valid raw or OAuth attributes with hostile bodies, tokens or extra fields.
NEARLY_VALID = st.one_of(
    st.builds(
        lambda body, extra: {
            "name": f"v-{uuid.uuid4().hex[:10]}",
            "schema": "raw",
            "owner_id": "alice",
            "body": body,
            **extra,
        },
        st.one_of(SECRET_BODIES, BODIES),
        HOSTILE_FIELDS,
    ),
    st.builds(
        lambda token, client: {
            "name": f"o-{uuid.uuid4().hex[:10]}",
            "schema": "oauth",
            "owner_id": "alice",
            "body": {},
            "oauth_client_id": client,
            "oauth_token": token,
        },
        TOKENS,
        weighted((4, st.just("google")), (1, st.just("gooogle")), (1, BAD_IDS)),
    ),
)
ATTRS = weighted((6, NEARLY_VALID), (2, FIELDS), (1, LEAVES))


def _target(backend: Backend) -> Credential:
    return _real(backend).create_credential(
        {
            "name": f"c-{uuid.uuid4().hex[:12]}",
            "schema": "raw",
            "owner_id": "alice",
            "body": {"password": SECRET + uuid.uuid4().hex},
            "project_ids": ["p1"],
        }
    )


def _records(target: Credential) -> st.SearchStrategy[Any]:
    """The target as a record or id, a tampered record, or a hostile id."""
    return weighted(
        (4, st.sampled_from([target, target.id])),
        (1, st.builds(lambda body: attrs.evolve(target, body=body), JSONISH)),
        (1, st.builds(lambda cid: attrs.evolve(target, id=cid), BAD_IDS)),
        (1, st.builds(lambda owner: attrs.evolve(target, owner_id=owner), BAD_IDS)),
        (
            1,
            st.builds(
                lambda client: attrs.evolve(target, schema="oauth", oauth_client_id=client),
                BAD_IDS,
            ),
        ),
        (2, BAD_IDS),
    )


def _real(backend: Backend) -> Vault:
    """The vault itself, for setup steps (not the snapshotting wrapper)."""
    vault: Vault = getattr(backend.vault, "real", backend.vault)
    return vault


def _pending(backend: Backend) -> tuple[Credential, str]:
    cred = _target(backend)
    return cred, _real(backend).initiate_credential_transfer(ALICE, BOB, cred).token


Call = Callable[[Backend, st.DataObject], Any]


def _create(b: Backend, d: st.DataObject) -> Any:
    return b.vault.create_credential(d.draw(ATTRS), actor_id=d.draw(ACTORS))


def _change(b: Backend, d: st.DataObject) -> Any:
    current = d.draw(st.one_of(st.none(), _records(_target(b))))
    return b.vault.change_credential(current, d.draw(st.one_of(st.none(), ATTRS)))


def _update(b: Backend, d: st.DataObject) -> Any:
    target = d.draw(_records(_target(b)))
    return b.vault.update_credential(target, d.draw(ATTRS), actor_id=d.draw(ACTORS))


def _one_credential(method: str, *, actor: bool = False) -> Call:
    def call(b: Backend, d: st.DataObject) -> Any:
        target = d.draw(_records(_target(b)))
        extra = {"actor_id": d.draw(ACTORS)} if actor else {}
        return getattr(b.vault, method)(target, **extra)

    return call


def _by_id(method: str, *, actor: bool = False) -> Call:
    def call(b: Backend, d: st.DataObject) -> Any:
        target = _target(b)
        cid = d.draw(mostly(st.just(target.id), BAD_IDS))
        extra = {"actor_id": d.draw(ACTORS)} if actor else {}
        return getattr(b.vault, method)(cid, **extra)

    return call


def _for_update(b: Backend, d: st.DataObject) -> Any:
    target = _target(b)
    with b.vault.get_credential_for_update(d.draw(mostly(st.just(target.id), BAD_IDS))):
        return None


def _by_share(b: Backend, d: st.DataObject) -> Any:
    target = _target(b)
    share = d.draw(mostly(st.just(target.shares[0].id), BAD_IDS))
    return b.vault.get_credential_by_project_credential(share)


def _get_schema(b: Backend, d: st.DataObject) -> Any:
    return b.vault.get_schema(d.draw(st.one_of(st.sampled_from(["raw", "oauth"]), BAD_IDS)))


def _list(b: Backend, d: st.DataObject) -> Any:
    refs = st.builds(ProjectRef, id=mostly(st.just("p1"), BAD_IDS))
    return b.vault.list_credentials(d.draw(weighted((1, refs), (1, USERS))))


def _list_in_project(b: Backend, d: st.DataObject) -> Any:
    refs = mostly(st.builds(ProjectRef, id=mostly(st.just("p1"), BAD_IDS)), BAD_IDS)
    return b.vault.list_user_credentials_in_project(d.draw(USERS), d.draw(refs))


def _scrubber(b: Backend, d: st.DataObject) -> Any:
    target = _target(b)
    return b.vault.scrubber_for(*d.draw(st.lists(_records(target), max_size=3)))


def _refresh(b: Backend, d: st.DataObject) -> Any:
    target = _real(b).create_credential(
        {
            "name": f"o-{uuid.uuid4().hex[:10]}",
            "schema": "oauth",
            "owner_id": "alice",
            "body": {},
            "oauth_client_id": "google",
            "oauth_token": {
                "access_token": SECRET + "-at",
                "refresh_token": SECRET + "-rt",
                "scope": "s",
                "expires_in": 1,
            },
        }
    )
    b.clock.advance(600)
    return b.vault.maybe_refresh_token(d.draw(_records(target)), actor_id=d.draw(ACTORS))


def _batch(method: str, *, lazy: bool = False) -> Call:
    def call(b: Backend, d: st.DataObject) -> Any:
        sizes = st.one_of(st.none(), st.integers(-5, 20_000), BAD_IDS, st.floats())
        result = getattr(b.vault, method)(batch_size=d.draw(sizes))
        return list(result) if lazy else result  # the *_batches iterators run when consumed

    return call


def _transfer_form(b: Backend, d: st.DataObject) -> Any:
    return b.vault.transfer_form(d.draw(mostly(st.just("bob@example.org"), BAD_IDS)))


def _validate_transfer(b: Backend, d: st.DataObject) -> Any:
    emails = st.one_of(st.sampled_from(["bob@example.org", "b@x\n", "\udc80@x"]), st.text())
    forms = mostly(st.builds(TransferForm, email=emails), BAD_IDS)
    return b.vault.validate_credential_transfer(
        d.draw(forms), d.draw(USERS), d.draw(_records(_target(b)))
    )


def _initiate(b: Backend, d: st.DataObject) -> Any:
    target = _target(b)
    return b.vault.initiate_credential_transfer(
        d.draw(USERS), d.draw(USERS), d.draw(_records(target))
    )


def _reissue(b: Backend, d: st.DataObject) -> Any:
    cred, _ = _pending(b)
    owners = mostly(st.just("alice"), USERS)
    return b.vault.reissue_transfer_token(d.draw(_records(cred)), d.draw(owners))


def _confirm(b: Backend, d: st.DataObject) -> Any:
    cred, token = _pending(b)
    return b.vault.confirm_transfer(
        d.draw(mostly(st.just(cred.id), BAD_IDS)),
        d.draw(st.one_of(st.sampled_from(["bob", "carol"]), BAD_IDS)),
        d.draw(mostly(st.just("alice"), BAD_IDS)),
        d.draw(weighted((3, st.just(token)), (1, st.text(max_size=50)), (1, BAD_IDS))),
    )


def _revoke(b: Backend, d: st.DataObject) -> Any:
    cred, _ = _pending(b)
    owners = mostly(st.just("alice"), USERS)
    return b.vault.revoke_transfer(d.draw(mostly(st.just(cred.id), BAD_IDS)), d.draw(owners))


def _close(b: Backend, d: st.DataObject) -> Any:
    return None  # close() takes no input; calling it would end the backend's HTTP client


CALLS: dict[str, Call] = {
    "basic_auth_for": _one_credential("basic_auth_for"),
    "cancel_scheduled_deletion": _by_id("cancel_scheduled_deletion", actor=True),
    "change_credential": _change,
    "close": _close,
    "confirm_transfer": _confirm,
    "create_credential": _create,
    "delete_credential": _one_credential("delete_credential", actor=True),
    "get_credential": _by_id("get_credential"),
    "get_credential_by_project_credential": _by_share,
    "get_credential_for_update": _for_update,
    "get_credential_or_raise": _by_id("get_credential_or_raise"),
    "get_schema": _get_schema,
    "has_activity_in_projects": _one_credential("has_activity_in_projects"),
    "initiate_credential_transfer": _initiate,
    "list_credentials": _list,
    "list_user_credentials_in_project": _list_in_project,
    "maybe_refresh_token": _refresh,
    "purge_deleted": _batch("purge_deleted"),
    "purge_deleted_batches": _batch("purge_deleted_batches", lazy=True),
    "reencrypt": _batch("reencrypt"),
    "reencrypt_batches": _batch("reencrypt_batches", lazy=True),
    "reissue_transfer_token": _reissue,
    "revoke_transfer": _revoke,
    "schedule_credential_deletion": _one_credential("schedule_credential_deletion", actor=True),
    "scrubber_for": _scrubber,
    "sensitive_values_for": _one_credential("sensitive_values_for"),
    "transfer_form": _transfer_form,
    "update_credential": _update,
    "validate_credential_transfer": _validate_transfer,
}


def test_every_public_vault_method_is_covered() -> None:
    public = {
        name
        for name, member in inspect.getmembers(Vault)
        if not name.startswith("_") and callable(member) and not isinstance(member, type)
    }
    assert public == set(CALLS), "add a strategy for every public Vault method"


@pytest.fixture(name="backend", params=BACKENDS)
def _backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    def url() -> str:
        return str(request.getfixturevalue("postgres_url"))

    with open_backend(request.param, tmp_path_factory.mktemp("gate"), url) as backend:
        yield backend


@pytest.mark.parametrize("method", sorted(CALLS))
def test_any_input_works_or_fails_cleanly(backend: Backend, method: str) -> None:
    call = CALLS[method]

    @settings(
        max_examples=EXAMPLES[backend.name],
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        backend.notifier.down = data.draw(st.booleans())
        seen = len(backend.tee.recorded)
        try:
            error = _run(backend, call, data)
        finally:
            backend.notifier.down = False
        if error is not None:
            assert_clean(error, SECRET)
        for event in backend.tee.recorded[seen:]:
            assert SECRET not in repr(event), event.action

    check()


class _Snapshotting:
    """Wraps the vault so the store is snapshotted right before the method under test."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.real = backend.vault
        self.before: Any = None

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.backend.vault, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.before = self.backend.snapshot()
            return method(*args, **kwargs)

        return call


def _run(backend: Backend, call: Call, data: st.DataObject) -> CredltiError | None:
    # Setup (fresh target credentials, pending transfers) uses the real vault; the
    # method under test is the one call made through the snapshotting wrapper.
    wrapper = _Snapshotting(backend)
    proxy = attrs.evolve(backend, vault=cast("Vault", wrapper))
    try:
        call(proxy, data)
    except CredltiError as exc:
        assert wrapper.before is not None, "the call failed before reaching the vault"
        assert backend.snapshot() == wrapper.before, "a failed call changed stored rows"
        return exc
    return None


@pytest.mark.parametrize("bad", ["\udc80", "a\x00b", "x" * 300])
def test_the_reported_id_cases_on_every_backend(backend: Backend, bad: str) -> None:
    """The ids of the report: not found (never UnicodeEncodeError, 503 or stored)."""
    vault = backend.vault
    target = _target(backend)
    before = backend.snapshot()
    assert vault.get_credential(bad) is None
    assert vault.get_credential_by_project_credential(bad) is None
    calls: list[Callable[[], Any]] = [
        lambda: vault.confirm_transfer(bad, "bob", "alice", "t"),
        lambda: vault.revoke_transfer(bad, "alice"),
        lambda: vault.update_credential(target, {"project_ids": [bad]}),
        lambda: vault.update_credential(target, {"external_id": bad}),
        lambda: vault.create_credential(
            {"name": "n", "schema": "raw", "owner_id": bad, "body": {}}
        ),
        lambda: vault.change_credential(attrs.evolve(target, owner_id=bad), {"name": "m"}),
        lambda: vault.maybe_refresh_token(
            attrs.evolve(target, schema="oauth", oauth_client_id=bad)
        ),
        lambda: vault.initiate_credential_transfer(
            ALICE, VaultUser(id=bad, email="x@example.org"), target
        ),
    ]
    for call in calls:
        with pytest.raises(CredltiError) as caught:
            call()
        assert_clean(caught.value, SECRET)
    assert backend.snapshot() == before


def test_writes_return_exactly_what_a_read_returns(backend: Backend) -> None:
    """Create and update build their result without reading it back: it must equal a read.

    Bodies with values the schema coerces, shares added and removed, OAuth tokens
    replaced: whatever a successful write returns is what ``get_credential`` returns
    afterwards, on every backend.
    """
    vault = _real(backend)
    projects = st.lists(st.sampled_from(["p1", "p2"]), max_size=2, unique=True)
    updates = st.fixed_dictionaries(
        {},
        optional={
            "name": st.builds(lambda: f"u-{uuid.uuid4().hex[:10]}"),
            "body": st.fixed_dictionaries(
                {
                    "host": st.just("db2"),
                    "port": st.sampled_from(["5432", 6543, "  7 "]),
                    "database": st.just("d"),
                    "user": st.just("u"),
                    "password": SECRET_TEXT,
                },
                optional={"ssl": st.booleans()},
            ),
            "production": st.booleans(),
            "external_id": st.one_of(st.none(), st.just("ext-9")),
            "project_ids": projects,
        },
    )

    @settings(max_examples=EXAMPLES[backend.name] // 2, deadline=None, database=None)
    @given(
        body=st.fixed_dictionaries(
            {
                "host": st.just("db"),
                "port": st.sampled_from(["5432", 5432, " 1 "]),
                "database": st.just("app"),
                "user": st.just("svc"),
                "password": SECRET_TEXT,
            },
            optional={"ssl": st.sampled_from([True, "true", "false"])},
        ),
        shared=projects,
        changes=st.lists(updates, max_size=3),
    )
    def check(body: dict[str, Any], shared: list[str], changes: list[dict[str, Any]]) -> None:
        created = vault.create_credential(
            {
                "name": f"w-{uuid.uuid4().hex[:10]}",
                "schema": "postgresql",
                "owner_id": "alice",
                "body": body,
                "project_ids": shared,
            }
        )
        assert isinstance(created.body, dict)
        assert isinstance(created.body["port"], int)  # coerced, as stored
        assert created == vault.get_credential(created.id)
        current = created
        for change in changes:
            current = vault.update_credential(current, change)
            assert current == vault.get_credential(current.id)

    check()


#: Two hours after the backends' frozen clock (12:00 UTC), written at UTC+2.
_SOON_PLUS_2 = "2026-01-15T16:00:00+02:00"


def test_an_oauth_write_returns_its_token_as_a_read_does(backend: Backend) -> None:
    vault = _real(backend)
    token = {"access_token": SECRET + "-at", "refresh_token": SECRET + "-rt", "scope": "s"}
    created = vault.create_credential(
        {
            "name": f"o-{uuid.uuid4().hex[:10]}",
            "schema": "oauth",
            "owner_id": "alice",
            "body": {},
            "oauth_client_id": "google",
            "oauth_token": {**token, "expires_at": _SOON_PLUS_2, "id_token": {"sub": "1"}},
            "project_ids": ["p2", "p1"],
        }
    )
    assert created.oauth_token is not None
    assert created.oauth_token.version == 1
    assert [s.project_id for s in created.shares] == sorted(
        ["p1", "p2"], key=lambda p: next(s.id for s in created.shares if s.project_id == p)
    )
    assert created == vault.get_credential(created.id)
    # The same instant in the same form (UTC), whatever zone the provider wrote it in.
    read = vault.get_credential(created.id)
    assert read is not None
    assert read.oauth_token is not None
    expires, read_expires = created.oauth_token.expires_at, read.oauth_token.expires_at
    assert expires is not None
    assert read_expires is not None
    assert expires.isoformat() == read_expires.isoformat() == "2026-01-15T14:00:00+00:00"
    assert expires.utcoffset() == timedelta(0)
    assert created.created_at.isoformat() == read.created_at.isoformat()
    updated = vault.update_credential(
        created, {"oauth_token": {**token, "access_token": "next-at"}, "project_ids": ["p2"]}
    )
    assert updated.oauth_token is not None
    assert updated.oauth_token.version == 2
    assert [s.project_id for s in updated.shares] == ["p2"]
    assert updated == vault.get_credential(created.id)
    renamed = vault.update_credential(updated, {"name": f"r-{uuid.uuid4().hex[:10]}"})
    assert renamed.oauth_token == updated.oauth_token
    assert renamed == vault.get_credential(created.id)
