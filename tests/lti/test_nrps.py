"""NRPS 2.0: members, paging, filters, rlid, differences, caps, cert cases 38-42."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from credlti.errors import (
    InvalidServiceRecordError,
    MalformedServiceResponseError,
    PageLoopError,
    RosterTooLargeError,
    ServiceNotAvailableError,
    ServiceTemporarilyUnavailableError,
    UnsafePageLinkError,
)
from credlti.lti import parse_roles
from credlti.lti._claims import NrpsEndpoint
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import (
    MEDIA_MEMBERSHIP_CONTAINER,
    SCOPE_NRPS_READONLY,
    AsyncRosterService,
    AsyncServiceTokenClient,
    Member,
    MemberStatus,
    RosterService,
    ServiceTokenClient,
)
from credlti.testing import INSTRUCTOR, LEARNER, SimulatedPlatform

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
KEY = generate_key(now=NOW, state=KeyState.CURRENT)
TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"


def _platform(members: int = 0) -> SimulatedPlatform:
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))
    for n in range(members):
        platform.services.add_member(f"user-{n}", [LEARNER], name=f"Learner {n}")
    return platform


def _client(platform: SimulatedPlatform, transport: httpx.BaseTransport | None = None) -> Any:
    http = httpx.Client(transport=transport or platform.transport)
    return ServiceTokenClient(keys=KEY, http_client=http, clock=platform.clock)


def _roster(platform: SimulatedPlatform, **kwargs: Any) -> RosterService:
    client = kwargs.pop("client", None) or _client(platform)
    return RosterService(
        client,
        platform.registration,
        kwargs.pop("endpoint", None) or platform.services.nrps_endpoint(),
        **kwargs,
    )


def _queries(platform: SimulatedPlatform) -> list[dict[str, list[str]]]:
    return [parse_qs(r.url.query.decode()) for r in platform.services.requests]


# ------------------------------------------- an NRPS launch, then the membership request


def test_nrps_launch_then_the_membership_request() -> None:
    """The claim is stored; its URL is fetched with the NRPS Accept and a scoped bearer token."""
    platform = _platform()
    platform.services.add_member("user-1", [INSTRUCTOR], name="Ada Lovelace", email="ada@x.edu")
    token_forms: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == platform.token_endpoint:
            token_forms.append(parse_qs(request.content.decode()))
        return platform.handle_request(request)

    tool = platform.tool()
    redirect = tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
    form = platform.launch(redirect, claims=platform.services.nrps_claim())
    launch = tool.handle_callback(form, redirect.cookie_value)
    nrps = launch.claims.nrps
    assert nrps is not None  # 38
    assert nrps.context_memberships_url == platform.services.memberships_url()
    roster = RosterService(
        _client(platform, httpx.MockTransport(handler)),
        launch.registration,
        nrps,
        deployment_id=launch.claims.deployment_id,
    )
    membership = roster.get_membership()
    [request] = platform.services.requests
    assert (request.method, str(request.url)) == ("GET", nrps.context_memberships_url)  # 39
    assert request.headers["Accept"] == MEDIA_MEMBERSHIP_CONTAINER  # 40
    assert request.headers["Authorization"].startswith("Bearer ")  # 41
    assert platform.access_token_scopes(request.headers["Authorization"]) == {SCOPE_NRPS_READONLY}
    assert token_forms[0]["scope"] == [SCOPE_NRPS_READONLY]  # 42
    assert token_forms[0]["grant_type"] == ["client_credentials"]
    [member] = membership.members
    assert (member.user_id, member.name, member.email) == ("user-1", "Ada Lovelace", "ada@x.edu")
    assert member.roles.is_instructor
    assert member.status is MemberStatus.ACTIVE
    assert membership.context is not None
    assert membership.context.id == "context-1"


# ----------------------------------------------------------------------- members


def test_members_reads_every_page() -> None:
    """members() follows rel=next to the end; limit goes on the first request only."""
    platform = _platform(members=7)
    membership = _roster(platform).get_membership(limit=3)
    assert [m.user_id for m in membership.members] == [f"user-{n}" for n in range(7)]
    assert [q.get("page") for q in _queries(platform)] == [None, ["2"], ["3"]]
    assert all(q["limit"] == ["3"] for q in _queries(platform))


def test_iter_members_fetches_pages_lazily() -> None:
    """iter_members makes no request until iterated, then one request per page reached."""
    platform = _platform(members=6)
    members = _roster(platform).iter_members(limit=2)
    assert platform.services.requests == []
    first = [next(members), next(members)]
    assert len(platform.services.requests) == 1
    assert [m.user_id for m in first] == ["user-0", "user-1"]
    third = next(members)
    assert len(platform.services.requests) == 2
    assert third.user_id == "user-2"
    rest = list(members)
    assert len(platform.services.requests) == 3
    assert [m.user_id for m in rest] == ["user-3", "user-4", "user-5"]


def test_list_members_reads_every_page() -> None:
    """list_members returns the members of every page, as get_membership does."""
    platform = _platform(members=6)
    roster = _roster(platform)
    members = roster.list_members(limit=4)
    assert [m.user_id for m in members] == [f"user-{n}" for n in range(6)]
    assert len(platform.services.requests) == 2
    assert roster.differences_url is not None


def test_role_filter_accepts_short_names_and_uris() -> None:
    """role='Learner' is sent as the full membership URI; URIs and Role objects pass as is."""
    platform = _platform(members=2)
    platform.services.add_member("teacher", [INSTRUCTOR])
    platform.services.add_member("ta", [TA])
    roster = _roster(platform)
    assert [m.user_id for m in roster.get_membership(role="Learner").members] == [
        "user-0",
        "user-1",
    ]
    assert _queries(platform)[0]["role"] == [LEARNER]
    assert [m.user_id for m in roster.get_membership(role=INSTRUCTOR).members] == ["teacher"]
    ta_role = parse_roles([TA]).recognized[0]
    assert [m.user_id for m in roster.get_membership(role=ta_role).members] == ["ta"]
    with pytest.raises(InvalidServiceRecordError):
        roster.get_membership(role="Wizard")


def test_resource_link_membership_adds_rlid_and_messages() -> None:
    """resource_link=True adds rlid to the same URL; members carry their message list."""
    platform = _platform()
    platform.services.add_member("in", [LEARNER], resource_links=["resource-link-1"])
    platform.services.add_member("out", [LEARNER], resource_links=["resource-link-9"])
    roster = _roster(platform, resource_link_id="resource-link-1")
    membership = roster.get_membership(resource_link=True, role="Learner")
    assert [m.user_id for m in membership.members] == ["in"]
    [message] = membership.members[0].message
    assert message["https://purl.imsglobal.org/spec/lti/claim/message_type"] == (
        "LtiResourceLinkRequest"
    )
    assert _queries(platform)[0] == {"role": [LEARNER], "rlid": ["resource-link-1"]}
    with pytest.raises(ServiceNotAvailableError):
        _roster(platform).get_membership(resource_link=True)


def test_claim_query_is_kept_when_parameters_are_added() -> None:
    """A memberships URL that already has a query keeps it; role/limit are appended."""
    platform = _platform(members=1)
    url = platform.services.memberships_url() + "?tenant=7"
    roster = _roster(platform, endpoint=NrpsEndpoint(context_memberships_url=url))
    roster.get_membership(limit=5)
    assert _queries(platform)[0] == {"tenant": ["7"], "limit": ["5"]}


def test_differences_use_the_stored_link_unchanged() -> None:
    """differences() GETs the rel=differences URL as sent and reports removed members Deleted."""
    platform = _platform(members=3)
    roster = _roster(platform)
    first = roster.get_membership()
    assert first.differences_url == roster.differences_url
    assert roster.differences_url == platform.services.memberships_url() + "?since=3"
    platform.services.add_member("user-9", [LEARNER])
    platform.services.remove_member("user-0")
    changed = roster.get_differences()
    assert (
        str(platform.services.requests[-1].url) == platform.services.memberships_url() + "?since=3"
    )
    assert {(m.user_id, m.status) for m in changed.members} == {
        ("user-9", MemberStatus.ACTIVE),
        ("user-0", MemberStatus.DELETED),
    }
    assert roster.differences_url == platform.services.memberships_url() + "?since=5"
    assert [m.user_id for m in roster.get_membership().members] == ["user-1", "user-2", "user-9"]


def test_differences_need_a_known_safe_link() -> None:
    """No link yet: ServiceNotAvailableError; a cross-host link: UnsafePageLinkError; no HTTP."""
    platform = _platform()
    roster = _roster(platform)
    with pytest.raises(ServiceNotAvailableError):
        roster.get_differences()
    with pytest.raises(UnsafePageLinkError):
        roster.get_differences("https://attacker.example/api/lti/contexts/context-1/memberships")
    assert platform.services.requests == []


def test_member_cap_stops_reading() -> None:
    """More members than max_members raises RosterTooLargeError and stops fetching pages."""
    platform = _platform(members=10)
    roster = _roster(platform, max_members=5)
    with pytest.raises(RosterTooLargeError) as caught:
        roster.get_membership(limit=3)
    assert caught.value.details == {"count": 6, "max": 5}
    assert len(platform.services.requests) == 2
    assert len(_roster(platform, max_members=10).get_membership(limit=3).members) == 10
    with pytest.raises(InvalidServiceRecordError):
        _roster(platform, max_members=0)


def test_member_parsing_keeps_unknown_roles_and_defaults_status() -> None:
    """Unknown roles are kept, status defaults to Active and is case-tolerant, extras kept."""
    member = Member.from_dict(
        {
            "user_id": "u",
            "roles": ["Learner", "urn:example:role"],
            "status": " inactive ",
            "lis_person_sourcedid": "sis-1",
            "https://lms/ext": 1,
        }
    )
    assert member.roles.is_learner
    assert member.roles.unrecognized == ("urn:example:role",)
    assert member.status is MemberStatus.INACTIVE
    assert member.lis_person_sourcedid == "sis-1"
    assert member.extensions == {"https://lms/ext": 1}
    assert Member.from_dict({"user_id": "v", "roles": []}).status is MemberStatus.ACTIVE
    bad: dict[str, Any]
    for bad in (
        {"roles": []},
        {"user_id": "u", "roles": [1]},
        {"user_id": "u", "roles": [], "status": "Gone"},
        {"user_id": "u", "roles": [], "email": 5},
        {"user_id": "u", "roles": [], "message": "x"},
    ):
        with pytest.raises(MalformedServiceResponseError):
            Member.from_dict(bad)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"members": {}}',
        b'{"context": 1, "members": []}',
    ],
)
def test_malformed_rosters_are_typed_errors(body: bytes) -> None:
    """Non-JSON, non-object or wrongly shaped rosters raise MalformedServiceResponseError."""
    platform = _platform()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/memberships"):
            return httpx.Response(200, content=body)
        return platform.handle_request(request)

    with pytest.raises(MalformedServiceResponseError):
        _roster(platform, client=_client(platform, httpx.MockTransport(handler))).get_membership()


def test_looping_next_links_stop_with_a_typed_error() -> None:
    """A next link pointing back to a page already read raises PageLoopError."""
    platform = _platform(members=1)

    def handler(request: httpx.Request) -> httpx.Response:
        response = platform.handle_request(request)
        if request.url.path.endswith("/memberships"):
            response.headers["Link"] = f'<{platform.services.memberships_url()}>; rel="next"'
        return response

    roster = _roster(platform, client=_client(platform, httpx.MockTransport(handler)))
    with pytest.raises(PageLoopError):
        roster.get_membership()
    assert len(platform.services.requests) == 1


def test_non_https_next_link_is_refused() -> None:
    """An http:// next link on the same host is refused (the token would travel in clear)."""
    platform = _platform(members=1)
    plain = platform.services.memberships_url().replace("https://", "http://") + "?page=2"

    def handler(request: httpx.Request) -> httpx.Response:
        response = platform.handle_request(request)
        if request.url.path.endswith("/memberships"):
            response.headers["Link"] = f"<{plain}>; rel=next"
        return response

    roster = _roster(platform, client=_client(platform, httpx.MockTransport(handler)))
    with pytest.raises(UnsafePageLinkError):
        roster.get_membership()
    assert len(platform.services.requests) == 1


