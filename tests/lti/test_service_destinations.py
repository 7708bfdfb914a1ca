"""Bearer-token destinations: no request carrying a platform token reaches an unexpected host.

Every attack is counted at the httpx transport: the hostile URL must see zero
requests, and the error must be UnsafeServiceUrlError raised before any byte.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credlti.errors import ConfigurationError, UnsafeServiceUrlError
from credlti.lti._claims import AgsEndpoint, NrpsEndpoint
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import (
    SCOPE_LINEITEM,
    SCOPE_NRPS_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    AsyncGradeService,
    AsyncServiceTokenClient,
    GradeService,
    LineItem,
    RosterService,
    Score,
    ServiceTokenClient,
    TokenPolicy,
)
from credlti.lti.services._destinations import Destinations, origin_of, site_of
from credlti.testing import SimulatedPlatform

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
KEY = generate_key(now=NOW, state=KeyState.CURRENT)
SCOPES = (SCOPE_LINEITEM, SCOPE_RESULT_READONLY, SCOPE_SCORE)


class Counting(httpx.BaseTransport):
    """Counts requests per host, answers the platform's own, refuses any other host."""

    def __init__(self, platform: SimulatedPlatform) -> None:
        self.platform = platform
        self.hosts: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts[request.url.host] += 1
        if request.url.host == "platform.example.edu":
            return self.platform.handle_request(request)
        return httpx.Response(200, json=[])

    def foreign(self) -> int:
        return sum(n for host, n in self.hosts.items() if host != "platform.example.edu")


def _setup(
    *, lineitems: str | None = None, lineitem: str | None = None, policy: TokenPolicy | None = None
) -> tuple[SimulatedPlatform, Counting, GradeService]:
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))
    transport = Counting(platform)
    client = ServiceTokenClient(
        keys=KEY,
        http_client=httpx.Client(transport=transport),
        clock=platform.clock,
        policy=policy,
    )
    endpoint = AgsEndpoint(
        scope=SCOPES,
        lineitems=lineitems or platform.services.lineitems_url("context-1"),
        lineitem=lineitem,
    )
    grades = GradeService(client, platform.registration, endpoint, clock=platform.clock)
    return platform, transport, grades


def _score() -> Score:
    return Score(
        user_id="user-1",
        score_given=1,
        score_maximum=2,
        activity_progress="Completed",
        grading_progress="FullyGraded",
    )


HOSTILE_ITEMS = [
    "http://evil.example/li",
    "https://evil.example/li",
    "http://platform.example.edu/api/lti/contexts/context-1/lineitems/1",
    "https://platform.example.edu:8443/api/lti/contexts/context-1/lineitems/1",
    "https://user:pw@platform.example.edu/api/lti/contexts/context-1/lineitems/1",
    "https://platform.example.edu.evil.example/li",
    "https://169.254.169.254/latest/meta-data",
    "https://10.0.0.1/li",
    "https://127.0.0.1/li",
    "https://[::1]/li",
    "https://2130706433/li",
    "https://0x7f000001/li",
    "file:///etc/passwd",
    "/relative/li",
]


@pytest.mark.parametrize("url", HOSTILE_ITEMS)
def test_caller_named_line_items_never_leave_the_claims_origin(url: str) -> None:
    """post_score, get/update/delete line item and results refuse foreign URLs before sending."""
    platform, transport, grades = _setup()
    item = LineItem(label="x", score_maximum=1, id=url)
    attempts: list[Any] = [
        lambda: grades.post_score(_score(), line_item=url),
        lambda: grades.get_line_item(url),
        lambda: grades.update_line_item(item, check_unchanged=False),
        lambda: grades.delete_line_item(url),
        lambda: grades.list_results(url),
        lambda: grades.post_score(_score(), line_item=item),
    ]
    for attempt in attempts:
        with pytest.raises(UnsafeServiceUrlError) as caught:
            attempt()
        assert caught.value.code == "unsafe_service_url"
        assert caught.value.spec_ref == "RFC 6750 §5.3"
    assert sum(transport.hosts.values()) == 0  # not even a token request
    assert platform.token_requests == 0


@pytest.mark.parametrize(
    "claim_url",
    [
        "http://platform.example.edu/api/lti/contexts/context-1/lineitems",
        "https://10.1.2.3/lineitems",
        "https://192.168.0.10/lineitems",
        "https://169.254.169.254/lineitems",
        "https://[fe80::1]/lineitems",
        "https://[::ffff:10.0.0.1]/lineitems",
        "https://localhost/lineitems",
        "https://lms.other-university.example/lineitems",
    ],
)
def test_claim_urls_that_are_plain_http_private_or_foreign_are_refused(claim_url: str) -> None:
    """A launch claim pointing the token at an unsafe place is refused, zero requests sent."""
    _platform, transport, grades = _setup(lineitems=claim_url)
    with pytest.raises(UnsafeServiceUrlError):
        grades.list_line_items()
    with pytest.raises(UnsafeServiceUrlError):
        grades.create_line_item(LineItem(label="x", score_maximum=1))
    assert sum(transport.hosts.values()) == 0


