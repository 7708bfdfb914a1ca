"""Hostile input for the new service entry points: typed errors or a result, nothing else."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credlti.errors import (
    ConfigurationError,
    InvalidServiceRecordError,
    ListingTooLargeError,
    MalformedServiceResponseError,
)
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import (
    SCOPE_LINEITEM,
    SCOPE_RESULT_READONLY,
    GradeService,
    LineItem,
    Result,
    ServiceTokenClient,
    TokenPolicy,
)
from credlti.lti.services._paging import find_link, parse_link_header
from credlti.testing import SimulatedPlatform

KEY = generate_key(now=datetime(2026, 1, 1, tzinfo=timezone.utc), state=KeyState.CURRENT)

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    [
        "id",
        "label",
        "scoreMaximum",
        "resourceLinkId",
        "resourceId",
        "tag",
        "startDateTime",
        "endDateTime",
        "gradesReleased",
        "userId",
        "resultScore",
        "resultMaximum",
        "scoreOf",
        "scoringUserId",
        "comment",
        "x",
    ]
)
_DOCS = st.dictionaries(_FIELDS, _JSON, max_size=8)


@settings(max_examples=300, deadline=None)
@given(document=_DOCS)
def test_lenient_reading_never_raises_and_reports_every_problem(document: dict[str, Any]) -> None:
    """strict=False always gives a record; strict=True raises only when it has problems."""
    item = LineItem.from_dict(document, strict=False)
    assert isinstance(item.label, str)
    assert all(p for p in item.problems)
    try:
        strict = LineItem.from_dict(document)
    except InvalidServiceRecordError:
        assert item.problems
    else:
        assert not item.problems
        assert strict == item

    result = Result.from_dict(document, strict=False)
    assert isinstance(result.user_id, str)
    try:
        Result.from_dict(document)
    except InvalidServiceRecordError:
        assert result.problems
    else:
        assert not result.problems


def test_an_item_with_problems_is_never_sent_back() -> None:
    """Strict in what we send: create/update refuse a leniently read item, before any HTTP."""
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))
    client = ServiceTokenClient(keys=KEY, http_client=platform.http_client(), clock=platform.clock)
    grades = GradeService(
        client,
        platform.registration,
        platform.services.ags_endpoint(scopes=(SCOPE_LINEITEM, SCOPE_RESULT_READONLY)),
    )
    bad = LineItem.from_dict(
        {"id": "https://x/1", "label": "Zero", "scoreMaximum": 0}, strict=False
    )
    for send in (grades.create_line_item, grades.update_line_item):
        with pytest.raises(InvalidServiceRecordError):
            send(bad)
    assert platform.token_requests == 0


@settings(max_examples=200, deadline=None)
@given(
    header=st.text(
        alphabet=st.sampled_from(
            '<>;,="\u201c\u201d\u2018\u2019\u00e2\u0080\u009c&amp;relnxt:/ \t'
        ),
        max_size=60,
    )
)
def test_link_headers_with_typographic_quotes_parse_or_raise_typed(header: str) -> None:
    """Curly quotes and &amp; in any arrangement: links or MalformedServiceResponseError."""
    try:
        links = parse_link_header(header, base_url="https://lms.example/x")
    except MalformedServiceResponseError:
        return
    for link in links:
        assert all(rel and (":" in rel or rel[0].isalpha()) for rel in link.rels)
    find_link(links, "next")


@pytest.mark.parametrize(
    "header",
    [
        "<https://lms.example/p2>; rel=\u201cnext",
        "<https://lms.example/p2>; rel=\u00abnext\u00bb",
        "<https://lms.example/p2>; rel='next'",
        "<https://lms.example/p2>; rel=next!",
    ],
)
def test_a_next_link_that_cannot_be_understood_raises_rather_than_truncates(header: str) -> None:
    """A rel we cannot read could be the next page: an error, never a silent last page."""
    with pytest.raises(MalformedServiceResponseError):
        parse_link_header(header)


_SHARED = SimulatedPlatform()


@settings(deadline=None)
@given(value=st.one_of(st.integers(), st.booleans(), st.floats(), st.text(max_size=5), st.none()))
def test_max_items_must_be_a_positive_integer(value: object) -> None:
    """GradeService(max_items=...) accepts positive ints only (InvalidServiceRecordError)."""
    platform = _SHARED
    client = ServiceTokenClient(keys=KEY, http_client=platform.http_client())
    endpoint = platform.services.ags_endpoint()
    good = isinstance(value, int) and not isinstance(value, bool) and value > 0
    try:
        GradeService(client, platform.registration, endpoint, max_items=value)  # type: ignore[arg-type]
    except InvalidServiceRecordError:
        assert not good
    else:
        assert good


def test_max_items_stops_a_listing_with_a_typed_error() -> None:
    """20 items on two pages with max_items=15: ListingTooLargeError before page 2 is handed out."""
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))
    url = platform.services.lineitems_url("context-1")
    pages = {
        url: ([{"id": f"{url}/{n}", "label": f"L{n}", "scoreMaximum": 1} for n in range(10)], 2),
        f"{url}?p=2": (
            [{"id": f"{url}/{n}", "label": f"L{n}", "scoreMaximum": 1} for n in range(10, 20)],
            None,
        ),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        key = str(request.url)
        if key in pages:
            body, nxt = pages[key]
            headers = {"Link": f'<{url}?p={nxt}>; rel="next"'} if nxt else {}
            return httpx.Response(200, json=body, headers=headers)
        return platform.handle_request(request)

    client = ServiceTokenClient(
        keys=KEY,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=platform.clock,
    )
    grades = GradeService(
        client, platform.registration, platform.services.ags_endpoint(), max_items=15
    )
    items = grades.iter_line_items()
    first_page = [next(items) for _ in range(10)]
    with pytest.raises(ListingTooLargeError) as caught:
        next(items)
    assert len(first_page) == 10
    assert caught.value.details == {"count": 20, "max": 15}


@settings(max_examples=200, deadline=None)
@given(origins=st.lists(st.text(max_size=30), max_size=3))
def test_allowed_origins_are_checked_at_configuration(origins: list[str]) -> None:
    """Any list of strings: a TokenPolicy whose origins parse, or ConfigurationError."""
    try:
        policy = TokenPolicy(allowed_origins=origins)
    except ConfigurationError:
        return
    assert len(policy.origins) <= len(origins)
