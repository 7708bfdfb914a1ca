"""Launch sessions: save a validated launch, reopen it in a later request on any worker.

``tool.save_launch(launch)`` seals the launch (a versioned JSON document, AES-GCM
under a key derived from the state secret, the storage key as associated data) into
a :class:`~credlti.ports.LaunchSessionStore`; ``tool.load_launch(handle)`` reopens
it with the host's own registration and deployment objects, or raises
:class:`~credlti.errors.LaunchSessionNotFoundError`.
"""

from __future__ import annotations

import asyncio
import json
import math
import pickle
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlti.adapters.memory import (
    AsyncMemoryLaunchSessionStore,
    AsyncMemoryLaunchStorage,
    MemoryLaunchSessionStore,
    MemoryLaunchStorage,
)
from credlti.errors import (
    CredltiError,
    LaunchSessionNotFoundError,
    StorageUnavailableError,
)
from credlti.lti import (
    DEFAULT_LAUNCH_TTL,
    AsyncTool,
    Deployment,
    LaunchContext,
    Registration,
    Tool,
    clear_launch_session_cookie_header,
    launch_session_cookie_header,
    launch_session_cookie_name,
)
from credlti.lti._claims import ROLES, parse_claims
from credlti.lti._launch_effects import SaveLaunchSession
from credlti.lti._sessions import session_key_ring, storage_key
from credlti.lti.keys import KeyState, generate_key
from credlti.lti.services import AsyncGradeService, GradeService, LineItem, RosterService, Score
from credlti.testing import INSTRUCTOR, LEARNER, SimulatedPlatform

LAUNCH_URL = "https://tool.example.com/launch"
SECRET = b"s" * 32
OTHER_SECRET = b"o" * 32
KEY = generate_key(now=datetime(2026, 1, 1, tzinfo=timezone.utc), state=KeyState.CURRENT)


@attrs.frozen
class HostRegistration:
    """A host's own registration object (an ORM row, say)."""

    record: Registration
    tenant: str = "tenant-1"

    def to_registration(self) -> Registration:
        """The credlti record."""
        return self.record


@attrs.frozen
class HostDeployment:
    """A host's own deployment object."""

    record: Deployment

    def to_deployment(self) -> Deployment:
        """The credlti record."""
        return self.record


Storage = MemoryLaunchStorage[HostRegistration, HostDeployment]


@attrs.define
class World:
    """A platform, host storage and session store shared by every tool ("worker")."""

    platform: SimulatedPlatform
    storage: Storage
    sessions: MemoryLaunchSessionStore

    def tool(self, **kwargs: Any) -> Tool[HostRegistration, HostDeployment]:
        kwargs.setdefault("state_secret", SECRET)
        kwargs.setdefault("keys", KEY)
        kwargs.setdefault("sessions", self.sessions)
        tool = self.platform.tool(self.storage, **kwargs)
        self.platform.trust_tool_keys(tool.jwks())
        return tool

    def async_tool(self, **kwargs: Any) -> AsyncTool[HostRegistration, HostDeployment]:
        # The async forms of the same memory storage and sessions: sync and async
        # tools ("workers") see the same data.
        kwargs.setdefault("state_secret", SECRET)
        kwargs.setdefault("keys", KEY)
        kwargs.setdefault("sessions", AsyncMemoryLaunchSessionStore.over(self.sessions))
        return self.platform.async_tool(AsyncMemoryLaunchStorage.over(self.storage), **kwargs)

    def launch(self, tool: Tool[Any, Any], **claims: Any) -> LaunchContext[Any, Any]:
        redirect = tool.handle_login(self.platform.login_params(), LAUNCH_URL)
        form = self.platform.launch(redirect, claims=claims)
        return tool.handle_callback(form, redirect.cookie_value)

    def only_key(self) -> str:
        (key,) = list(self.sessions._items)
        return key


@pytest.fixture(name="world")
def _world(platform: SimulatedPlatform) -> World:
    storage: Storage = MemoryLaunchStorage()
    storage.add_registration(HostRegistration(platform.registration))
    storage.add_deployment(platform.registration, HostDeployment(platform.deployment))
    return World(platform, storage, MemoryLaunchSessionStore())


def _reason(call: Callable[[], object]) -> str:
    with pytest.raises(LaunchSessionNotFoundError) as caught:
        call()
    assert caught.value.http_status == 401
    return str(caught.value.details["reason"])


# ----------------------------------------------------------------------------- round trip


