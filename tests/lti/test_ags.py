"""AGS 2.0: records, GradeService against the simulated platform, cert case 43 and its script."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
import pytest

from credlti.errors import (
    CoupledLineItemError,
    InvalidServiceRecordError,
    MalformedServiceResponseError,
    ScopeNotGrantedError,
    ServiceAccessDeniedError,
    ServiceCallFailedError,
    ServiceNotAvailableError,
    ServiceResourceNotFoundError,
    ServiceTemporarilyUnavailableError,
    UnsafePageLinkError,
)
from credlti.lti._claims import AgsEndpoint
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import (
    MEDIA_LINEITEM,
    MEDIA_LINEITEM_CONTAINER,
    MEDIA_RESULT_CONTAINER,
    MEDIA_SCORE,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    ActivityProgress,
    AsyncGradeService,
    AsyncServiceTokenClient,
    GradeService,
    GradingProgress,
    LineItem,
    Result,
    Score,
    ServiceTokenClient,
    Submission,
)
from credlti.lti.services._ags_flows import results_url, scores_url
from credlti.lti.services._ags_records import format_timestamp, parse_timestamp
from credlti.testing import SimulatedPlatform

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
KEY = generate_key(now=NOW, state=KeyState.CURRENT)
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
EXT = "https://canvas.instructure.com/lti/submission"


def _platform() -> SimulatedPlatform:
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))
    return platform


def _client(platform: SimulatedPlatform, transport: httpx.BaseTransport | None = None) -> Any:
    http = httpx.Client(transport=transport or platform.transport)
    return ServiceTokenClient(keys=KEY, http_client=http, clock=platform.clock)


def _grades(
    platform: SimulatedPlatform,
    *,
    scopes: tuple[str, ...] = (SCOPE_LINEITEM, SCOPE_RESULT_READONLY, SCOPE_SCORE),
    lineitem: str | None = None,
    context_id: str = "context-1",
    **kwargs: Any,
) -> GradeService:
    endpoint = platform.services.ags_endpoint(context_id, lineitem=lineitem, scopes=scopes)
    client = kwargs.pop("client", None) or _client(platform)
    return GradeService(
        client,
        platform.registration,
        endpoint,
        deployment_id=platform.deployment_id,
        clock=platform.clock,
        **kwargs,
    )


def _done(user: str = "user-1", given: float = 7) -> Score:
    return Score(
        user_id=user,
        score_given=given,
        score_maximum=10,
        activity_progress="Completed",
        grading_progress="FullyGraded",
    )


def _token_scopes(platform: SimulatedPlatform, request: httpx.Request) -> frozenset[str]:
    return platform.access_token_scopes(request.headers.get("Authorization"))


# ----------------------------------------------------------------------- records


def test_line_item_requires_a_label_and_a_positive_maximum() -> None:
    """Blank labels and non-positive, boolean or textual maxima are refused when built."""
    for kwargs in (
        {"label": " ", "score_maximum": 10},
        {"label": "Quiz", "score_maximum": 0},
        {"label": "Quiz", "score_maximum": -1},
        {"label": "Quiz", "score_maximum": True},
        {"label": "Quiz", "score_maximum": "10"},
        {"label": "Quiz", "score_maximum": float("nan")},
        {"label": "Quiz", "score_maximum": 1, "start_date_time": datetime(2026, 1, 1)},
        {"label": "Quiz", "score_maximum": 1, "grades_released": "yes"},
    ):
        with pytest.raises(InvalidServiceRecordError) as caught:
            LineItem(**kwargs)
        assert caught.value.code == "invalid_service_record"


def test_line_item_round_trips_with_extensions() -> None:
    """from_dict keeps unknown members in extensions and to_dict writes them back unchanged."""
    document = {
        "id": "https://lms/li/1",
        "label": "Quiz",
        "scoreMaximum": 10,
        "resourceLinkId": "rl-1",
        "tag": "quiz",
        "startDateTime": "2026-01-15T12:00:00Z",
        "endDateTime": "2026-01-16T12:00:00+02:00",
        "gradesReleased": True,
        "https://lms.example/ext": {"x": 1},
    }
    item = LineItem.from_dict(document)
    assert item.end_date_time == datetime(2026, 1, 16, 10, tzinfo=timezone.utc)
    assert item.extensions == {"https://lms.example/ext": {"x": 1}}
    assert item.to_dict() == document


def test_score_rules_are_checked_when_built() -> None:
    """scoreGiven needs a maximum and is >= 0; enums, scoringUserId, submission order checked."""
    base: dict[str, Any] = {
        "user_id": "u",
        "activity_progress": "Completed",
        "grading_progress": "FullyGraded",
    }
    for extra in (
        {"score_given": 1},
        {"score_given": -1, "score_maximum": 10},
        {"score_given": 1, "score_maximum": 0},
        {"activity_progress": "Done"},
        {"grading_progress": "Graded"},
        {"scoring_user_id": ""},
        {"user_id": ""},
        {"timestamp": datetime(2026, 1, 1)},
    ):
        with pytest.raises(InvalidServiceRecordError):
            Score(**{**base, **extra})
    with pytest.raises(InvalidServiceRecordError):
        Submission(started_at=NOW, submitted_at=NOW - timedelta(seconds=1))
    score = Score(**base, score_given=12, score_maximum=10)  # extra credit is fine
    assert score.activity_progress is ActivityProgress.COMPLETED
    assert score.grading_progress is GradingProgress.FULLY_GRADED


def test_score_serialises_milliseconds_and_zone() -> None:
    """Timestamps go out as UTC with exactly three fraction digits and Z; extensions merge."""
    score = Score(
        user_id="u",
        activity_progress=ActivityProgress.SUBMITTED,
        grading_progress=GradingProgress.PENDING_MANUAL,
        comment="Good",
        submission=Submission(started_at=NOW, submitted_at=NOW + timedelta(minutes=5)),
        extensions={EXT: {"new_submission": True}},
    )
    when = datetime(2026, 1, 15, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert score.to_dict(timestamp=when) == {
        EXT: {"new_submission": True},
        "userId": "u",
        "comment": "Good",
        "timestamp": "2026-01-15T12:00:00.123Z",
        "activityProgress": "Submitted",
        "gradingProgress": "PendingManual",
        "submission": {
            "startedAt": "2026-01-15T12:00:00.000Z",
            "submittedAt": "2026-01-15T12:05:00.000Z",
        },
    }
    assert format_timestamp(NOW) == "2026-01-15T12:00:00.000Z"
    assert parse_timestamp("2026-01-15T12:00:00.5-05:00") == NOW + timedelta(hours=5, seconds=0.5)
    with pytest.raises(ValueError, match="zone"):
        parse_timestamp("2026-01-15T12:00:00")


def test_result_parsing_defaults_maximum_to_one() -> None:
    """A result without resultMaximum has maximum 1; a missing userId is refused."""
    result = Result.from_dict({"userId": "u", "resultScore": 0.5, "x": 1})
    assert (result.result_maximum, result.result_score, result.extensions) == (1.0, 0.5, {"x": 1})
    with pytest.raises(InvalidServiceRecordError):
        Result.from_dict({"resultScore": 1})


def test_scores_and_results_urls_keep_the_query() -> None:
    """/scores and /results are appended to the path and the query string is kept (I-7)."""
    assert scores_url("https://lms/li/1?x=y") == "https://lms/li/1/scores?x=y"
    assert results_url("https://lms/li/1/?x=y&z=1") == "https://lms/li/1/results?x=y&z=1"


# ------------------------------------------------ an AGS launch, then a grading session


def test_ags_launch_then_line_items_scores_results_and_paging() -> None:
    """An AGS launch, then three line items (LI1-LI3), scores, results and filtered paging."""
    platform = _platform()
    tool = platform.tool()
    redirect = tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
    claims = platform.services.ags_claim(
        scopes=(SCOPE_LINEITEM, SCOPE_SCORE, SCOPE_RESULT_READONLY)
    )
    launch = tool.handle_callback(
        platform.launch(
            redirect,
            roles=["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
            claims=claims,
        ),
        redirect.cookie_value,
    )
    ags = launch.claims.ags
    assert ags is not None
    assert ags.lineitems == platform.services.lineitems_url()
    client = _client(platform)
    grades = GradeService(
        client,
        launch.registration,
        ags,
        deployment_id=launch.claims.deployment_id,
        clock=platform.clock,
        least_privilege=True,  # one token per scope, like the cert suite's script
    )
    # 1-2. token with lineitem scope; POST LI1 -> 201 with an id
    li1 = grades.create_line_item(
        LineItem(label="LI1", score_maximum=10, resource_link_id="resource-link-1", tag="quiz")
    )
    assert li1.id
    assert li1.id.startswith(ags.lineitems + "/")
    # 3. GET LI1
    assert grades.get_line_item(li1.id) == li1
    # 4. POST LI2
    grades.create_line_item(LineItem(label="LI2", score_maximum=5, resource_id="res-2"))
    # 5. a second context: LI3
    other = _grades(platform, context_id="context-2", client=client, least_privilege=True)
    li3 = other.create_line_item(LineItem(label="LI3", score_maximum=20, tag="exam"))
    # 6-7. scores with ms timestamps to LI3 and LI1
    platform.clock.advance(0.0456)
    stamp3 = other.post_score(_done(launch.claims.subject or "", 9), li3)
    stamp1 = grades.post_score(_done(launch.claims.subject or "", 7), li1)
    assert format_timestamp(stamp3).endswith(".045Z")
    # 8-9. results
    [r3] = other.list_results(li3)
    [r1] = grades.list_results(li1, user_id="user-1")
    assert (r3.result_score, r3.result_maximum, r3.score_of) == (18.0, 20, li3.id)
    assert (r1.user_id, r1.result_score) == ("user-1", 7.0)
    # 10. paging (limit=1) and filters
    assert [i.label for i in grades.list_line_items(limit=1)] == ["LI1", "LI2"]
    assert [i.label for i in grades.list_line_items(resource_link_id="resource-link-1")] == ["LI1"]
    assert [i.label for i in grades.list_line_items(resource_id="res-2")] == ["LI2"]
    assert [i.label for i in grades.list_line_items(tag="quiz", limit=5)] == ["LI1"]
    assert grades.list_line_items(tag="nothing") == []

    # What went over the wire: URL, method, media type, token scope of every step.
    seen = [
        (r.method, urlsplit(str(r.url)).path.rsplit("/", 2)[-2:], _token_scopes(platform, r))
        for r in platform.services.requests
    ]
    assert seen[0] == ("POST", ["context-1", "lineitems"], frozenset({SCOPE_LINEITEM}))
    assert seen[1][0] == "GET"
    assert seen[1][2] == frozenset({SCOPE_LINEITEM})
    scores = [r for r in platform.services.requests if r.url.path.endswith("/scores")]
    assert [r.headers["Content-Type"] for r in scores] == [MEDIA_SCORE, MEDIA_SCORE]
    assert all(_token_scopes(platform, r) == {SCOPE_SCORE} for r in scores)
    body = json.loads(scores[1].content)
    assert body["timestamp"] == format_timestamp(stamp1)
    assert (body["userId"], body["activityProgress"], body["gradingProgress"]) == (
        "user-1",
        "Completed",
        "FullyGraded",
    )
    results = [r for r in platform.services.requests if r.url.path.endswith("/results")]
    assert all(r.headers["Accept"] == MEDIA_RESULT_CONTAINER for r in results)
    assert all(_token_scopes(platform, r) == {SCOPE_RESULT_READONLY} for r in results)
    lists = [
        r
        for r in platform.services.requests
        if r.method == "GET" and r.url.path.endswith("/lineitems")
    ]
    assert all(r.headers["Accept"] == MEDIA_LINEITEM_CONTAINER for r in lists)
    assert parse_qs(lists[1].url.query.decode()) == {"limit": ["1"], "page": ["2"]}
    assert platform.token_requests == 3  # lineitem, score, result.readonly: one each
    assert platform.services.score_rejections == []


# ----------------------------------------------------------------------- operations


def test_one_token_covers_every_claim_scope_by_default() -> None:
    """Without least_privilege, one token for all of the claim's AGS scopes serves every call."""
    platform = _platform()
    grades = _grades(platform)
    item = grades.create_line_item(LineItem(label="Quiz", score_maximum=10))
    grades.post_score(_done(), item)
    grades.list_results(item)
    grades.list_line_items()
    assert platform.token_requests == 1