def test_busy_roster_reports_retry_after() -> None:
    """A 429 from the membership service carries retry_after."""
    platform = _platform(members=1)
    platform.services.status = 429
    with pytest.raises(ServiceTemporarilyUnavailableError) as caught:
        _roster(platform).get_membership()
    assert caught.value.retry_after == 30.0


def test_endpoint_without_version_2_is_not_available() -> None:
    """A claim listing only other NRPS versions cannot be used."""
    platform = _platform()
    endpoint = NrpsEndpoint(context_memberships_url="https://x/m", service_versions=("1.0",))
    with pytest.raises(ServiceNotAvailableError):
        _roster(platform, endpoint=endpoint)


def test_async_roster_streams_pages_and_differences() -> None:
    """AsyncRosterService reads pages lazily, merges them, and follows differences."""
    platform = _platform(members=5)

    async def main() -> None:
        async with AsyncServiceTokenClient(
            keys=KEY, http_client=platform.async_http_client(), clock=platform.clock
        ) as client:
            roster = AsyncRosterService(
                client, platform.registration, platform.services.nrps_endpoint()
            )
            members = roster.iter_members(limit=2)
            first = [await members.__anext__(), await members.__anext__()]
            assert len(platform.services.requests) == 1
            assert [m.user_id for m in first] == ["user-0", "user-1"]
            assert len((await roster.get_membership(role="Learner")).members) == 5
            assert len(await roster.list_members(limit=2)) == 5
            platform.services.remove_member("user-4")
            changed = await roster.get_differences()
            assert [(m.user_id, m.status) for m in changed.members] == [
                ("user-4", MemberStatus.DELETED)
            ]

    asyncio.run(main())


def test_retry_after_dates_use_the_injected_clock() -> None:
    """An HTTP-date Retry-After is counted from the service's clock, not the wall clock."""
    platform = _platform(members=1)
    platform.services.status = 503
    platform.services.retry_after = "Thu, 15 Jan 2026 12:02:00 GMT"
    at_noon = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
    with pytest.raises(ServiceTemporarilyUnavailableError) as caught:
        _roster(platform, clock=lambda: at_noon).get_membership()
    assert caught.value.retry_after == 120.0