def test_a_reopened_launch_equals_the_validated_one(world: World) -> None:
    """Claims, raw payload, validation time and the host's own objects come back."""
    tool = world.tool()
    launch = world.launch(tool)

    reopened = world.tool().load_launch(tool.save_launch(launch))  # another worker

    assert reopened == launch
    assert reopened.claims == launch.claims
    assert reopened.raw == launch.raw
    assert reopened.launch_id == launch.launch_id
    assert reopened.validated_at == launch.validated_at == world.platform.clock()
    assert isinstance(reopened.registration, HostRegistration)
    assert reopened.registration is launch.registration
    assert reopened.deployment is launch.deployment
    assert reopened.claims.roles == launch.claims.roles
    assert reopened.claims.context == launch.claims.context
    assert reopened.claims.nrps == launch.claims.nrps


def test_claims_with_any_json_text_survive(world: World) -> None:
    """Lone surrogates, NUL and non-ASCII text (valid in a token's JSON) round-trip."""
    tool = world.tool()
    launch = world.launch(tool)
    odd = "A\ud800 \x00 é 日本 \U0001f600"
    raw = {**launch.raw, "name": odd, "https://example.com/x": [odd, 2**70, 1.5, None]}
    changed = attrs.evolve(launch, raw=raw, claims=parse_claims(raw, audience=("c",), roles=None))

    reopened = tool.load_launch(tool.save_launch(changed))

    assert reopened.raw == raw
    assert reopened.claims.name == odd
    assert reopened.claims == changed.claims


def test_a_store_with_async_methods_works_with_async_tool(world: World) -> None:
    """AsyncTool awaits a session store's coroutines (an asyncio Redis client, say)."""

    @attrs.define
    class AsyncStore:
        inner: MemoryLaunchSessionStore = attrs.field(factory=MemoryLaunchSessionStore)

        async def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
            await asyncio.sleep(0)
            self.inner.save(key, data, expires_at=expires_at)

        async def load(self, key: str, *, now: datetime) -> bytes | None:
            await asyncio.sleep(0)
            return self.inner.load(key, now=now)

        async def delete(self, key: str) -> bool:
            await asyncio.sleep(0)
            return self.inner.delete(key)

    launch = world.launch(world.tool())

    async def main() -> None:
        tool = world.async_tool(sessions=AsyncStore())
        handle = await tool.save_launch(launch)
        assert await tool.load_launch(handle) == launch
        assert await tool.end_launch(handle) is True
        with pytest.raises(LaunchSessionNotFoundError):
            await tool.load_launch(handle)
        await tool.aclose()

    asyncio.run(main())


def test_a_reopened_launch_can_be_saved_again(world: World) -> None:
    """load then save: a new handle, the same launch."""
    tool = world.tool()
    first = tool.save_launch(world.launch(tool))
    second = tool.save_launch(tool.load_launch(first))

    assert second != first
    assert tool.load_launch(second) == tool.load_launch(first)


def test_grades_work_on_a_reopened_launch_from_another_worker(world: World) -> None:
    """AGS through the simulated platform with a launch reopened elsewhere."""
    validating = world.tool()
    handle = validating.save_launch(world.launch(validating, **world.platform.services.ags_claim()))
    worker = world.tool()
    grades = worker.grades(worker.load_launch(handle))

    item = grades.create_line_item(LineItem(label="Quiz", score_maximum=10))
    grades.post_score(
        Score(
            user_id="user-1",
            activity_progress="Completed",
            grading_progress="FullyGraded",
            score_given=9,
            score_maximum=10,
        ),
        item,
    )

    assert isinstance(grades, GradeService)
    assert [li["label"] for li in world.platform.services.line_items()] == ["Quiz"]
    assert item.id is not None
    assert world.platform.services.scores(item.id)[0]["scoreGiven"] == 9


def test_roster_works_on_a_reopened_launch(world: World) -> None:
    """NRPS through the simulated platform with a reopened launch."""
    world.platform.services.add_member("user-1", [INSTRUCTOR], name="Ada Lovelace")
    world.platform.services.add_member("user-2", [LEARNER], name="Alan Turing")
    tool = world.tool()
    handle = tool.save_launch(world.launch(tool, **world.platform.services.nrps_claim()))

    roster = tool.roster(tool.load_launch(handle))

    assert isinstance(roster, RosterService)
    assert {m.user_id for m in roster.get_membership().members} == {"user-1", "user-2"}