def test_scope_missing_from_the_claim_fails_before_any_request() -> None:
    """A call whose scope the claim lacks raises ScopeNotGrantedError with no HTTP at all."""
    platform = _platform()
    grades = _grades(platform, scopes=(SCOPE_LINEITEM_READONLY,))
    item = platform.services.add_line_item("Quiz", 10)
    for call in (
        lambda: grades.post_score(_done(), item),
        lambda: grades.list_results(item),
        lambda: grades.create_line_item(LineItem(label="x", score_maximum=1)),
        lambda: grades.delete_line_item(item),
    ):
        with pytest.raises(ScopeNotGrantedError):
            call()
    assert platform.token_requests == 0
    assert platform.services.requests == []
    assert [i.id for i in grades.list_line_items()] == [item]  # read-only still works


def test_line_item_requests_use_the_ags_media_types() -> None:
    """GET item sends Accept lineitem; POST and PUT send Content-Type lineitem (E2)."""
    platform = _platform()
    grades = _grades(platform)
    item = grades.create_line_item(LineItem(label="Quiz", score_maximum=10, tag="t"))
    grades.update_line_item(LineItem(label="Quiz (renamed)", score_maximum=20, id=item.id, tag="t"))
    post, get, put = platform.services.requests
    assert post.headers["Content-Type"] == MEDIA_LINEITEM
    assert "id" not in json.loads(post.content)
    assert get.headers["Accept"] == MEDIA_LINEITEM
    assert (put.method, put.headers["Content-Type"]) == ("PUT", MEDIA_LINEITEM)
    assert json.loads(put.content)["id"] == item.id
    assert platform.services.line_items()[0]["label"] == "Quiz (renamed)"


