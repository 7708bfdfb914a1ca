"""Replays of what Canvas, Moodle, D2L Brightspace and Blackboard Learn send.

Each file in ``tests/lti/vectors/`` names the public source (platform source file
or documentation page) its response shapes come from, under ``"sources"``. The
token endpoint is the simulated platform's (issuer set to the real platform's);
every other request must match a recorded exchange exactly, so a wrong URL, a
lost query or a missed page fails the test.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from credlti.errors import MalformedServiceResponseError
from credlti.lti._claims import AgsEndpoint, NrpsEndpoint
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import GradeService, RosterService, Score, ServiceTokenClient
from credlti.testing import SimulatedPlatform

VECTORS = Path(__file__).parent / "vectors"
KEY = generate_key(now=datetime(2026, 1, 1, tzinfo=timezone.utc), state=KeyState.CURRENT)
NAMES = sorted(p.stem for p in VECTORS.glob("*.json"))


class Replay:
    """Serves a vector's recorded exchanges; the token endpoint is the simulated platform's."""

    def __init__(self, vector: dict[str, Any], platform: SimulatedPlatform) -> None:
        self.platform = platform
        self.exchanges = {(e["method"], e["url"]): e for e in vector["exchanges"]}
        self.seen: list[tuple[str, str]] = []
        self.unexpected: list[tuple[str, str]] = []
        self.bodies: list[Any] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if request.url.path.endswith("/token"):
            return self.platform.handle_request(request)
        self.seen.append((request.method, url))
        exchange = self.exchanges.get((request.method, url))
        if exchange is None:
            self.unexpected.append((request.method, url))
            return httpx.Response(404)
        if request.content:
            self.bodies.append(json.loads(request.content))
        headers = [(name.encode(), value.encode("utf-8")) for name, value in exchange["headers"]]
        status = exchange.get("status", 200)
        if "raw" in exchange:
            return httpx.Response(status, headers=headers, content=exchange["raw"].encode())
        return httpx.Response(status, headers=headers, json=exchange["body"])


def _services(name: str) -> tuple[dict[str, Any], Replay, GradeService, RosterService]:
    vector = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    platform = SimulatedPlatform(issuer=vector["issuer"])
    platform.trust_tool_keys(jwks([KEY]))
    replay = Replay(vector, platform)
    http = httpx.Client(transport=httpx.MockTransport(replay.handle))
    client = ServiceTokenClient(keys=KEY, http_client=http, clock=platform.clock)
    ags = AgsEndpoint(scope=tuple(vector["ags"]["scope"]), lineitems=vector["ags"]["lineitems"])
    grades = GradeService(client, platform.registration, ags, clock=platform.clock)
    nrps = NrpsEndpoint(context_memberships_url=vector["nrps"], service_versions=("2.0",))
    roster = RosterService(client, platform.registration, nrps)
    return vector, replay, grades, roster


@pytest.mark.parametrize("name", NAMES)
def test_line_items_are_read_across_every_page(name: str) -> None:
    """Every page is followed (Moodle's curly quotes and &amp; included); problems reported."""
    vector, replay, grades, _roster = _services(name)
    items = grades.list_line_items(limit=2)
    assert [i.label for i in items] == vector["expect"]["line_items"]
    assert [list(i.problems) for i in items] == vector["expect"]["line_item_problems"]
    assert replay.unexpected == []
    assert all(i.id and i.id.startswith("https://") for i in items)


@pytest.mark.parametrize("name", NAMES)
def test_strict_listing_refuses_what_lenient_reports(name: str) -> None:
    """strict=True raises for the first item with a problem, and only then."""
    vector, _replay, grades, _roster = _services(name)
    if any(vector["expect"]["line_item_problems"]):
        with pytest.raises(MalformedServiceResponseError):
            grades.list_line_items(limit=2, strict=True)
    else:
        assert len(grades.list_line_items(limit=2, strict=True)) == len(
            vector["expect"]["line_items"]
        )


@pytest.mark.parametrize("name", NAMES)
def test_results_of_the_first_line_item(name: str) -> None:
    """Results parse: numeric text ids, missing scores, platform extensions."""
    vector, replay, grades, _roster = _services(name)
    first = grades.list_line_items(limit=2)[0]
    results = grades.list_results(first)
    assert [[r.user_id, r.result_score, r.result_maximum] for r in results] == vector["expect"][
        "results"
    ]
    assert replay.unexpected == []


@pytest.mark.parametrize("name", NAMES)
def test_a_score_is_posted_to_the_line_items_scores_url(name: str) -> None:
    """POST {lineitem}/scores with the query kept; empty, 201, 204 or JSON answers accepted."""
    _vector, replay, grades, _roster = _services(name)
    first = grades.list_line_items(limit=2)[0]
    score = Score(
        user_id="user-1",
        score_given=1,
        score_maximum=2,
        activity_progress="Completed",
        grading_progress="FullyGraded",
    )
    stamp = grades.post_score(score, first)
    assert replay.unexpected == []
    (body,) = replay.bodies
    assert body["userId"] == "user-1"
    assert body["timestamp"].endswith("Z")
    assert stamp.tzinfo is not None


@pytest.mark.parametrize("name", NAMES)
def test_memberships_are_read_across_every_page(name: str) -> None:
    """NRPS pages as each platform sends them."""
    vector, replay, _grades, roster = _services(name)
    members = roster.list_members(limit=2)
    assert [m.user_id for m in members] == vector["expect"]["members"]
    assert replay.unexpected == []


@pytest.mark.parametrize("name", NAMES)
def test_no_request_leaves_the_platforms_hosts(name: str) -> None:
    """Every request went to the platform's announced hosts."""
    vector, replay, grades, roster = _services(name)
    grades.list_line_items(limit=2)
    roster.list_members(limit=2)
    hosts = {urlsplit(url).hostname for _method, url in replay.seen}
    announced = {urlsplit(vector["ags"]["lineitems"]).hostname, urlsplit(vector["nrps"]).hostname}
    assert hosts <= announced


def test_moodle_links_decoded_as_latin1_are_still_understood() -> None:
    """If the UTF-8 quotes arrive as Latin-1 text, the next page is still found."""
    from credlti.lti.services._paging import find_link, parse_link_header

    vector = json.loads((VECTORS / "moodle.json").read_text(encoding="utf-8"))
    header = vector["exchanges"][0]["headers"][0][1]
    misread = header.encode("utf-8").decode("latin-1")
    assert find_link(parse_link_header(misread), "next") == (
        "https://moodle.example.edu/mod/lti/services.php/2/lineitems?type_id=1&limit=2&from=2"
    )