def test_async_tool_saves_reopens_and_grades(world: World) -> None:
    """The async twin: the same sessions, async services on the reopened launch."""
    sync_tool = world.tool()
    handle = sync_tool.save_launch(world.launch(sync_tool, **world.platform.services.ags_claim()))

    async def main() -> list[str]:
        tool = world.async_tool()
        launch = await tool.load_launch(handle)
        again = await tool.save_launch(launch, ttl=timedelta(minutes=5))
        assert await tool.load_launch(again) == launch
        grades = tool.grades(launch)
        assert isinstance(grades, AsyncGradeService)
        await grades.create_line_item(LineItem(label="Essay", score_maximum=100))
        assert await tool.end_launch(again) is True
        assert await tool.end_launch(again) is False
        with pytest.raises(LaunchSessionNotFoundError):
            await tool.load_launch(again)
        labels = [item.label for item in await grades.list_line_items()]
        await tool.aclose()
        return labels

    assert asyncio.run(main()) == ["Essay"]


def test_end_launch_forgets_the_session(world: World) -> None:
    """After end_launch the handle leads nowhere; ending twice is False."""
    tool = world.tool()
    handle = tool.save_launch(world.launch(tool))

    assert tool.end_launch(handle) is True
    assert tool.end_launch(handle) is False
    assert _reason(lambda: tool.load_launch(handle)) == "unknown"


# ----------------------------------------------------------------------------- expiry


def test_sessions_expire_on_the_injected_clock(world: World) -> None:
    """ttl counts on the tool's clock; the default is an hour."""
    tool = world.tool()
    launch = world.launch(tool)
    short = tool.save_launch(launch, ttl=30)
    default = tool.save_launch(launch)

    world.platform.clock.advance(29)
    assert tool.load_launch(short) == launch
    world.platform.clock.advance(1)
    assert _reason(lambda: tool.load_launch(short)) == "unknown"
    world.platform.clock.advance(DEFAULT_LAUNCH_TTL - 31)
    assert tool.load_launch(default) == launch
    world.platform.clock.advance(1)
    assert _reason(lambda: tool.load_launch(default)) == "unknown"


@attrs.define
class ForgetfulStore:
    """A store that never expires anything (a misconfigured cache)."""

    items: dict[str, bytes] = attrs.field(factory=dict)

    def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
        self.items[key] = data

    def load(self, key: str, *, now: datetime) -> bytes | None:
        return self.items.get(key)

    def delete(self, key: str) -> bool:
        return self.items.pop(key, None) is not None


def test_the_sealed_expiry_holds_even_if_the_store_forgets_it(world: World) -> None:
    """The expiry inside the seal is checked too: a stale copy cannot be replayed."""
    tool = world.tool(sessions=ForgetfulStore())
    handle = tool.save_launch(world.launch(tool), ttl=10)

    world.platform.clock.advance(10)

    assert _reason(lambda: tool.load_launch(handle)) == "expired"


@pytest.mark.parametrize(
    "ttl", [0, -1, math.nan, math.inf, 30 * 24 * 3600 + 1, timedelta(0), True, "60"]
)
def test_ttl_must_be_positive_and_at_most_30_days(world: World, ttl: Any) -> None:
    """A bad ttl is a programming error, refused before anything is stored."""
    tool = world.tool()
    launch = world.launch(tool)

    with pytest.raises(ValueError, match="ttl"):
        tool.save_launch(launch, ttl=ttl)
    assert len(world.sessions) == 0


# ----------------------------------------------------------------------------- what is stored


def test_the_store_sees_a_digest_and_sealed_json_never_the_handle_or_a_pickle(
    world: World,
) -> None:
    """Key: SHA-256 of the handle. Value: AES-GCM of a versioned JSON document."""
    tool = world.tool()
    launch = world.launch(tool)
    handle = tool.save_launch(launch)
    key = world.only_key()
    data = world.sessions.load(key, now=world.platform.clock())
    assert data is not None

    assert key == storage_key(handle)
    assert len(key) == 64
    assert handle not in key
    assert handle.encode() not in data
    assert b"Ada Lovelace" not in data
    assert b"user-1" not in data
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(data)  # noqa: S301 - proving it is not a pickle
    document = session_key_ring([SECRET]).decrypt_json(
        data, b"credlti launch session v1\x00" + key.encode()
    )
    assert document["v"] == 1
    assert document["issuer"] == world.platform.issuer
    assert document["client_id"] == world.platform.client_id
    assert document["deployment_id"] == world.platform.deployment_id
    assert document["message_type"] == "LtiResourceLinkRequest"
    assert datetime.fromisoformat(document["validated_at"]) == launch.validated_at
    assert document["payload"] == dict(launch.raw)