def test_update_refuses_to_change_the_resource_link_id() -> None:
    """Changing resourceLinkId is refused after the GET, before any PUT (AGS §3.2.6)."""
    platform = _platform()
    grades = _grades(platform)
    platform.services.add_resource_link("resource-link-2")
    item = grades.create_line_item(
        LineItem(label="Quiz", score_maximum=10, resource_link_id="resource-link-1")
    )
    moved = LineItem(label="Quiz", score_maximum=10, id=item.id, resource_link_id="resource-link-2")
    with pytest.raises(InvalidServiceRecordError) as caught:
        grades.update_line_item(moved)
    assert caught.value.details["field"] == "resourceLinkId"
    assert [r.method for r in platform.services.requests] == ["POST", "GET"]
    with pytest.raises(InvalidServiceRecordError):
        grades.update_line_item(LineItem(label="No id", score_maximum=1))


def test_the_coupled_line_item_is_not_deleted_without_force() -> None:
    """Deleting the claim's lineitem raises CoupledLineItemError unless force=True."""
    platform = _platform()
    coupled = platform.services.add_line_item("Platform made", 100)
    grades = _grades(platform, lineitem=coupled)
    with pytest.raises(CoupledLineItemError):
        grades.delete_line_item(coupled)
    assert platform.services.requests == []
    own = grades.create_line_item(LineItem(label="Mine", score_maximum=1))
    grades.delete_line_item(own)
    grades.delete_line_item(coupled, force=True)
    assert platform.services.line_items() == []


