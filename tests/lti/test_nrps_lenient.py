"""NRPS listings read leniently: problems on each member, unusable members counted.

A member breaking NRPS §2.2 is kept with its problems listed (never quoting the
platform's text unescaped); a member without a usable ``user_id`` is skipped and
counted; ``strict=True`` raises MalformedServiceResponseError instead.
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlti.errors import MalformedServiceResponseError, RosterTooLargeError
from credlti.lti._claims import NrpsEndpoint
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import (
    AsyncRosterService,
    AsyncServiceTokenClient,
    Member,
    MemberStatus,
    RosterService,
    ServiceTokenClient,
)
from credlti.lti.services._nrps_records import parse_page
from credlti.lti.services._paging import RawPage
from credlti.testing import SimulatedPlatform
from tests.lti.test_service_realworld import NAMES, VECTORS, Replay

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
KEY = generate_key(now=NOW, state=KeyState.CURRENT)
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
URL = "https://platform.example.com/memberships"

#: Members a careless or hostile platform sends, and the problems each must carry.
FLAWED: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    (
        {"user_id": "r", "roles": [LEARNER, 7, None]},
        ("roles[1] is not a string (ignored)", "roles[2] is not a string (ignored)"),
    ),
    ({"user_id": "s", "roles": "Learner"}, ("roles is not a list of strings (ignored)",)),
    (
        {"user_id": "t", "roles": [], "status": "Suspended"},
        ("status 'Suspended' is not Active, Inactive or Deleted (read as Inactive)",),
    ),
    ({"user_id": "u", "roles": [], "email": 5}, ("email is not text (left unset)",)),
    ({"user_id": "v", "message": "x"}, ("message is not a list of objects (left unset)",)),
    ({"user_id": 42, "roles": [LEARNER]}, ("user_id is a number, not a string (read as text)",)),
]
#: Members nobody can use: no user_id, a blank one, one of the wrong type, not an object.
UNUSABLE: list[Any] = [
    {"roles": [LEARNER]},
    {"user_id": "  ", "roles": []},
    {"user_id": ["x"]},
    {"user_id": True},
    "not-a-member",
]


def test_flawed_members_are_kept_with_their_problems() -> None:
    for document, problems in FLAWED:
        member = Member.from_dict(document, strict=False)
        assert member.problems == problems, document
        with pytest.raises(MalformedServiceResponseError):
            Member.from_dict(document)  # strict by default for a single record
    kept = Member.from_dict({"user_id": "r", "roles": [LEARNER, 7]}, strict=False)
    assert kept.roles.is_learner
    assert Member.from_dict({"user_id": 42}, strict=False).user_id == "42"
    suspended = Member.from_dict({"user_id": "t", "status": "Suspended"}, strict=False)
    assert suspended.status is MemberStatus.INACTIVE  # never granted access by a guess
    assert Member.from_dict({"user_id": "u", "email": 5}, strict=False).email is None


def test_clean_members_carry_no_problems() -> None:
    member = Member.from_dict({"user_id": "u", "roles": [LEARNER], "status": "Deleted"})
    assert member.problems == ()
    assert member.status is MemberStatus.DELETED


def test_a_status_is_quoted_only_escaped() -> None:
    hostile = "<script>\r\nSet-Cookie: x" + "A" * 500
    member = Member.from_dict({"user_id": "u", "status": hostile}, strict=False)
    (problem,) = member.problems
    assert "<" not in problem
    assert "\r" not in problem
    assert "\n" not in problem
    assert len(problem) < 200
    with pytest.raises(MalformedServiceResponseError) as caught:
        Member.from_dict({"user_id": "u", "status": hostile})
    assert "<" not in caught.value.message
    assert "\n" not in caught.value.message


def test_a_page_skips_and_counts_unusable_members() -> None:
    members = [{"user_id": "a"}, *UNUSABLE, FLAWED[0][0]]
    page = parse_page(RawPage(url=URL, document={"members": members}, next_url=None, links=()))
    assert [m.user_id for m in page.members] == ["a", "r"]
    assert page.skipped == len(UNUSABLE)
    assert page.problems == (
        f"{len(UNUSABLE)} member(s) without a usable user_id skipped on the page {URL}",
    )
    for unusable in UNUSABLE:
        with pytest.raises(MalformedServiceResponseError):
            parse_page(
                RawPage(url=URL, document={"members": [unusable]}, next_url=None, links=()),
                strict=True,
            )


# --------------------------------------------------------------------------- over HTTP


def _platform_serving(members: list[Any]) -> tuple[SimulatedPlatform, httpx.MockTransport]:
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/memberships"):
            return httpx.Response(200, json={"context": {"id": "c"}, "members": members})
        return platform.handle_request(request)

    return platform, httpx.MockTransport(handler)


def test_listings_are_lenient_by_default_and_strict_on_request() -> None:
    members = [{"user_id": "a", "roles": [LEARNER]}, *UNUSABLE, *(d for d, _p in FLAWED)]
    platform, transport = _platform_serving(members)
    client = ServiceTokenClient(
        keys=KEY, http_client=httpx.Client(transport=transport), clock=platform.clock
    )
    roster = RosterService(client, platform.registration, platform.services.nrps_endpoint())

    membership = roster.get_membership()
    assert [m.user_id for m in membership.members] == ["a", "r", "s", "t", "u", "v", "42"]
    assert [m.problems for m in membership.members[1:]] == [p for _d, p in FLAWED]
    assert membership.skipped == len(UNUSABLE)
    assert len(membership.problems) == 1
    assert roster.skipped_members == len(UNUSABLE)

    assert len(roster.list_members()) == 7
    assert roster.skipped_members == len(UNUSABLE)
    assert len(list(roster.iter_members())) == 7
    with pytest.raises(MalformedServiceResponseError):
        roster.get_membership(strict=True)
    with pytest.raises(MalformedServiceResponseError):
        roster.list_members(strict=True)
    with pytest.raises(MalformedServiceResponseError):
        list(roster.iter_members(strict=True))


def test_skipped_members_count_against_max_members() -> None:
    """Unusable members still cost memory to read: they count towards the cap."""
    platform, transport = _platform_serving([{"roles": []}] * 4)
    client = ServiceTokenClient(
        keys=KEY, http_client=httpx.Client(transport=transport), clock=platform.clock
    )
    roster = RosterService(
        client, platform.registration, platform.services.nrps_endpoint(), max_members=3
    )
    with pytest.raises(RosterTooLargeError):
        roster.get_membership()


def test_async_listings_are_lenient_and_strict_alike() -> None:
    members = [{"user_id": "a"}, *UNUSABLE, FLAWED[2][0]]
    platform, transport = _platform_serving(members)

    async def go() -> None:
        http = httpx.AsyncClient(transport=_AsyncBridge(transport))
        async with AsyncServiceTokenClient(
            keys=KEY, http_client=http, clock=platform.clock
        ) as aclient:
            roster = AsyncRosterService(
                aclient, platform.registration, platform.services.nrps_endpoint()
            )
            membership = await roster.get_membership()
            assert [m.user_id for m in membership.members] == ["a", "t"]
            assert membership.skipped == len(UNUSABLE) == roster.skipped_members
            assert len(await roster.list_members()) == 2
            with pytest.raises(MalformedServiceResponseError):
                await roster.list_members(strict=True)
            with pytest.raises(MalformedServiceResponseError):
                await roster.get_membership(strict=True)

    asyncio.run(go())


class _AsyncBridge(httpx.AsyncBaseTransport):
    def __init__(self, transport: httpx.MockTransport) -> None:
        self.transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return self.transport.handle_request(request)


# --------------------------------------------------------------------------- real-world shapes


def _replayed(name: str, extra: list[Any]) -> tuple[dict[str, Any], RosterService]:
    vector = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    vector = copy.deepcopy(vector)
    pages = [
        e for e in vector["exchanges"] if isinstance(e.get("body"), dict) and "members" in e["body"]
    ]
    pages[0]["body"]["members"].extend(extra)
    platform = SimulatedPlatform(issuer=vector["issuer"])
    platform.trust_tool_keys(jwks([KEY]))
    replay = Replay(vector, platform)
    http = httpx.Client(transport=httpx.MockTransport(replay.handle))
    client = ServiceTokenClient(keys=KEY, http_client=http, clock=platform.clock)
    nrps = NrpsEndpoint(context_memberships_url=vector["nrps"], service_versions=("2.0",))
    return vector, RosterService(client, platform.registration, nrps)


@pytest.mark.parametrize("name", NAMES)
def test_real_world_rosters_have_no_problems(name: str) -> None:
    vector, roster = _replayed(name, [])
    membership = roster.get_membership(limit=2, strict=True)
    assert [m.user_id for m in membership.members] == vector["expect"]["members"]
    assert all(m.problems == () for m in membership.members)
    assert membership.skipped == 0
    assert membership.problems == ()


@pytest.mark.parametrize("name", NAMES)
def test_real_world_rosters_with_hostile_members(name: str) -> None:
    """One bad member among a platform's real page no longer loses the whole roster."""
    flawed = [d for d, _p in FLAWED]
    vector, roster = _replayed(name, [*flawed, *UNUSABLE])
    membership = roster.get_membership(limit=2)
    ids = [m.user_id for m in membership.members]
    expected = vector["expect"]["members"]
    assert [i for i in ids if i in expected] == expected
    assert {m.user_id: m.problems for m in membership.members if m.problems} == {
        str(d["user_id"]): p for d, p in FLAWED
    }
    assert membership.skipped == len(UNUSABLE)
    _vector, strict_roster = _replayed(name, [*flawed, *UNUSABLE])
    with pytest.raises(MalformedServiceResponseError):
        strict_roster.get_membership(limit=2, strict=True)


# --------------------------------------------------------------------------- hostile members

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    ["user_id", "roles", "status", "name", "email", "picture", "message", "given_name", "x"]
)
_MEMBER = st.dictionaries(_FIELDS, _JSON | st.text(max_size=60), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_MEMBER | _JSON, max_size=6))
def test_hostile_members_never_break_a_lenient_page(members: list[Any]) -> None:
    page = parse_page(RawPage(url=URL, document={"members": members}, next_url=None, links=()))
    assert len(page.members) + page.skipped == len(members)
    for member in page.members:
        assert isinstance(member.user_id, str)
        assert member.user_id.strip()
        assert isinstance(member.status, MemberStatus)
        for problem in member.problems:
            assert problem.isprintable()
            assert "<" not in problem
            assert ">" not in problem
            assert len(problem) < 200
    strict_ok = page.skipped == 0 and not any(m.problems for m in page.members)
    if strict_ok:
        assert (
            parse_page(
                RawPage(url=URL, document={"members": members}, next_url=None, links=()),
                strict=True,
            ).members
            == page.members
        )
    else:
        with pytest.raises(MalformedServiceResponseError):
            parse_page(
                RawPage(url=URL, document={"members": members}, next_url=None, links=()),
                strict=True,
            )