def test_handles_are_long_random_and_distinct(world: World) -> None:
    """43 URL-safe characters from 32 bytes of the tool's random_bytes."""
    calls: list[int] = []

    def counting(n: int) -> bytes:
        calls.append(n)
        return bytes([len(calls) % 256]) * n

    tool = world.tool(random_bytes=counting)
    launch = world.launch(tool)
    calls.clear()
    handle = tool.save_launch(launch)

    assert calls == [32, 12]  # the handle, then the seal's nonce
    assert handle == "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"

    real = world.tool()
    handles = {real.save_launch(launch) for _ in range(500)}
    assert len(handles) == 500
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert all(len(h) == 43 and set(h) <= alphabet for h in handles)
    # 500 handles use (nearly) the whole alphabet in every position: no fixed part.
    assert all(len({h[i] for h in handles}) > 40 for i in range(42))


def test_random_bytes_of_the_wrong_size_are_refused(world: World) -> None:
    """An injected source that returns too few bytes cannot make weak handles."""
    validated = world.launch(world.tool())
    tool = world.tool(random_bytes=lambda n: b"\x01" * min(n, 16))

    with pytest.raises(ValueError, match="random_bytes"):
        tool.save_launch(validated)
    assert len(world.sessions) == 0


# ----------------------------------------------------------------------------- tampering