def test_claim_line_item_is_the_default_target() -> None:
    """Without a line item argument, get/post_score/list_results use the claim's lineitem."""
    platform = _platform()
    coupled = platform.services.add_line_item("Platform made", 10)
    grades = _grades(platform, lineitem=coupled)
    assert grades.get_line_item().id == coupled
    grades.post_score(_done())
    assert [r.user_id for r in grades.list_results()] == ["user-1"]
    with pytest.raises(ServiceNotAvailableError):
        _grades(platform).post_score(_done())


def test_scores_and_results_keep_the_line_item_query_on_the_wire() -> None:
    """A line item URL with a query gets /scores and /results on its path, query kept (I-7)."""
    platform = _platform()
    item = platform.services.add_line_item("Quiz", 10, query="type=quiz&sig=abc")
    grades = _grades(platform)
    grades.post_score(_done(), item)
    grades.list_results(item, user_id="user-1")
    score, results = (str(r.url) for r in platform.services.requests)
    assert score == platform.services.lineitems_url() + "/1/scores?type=quiz&sig=abc"
    assert (
        results == platform.services.lineitems_url() + "/1/results?type=quiz&sig=abc&user_id=user-1"
    )


def test_score_timestamps_never_repeat_per_line_item_and_user() -> None:
    """With a frozen clock, successive scores get +1 ms each; the platform takes them all (I-7)."""
    platform = _platform()
    grades = _grades(platform)
    a = platform.services.add_line_item("A", 10)
    b = platform.services.add_line_item("B", 10)
    stamps = [grades.post_score(_done(given=g), a) for g in (1, 2, 3)]
    assert [s - stamps[0] for s in stamps] == [
        timedelta(0),
        timedelta(milliseconds=1),
        timedelta(milliseconds=2),
    ]
    assert grades.post_score(_done(), b) == stamps[0]  # another line item: its own clock
    assert grades.post_score(_done("user-2"), a) == stamps[0]  # another user too
    assert len(platform.services.scores(a)) == 4
    assert platform.services.score_rejections == []
    with pytest.raises(InvalidServiceRecordError) as caught:
        grades.post_score(attrs_evolve(_done(), timestamp=stamps[1]), a)
    assert caught.value.details["field"] == "timestamp"