def test_roster_claim_on_another_site_is_refused() -> None:
    """NRPS: the memberships URL must be on the platform's site too."""
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))
    transport = Counting(platform)
    client = ServiceTokenClient(
        keys=KEY, http_client=httpx.Client(transport=transport), clock=platform.clock
    )
    endpoint = NrpsEndpoint(context_memberships_url="https://evil.example/members")
    roster = RosterService(client, platform.registration, endpoint)
    with pytest.raises(UnsafeServiceUrlError):
        roster.list_members()
    assert sum(transport.hosts.values()) == 0


def test_the_raw_request_is_guarded_too() -> None:
    """client.request() refuses a foreign URL before asking for a token."""
    platform, transport, grades = _setup()
    client = grades._client
    with pytest.raises(UnsafeServiceUrlError):
        client.request(
            "GET",
            "https://evil.example/x",
            registration=platform.registration,
            scopes=[SCOPE_NRPS_READONLY],
        )
    assert sum(transport.hosts.values()) == 0


def test_the_platforms_own_site_and_allowed_origins_are_accepted() -> None:
    """Sibling hosts of the issuer's domain pass; an allow-listed private origin passes."""
    _platform, transport, grades = _setup(
        lineitems="https://lms.example.edu/api/lti/contexts/context-1/lineitems"
    )
    assert grades.list_line_items() == []  # the Counting transport answers []
    assert transport.hosts["lms.example.edu"] == 1

    policy = TokenPolicy(allowed_origins=["https://10.0.0.5:8443"])
    _platform, transport, grades = _setup(
        lineitems="https://10.0.0.5:8443/lineitems", policy=policy
    )
    assert grades.list_line_items() == []
    assert transport.hosts["10.0.0.5"] == 1


def test_same_site_can_be_turned_off_but_private_addresses_stay_refused() -> None:
    """same_site=False accepts a public foreign host, never a private address."""
    policy = TokenPolicy(same_site=False)
    _platform, transport, grades = _setup(
        lineitems="https://services.vendor.example/li", policy=policy
    )
    assert grades.list_line_items() == []
    _platform, transport, grades = _setup(lineitems="https://10.0.0.1/li", policy=policy)
    with pytest.raises(UnsafeServiceUrlError):
        grades.list_line_items()
    assert transport.foreign() == 0


def test_allowed_origins_must_be_origins() -> None:
    """A path, query or non-URL in allowed_origins is a configuration error."""
    for bad in ("https://lms.example/path", "lms.example", "https://lms.example/?q=1", "ftp://x"):
        with pytest.raises(ConfigurationError):
            TokenPolicy(allowed_origins=[bad])


def test_async_grades_refuse_foreign_line_items() -> None:
    """The async twin shares the flows: same refusal, zero requests."""
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))
    transport = Counting(platform)

    class AsyncCounting(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return transport.handle_request(request)

    async def main() -> None:
        async with AsyncServiceTokenClient(
            keys=KEY, http_client=httpx.AsyncClient(transport=AsyncCounting()), clock=platform.clock
        ) as client:
            endpoint = platform.services.ags_endpoint("context-1", scopes=SCOPES)
            grades = AsyncGradeService(client, platform.registration, endpoint)
            with pytest.raises(UnsafeServiceUrlError):
                await grades.post_score(_score(), line_item="http://evil.example/li")

    asyncio.run(main())
    assert sum(transport.hosts.values()) == 0


def test_a_plain_http_token_endpoint_is_refused() -> None:
    """The token endpoint gets the signed assertion: https (or loopback http) only."""
    dest = Destinations(platform_hosts=frozenset({"lms.example.edu"}))
    with pytest.raises(UnsafeServiceUrlError):
        dest.check_token_endpoint("http://lms.example.edu/token")
    assert dest.check_token_endpoint("http://127.0.0.1:9/token")
    assert dest.check_token_endpoint("https://lms.example.edu/token")


def test_site_rules() -> None:
    """Registrable domains: two labels, three under country second levels."""
    assert site_of("school.instructure.com") == site_of("canvas.instructure.com")
    assert site_of("lms.school.ac.uk") == "school.ac.uk"
    assert site_of("a.other.ac.uk") != site_of("lms.school.ac.uk")
    assert site_of("127.0.0.1") == "127.0.0.1"


_URLS = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}{port}/{path}",
        st.sampled_from(["http", "https", "HTTPS", "ftp", "javascript", ""]),
        st.one_of(
            st.sampled_from(
                [
                    "platform.example.edu",
                    "lms.example.edu",
                    "evil.example",
                    "10.0.0.1",
                    "[::1]",
                    "127.0.0.1",
                    "169.254.169.254",
                    "user@platform.example.edu",
                    "0x7f.1",
                    "",
                ]
            ),
            st.text(max_size=20),
        ),
        st.sampled_from(["", ":443", ":8443", ":0", ":99999", ":x"]),
        st.text(max_size=20),
    ),
)


@settings(max_examples=400, deadline=None)
@given(url=_URLS)
def test_hostile_urls_are_refused_or_on_the_platforms_https_site(url: str) -> None:
    """Whatever the URL: UnsafeServiceUrlError, or https on the platform's site, public."""
    dest = Destinations(platform_hosts=frozenset({"platform.example.edu"}))
    try:
        accepted = dest.check(url)
    except UnsafeServiceUrlError:
        return
    origin = origin_of(accepted)
    assert origin is not None
    scheme, host, _port = origin
    assert scheme == "https"
    assert site_of(host) == "example.edu"