def test_altered_stored_bytes_are_unreadable(world: World) -> None:
    """Any flipped bit in the stored value fails authentication."""
    tool = world.tool()
    handle = tool.save_launch(world.launch(tool))
    key = world.only_key()
    data = world.sessions.load(key, now=world.platform.clock())
    assert data is not None

    for index in (0, 1, 5, len(data) // 2, len(data) - 1):
        changed = bytearray(data)
        changed[index] ^= 0x01
        world.sessions.save(key, bytes(changed), expires_at=world.platform.clock() + timedelta(1))
        assert _reason(lambda: tool.load_launch(handle)) in {"unreadable", "unknown"}


def test_a_session_moved_to_another_key_is_unreadable(world: World) -> None:
    """The storage key is associated data: copying a value under another key fails."""
    tool = world.tool()
    victim = tool.save_launch(world.launch(tool))
    attacker = tool.save_launch(world.launch(tool))
    now = world.platform.clock()
    stolen = world.sessions.load(storage_key(victim), now=now)
    assert stolen is not None

    world.sessions.save(storage_key(attacker), stolen, expires_at=now + timedelta(hours=1))

    assert _reason(lambda: tool.load_launch(attacker)) == "unreadable"


def test_another_secret_cannot_open_and_rotation_keeps_sessions(world: World) -> None:
    """A tool with another secret cannot read; [new, old] reads the old sessions."""
    handle = world.tool().save_launch(world.launch(world.tool()))

    assert _reason(lambda: world.tool(state_secret=OTHER_SECRET).load_launch(handle)) == (
        "unreadable"
    )
    rotated = world.tool(state_secret=[OTHER_SECRET, SECRET])
    reopened = rotated.load_launch(handle)
    fresh = rotated.save_launch(reopened)
    assert world.tool(state_secret=OTHER_SECRET).load_launch(fresh) == reopened


def _seal(world: World, handle: str, document: object) -> None:
    key = storage_key(handle)
    data = session_key_ring([SECRET]).encrypt_json(
        document, b"credlti launch session v1\x00" + key.encode(), nonce=b"\x00" * 12
    )
    world.sessions.save(key, data, expires_at=world.platform.clock() + timedelta(hours=1))


def test_sealed_documents_of_a_wrong_shape_are_unreadable(world: World) -> None:
    """Even a correctly sealed document must have the version and fields expected."""
    tool = world.tool()
    handle = tool.save_launch(world.launch(tool))
    data = world.sessions.load(world.only_key(), now=world.platform.clock())
    assert data is not None
    good = session_key_ring([SECRET]).decrypt_json(
        data, b"credlti launch session v1\x00" + world.only_key().encode()
    )
    broken: list[object] = [
        [],
        "text",
        {**good, "v": 2},
        {**good, "issuer": 5},
        {**good, "client_id": ""},
        {**good, "audience": "credlti-tool"},
        {**good, "audience": [1]},
        {**good, "payload": []},
        {**good, "expires_at": "soon"},
        {**good, "validated_at": "yesterday"},
        {**good, "payload": {**good["payload"], ROLES: 7}},
    ]
    for document in broken:
        _seal(world, handle, document)
        assert _reason(lambda: tool.load_launch(handle)) == "unreadable", document


@attrs.define
class HostileStore:
    """A store that answers with whatever it is told to."""

    answer: object = None
    raises: Exception | None = None

    def save(self, key: str, data: bytes, *, expires_at: datetime) -> None:
        return None

    def load(self, key: str, *, now: datetime) -> object:
        if self.raises is not None:
            raise self.raises
        return self.answer

    def delete(self, key: str) -> bool:
        if self.raises is not None:
            raise self.raises
        return True


HOSTILE_ANSWERS: list[object] = [
    b"",
    b"\x00",
    b"\x01",
    b"\x01\xff",
    b"\x01\x10" + b"k" * 16 + b"\x00" * 40,
    b"\x01\x02\xff\xfe" + b"\x00" * 40,
    bytes(range(256)) * 64,
    bytearray(b"\x01\x00" + b"\x00" * 40),
    memoryview(b"\x02abc"),
    "a string",
    12345,
    {"v": 1},
    ["list"],
    object(),
]


@pytest.mark.parametrize("answer", HOSTILE_ANSWERS, ids=lambda a: type(a).__name__)
def test_garbage_from_the_store_is_a_typed_error(world: World, answer: object) -> None:
    """Whatever the store returns, load_launch raises only LaunchSessionNotFoundError."""
    tool = world.tool(sessions=HostileStore(answer=answer))
    handle = world.tool().save_launch(world.launch(world.tool()))

    assert _reason(lambda: tool.load_launch(handle)) == "unreadable"


#: One platform and tool for the property tests (platform keys are slow to make).
PLATFORM = SimulatedPlatform()
HOSTILE = HostileStore()
FUZZ_TOOL = PLATFORM.tool(sessions=HOSTILE, state_secret=SECRET)
FUZZ_STORE = MemoryLaunchSessionStore()
FUZZ_MEMORY_TOOL = PLATFORM.tool(sessions=FUZZ_STORE, state_secret=SECRET)


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_stored_bytes_never_escape_as_other_errors(data: bytes) -> None:
    """Random bytes (with the right version byte or not) are unreadable, nothing else."""
    for blob in (data, b"\x01" + data, b"\x01\x10" + data):
        HOSTILE.answer = blob
        assert _reason(lambda: FUZZ_TOOL.load_launch("A" * 43)) == "unreadable"


def test_a_failing_store_is_storage_unavailable(world: World) -> None:
    """A store raising its own exception surfaces as StorageUnavailableError."""
    tool = world.tool(sessions=HostileStore(raises=ConnectionError("redis down")))

    with pytest.raises(StorageUnavailableError):
        tool.load_launch("A" * 43)
    with pytest.raises(StorageUnavailableError):
        tool.end_launch("A" * 43)


# ----------------------------------------------------------------------------- registrations


def test_a_removed_registration_ends_its_sessions(world: World) -> None:
    """The registration is read again at load: removed, the session is gone."""
    tool = world.tool()
    handle = tool.save_launch(world.launch(tool))

    world.storage.remove_registration(world.platform.issuer, world.platform.client_id)

    assert _reason(lambda: tool.load_launch(handle)) == "registration_removed"


def test_a_removed_deployment_ends_its_sessions(world: World) -> None:
    """Likewise for the deployment."""
    tool = world.tool()
    handle = tool.save_launch(world.launch(tool))
    storage: Storage = MemoryLaunchStorage()
    storage.add_registration(HostRegistration(world.platform.registration))
    world.storage = storage  # the host deleted the deployment (a new storage without it)

    assert _reason(lambda: world.tool().load_launch(handle)) == "deployment_removed"


def test_a_replaced_registration_is_the_one_handed_back(world: World) -> None:
    """The host gets its current object, not a copy frozen in the session."""
    tool = world.tool()
    handle = tool.save_launch(world.launch(tool))
    updated = HostRegistration(world.platform.registration, tenant="tenant-2")
    world.storage.add_registration(updated)

    assert tool.load_launch(handle).registration is updated


# ----------------------------------------------------------------------------- hostile handles

HOSTILE_HANDLES: list[object] = [
    "",
    "A" * 42,
    "A" * 44,
    "A" * 42 + "=",
    "A" * 42 + "\x00",
    "A" * 42 + "\ud800",
    "A" * 42 + "é",
    "\ud800" * 43,
    "A" * 10_000_000,
    None,
    43,
    b"A" * 43,
    ["A" * 43],
]


@pytest.mark.parametrize("handle", HOSTILE_HANDLES, ids=lambda h: f"{type(h).__name__}")
def test_malformed_handles_are_not_found_without_asking_the_store(
    world: World, handle: Any
) -> None:
    """A malformed handle never reaches the store and never raises anything else."""
    tool = world.tool(sessions=HostileStore(raises=AssertionError("store reached")))

    assert _reason(lambda: tool.load_launch(handle)) == "unknown"
    assert tool.end_launch(handle) is False


@given(st.one_of(st.text(max_size=300), st.text(min_size=43, max_size=43)))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_handle_is_a_typed_answer(handle: str) -> None:
    """Text of any kind (surrogates, NUL, anything): not found, or False; nothing else."""
    with pytest.raises(LaunchSessionNotFoundError) as caught:
        FUZZ_MEMORY_TOOL.load_launch(handle)
    if len(handle) >= 3:
        assert handle not in str(caught.value)
        assert handle not in repr(caught.value)
    assert FUZZ_MEMORY_TOOL.end_launch(handle) is False
    assert len(FUZZ_STORE) == 0


# ----------------------------------------------------------------------------- no secrets shown


def test_no_secret_appears_in_errors_reprs_or_effects(world: World) -> None:
    """The handle and the state secret never show in messages, details or reprs."""
    tool = world.tool()
    handle = tool.save_launch(world.launch(tool))
    shown: list[str] = [repr(tool), repr(world.sessions), repr(tool._core)]
    world.storage.remove_registration(world.platform.issuer, world.platform.client_id)
    errors: list[CredltiError] = []
    for attempt in (handle, handle[:-1] + ("A" if handle[-1] != "A" else "B")):
        with pytest.raises(LaunchSessionNotFoundError) as caught:
            tool.load_launch(attempt)
        errors.append(caught.value)
    shown += [str(e) for e in errors] + [repr(e) for e in errors]
    shown += [json.dumps(dict(e.details)) for e in errors]
    shown.append(
        repr(SaveLaunchSession(key="k", data=b"sealed-bytes", expires_at=world.platform.clock()))
    )

    for text in shown:
        assert handle not in text
        assert SECRET.decode() not in text
        assert "sealed-bytes" not in text


# ----------------------------------------------------------------------------- cookies


def test_cookie_header_keeps_the_handle_http_only_and_partitioned(world: World) -> None:
    """Secure, HttpOnly, SameSite=None, Partitioned; named after the launch when asked."""
    tool = world.tool()
    launch = world.launch(tool)
    handle = tool.save_launch(launch, ttl=600)

    header = launch_session_cookie_header(handle, launch_id=launch.launch_id, max_age=600)
    name, _, rest = header.partition("=")

    assert name == launch_session_cookie_name(launch.launch_id)
    assert name == f"credlti-launch-{launch.launch_id}"
    value, *attributes = rest.split("; ")
    assert value == handle
    assert attributes == [
        "Max-Age=600",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=None",
        "Partitioned",
    ]
    assert launch_session_cookie_header(handle, partitioned=False, path="/app").startswith(
        f"credlti-launch={handle}; Max-Age=3600; Path=/app;"
    )
    assert "Partitioned" not in launch_session_cookie_header(handle, partitioned=False)
    cleared = clear_launch_session_cookie_header(launch_id=launch.launch_id)
    assert cleared.startswith(f"{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=None")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"handle": "not a handle"},
        {"handle": "A" * 43 + "; Domain=evil"},
        {"launch_id": "a;b"},
        {"launch_id": "x" * 65},
        {"max_age": 0},
        {"max_age": True},
        {"path": "no-slash"},
        {"path": "/a;b"},
    ],
)
def test_cookie_helpers_refuse_values_that_break_the_header(kwargs: dict[str, Any]) -> None:
    """Nothing a caller passes can inject cookie attributes."""
    handle = kwargs.pop("handle", "A" * 43)
    with pytest.raises(ValueError):
        launch_session_cookie_header(handle, **kwargs)