def test_a_later_clock_is_used_as_is() -> None:
    """When the clock moves on, the score carries the clock's time, truncated to ms."""
    platform = _platform()
    grades = _grades(platform)
    item = platform.services.add_line_item("A", 10)
    grades.post_score(_done(), item)
    platform.clock.advance(1.2345678)
    assert format_timestamp(grades.post_score(_done(), item)) == "2026-01-15T12:00:01.234Z"


def test_listing_follows_every_page_and_streams_lazily() -> None:
    """list_line_items reads all pages; iter_line_items fetches a page only when reached."""
    platform = _platform()
    for n in range(7):
        platform.services.add_line_item(f"LI{n}", 10)
    grades = _grades(platform)
    assert len(grades.list_line_items(limit=2)) == 7
    assert len(platform.services.requests) == 4
    platform.services.requests.clear()
    stream = grades.iter_line_items(limit=3)
    assert platform.services.requests == []
    first = [next(stream) for _ in range(3)]
    assert len(platform.services.requests) == 1
    next(stream)
    assert len(platform.services.requests) == 2
    assert [i.label for i in first] == ["LI0", "LI1", "LI2"]


def test_results_page_through_every_user() -> None:
    """list_results follows rel=next over the result container."""
    platform = _platform()
    platform.services.page_size = 2
    item = platform.services.add_line_item("A", 10)
    grades = _grades(platform)
    for n in range(5):
        grades.post_score(_done(f"user-{n}", n), item)
    results = grades.list_results(item)
    assert [r.user_id for r in results] == [f"user-{n}" for n in range(5)]
    assert [r.result_score for r in results] == [0.0, 1.0, 2.0, 3.0, 4.0]


# ----------------------------------------------------------------------- failures


def test_401_renews_the_token_once_then_succeeds() -> None:
    """A revoked token gives 401; the client renews it and the retry succeeds."""
    platform = _platform()
    grades = _grades(platform)
    item = platform.services.add_line_item("A", 10)
    grades.post_score(_done(), item)
    platform.revoke_access_tokens()
    grades.post_score(_done(given=8), item)
    assert platform.token_requests == 2
    assert [json.loads(r.content)["scoreGiven"] for r in platform.services.requests[-2:]] == [8, 8]


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (401, ServiceAccessDeniedError, "service_access_denied"),
        (403, ServiceAccessDeniedError, "service_access_denied"),
        (404, ServiceResourceNotFoundError, "service_resource_not_found"),
        (500, ServiceCallFailedError, "service_call_failed"),
    ],
)
def test_statuses_map_to_typed_errors(status: int, error: type[Exception], code: str) -> None:
    """401 after the retry and 403 deny access, 404 is not found, other failures fail the call."""
    platform = _platform()
    grades = _grades(platform)
    item = platform.services.add_line_item("A", 10)
    platform.services.status = status
    with pytest.raises(error) as caught:
        grades.get_line_item(item)
    assert getattr(caught.value, "code", None) == code
    assert caught.value.__cause__ is None or not isinstance(caught.value.__cause__, httpx.HTTPError)
    expected_calls = 2 if status == 401 else 1
    assert len(platform.services.requests) == expected_calls


