"""RFC 8288 Link parsing and the paging guards (same origin, loops, page cap)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credlti.errors import (
    MalformedServiceResponseError,
    PageLoopError,
    TooManyPagesError,
    UnsafePageLinkError,
)
from credlti.lti.services._paging import (
    LinkValue,
    PageGuard,
    check_link_target,
    find_link,
    parse_link_header,
)

BASE = "https://lms.example.edu/api/members?limit=2"


def test_several_links_with_quoted_and_unquoted_rels() -> None:
    """Links are split on top-level commas; rel may be quoted or bare, in any case."""
    links = parse_link_header(
        '<https://lms.example.edu/p2>; rel="next", <https://lms.example.edu/p9>; REL=Last',
        base_url=BASE,
    )
    assert [(link.target, link.rels) for link in links] == [
        ("https://lms.example.edu/p2", ("next",)),
        ("https://lms.example.edu/p9", ("last",)),
    ]
    assert find_link(links, "NEXT") == "https://lms.example.edu/p2"
    assert find_link(links, "prev") is None


def test_multiple_rel_values_and_params_with_commas_in_quotes() -> None:
    """rel="next last" gives both relations; quoted commas and semicolons stay in the value."""
    [link] = parse_link_header(
        '<https://a/p2>; title="page 2, of 9; really"; rel="Next  last"; type=text/json',
        base_url=BASE,
    )
    assert link.rels == ("next", "last")
    assert dict(link.params) == {"title": "page 2, of 9; really", "type": "text/json"}


def test_relative_targets_resolve_against_the_request_url() -> None:
    """Relative targets are resolved against the request URL; absolute ones are kept exactly."""
    links = parse_link_header('</api/members?page=2>; rel=next, <?page=3>; rel="x"', base_url=BASE)
    assert [link.target for link in links] == [
        "https://lms.example.edu/api/members?page=2",
        "https://lms.example.edu/api/members?page=3",
    ]
    [kept] = parse_link_header("<https://lms.example.edu/d?since=1&>; rel=differences")
    assert kept.target == "https://lms.example.edu/d?since=1&"


def test_first_rel_wins_and_escapes_unquote() -> None:
    """Only the first rel parameter counts (RFC 8288 §3.3); quoted-pairs are unescaped."""
    [link] = parse_link_header(r'<https://a/x>; rel=next; rel=prev; title="say \"hi\""')
    assert link.rels == ("next",)
    assert link.params["title"] == 'say "hi"'


def test_empty_and_odd_but_valid_headers() -> None:
    """Blank headers give no links; stray commas, empty params and no rel are tolerated."""
    assert parse_link_header("") == ()
    assert parse_link_header(" , ,") == ()
    [link] = parse_link_header("<https://a/x>;; ; anchor ,")
    assert link == LinkValue(target="https://a/x", rels=(), params={"anchor": ""})


@pytest.mark.parametrize(
    "header",
    [
        "https://a/x; rel=next",
        "<https://a/x; rel=next",
        '<https://a/x>; rel="next',
        "<https://a/x> rel=next",
        "<https://a/x>; =next",
        "<https://a/ x>; rel=next",
        "<http://[::1>; rel=next",
        "<https://a/x>; rel=next" + ", <https://a/y>" * 300,
    ],
)
def test_malformed_headers_raise_our_error(header: str) -> None:
    """Broken syntax raises MalformedServiceResponseError naming RFC 8288."""
    with pytest.raises(MalformedServiceResponseError) as caught:
        parse_link_header(header, base_url=BASE)
    assert caught.value.spec_ref == "RFC 8288 §3"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("<>;,=\"\\ \t:/?#[]@!abcrelnxt12.-_*'é\x00"), max_size=80))
def test_parser_never_raises_anything_but_our_error(header: str) -> None:
    """On arbitrary header text the parser returns links or raises only our typed error."""
    try:
        links = parse_link_header(header, base_url=BASE)
    except MalformedServiceResponseError:
        return
    assert all(isinstance(link.target, str) for link in links)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_parser_survives_any_unicode(header: str) -> None:
    """Any unicode string at all: links or our error, nothing else."""
    with contextlib.suppress(MalformedServiceResponseError):
        parse_link_header(header, base_url=BASE)


@pytest.mark.parametrize(
    "link",
    [
        "https://lms.example.edu/api/members?page=2",
        "https://LMS.example.edu:443/api/members?page=2",
    ],
)
def test_same_https_origin_is_followed(link: str) -> None:
    """https on the same host and (default) port is followed."""
    assert check_link_target(BASE, link) == link


@pytest.mark.parametrize(
    "link",
    [
        "http://lms.example.edu/api/members?page=2",
        "https://evil.example/api/members?page=2",
        "https://lms.example.edu.evil.example/x",
        "https://lms.example.edu:8443/api/members",
        "https://user:pw@lms.example.edu/api/members",
        "ftp://lms.example.edu/x",
        "https://lms.example.edu:99999/x",
        "//lms.example.edu/x",
        "javascript:alert(1)",
    ],
)
def test_other_origins_are_refused(link: str) -> None:
    """Non-https, other hosts, other ports, user info and junk URLs are refused."""
    with pytest.raises(UnsafePageLinkError) as caught:
        check_link_target(BASE, link)
    assert caught.value.details["endpoint"] == BASE


def test_loopback_http_only_from_a_loopback_http_endpoint() -> None:
    """http is followed only from a loopback http endpoint, to the same host and port."""
    endpoint = "http://127.0.0.1:8123/members"
    assert check_link_target(endpoint, "http://127.0.0.1:8123/members?p=2")
    assert check_link_target("http://localhost:9/m", "http://localhost:9/m?p=2")
    for link in ("http://127.0.0.1:8124/m", "http://10.0.0.1:8123/m", "https://127.0.0.1:8123/m"):
        with pytest.raises(UnsafePageLinkError):
            check_link_target(endpoint, link)
    with pytest.raises(UnsafePageLinkError):
        check_link_target("http://lms.example.edu/m", "http://lms.example.edu/m?p=2")


def test_page_guard_detects_loops_and_caps_pages() -> None:
    """A URL visited twice raises PageLoopError; more than max_pages raises TooManyPagesError."""
    guard = PageGuard(BASE, max_pages=3)
    guard.visit(BASE)
    with pytest.raises(PageLoopError):
        guard.visit(BASE)
    guard.visit(BASE + "&page=2")
    guard.visit(BASE + "&page=3")
    with pytest.raises(TooManyPagesError) as caught:
        guard.visit(BASE + "&page=4")
    assert caught.value.details == {"max_pages": 3}
    assert guard.follow("https://lms.example.edu/x") == "https://lms.example.edu/x"
