"""Token reuse for any lifetime, tool-wide score timestamps, stale-score recovery, rlid."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from credlti.errors import StaleScoreError
from credlti.lti import LaunchContext, Tool
from credlti.lti._tokens import ServiceToken
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import (
    MEDIA_MEMBERSHIP_CONTAINER,
    SCOPE_LINEITEM,
    SCOPE_NRPS_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    AsyncServiceTokenClient,
    GradeService,
    LineItem,
    Score,
    ServiceTokenClient,
)
from credlti.testing import LEARNER, SimulatedPlatform

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
KEY = generate_key(now=NOW, state=KeyState.CURRENT)
LAUNCH_URL = "https://tool.example.com/launch"
SCOPES = (SCOPE_LINEITEM, SCOPE_RESULT_READONLY, SCOPE_SCORE)
ACCEPT = {"Accept": MEDIA_MEMBERSHIP_CONTAINER}


def _platform() -> SimulatedPlatform:
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))
    return platform


def _score(given: float = 1, timestamp: datetime | None = None) -> Score:
    return Score(
        user_id="user-1",
        score_given=given,
        score_maximum=2,
        activity_progress="Completed",
        grading_progress="FullyGraded",
        timestamp=timestamp,
    )


# ----------------------------------------------------------------- token reuse


def test_twenty_concurrent_calls_with_a_45_second_token_make_one_token_request() -> None:
    """expires_in=45 is below the 60 s margin: the token is still shared (margin = 22.5 s)."""
    platform = _platform()
    platform.token_lifetime = 45
    client = ServiceTokenClient(keys=KEY, http_client=platform.http_client(), clock=platform.clock)
    url = platform.services.memberships_url("context-1")
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def call() -> None:
        barrier.wait()
        response = client.request(
            "GET",
            url,
            registration=platform.registration,
            scopes=[SCOPE_NRPS_READONLY],
            headers=ACCEPT,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 20
    assert platform.token_requests == 1


def test_twenty_concurrent_async_calls_with_a_45_second_token_make_one_token_request() -> None:
    """The async client follows the same rule."""
    platform = _platform()
    platform.token_lifetime = 45
    url = platform.services.memberships_url("context-1")

    async def main() -> list[int]:
        async with AsyncServiceTokenClient(
            keys=KEY, http_client=platform.async_http_client(), clock=platform.clock
        ) as client:
            responses = await asyncio.gather(
                *(
                    client.request(
                        "GET",
                        url,
                        registration=platform.registration,
                        scopes=[SCOPE_NRPS_READONLY],
                        headers=ACCEPT,
                    )
                    for _ in range(20)
                )
            )
        return [r.status_code for r in responses]

    assert asyncio.run(main()) == [200] * 20
    assert platform.token_requests == 1


def test_the_margin_is_at_most_half_the_lifetime() -> None:
    """A 45 s token is fresh for 22.5 s; a 3600 s token until 60 s before expiry."""
    short = ServiceToken(
        access_token="a", scopes=["s"], expires_at=NOW + timedelta(seconds=45), issued_at=NOW
    )
    assert short.is_fresh(NOW + timedelta(seconds=22), margin=60)
    assert not short.is_fresh(NOW + timedelta(seconds=23), margin=60)
    long = ServiceToken(
        access_token="a", scopes=["s"], expires_at=NOW + timedelta(hours=1), issued_at=NOW
    )
    assert long.is_fresh(NOW + timedelta(seconds=3539), margin=60)
    assert not long.is_fresh(NOW + timedelta(seconds=3540), margin=60)
    unknown = ServiceToken(access_token="a", scopes=["s"], expires_at=NOW + timedelta(seconds=45))
    assert not unknown.is_fresh(NOW, margin=60)  # lifetime unknown: the configured margin


@given(
    lifetime=st.floats(min_value=-10, max_value=10**7, allow_nan=False),
    margin=st.floats(min_value=0, max_value=10**6, allow_nan=False),
    elapsed=st.floats(min_value=0, max_value=10**7, allow_nan=False),
)
def test_a_token_is_never_used_past_expiry_nor_refreshed_before_half_life(
    lifetime: float, margin: float, elapsed: float
) -> None:
    """Hostile lifetimes and margins: never fresh at or after expiry; always fresh early on."""
    token = ServiceToken(
        access_token="a",
        scopes=["s"],
        expires_at=NOW + timedelta(seconds=lifetime),
        issued_at=NOW,
    )
    now = NOW + timedelta(seconds=elapsed)
    if elapsed >= lifetime:
        assert not token.is_fresh(now, margin=margin)
    if lifetime > 0 and elapsed < min(lifetime / 2, lifetime - margin) - 1e-3:
        assert token.is_fresh(now, margin=margin)


# ------------------------------------------------------------- score timestamps


def test_two_grade_services_of_one_client_share_score_timestamps() -> None:
    """Two resource links of one course (two claims) post in one frozen millisecond."""
    platform = _platform()
    client = ServiceTokenClient(keys=KEY, http_client=platform.http_client(), clock=platform.clock)
    first_claim = platform.services.ags_endpoint("context-1", scopes=SCOPES)
    creator = GradeService(client, platform.registration, first_claim)
    item = creator.create_line_item(LineItem(label="Quiz", score_maximum=2))
    assert item.id is not None
    second_claim = platform.services.ags_endpoint("context-1", lineitem=item.id, scopes=SCOPES)
    other = GradeService(client, platform.registration, second_claim)

    stamps = [creator.post_score(_score(1), item), other.post_score(_score(2))]
    stamps.append(creator.post_score(_score(3), item.id))

    assert stamps[0] < stamps[1] < stamps[2]
    assert [s["scoreGiven"] for s in platform.services.scores(item.id)] == [1, 2, 3]


def _launch(
    platform: SimulatedPlatform, tool: Tool[Any, Any], **claims: Any
) -> LaunchContext[Any, Any]:
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    return tool.handle_callback(platform.launch(redirect, claims=claims), redirect.cookie_value)


def test_launches_of_one_tool_share_score_timestamps() -> None:
    """tool.grades() for two claims of one course: one timestamp registry (the tool's client)."""
    platform = SimulatedPlatform()
    tool = platform.tool(keys=KEY)
    platform.trust_tool_keys(tool.jwks())
    first = _launch(platform, tool, **platform.services.ags_claim())
    item = tool.grades(first).create_line_item(LineItem(label="Quiz", score_maximum=2))
    assert item.id is not None
    second = _launch(platform, tool, **platform.services.ags_claim(lineitem=item.id))
    assert tool.grades(first) is not tool.grades(second)

    one = tool.grades(first).post_score(_score(1), item)
    two = tool.grades(second).post_score(_score(2))
    assert one < two


class StalePlatform:
    """Answers 409 to the first *refusals* score posts (a platform comparing seconds)."""

    def __init__(self, platform: SimulatedPlatform, refusals: int) -> None:
        self.platform = platform
        self.refusals = refusals
        self.stamps: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/scores"):
            self.stamps.append(json.loads(request.content)["timestamp"])
            if self.refusals > 0:
                self.refusals -= 1
                return httpx.Response(409, text="Refusing score with an earlier timestamp")
        return self.platform.handle_request(request)


def _stale_setup(refusals: int) -> tuple[StalePlatform, GradeService, str]:
    platform = _platform()
    stale = StalePlatform(platform, refusals)
    http = httpx.Client(transport=httpx.MockTransport(stale.handle))
    client = ServiceTokenClient(keys=KEY, http_client=http, clock=platform.clock)
    grades = GradeService(
        client, platform.registration, platform.services.ags_endpoint("context-1", scopes=SCOPES)
    )
    item = grades.create_line_item(LineItem(label="Quiz", score_maximum=2))
    assert item.id is not None
    return stale, grades, item.id


def test_a_score_refused_as_stale_is_retried_once_on_the_next_second() -> None:
    """409 to an automatic stamp: sent again with a timestamp on the next whole second."""
    stale, grades, item = _stale_setup(refusals=1)
    sent = grades.post_score(_score(), item)
    assert len(stale.stamps) == 2
    assert stale.stamps[1] > stale.stamps[0]
    assert sent.microsecond == 0
    assert stale.stamps[1] == sent.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    later = grades.post_score(_score(), item)  # the registry moved past the retry
    assert later > sent


def test_a_score_refused_twice_is_a_stale_score_error() -> None:
    """409 again after the retry: StaleScoreError, with the timestamp sent."""
    stale, grades, item = _stale_setup(refusals=2)
    with pytest.raises(StaleScoreError) as caught:
        grades.post_score(_score(), item)
    assert len(stale.stamps) == 2
    assert caught.value.code == "stale_score"
    assert caught.value.details["timestamp"] == stale.stamps[1]


def test_an_explicit_timestamp_refused_as_stale_is_not_retried() -> None:
    """The caller chose the timestamp: no retry, StaleScoreError at once."""
    stale, grades, item = _stale_setup(refusals=1)
    with pytest.raises(StaleScoreError):
        grades.post_score(_score(timestamp=NOW), item)
    assert len(stale.stamps) == 1


# --------------------------------------------------------------------- rlid


def test_tool_roster_for_the_resource_link_sends_rlid() -> None:
    """tool.roster(launch, resource_link=True).list_members() sends rlid (seen at the transport)."""
    platform = SimulatedPlatform()
    platform.services.add_member("in", [LEARNER], resource_links=["resource-link-1"])
    platform.services.add_member("out", [LEARNER], resource_links=["resource-link-9"])
    queries: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/memberships"):
            queries.append(parse_qs(urlsplit(str(request.url)).query))
        return platform.handle_request(request)

    tool = platform.tool(keys=KEY, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    platform.trust_tool_keys(tool.jwks())
    launch = _launch(platform, tool, **platform.services.nrps_claim())

    members = tool.roster(launch, resource_link=True).list_members()
    assert [m.user_id for m in members] == ["in"]
    assert queries[-1]["rlid"] == ["resource-link-1"]

    everyone = tool.roster(launch).list_members()
    assert {m.user_id for m in everyone} == {"in", "out"}
    assert "rlid" not in queries[-1]

    whole = tool.roster(launch, resource_link=True).list_members(resource_link=False)
    assert len(whole) == 2
    assert "rlid" not in queries[-1]


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["auto", "explicit", "retry"]),
            st.sampled_from(["a", "b"]),
            st.integers(min_value=-5_000, max_value=5_000),
        ),
        max_size=40,
    )
)
def test_score_timestamps_strictly_increase_whatever_the_clock_does(
    steps: list[tuple[str, str, int]],
) -> None:
    """Any mix of automatic stamps, explicit times and stale retries, clocks going backwards."""
    from credlti.errors import InvalidServiceRecordError
    from credlti.lti.services._score_clock import ScoreTimestamps

    registry = ScoreTimestamps(max_pairs=8)
    last: dict[str, datetime] = {}
    for kind, user, offset_ms in steps:
        key = ("https://lms.example.edu/li/1", user)
        when = NOW + timedelta(milliseconds=offset_ms)
        if kind == "retry":
            if user not in last:
                continue
            stamp = registry.next_second(key, last[user])
            assert stamp.microsecond == 0
        else:
            try:
                stamp = registry.stamp(key, when if kind == "explicit" else None, when)
            except InvalidServiceRecordError:
                assert kind == "explicit"
                assert user in last
                assert when <= last[user] + timedelta(milliseconds=1)
                continue
        if user in last:
            assert stamp > last[user]
        last[user] = stamp