@pytest.mark.parametrize("status", [429, 503])
def test_busy_services_carry_retry_after(status: int) -> None:
    """429 and 503 raise ServiceTemporarilyUnavailableError with Retry-After in seconds."""
    platform = _platform()
    grades = _grades(platform)
    platform.services.status = status
    platform.services.retry_after = "17"
    with pytest.raises(ServiceTemporarilyUnavailableError) as caught:
        grades.list_line_items()
    assert caught.value.retry_after == 17.0


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b'{"not": "a list"}', b'[{"label": "no max"}]', b"[1, 2]"],
)
def test_malformed_bodies_are_typed_errors(body: bytes) -> None:
    """Non-JSON bodies and wrong shapes raise MalformedServiceResponseError, never json errors."""
    platform = _platform()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/lineitems"):
            return httpx.Response(200, content=body)
        return platform.handle_request(request)

    grades = _grades(platform, client=_client(platform, httpx.MockTransport(handler)))
    with pytest.raises(MalformedServiceResponseError) as caught:
        grades.list_line_items(strict=True)
    assert isinstance(caught.value, ServiceCallFailedError)


def test_an_item_breaking_a_rule_is_returned_with_its_problem_unless_strict() -> None:
    """Lenient by default: one bad line item is reported on the item, not fatal to the list."""
    platform = _platform()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/lineitems"):
            return httpx.Response(200, content=b'[{"label": "no max"}]')
        return platform.handle_request(request)

    grades = _grades(platform, client=_client(platform, httpx.MockTransport(handler)))
    (item,) = grades.list_line_items()
    assert item.label == "no max"
    assert item.problems == ("scoreMaximum must be a number greater than 0",)


def test_created_line_item_without_id_is_malformed() -> None:
    """A create answered without an id is a malformed response (AGS §3.2.5)."""
    platform = _platform()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/lineitems"):
            return httpx.Response(201, json={"label": "x", "scoreMaximum": 1})
        return platform.handle_request(request)

    grades = _grades(platform, client=_client(platform, httpx.MockTransport(handler)))
    with pytest.raises(MalformedServiceResponseError):
        grades.create_line_item(LineItem(label="x", score_maximum=1))


def test_cross_host_next_link_is_refused() -> None:
    """A next link to another host is refused before the token goes there."""
    platform = _platform()
    platform.services.add_line_item("A", 1)
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(str(request.url))
        response = platform.handle_request(request)
        if request.url.path.endswith("/lineitems"):
            response.headers["Link"] = '<https://evil.example/steal>; rel="next"'
        return response

    grades = _grades(platform, client=_client(platform, httpx.MockTransport(handler)))
    with pytest.raises(UnsafePageLinkError):
        grades.list_line_items()
    assert not any("evil" in h for h in hits)


def test_no_lineitems_url_means_no_line_item_management() -> None:
    """A claim without lineitems cannot list or create: ServiceNotAvailableError, no HTTP."""
    platform = _platform()
    endpoint = AgsEndpoint(scope=(SCOPE_LINEITEM,), lineitem=None, lineitems=None)
    grades = GradeService(_client(platform), platform.registration, endpoint)
    with pytest.raises(ServiceNotAvailableError):
        grades.list_line_items()
    with pytest.raises(InvalidServiceRecordError):
        grades.list_line_items(limit=0)
    assert platform.token_requests == 0


# ----------------------------------------------------------------------- async


def test_async_grade_service_runs_the_same_operations() -> None:
    """AsyncGradeService creates, updates, scores, reads results, lists and deletes."""
    platform = _platform()

    async def main() -> None:
        async with AsyncServiceTokenClient(
            keys=KEY, http_client=platform.async_http_client(), clock=platform.clock
        ) as client:
            grades = AsyncGradeService(
                client,
                platform.registration,
                platform.services.ags_endpoint(),
                clock=platform.clock,
            )
            item = await grades.create_line_item(LineItem(label="A", score_maximum=10))
            item = await grades.update_line_item(attrs_evolve(item, label="B"))
            assert (await grades.get_line_item(item.id)).label == "B"
            first = await grades.post_score(_done(), item)
            second = await grades.post_score(_done(given=9), item)
            assert second - first == timedelta(milliseconds=1)
            assert [r.result_score for r in await grades.list_results(item)] == [9.0]
            assert [i.label for i in await grades.list_line_items(limit=1)] == ["B"]
            await grades.delete_line_item(item)
            assert await grades.list_line_items() == []

    asyncio.run(main())
    assert platform.token_requests == 1


def attrs_evolve(record: Any, **changes: Any) -> Any:
    return attrs.evolve(record, **changes)
